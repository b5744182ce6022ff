// SPDX-License-Identifier: MIT
/*
 * ctl.c - the control socket: tidectl's server side, its public API and
 * the listener's lifecycle (socket directory and bind, taking over from or
 * giving way to another copy of tide in this process, the thread, fork
 * and close; how its descriptors and socket file go at the end, also at
 * exit, is ctl_life.c's).
 *
 * One listener per process.  Its state is an epoll descriptor holding the
 * listening socket, a timerfd armed at the earliest connection deadline, a
 * stop eventfd and one entry per open connection.  Serving it (accept,
 * read, answer, write, expire: ctl_serve.c) is non-blocking and never
 * waits for a client.  The listener's own thread only polls the epoll
 * descriptor and dispatches; a caller with its own event loop does the
 * same through tide_ctl_fd() and tide_ctl_dispatch().
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
#include <time.h>

#include <tide/arena.h>
#include <tide/ctl.h>
#include <tide/kv.h>
#include <tide/pressure.h>
#include <tide/shrinker.h>

#include "internal.h"
#include "ctl_internal.h"

/*
 * Locking.
 *
 * ctl_lock is tide__ctl_lock, shared with ctl_serve.c.
 *
 * ctl_op_lock serializes tide_ctl_listen() and tide_ctl_close(): a close
 * holds it until the listener's thread is joined (or its dispatch has
 * ended) and everything is released, so a new listener never meets the
 * old one's socket.
 *
 * ctl_lock guards ctl, ctl_dying and every listener's state (connections,
 * timer, busy, orphan) except the connection whose request is being
 * answered, which belongs to its dispatcher while c->busy is set.  It is
 * a leaf but for one holder: held only for sections that call the kernel
 * and the allocator (tide__os_*, the thread start in listen), never across
 * an answer
 * (tide__ctl_execute(): shrinker callbacks, which are user code, and the
 * shrinker registry's, a monitor's, the purge's and the kv and arena
 * lists' locks) and never while waiting for another thread.  Order:
 * ctl_op_lock, then ctl_lock, then (not nested: after dropping ctl_lock)
 * the other modules' locks.
 *
 * tide_ctl_listen() from a callback run by a request is -EBUSY before it
 * takes ctl_op_lock: a tide_ctl_close() holding that lock may be waiting
 * for this very request.  tide_monitor_free() calls
 * tide__ctl_monitor_gone() holding no lock of its own: that takes ctl_lock
 * and waits on ctl_idle for a request on another thread to end, which
 * needs no lock of the freeing thread's.  Asking another copy of tide in
 * this process to give its socket way (take_over()) waits for its answer
 * holding ctl_op_lock only.
 *
 * fork(): the prepare handler takes ctl_lock and nothing else.  It waits
 * only for one of those short sections to end, whichever thread forks: a
 * callback run by a ctl request (it holds no ctl lock then), or a thread
 * whose other prepare handlers already hold a lock an answer is waiting
 * for (so the order in which modules register their handlers does not
 * matter to this one).  Those sections allocate, though, and a program
 * that holds its allocator's lock across fork() takes it in a prepare
 * handler that runs before ours: the preload shim's fork() wrappers take
 * ctl_lock before libc's fork() (tide__ctl_fork_gate()), and this handler
 * finds it taken.  That forking thread is the one holder that takes other
 * locks under ctl_lock: the program's prepare handlers' (its allocator's),
 * the shim's mon_lock, and the other modules' fork locks after ours, as
 * any fork's prepare handlers do after ours; none of their holders takes
 * ctl_lock.  It must not take ctl_op_lock: its holder may be a
 * tide_ctl_close() waiting for the very thread that forks.  In the child
 * every listener inherited is taken out of service at once
 * (fork_child_release(), from atfork_child, or from the first entry point
 * called when a child handler registered before ours calls in): its
 * descriptors are the parent's, so the child closes its copies (a
 * connection's client sees the parent's close as end of file, not the
 * child's exit) and never touches the shared objects (no EPOLL_CTL_*, no
 * timerfd_settime, no unlink).
 */
pthread_mutex_t tide__ctl_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t ctl_op_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ctl_idle = PTHREAD_COND_INITIALIZER; /* !c->busy */
static pthread_once_t ctl_once = PTHREAD_ONCE_INIT;
static int ctl_atfork_err; /* pthread_atfork() failed: listen cannot */
static struct ctl *ctl; /* the listener */
static struct ctl *ctl_dying; /* taken out by tide_ctl_close, not freed */
/* The listeners this thread dispatches, innermost first (->serving_up). */
static _Thread_local struct ctl *ctl_serving;
/* This thread took ctl_lock in atfork_prepare, in process ctl_fork_pid. */
static _Thread_local bool ctl_fork_held;
static pid_t ctl_fork_pid;
/* take_over()'s connection to another copy's listener, for a fork meanwhile */
static int ctl_probe_fd = -1;

/*
 * Start dispatching @c on this thread (ctl_lock held).  False when it is
 * being dispatched already: by another thread, or by this one, from a
 * callback of a request it answers.
 */
static bool serve_begin(struct ctl *c)
{
	if (c->busy)
		return false;
	c->busy = true;
	c->serving_up = ctl_serving;
	ctl_serving = c;
	return true;
}

/*
 * End it (ctl_lock held).  True when @c was freed: an orphan, which only
 * the child of a fork from one of its callbacks has (atfork_child).
 */
static bool serve_end(struct ctl *c)
{
	ctl_serving = c->serving_up;
	c->busy = false;
	if (c->orphan) {
		tide__ctl_free(c);
		return true;
	}
	pthread_cond_broadcast(&ctl_idle);
	return false;
}

static void *ctl_thread(void *arg)
{
	struct ctl *c = arg;
	void (*lost_fn)(void) = c->weak ? tide__ctl_guard_fn() : NULL;

	while (!atomic_load(&c->stop)) {
		struct pollfd p = { .fd = c->epfd, .events = POLLIN };
		int r;
		bool freed;

		if (lost_fn && !tide__ctl_guard_own(c))
			atomic_store(&c->lost, true);
		if (atomic_load(&c->lost))
			break;
		r = tide__os_poll(&p, 1, lost_fn ? TIDE__CTL_GUARD_MS : -1);
		/* closed behind our back: see tide__ctl_dispatch_locked() */
		if (r > 0 && (p.revents & POLLNVAL))
			atomic_store(&c->lost, true);
		if (atomic_load(&c->lost))
			break;
		if (!r)
			continue; /* the guard's wake-up */
		if (r < 0 && r != -EINTR) {
			/*
			 * ENOMEM, or EINVAL while RLIMIT_NOFILE is below the
			 * one descriptor polled: the socket must not die with
			 * this thread.  Wait (a poll of nothing needs no
			 * descriptor) and try again; close still stops it.
			 */
			tide__os_poll(NULL, 0, CTL_RETRY_MS);
			continue;
		}
		if (atomic_load(&c->stop))
			break;
		pthread_mutex_lock(&tide__ctl_lock);
		serve_begin(c); /* tide_ctl_dispatch leaves it to us */
		tide__ctl_dispatch_locked(c);
		freed = serve_end(c);
		pthread_mutex_unlock(&tide__ctl_lock);
		if (!freed && atomic_load(&c->lost))
			break;
		/*
		 * In the child of a fork from a callback this thread is the
		 * only one, with no parent's socket to serve: it ends, and
		 * with it the child unless it has started threads of its own.
		 */
		if (freed)
			return NULL;
	}
	atomic_store(&c->ended, true);
	if (atomic_load(&c->lost) && lost_fn && !atomic_load(&c->stop) &&
	    c->pid == tide__os_getpid())
		lost_fn();
	return NULL;
}

/*
 * "yield" (answered here, not in ctl_serve.c: it ends the socket's
 * life): another copy of tide in this process listens now
 * (the program's own libtide under the preload shim, take_over()).  Only
 * a weak listener gives way: it closes its socket, leaving the path to the
 * new one, and goes on answering the connections it has.  The other copy
 * may still fail to listen (its setup comes after our answer): one take-
 * over budget later, tide__ctl_relisten() listens again if nobody does.
 * ctl_lock held.
 */
const char *tide__ctl_yield(struct ctl *c, const struct conn *k)
{
	if (k->peer_pid != c->pid)
		return "err EPERM request not allowed\n";
	if (!c->weak)
		return "err EBUSY this process listens already\n";
	if (c->lfd >= 0) {
		tide__os_epoll_ctl(c->epfd, EPOLL_CTL_DEL, c->lfd, NULL);
		tide__os_close(c->lfd);
		c->lfd = -1; /* and tide__ctl_free() unlinks nothing */
		tide__ctl_exit_withdraw(); /* nor does tide__ctl_exit() */
		c->paused_until = 0;
		c->paused_full = false;
		c->relisten_at =
			tide__os_now_ns() + CTL_DEF_TIMEOUT_MS * 1000000ull;
		c->relisten_waits = 0;
	}
	return "ok\nend\n";
}

/* ---- fork -------------------------------------------------------------- */

/* Is this thread dispatching @c (in the child: was the forking one)? */
static bool serving_here(const struct ctl *c)
{
	for (const struct ctl *s = ctl_serving; s; s = s->serving_up)
		if (s == c)
			return true;
	return false;
}

/*
 * This thread took ctl_lock in tide__ctl_fork_gate(), before libc's
 * fork(): atfork_prepare finds it taken.  ctl_handlers_on: they are
 * registered (the gate has a handler to hand the lock to).
 */
static _Thread_local bool ctl_gate_held;
static bool ctl_handlers_on;

void tide__ctl_fork_gate(void)
{
	/* a signal handler's fork inside this thread's: it holds it */
	if (ctl_gate_held ||
	    !__atomic_load_n(&ctl_handlers_on, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&tide__ctl_lock);
	ctl_gate_held = true;
}

void tide__ctl_fork_gate_end(void)
{
	sigset_t old;

	/*
	 * Not handed to atfork_prepare: no handler ran (forkpty()'s
	 * openpty() failed before its fork; a failed fork() runs them).
	 * Signals blocked: a handler's fork between the flag and the unlock
	 * would take it again.
	 */
	if (!ctl_gate_held)
		return;
	tide__os_signals_block(&old);
	ctl_gate_held = false;
	pthread_mutex_unlock(&tide__ctl_lock);
	tide__os_signals_restore(&old);
}

static void atfork_prepare(void)
{
	/* the gate's lock is the handlers' now: atfork_parent or the
	 * child's release unlock it */
	if (ctl_gate_held)
		ctl_gate_held = false;
	else
		pthread_mutex_lock(&tide__ctl_lock);
	ctl_fork_held = true;
	ctl_fork_pid = tide__os_getpid();
}

static void atfork_parent(void)
{
	ctl_fork_held = false;
	pthread_mutex_unlock(&tide__ctl_lock);
}

/*
 * A dispatched listener's epoll number in a child forked from its process:
 * the program's loop may still hold it (libuv's uv_loop_fork() adds it to
 * the child's loop again and aborts on EBADF; GLib polls it and spins on
 * POLLNVAL; and a number closed here may be the program's next file).  So
 * in the child it stays open as an epoll instance of its own with nothing
 * in it, which never becomes readable.  From then on the number is the
 * program's: the library keeps no record of it and never closes it.  Only
 * a number that holds the listener's own epoll (its keyed stop entry, in
 * /proc) is parked: an epoll the program put there after closing ours is
 * left alone (up to 0.2.9 it was replaced).  Without a descriptor to make
 * the new one from (EMFILE, ENOMEM) the number is closed, as before 0.2.9.
 */
static void park_epfd(struct ctl *c)
{
	if (!(c->flags & TIDE_CTL_DISPATCH) || c->epfd < 0)
		return;
	tide__ctl_check_lost(c);
	/* the number may be the program's (its own loop's epoll, say): only
	 * forgotten; so when /proc cannot tell */
	if (atomic_load(&c->lost) || tide__ctl_epoll_own(c) != 1)
		return;
	if (tide__os_epoll_park(c->epfd))
		c->epfd = -1; /* the program's now */
}

/* what fork_child_release() may hold back (tide__child_free()) */
_Static_assert(TIDE__CHILD_FREES >= 2 * (2 * CTL_MAX_CONN + 2),
	       "two listeners' connections, outputs, paths and selves");

/*
 * The child serves nothing of its parent's: the listener and one being
 * closed lose their descriptors here, and their memory too unless the
 * forking thread is inside a dispatch of theirs (a callback forked): such
 * an orphan is freed when that dispatch ends (serve_end()).  Under the
 * preload shim's fork() the memory goes after the fork returns
 * (tide__child_free()).  ctl_lock was taken by atfork_prepare on this
 * thread; ctl_op_lock and ctl_idle may have been held or waited on by
 * threads the child does not have.
 */
static void fork_child_release(void)
{
	struct ctl *gone[2] = { ctl, ctl_dying };

	ctl = ctl_dying = NULL;
	tide__ctl_exit_withdraw();
	if (ctl_probe_fd >= 0)
		tide__os_close(ctl_probe_fd);
	ctl_probe_fd = -1;
	for (struct ctl *c = ctl_serving; c; c = c->serving_up) {
		park_epfd(c);
		tide__ctl_drop_copies(c);
		c->orphan = true;
	}
	for (unsigned i = 0; i < 2; i++) {
		struct ctl *c = gone[i];

		if (!c || (i && c == gone[0]) || serving_here(c))
			continue;
		park_epfd(c);
		tide__ctl_drop_copies(c);
		tide__child_free(c->path);
		tide__child_free(c);
	}
	pthread_mutex_init(&ctl_op_lock, NULL);
	pthread_cond_init(&ctl_idle, NULL);
	ctl_fork_held = false;
	pthread_mutex_unlock(&tide__ctl_lock);
}

static void atfork_child(void)
{
	if (ctl_fork_held)
		fork_child_release();
}

/*
 * At every entry point.  A child handler registered before ours runs
 * before atfork_child and may call in (the preload shim's starts the
 * child's own listener): release the parent's listener now.
 */
static void ctl_enter(void)
{
	if (ctl_fork_held && tide__os_getpid() != ctl_fork_pid)
		fork_child_release();
}

/*
 * The one place the handlers are registered (first listen).  Prepare
 * handlers run in reverse order of registration; ctl's only ever waits for
 * a short ctl_lock section (see Locking), so its place among the other
 * modules' does not matter to it.
 */
static void ctl_register_atfork(void)
{
	ctl_atfork_err =
		-pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
	if (!ctl_atfork_err)
		__atomic_store_n(&ctl_handlers_on, true, __ATOMIC_RELEASE);
}

void tide__ctl_fork_register(void)
{
	pthread_once(&ctl_once, ctl_register_atfork);
}

/* ---- listen and close -------------------------------------------------- */

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

/* @fd into @c's epoll set, tagged @tag (with @c's key: CTL_DATA()). */
static int epoll_add(struct ctl *c, int fd, uint32_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN,
				  .data.u64 = CTL_DATA(c, tag) };

	return tide__os_epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev);
}

/*
 * One socket per process.  Another copy of tide in this process (the
 * preload shim's, or a library's static one) may listen on PID.sock
 * already; ctl and ctl_op_lock are this copy's and cannot see it.  A
 * socket there that takes a connection is alive.  Served by another
 * process (SO_PEERCRED), it is another pid namespace's: -EADDRINUSE.  A
 * weak listener (@weak,
 * the shim's) leaves it alone: -EBUSY.  Any other asks it to "yield": the
 * shim's closes its socket and answers "ok", leaving the path to us
 * (tide__ctl_clean_dir() then removes the file); any other answer, or none within
 * the default timeout, is -EBUSY.  A socket nobody listens on is a dead
 * process's: 0.  ctl_op_lock held, not ctl_lock: this waits for another
 * thread's answer.
 */
static int take_over(const char *path, bool weak)
{
	static const char req[] = "yield\n";
	uint64_t end = tide__os_now_ns() + CTL_DEF_TIMEOUT_MS * 1000000ull;
	char ans[16];
	struct ucred cr;
	struct stat st;
	size_t len = 0;
	int fd, r;

	if (tide__os_lstat(path, &st) || !S_ISSOCK(st.st_mode))
		return 0; /* nothing there, or tide__ctl_clean_dir()'s -EEXIST */
	/*
	 * The connect under the lock too: past sun_path it opens a
	 * descriptor of the socket for a moment, which a child forked
	 * meanwhile would keep (a non-blocking AF_UNIX connect never waits).
	 */
	pthread_mutex_lock(&tide__ctl_lock);
	fd = ctl_probe_fd = tide__os_unix_socket(true);
	r = fd < 0 ? fd : tide__sock_connect_path(fd, path);
	pthread_mutex_unlock(&tide__ctl_lock);
	if (fd < 0)
		return fd;
	if (r) {
		/* EAGAIN: its backlog is full, so it is alive. */
		r = r == -EAGAIN ? -EBUSY : tide__os_exhausted(r) ? r : 0;
		goto out;
	}
	/*
	 * Served by another process: one of another pid namespace sharing
	 * the directory, whose pid there is ours.  Its socket, not ours to
	 * take or remove.  (A peer of an ancestor namespace shows pid 0.)
	 */
	if (!tide__os_peer_cred(fd, &cr) && cr.pid != tide__os_getpid()) {
		r = -EADDRINUSE;
		goto out;
	}
	r = -EBUSY;
	if (weak ||
	    tide__os_send(fd, req, sizeof(req) - 1) != (ssize_t)sizeof(req) - 1)
		goto out;
	while (len < sizeof(ans) - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t now = tide__os_now_ns();
		ssize_t n;

		if (now >= end)
			goto out;
		n = tide__os_poll(&p, 1, (int)((end - now) / 1000000u) + 1);
		if (n == -EINTR)
			continue;
		if (n <= 0)
			goto out;
		n = tide__os_recv(fd, ans + len, sizeof(ans) - 1 - len);
		if (n == -EINTR || n == -EAGAIN)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	ans[len] = 0;
	if (!strcmp(ans, "ok\nend\n"))
		r = 0;
out:
	pthread_mutex_lock(&tide__ctl_lock);
	tide__os_close(fd);
	ctl_probe_fd = -1;
	pthread_mutex_unlock(&tide__ctl_lock);
	return r;
}

/*
 * Make @c's listening socket at c->path and add it to the epoll set.  On
 * failure c->lfd is -1 when nothing was bound, else the bound socket, for
 * the caller to close and unlink (tide__ctl_free()).
 */
static int ctl_bind(struct ctl *c)
{
	struct stat st;
	int r;

	c->lfd = tide__os_unix_socket(true);
	if (c->lfd < 0)
		return c->lfd;
	/* The socket inode's mode, less the umask, becomes the file's. */
	r = tide__os_fchmod(c->lfd, 0600);
	if (!r)
		r = tide__sock_bind_path(c->lfd, c->path);
	if (r) {
		tide__os_close(c->lfd);
		c->lfd = -1;
		return r;
	}
	r = tide__os_chmod(c->path, 0600);
	if (!r)
		r = tide__os_listen(c->lfd, CTL_BACKLOG);
	if (!r)
		r = epoll_add(c, c->lfd, TAG_LISTEN);
	/* the file we bound: tide__ctl_relisten() removes only that one */
	if (!r && !tide__os_lstat(c->path, &st)) {
		c->ldev = st.st_dev;
		c->lino = st.st_ino;
		c->lctime = st.st_ctim;
	}
	return r;
}

/*
 * The weak listener gave way (tide__ctl_yield()) and the other copy has
 * had its time to listen: when nobody does (its tide_ctl_listen() failed
 * after our yield), listen again, so that the process keeps a socket.
 * ctl_lock held, on the dispatching thread.
 */
#define RELISTEN_WAITS 5

void tide__ctl_relisten(struct ctl *c)
{
	struct stat st;
	int fd, r;

	c->relisten_at = 0;
	if (c->lfd >= 0 || !c->path)
		return;
	fd = tide__os_unix_socket(true);
	r = fd < 0 ? fd : tide__sock_connect_path(fd, c->path);
	if (fd >= 0)
		tide__os_close(fd);
	/*
	 * ENOENT: no file; ECONNREFUSED: a file nobody listens on.  Ours
	 * (the other copy failed before removing it) is removed and we
	 * listen again.  Another's may be its socket between bind() and
	 * listen(): a later check looks again, RELISTEN_WAITS times.  0 or
	 * EAGAIN (a full backlog): someone listens, the path is theirs for
	 * good.
	 */
	if (r == -ECONNREFUSED) {
		if (tide__os_lstat(c->path, &st) || !S_ISSOCK(st.st_mode) ||
		    st.st_dev != c->ldev || st.st_ino != c->lino ||
		    st.st_ctim.tv_sec != c->lctime.tv_sec ||
		    st.st_ctim.tv_nsec != c->lctime.tv_nsec) {
			if (++c->relisten_waits < RELISTEN_WAITS)
				c->relisten_at =
					tide__os_now_ns() +
					CTL_DEF_TIMEOUT_MS * 1000000ull;
			return;
		}
		tide__os_unlink(c->path);
	}
	if (r == -ENOENT || r == -ECONNREFUSED)
		r = ctl_bind(c);
	else if (!tide__os_exhausted(r))
		return;
	if (!r) {
		tide__ctl_exit_publish(c);
		return;
	}
	if (c->lfd >= 0) {
		tide__os_close(c->lfd);
		tide__os_unlink(c->path);
		c->lfd = -1;
	}
	/* Out of descriptors or memory: try again later; else deaf. */
	if (tide__os_exhausted(r))
		c->relisten_at =
			tide__os_now_ns() + CTL_DEF_TIMEOUT_MS * 1000000ull;
}

static int ctl_open(struct ctl *c, const char *dir, const char *path)
{
	size_t need = strlen(path);
	int r;

	c->path = tide__os_malloc(need + 1);
	if (!c->path)
		return -ENOMEM;
	memcpy(c->path, path, need + 1);
	r = tide__ctl_clean_dir(dir, c->pid);
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
	r = ctl_bind(c);
	if (!r)
		r = epoll_add(c, c->tfd, TAG_TIMER);
	if (!r)
		r = epoll_add(c, c->sfd, TAG_STOP);
	c->keyed = !r;
	return r;
}

static int start_thread(struct ctl *c)
{
	int r;

	r = tide__os_thread_create(&c->thread, ctl_thread, c);
	if (r)
		return r;
	c->thread_running = true;
	return 0;
}

/* Is this thread inside a dispatch of a listener of this process? */
static bool serving_any(void)
{
	for (const struct ctl *s = ctl_serving; s; s = s->serving_up)
		if (!s->orphan)
			return true;
	return false;
}

static int listen_as(const struct tide_ctl_config *cfg, bool weak)
{
	struct tide_ctl_config conf;
	struct stat st;
	const char *dir, *xdg;
	char def[PATH_MAX], path[PATH_MAX];
	struct ctl *c;
	bool serving;
	int r;

	r = read_config(cfg, &conf);
	if (r)
		return r;
	/* A forked child's copy of its parent's monitor is inert here. */
	if (conf.monitor && tide__mon_foreign(conf.monitor))
		return -ECHILD;
	pthread_once(&ctl_once, ctl_register_atfork);
	if (ctl_atfork_err)
		return ctl_atfork_err;
	dir = conf.dir;
	if (!dir) {
		/*
		 * Not in a setuid program (secure_getenv()), and not a
		 * directory of another user's: a su or sudo that kept the
		 * caller's environment would put root's socket in the
		 * user's.  One that is not there fails as before (ENOENT).
		 */
		xdg = secure_getenv("XDG_RUNTIME_DIR");
		if (xdg && xdg[0] == '/' &&
		    (tide__os_stat(xdg, &st) ||
		     st.st_uid == tide__os_geteuid()) &&
		    (size_t)snprintf(def, sizeof(def), "%s/tide", xdg) <
			    sizeof(def))
			dir = def;
		else
			dir = "/run/tide";
	}
	/* Relative, it would name another place after a chdir(). */
	if (dir[0] != '/')
		return -EINVAL;
	ctl_enter();
	/*
	 * From a callback run by a request: a listener is there (that one),
	 * and one being closed would wait for this callback while we waited
	 * for its close (ctl_op_lock).
	 */
	pthread_mutex_lock(&tide__ctl_lock);
	serving = serving_any();
	pthread_mutex_unlock(&tide__ctl_lock);
	if (serving)
		return -EBUSY;
	pthread_mutex_lock(&ctl_op_lock);
	pthread_mutex_lock(&tide__ctl_lock);
	r = ctl ? -EBUSY : 0;
	pthread_mutex_unlock(&tide__ctl_lock);
	if (!r)
		r = tide__ctl_sock_path(dir, tide__os_getpid(), path,
					sizeof(path));
	if (!r)
		r = tide__ctl_check_dir(dir);
	if (!r)
		r = take_over(path, weak);
	/*
	 * ctl_lock across the whole setup: a fork() meanwhile waits for it,
	 * so every descriptor the child inherits is one it knows to close.
	 */
	pthread_mutex_lock(&tide__ctl_lock);
	if (r)
		goto out;
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
	c->weak = weak;
	c->key = tide__epoll_key(c, c->pid);
	r = ctl_open(c, dir, path);
	if (!r && !(c->flags & TIDE_CTL_DISPATCH))
		r = start_thread(c);
	if (r) {
		tide__ctl_free(c);
	} else {
		ctl = c;
		tide__ctl_exit_publish(c);
	}
out:
	pthread_mutex_unlock(&tide__ctl_lock);
	pthread_mutex_unlock(&ctl_op_lock);
	return r;
}

int tide_ctl_listen(const struct tide_ctl_config *cfg)
{
	return listen_as(cfg, false);
}

int tide__ctl_listen_weak(const struct tide_ctl_config *cfg)
{
	return listen_as(cfg, true);
}

int tide_ctl_fd(void)
{
	int fd = -ENOTCONN;

	ctl_enter();
	pthread_mutex_lock(&tide__ctl_lock);
	if (ctl)
		fd = ctl->epfd;
	pthread_mutex_unlock(&tide__ctl_lock);
	return fd;
}

int tide_ctl_dispatch(void)
{
	struct ctl *c;
	int r = 0;

	ctl_enter();
	pthread_mutex_lock(&tide__ctl_lock);
	c = ctl;
	if (!c) {
		r = -ENOTCONN;
	} else if (!c->thread_running && serve_begin(c)) {
		tide__ctl_dispatch_locked(c);
		serve_end(c);
	}
	pthread_mutex_unlock(&tide__ctl_lock);
	return r;
}

void tide_ctl_close(void)
{
	struct ctl *c;

	ctl_enter();
	pthread_mutex_lock(&ctl_op_lock);
	pthread_mutex_lock(&tide__ctl_lock);
	c = ctl;
	if (c && serving_here(c)) {
		/* It would wait for itself, holding ctl_op_lock. */
		pthread_mutex_unlock(&tide__ctl_lock);
		tide__misuse("tide_ctl_close: from a callback run by a ctl "
			     "request",
			     NULL);
	}
	ctl = NULL;
	tide__ctl_exit_withdraw();
	ctl_dying = c; /* for a fork() meanwhile */
	if (c && c->thread_running) {
		/* It may be answering a request: join without ctl_lock. */
		tide__ctl_check_lost(c);
		pthread_mutex_unlock(&tide__ctl_lock);
		atomic_store(&c->stop, true);
		if (atomic_load(&c->lost) && !atomic_load(&c->ended)) {
			/*
			 * Asleep on an epoll nothing will wake (its
			 * descriptors are gone), and no signal reaches it but
			 * through a number that is the program's now: left
			 * asleep, @c never freed, its numbers never touched
			 * (the preload shim forgets them).
			 */
			pthread_detach(c->thread);
			pthread_mutex_lock(&tide__ctl_lock);
			if (c->pid == tide__os_getpid() && c->lfd >= 0 &&
			    c->path)
				tide__os_unlink(c->path);
			ctl_dying = NULL;
			pthread_mutex_unlock(&tide__ctl_lock);
			pthread_mutex_unlock(&ctl_op_lock);
			return;
		}
		if (!atomic_load(&c->lost))
			tide__os_event_signal(c->sfd);
		pthread_join(c->thread, NULL);
		pthread_mutex_lock(&tide__ctl_lock);
	}
	/* A dispatch on another thread finishes first. */
	while (c && c->busy)
		pthread_cond_wait(&ctl_idle, &tide__ctl_lock);
	if (c)
		tide__ctl_free(c);
	ctl_dying = NULL;
	pthread_mutex_unlock(&tide__ctl_lock);
	pthread_mutex_unlock(&ctl_op_lock);
}

/*
 * Point the listener at @m.  A request reads c->monitor without ctl_lock
 * while c->busy is set (its answer runs unlocked), so the swap waits until
 * no other thread dispatches: from then on every answer reads @m.  From a
 * callback run by a request it would wait for itself: -EBUSY, as listen.
 * ctl is read again after each wait: a close meanwhile may have freed the
 * listener that was busy.
 */
int tide_ctl_set_monitor(struct tide_monitor *m)
{
	int r = 0;

	if (m && tide__mon_foreign(m))
		return -ECHILD;
	ctl_enter();
	pthread_mutex_lock(&tide__ctl_lock);
	if (serving_any()) {
		r = -EBUSY;
		goto out;
	}
	while (ctl && ctl->busy)
		pthread_cond_wait(&ctl_idle, &tide__ctl_lock);
	if (ctl)
		ctl->monitor = m;
	else
		r = -ENOTCONN;
out:
	pthread_mutex_unlock(&tide__ctl_lock);
	return r;
}

/*
 * tide_monitor_free() is about to free @m.  Wrong order (the listener
 * should have been closed first), but a listener must not answer from
 * freed memory: the one that reports on @m lets go of it once a request
 * under way on another thread has ended.  A dispatch of this thread's is
 * in a callback (the monitor freed from it) and reads no monitor until it
 * returns: no waiting for that, which would be for ourselves.
 */
void tide__ctl_monitor_gone(const struct tide_monitor *m)
{
	bool used = false;

	ctl_enter();
	pthread_mutex_lock(&tide__ctl_lock);
	for (;;) {
		struct ctl *c = ctl && ctl->monitor == m ? ctl :
				ctl_dying && ctl_dying->monitor == m ?
							   ctl_dying :
							   NULL;

		if (!c)
			break;
		if (c->busy && !serving_here(c)) {
			pthread_cond_wait(&ctl_idle, &tide__ctl_lock);
			continue;
		}
		c->monitor = NULL;
		used = true;
	}
	pthread_mutex_unlock(&tide__ctl_lock);
	/* Unlocked: the handler may call into tide. */
	if (used)
		tide__report("tide_monitor_free: the monitor is still used by "
			     "the control socket (call tide_ctl_close() "
			     "first); it lets go of it",
			     m);
}
