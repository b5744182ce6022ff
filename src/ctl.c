// SPDX-License-Identifier: MIT
/*
 * ctl.c - the control socket: tidectl's server side.
 *
 * One listener per process.  Its state is an epoll descriptor holding the
 * listening socket, a timerfd armed at the earliest connection deadline, a
 * stop eventfd and one entry per open connection.  Everything is
 * non-blocking: dispatching accepts, reads what arrived, answers complete
 * requests, writes what the peer will take and drops connections past their
 * deadline, and never waits for a client.  The listener's own thread only
 * polls the epoll descriptor and dispatches; a caller with its own event
 * loop does the same through tide_ctl_fd() and tide_ctl_dispatch().
 *
 * Protocol (docs/tidectl.md; parsed and answered in ctl_proto.c): one
 * request line per connection, one answer, then the server closes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include <tide/arena.h>
#include <tide/ctl.h>
#include <tide/kv.h>
#include <tide/pressure.h>
#include <tide/shrinker.h>

#include "internal.h"
#include "ctl_internal.h"

static pthread_mutex_t ctl_lock = PTHREAD_MUTEX_INITIALIZER; /* dispatch */
static pthread_mutex_t ctl_op_lock =
	PTHREAD_MUTEX_INITIALIZER; /* listen/close */
static pthread_once_t ctl_once = PTHREAD_ONCE_INIT;
static struct ctl *ctl;

/* ---- connections ------------------------------------------------------- */

static void conn_close(struct ctl *c, unsigned slot)
{
	struct conn *k = c->conns[slot];

	if (!k)
		return;
	tide__os_epoll_ctl(c->epfd, EPOLL_CTL_DEL, k->fd, NULL);
	tide__os_close(k->fd);
	if (k->out_owned)
		tide__os_free(k->out);
	tide__os_free(k);
	c->conns[slot] = NULL;
}

/* Arm the timer at the earliest deadline (or disarm it). */
static void arm_timer(struct ctl *c)
{
	struct itimerspec its = { 0 };
	uint64_t first = 0;

	for (unsigned i = 0; i < CTL_MAX_CONN; i++)
		if (c->conns[i] && (!first || c->conns[i]->deadline < first))
			first = c->conns[i]->deadline;
	if (c->paused_until && (!first || c->paused_until < first))
		first = c->paused_until;
	if (first) {
		its.it_value.tv_sec = (time_t)(first / 1000000000u);
		its.it_value.tv_nsec = (long)(first % 1000000000u);
	}
	tide__os_timer_set(c->tfd, true, &its);
}

/* Write what the peer takes; true when the connection is finished. */
static bool conn_write(struct ctl *c, struct conn *k)
{
	while (k->out_off < k->out_len) {
		ssize_t n = tide__os_send(k->fd, k->out + k->out_off,
					  k->out_len - k->out_off);

		if (n == -EINTR)
			continue;
		if (n == -EAGAIN || n == -EWOULDBLOCK)
			return false;
		if (n <= 0)
			return true;
		k->out_off += (size_t)n;
	}
	return true;
}

static void conn_respond_static(struct conn *k, const char *line)
{
	k->out = (char *)line;
	k->out_owned = false;
	k->out_len = strlen(line);
	k->out_off = 0;
}

/* The request line is complete (or can never be): answer it. */
static void conn_answer(struct ctl *c, struct conn *k, size_t line_len,
			bool complete)
{
	struct tide__ctl_req req;
	struct tide__ctl_out o = { 0 };
	const char *err;
	int r;

	if (!complete) {
		conn_respond_static(k,
				    line_len >= TIDE__CTL_REQ_MAX ?
					    "err E2BIG request too long\n" :
					    "err EINVAL incomplete request\n");
	} else if ((r = tide__ctl_parse(k->in, line_len, &req))) {
		conn_respond_static(
			k, r == -E2BIG ? "err E2BIG request too long\n" :
					 "err EINVAL malformed request\n");
	} else if ((err = tide__ctl_execute(c, &req, &o))) {
		conn_respond_static(k, err);
	} else if (o.failed) {
		/* o.buf is released below, as for every answer not sent from it */
		conn_respond_static(k, "err ENOMEM out of memory\n");
	} else {
		k->out = o.buf;
		k->out_owned = true;
		k->out_len = o.len;
		k->out_off = 0;
	}
	if (o.buf && !k->out_owned)
		tide__os_free(o.buf);
	k->writing = true;
}

static void conn_event(struct ctl *c, unsigned slot)
{
	struct conn *k = c->conns[slot];
	struct epoll_event ev = { .events = EPOLLOUT,
				  .data.u32 = TAG_CONN + slot };

	if (!k->writing) {
		for (;;) {
			char *nl;
			ssize_t n = tide__os_recv(k->fd, k->in + k->in_len,
						  sizeof(k->in) - k->in_len);

			if (n == -EINTR)
				continue;
			if (n == -EAGAIN || n == -EWOULDBLOCK)
				return;
			if (n < 0) {
				conn_close(c, slot);
				return;
			}
			nl = memchr(k->in + k->in_len, '\n', (size_t)n);
			k->in_len += (size_t)n;
			if (nl) {
				conn_answer(c, k, (size_t)(nl - k->in), true);
				break;
			}
			if (!n || k->in_len == sizeof(k->in)) {
				conn_answer(c, k, k->in_len, false);
				break;
			}
		}
		tide__os_epoll_ctl(c->epfd, EPOLL_CTL_MOD, k->fd, &ev);
	}
	if (conn_write(c, k))
		conn_close(c, slot);
}

static bool peer_allowed(struct ctl *c, int fd)
{
	struct ucred cr;

	if (tide__os_peer_cred(fd, &cr))
		return false;
	return cr.uid == 0 || cr.uid == c->uid;
}

static void accept_some(struct ctl *c)
{
	for (int i = 0; i < CTL_ACCEPT_BATCH; i++) {
		struct epoll_event ev = { .events = EPOLLIN };
		unsigned slot, oldest = 0;
		struct conn *k;
		int fd = tide__os_accept(c->lfd);

		if (fd < 0) {
			if (fd == -EINTR || fd == -ECONNABORTED)
				continue;
			if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS ||
			    fd == -ENOMEM) {
				/* The listener stays readable: stop polling it
				 * for a while rather than spin. */
				struct epoll_event off = { .events = 0,
							   .data.u32 =
								   TAG_LISTEN };

				tide__os_epoll_ctl(c->epfd, EPOLL_CTL_MOD,
						   c->lfd, &off);
				c->paused_until =
					tide__os_now_ns() + CTL_PAUSE_NS;
			}
			return;
		}
		if (!peer_allowed(c, fd)) {
			tide__os_close(fd);
			continue;
		}
		for (slot = 0; slot < CTL_MAX_CONN && c->conns[slot]; slot++)
			if (c->conns[slot]->deadline <
			    c->conns[oldest]->deadline)
				oldest = slot;
		if (slot == CTL_MAX_CONN) {
			/* Full: a new client beats the slowest old one. */
			conn_close(c, oldest);
			slot = oldest;
		}
		k = tide__os_malloc(sizeof(*k));
		if (!k) {
			tide__os_close(fd);
			continue;
		}
		memset(k, 0, offsetof(struct conn, in));
		k->fd = fd;
		k->deadline =
			tide__os_now_ns() + (uint64_t)c->timeout_ms * 1000000u;
		ev.data.u32 = TAG_CONN + slot;
		if (tide__os_epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev)) {
			tide__os_close(fd);
			tide__os_free(k);
			continue;
		}
		c->conns[slot] = k;
	}
}

static void expire(struct ctl *c)
{
	uint64_t t = tide__os_now_ns();

	/* false if not expired yet, or nothing armed: check all the same */
	(void)tide__os_event_take(c->tfd);
	for (unsigned i = 0; i < CTL_MAX_CONN; i++) {
		struct conn *k = c->conns[i];

		if (!k || k->deadline > t)
			continue;
		if (!k->writing) {
			/* One best-effort line; it never waits. */
			conn_respond_static(k,
					    "err ETIMEDOUT request too slow\n");
			k->writing = true;
			conn_write(c, k);
		}
		conn_close(c, i);
	}
}

static void dispatch_locked(struct ctl *c)
{
	struct epoll_event evs[16];
	int n = tide__os_epoll_wait(c->epfd, evs, 16, 0);

	for (int i = 0; i < n; i++) {
		uint32_t tag = evs[i].data.u32;

		if (tag == TAG_LISTEN)
			accept_some(c);
		else if (tag >= TAG_CONN && tag - TAG_CONN < CTL_MAX_CONN &&
			 c->conns[tag - TAG_CONN])
			conn_event(c, tag - TAG_CONN);
	}
	expire(c);
	if (c->paused_until && c->paused_until <= tide__os_now_ns()) {
		struct epoll_event on = { .events = EPOLLIN,
					  .data.u32 = TAG_LISTEN };

		tide__os_epoll_ctl(c->epfd, EPOLL_CTL_MOD, c->lfd, &on);
		c->paused_until = 0;
	}
	arm_timer(c);
}

static void *ctl_thread(void *arg)
{
	struct ctl *c = arg;

	while (!atomic_load(&c->stop)) {
		struct pollfd p = { .fd = c->epfd, .events = POLLIN };
		int r = tide__os_poll(&p, 1, -1);

		if (r < 0 && r != -EINTR)
			break;
		if (atomic_load(&c->stop))
			break;
		pthread_mutex_lock(&ctl_lock);
		dispatch_locked(c);
		pthread_mutex_unlock(&ctl_lock);
	}
	return NULL;
}

/* ---- fork -------------------------------------------------------------- */

static void atfork_prepare(void)
{
	pthread_mutex_lock(&ctl_op_lock);
	pthread_mutex_lock(&ctl_lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&ctl_lock);
	pthread_mutex_unlock(&ctl_op_lock);
}

static void atfork_child(void)
{
	pthread_mutex_init(&ctl_lock, NULL);
	pthread_mutex_init(&ctl_op_lock, NULL);
	/* The thread did not come along. */
	if (ctl)
		ctl->thread_running = false;
}

static void ctl_register_atfork(void)
{
	/*
	 * The monitors' handlers first: prepare handlers run in reverse
	 * order, so ctl_lock is taken before any monitor's lock, the order
	 * of a request that reads a monitor's figures.
	 */
	tide__mon_fork_register();
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

void tide__ctl_fork_register(void)
{
	pthread_once(&ctl_once, ctl_register_atfork);
}

/* ---- listen and close -------------------------------------------------- */

/* Free @c; unlink its socket only in the process that made it. */
static void ctl_free(struct ctl *c)
{
	bool owner = c->pid == tide__os_getpid();

	for (unsigned i = 0; i < CTL_MAX_CONN; i++)
		conn_close(c, i);
	if (c->lfd >= 0) {
		tide__os_close(c->lfd);
		if (owner && c->path)
			tide__os_unlink(c->path);
	}
	if (c->epfd >= 0)
		tide__os_close(c->epfd);
	if (c->tfd >= 0)
		tide__os_close(c->tfd);
	if (c->sfd >= 0)
		tide__os_close(c->sfd);
	tide__os_free(c->path);
	tide__os_free(c);
}

/*
 * Read @cfg by the size rule into @ret (zeroed first); 0, -EINVAL or
 * -E2BIG.
 */
static int read_config(const struct tide_ctl_config *cfg,
		       struct tide_ctl_config *ret)
{
	size_t size;

	memset(ret, 0, sizeof(*ret));
	if (!cfg)
		return 0;
	size = cfg->size;
	if (size < sizeof(size_t))
		return -EINVAL;
	for (size_t i = sizeof(*ret); i < size; i++)
		if (((const unsigned char *)cfg)[i])
			return -E2BIG;
	memcpy(ret, cfg, TIDE__MIN(size, sizeof(*ret)));
	if (ret->allow & ~(unsigned)TIDE_CTL_ALL ||
	    ret->flags & ~(unsigned)TIDE_CTL_DISPATCH)
		return -EINVAL;
	return 0;
}

/* Create @dir 0700 or check the one that is there. */
static int check_dir(const char *dir)
{
	struct stat st;
	int r = tide__os_mkdir(dir, 0700);
	bool made = !r;

	if (r && r != -EEXIST)
		return r;
	r = tide__os_lstat(dir, &st);
	if (r)
		return r;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (st.st_uid != tide__os_geteuid())
		return -EPERM;
	if ((st.st_mode & 07777) != 0700) {
		/* The umask may have taken bits off the one we made. */
		if (!made)
			return -EPERM;
		return tide__os_chmod(dir, 0700);
	}
	return 0;
}

/* "123.sock" -> 123; 0 for every other name. */
static pid_t sock_pid(const char *name)
{
	unsigned long v = 0;
	const char *p = name;

	while (*p >= '0' && *p <= '9' && v <= INT_MAX / 10)
		v = v * 10 + (unsigned long)(*p++ - '0');
	if (p == name || strcmp(p, ".sock") || !v || v > INT_MAX)
		return 0;
	return (pid_t)v;
}

/*
 * Remove the sockets of dead processes and a stale one of our own pid.
 * getdents64 (tide__os_getdents), not opendir(): that would allocate
 * outside os.c.
 */
static int clean_dir(const char *dir, pid_t self)
{
	char buf[4096];
	ssize_t n;
	int r = 0;
	int dfd = tide__os_open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);

	if (dfd < 0)
		return dfd;
	while ((n = tide__os_getdents(dfd, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < n;) {
			unsigned short reclen;
			const char *name = buf + off + 19;
			pid_t pid = sock_pid(name);
			struct stat st;

			memcpy(&reclen, buf + off + 16, sizeof(reclen));
			off += reclen;
			if (!pid)
				continue;
			if (tide__os_lstatat(dfd, name, &st))
				continue;
			if (pid == self) {
				if (!S_ISSOCK(st.st_mode)) {
					r = -EEXIST;
					continue;
				}
			} else if (!S_ISSOCK(st.st_mode) ||
				   tide__os_pid_probe(pid) != -ESRCH) {
				continue;
			}
			tide__os_unlinkat(dfd, name);
		}
	}
	tide__os_close(dfd);
	return r;
}

static int epoll_add(int epfd, int fd, uint32_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = tag };

	return tide__os_epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

static int ctl_open(struct ctl *c, const char *dir)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t need;
	int r;

	need = (size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%d.sock",
				dir, (int)c->pid);
	if (need >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	c->path = tide__os_malloc(need + 1);
	if (!c->path)
		return -ENOMEM;
	memcpy(c->path, sa.sun_path, need + 1);
	r = check_dir(dir);
	if (r)
		return r;
	r = clean_dir(dir, c->pid);
	if (r)
		return r;
	c->epfd = tide__os_epoll_create();
	c->tfd = tide__os_timerfd();
	c->sfd = tide__os_eventfd();
	/* The last failure, as errno would have held it; fields stay < 0. */
	if (c->sfd < 0)
		return c->sfd;
	if (c->tfd < 0)
		return c->tfd;
	if (c->epfd < 0)
		return c->epfd;
	c->lfd = tide__os_unix_socket(true);
	if (c->lfd < 0)
		return c->lfd;
	/* The socket inode's mode, less the umask, becomes the file's. */
	r = tide__os_fchmod(c->lfd, 0600);
	if (!r)
		r = tide__os_bind(c->lfd, &sa);
	if (r) {
		tide__os_close(c->lfd);
		c->lfd = -1;
		return r;
	}
	r = tide__os_chmod(c->path, 0600);
	if (!r)
		r = tide__os_listen(c->lfd, CTL_BACKLOG);
	if (r)
		return r;
	r = epoll_add(c->epfd, c->lfd, TAG_LISTEN);
	if (!r)
		r = epoll_add(c->epfd, c->tfd, TAG_TIMER);
	if (!r)
		r = epoll_add(c->epfd, c->sfd, TAG_STOP);
	return r;
}

static int start_thread(struct ctl *c)
{
	sigset_t all, old;
	int r;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&c->thread, NULL, ctl_thread, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return -r;
	c->thread_running = true;
	return 0;
}

/* Called with ctl_op_lock held: take @c out of service and free it. */
static void ctl_stop(struct ctl *c)
{
	if (c->thread_running && c->pid == tide__os_getpid()) {
		atomic_store(&c->stop, true);
		tide__os_event_signal(c->sfd);
		pthread_join(c->thread, NULL);
	}
	ctl_free(c);
}

int tide_ctl_listen(const struct tide_ctl_config *cfg)
{
	struct tide_ctl_config conf;
	const char *dir, *xdg;
	char def[PATH_MAX];
	struct ctl *c;
	int r;

	r = read_config(cfg, &conf);
	if (r)
		return r;
	pthread_once(&ctl_once, ctl_register_atfork);
	pthread_mutex_lock(&ctl_op_lock);
	if (ctl && ctl->pid != tide__os_getpid()) {
		/* Inherited through fork(): drop our copies, keep theirs. */
		pthread_mutex_lock(&ctl_lock);
		c = ctl;
		ctl = NULL;
		pthread_mutex_unlock(&ctl_lock);
		ctl_free(c);
	}
	if (ctl) {
		r = -EBUSY;
		goto out;
	}
	dir = conf.dir;
	if (!dir) {
		xdg = getenv("XDG_RUNTIME_DIR");
		if (xdg && xdg[0] == '/' &&
		    (size_t)snprintf(def, sizeof(def), "%s/tide", xdg) <
			    sizeof(def))
			dir = def;
		else
			dir = "/run/tide";
	}
	if (!*dir) {
		r = -EINVAL;
		goto out;
	}
	c = tide__os_calloc(1, sizeof(*c));
	if (!c) {
		r = -ENOMEM;
		goto out;
	}
	c->pid = tide__os_getpid();
	c->uid = tide__os_geteuid();
	c->lfd = c->epfd = c->tfd = c->sfd = -1;
	c->allow = conf.allow ? conf.allow : TIDE_CTL_ALL;
	c->flags = conf.flags;
	c->timeout_ms = conf.timeout_ms ? conf.timeout_ms : CTL_DEF_TIMEOUT_MS;
	c->monitor = conf.monitor;
	r = ctl_open(c, dir);
	if (!r && !(c->flags & TIDE_CTL_DISPATCH))
		r = start_thread(c);
	if (r) {
		ctl_free(c);
		goto out;
	}
	pthread_mutex_lock(&ctl_lock);
	ctl = c;
	pthread_mutex_unlock(&ctl_lock);
out:
	pthread_mutex_unlock(&ctl_op_lock);
	return r;
}

int tide_ctl_fd(void)
{
	int fd = -ENOTCONN;

	pthread_mutex_lock(&ctl_lock);
	if (ctl && ctl->pid == tide__os_getpid())
		fd = ctl->epfd;
	pthread_mutex_unlock(&ctl_lock);
	return fd;
}

int tide_ctl_dispatch(void)
{
	int r = 0;

	pthread_mutex_lock(&ctl_lock);
	if (!ctl || ctl->pid != tide__os_getpid())
		r = -ENOTCONN;
	else if (!ctl->thread_running)
		dispatch_locked(ctl);
	pthread_mutex_unlock(&ctl_lock);
	return r;
}

void tide_ctl_close(void)
{
	struct ctl *c;

	pthread_mutex_lock(&ctl_op_lock);
	pthread_mutex_lock(&ctl_lock);
	c = ctl;
	ctl = NULL;
	pthread_mutex_unlock(&ctl_lock);
	if (c)
		ctl_stop(c);
	pthread_mutex_unlock(&ctl_op_lock);
}
