// SPDX-License-Identifier: MIT
/*
 * test_arena_stress.c - several threads allocate and free while reclaim
 * runs; made for ThreadSanitizer, useful everywhere.  Every buffer is
 * stamped on each of its pages and checked before it is freed, so buffers
 * that overlap or a reclaim that zaps a live page are caught.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include <tide.h>

#include "harness.h"

#define WORKERS 4
#define HELD 8
#define MAX_BUF (16 * 1024)

static size_t P;
static struct tide_arena *arena;
static atomic_bool stop_reclaim;
static atomic_ulong reclaimed, scans;
static unsigned long iterations;

struct held {
	unsigned char *p;
	size_t size;
	unsigned char tag;
};

static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* One byte every 512 (so on every page), plus the last one. */
static void stamp(const struct held *h)
{
	for (size_t i = 0; i < h->size; i += 512)
		h->p[i] = h->tag;
	h->p[h->size - 1] = h->tag;
}

static bool intact(const struct held *h)
{
	for (size_t i = 0; i < h->size; i += 512)
		if (h->p[i] != h->tag)
			return false;
	return h->p[h->size - 1] == h->tag;
}

static atomic_int damaged;

static void release(struct held *h)
{
	if (!h->p)
		return;
	if (!intact(h))
		atomic_fetch_add(&damaged, 1);
	tide_arena_free(arena, h->p);
	h->p = NULL;
}

static void *worker(void *arg)
{
	uint32_t seed = 0x1234567u * (uint32_t)(uintptr_t)arg + 1;
	struct held held[HELD] = { { 0 } };
	unsigned long enospc = 0;

	for (unsigned long n = 0; n < iterations; n++) {
		struct held *h = &held[rnd(&seed) % HELD];
		size_t size = 1 + rnd(&seed) % MAX_BUF;

		release(h);
		h->p = tide_arena_alloc(arena, size);
		if (!h->p) {
			if (errno != ENOSPC)
				atomic_fetch_add(&damaged, 1000);
			enospc++;
			continue;
		}
		h->size = size;
		h->tag = (unsigned char)(rnd(&seed) | 1);
		stamp(h);
		/* Most buffers are short-lived, as binder transactions are. */
		if (rnd(&seed) % 4)
			release(h);
	}
	for (int i = 0; i < HELD; i++)
		release(&held[i]);
	return (void *)enospc;
}

static void *reclaimer(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop_reclaim)) {
		atomic_fetch_add(&reclaimed,
				 tide_shrinker_scan("arena-stress", 32));
		atomic_fetch_add(&reclaimed, tide_shrink(0, 0));
		atomic_fetch_add(&scans, 2);
		sched_yield();
	}
	return NULL;
}

TEST(threads_allocate_and_free_while_reclaim_runs)
{
	pthread_t w[WORKERS], r;
	struct tide_arena_stats st;
	unsigned long enospc = 0, lru;

	P = tide__os_page_size();
	iterations = th_sanitized() ? 20000 : 200000;
	/* Small enough that the threads compete for space and pages. */
	arena = tide_arena_create("arena-stress", 64 * P);
	CHECK(arena);
	CHECK(!pthread_create(&r, NULL, reclaimer, NULL));
	for (uintptr_t i = 0; i < WORKERS; i++)
		CHECK(!pthread_create(&w[i], NULL, worker, (void *)i));
	for (int i = 0; i < WORKERS; i++) {
		void *ret;

		CHECK(!pthread_join(w[i], &ret));
		enospc += (unsigned long)(uintptr_t)ret;
	}
	atomic_store(&stop_reclaim, true);
	CHECK(!pthread_join(r, NULL));
	th_note("%d threads x %lu cycles, %lu ENOSPC, %lu scans freed %lu "
		"pages",
		WORKERS, iterations, enospc, atomic_load(&scans),
		atomic_load(&reclaimed));
	CHECK_EQ(atomic_load(&damaged), 0);
	tide_arena_stats(arena, &st);
	CHECK_UEQ(st.used_bytes, 0);
	CHECK_UEQ(st.pages_used, 0);
	CHECK_UEQ(st.pages_used + st.pages_lru + st.pages_unmapped,
		  st.pages_total);
	CHECK_CMP(st.page_faults_avoided, >, 0);
	lru = st.pages_lru;
	CHECK_UEQ(tide_shrinker_scan("arena-stress", 1000), lru);
	tide_arena_stats(arena, &st);
	CHECK_UEQ(st.pages_unmapped, st.pages_total);
	/* The whole arena is one free block again. */
	CHECK(tide_arena_alloc(arena, 64 * P));
	tide_arena_destroy(arena);
}

static void *shrink_loop(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop_reclaim)) {
		tide_shrink(0, 0);
		sched_yield();
	}
	return NULL;
}

TEST(destroy_waits_for_a_running_scan)
{
	unsigned rounds = th_sanitized() ? 300 : 3000;
	pthread_t r;

	P = tide__os_page_size();
	CHECK(!pthread_create(&r, NULL, shrink_loop, NULL));
	for (unsigned i = 0; i < rounds; i++) {
		struct tide_arena *a = tide_arena_create("arena-short", 8 * P);
		void *p;

		CHECK(a);
		p = tide_arena_alloc(a, 8 * P);
		CHECK(p);
		memset(p, 1, 8 * P);
		tide_arena_free(a, p);
		tide_arena_destroy(a);
	}
	atomic_store(&stop_reclaim, true);
	CHECK(!pthread_join(r, NULL));
}

RUN_TESTS(T(threads_allocate_and_free_while_reclaim_runs),
	  T(destroy_waits_for_a_running_scan))
