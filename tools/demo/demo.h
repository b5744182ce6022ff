/* SPDX-License-Identifier: MIT */
/*
 * demo.h - what the files of tide-demo share: options, the child-process
 * plumbing, progress lines and the result series.
 *
 * One file per story (story_*.c: run it, then report it in the summary),
 * plot.c writes the data files and the picture, util.c holds the plumbing,
 * tools/tide-demo.c is main and lists the stories.
 */
#ifndef TIDE_DEMO_H
#define TIDE_DEMO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../proc.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)

struct demo_opt {
	bool quick, force_budget, no_plot;
	unsigned only; /* --story N: bit N set (0: every story) */
	const char *out;
	const char *build_dir; /* the build tree (for stories that need it) */
	/* broker */
	unsigned steps, tick_ms;
	/* cache */
	unsigned limit_mib, written_mib, pace_us;
};

extern struct demo_opt opt;
extern bool tty; /* stderr is a terminal: progress lines redraw */

/* ---- util.c ---------------------------------------------------------- */

double now(void);
void sleep_us(unsigned us);
/* "[i/n] what": the header line of the next story. */
void story_begin(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void progress_done(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern unsigned story_count; /* set by main: how many stories run */
/* Story @n (1-based) is the one running or being reported (set by main). */
void story_set(unsigned n);
/* Its number: the number of its section of the summary too. */
unsigned story_number(void);
/* Whether story @n runs (--story). */
static inline bool story_on(unsigned n)
{
	return !opt.only || (opt.only >> n & 1);
}
/*
 * The current story (the one story_begin() announced last) failed: it could
 * not run, a variant failed, or its figures do not show what it shows; its
 * section of the summary says which.  tide-demo then exits 1.
 */
void story_fail(void);
/* Bit n set: story n failed (1-based). */
unsigned story_failed_mask(void);

/* xorshift64*: the same seed gives both variants the same workload. */
extern uint64_t rng_state;
uint64_t rnd(void);
double rnd01(void);

/* Child side: one line to the parent, unbuffered so an OOM kill loses none. */
void emit(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Run @fn(@fd, @arg) in a child whose lines come back through a pipe; @line
 * sees each one as it arrives.  Returns the wait status.
 */
int run_child(void (*fn)(int fd, void *arg), void *arg,
	      void (*line)(const char *l, void *ctx), void *ctx);

/* A growable list of result samples ("S v0 v1 ..." lines) in the parent. */
struct series {
	double (*v)[5];
	size_t n, cap;
	char result[512]; /* the child's "R key=value ..." line */
	char info[512]; /* the child's "I text" line */
};

void series_line(const char *l, void *ctx);
/* A value "key=..." of a result line, or @def. */
double result(const struct series *s, const char *key, double def);

/* A series with a name, for progress lines. */
struct series_progress {
	struct series *s;
	const char *name;
};

/* ---- the stories: each runs, then prints its part of the summary ------ */

void story_shrink(void);
void story_shrink_report(void);
void story_broker(void);
void story_broker_report(void);
void story_cache(void);
void story_cache_report(void);
/* tools/demo/story_python.c (an unmodified CPython under tide-run) */
#include "story_python.h"

/* What plot.c draws (story_broker.c, story_cache.c). */
struct spike {
	double start, up, down, end, height;
};
extern const struct spike spikes[2];
extern struct series broker_res[2]; /* 0 tide, 1 malloc */
extern struct series cache_res[2]; /* 0 with the monitor, 1 without */
extern int cache_status[2];
extern char cg_dir[]; /* the cache's cgroup, "" under a budget */

/* ---- plot.c ------------------------------------------------------------ */

char *out_path(const char *name);
/* The data files of the stories that ran; then, when stories 2 and 3 both
 * ran, the picture: true when the PNG was written.  @gnuplot is set when
 * gnuplot was found and run. */
bool plot_all(bool *gnuplot);

#endif /* TIDE_DEMO_H */
