// SPDX-License-Identifier: MIT
/*
 * bench_arena.c - the arena against malloc/free on a binder-like workload.
 *
 * One cycle allocates a buffer of 1..64 KiB (uniform), writes one word on
 * each of its pages (as copying a transaction into it would touch them) and
 * frees it right away, except one buffer in eight, which is held in a ring
 * of 64 slots and freed when its slot comes round again: most buffers are
 * short-lived, some are held.
 *
 *   bench_arena --mode tide|malloc [--name LABEL]
 *       one process, one measurement, one raw result line on stdout;
 *       "malloc" measures whatever malloc is loaded (glibc, or a peer that
 *       bench_arena.sh preloads);
 *   bench_arena --report FILE
 *       read the raw lines and print the Markdown section.
 *
 * Each measurement: a warm-up of WARMUP cycles, then CYCLES cycles timed,
 * with minor faults from getrusage(); then the RSS before and after a
 * reclaim pass (tide: tide_drop_caches(); glibc: malloc_trim(0); jemalloc:
 * "arena.<all>.purge") with the held buffers still live.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <tide.h>

#include "bench.h"

#ifndef TIDE_JEMALLOC_SO
#define TIDE_JEMALLOC_SO ""
#endif

#define MAX_BUF (64 * 1024)
#define HELD 64
#define HOLD_ONE_IN 8
#define WARMUP 100000UL
#define CYCLES 400000UL
#define ARENA_SIZE ((size_t)16 << 20)

struct ops {
	void *(*alloc)(void *ctx, size_t size);
	void (*free)(void *ctx, void *p);
	void *ctx;
};

static void *m_alloc(void *ctx, size_t size)
{
	(void)ctx;
	return malloc(size);
}

static void m_free(void *ctx, void *p)
{
	(void)ctx;
	free(p);
}

static void *t_alloc(void *ctx, size_t size)
{
	return tide_arena_alloc(ctx, size);
}

static void t_free(void *ctx, void *p)
{
	tide_arena_free(ctx, p);
}

static __thread uint32_t rng = 2463534242u;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

static __thread void *held[HELD];
static __thread size_t held_size[HELD];
static __thread unsigned held_pos;

static void run(const struct ops *o, unsigned long n, size_t page)
{
	for (unsigned long i = 0; i < n; i++) {
		size_t size = 1 + rnd() % MAX_BUF;
		char *p = o->alloc(o->ctx, size);

		if (!p) {
			fprintf(stderr, "bench_arena: allocation failed: %s\n",
				strerror(errno));
			exit(1);
		}
		for (size_t off = 0; off < size; off += page)
			*(volatile char *)(p + off) = (char)i;
		if (rnd() % HOLD_ONE_IN) {
			o->free(o->ctx, p);
			continue;
		}
		if (held[held_pos])
			o->free(o->ctx, held[held_pos]);
		held[held_pos] = p;
		held_size[held_pos] = size;
		held_pos = (held_pos + 1) % HELD;
	}
}

static long minflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

static size_t resident_pages(void *base, size_t len, size_t page)
{
	static unsigned char vec[ARENA_SIZE / 4096];
	size_t n = len / page, r = 0;

	if (n > sizeof(vec) || mincore(base, len, vec))
		return (size_t)-1;
	for (size_t i = 0; i < n; i++)
		r += vec[i] & 1;
	return r;
}

static size_t live_kb(void)
{
	size_t b = 0;

	for (int i = 0; i < HELD; i++)
		if (held[i])
			b += held_size[i];
	return b / 1024;
}

/*
 * glibc: malloc_trim(0); jemalloc: purge every arena (4096 = all);
 * mimalloc: mi_collect(true); tcmalloc: MallocExtension_ReleaseFreeMemory().
 */
static const char *malloc_reclaim(void)
{
	int (*mallctl)(const char *, void *, size_t *, void *, size_t);
	void (*mi_collect)(bool);
	void (*tc_release)(void);

	*(void **)&mallctl = dlsym(RTLD_DEFAULT, "mallctl");
	if (mallctl) {
		mallctl("arena.4096.purge", NULL, NULL, NULL, 0);
		return "arena.4096.purge";
	}
	*(void **)&mi_collect = dlsym(RTLD_DEFAULT, "mi_collect");
	if (mi_collect) {
		mi_collect(true);
		return "mi_collect(true)";
	}
	*(void **)&tc_release =
		dlsym(RTLD_DEFAULT, "MallocExtension_ReleaseFreeMemory");
	if (tc_release) {
		tc_release();
		return "MallocExtension_ReleaseFreeMemory()";
	}
	malloc_trim(0);
	return "malloc_trim(0)";
}

static int measure(const char *mode, const char *label)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	struct tide_arena *a = NULL;
	struct tide_arena_stats st = { 0 };
	struct ops o;
	double t0, t1;
	long base_kb, f0, f1, before_kb, after_kb;
	size_t resident = 0;
	void *first = NULL;

	base_kb = bench_anon_kb();
	if (!strcmp(mode, "tide")) {
		a = tide_arena_create("bench-arena", ARENA_SIZE);
		if (!a) {
			perror("tide_arena_create");
			return 1;
		}
		/* The first buffer of a fresh arena sits at its first byte. */
		first = tide_arena_alloc(a, 8);
		tide_arena_free(a, first);
		o = (struct ops){ t_alloc, t_free, a };
	} else if (!strcmp(mode, "malloc")) {
		o = (struct ops){ m_alloc, m_free, NULL };
	} else {
		fprintf(stderr, "bench_arena: unknown mode %s\n", mode);
		return 2;
	}
	run(&o, WARMUP, page);
	f0 = minflt();
	t0 = bench_now();
	run(&o, CYCLES, page);
	t1 = bench_now();
	f1 = minflt();
	before_kb = bench_anon_kb();
	if (a) {
		tide_drop_caches();
		tide_arena_stats(a, &st);
		resident = resident_pages(first, ARENA_SIZE, page);
	} else {
		malloc_reclaim();
	}
	after_kb = bench_anon_kb();
	/* label ns/cycle faults/1000 before after live resident used avoided */
	printf("R %s %.1f %.3f %ld %ld %zu %zu %zu %.1f\n", label,
	       (t1 - t0) * 1e9 / CYCLES, (double)(f1 - f0) * 1000.0 / CYCLES,
	       before_kb - base_kb, after_kb - base_kb, live_kb(),
	       a ? resident : 0, a ? st.pages_used : 0,
	       a ? (double)st.page_faults_avoided * 1000.0 / (WARMUP + CYCLES) :
		   0.0);
	for (int i = 0; i < HELD; i++)
		if (held[i])
			o.free(o.ctx, held[i]);
	tide_arena_destroy(a);
	return 0;
}

/* ---- threads sharing one arena (or one malloc) ----------------------- */

#include <pthread.h>

struct thr {
	const struct ops *o;
	pthread_barrier_t *bar;
	unsigned seed;
	double ns;
};

static void *thread_main(void *arg)
{
	struct thr *t = arg;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	double t0;

	rng = t->seed;
	held_pos = 0;
	memset(held, 0, sizeof(held));
	run(t->o, WARMUP / 4, page);
	pthread_barrier_wait(t->bar);
	t0 = bench_now();
	run(t->o, CYCLES / 4, page);
	t->ns = (bench_now() - t0) * 1e9 / (CYCLES / 4);
	for (int i = 0; i < HELD; i++)
		if (held[i])
			t->o->free(t->o->ctx, held[i]);
	return NULL;
}

/*
 * @n threads on one arena (or malloc): "T label n ns-per-cycle-per-thread".
 * Mode "tide-own": each thread on an arena of its own (what arena.md
 * advises for threads that allocate at a high rate).
 */
static int measure_threads(const char *mode, const char *label, int n)
{
	struct tide_arena *a[16] = { NULL };
	bool own = !strcmp(mode, "tide-own");
	pthread_t th[16];
	struct thr t[16];
	pthread_barrier_t bar;
	struct ops o[16];
	double sum = 0;

	if (n < 1 || n > 16)
		return 2;
	for (int i = 0; i < n; i++) {
		if (own || (!strcmp(mode, "tide") && !i)) {
			/* room for the held rings: 64 x 64 KiB per thread */
			a[i] = tide_arena_create("bench-arena",
						 ARENA_SIZE *
							 (size_t)(own ? 1 : n));
			if (!a[i])
				return 1;
		}
		if (own || !strcmp(mode, "tide"))
			o[i] = (struct ops){ t_alloc, t_free,
					     own ? a[i] : a[0] };
		else
			o[i] = (struct ops){ m_alloc, m_free, NULL };
	}
	pthread_barrier_init(&bar, NULL, (unsigned)n);
	for (int i = 0; i < n; i++) {
		t[i] = (struct thr){ &o[i], &bar,
				     2463534242u + 7919u * (unsigned)i, 0 };
		if (pthread_create(&th[i], NULL, thread_main, &t[i]))
			return 1;
	}
	for (int i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		sum += t[i].ns;
	}
	pthread_barrier_destroy(&bar);
	printf("T %s %d %.1f\n", label, n, sum / n);
	for (int i = 0; i < n; i++)
		tide_arena_destroy(a[i]);
	return 0;
}

/* ---- the report -------------------------------------------------------- */

#define MAXR 64

struct series {
	char label[32];
	int n;
	double ns[MAXR], flt[MAXR], before[MAXR], after[MAXR], live[MAXR];
	double resident[MAXR], used[MAXR], avoided[MAXR];
};

static int cmp_d(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return (a > b) - (a < b);
}

static double median(const double *v, int n)
{
	double s[MAXR];

	if (!n)
		return 0;
	memcpy(s, v, sizeof(*v) * (size_t)n);
	qsort(s, (size_t)n, sizeof(*s), cmp_d);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static struct series *find(struct series *s, int *ns, const char *label)
{
	for (int i = 0; i < *ns; i++)
		if (!strcmp(s[i].label, label))
			return &s[i];
	if (*ns == 8)
		return NULL;
	snprintf(s[*ns].label, sizeof(s[*ns].label), "%s", label);
	s[*ns].n = 0;
	return &s[(*ns)++];
}

/* threaded runs: one series per (allocator, threads) */
struct tseries {
	char label[32];
	int threads, n;
	double ns[MAXR];
};

static struct tseries ts[32];
static int nts;

static struct tseries *tfind(const char *label, int threads)
{
	for (int i = 0; i < nts; i++)
		if (!strcmp(ts[i].label, label) && ts[i].threads == threads)
			return &ts[i];
	if (nts == 32)
		return NULL;
	snprintf(ts[nts].label, sizeof(ts[nts].label), "%s", label);
	ts[nts].threads = threads;
	ts[nts].n = 0;
	return &ts[nts++];
}

static double tmedian(const char *label, int threads)
{
	for (int i = 0; i < nts; i++)
		if (!strcmp(ts[i].label, label) && ts[i].threads == threads)
			return median(ts[i].ns, ts[i].n);
	return 0;
}

static void threads_report(double tide1, double glibc1)
{
	static const int nthr[] = { 2, 4 };
	char seen[8][32];
	int nseen = 0, runs = 0;

	if (!nts)
		return;
	for (int i = 0; i < nts; i++) {
		int dup = 0;

		for (int k = 0; k < nseen; k++)
			dup |= !strcmp(seen[k], ts[i].label);
		if (!dup && nseen < 8)
			snprintf(seen[nseen++], 32, "%s", ts[i].label);
		runs = ts[i].n > runs ? ts[i].n : runs;
	}
	printf("\n### Threads sharing one arena\n\n");
	printf("The same cycle run by 2 and 4 threads at once, each with its "
	       "own ring of held\nbuffers, all on one tide arena (or one "
	       "process malloc; *tide-own*: each thread on\nan arena of its "
	       "own); %lu warm-up and %lu timed cycles per thread; "
	       "ns per cycle and thread, median of %d processes per cell\n"
	       "(`--threads N`, run by `bench/bench_arena.sh`). The machine has "
	       "%ld CPUs, so\n4 threads also measure behaviour under "
	       "oversubscription.\n\n",
	       WARMUP / 4, CYCLES / 4, runs, sysconf(_SC_NPROCESSORS_ONLN));
	printf("| allocator | 1 thread | 2 threads | 4 threads |\n"
	       "|---|---:|---:|---:|\n");
	for (int k = 0; k < nseen; k++) {
		printf("| %s | - |", seen[k]);
		for (int i = 0; i < 2; i++)
			printf(" %.0f |", tmedian(seen[k], nthr[i]));
		printf("\n");
	}
	printf("\nGoals (threads):\n\n");
	for (int i = 0; i < 2; i++) {
		double t = tmedian("tide", nthr[i]);
		double g = tmedian("glibc", nthr[i]);

		printf("- %d threads on one arena at least as fast as glibc: "
		       "tide %.0f ns vs glibc %.0f ns (%.2fx): **%s**\n",
		       nthr[i], t, g, t > 0 ? g / t : 0,
		       t > 0 && t <= g ? "met" : "not met");
	}
	for (int i = 0; i < 2; i++) {
		double t = tmedian("tide-own", nthr[i]);
		double g = tmedian("glibc", nthr[i]);

		if (t > 0)
			printf("- (not a goal) %d threads, an arena each: "
			       "tide-own %.0f ns vs glibc %.0f ns (%.2fx)\n",
			       nthr[i], t, g, g / t);
	}
	printf("- 1 thread >= 1.5x glibc: tide %.0f ns vs glibc %.0f ns "
	       "(%.2fx): **%s**\n",
	       tide1, glibc1, tide1 > 0 ? glibc1 / tide1 : 0,
	       tide1 > 0 && glibc1 / tide1 >= 1.5 ? "met" : "not met");
}

static int report(const char *path)
{
	static struct series s[8];
	struct series *t = NULL, *g = NULL, *j = NULL;
	char line[512], label[64];
	int ns = 0, runs = 0;
	FILE *f = fopen(path, "re");

	if (!f) {
		perror(path);
		return 1;
	}
	while (fgets(line, sizeof(line), f)) {
		double v[8];
		struct series *x;
		int nt;

		if (sscanf(line, "T %63s %d %lf", label, &nt, &v[0]) == 3) {
			struct tseries *y = tfind(label, nt);

			if (y && y->n < MAXR)
				y->ns[y->n++] = v[0];
			continue;
		}
		if (sscanf(line, "R %63s %lf %lf %lf %lf %lf %lf %lf %lf",
			   label, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
			   &v[6], &v[7]) != 9)
			continue;
		x = find(s, &ns, label);
		if (!x || x->n == MAXR)
			continue;
		x->ns[x->n] = v[0];
		x->flt[x->n] = v[1];
		x->before[x->n] = v[2];
		x->after[x->n] = v[3];
		x->live[x->n] = v[4];
		x->resident[x->n] = v[5];
		x->used[x->n] = v[6];
		x->avoided[x->n] = v[7];
		x->n++;
	}
	fclose(f);
	for (int i = 0; i < ns; i++) {
		if (!strcmp(s[i].label, "tide"))
			t = &s[i];
		else if (!strcmp(s[i].label, "glibc"))
			g = &s[i];
		else if (!strcmp(s[i].label, "jemalloc"))
			j = &s[i];
		runs = s[i].n > runs ? s[i].n : runs;
	}
	if (!t || !g) {
		fprintf(stderr, "bench_arena: no tide or glibc results\n");
		return 1;
	}

	printf("## arena: binder-style buffers vs malloc/free\n\n");
	printf("Each cycle allocates a buffer of 1..64 KiB (uniform), writes "
	       "one word per page\nand frees it at once, except one in %d, "
	       "held in a ring of %d and freed when\nits slot comes round "
	       "again.  %lu warm-up cycles, then %lu timed; each\nallocator "
	       "ran in its own process, %d processes each, interleaved; "
	       "medians.\ntide uses one %zu MiB arena; the peers are the "
	       "malloc of the process (jemalloc\npreloaded).  RSS is the "
	       "growth of anonymous memory over the process's start,\nwith "
	       "the %d held buffers still live, before and after a reclaim "
	       "pass (tide:\n`tide_drop_caches()`, glibc: `malloc_trim(0)`, "
	       "jemalloc: `arena.4096.purge`).\n\n",
	       HOLD_ONE_IN, HELD, WARMUP, CYCLES, runs, ARENA_SIZE >> 20, HELD);
	printf("| allocator | ns per cycle | vs glibc | minor faults per "
	       "1000 cycles | RSS before reclaim (KiB) | RSS after (KiB) | "
	       "live data (KiB) |\n");
	printf("|---|---:|---:|---:|---:|---:|---:|\n");
	for (int i = 0; i < ns; i++) {
		struct series *x = &s[i];
		double r = median(g->ns, g->n) / median(x->ns, x->n);

		char vs[32] = "-";

		if (x != g)
			snprintf(vs, sizeof(vs), "%.2fx %s", r >= 1 ? r : 1 / r,
				 r >= 1 ? "faster" : "slower");
		printf("| %s | %.0f | %s | %.2f | %.0f | %.0f | %.0f |\n",
		       x->label, median(x->ns, x->n), vs, median(x->flt, x->n),
		       median(x->before, x->n), median(x->after, x->n),
		       median(x->live, x->n));
	}
	if (!j)
		printf("\njemalloc: not installed, skipped.\n");
	printf("\ntide reused %.0f LRU pages per 1000 cycles "
	       "(`page_faults_avoided`).\n",
	       median(t->avoided, t->n));

	{
		double tf = median(t->flt, t->n), tn = median(t->ns, t->n);
		double gn = median(g->ns, g->n);
		bool exact = true;

		for (int i = 0; i < t->n; i++)
			exact &= t->resident[i] == t->used[i];
		printf("\nGoals:\n\n");
		printf("- steady-state faults ~ 0: tide %.3f minor faults per "
		       "1000 cycles (glibc %.2f",
		       tf, median(g->flt, g->n));
		if (j)
			printf(", jemalloc %.2f", median(j->flt, j->n));
		printf("): **%s**\n", tf < 1.0 ? "met" : "not met");
		printf("- throughput >= glibc malloc: tide %.0f ns vs glibc "
		       "%.0f ns per cycle (%.2fx): **%s**\n",
		       tn, gn, gn / tn, tn <= gn ? "met" : "not met");
		printf("- RSS back to the live buffers' pages after reclaim: "
		       "arena resident pages after the pass = pages used by "
		       "live buffers in %s of %d runs (median %.0f = %.0f "
		       "pages): **%s**\n",
		       exact ? "all" : "not all", t->n,
		       median(t->resident, t->n), median(t->used, t->n),
		       exact ? "met" : "not met");
		{
			double best_peer = -1;

			for (int i = 0; i < ns; i++)
				if (&s[i] != t &&
				    (best_peer < 0 ||
				     median(s[i].after, s[i].n) < best_peer))
					best_peer = median(s[i].after, s[i].n);
			printf("- RSS after reclaim the lowest of all peers: tide "
			       "%.0f KiB, lowest peer %.0f KiB: **%s**\n",
			       median(t->after, t->n), best_peer,
			       median(t->after, t->n) <= best_peer ? "met" :
								     "not met");
		}
		threads_report(tn, gn);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = NULL, *label = NULL;
	int threads = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--report") && i + 1 < argc)
			return report(argv[i + 1]);
		/* For the driver: where the build found the peer. */
		if (!strcmp(argv[i], "--jemalloc-path")) {
			puts(TIDE_JEMALLOC_SO);
			return 0;
		}
		if (!strcmp(argv[i], "--mode") && i + 1 < argc)
			mode = argv[++i];
		else if (!strcmp(argv[i], "--name") && i + 1 < argc)
			label = argv[++i];
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			threads = atoi(argv[++i]);
	}
	if (!mode) {
		fprintf(stderr, "usage: bench_arena --mode tide|malloc "
				"[--name LABEL] [--threads N] | --report FILE\n"
				"(bench/bench_arena.sh runs the whole "
				"comparison)\n");
		return 2;
	}
	if (threads)
		return measure_threads(mode, label ? label : mode, threads);
	if (!strcmp(mode, "tide-own")) {
		fprintf(stderr,
			"bench_arena: --mode tide-own needs --threads\n");
		return 2;
	}
	return measure(mode, label ? label : mode);
}
