// SPDX-License-Identifier: MIT
/*
 * bench_kv.c - kv against the C heap allocators, the way the seed measures
 * vrealloc:
 *  (a) 64 blocks of 256 KiB shrunk to 16 KiB: the share of the 60 tail pages
 *      per block that goes back to the kernel at once, and the cost of one
 *      shrink; raw munmap of the same tails is the physical floor;
 *  (b) realloc doubling from 4 KiB to 1 GiB, touching every new page, as a
 *      ratio to the first-touch floor (one 1 GiB mapping touched once);
 *  (c) heap-sized blocks (16 B - 64 KiB, fixed and mixed sizes, realloc,
 *      1/2/4 threads, resident bytes per block) against the process
 *      allocator, "bench_kv small NAME" and "bench_kv small-report";
 *  (d) 64 B and 1 KiB pairs while the allocation sensor watches heap blocks
 *      (a monitor's limit watcher between its watermarks) against the same
 *      loop unwatched and against malloc/free, 1/2/4 threads, "bench_kv
 *      watch NAME" and "bench_kv watch-report".
 *
 * One process measures one allocator: "bench_kv run tide" uses tide (and the
 * floors), "bench_kv run NAME" uses malloc/realloc of whatever allocator the
 * driver preloaded (bench_kv.sh).  "bench_kv report" reads the result lines
 * of every run from stdin and prints the Markdown section with medians.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <tide.h>

#include "bench.h"

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)
#define NBLK 64

static size_t pg;

static void *x_realloc(bool tide, void *p, size_t n)
{
	return tide ? tide_kvrealloc(p, n, 0) : realloc(p, n);
}

static void x_free(bool tide, void *p)
{
	if (tide)
		tide_kvfree(p);
	else
		free(p);
}

static void touch(char *p, size_t from, size_t to)
{
	for (size_t i = from; i < to; i += pg)
		((volatile char *)p)[i] = 1;
	((volatile char *)p)[to - 1] = 1;
}

static char *raw_block(void)
{
	char *p = mmap(NULL, 256 * KiB, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		exit(1);
	return p;
}

/*
 * (a) for an allocator: the share (%) of tail pages returned and the median
 * microseconds of one shrink.  For tide, raw munmap of the same tails runs
 * interleaved block by block, so both see the same machine state.
 */
static void shrink_case(const char *name, bool tide)
{
	char *b[NBLK], *r[NBLK];
	double us[NBLK], rus[NBLK], t0;
	long before, after;

	for (int i = 0; i < NBLK; i++) {
		b[i] = tide ? tide_kvmalloc(256 * KiB, 0) : malloc(256 * KiB);
		if (!b[i])
			exit(1);
		memset(b[i], i, 256 * KiB);
		if (tide) {
			r[i] = raw_block();
			memset(r[i], i, 256 * KiB);
		}
	}
	before = bench_anon_kb();
	for (int i = 0; i < NBLK; i++) {
		char *q;

		t0 = bench_now();
		q = x_realloc(tide, b[i], 16 * KiB);
		us[i] = (bench_now() - t0) * 1e6;
		if (!q)
			exit(1);
		b[i] = q;
		if (tide) {
			t0 = bench_now();
			munmap(r[i] + 16 * KiB, 240 * KiB);
			rus[i] = (bench_now() - t0) * 1e6;
		}
	}
	after = bench_anon_kb();
	if (tide) {
		/*
		 * The fall includes the raw tails, whose 60 written pages
		 * each munmap() gives back by definition: take them out.
		 */
		for (int i = 0; i < NBLK; i++)
			munmap(r[i], 16 * KiB);
		printf("shrink munmap -1 %.3f\n", bench_median(rus, NBLK));
		after += (long)(NBLK * 60 * pg / KiB);
	}
	printf("shrink %s %.2f %.3f\n", name,
	       100.0 * (double)(before - after) / (NBLK * 60.0 * pg / KiB),
	       bench_median(us, NBLK));
	for (int i = 0; i < NBLK; i++)
		x_free(tide, b[i]);
}

/* (b) doubling growth to @top, touching each new page; seconds. */
static double grow_case(bool tide, size_t top)
{
	size_t n = 4 * KiB;
	char *p = x_realloc(tide, NULL, n);
	double t0 = bench_now();

	touch(p, 0, n);
	while (n < top) {
		char *q = x_realloc(tide, p, 2 * n);

		if (!q)
			exit(1);
		p = q;
		touch(p, n, 2 * n);
		n *= 2;
	}
	t0 = bench_now() - t0;
	x_free(tide, p);
	return t0;
}

/* (b) floor: one mapping of @top bytes touched once. */
static double grow_floor(size_t top)
{
	double t0 = bench_now();
	char *p = mmap(NULL, top, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		exit(1);
	touch(p, 0, top);
	t0 = bench_now() - t0;
	munmap(p, top);
	return t0;
}

static int run(const char *name)
{
	bool tide = !strcmp(name, "tide");
	size_t top = 1024 * MiB;
	double floor, t;

	if (getenv("BENCH_KV_TOP_MIB"))
		top = strtoul(getenv("BENCH_KV_TOP_MIB"), NULL, 10) * MiB;
	shrink_case(name, tide);
	/* floor and case alternate in one process: same machine state */
	floor = grow_floor(top);
	t = grow_case(tide, top);
	floor = (floor + grow_floor(top)) / 2;
	printf("grow %s %.4f %.4f\n", name, t, floor);
	return 0;
}

/* ---- report ---------------------------------------------------------- */

#define MAXR 64
struct impl {
	char name[32];
	double pct[MAXR], us[MAXR], ratio[MAXR];
	int ns, ng;
};

static struct impl impls[16];
static int nimpl;

static struct impl *impl_of(const char *name)
{
	for (int i = 0; i < nimpl; i++)
		if (!strcmp(impls[i].name, name))
			return &impls[i];
	if (nimpl == 16)
		exit(1);
	snprintf(impls[nimpl].name, sizeof(impls[0].name), "%s", name);
	return &impls[nimpl++];
}

static const char *verdict(bool ok)
{
	return ok ? "**met**" : "**not met**";
}

static int report(void)
{
	char line[256], kind[16], name[32];
	double a, b, tide_pct = 0, tide_us = 0, floor_us = 0, tide_ratio = 0;
	int reps = 0;

	while (fgets(line, sizeof(line), stdin)) {
		struct impl *im;

		if (sscanf(line, "%15s %31s %lf %lf", kind, name, &a, &b) != 4)
			continue;
		im = impl_of(name);
		if (!strcmp(kind, "shrink") && im->ns < MAXR) {
			im->pct[im->ns] = a;
			im->us[im->ns++] = b;
		} else if (!strcmp(kind, "grow") && im->ng < MAXR) {
			im->ratio[im->ng++] = a / b;
		}
	}
	for (int i = 0; i < nimpl; i++) {
		struct impl *im = &impls[i];
		double pct = bench_median(im->pct, (size_t)im->ns);
		double us = bench_median(im->us, (size_t)im->ns);
		double ratio = bench_median(im->ratio, (size_t)im->ng);

		if (!strcmp(im->name, "tide")) {
			tide_pct = pct;
			tide_us = us;
			tide_ratio = ratio;
			reps = im->ns;
		}
		if (!strcmp(im->name, "munmap"))
			floor_us = us;
		im->pct[0] = pct;
		im->us[0] = us;
		im->ratio[0] = ratio;
	}
	printf("## kv: shrinking and growing large blocks\n\n");
	printf("Command: `make bench` (or `sh bench/bench_kv.sh build-bench`); "
	       "%d runs per allocator, each a fresh process, allocators "
	       "interleaved; medians.\n\n",
	       reps);
	printf("(a) 64 blocks of 256 KiB, every page written, each realloc'ed "
	       "to 16 KiB. *Returned* is the fall of resident anonymous memory "
	       "(smaps_rollup) as a share of the 60 tail pages per block.\n\n");
	printf("| allocator | returned at once | median µs per shrink | µs vs raw "
	       "munmap |\n|---|---:|---:|---:|\n");
	for (int i = 0; i < nimpl; i++)
		if (impls[i].ns)
			if (!strcmp(impls[i].name, "munmap"))
				printf("| raw munmap (floor) | all | %.2f | 1× "
				       "|\n",
				       impls[i].us[0]);
			else
				printf("| %s | %.2f%% | %.2f | %.2f× |\n",
				       impls[i].name, impls[i].pct[0],
				       impls[i].us[0],
				       floor_us > 0 ?
					       impls[i].us[0] / floor_us :
					       0);
	printf("\n(b) realloc doubling from 4 KiB to 1 GiB, writing one byte in "
	       "every new page, as a ratio to the first-touch floor (one 1 GiB "
	       "mapping written once, measured in the same process).\n\n");
	printf("| allocator | growth time / first-touch floor |\n|---|---:|\n");
	for (int i = 0; i < nimpl; i++)
		if (impls[i].ng)
			printf("| %s | %.3f× |\n", impls[i].name,
			       impls[i].ratio[0]);
	printf("\n| goal | tide | verdict |\n|---|---:|---|\n");
	printf("| ≥ 93.75%% of tail pages returned at once | %.2f%% | %s |\n",
	       tide_pct, verdict(tide_pct >= 93.75));
	printf("| shrink cost ≤ 1.1× raw munmap | %.2f× | %s |\n",
	       floor_us > 0 ? tide_us / floor_us : 0,
	       verdict(floor_us > 0 && tide_us <= 1.1 * floor_us));
	printf("| growth ≤ 1.05× first-touch floor | %.3f× | %s |\n",
	       tide_ratio, verdict(tide_ratio <= 1.05));
	return 0;
}

/* ---- (c) heap-sized blocks against the process allocator ------------ */

/*
 * "bench_kv small NAME": in one process (with NAME's allocator preloaded, or
 * glibc), tide_kvmalloc/kvfree/kvrealloc against malloc/free/realloc of the
 * same allocator, alternating round by round so both see the same machine
 * state; 1, 2 and 4 threads each running the loop on their own blocks.
 * Lines: "small ALLOC CASE THREADS tide_ns raw_ns" (per op and thread,
 * medians of the rounds) and "rss ALLOC SIZE tide_bytes raw_bytes".
 */
#include <pthread.h>
#include <sys/wait.h>

#define ROUNDS 3
#define MIXN 64

struct small_arg {
	int impl; /* IMPL_RAW, IMPL_TIDE or IMPL_CONTROL */
	int copy; /* which copy of the loop, 0 .. NCOPY - 1 */
	int kase; /* index in small_sizes, or CASE_MIXED / CASE_REALLOC */
	long iters;
	double ns;
	pthread_barrier_t *bar;
};

static const size_t small_sizes[] = { 16, 64, 256, 1024, 4096, 16384, 65536 };
#define NSIZES (sizeof(small_sizes) / sizeof(small_sizes[0]))
#define CASE_MIXED ((int)NSIZES)
#define CASE_REALLOC ((int)NSIZES + 1)

/* 16 B .. 64 KiB, log-uniform, from a fixed sequence */
static size_t mixed_size(unsigned *seed)
{
	unsigned r = *seed = *seed * 1103515245u + 12345u;
	unsigned shift = 4 + (r >> 8) % 13; /* 16 .. 65536 */

	return ((size_t)1 << shift) +
	       ((r >> 20) & (((size_t)1 << shift) - 1)) / 2;
}

/*
 * The timed loops.  At a few nanoseconds per pair, where a loop's machine
 * code lies decides as much as what it does: the same malloc/free loop at
 * two addresses differs by up to a third here (branch predictor and
 * alignment effects).  So every loop exists in NCOPY copies at different
 * addresses, for the allocator, for tide and for a second set of the
 * allocator's own loops (the control: the allocator against itself, which
 * shows how far two identical loops drift apart); each measurement runs
 * one copy, and a cell is the median over rounds and copies.
 */
#define NCOPY 4
#define IMPL_RAW 0
#define IMPL_TIDE 1
#define IMPL_CONTROL 2
#define NIMPL 3

typedef void (*small_loop)(size_t n, long iters);

#define SMALL_LOOPS(tag, ALLOC, FREE, REALLOC)                          \
	__attribute__((noinline)) static void fixed_##tag(size_t n,     \
							  long iters)   \
	{                                                               \
		for (long i = 0; i < iters; i++) {                      \
			char *p = ALLOC(n);                             \
                                                                        \
			if (!p)                                         \
				exit(1);                                \
			((volatile char *)p)[0] = 1;                    \
			FREE(p);                                        \
		}                                                       \
	}                                                               \
	__attribute__((noinline)) static void mixed_##tag(size_t n,     \
							  long iters)   \
	{                                                               \
		void *live[MIXN];                                       \
		unsigned seed = 42;                                     \
                                                                        \
		(void)n;                                                \
		for (long i = 0; i < iters; i += MIXN) {                \
			for (int j = 0; j < MIXN; j++) {                \
				live[j] = ALLOC(mixed_size(&seed));     \
				if (!live[j])                           \
					exit(1);                        \
				((volatile char *)live[j])[0] = 1;      \
			}                                               \
			for (int j = 0; j < MIXN; j++)                  \
				FREE(live[(j * 37) % MIXN]);            \
		}                                                       \
	}                                                               \
	/* 16 B doubling to 4 KiB and back, 18 calls a turn */          \
	__attribute__((noinline)) static void realloc_##tag(size_t n,   \
							    long iters) \
	{                                                               \
		(void)n;                                                \
		for (long i = 0; i < iters; i += 18) {                  \
			char *p = ALLOC(16);                            \
			size_t m;                                       \
                                                                        \
			for (m = 32; m <= 4096; m *= 2)                 \
				p = REALLOC(p, m);                      \
			for (m = 2048; m >= 16; m /= 2)                 \
				p = REALLOC(p, m);                      \
			if (!p)                                         \
				exit(1);                                \
			FREE(p);                                        \
		}                                                       \
	}

#define RAW_ALLOC(n) malloc(n)
#define RAW_REALLOC(p, n) realloc(p, n)
#define TIDE_ALLOC(n) tide_kvmalloc(n, 0)
#define TIDE_REALLOC(p, n) tide_kvrealloc(p, n, 0)

#define SMALL_COPY(c)                                               \
	SMALL_LOOPS(raw##c, RAW_ALLOC, free, RAW_REALLOC)           \
	SMALL_LOOPS(tide##c, TIDE_ALLOC, tide_kvfree, TIDE_REALLOC) \
	SMALL_LOOPS(control##c, RAW_ALLOC, free, RAW_REALLOC)
SMALL_COPY(0)
SMALL_COPY(1)
SMALL_COPY(2)
SMALL_COPY(3)

#define SMALL_ROW(c)                                                           \
	{                                                                      \
		{ fixed_raw##c, mixed_raw##c, realloc_raw##c },                \
			{ fixed_tide##c, mixed_tide##c, realloc_tide##c },     \
		{                                                              \
			fixed_control##c, mixed_control##c, realloc_control##c \
		}                                                              \
	}
static const small_loop small_loops[NCOPY][NIMPL][3] = {
	SMALL_ROW(0), SMALL_ROW(1), SMALL_ROW(2), SMALL_ROW(3)
};

static void *small_thread(void *arg)
{
	struct small_arg *a = arg;
	int kind = a->kase < CASE_MIXED ? 0 : a->kase == CASE_MIXED ? 1 : 2;
	size_t n = a->kase < CASE_MIXED ? small_sizes[a->kase] : 0;
	small_loop fn = small_loops[a->copy][a->impl][kind];
	double t0;

	pthread_barrier_wait(a->bar);
	/* the thread's CPU time: 4 threads share 2 CPUs here, and wall time
	 * would count the time slices a thread waits for its CPU */
	t0 = bench_thread_now();
	fn(n, a->iters);
	a->ns = (bench_thread_now() - t0) * 1e9 / (double)a->iters;
	return NULL;
}

/* One measurement: @nthr threads; mean ns per op and thread. */
static double small_once(int impl, int copy, int kase, int nthr, long iters)
{
	pthread_t th[4];
	struct small_arg a[4];
	pthread_barrier_t bar;
	double sum = 0;

	pthread_barrier_init(&bar, NULL, (unsigned)nthr);
	for (int i = 0; i < nthr; i++) {
		a[i] = (struct small_arg){ impl, copy, kase, iters, 0, &bar };
		if (pthread_create(&th[i], NULL, small_thread, &a[i]))
			exit(1);
	}
	for (int i = 0; i < nthr; i++) {
		pthread_join(th[i], NULL);
		sum += a[i].ns;
	}
	pthread_barrier_destroy(&bar);
	return sum / nthr;
}

static inline void *s_alloc(int tide, size_t n)
{
	return tide ? tide_kvmalloc(n, 0) : malloc(n);
}

/* Resident bytes per live block of @n bytes: 100000 blocks, fresh child. */
static double rss_per_block(int tide, size_t n)
{
	enum { NB = 100000 };
	int fd[2];
	double v = -1;
	pid_t pid;

	if (pipe(fd))
		exit(1);
	pid = fork();
	if (pid == 0) {
		static void *b[NB];
		long before = bench_anon_kb(), after;

		for (int i = 0; i < NB; i++) {
			b[i] = s_alloc(tide, n);
			if (!b[i])
				_exit(1);
			memset(b[i], 1, n);
		}
		after = bench_anon_kb();
		v = (double)(after - before) * 1024.0 / NB;
		if (write(fd[1], &v, sizeof(v)) != sizeof(v))
			_exit(1);
		_exit(0);
	}
	close(fd[1]);
	if (read(fd[0], &v, sizeof(v)) != sizeof(v))
		v = -1;
	close(fd[0]);
	waitpid(pid, NULL, 0);
	return v;
}

static const char *case_name(int kase, char *buf, size_t len)
{
	if (kase == CASE_MIXED)
		return "mixed";
	if (kase == CASE_REALLOC)
		return "realloc";
	snprintf(buf, len, "%zu", small_sizes[kase]);
	return buf;
}

static int small_run(const char *name)
{
	static const int thr[] = { 1, 2, 4 };
	long iters = 200000;
	char buf[32];

	if (getenv("BENCH_KV_SMALL_ITERS"))
		iters = strtol(getenv("BENCH_KV_SMALL_ITERS"), NULL, 10);
	/* read the threshold once before timing (first call's slow path) */
	tide_kvfree(tide_kvmalloc(1, 0));
	for (int kase = 0; kase <= CASE_REALLOC; kase++) {
		for (size_t t = 0; t < 3; t++) {
			double ns[NIMPL][ROUNDS * NCOPY];
			double rt[ROUNDS * NCOPY], rc[ROUNDS * NCOPY];
			int m = 0;

			/* rotate which of the three goes first */
			for (int r = 0; r < ROUNDS; r++)
				for (int c = 0; c < NCOPY; c++, m++)
					for (int k = 0; k < NIMPL; k++) {
						int impl = (k + m) % NIMPL;

						ns[impl][m] = small_once(
							impl, c, kase, thr[t],
							iters);
					}
			/* each round's ratios: its three ran back to back */
			for (int i = 0; i < m; i++) {
				rt[i] = ns[IMPL_TIDE][i] / ns[IMPL_RAW][i];
				rc[i] = ns[IMPL_CONTROL][i] / ns[IMPL_RAW][i];
			}
			printf("small %s %s %d %.3f %.3f %.3f %.4f %.4f\n",
			       name, case_name(kase, buf, sizeof(buf)), thr[t],
			       bench_median(ns[IMPL_TIDE], (size_t)m),
			       bench_median(ns[IMPL_RAW], (size_t)m),
			       bench_median(ns[IMPL_CONTROL], (size_t)m),
			       bench_median(rt, (size_t)m),
			       bench_median(rc, (size_t)m));
		}
	}
	for (size_t n = 16; n <= 1024; n *= 4)
		printf("rss %s %zu %.2f %.2f\n", name, n, rss_per_block(1, n),
		       rss_per_block(0, n));
	fflush(stdout);
	return 0;
}

/* ---- (c) report ------------------------------------------------------ */

#define MAXS 512
static struct srow {
	char alloc[32], kase[16];
	int thr;
	double tide[MAXR], raw[MAXR];
	double rt[MAXR], rc[MAXR]; /* per-process medians of paired ratios */
	int n;
} srows[MAXS];
static int nsrows;

static struct srow *srow_of(const char *alloc, const char *kase, int thr)
{
	for (int i = 0; i < nsrows; i++)
		if (!strcmp(srows[i].alloc, alloc) &&
		    !strcmp(srows[i].kase, kase) && srows[i].thr == thr)
			return &srows[i];
	if (nsrows == MAXS)
		exit(1);
	snprintf(srows[nsrows].alloc, sizeof(srows[0].alloc), "%s", alloc);
	snprintf(srows[nsrows].kase, sizeof(srows[0].kase), "%s", kase);
	srows[nsrows].thr = thr;
	return &srows[nsrows++];
}

/* The allocator against itself: the spread of its cells' control ratios. */
static void control_line(const char *alloc)
{
	double ratios[MAXS];
	size_t n = 0;

	for (int i = 0; i < nsrows; i++) {
		struct srow *r = &srows[i];
		double ct;

		if (strcmp(r->alloc, alloc) || !r->thr)
			continue;
		ct = bench_median(r->rc, (size_t)r->n);
		if (ct > 0)
			ratios[n++] = ct;
	}
	if (!n)
		return;
	qsort(ratios, n, sizeof(ratios[0]), bench_cmp_double);
	printf("Control, %s against itself: %.3f× to %.3f× (median %.3f×) "
	       "over the %zu cells.\n\n",
	       alloc, ratios[0], ratios[n - 1], bench_median(ratios, n), n);
}

static int small_report(void)
{
	char line[256], kind[16], alloc[32], kase[16];
	/* c, the control's own ns, is read and left: its ratio e is used */
	double a, b, c = 0, d = 0, e = 0, worst = 0, worst_rss = 0;
	int thr, reps = 0, cells = 0, within = 0;
	char allocs[8][32];
	int nalloc = 0;

	while (fgets(line, sizeof(line), stdin)) {
		struct srow *r;

		if (sscanf(line, "%15s %31s %15s %d %lf %lf %lf %lf %lf", kind,
			   alloc, kase, &thr, &a, &b, &c, &d, &e) == 9 &&
		    !strcmp(kind, "small"))
			r = srow_of(alloc, kase, thr);
		else if (sscanf(line, "%15s %31s %15s %lf %lf", kind, alloc,
				kase, &a, &b) == 5 &&
			 !strcmp(kind, "rss"))
			r = srow_of(alloc, kase, 0);
		else
			continue;
		if (r->n < MAXR) {
			r->tide[r->n] = a;
			r->rt[r->n] = d;
			r->rc[r->n] = e;
			r->raw[r->n++] = b;
		}
		if (r->n > reps)
			reps = r->n;
	}
	for (int i = 0; i < nsrows; i++) {
		int seen = 0;

		for (int j = 0; j < nalloc; j++)
			seen |= !strcmp(allocs[j], srows[i].alloc);
		if (!seen && nalloc < 8)
			snprintf(allocs[nalloc++], 32, "%s", srows[i].alloc);
	}
	printf("## kv: heap-sized blocks against the process allocator\n\n");
	printf("Command: `sh bench/bench_kv.sh build-bench` (part (c); "
	       "`BENCH_KV_SMALL=only` runs only this part). %d processes per "
	       "allocator, allocators interleaved; in each process "
	       "`tide_kvmalloc`/`tide_kvfree`/`tide_kvrealloc` and the "
	       "allocator's own `malloc`/`free`/`realloc` alternate in %d "
	       "rounds, each thread on its own blocks. Every timed loop "
	       "exists in %d copies at different code addresses (where a "
	       "loop of a few nanoseconds lies moves its time by up to a "
	       "third), and a round runs each copy once. Each thread is timed "
	       "by its own CPU time (4 threads share 2 CPUs: wall time would "
	       "count the slices a thread waits). *Control*: a second set of "
	       "copies of the allocator's own loops against the first, the "
	       "spread of two identical loops. The peer allocators are "
	       "preloaded (`LD_PRELOAD`), so tide's heap blocks come from the "
	       "same allocator as the peer's. Cell: tide ns / allocator ns per "
	       "operation and thread (medians over rounds and copies, then "
	       "over processes), and the ratio: the median over processes of "
	       "each process's median of the rounds' own ratios (the three "
	       "ran back to back in a round; so a cell's two times and its "
	       "ratio can disagree when the machine's speed moved between "
	       "rounds). CPU time leaves out time a thread sleeps, on a lock "
	       "for one; the loops take none of their own. Fixed sizes: "
	       "allocate, write one "
	       "byte, free. *mixed*: 64 live blocks of 16 B–64 KiB "
	       "(log-uniform), freed in another order. *realloc*: 16 B doubled "
	       "to 4 KiB and halved back (ns per call).\n\n",
	       reps, ROUNDS, NCOPY);
	for (int j = 0; j < nalloc; j++) {
		bool in_goal = strcmp(allocs[j], "tcmalloc") != 0;
		int mine = 0;

		printf("**%s**\n\n| case | 1 thread | 2 threads | 4 threads |\n"
		       "|---|---:|---:|---:|\n",
		       allocs[j]);
		for (int i = 0; i < nsrows; i++) {
			struct srow *r = &srows[i];

			if (strcmp(r->alloc, allocs[j]) || r->thr != 1)
				continue;
			printf("| %s%s |", r->kase,
			       strcmp(r->kase, "mixed") &&
					       strcmp(r->kase, "realloc") ?
				       " B" :
				       "");
			for (int t = 1; t <= 4; t *= 2) {
				struct srow *q = srow_of(r->alloc, r->kase, t);
				double td = bench_median(q->tide, (size_t)q->n);
				double rw = bench_median(q->raw, (size_t)q->n);
				double ratio =
					bench_median(q->rt, (size_t)q->n);

				/* issue 15's goal 1 names glibc, jemalloc
				 * and mimalloc; tcmalloc is shown, not judged */
				if (in_goal && ratio > worst)
					worst = ratio;
				cells += in_goal;
				within += in_goal && ratio <= 1.05;
				mine += ratio <= 1.05;
				printf(" %.2f / %.2f (%.3f×) |", td, rw, ratio);
			}
			printf("\n");
		}
		printf("\n%d of 27 cells within 1.05×. ", mine);
		control_line(allocs[j]);
	}
	printf("Resident bytes per live block (100000 blocks written, each "
	       "in a fresh child; smaps_rollup):\n\n| allocator | size | tide "
	       "| allocator | ratio |\n|---|---:|---:|---:|---:|\n");
	for (int i = 0; i < nsrows; i++) {
		struct srow *r = &srows[i];
		double td, rw;

		if (r->thr)
			continue;
		td = bench_median(r->tide, (size_t)r->n);
		rw = bench_median(r->raw, (size_t)r->n);
		if (rw > 0 && td / rw > worst_rss)
			worst_rss = td / rw;
		printf("| %s | %s B | %.1f | %.1f | %.3f× |\n", r->alloc,
		       r->kase, td, rw, rw > 0 ? td / rw : 0);
	}
	printf("\n| goal | worst case | verdict |\n|---|---:|---|\n");
	printf("| every cell of glibc, jemalloc and mimalloc ≤ 1.05× its "
	       "allocator | %.3f× (%d of %d cells within) | %s |\n",
	       worst, within, cells, verdict(worst <= 1.05));
	printf("| resident bytes per block ≤ 1.1× | %.3f× | %s |\n", worst_rss,
	       verdict(worst_rss <= 1.1));
	return 0;
}

/* ---- (d) heap blocks while the sensor watches them ------------------- */

/*
 * "bench_kv watch NAME": between the low and high watermarks of a limit
 * watcher, kv's inline fast paths are off and every heap block is charged
 * to the allocation sensor (src/pressure/sensor.c).  A cgroup v2 monitor
 * on a fake group the benchmark writes, never started, turns the watch
 * on; freeing it turns it off.  Two groups, the working set between the
 * watermarks (75% and 62.5% of memory.high) in both: memory.high 100 MiB
 * at 70 MiB (the sensor's step 1 MiB, its minimum: the working set is
 * read every 1 MiB charged) and memory.high 8 GiB at 5.5 GiB (step 64
 * MiB: the per-allocation cost alone).  In one process, rounds alternate
 * the fixed 64 B and 1 KiB loops of (c) with the watch on, the tide loop
 * with the watch off, and the allocator's own loop.  Lines: "watch ALLOC
 * STEP_MIB SIZE THREADS on_ns off_ns raw_ns" (per pair and thread,
 * medians of the rounds).
 */
#include <tide/pressure.h>

#include "internal.h" /* tide__kv_watching() */

#define W_ON 0 /* watched: the slow paths, charging the armed sensor */
#define W_OFF 1 /* the inline fast paths */
#define W_RAW 2 /* the allocator */
#define W_SLOW \
	3 /* the slow paths, no sensor armed: what W_ON costs less
		    the sensor's part */
#define W_N 4

static char wdir[64];

static void wfile(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", wdir, name);
	f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f))
		exit(1);
}

static void wremove(void)
{
	static const char *const names[] = { "memory.high", "memory.max",
					     "memory.current",
					     "memory.events" };
	char path[128];

	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", wdir, names[i]);
		unlink(path);
	}
	rmdir(wdir);
}

/*
 * Set up @w: the watch on (a monitor in @*m), or off (none); W_SLOW turns
 * kv's fast paths off by hand, with no monitor (watch_unset() undoes it).
 */
static void watch_set(struct tide_monitor **m, int w)
{
	const struct tide_monitor_config cfg = {
		.size = sizeof(cfg),
		.sources = TIDE_SOURCE_CGROUP2,
		.flags = TIDE_MONITOR_NO_TRIM,
		.cgroup2_dir = wdir,
	};
	bool on = w == W_ON || w == W_SLOW;

	if (w == W_ON && !*m && tide_monitor_new(m, &cfg))
		exit(1);
	if (w != W_ON && *m) {
		tide_monitor_free(*m);
		*m = NULL;
	}
	if (w == W_SLOW)
		tide__kv_watch(true);
	if (tide__kv_watching() != on) {
		fprintf(stderr, "bench_kv watch: the watch is not %s\n",
			on ? "on" : "off");
		exit(1);
	}
}

static void watch_unset(int w)
{
	if (w == W_SLOW)
		tide__kv_watch(false);
}

static int watch_run(const char *name)
{
	static const int thr[] = { 1, 2, 4 };
	static const int kases[] = { 1, 3 }; /* 64 B, 1 KiB in small_sizes */
	static const struct {
		const char *high, *current;
		int step_mib;
	} groups[] = {
		{ "104857600\n", "73400320\n", 1 },
		{ "8589934592\n", "5905580032\n", 64 },
	};
	struct tide_monitor *m = NULL;
	long iters = 200000;

	if (getenv("BENCH_KV_WATCH_ITERS"))
		iters = strtol(getenv("BENCH_KV_WATCH_ITERS"), NULL, 10);
	snprintf(wdir, sizeof(wdir), "/tmp/bench_kv_watch.XXXXXX");
	if (!mkdtemp(wdir))
		exit(1);
	wfile("memory.max", "max\n");
	wfile("memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n");
	tide_kvfree(tide_kvmalloc(1, 0));
	for (size_t g = 0; g < 2; g++) {
		watch_set(&m, W_OFF);
		wfile("memory.high", groups[g].high);
		wfile("memory.current", groups[g].current);
		for (size_t k = 0; k < 2; k++) {
			for (size_t t = 0; t < 3; t++) {
				double ns[W_N][ROUNDS * NCOPY];
				int n = 0;

				for (int r = 0; r < ROUNDS; r++)
					for (int c = 0; c < NCOPY; c++, n++)
						for (int j = 0; j < W_N; j++) {
							int w = (j + n) % W_N;

							watch_set(&m, w);
							ns[w][n] = small_once(
								w == W_RAW ?
									IMPL_RAW :
									IMPL_TIDE,
								c, kases[k],
								thr[t], iters);
							watch_unset(w);
						}
				printf("watch %s %d %zu %d %.3f %.3f %.3f %.3f\n",
				       name, groups[g].step_mib,
				       small_sizes[kases[k]], thr[t],
				       bench_median(ns[W_ON], (size_t)n),
				       bench_median(ns[W_OFF], (size_t)n),
				       bench_median(ns[W_RAW], (size_t)n),
				       bench_median(ns[W_SLOW], (size_t)n));
			}
		}
	}
	watch_set(&m, W_OFF);
	wremove();
	fflush(stdout);
	return 0;
}

/* ---- (d) report ------------------------------------------------------ */

#define MAXW 64
static struct wrow {
	char alloc[32];
	int step, size, thr;
	double v[W_N][MAXR];
	int n;
} wrows[MAXW];
static int nwrows;

static struct wrow *wrow_of(const char *alloc, int step, int size, int thr)
{
	struct wrow *r;

	for (int i = 0; i < nwrows; i++) {
		r = &wrows[i];
		if (!strcmp(r->alloc, alloc) && r->step == step &&
		    r->size == size && r->thr == thr)
			return r;
	}
	if (nwrows == MAXW)
		exit(1);
	r = &wrows[nwrows++];
	snprintf(r->alloc, sizeof(r->alloc), "%s", alloc);
	r->step = step;
	r->size = size;
	r->thr = thr;
	return r;
}

static int watch_report(void)
{
	char line[256], kind[16], alloc[32];
	double v[W_N], m[W_N];
	int thr, step, size, reps = 0;

	while (fgets(line, sizeof(line), stdin)) {
		struct wrow *r;

		if (sscanf(line, "%15s %31s %d %d %d %lf %lf %lf %lf", kind,
			   alloc, &step, &size, &thr, &v[W_ON], &v[W_OFF],
			   &v[W_RAW], &v[W_SLOW]) != 9 ||
		    strcmp(kind, "watch"))
			continue;
		r = wrow_of(alloc, step, size, thr);
		if (r->n < MAXR) {
			for (int w = 0; w < W_N; w++)
				r->v[w][r->n] = v[w];
			r->n++;
		}
		if (r->n > reps)
			reps = r->n;
	}
	printf("## kv: heap-sized blocks while the sensor watches them\n\n");
	printf("Command: `BENCH_KV_WATCH=only sh bench/bench_kv.sh "
	       "build-bench` (part (d)). %d processes per allocator; in each "
	       "process a cgroup v2 monitor on a fake group (the working set "
	       "between the watermarks, 75%% and 62.5%% of memory.high; never "
	       "started) turns the watch on, and freeing it turns it off: "
	       "memory.high 100 MiB at 70 MiB (the sensor's step 1 MiB: the "
	       "working set is read every 1 MiB charged) and 8 GiB at 5.5 GiB "
	       "(step 64 MiB). `tide_kvmalloc`/`tide_kvfree` pairs with the "
	       "watch on, the same loop with the watch off (the inline fast "
	       "paths), `malloc`/`free`, and the tide loop on the slow paths "
	       "with no sensor armed (fast paths turned off by hand: the "
	       "watch's cost less the sensor's) alternate in %d rounds of %d "
	       "loop copies, each thread on its own blocks; per-process "
	       "medians, then the median over processes. ns per pair and "
	       "thread.\n\n",
	       reps, ROUNDS, NCOPY);
	printf("| allocator | step | size | threads | watch on | watch off | "
	       "malloc | slow paths, no sensor | on / off | on / malloc | "
	       "on / no sensor |\n"
	       "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	for (int i = 0; i < nwrows; i++) {
		struct wrow *r = &wrows[i];

		for (int w = 0; w < W_N; w++)
			m[w] = bench_median(r->v[w], (size_t)r->n);
		printf("| %s | %d MiB | %d B | %d | %.2f | %.2f | %.2f | %.2f | "
		       "%.3f× | %.3f× | %.3f× |\n",
		       r->alloc, r->step, r->size, r->thr, m[W_ON], m[W_OFF],
		       m[W_RAW], m[W_SLOW],
		       m[W_OFF] > 0 ? m[W_ON] / m[W_OFF] : 0,
		       m[W_RAW] > 0 ? m[W_ON] / m[W_RAW] : 0,
		       m[W_SLOW] > 0 ? m[W_ON] / m[W_SLOW] : 0);
	}
	return 0;
}

int main(int argc, char **argv)
{
	pg = (size_t)sysconf(_SC_PAGESIZE);
	if (argc == 3 && !strcmp(argv[1], "run"))
		return run(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "small"))
		return small_run(argv[2]);
	if (argc == 2 && !strcmp(argv[1], "report"))
		return report();
	if (argc == 2 && !strcmp(argv[1], "small-report"))
		return small_report();
	if (argc == 3 && !strcmp(argv[1], "watch"))
		return watch_run(argv[2]);
	if (argc == 2 && !strcmp(argv[1], "watch-report"))
		return watch_report();
	fprintf(stderr, "usage: bench_kv run tide|NAME | small NAME | report | "
			"small-report | watch NAME | watch-report\n");
	return 2;
}
