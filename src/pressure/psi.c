// SPDX-License-Identifier: MIT
/*
 * psi.c - level sources: systemd's $MEMORY_PRESSURE_WATCH protocol and
 * graded PSI triggers on the own cgroup v2 memory.pressure (never the v2
 * root's: that is the host's), else on the system-wide /proc/pressure/memory.
 *
 * Graded PSI follows GLib's PSI memory monitor: three triggers over a 2 s
 * window (a multiple of 2 s, so unprivileged processes may create them):
 * LOW on "some" 70 ms, MEDIUM on "some" 100 ms, CRITICAL on "full" 100 ms,
 * one descriptor each.  A trigger the kernel refuses drops the whole
 * source, not the monitor.
 *
 * systemd's protocol is checked as sd-event checks it: a regular file only
 * on procfs or cgroupfs and refused (-ENOTTY) before anything is written,
 * opened read-only when there is nothing to write, never a blocking open.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <poll.h>

#include "internal.h"
#include "pressure/cgroup.h"
#include "pressure/source.h"

#define DEFAULT_PSI_PATH "/proc/pressure/memory"
#define PROC_MAGIC 0x9fa0
#define CGROUP_MAGIC 0x27e0eb
#define CGROUP2_MAGIC 0x63677270

static const struct {
	enum tide_pressure_level level;
	const char *trigger;
} graded[] = {
	{ TIDE_PRESSURE_LOW, "some 70000 2000000" },
	{ TIDE_PRESSURE_MEDIUM, "some 100000 2000000" },
	{ TIDE_PRESSURE_CRITICAL, "full 100000 2000000" },
};

struct psi_priv {
	enum tide_pressure_level level[TIDE__SRC_FDS];
	bool stream; /* FIFO or socket: read and discard */
	/*
	 * The WRITE bytes we put into a FIFO, @own_len of them, until the
	 * first read that finds data; those of them still there, from
	 * @own_off on, are not an event (skip_own())
	 */
	unsigned char *own;
	size_t own_len, own_off;
	bool own_seen; /* the first read with data matched @own_off */
	int keep; /* a FIFO's write end we hold so it never hangs up */
};

/* procfs or cgroupfs: where a regular file may be a PSI file. */
static bool pressure_fs(int fd)
{
	struct statfs sfs;

	if (tide__os_fstatfs(fd, &sfs))
		return false;
	return sfs.f_type == PROC_MAGIC || sfs.f_type == CGROUP_MAGIC ||
	       sfs.f_type == CGROUP2_MAGIC;
}

/*
 * @n bytes into @fd; a socket (@sock) through send(MSG_NOSIGNAL): a
 * listener that hung up is -EPIPE, not a SIGPIPE that kills the program
 * (up to 0.2.24 write() was used; a FIFO is open for reading here too, so
 * it never raises one).
 */
static int write_all(int fd, const void *buf, size_t n, bool sock)
{
	const unsigned char *p = buf;

	while (n) {
		ssize_t w = sock ? tide__os_send(fd, p, n) :
				   tide__os_write(fd, p, n);

		if (w == -EINTR)
			continue;
		if (w < 0)
			return (int)w;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int priv_new(struct tide__src *s)
{
	struct psi_priv *p = tide__os_calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->keep = -1;
	s->priv = p;
	return 0;
}

static void psi_close(struct tide__src *s)
{
	struct psi_priv *p = s->priv;

	if (p && p->keep >= 0)
		tide__os_close(p->keep);
	if (p)
		tide__os_free(p->own);
	tide__os_free(p);
	s->priv = NULL;
}

/*
 * Open a PSI file (procfs or cgroupfs only: anything else is refused before
 * a byte is written) and write @trigger with its NUL, as the kernel wants.
 */
static int open_trigger(const char *path, const char *trigger)
{
	int fd = tide__file_open(path, true, false), r;

	if (fd < 0)
		return fd;
	if (!pressure_fs(fd)) {
		tide__os_close(fd);
		return -ENOTTY;
	}
	r = write_all(fd, trigger, strlen(trigger) + 1, false);
	if (r) {
		tide__os_close(fd);
		return r;
	}
	return fd;
}

/* One configured trigger, or GLib's three graded ones. */
static int open_psi_path(struct tide__src *s, const char *path,
			 const char *trigger)
{
	struct psi_priv *p;
	int r = priv_new(s);

	if (r)
		return r;
	p = s->priv;
	if (trigger) {
		r = open_trigger(path, trigger);
		if (r < 0)
			return r;
		s->fd[0] = r;
		s->events[0] = EPOLLPRI;
		p->level[0] = !strncmp(trigger, "full", 4) ?
				      TIDE_PRESSURE_CRITICAL :
				      TIDE_PRESSURE_MEDIUM;
		return 0;
	}
	for (size_t i = 0; i < sizeof(graded) / sizeof(graded[0]); i++) {
		r = open_trigger(path, graded[i].trigger);
		if (r < 0)
			return r;
		s->fd[i] = r;
		s->events[i] = EPOLLPRI;
		p->level[i] = graded[i].level;
	}
	return 0;
}

/*
 * Is @dir the root of the v2 hierarchy?  Every group but the root has
 * cgroup.type (the kernel leaves it off the root only), a cgroup
 * namespace's root included: its memory.pressure is its own.  1, 0, or an
 * exhausted error.
 */
static int v2_root(const char *dir)
{
	char *path = tide__path_join(dir, "cgroup.type");
	int r;

	if (!path)
		return -ENOMEM;
	r = tide__os_exists(path);
	tide__os_free(path);
	if (tide__os_exhausted(r))
		return r;
	return r == -ENOENT;
}

/*
 * The own group's memory.pressure, or the configured cgroup2_dir's.  The
 * own group is not the v2 root: the root's file is the host's PSI (the
 * same totals as /proc/pressure/memory), which the system-wide source
 * reports under its own name (-ENODEV here, so it opens instead).
 */
static int psi_cgroup_open(struct tide__src *s, const struct tide__src_env *env)
{
	const struct tide_monitor_config *cfg = env->cfg;
	char *path;
	const char *d = cfg->cgroup2_dir ? cfg->cgroup2_dir : env->cg->own_v2;
	int r;

	/* Discovery (through the configuration's paths) found no own v2
	 * group: there is none to find. */
	if (!d)
		return -ENODEV;
	if (!cfg->cgroup2_dir) {
		r = v2_root(d);
		if (r)
			return r < 0 ? r : -ENODEV;
	}
	path = tide__path_join(d, "memory.pressure");
	if (!path)
		return -ENOMEM;
	r = tide__os_exists(path);
	if (!r)
		r = open_psi_path(s, path, cfg->psi_trigger);
	else if (!tide__os_exhausted(r))
		r = -ENODEV;
	tide__os_free(path);
	return r;
}

static int psi_open(struct tide__src *s, const struct tide__src_env *env)
{
	const struct tide_monitor_config *cfg = env->cfg;

	return open_psi_path(s,
			     cfg->psi_path ? cfg->psi_path : DEFAULT_PSI_PATH,
			     cfg->psi_trigger);
}

/* ---- systemd's protocol ------------------------------------------------ */

/* Same file as /dev/null ("//dev/null", "/dev/./null" included)? */
static bool is_dev_null(const char *path)
{
	struct stat a, b;

	return !tide__os_stat(path, &a) && !tide__os_stat("/dev/null", &b) &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/*
 * Connect to the AF_UNIX socket at @path without ever waiting: the socket
 * is non-blocking from the start, so a listener whose backlog is full (it
 * does not accept) fails the connect with -EAGAIN at once instead of
 * holding tide_monitor_new() until it accepts, which may be never.  Linux
 * completes or refuses an AF_UNIX connect at once, so there is no pending
 * connect to finish later; an -EINPROGRESS (not seen on Linux) is reported
 * as -EAGAIN too.
 */
static int connect_socket(const char *path)
{
	int fd = tide__os_unix_socket(true);
	int r;

	if (fd < 0)
		return fd;
	/* longer than sun_path holds: through /proc/self/fd, as systemd's
	 * clients do */
	r = tide__sock_connect_path(fd, path);
	if (r == -EINPROGRESS)
		r = -EAGAIN;
	if (r) {
		tide__os_close(fd);
		return r;
	}
	return fd;
}

static int watch_open(struct tide__src *s, const struct tide__src_env *env)
{
	const char *watch = secure_getenv("MEMORY_PRESSURE_WATCH");
	const char *wr = secure_getenv("MEMORY_PRESSURE_WRITE");
	unsigned char *data = NULL;
	struct psi_priv *p;
	size_t len = 0;
	struct stat st;
	int fd = -1, r;

	(void)env;
	if (!watch)
		return -ENODEV;
	if (!*watch)
		return TIDE__SRC_OFF;
	if (watch[0] != '/')
		return -EINVAL;
	if (is_dev_null(watch))
		return TIDE__SRC_OFF;
	if (wr) {
		r = tide__b64_decode(wr, &data, &len);
		if (r)
			return r;
	}
	r = priv_new(s);
	if (r)
		goto out;
	p = s->priv;
	p->level[0] = TIDE_PRESSURE_MEDIUM;
	r = tide__os_stat(watch, &st);
	if (r)
		goto out;
	if (S_ISSOCK(st.st_mode)) {
		fd = connect_socket(watch);
		p->stream = true;
	} else {
		/* Read-only unless there is something to write; a FIFO or
		 * socket is what the protocol allows besides PSI files. */
		fd = tide__file_open(watch, false, true);
		if (fd >= 0 && len) {
			tide__os_close(fd);
			fd = tide__file_open(watch, true, true);
		}
	}
	if (fd < 0) {
		r = fd;
		goto out;
	}
	s->fd[0] = fd;
	/* What was opened, not what the path named a moment before. */
	if (!p->stream) {
		r = tide__os_fstat(fd, &st);
		if (r)
			goto out;
		p->stream = S_ISFIFO(st.st_mode);
	}
	if (!p->stream && !pressure_fs(fd)) {
		r = -ENOTTY; /* before anything is written */
		goto out;
	}
	s->events[0] = p->stream ? EPOLLIN : EPOLLPRI;
	if (p->stream && !S_ISSOCK(st.st_mode)) {
		/* Hold a write end so that writers coming and going never
		 * leave the FIFO hung up (a busy loop). */
		p->keep = tide__os_open(watch, O_WRONLY | O_NONBLOCK);
		/*
		 * Without it (a FIFO the service may read but not write) the
		 * first writer's close hangs the FIFO up and the source is
		 * gone for good: not a source that applies (up to 0.2.27 only
		 * running out of descriptors failed it, and the monitor went
		 * on with a watch source that died at the first event).
		 */
		if (p->keep < 0) {
			r = p->keep;
			goto out;
		}
		if (len) {
			r = write_all(fd, data, len, false);
			if (r)
				goto out;
			/* our own bytes are not an event: kept to be told apart
			 * from the manager's (skip_own()) */
			p->own = data;
			p->own_len = len;
			data = NULL;
			goto out;
		}
	}
	r = write_all(fd, data, len, S_ISSOCK(st.st_mode));
	if (r)
		goto out;
	if (!p->stream) {
		struct pollfd pfd = { .fd = fd, .events = POLLPRI };

		/* A PSI file without a trigger reports an error at once:
		 * there is nothing to wait for. */
		if (tide__os_poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLERR))
			r = -EINVAL;
	}
out:
	tide__os_free(data);
	return r;
}

/*
 * How many of the @n bytes just read from a FIFO, at @buf, are ours (the
 * WRITE bytes watch_open() wrote), to be left out of the event.  The
 * FIFO keeps its order: at the first read that finds data, what is left of
 * our bytes is at its front, unless the manager wrote before we did; the
 * manager may have read some or all of them (it is whom they are for).
 * So the first read takes the longest tail of ours that the data begins
 * with (none at all, when it begins otherwise), and the reads after it,
 * in the same handle, the rest of that tail while it matches.  Whole
 * copies right behind it are ours too: a monitor made before, whose
 * creation failed after its write, or another monitor of the process
 * watching the same FIFO.  Up to 0.2.27 the count of bytes in the FIFO
 * after the write was taken as ours whoever read what: a manager that read
 * the WRITE bytes lost its next events of as many bytes, and one whose
 * byte was there before the write lost that event.  A manager that took
 * our bytes and writes a tail of them (a lone NUL, as systemd's triggers
 * end with) as its event loses that event.
 */
static size_t skip_own(struct psi_priv *p, const char *buf, size_t n)
{
	size_t k, skipped = 0;

	if (!p->own_seen) {
		p->own_seen = true;
		while (p->own_off < p->own_len &&
		       memcmp(buf, p->own + p->own_off,
			      TIDE__MIN(p->own_len - p->own_off, n)))
			p->own_off++;
	}
	for (;;) {
		k = TIDE__MIN(p->own_len - p->own_off, n - skipped);
		if (memcmp(buf + skipped, p->own + p->own_off, k)) {
			p->own_off = p->own_len; /* not ours after all: done */
			break;
		}
		p->own_off += k;
		skipped += k;
		/* the chunk ended inside a copy (the next one goes on), or
		 * the data behind this copy is not another */
		if (p->own_off < p->own_len || skipped == n ||
		    memcmp(buf + skipped, p->own,
			   TIDE__MIN(p->own_len, n - skipped)))
			break;
		p->own_off = 0;
	}
	return skipped;
}

static bool psi_handle(struct tide__src *s, int i, uint32_t events,
		       enum tide_pressure_level *level, bool *check)
{
	struct psi_priv *p = s->priv;
	char buf[512];
	size_t got = 0;
	ssize_t n = -1;

	(void)check;
	if (i < 0)
		return false;
	if (!p->stream) {
		if (events & EPOLLPRI)
			*level = TIDE__MAX(*level, p->level[i]);
		/* The PSI file's cgroup went away. */
		return events & EPOLLERR;
	}
	for (;;) {
		n = tide__os_read(s->fd[i], buf, sizeof(buf));
		if (n > 0) {
			got += (size_t)n;
			if (p->own)
				got -= skip_own(p, buf, (size_t)n);
			continue;
		}
		if (n == -EINTR)
			continue;
		break;
	}
	/* our bytes were there to be read by now, or are gone */
	if (p->own && p->own_seen) {
		tide__os_free(p->own);
		p->own = NULL;
	}
	if (got)
		*level = TIDE__MAX(*level, p->level[i]);
	/* The peer of a socket went away: nothing more will come. */
	return n == 0 || (events & (EPOLLHUP | EPOLLERR));
}

const struct tide__src_ops tide__src_watch_ops = {
	.open = watch_open,
	.handle = psi_handle,
	.close = psi_close,
};

const struct tide__src_ops tide__src_psi_cgroup_ops = {
	.open = psi_cgroup_open,
	.handle = psi_handle,
	.close = psi_close,
	.close_waits = true,
};

const struct tide__src_ops tide__src_psi_ops = {
	.open = psi_open,
	.handle = psi_handle,
	.close = psi_close,
	.close_waits = true,
};
