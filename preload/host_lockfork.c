// SPDX-License-Identifier: MIT
/*
 * host_lockfork.c - a test host for the preload shim (tests/test_preload.c):
 * a program with an allocator of its own, whose lock it holds across fork()
 * with a pthread_atfork() handler registered in main(), after the shim's.
 * Its malloc() and the rest take the lock and call glibc's; the shim's own
 * allocations come here too.  Linked to nothing of tide.
 *
 * Usage: tide-preload-lockfork fork N | forkpty N | loop MS | daemon
 *   All first make themselves a process group leader (a test kills the
 *   group, stray children too) and print "parent fds P threads T" (the
 *   open descriptors and the threads of the process as it starts).
 *   fork N   fork N children, one after the other.  Each child counts its
 *            descriptors at once (A), then from 100 to 350 ms after its
 *            fork forks grandchildren back to back, each exiting at once
 *            (so that forks come while a monitor would be made in it, at
 *            200 ms), and waits for each (at most 5 s: H counts those
 *            that did not end), then at 700 ms counts its descriptors (B)
 *            and threads (T) and prints "child fds A B threads T
 *            grandchildren G hung H".  The parent waits for each child (at
 *            most 10 s) and prints "hung C of N"; exit 0, or 1 if a child
 *            hung or failed.
 *   forkpty N
 *            as fork N, the children made by forkpty() (a child's line
 *            goes to the original standard output, not to the terminal;
 *            A, B count the terminal's descriptors as the child has them)
 *   loop MS  fork children that exit at once, back to back, for MS
 *            milliseconds (waiting for each), then print "forks F" and
 *            exit 0 (a test sends control requests meanwhile)
 *   daemon   daemon(1, 1); the daemon counts as a child does (without
 *            grandchildren) and prints "daemon fds A B threads T"; the
 *            process that called daemon() exits 0 inside it.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <pty.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../tools/proc.h"

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void *__libc_memalign(size_t align, size_t size);
extern void __libc_free(void *p);

static pthread_mutex_t heap_lock = PTHREAD_MUTEX_INITIALIZER;

void *malloc(size_t size)
{
	void *p;

	pthread_mutex_lock(&heap_lock);
	p = __libc_malloc(size);
	pthread_mutex_unlock(&heap_lock);
	return p;
}

void *calloc(size_t n, size_t size)
{
	void *p;

	pthread_mutex_lock(&heap_lock);
	p = __libc_calloc(n, size);
	pthread_mutex_unlock(&heap_lock);
	return p;
}

void *realloc(void *old, size_t size)
{
	void *p;

	pthread_mutex_lock(&heap_lock);
	p = __libc_realloc(old, size);
	pthread_mutex_unlock(&heap_lock);
	return p;
}

void *memalign(size_t align, size_t size)
{
	void *p;

	pthread_mutex_lock(&heap_lock);
	p = __libc_memalign(align, size);
	pthread_mutex_unlock(&heap_lock);
	return p;
}

void *aligned_alloc(size_t align, size_t size)
{
	return memalign(align, size);
}

int posix_memalign(void **out, size_t align, size_t size)
{
	void *p = memalign(align, size);

	if (!p)
		return 12; /* ENOMEM */
	*out = p;
	return 0;
}

void free(void *p)
{
	pthread_mutex_lock(&heap_lock);
	__libc_free(p);
	pthread_mutex_unlock(&heap_lock);
}

static void heap_take(void)
{
	pthread_mutex_lock(&heap_lock);
}

static void heap_give(void)
{
	pthread_mutex_unlock(&heap_lock);
}

static int fds(void)
{
	return tproc_entries("/proc/self/fd") - 1;
}

static int threads(void)
{
	return tproc_entries("/proc/self/task");
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 +
	       (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static void sleep_until(const struct timespec *t0, long ms)
{
	long now = ms_since(t0);

	if (now < ms)
		usleep((useconds_t)(ms - now) * 1000);
}

/* Wait for @pid at most @ms: 1 when it ended with status 0, 0 when it
 * did not end (it is killed), -1 when it failed. */
static int reap(pid_t pid, long ms)
{
	int st;

	for (long waited = 0; waited < ms; waited += 2) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return WIFEXITED(st) && !WEXITSTATUS(st) ? 1 : -1;
		if (r < 0)
			return -1;
		usleep(2000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return 0;
}

static void child(int out)
{
	struct timespec t0;
	int at_once = fds(), kids = 0, hung = 0;
	char *p = malloc(100); /* the lock is free here */

	clock_gettime(CLOCK_MONOTONIC, &t0);
	sleep_until(&t0, 100);
	while (ms_since(&t0) < 350) {
		pid_t g = fork();
		int r;

		if (!g)
			_exit(0);
		if (g < 0)
			_exit(2);
		kids++;
		r = reap(g, 5000);
		if (r < 0)
			_exit(3);
		hung += !r;
	}
	sleep_until(&t0, 700);
	dprintf(out, "child fds %d %d threads %d grandchildren %d hung %d\n",
		at_once, fds(), threads(), kids, hung);
	free(p);
	_exit(0);
}

int main(int argc, char **argv)
{
	const char *how = argc > 1 ? argv[1] : "";
	int n = argc > 2 ? atoi(argv[2]) : 0, hung = 0, failed = 0;
	bool pty = !strcmp(how, "forkpty");
	int out;

	if (setpgid(0, 0) || pthread_atfork(heap_take, heap_give, heap_give))
		return 2;
	printf("parent fds %d threads %d\n", fds(), threads());
	fflush(stdout);
	if (!strcmp(how, "daemon")) {
		struct timespec t0;
		int at_once;

		if (daemon(1, 1))
			return 1;
		at_once = fds();
		clock_gettime(CLOCK_MONOTONIC, &t0);
		sleep_until(&t0, 700);
		printf("daemon fds %d %d threads %d\n", at_once, fds(),
		       threads());
		fflush(stdout);
		return 0;
	}
	if (!strcmp(how, "loop") && n > 0) {
		struct timespec t0;
		int forks = 0;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		while (ms_since(&t0) < n) {
			pid_t c = fork();

			if (!c)
				_exit(0);
			if (c < 0 || reap(c, 10000) != 1)
				return 1;
			forks++;
		}
		printf("forks %d\n", forks);
		return 0;
	}
	if ((strcmp(how, "fork") && !pty) || n < 1)
		return 2;
	for (int i = 0; i < n; i++) {
		int master = -1, r;
		pid_t c;

		/* the child's line goes here, past forkpty()'s terminal */
		out = dup(1);
		if (out < 0)
			return 1;
		c = pty ? forkpty(&master, NULL, NULL, NULL) : fork();
		if (!c) {
			child(out);
		}
		close(out);
		if (c < 0)
			return 1;
		r = reap(c, 10000);
		hung += !r;
		failed += r < 0;
		if (master >= 0)
			close(master);
	}
	printf("hung %d of %d\n", hung, n);
	return hung || failed;
}
