// SPDX-License-Identifier: MIT
/*
 * ctl_dir.c - the control socket's directory: made 0700 or checked, the
 * stale sockets removed, and the path of PID.sock.  ctl.c's
 * listen calls these under ctl_op_lock.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl_internal.h"

/* Create @dir 0700 or check the one that is there. */
int tide__ctl_check_dir(const char *dir)
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
 * Does anybody listen on @name in @dir, open as @dfd?  Reached through
 * @dfd (tide__sock_connect_at()): the directory the caller looked in, even
 * if @dir names another by now.  One non-blocking connect(), closed at
 * once (a server sees an empty request).  0: somebody does (a connection, or
 * EAGAIN: a full backlog); -ECONNREFUSED: nobody; -ENOENT: the file went
 * meanwhile; any other -errno (no permission, out of descriptors): cannot
 * tell.
 */
static int probe(int dfd, const char *dir, const char *name)
{
	int fd = tide__os_unix_socket(true);
	int r;

	if (fd < 0)
		return fd;
	do
		r = tide__sock_connect_at(fd, dfd, dir, name);
	while (r == -EINTR);
	tide__os_close(fd);
	return r == -EAGAIN ? 0 : r;
}

/* A socket file this young may be another's between bind() and listen(). */
#define STALE_AGE_NS 1000000000ll

static int64_t ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

/* Is @st's file at least STALE_AGE_NS old by each of its times? */
static bool old_enough(const struct stat *st)
{
	struct timespec now;
	int64_t born = TIDE__MAX(ts_ns(&st->st_mtim), ts_ns(&st->st_ctim));

	tide__os_wall_time(&now);
	return ts_ns(&now) - born >= STALE_AGE_NS;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	       ts_ns(&a->st_ctim) == ts_ns(&b->st_ctim);
}

/*
 * Remove the stale sockets in @dir and a stale one of our own pid.
 *
 * A pid names a process in one pid namespace only, and the directory may
 * be shared across them (a container bind-mounting it): whether N.sock's
 * pid lives here says nothing about its socket.  So a socket is stale
 * when nobody listens on it (connect: ECONNREFUSED) and each of its times
 * (mtime, ctime) is at least a second old by CLOCK_REALTIME: a younger one
 * may be another process's between its bind() and listen().  The file is
 * removed only if it is still the one probed (device, inode, ctime), which
 * leaves a window of a few system calls for another cleaner to remove it
 * and a new process to bind the name.  Symlinks and other files are never
 * touched.
 *
 * Our own PID.sock (@self) is ours to replace at any age when nobody
 * listens (take_over() made another copy of tide in this process close
 * it).  One somebody listens on belongs to another process, one of
 * another pid namespace with our pid there: left alone, -EADDRINUSE.  Not
 * a socket: -EEXIST.  Out of descriptors or memory while probing it: that
 * error.  getdents64 (tide__os_getdents), not opendir(): that would
 * allocate outside os.c.
 */
int tide__ctl_clean_dir(const char *dir, pid_t self)
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
			struct stat st, again;
			int p;

			memcpy(&reclen, buf + off + 16, sizeof(reclen));
			off += reclen;
			if (!pid || tide__os_lstatat(dfd, name, &st))
				continue;
			if (!S_ISSOCK(st.st_mode)) {
				if (pid == self)
					r = -EEXIST;
				continue;
			}
			if (pid != self && !old_enough(&st))
				continue;
			p = probe(dfd, dir, name);
			if (pid == self && (!p || tide__os_exhausted(p)))
				r = p ? p : -EADDRINUSE;
			if (p != -ECONNREFUSED ||
			    tide__os_lstatat(dfd, name, &again) ||
			    !same_file(&st, &again))
				continue;
			tide__os_unlinkat(dfd, name);
		}
	}
	tide__os_close(dfd);
	return r;
}

/* @dir's PID.sock for process @pid into @buf of @size bytes; 0 or
 * -ENAMETOOLONG. */
int tide__ctl_sock_path(const char *dir, pid_t pid, char *buf, size_t size)
{
	return (size_t)snprintf(buf, size, "%s/%d.sock", dir, (int)pid) < size ?
		       0 :
		       -ENAMETOOLONG;
}
