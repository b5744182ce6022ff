/* SPDX-License-Identifier: MIT */
/*
 * harness.h - tide's test harness.
 *
 * Each test program lists its tests with RUN_TESTS(T(a), T(b), ...).  Every
 * test runs in a forked child of a parent that never touches the library, so
 * each test starts from a fresh process (environment, thresholds, registry)
 * and a crash fails only that test.  Output is TAP:
 *
 *   1..N
 *   ok 1 - name
 *   not ok 2 - name
 *   ok 3 - name # SKIP reason
 *   N passed, N failed, N skipped
 *
 * The program exits 0 when nothing failed, 77 when every test was skipped,
 * 1 otherwise.  TIDE_TEST_NOFORK=1 runs tests in-process (for gdb); a test
 * name (or several) on the command line runs just those.
 */
#ifndef TIDE_TEST_HARNESS_H
#define TIDE_TEST_HARNESS_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "../tools/proc.h"

struct th_test {
	const char *name;
	void (*fn)(void);
};

#define TEST(name) static void name(void)
#define T(name)             \
	{                   \
#name, name \
	}

#define TH_SKIP_CODE 77

static bool th_in_child;

static void th_fail_at(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));
static void th_fail_at(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	printf("# %s:%d: ", file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	_exit(1);
}

#define FAIL(...) th_fail_at(__FILE__, __LINE__, __VA_ARGS__)

#define CHECK(cond)                                      \
	do {                                             \
		if (!(cond))                             \
			FAIL("check failed: %s", #cond); \
	} while (0)

/* Compare as signed 64-bit values and print both on failure. */
#define CHECK_EQ(a, b)                                                      \
	do {                                                                \
		long long th_a = (long long)(a), th_b = (long long)(b);     \
		if (th_a != th_b)                                           \
			FAIL("%s == %s: %lld != %lld", #a, #b, th_a, th_b); \
	} while (0)

/* Compare as unsigned 64-bit values. */
#define CHECK_UEQ(a, b)                                                     \
	do {                                                                \
		unsigned long long th_a = (unsigned long long)(a);          \
		unsigned long long th_b = (unsigned long long)(b);          \
		if (th_a != th_b)                                           \
			FAIL("%s == %s: %llu != %llu", #a, #b, th_a, th_b); \
	} while (0)

#define CHECK_CMP(a, op, b)                                               \
	do {                                                              \
		long long th_a = (long long)(a), th_b = (long long)(b);   \
		if (!(th_a op th_b))                                      \
			FAIL("%s %s %s: %lld vs %lld", #a, #op, #b, th_a, \
			     th_b);                                       \
	} while (0)

#define CHECK_PTR_EQ(a, b)                                              \
	do {                                                            \
		const void *th_a = (a), *th_b = (b);                    \
		if (th_a != th_b)                                       \
			FAIL("%s == %s: %p != %p", #a, #b, th_a, th_b); \
	} while (0)

#define CHECK_STR(a, b)                                                       \
	do {                                                                  \
		const char *th_a = (a), *th_b = (b);                          \
		if (!th_a || !th_b || strcmp(th_a, th_b))                     \
			FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b,            \
			     th_a ? th_a : "(null)", th_b ? th_b : "(null)"); \
	} while (0)

/*
 * kv's bound on a block's size, on either word size (kv.c's KV_MAX_SIZE;
 * docs/kv.md, "Sizes past the address space"): TH_ADDR_SPACE is the
 * first size past the user address space as kv counts it, 2^47 on 64-bit
 * and SIZE_MAX / 2 + 1 (2^31: no object is larger than PTRDIFF_MAX) on
 * 32-bit; TH_KV_MAX is the largest size kv tries, 4 MiB less for the
 * header and the huge-page rounding (2^47 - 4 MiB; PTRDIFF_MAX - 4 MiB).
 */
#if SIZE_MAX > 0xffffffffu
#define TH_ADDR_SPACE ((size_t)1 << 47)
#define TH_KV_MAX (TH_ADDR_SPACE - ((size_t)4 << 20))
#else
#define TH_ADDR_SPACE (SIZE_MAX / 2 + 1)
#define TH_KV_MAX ((size_t)PTRDIFF_MAX - ((size_t)4 << 20))
#endif

/* Skip the running test: the machine lacks what it needs. */
#define SKIP(...)                    \
	do {                         \
		printf("# SKIP ");   \
		printf(__VA_ARGS__); \
		printf("\n");        \
		fflush(stdout);      \
		_exit(TH_SKIP_CODE); \
	} while (0)

static inline void th_note(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static inline void th_note(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* ---- memory measurement ------------------------------------------- */

/* The number after @key (e.g. "Anonymous:") in a /proc file; -1 if none.
 * The one /proc reader of tests, benchmarks and tools: tools/proc.h. */
static inline long th_proc_value(const char *path, const char *key)
{
	return (long)tproc_value(path, key);
}

/* Resident anonymous memory of this process in KiB, exact (smaps_rollup). */
static inline long th_anon_kb(void)
{
	return tproc_anon_kb();
}

/*
 * Cap this process's address space at its current size plus @slack bytes
 * (RLIMIT_AS, soft limit), so that the next mapping larger than @slack
 * fails with the kernel's own ENOMEM; the old limit goes to *@old for
 * setrlimit() afterwards.  0, or -1 when statm or setrlimit() fails.
 */
static inline int th_limit_address_space(size_t slack, struct rlimit *old)
{
	struct rlimit rl;
	unsigned long pages = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	int n = f ? fscanf(f, "%lu", &pages) : 0;

	if (f)
		fclose(f);
	if (n != 1 || getrlimit(RLIMIT_AS, old))
		return -1;
	rl = *old;
	rl.rlim_cur = pages * (unsigned long)sysconf(_SC_PAGESIZE) + slack;
	return setrlimit(RLIMIT_AS, &rl) ? -1 : 0;
}

/* Number of open file descriptors of this process. */
static inline int th_fd_count(void)
{
	char path[64];
	int n = 0;

	for (int fd = 0; fd < 4096; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (!access(path, F_OK))
			n++;
	}
	return n;
}

/* Is @fd an epoll instance with nothing to report (none registered)? */
static inline bool th_fd_is_empty_epoll(int fd)
{
	char path[64], link[64];
	struct epoll_event ev;
	ssize_t k;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	k = readlink(path, link, sizeof(link) - 1);
	if (k < 0)
		return false;
	link[k] = 0;
	return !strcmp(link, "anon_inode:[eventpoll]") &&
	       epoll_wait(fd, &ev, 1, 0) == 0;
}

/* ---- child processes ---------------------------------------------- */

/*
 * Run @fn(@arg) in a child; its stdout and stderr go to @out (NUL
 * terminated, truncated to @outsz).  Returns the wait status.
 */
static inline int th_fork(void (*fn)(void *), void *arg, char *out,
			  size_t outsz)
{
	int pfd[2], status = 0;
	size_t used = 0;
	ssize_t n;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	if (pipe(pfd))
		FAIL("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		FAIL("fork: %s", strerror(errno));
	if (!pid) {
		close(pfd[0]);
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		fn(arg);
		fflush(stdout);
		_exit(0);
	}
	close(pfd[1]);
	for (;;) {
		char buf[4096];

		n = read(pfd[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (out && used + 1 < outsz) {
			size_t take = TIDE__MIN((size_t)n, outsz - 1 - used);

			memcpy(out + used, buf, take);
			used += take;
		}
	}
	if (out && outsz)
		out[used] = 0;
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return status;
}

/*
 * In a child of th_fork(): a mount namespace of its own with /proc
 * unmounted, as a process without /proc has it; SKIP where the machine
 * does not let us (no CAP_SYS_ADMIN, no mount namespaces).
 */
static inline void th_without_proc(void)
{
	if (unshare(CLONE_NEWNS))
		SKIP("unshare(CLONE_NEWNS): %s", strerror(errno));
	if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) ||
	    umount2("/proc", MNT_DETACH))
		SKIP("mount: %s", strerror(errno));
	if (!access("/proc/self/fd", F_OK))
		FAIL("/proc/self/fd still there after the unmount");
}

/* ---- the OOM loop ------------------------------------------------- */

/* Number of threads of this process (/proc/self/status), -1 if unknown. */
static inline int th_thread_count(void)
{
	return (int)th_proc_value("/proc/self/status", "Threads:");
}

/*
 * The thread count once it is @want, or after 200 ms: a thread joined a
 * moment ago stays in the kernel's thread group until the kernel releases
 * it, after pthread_join() returned (test_pressure, CI: 1 of 48 runs).
 * A thread that leaked stays; so does the count that says so.
 */
static inline int th_thread_count_after_join(int want)
{
	for (int i = 0; i < 200 && th_thread_count() != want; i++)
		usleep(1000);
	return th_thread_count();
}

/*
 * Open file descriptors, from one read of /proc/self/fd (not counting the
 * one it reads with); -1 if unknown.  With @top, the highest of them below
 * @below goes there (-1 if none).
 */
static inline int th_fd_scan(int *top, long below)
{
	int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char buf[4096];
	int n = 0;
	long r;

	if (top)
		*top = -1;
	if (dfd < 0)
		return -1;
	/* getdents64 directly: opendir() would allocate. */
	while ((r = syscall(SYS_getdents64, dfd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < r;) {
			unsigned short reclen;
			const char *name = buf + off + 19;
			int fd = atoi(name);

			memcpy(&reclen, buf + off + 16, sizeof(reclen));
			off += reclen;
			if (name[0] == '.' || fd == dfd)
				continue;
			n++;
			if (top && fd > *top && fd < below)
				*top = fd;
		}
	}
	close(dfd);
	return n;
}

/* This process's CPU time, all threads, in ms. */
static inline long th_cpu_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Which descriptors below 4096 are open, in @out. */
static inline void th_open_fds(bool out[4096])
{
	char path[64];

	for (int fd = 0; fd < 4096; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		out[fd] = !access(path, F_OK);
	}
}

/* Close the descriptors below 4096 not open in @before; how many. */
static inline int th_close_new_fds(const bool before[4096])
{
	char path[64];
	int n = 0;

	for (int fd = 0; fd < 4096; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (!before[fd] && !access(path, F_OK)) {
			close(fd);
			n++;
		}
	}
	return n;
}

/*
 * Take the library's descriptor @fd from it as a program that closes it
 * behind the library's back and reuses the number would: a pipe's read end
 * is put on @fd (dup3, O_CLOEXEC), holding the 16 bytes of TH_TAKEN_BYTES.
 * Returns the pipe's write end.  th_check_taken_fd() checks afterwards
 * that the library left the number alone.
 */
#define TH_TAKEN_BYTES "0123456789abcdef"
static inline int th_take_fd(int fd)
{
	int p[2];

	CHECK(!pipe2(p, O_CLOEXEC));
	CHECK_EQ(syscall(SYS_dup3, p[0], fd, O_CLOEXEC), fd);
	CHECK_EQ(close(p[0]), 0);
	CHECK_EQ(write(p[1], TH_TAKEN_BYTES, 16), 16);
	return p[1];
}

/*
 * Close @fd behind the library's back, as a program's close_range(2)
 * does: the system call itself, not the libc wrapper ThreadSanitizer
 * intercepts (a monitor's thread waiting on the descriptor is the point,
 * not a race of the test's).
 */
static inline void th_close_behind(int fd)
{
	CHECK_EQ(syscall(SYS_close, fd), 0);
}

/* Is @line of /proc/PID/task/TID/syscall a poll() of one descriptor? */
static inline bool th_polls_one(const char *line)
{
	unsigned long fds, nfds;
	long nr;

	if (sscanf(line, "%ld %lx %lx", &nr, &fds, &nfds) != 3 || nfds != 1)
		return false;
#ifdef SYS_poll
	if (nr == SYS_poll)
		return true;
#endif
	return nr == SYS_ppoll;
}

/*
 * Wait up to 5 s for @n threads of this process to sleep in a poll() of
 * one descriptor each (the kernel's /proc/self/task/TID/syscall), as a
 * started monitor's thread waits; true once they do, or when the kernel
 * has no such file to tell.  A test that closes a started monitor's epoll
 * behind its back while its thread sleeps on it waits for that sleep
 * first: a sanitizer build's thread may still be starting.
 */
static inline bool th_poll_sleepers(int n)
{
	for (int i = 0; i < 5000; i++) {
		DIR *d = opendir("/proc/self/task");
		struct dirent *e;
		bool opened = false;
		int found = 0;

		if (!d)
			return true; /* cannot tell: taken to be */
		while ((e = readdir(d))) {
			char path[300], line[256];
			FILE *f;

			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path),
				 "/proc/self/task/%s/syscall", e->d_name);
			f = fopen(path, "re");
			if (!f)
				continue;
			opened = true;
			if (fgets(line, sizeof(line), f) && th_polls_one(line))
				found++;
			fclose(f);
		}
		closedir(d);
		/* no syscall file (a kernel without it, gVisor): cannot tell */
		if (found >= n || !opened)
			return true;
		usleep(1000);
	}
	return false;
}

/* @fd, taken by th_take_fd(), is still the pipe: open, O_CLOEXEC, its 16
 * bytes unread (they are read here). */
static inline void th_check_taken_fd(int fd)
{
	char buf[16];

	CHECK_EQ(fcntl(fd, F_GETFD), FD_CLOEXEC);
	CHECK_EQ(read(fd, buf, sizeof(buf)), 16);
	CHECK(!memcmp(buf, TH_TAKEN_BYTES, 16));
}

static inline int th_fd_count_fast(void)
{
	return th_fd_scan(NULL, 0);
}

/*
 * Run this test program again, with exactly the environment @envp (NULL
 * terminated), and check that it exits 0: a test under LD_PRELOAD, which
 * only a new process gets.
 */
static inline void th_rerun_self(char *const envp[])
{
	char exe[4096];
	char *argv[2];
	int status;
	ssize_t n;
	pid_t pid;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	CHECK(n > 0);
	exe[n] = '\0';
	argv[0] = exe;
	argv[1] = NULL;
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (!pid) {
		execve(exe, argv, envp);
		_exit(127);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
}

/* A TSan build (gcc's macro, or clang's feature test). */
static inline bool th_tsan(void)
{
#if defined(__SANITIZE_THREAD__)
	return true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
	return true;
#else
	return false;
#endif
#else
	return false;
#endif
}

/* A sanitizer build (ASan or TSan): the loops that stress run shorter. */
static inline bool th_sanitized(void)
{
#if defined(TIDE__ASAN)
	return true;
#else
	return th_tsan();
#endif
}

/* What tide_set_error_handler() reported: how often, the last report. */
struct th_reports {
	int n;
	const char *what;
	const void *ptr;
};

/* An error handler that records into a struct th_reports (@arg). */
static inline void th_on_report(const char *what, const void *ptr, void *arg)
{
	struct th_reports *r = (struct th_reports *)arg;

	r->n++;
	r->what = what;
	r->ptr = ptr;
}

/* Running under valgrind: the valgrind target sets TIDE_UNDER_VALGRIND=1. */
static inline bool th_under_valgrind(void)
{
	const char *v = getenv("TIDE_UNDER_VALGRIND");

	return v && *v && strcmp(v, "0");
}

/*
 * Does this kernel take a PSI trigger on /proc/pressure/memory, the system
 * PSI source's file (which accepts no fake file: procfs or cgroupfs
 * only)?  0, or the errno of the open, or of the write that refused it.
 */
static inline int th_psi_trigger_err(void)
{
	static const char trig[] = "some 100000 2000000";
	int fd = open("/proc/pressure/memory", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	int err = 0;

	if (fd < 0)
		return errno;
	if (write(fd, trig, sizeof(trig)) != (ssize_t)sizeof(trig))
		err = errno;
	close(fd);
	return err;
}

static void *th_nothing(void *arg)
{
	return arg;
}

/*
 * Sanitizer runtimes start helper threads with the first thread: start
 * them before the thread count is first taken.  Once per process.
 */
static inline void th_warm_up_threads(void)
{
	static bool done;
	pthread_t t;

	if (done)
		return;
	done = true;
	if (!pthread_create(&t, NULL, th_nothing, NULL))
		pthread_join(t, NULL);
	usleep(20000);
}

/*
 * struct th_oom_case - one function under the OOM loop with state around it.
 * @setup: builds the inputs before faults are armed (NULL: none); 0 or a
 *	negative errno, which fails the test.
 * @body: the call under test, with faults armed: 0 on success or a negative
 *	errno on a clean failure, after checking its inputs are unchanged.
 * @teardown: releases what @setup and a successful @body made (NULL: none).
 */
struct th_oom_case {
	int (*setup)(void *arg);
	int (*body)(void *arg);
	void (*teardown)(void *arg);
};

/*
 * One pass of a failure loop, checked from before @c->setup to after
 * @c->teardown for leaked heap blocks, mappings, mapped bytes, file
 * descriptors and threads: setup, @arm(@n), @c->body, @disarm() (how
 * many failures it made: *@hits), teardown.  @how and @n name the pass in
 * a failure.  Returns the body's result.
 */
static inline int th_checked_pass(const char *what, const char *how,
				  unsigned long n, const struct th_oom_case *c,
				  void *arg, void (*arm)(unsigned long n),
				  unsigned long (*disarm)(void),
				  unsigned long *hits)
{
	struct tide__os_stats before, after;
	int fds = th_fd_count_fast(), threads = th_thread_count(), r;

	tide__os_stats(&before);
	r = c->setup ? c->setup(arg) : 0;
	if (r)
		FAIL("%s: setup failed (%d)", what, r);
	arm(n);
	r = c->body(arg);
	*hits = disarm();
	if (c->teardown)
		c->teardown(arg);
	tide__os_stats(&after);
	if (after.heap_live != before.heap_live ||
	    after.maps_live != before.maps_live ||
	    after.map_bytes != before.map_bytes)
		FAIL("%s: %s %lu leaked: heap %ld->%ld maps %ld->%ld bytes "
		     "%lld->%lld",
		     what, how, n, before.heap_live, after.heap_live,
		     before.maps_live, after.maps_live, before.map_bytes,
		     after.map_bytes);
	/*
	 * A thread joined in the teardown stays in the kernel's thread
	 * group (/proc/self/task) a moment after pthread_join() returned,
	 * until the kernel releases it: counted then, it looked leaked (an
	 * ASan run, 1 of 3).  A leaked thread or descriptor stays; 100 ms.
	 * Likewise one the previous pass joined may still have been counted
	 * before this one: fewer threads after is no leak (1 of 7 runs on a
	 * loaded machine: "threads 2->1").
	 */
	for (int i = 0; i < 100 && (th_fd_count_fast() != fds ||
				    th_thread_count() > threads);
	     i++)
		usleep(1000);
	if (th_fd_count_fast() != fds || th_thread_count() > threads)
		FAIL("%s: %s %lu leaked: fds %d->%d threads %d->%d", what, how,
		     n, fds, th_fd_count_fast(), threads, th_thread_count());
	return r;
}

/* The fault injector as a failure loop's arm and disarm. */
static bool th_fault_persistent;

static inline void th_fault_arm(unsigned long n)
{
	tide__fault_set(n, th_fault_persistent);
}

static inline unsigned long th_fault_disarm(void)
{
	unsigned long hits = tide__fault_hits();

	tide__fault_clear();
	return hits;
}

/*
 * th_oom_loop_ex() - the OOM loop for a call that needs prepared inputs.
 * Only @c->body runs with faults armed, so the fault points counted are
 * the call's own.  Each pass is checked, from before @setup to after
 * @teardown, for leaked heap blocks, mappings, mapped bytes, file
 * descriptors and threads.
 */
static inline unsigned long
th_oom_loop_ex(const char *what, const struct th_oom_case *c, void *arg)
{
	unsigned long points = 0;

	th_warm_up_threads();
	for (int persistent = 0; persistent < 2; persistent++) {
		th_fault_persistent = persistent;
		for (unsigned long n = 1;; n++) {
			unsigned long hits;
			int r;

			if (n > 100000)
				FAIL("%s: OOM loop does not end", what);
			r = th_checked_pass(what,
					    persistent ?
						    "persistent fault at call" :
						    "transient fault at call",
					    n, c, arg, th_fault_arm,
					    th_fault_disarm, &hits);
			if (r > 0)
				FAIL("%s: body returned %d", what, r);
			if (!hits) {
				if (r)
					FAIL("%s: failed (%d) with no fault "
					     "injected",
					     what, r);
				break;
			}
			points++;
		}
	}
	printf("# oom %s: %lu fault points (transient + persistent)\n", what,
	       points);
	return points;
}

/*
 * The error a body accepts from a failed call: -ENOMEM in the OOM loop,
 * -EMFILE in the descriptor loop below.
 */
static int th_expect_err = -ENOMEM;

/*
 * Open /dev/null into every hole below the highest open descriptor, so
 * that descriptors are handed out from top + 1 on; the fillers go into
 * @held (at most @max; the rest stay holes).  Returns top, the highest
 * descriptor open before.
 */
static inline int th_fd_fill_holes(int *held, int max, int *nheld)
{
	struct rlimit rl;
	int top;

	/* Below the soft limit: valgrind keeps its own descriptors above the
	 * limit it shows the program. */
	if (getrlimit(RLIMIT_NOFILE, &rl) ||
	    th_fd_scan(&top, rl.rlim_cur > (rlim_t)INT_MAX ?
				     INT_MAX :
				     (long)rl.rlim_cur) < 0)
		FAIL("/proc/self/fd or RLIMIT_NOFILE: %s", strerror(errno));
	*nheld = 0;
	while (*nheld < max) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (fd < 0)
			FAIL("open /dev/null: %s", strerror(errno));
		if (fd > top) {
			close(fd);
			break;
		}
		held[(*nheld)++] = fd;
	}
	return top;
}

/* RLIMIT_NOFILE as a failure loop's arm (K more descriptors) and disarm. */
static struct rlimit th_fd_old;
static int th_fd_top;

static inline void th_fd_arm(unsigned long k)
{
	struct rlimit lim = th_fd_old;

	lim.rlim_cur = (rlim_t)(th_fd_top + 1) + k;
	if (setrlimit(RLIMIT_NOFILE, &lim))
		FAIL("setrlimit: %s", strerror(errno));
}

static inline unsigned long th_fd_disarm(void)
{
	if (setrlimit(RLIMIT_NOFILE, &th_fd_old))
		FAIL("setrlimit back: %s", strerror(errno));
	return 0;
}

/*
 * th_fd_limit_loop() - the OOM loop for file descriptors, with the real
 * kernel instead of the injector: for K = 0, 1, 2, ... run @c->body under
 * an RLIMIT_NOFILE that lets it open exactly K more descriptors (the
 * descriptors below the limit are made contiguous first, so its (K+1)th
 * open fails with EMFILE).  @c->setup and @c->teardown run without the
 * limit.  Every pass must end in success or th_expect_err (-EMFILE) and
 * leak nothing (th_checked_pass()); the loop stops at the
 * first success.  Returns the number of failing passes: the most
 * descriptors the call holds at once.
 */
static inline unsigned long
th_fd_limit_loop(const char *what, const struct th_oom_case *c, void *arg)
{
	static int held[4096];
	unsigned long points = 0, none;
	int nheld;

	th_warm_up_threads();
	if (getrlimit(RLIMIT_NOFILE, &th_fd_old))
		FAIL("%s: getrlimit: %s", what, strerror(errno));
	th_fd_top = th_fd_fill_holes(held, 4096, &nheld);
	th_expect_err = -EMFILE;
	for (unsigned long k = 0;; k++) {
		int r;

		if (k > 1000)
			FAIL("%s: descriptor loop does not end", what);
		r = th_checked_pass(what, "limit of more descriptors:", k, c,
				    arg, th_fd_arm, th_fd_disarm, &none);
		if (!r)
			break;
		if (r != th_expect_err)
			FAIL("%s: limit of %lu more descriptors: %d, not %d",
			     what, k, r, th_expect_err);
		points++;
	}
	th_expect_err = -ENOMEM;
	while (nheld)
		close(held[--nheld]);
	printf("# fd limit %s: %lu descriptor points\n", what, points);
	return points;
}

/*
 * th_oom_loop() - SQLite's OOM loop.  For N = 1, 2, ... make the Nth
 * failable OS call fail (once, then in a second round from N on) and run
 * @body.  @body returns 0 on success or a negative errno on a clean
 * failure; it must itself check that its inputs are unchanged after a
 * failure and release on success what it made.  Every pass is checked for
 * leaked heap blocks, mappings, mapped bytes, file descriptors and threads;
 * the loop stops when a pass injects no fault (which must then succeed).
 * Returns the number of fault points covered (both modes) and prints a
 * report line.
 */
static inline unsigned long th_oom_loop(const char *what,
					int (*body)(void *arg), void *arg)
{
	const struct th_oom_case c = { .body = body };

	return th_oom_loop_ex(what, &c, arg);
}

/* ---- the runner --------------------------------------------------- */

static inline bool th_selected(const char *name, int argc, char **argv)
{
	if (argc < 2)
		return true;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], name))
			return true;
	return false;
}

static inline int th_run(const struct th_test *tests, size_t n, int argc,
			 char **argv)
{
	bool nofork = getenv("TIDE_TEST_NOFORK") != NULL;
	unsigned passed = 0, failed = 0, skipped = 0, num = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t i = 0; i < n; i++)
		num += th_selected(tests[i].name, argc, argv);
	printf("1..%u\n", num);
	num = 0;
	for (size_t i = 0; i < n; i++) {
		int status = 0;
		pid_t pid;

		if (!th_selected(tests[i].name, argc, argv))
			continue;
		num++;
		fflush(stdout);
		if (nofork) {
			th_in_child = true;
			tests[i].fn();
			status = 0;
		} else {
			pid = fork();
			if (pid < 0) {
				perror("fork");
				return 1;
			}
			if (!pid) {
				th_in_child = true;
				tests[i].fn();
				fflush(stdout);
				_exit(0);
			}
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
		}
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			printf("ok %u - %s\n", num, tests[i].name);
			passed++;
		} else if (WIFEXITED(status) &&
			   WEXITSTATUS(status) == TH_SKIP_CODE) {
			printf("ok %u - %s # SKIP\n", num, tests[i].name);
			skipped++;
		} else {
			if (WIFSIGNALED(status))
				printf("# killed by signal %d\n",
				       WTERMSIG(status));
			printf("not ok %u - %s\n", num, tests[i].name);
			failed++;
		}
	}
	printf("%u passed, %u failed, %u skipped\n", passed, failed, skipped);
	if (failed)
		return 1;
	return (!passed && skipped) ? TH_SKIP_CODE : 0;
}

#define RUN_TESTS(...)                                                      \
	int main(int argc, char **argv)                                     \
	{                                                                   \
		static const struct th_test th_tests[] = { __VA_ARGS__ };   \
		return th_run(th_tests,                                     \
			      sizeof(th_tests) / sizeof(th_tests[0]), argc, \
			      argv);                                        \
	}

#ifdef TIDE_KV_H
#include <malloc.h>
/*
 * tide_kvsize(): a paged block's size is the size asked for, a heap block's
 * is malloc_usable_size() (heap blocks are plain malloc blocks, issue 15).
 */
#define CHECK_KVSIZE(p, asked)                                     \
	do {                                                       \
		const void *p_ = (p);                              \
		size_t a_ = (asked);                               \
		CHECK_UEQ(tide_kvsize(p_),                         \
			  tide_kv_is_paged(p_) ?                   \
				  a_ :                             \
				  malloc_usable_size((void *)p_)); \
		CHECK_CMP(tide_kvsize(p_), >=, a_);                \
	} while (0)
#endif /* TIDE_KV_H */

/*
 * The process's descriptors whose target is @path, or (@prefix) starts
 * with it (a deleted file's too): their count, and in *@first the lowest
 * such descriptor (-1 for none) when @first is not NULL.
 */
static inline int th_fds_on(const char *path, bool prefix, int *first)
{
	char link[64], target[PATH_MAX];
	int n = 0;

	if (first)
		*first = -1;
	for (int fd = 0; fd < 4096; fd++) {
		ssize_t len;

		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		len = readlink(link, target, sizeof(target) - 1);
		if (len < 0)
			continue;
		target[len] = 0;
		if (prefix ? strncmp(target, path, strlen(path)) :
			     strcmp(target, path))
			continue;
		if (first && *first < 0)
			*first = fd;
		n++;
	}
	return n;
}

#ifdef TIDE_PRESSURE_H
#include <poll.h>

/* Wait up to @ms for @m's fd, then dispatch; true if it was ready. */
static inline bool th_tick(struct tide_monitor *m, int ms)
{
	struct pollfd p = { .fd = tide_monitor_fd(m), .events = POLLIN };
	int r = poll(&p, 1, ms);

	CHECK(r >= 0);
	if (r == 0)
		return false;
	CHECK_EQ(tide_monitor_dispatch(m), 0);
	return true;
}
#endif

#endif /* TIDE_TEST_HARNESS_H */
