/* SPDX-License-Identifier: MIT */
/*
 * bench.h - small helpers shared by the benchmarks: clocks, medians,
 * resident memory.
 */
#ifndef TIDE_BENCH_H
#define TIDE_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tools/proc.h"

static inline double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of the calling thread: what it ran, not what it waited. */
static inline double bench_thread_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median of @n values (sorts them in place). */
static inline double bench_median(double *v, size_t n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The @q quantile (0..1) of @n values (sorts them in place). */
static inline double bench_quantile(double *v, size_t n, double q)
{
	size_t i;

	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), bench_cmp_double);
	i = (size_t)(q * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

/* Resident anonymous memory in KiB, exact (the Anonymous: line of
 * /proc/self/smaps_rollup), from the shared reader tools/proc.h. */
static inline long bench_anon_kb(void)
{
	return tproc_anon_kb();
}

#endif /* TIDE_BENCH_H */
