// SPDX-License-Identifier: MIT
/*
 * bench_kv.c - kv against the C heap allocators, the way the seed measures
 * vrealloc:
 *  (a) 64 blocks of 256 KiB shrunk to 16 KiB: the share of the 60 tail pages
 *      per block that goes back to the kernel at once, and the cost of one
 *      shrink; raw munmap of the same tails is the physical floor;
 *  (b) realloc doubling from 4 KiB to 1 GiB, touching every new page, as a
 *      ratio to the first-touch floor (one 1 GiB mapping touched once).
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

int main(int argc, char **argv)
{
	pg = (size_t)sysconf(_SC_PAGESIZE);
	if (argc == 3 && !strcmp(argv[1], "run"))
		return run(argv[2]);
	if (argc == 2 && !strcmp(argv[1], "report"))
		return report();
	fprintf(stderr, "usage: bench_kv run tide|NAME | bench_kv report\n");
	return 2;
}
