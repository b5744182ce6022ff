// SPDX-License-Identifier: MIT
/*
 * spy_open.c - a preloaded library for tests/test_preload.c, linked to
 * nothing of tide.  With SPY_OPEN_LOG=FILE in the environment, every
 * successful open of a PSI file (under /proc/pressure/, or a cgroup's memory.pressure; not
 * cgroup v1's memory.pressure_level) appends "NAME PATH" and a newline to
 * FILE,
 * NAME being the program's short name, so that a test can count the PSI
 * files that tide-run or a process under the shim opened.  The open itself
 * is the next definition's (the sanitizer's interceptor, or libc's).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define VIS __attribute__((visibility("default")))

typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);
typedef int (*open2_fn)(const char *, int);

static bool psi_file(const char *path)
{
	size_t n = strlen(path), k = strlen("/memory.pressure");

	return strstr(path, "/proc/pressure/") ||
	       (n >= k && !strcmp(path + n - k, "/memory.pressure"));
}

/*
 * @fd, the result of opening @path; logged when it is a PSI file that
 * opened.  Raw system calls: the shim defines close(), and nothing here
 * may recurse into an open.
 */
static int note(const char *path, int fd)
{
	const char *log = getenv("SPY_OPEN_LOG");
	char line[600];
	int lfd, n, saved = errno;

	if (fd < 0 || !log || !path || !psi_file(path))
		return fd;
	n = snprintf(line, sizeof(line), "%s %s\n",
		     program_invocation_short_name, path);
	lfd = (int)syscall(SYS_openat, AT_FDCWD, log,
			   O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (lfd >= 0) {
		if (n > 0)
			(void)syscall(SYS_write, lfd, line,
				      (size_t)n < sizeof(line) ?
					      (size_t)n :
					      sizeof(line) - 1);
		(void)syscall(SYS_close, lfd);
	}
	errno = saved;
	return fd;
}

static void *next(const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);

	if (!f)
		abort();
	return f;
}

static mode_t mode_arg(int flags, va_list ap)
{
	return (flags & (O_CREAT | O_TMPFILE)) ? va_arg(ap, mode_t) : 0;
}

/*
 * An open-like call NAME(PARAMS), PARAMS ending in "int flags, ...": call
 * the next definition of NAME, of type TYPE, with ARGS (which may name
 * mode), and log @path if that opened it.
 */
#define SPY_OPEN(name, type, params, args)                  \
	VIS int name params                                 \
	{                                                   \
		va_list ap;                                 \
		mode_t mode;                                \
                                                            \
		va_start(ap, flags);                        \
		mode = mode_arg(flags, ap);                 \
		va_end(ap);                                 \
		return note(path, ((type)next(#name))args); \
	}

/* _FORTIFY_SOURCE's entries, taken where the flags are not constant */
#define SPY_OPEN2(name)                                                  \
	VIS int name(const char *path, int flags);                       \
	VIS int name(const char *path, int flags)                        \
	{                                                                \
		return note(path, ((open2_fn)next(#name))(path, flags)); \
	}

SPY_OPEN(open, open_fn, (const char *path, int flags, ...), (path, flags, mode))
SPY_OPEN(open64, open_fn, (const char *path, int flags, ...),
	 (path, flags, mode))
SPY_OPEN(openat, openat_fn, (int dir, const char *path, int flags, ...),
	 (dir, path, flags, mode))
SPY_OPEN(openat64, openat_fn, (int dir, const char *path, int flags, ...),
	 (dir, path, flags, mode))
SPY_OPEN2(__open_2)
SPY_OPEN2(__open64_2)
