// SPDX-License-Identifier: MIT
/*
 * sock_path.c - AF_UNIX socket paths of any length.  bind(2) and
 * connect(2) take at most 107 bytes and a NUL (sun_path); a longer path
 * is reached through /proc/self/fd: an O_PATH descriptor of its directory
 * to bind, of the socket to connect, closed again on every path.  Used by
 * the control socket (ctl.c, ctl_dir.c) and the $MEMORY_PRESSURE_WATCH
 * socket (pressure/psi.c).  Every OS call goes through os.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "internal.h"

/* "/proc/self/fd/N" and a '/': what a path through a descriptor adds. */
#define FD_LINK_MAX (sizeof("/proc/self/fd/") - 1 + 10 + 1)

/* An address through /proc/self/fd that failed with -ENOENT: with no
 * /proc mounted it is the length that failed. */
static int fd_link_err(int r)
{
	return r == -ENOENT && tide__os_exists("/proc/self/fd") ?
		       -ENAMETOOLONG :
		       r;
}

/*
 * A path sun_path cannot hold (107 bytes and a NUL) is bound through an
 * O_PATH descriptor of its directory, as /proc/self/fd/N/NAME (the socket
 * file does not exist yet), closed again before return: the kernel
 * resolves the link to the directory itself, so the file is made where
 * @path names it.
 */
int tide__sock_bind_path(int fd, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *slash = strrchr(path, '/');
	size_t dlen = slash ? (size_t)(slash - path) : 0;
	char dir[PATH_MAX];
	int dfd, r;

	if (strlen(path) < sizeof(sa.sun_path)) {
		memcpy(sa.sun_path, path, strlen(path) + 1);
		return tide__os_bind(fd, &sa);
	}
	/* no directory to go through, or a final name too long for it */
	if (!slash || !slash[1] ||
	    strlen(slash + 1) + FD_LINK_MAX >= sizeof(sa.sun_path) ||
	    dlen >= sizeof(dir))
		return -ENAMETOOLONG;
	/* (dlen is at least 25 here: the name fits, the whole path not) */
	memcpy(dir, path, dlen);
	dir[dlen] = 0;
	dfd = tide__os_open(dir, O_PATH | O_DIRECTORY);
	if (dfd < 0)
		return dfd;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dfd,
		 slash + 1);
	r = fd_link_err(tide__os_bind(fd, &sa));
	tide__os_close(dfd);
	return r;
}

/*
 * A path sun_path cannot hold is reached through an O_PATH descriptor of
 * the socket file itself, /proc/self/fd/N, whatever the lengths of its
 * names (as systemd's clients do), closed again before return.
 */
int tide__sock_connect_path(int fd, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int pfd, r;

	if (strlen(path) < sizeof(sa.sun_path)) {
		memcpy(sa.sun_path, path, strlen(path) + 1);
		return tide__os_connect(fd, &sa);
	}
	pfd = tide__os_open(path, O_PATH);
	if (pfd < 0)
		return pfd;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d", pfd);
	r = fd_link_err(tide__os_connect(fd, &sa));
	tide__os_close(pfd);
	return r;
}

int tide__sock_connect_at(int fd, int dirfd, const char *dir, const char *name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int r = -ENAMETOOLONG;

	/* the directory @dirfd is open on, even if @dir was renamed and
	 * replaced since */
	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path),
			     "/proc/self/fd/%d/%s", dirfd,
			     name) < sizeof(sa.sun_path))
		r = fd_link_err(tide__os_connect(fd, &sa));
	if (r != -ENAMETOOLONG)
		return r;
	/* no /proc: by the path, where it fits */
	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", dir,
			     name) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	return tide__os_connect(fd, &sa);
}
