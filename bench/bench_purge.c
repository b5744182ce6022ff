// SPDX-License-Identifier: MIT
/*
 * bench_purge.c - what one tide_drop_caches() gives back from a fragmented
 * heap, against the process allocator's own purge called directly (the
 * floor): 200 MiB in 200-byte blocks, all freed but one allocated last.
 *
 * One allocator per process: bench/bench_purge.sh runs this program once
 * plain (glibc) and once per LD_PRELOADed peer (jemalloc, mimalloc,
 * tcmalloc).  Each run alternates ROUNDS rounds of "fragment, then
 * tide_drop_caches()" and "fragment, then the allocator's purge" (order
 * flipped every round) and prints one Markdown table row: medians of the
 * MiB given back (Anonymous: of smaps_rollup before and after) and of the
 * call's time, and the ratios against the floor.
 * Usage: bench_purge [--header]
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>

#include <tide.h>

#include "bench.h"

#define HEAP_BYTES (200UL << 20)
#define BLOCK 200
#define NBLOCKS (HEAP_BYTES / BLOCK)
#define ROUNDS 7

static void **ptrs;
static void *last[ROUNDS * 2];
static int nlast;

/* The heap state: everything freed but the block allocated last. */
static long fragment(void)
{
	for (size_t i = 0; i < NBLOCKS; i++) {
		ptrs[i] = malloc(BLOCK);
		if (!ptrs[i])
			abort();
		memset(ptrs[i], 0x5a, BLOCK);
	}
	last[nlast++] = malloc(BLOCK);
	for (size_t i = 0; i < NBLOCKS; i++)
		free(ptrs[i]);
	return bench_anon_kb();
}

typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);

/* The allocator's own purge, called directly, as its docs say. */
static void floor_purge(const char *name)
{
	if (!strcmp(name, "jemalloc")) {
		mallctl_fn ctl = (mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");

		ctl("thread.tcache.flush", NULL, NULL, NULL, 0);
		ctl("arena.4096.purge", NULL, NULL, NULL, 0);
	} else if (!strcmp(name, "mimalloc")) {
		((void (*)(bool))dlsym(RTLD_DEFAULT, "mi_collect"))(true);
	} else if (!strcmp(name, "tcmalloc")) {
		((void (*)(void))dlsym(RTLD_DEFAULT,
				       "MallocExtension_ReleaseFreeMemory"))();
	} else {
		((int (*)(size_t))dlsym(RTLD_DEFAULT, "malloc_trim"))(0);
	}
}

int main(int argc, char **argv)
{
	const char *name = tide_purge_allocator();
	double tide_mib[ROUNDS], floor_mib[ROUNDS];
	double tide_ms[ROUNDS], floor_ms[ROUNDS];
	double tm, fm, tt, ft;

	if (argc > 1 && !strcmp(argv[1], "--header")) {
		printf("| allocator | floor: MiB back | floor: ms | "
		       "tide_drop_caches: MiB back | ms | bytes vs floor | "
		       "time vs floor |\n");
		printf("|---|---:|---:|---:|---:|---:|---:|\n");
		return 0;
	}
	ptrs = mmap(NULL, NBLOCKS * sizeof(void *), PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ptrs == MAP_FAILED)
		return 1;
	for (int r = 0; r < ROUNDS; r++) {
		for (int k = 0; k < 2; k++) {
			bool tide = (k + r) % 2 == 0;
			long before = fragment(), after;
			double t0 = bench_now(), t;

			if (tide)
				tide_drop_caches();
			else
				floor_purge(name);
			t = (bench_now() - t0) * 1e3;
			after = bench_anon_kb();
			if (tide) {
				tide_mib[r] = (double)(before - after) / 1024;
				tide_ms[r] = t;
			} else {
				floor_mib[r] = (double)(before - after) / 1024;
				floor_ms[r] = t;
			}
		}
	}
	tm = bench_median(tide_mib, ROUNDS);
	fm = bench_median(floor_mib, ROUNDS);
	tt = bench_median(tide_ms, ROUNDS);
	ft = bench_median(floor_ms, ROUNDS);
	printf("| %s | %.1f | %.2f | %.1f | %.2f | %.1f%% %s | %.2fx %s |\n",
	       name, fm, ft, tm, tt, fm > 0 ? 100 * tm / fm : 0,
	       fm <= 0 || tm >= 0.95 * fm ? "(goal >= 95%: met)" :
					    "(goal >= 95%: NOT met)",
	       ft > 0 ? tt / ft : 0,
	       tt <= 1.2 * ft ? "(goal <= 1.2x: met)" :
				"(goal <= 1.2x: NOT met)");
	for (int i = 0; i < nlast; i++)
		free(last[i]);
	return 0;
}
