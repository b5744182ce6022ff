// SPDX-License-Identifier: MIT
/*
 * ctl_dir.c - the control socket's directory: made 0700 or checked, the
 * sockets of dead processes removed, and the path of PID.sock.  ctl.c's
 * listen calls these under ctl_op_lock.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

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
 * Remove the sockets of dead processes and a stale one of our own pid.
 * getdents64 (tide__os_getdents), not opendir(): that would allocate
 * outside os.c.
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

/* @dir's PID.sock for process @pid into @sa; 0 or -ENAMETOOLONG. */
int tide__ctl_sock_addr(const char *dir, pid_t pid, struct sockaddr_un *sa)
{
	size_t need;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	need = (size_t)snprintf(sa->sun_path, sizeof(sa->sun_path),
				"%s/%d.sock", dir, (int)pid);
	return need < sizeof(sa->sun_path) ? 0 : -ENAMETOOLONG;
}
