// SPDX-License-Identifier: MIT
/*
 * util.c - tide-demo's plumbing: clocks, progress lines, a seeded random
 * generator, children that stream their samples through a pipe.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "demo.h"

bool tty;
unsigned story_count;
static unsigned story_index, stories_begun, failed_mask;

void story_set(unsigned n)
{
	story_index = n;
}

unsigned story_number(void)
{
	return story_index;
}

void story_fail(void)
{
	if (story_index < 32)
		failed_mask |= 1u << story_index;
}

unsigned story_failed_mask(void)
{
	return failed_mask;
}

double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void story_begin(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "[%u/%u] ", ++stories_begun, story_count);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void emit(int fd, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0 && (size_t)n < sizeof(buf)) {
		ssize_t w = write(fd, buf, (size_t)n);

		(void)w;
	}
}

void sleep_us(unsigned us)
{
	struct timespec ts = { us / 1000000, (long)(us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

void progress(const char *fmt, ...)
{
	va_list ap;

	if (!tty)
		return;
	va_start(ap, fmt);
	fputs("\r\033[K  ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

void progress_done(const char *fmt, ...)
{
	va_list ap;

	if (tty)
		fputs("\r\033[K", stderr);
	fputs("  ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

uint64_t rng_state;

uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

double rnd01(void)
{
	return (double)(rnd() >> 11) * (1.0 / 9007199254740992.0);
}

int run_child(void (*fn)(int fd, void *arg), void *arg,
	      void (*line)(const char *l, void *ctx), void *ctx)
{
	char buf[8192];
	size_t used = 0;
	int pfd[2], status = 0;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	if (pipe2(pfd, O_CLOEXEC)) {
		perror("tide-demo: pipe");
		exit(1);
	}
	pid = fork();
	if (pid < 0) {
		perror("tide-demo: fork");
		exit(1);
	}
	if (!pid) {
		/* tide-demo catches SIGPIPE (main()); a story's child that
		 * outlives it ends at its next line, as before */
		signal(SIGPIPE, SIG_DFL);
		close(pfd[0]);
		fn(pfd[1], arg);
		_exit(0);
	}
	close(pfd[1]);
	for (;;) {
		ssize_t n = read(pfd[0], buf + used, sizeof(buf) - 1 - used);
		char *s, *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		used += (size_t)n;
		buf[used] = 0;
		for (s = buf; (nl = strchr(s, '\n')); s = nl + 1) {
			*nl = 0;
			line(s, ctx);
		}
		used -= (size_t)(s - buf);
		memmove(buf, s, used);
		if (used == sizeof(buf) - 1)
			used = 0; /* an overlong line: drop it */
	}
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return status;
}

void series_line(const char *l, void *ctx)
{
	struct series *s = ctx;
	double v[5] = { 0 };

	if (l[0] == 'R') {
		snprintf(s->result, sizeof(s->result), "%s", l + 2);
		return;
	}
	if (l[0] == 'I') {
		snprintf(s->info, sizeof(s->info), "%s", l + 2);
		return;
	}
	if (l[0] != 'S' || sscanf(l + 2, "%lf %lf %lf %lf %lf", &v[0], &v[1],
				  &v[2], &v[3], &v[4]) < 3)
		return;
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 256;
		void *p = realloc(s->v, cap * sizeof(*s->v));

		if (!p)
			return;
		s->v = p;
		s->cap = cap;
	}
	memcpy(s->v[s->n++], v, sizeof(v));
}

double result(const struct series *s, const char *key, double def)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "%s=", key);
	for (p = s->result; (p = strstr(p, pat)); p++)
		if (p == s->result || p[-1] == ' ')
			return atof(p + strlen(pat));
	return def;
}
