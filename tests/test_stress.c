// SPDX-License-Identifier: MIT
/*
 * test_stress.c - every module at once, on many threads, for a bounded
 * time (TIDE_STRESS_MS, default 3000; made for ThreadSanitizer).
 *
 * Threads register, scan and free shrinkers of their own; allocate, write,
 * check and free arena buffers; grow, shrink and free kv blocks; push and
 * pop vectors (one shared behind a mutex that a shrinker trims with
 * trylock); and run reclaim (tide_shrink at every priority, drop_caches,
 * direct scans, foreach) the whole time.  At the end: every buffer and
 * block still held its pattern, the arena's counters add up, a cache
 * shrinker's freed total equals what its scans really freed, the registry
 * holds only the permanent shrinkers, and no heap block, mapping or thread
 * is left over.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <tide.h>

#include "harness.h"

#define ARENA_SIZE ((size_t)4 << 20)
#define CACHE_MAX 4096

static atomic_bool stop;
static struct tide_arena *arena;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static unsigned rnd(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

/* Failures go through FAIL, which exits the test's process at once. */
static void check_bytes(const unsigned char *p, size_t n, unsigned char v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			FAIL("byte %zu of %zu is %u, not %u", i, n, p[i], v);
}

/* ---- a kv cache behind a mutex, reclaimed by its shrinker ------------- */

static struct {
	pthread_mutex_t lock;
	void *obj[CACHE_MAX];
	unsigned long n;
	atomic_ullong scan_freed; /* what scans really freed */
	atomic_ullong stops;
	struct tide_shrinker *s;
} cache = { .lock = PTHREAD_MUTEX_INITIALIZER };

static unsigned long cache_count(void *priv, struct tide_shrink_control *sc)
{
	unsigned long n;

	(void)priv;
	(void)sc;
	pthread_mutex_lock(&cache.lock);
	n = cache.n;
	pthread_mutex_unlock(&cache.lock);
	return n ? n : TIDE_SHRINK_EMPTY;
}

static unsigned long cache_scan(void *priv, struct tide_shrink_control *sc)
{
	unsigned long n;

	(void)priv;
	/* Never wait on a lock an allocating thread may hold. */
	if (pthread_mutex_trylock(&cache.lock)) {
		atomic_fetch_add(&cache.stops, 1);
		return TIDE_SHRINK_STOP;
	}
	n = TIDE__MIN(sc->nr_to_scan, cache.n);
	for (unsigned long i = 0; i < n; i++) {
		void *p = cache.obj[--cache.n];

		check_bytes(p, 256, 0x5a);
		tide_kvfree(p);
	}
	pthread_mutex_unlock(&cache.lock);
	atomic_fetch_add(&cache.scan_freed, n);
	return n;
}

static const struct tide_shrinker_ops cache_ops = { cache_count, cache_scan };

static void *cache_filler(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;

	while (!atomic_load(&stop)) {
		void *p = tide_kvmalloc(256, 0);

		CHECK(p);
		memset(p, 0x5a, 256);
		pthread_mutex_lock(&cache.lock);
		if (cache.n < CACHE_MAX) {
			cache.obj[cache.n++] = p;
			p = NULL;
		}
		pthread_mutex_unlock(&cache.lock);
		tide_kvfree(p);
		if (!(rnd(&seed) % 64))
			sched_yield();
	}
	return NULL;
}

/* ---- a shared vector, trimmed by a shrinker --------------------------- */

static struct {
	pthread_mutex_t lock;
	struct tide_vec v;
	uint64_t next_pop; /* FIFO check: pops remove from the front */
	struct tide_shrinker *s;
	atomic_ullong trims;
} shared = { .lock = PTHREAD_MUTEX_INITIALIZER,
	     .v = TIDE_VEC_INIT(uint64_t, TIDE_NORECLAIM) };

static unsigned long vec_count(void *priv, struct tide_shrink_control *sc)
{
	unsigned long spare = 0;

	(void)priv;
	(void)sc;
	if (!pthread_mutex_trylock(&shared.lock)) {
		spare = shared.v.cap - shared.v.len;
		pthread_mutex_unlock(&shared.lock);
	}
	return spare ? spare : TIDE_SHRINK_EMPTY;
}

static unsigned long vec_scan(void *priv, struct tide_shrink_control *sc)
{
	size_t freed;

	(void)priv;
	if (pthread_mutex_trylock(&shared.lock))
		return TIDE_SHRINK_STOP;
	freed = shared.v.cap;
	(void)tide_vec_shrink_to_fit(&shared.v);
	freed -= shared.v.cap;
	pthread_mutex_unlock(&shared.lock);
	atomic_fetch_add(&shared.trims, 1);
	return TIDE__MIN(sc->nr_to_scan, freed);
}

static const struct tide_shrinker_ops vec_ops = { vec_count, vec_scan };

static void *vec_worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	struct tide_vec own = TIDE_VEC_INIT(uint32_t, TIDE_VEC_AUTOTRIM);
	uint64_t pushed = 0;

	while (!atomic_load(&stop)) {
		unsigned n = rnd(&seed) % 300;

		/* Own vector: grow to n, check, shrink back with autotrim. */
		for (uint32_t i = 0; i < n; i++)
			CHECK_EQ(tide_vec_push(&own, &i), 0);
		for (uint32_t i = n; i-- > 0;) {
			uint32_t x;

			CHECK_EQ(tide_vec_pop(&own, &x), 0);
			CHECK_UEQ(x, i);
		}
		CHECK_CMP(own.cap, <=, 4);
		/* Shared FIFO of consecutive numbers. */
		pthread_mutex_lock(&shared.lock);
		for (unsigned i = 0; i < n % 40; i++) {
			uint64_t x = shared.next_pop + shared.v.len;

			CHECK_EQ(tide_vec_push(&shared.v, &x), 0);
			pushed++;
		}
		while (shared.v.len > 100) {
			uint64_t x;

			CHECK_EQ(tide_vec_remove(&shared.v, 0, &x), 0);
			CHECK_UEQ(x, shared.next_pop);
			shared.next_pop++;
		}
		pthread_mutex_unlock(&shared.lock);
	}
	tide_vec_destroy(&own);
	return (void *)(uintptr_t)pushed;
}

/* ---- arena buffers ---------------------------------------------------- */

static void *arena_worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	struct {
		unsigned char *p;
		size_t n;
		unsigned char v;
	} held[16] = { { 0 } };

	while (!atomic_load(&stop)) {
		unsigned i = rnd(&seed) % 16;

		if (held[i].p) {
			check_bytes(held[i].p, held[i].n, held[i].v);
			tide_arena_free(arena, held[i].p);
			held[i].p = NULL;
			continue;
		}
		held[i].n = 1 + rnd(&seed) % (3 * 4096);
		held[i].p = tide_arena_alloc(arena, held[i].n);
		if (!held[i].p) {
			CHECK_EQ(errno, ENOSPC);
			continue;
		}
		held[i].v = (unsigned char)(rnd(&seed) | 1);
		memset(held[i].p, held[i].v, held[i].n);
	}
	for (unsigned i = 0; i < 16; i++)
		if (held[i].p) {
			check_bytes(held[i].p, held[i].n, held[i].v);
			tide_arena_free(arena, held[i].p);
		}
	return NULL;
}

/* ---- kv blocks crossing the heap/paged threshold ---------------------- */

static void *kv_worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;

	while (!atomic_load(&stop)) {
		size_t n = 1 + rnd(&seed) % (512 << 10);
		unsigned char v = (unsigned char)rnd(&seed);
		unsigned char *p = tide_kvmalloc(n, 0), *q;
		size_t m;

		CHECK(p);
		memset(p, v, n);
		for (int k = 0; k < 4; k++) {
			m = 1 + rnd(&seed) % (768 << 10);
			q = tide_kvrealloc(p, m, 0);
			CHECK(q);
			check_bytes(q, TIDE__MIN(n, m), v);
			if (m > n)
				memset(q + n, v, m - n);
			p = q;
			n = m;
		}
		tide_kvfree(p);
	}
	return NULL;
}

/* ---- shrinkers that come and go --------------------------------------- */

static unsigned long churn_count(void *priv, struct tide_shrink_control *sc)
{
	unsigned long n = atomic_load((atomic_ulong *)priv);

	(void)sc;
	return n ? n : TIDE_SHRINK_EMPTY;
}

static unsigned long churn_scan(void *priv, struct tide_shrink_control *sc)
{
	atomic_ulong *n = priv;
	unsigned long have = atomic_load(n), take;

	do {
		take = TIDE__MIN(have, sc->nr_to_scan);
	} while (!atomic_compare_exchange_weak(n, &have, have - take));
	return take;
}

static const struct tide_shrinker_ops churn_ops = { churn_count, churn_scan };

static void *churn_worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	unsigned long cycles = 0;

	while (!atomic_load(&stop)) {
		/* Freed after tide_shrinker_free: callbacks are done by then. */
		atomic_ulong *objs = malloc(sizeof(*objs));
		struct tide_shrinker *s = tide_shrinker_alloc("churn");

		CHECK(objs && s);
		atomic_init(objs, 1000 + rnd(&seed) % 100000);
		tide_shrinker_set_seeks(s, rnd(&seed) % 4);
		tide_shrinker_set_batch(s, rnd(&seed) % 256);
		tide_shrinker_register(s, &churn_ops, objs);
		if (rnd(&seed) % 2)
			(void)tide_shrinker_scan("churn", 64);
		tide_shrinker_free(s);
		atomic_store(objs, 0xdead);
		free(objs);
		cycles++;
	}
	return (void *)(uintptr_t)cycles;
}

/* ---- reclaim ---------------------------------------------------------- */

static int count_one(const struct tide_shrinker_info *info, void *arg)
{
	(void)info;
	++*(int *)arg;
	return 0;
}

static void *reclaimer(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	unsigned long passes = 0;

	while (!atomic_load(&stop)) {
		int n = 0;

		switch (rnd(&seed) % 8) {
		case 0:
			(void)tide_drop_caches();
			break;
		case 1:
			(void)tide_shrinker_scan("stress-arena", 32);
			break;
		case 2:
			CHECK_EQ(tide_shrinker_foreach(count_one, &n), 0);
			CHECK_CMP(n, >=, 3);
			break;
		default:
			(void)tide_shrink((int)(rnd(&seed) % 13), TIDE_NOIO);
			break;
		}
		passes++;
	}
	return (void *)(uintptr_t)passes;
}

/* ---- the test --------------------------------------------------------- */

struct info_of {
	const char *name;
	struct tide_shrinker_info info;
	int found;
};

static int find_info(const struct tide_shrinker_info *info, void *arg)
{
	struct info_of *w = arg;

	if (!strcmp(info->name, w->name)) {
		w->info = *info;
		w->found++;
	}
	return 0;
}

static struct tide_shrinker_info info_of(const char *name)
{
	struct info_of w = { .name = name };

	CHECK_EQ(tide_shrinker_foreach(find_info, &w), 0);
	CHECK_EQ(w.found, 1);
	return w.info;
}

static void *nothing(void *arg)
{
	return arg;
}

TEST(all_modules_under_concurrent_reclaim_keep_their_invariants)
{
	void *(*const kinds[])(void *) = { cache_filler, vec_worker,
					   vec_worker,	 arena_worker,
					   arena_worker, kv_worker,
					   churn_worker, churn_worker,
					   reclaimer,	 reclaimer };
	const char *names[] = {
		"cache", "vec",	  "vec",   "arena",   "arena",
		"kv",	 "churn", "churn", "reclaim", "reclaim"
	};
	enum { NT = sizeof(kinds) / sizeof(kinds[0]) };
	const char *env = getenv("TIDE_STRESS_MS");
	uint64_t ms = env ? strtoull(env, NULL, 10) : 3000;
	struct tide__os_stats before, after;
	struct tide_arena_stats st;
	struct tide_shrinker_info ci;
	uintptr_t result[NT];
	pthread_t t[NT];
	uint64_t t0;
	int threads, n = 0;

	/* Sanitizer runtimes start a helper thread with the first thread. */
	CHECK_EQ(pthread_create(&t[0], NULL, nothing, NULL), 0);
	CHECK_EQ(pthread_join(t[0], NULL), 0);
	usleep(20000);
	threads = th_thread_count();
	tide__os_stats(&before);

	arena = tide_arena_create("stress-arena", ARENA_SIZE);
	CHECK(arena);
	cache.s = tide_shrinker_alloc("stress-cache");
	shared.s = tide_shrinker_alloc("stress-vec");
	CHECK(cache.s && shared.s);
	tide_shrinker_register(cache.s, &cache_ops, NULL);
	tide_shrinker_register(shared.s, &vec_ops, NULL);

	t0 = now_ms();
	for (int i = 0; i < NT; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, kinds[i],
					(void *)(uintptr_t)(i * 7919 + 1)),
			 0);
	while (now_ms() - t0 < ms)
		usleep(10000);
	atomic_store(&stop, true);
	for (int i = 0; i < NT; i++) {
		void *r;

		CHECK_EQ(pthread_join(t[i], &r), 0);
		result[i] = (uintptr_t)r;
	}
	for (int i = 0; i < NT; i++)
		if (result[i])
			th_note("%s thread %d: %" PRIuPTR, names[i], i,
				result[i]);
	th_note("cache scans freed %llu objects, %llu STOPs; %llu vec trims",
		(unsigned long long)atomic_load(&cache.scan_freed),
		(unsigned long long)atomic_load(&cache.stops),
		(unsigned long long)atomic_load(&shared.trims));

	/* Only the permanent shrinkers remain, in registration order. */
	CHECK_EQ(tide_shrinker_foreach(count_one, &n), 0);
	CHECK_EQ(n, 3);
	/* The registry's freed total is what the cache's scans freed. */
	ci = info_of("stress-cache");
	CHECK_UEQ(ci.freed, atomic_load(&cache.scan_freed));
	CHECK_CMP(ci.scanned, >=, ci.freed);
	/* Every buffer was freed: the arena holds none, its pages add up. */
	tide_arena_stats(arena, &st);
	CHECK_UEQ(st.used_bytes, 0);
	CHECK_UEQ(st.free_bytes, st.size);
	CHECK_UEQ(st.pages_used, 0);
	CHECK_UEQ(st.pages_used + st.pages_lru + st.pages_unmapped,
		  st.pages_total);
	CHECK_CMP(st.pages_high_water, <=, st.pages_total);
	/* A final drop_caches empties the LRU and the cache. */
	(void)tide_drop_caches();
	tide_arena_stats(arena, &st);
	CHECK_UEQ(st.pages_lru, 0);
	CHECK_UEQ(st.pages_unmapped, st.pages_total);
	CHECK_UEQ(cache.n, 0);
	/* The shared FIFO is intact. */
	for (size_t i = 0; i < shared.v.len; i++)
		CHECK_UEQ(tide_vec_at(&shared.v, uint64_t, i),
			  shared.next_pop + i);

	tide_shrinker_free(cache.s);
	tide_shrinker_free(shared.s);
	tide_vec_destroy(&shared.v);
	tide_arena_destroy(arena);
	CHECK_EQ(th_thread_count_after_join(threads), threads);
	tide__os_stats(&after);
	CHECK_EQ(after.heap_live, before.heap_live);
	CHECK_EQ(after.maps_live, before.maps_live);
	CHECK_EQ(after.map_bytes, before.map_bytes);
}

RUN_TESTS(T(all_modules_under_concurrent_reclaim_keep_their_invariants))
