// SPDX-License-Identifier: MIT
/*
 * test_shrinker_stress.c - threads registering, freeing, scanning and
 * shrinking at once for a bounded time (TIDE_STRESS_MS, default 3000 ms).
 * Meant for ThreadSanitizer as much as for the assertions: a callback that
 * ran after its shrinker was freed would race with the plain write that
 * retires its cache, and would see the cache retired.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include <tide.h>

#include "harness.h"

#define CHURNERS 2
#define SHRINKERS 2
#define LONG_LIVED 8

struct stress_cache {
	int alive; /* plain on purpose: written only when no callback runs */
	atomic_ulong objects;
	atomic_ulong callback_freed;
};

static atomic_bool stop;
static atomic_ullong reported_freed; /* what tide_shrink & co returned */
static atomic_ullong callback_freed; /* what callbacks said they freed */
static atomic_ullong cycles, passes, bad_callbacks;

static unsigned long stress_count(void *priv, struct tide_shrink_control *sc)
{
	struct stress_cache *c = priv;
	unsigned long n = atomic_load(&c->objects);

	(void)sc;
	if (c->alive != 1)
		atomic_fetch_add(&bad_callbacks, 1);
	return n ? n : TIDE_SHRINK_EMPTY;
}

static unsigned long stress_scan(void *priv, struct tide_shrink_control *sc)
{
	struct stress_cache *c = priv;
	unsigned long have = atomic_load(&c->objects), n;

	if (c->alive != 1)
		atomic_fetch_add(&bad_callbacks, 1);
	do
		n = TIDE__MIN(have, sc->nr_to_scan);
	while (!atomic_compare_exchange_weak(&c->objects, &have, have - n));
	/* An allocation from a callback must not recurse into reclaim. */
	tide_kvfree(tide_kvmalloc(64, TIDE_NORECLAIM));
	atomic_fetch_add(&c->callback_freed, n);
	atomic_fetch_add(&callback_freed, n);
	return n;
}

static const struct tide_shrinker_ops stress_ops = { stress_count,
						     stress_scan };

static void *churner(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		struct stress_cache *c = calloc(1, sizeof(*c));
		struct tide_shrinker *s;
		char name[32];

		CHECK(c);
		c->alive = 1;
		atomic_init(&c->objects, 500 + rand_r(&seed) % 5000);
		snprintf(name, sizeof(name), "churn-%u", rand_r(&seed) % 4);
		s = tide_shrinker_alloc(name);
		CHECK(s);
		tide_shrinker_set_seeks(s, rand_r(&seed) % 4);
		tide_shrinker_set_batch(s, rand_r(&seed) % 3 * 64);
		tide_shrinker_register(s, &stress_ops, c);
		if (rand_r(&seed) % 4 == 0) {
			unsigned long f = tide_shrinker_scan(name, 100);

			atomic_fetch_add(&reported_freed, f);
		}
		if (rand_r(&seed) % 8 == 0)
			sched_yield();
		tide_shrinker_free(s);
		/* No callback of s runs now: this plain write must not race. */
		c->alive = 0;
		free(c);
		atomic_fetch_add_explicit(&cycles, 1, memory_order_relaxed);
	}
	return NULL;
}

static int walk_fn(const struct tide_shrinker_info *info, void *arg)
{
	(void)arg;
	CHECK(info->name && info->name[0]);
	CHECK_CMP(info->scanned, >=, info->freed);
	return 0;
}

static void *shrinker_thread(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		unsigned long f = tide_shrink(
			rand_r(&seed) % 13, rand_r(&seed) % 2 ? TIDE_NOIO : 0);

		atomic_fetch_add(&reported_freed, f);
		if (rand_r(&seed) % 16 == 0)
			CHECK_EQ(tide_shrinker_foreach(walk_fn, NULL), 0);
		atomic_fetch_add_explicit(&passes, 1, memory_order_relaxed);
	}
	return NULL;
}

static int count_fn(const struct tide_shrinker_info *info, void *arg)
{
	(void)info;
	++*(int *)arg;
	return 0;
}

TEST(register_free_and_shrink_race_safely)
{
	static struct stress_cache lived[LONG_LIVED];
	struct tide_shrinker *ls[LONG_LIVED];
	pthread_t t[CHURNERS + SHRINKERS];
	const char *env = getenv("TIDE_STRESS_MS");
	long ms = env ? atol(env) : 3000;
	unsigned long long lived_freed = 0;
	struct tide__os_stats before, after;
	int n = 0;

	tide__os_stats(&before);
	for (int i = 0; i < LONG_LIVED; i++) {
		lived[i].alive = 1;
		atomic_init(&lived[i].objects, 1000000);
		ls[i] = tide_shrinker_alloc("lived");
		CHECK(ls[i]);
		tide_shrinker_register(ls[i], &stress_ops, &lived[i]);
	}
	for (int i = 0; i < CHURNERS; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, churner,
					(void *)(uintptr_t)(i + 1)),
			 0);
	for (int i = 0; i < SHRINKERS; i++)
		CHECK_EQ(pthread_create(&t[CHURNERS + i], NULL, shrinker_thread,
					(void *)(uintptr_t)(i + 100)),
			 0);
	usleep(ms * 1000);
	atomic_store(&stop, true);
	for (int i = 0; i < CHURNERS + SHRINKERS; i++)
		pthread_join(t[i], NULL);

	th_note("%llu register/free cycles and %llu passes in %ld ms",
		atomic_load(&cycles), atomic_load(&passes), ms);
	CHECK_CMP(atomic_load(&cycles), >, 0);
	CHECK_CMP(atomic_load(&passes), >, 0);
	CHECK_UEQ(atomic_load(&bad_callbacks), 0);
	/* Every object a callback freed was reported by exactly one call. */
	CHECK_UEQ(atomic_load(&reported_freed), atomic_load(&callback_freed));
	for (int i = 0; i < LONG_LIVED; i++) {
		lived_freed += atomic_load(&lived[i].callback_freed);
		CHECK_UEQ(atomic_load(&lived[i].objects) +
				  atomic_load(&lived[i].callback_freed),
			  1000000);
	}
	CHECK_CMP(lived_freed, >, 0);
	CHECK_EQ(tide_shrinker_foreach(count_fn, &n), 0);
	CHECK_EQ(n, LONG_LIVED);
	for (int i = 0; i < LONG_LIVED; i++)
		tide_shrinker_free(ls[i]);
	n = 0;
	CHECK_EQ(tide_shrinker_foreach(count_fn, &n), 0);
	CHECK_EQ(n, 0);
	tide__os_stats(&after);
	CHECK_EQ(after.heap_live, before.heap_live);
}

RUN_TESTS(T(register_free_and_shrink_race_safely))
