// SPDX-License-Identifier: MIT
/*
 * test_shrinker.c - the registry, the do_shrink_slab arithmetic, misuse,
 * direct reclaim and the concurrency promises.
 *
 * The expected nr_to_scan sequences are worked out by hand in the comments
 * with DESIGN.md's formula:
 *   delta = seeks ? (count >> prio) * 4 / seeks : count / 2
 *   total = min((nr_deferred >> prio) + delta, 2 * count)
 *   scan min(batch, total) while total >= batch || total >= count
 *   nr_deferred = clamp(nr + delta - scanned, 0, 2 * count)
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include <tide.h>

#include "harness.h"

#define MAX_CALLS 4096

/* A cache of @objects small objects that records what reclaim asked. */
struct cache {
	unsigned long objects;
	bool refill; /* scan frees but the count stays (a busy cache) */
	unsigned long count_ret; /* when non-zero, count returns this */
	unsigned long scan_ret; /* when non-zero, scan returns this */
	unsigned long scan_looked; /* when non-zero, nr_scanned is set to it */
	bool scan_zero_looked; /* scan sets nr_scanned = 0 */
	unsigned long stop_after; /* scan returns STOP after this many calls */
	unsigned long free_per_pass; /* frees at most this many, then STOP */
	unsigned long freed_this_pass;
	int order_id;
	int *order_log, *order_len;
	unsigned ncount, nscan;
	int count_prio[MAX_CALLS];
	int scan_prio[MAX_CALLS];
	unsigned scan_flags;
	unsigned long nr_to_scan[MAX_CALLS];
	bool may_io;
	bool in_reclaim_seen;
};

static unsigned long cache_count(void *priv, struct tide_shrink_control *sc)
{
	struct cache *c = priv;

	if (c->ncount < MAX_CALLS)
		c->count_prio[c->ncount] = sc->priority;
	c->ncount++;
	c->freed_this_pass = 0;
	c->in_reclaim_seen = tide__in_reclaim();
	if (c->order_log)
		c->order_log[(*c->order_len)++] = c->order_id;
	if (c->count_ret)
		return c->count_ret;
	return c->objects ? c->objects : TIDE_SHRINK_EMPTY;
}

static unsigned long cache_scan(void *priv, struct tide_shrink_control *sc)
{
	struct cache *c = priv;
	unsigned long n;

	if (c->nscan < MAX_CALLS) {
		c->nr_to_scan[c->nscan] = sc->nr_to_scan;
		c->scan_prio[c->nscan] = sc->priority;
	}
	c->nscan++;
	c->scan_flags = sc->flags;
	c->may_io = tide_shrink_may_io(sc);
	CHECK_UEQ(sc->nr_scanned, sc->nr_to_scan);
	if (c->stop_after && c->nscan > c->stop_after)
		return TIDE_SHRINK_STOP;
	if (c->scan_zero_looked)
		sc->nr_scanned = 0;
	if (c->scan_looked)
		sc->nr_scanned = c->scan_looked;
	if (c->scan_ret)
		return c->scan_ret;
	if (c->free_per_pass && c->freed_this_pass >= c->free_per_pass)
		return TIDE_SHRINK_STOP;
	n = TIDE__MIN(sc->nr_to_scan, c->objects);
	if (c->free_per_pass)
		n = TIDE__MIN(n, c->free_per_pass - c->freed_this_pass);
	c->freed_this_pass += n;
	if (!c->refill)
		c->objects -= n;
	return n;
}

static const struct tide_shrinker_ops cache_ops = {
	.count_objects = cache_count,
	.scan_objects = cache_scan,
};

static struct tide_shrinker *add_cache(const char *name, struct cache *c)
{
	struct tide_shrinker *s = tide_shrinker_alloc(name);

	CHECK(s);
	tide_shrinker_register(s, &cache_ops, c);
	return s;
}

struct found {
	const char *name;
	struct tide_shrinker_info info;
	int seen;
};

static int find_info(const struct tide_shrinker_info *info, void *arg)
{
	struct found *f = arg;

	if (!strcmp(info->name, f->name)) {
		f->info = *info;
		f->seen++;
	}
	return 0;
}

static struct tide_shrinker_info info_of(const char *name)
{
	struct found f = { .name = name };

	CHECK_EQ(tide_shrinker_foreach(find_info, &f), 0);
	CHECK_EQ(f.seen, 1);
	return f.info;
}

/* ---- the do_shrink_slab arithmetic ----------------------------------- */

TEST(big_cache_at_priority_0_scans_twice_its_size_in_batches)
{
	static struct cache c = { .objects = 10000, .refill = true };
	struct tide_shrinker *s = add_cache("big", &c);
	struct tide_shrinker_info info;

	/*
	 * delta = (10000 >> 0) * 4 / 2 = 20000; total = min(20000, 20000);
	 * 156 scans of 128 = 19968, 32 left < 128 and < 10000: stop.
	 * nr_deferred = 0 + 20000 - 19968 = 32.
	 */
	CHECK_UEQ(tide_shrink(0, 0), 19968);
	CHECK_EQ(c.ncount, 1);
	CHECK_EQ(c.nscan, 156);
	for (unsigned i = 0; i < c.nscan; i++)
		CHECK_UEQ(c.nr_to_scan[i], 128);
	info = info_of("big");
	CHECK_UEQ(info.nr_deferred, 32);
	CHECK_UEQ(info.calls, 156);
	CHECK_UEQ(info.scanned, 19968);
	CHECK_UEQ(info.freed, 19968);
	CHECK_UEQ(info.count, 10000);
	CHECK_UEQ(info.seeks, TIDE_DEFAULT_SEEKS);
	CHECK_UEQ(info.batch, 128);

	/*
	 * Second pass: nr = 32, total = min(32 + 20000, 20000) = 20000:
	 * again 156 scans; nr_deferred = 32 + 20000 - 19968 = 64.
	 */
	CHECK_UEQ(tide_shrink(0, 0), 19968);
	CHECK_EQ(c.nscan, 312);
	CHECK_UEQ(info_of("big").nr_deferred, 64);
	tide_shrinker_free(s);
}

TEST(big_cache_at_priority_12_only_defers_and_accumulates)
{
	static struct cache c = { .objects = 100000, .refill = true };
	struct tide_shrinker *s = add_cache("defer", &c);

	/*
	 * delta = (100000 >> 12) * 4 / 2 = 24 * 2 = 48.  Pass k: nr =
	 * 48 * (k - 1) < 4096, so nr >> 12 = 0 and total = 48 < 128: no scan,
	 * nr_deferred = 48 * k.
	 */
	for (unsigned k = 1; k <= 5; k++) {
		CHECK_UEQ(tide_shrink(TIDE_DEF_PRIORITY, 0), 0);
		CHECK_UEQ(info_of("defer").nr_deferred, 48 * k);
	}
	CHECK_EQ(c.nscan, 0);
	CHECK_EQ(c.ncount, 5 + 5); /* passes + foreach counts */

	/*
	 * The deferred work carries into a priority 0 pass: nr = 240,
	 * delta = 100000 * 4 / 2 = 200000, total = min(240 + 200000, 200000)
	 * = 200000: 1562 scans of 128 (199936), 64 left.  nr_deferred =
	 * 240 + 200000 - 199936 = 304.
	 */
	c.nscan = 0;
	CHECK_UEQ(tide_shrink(0, 0), 199936);
	CHECK_EQ(c.nscan, 1562);
	CHECK_UEQ(info_of("defer").nr_deferred, 304);
	tide_shrinker_free(s);
}

TEST(deferred_work_reaches_the_scan_threshold)
{
	static struct cache c = { .objects = 4096, .refill = true };
	struct tide_shrinker *s = add_cache("carry", &c);

	tide_shrinker_set_seeks(s, 16);
	/*
	 * Priority 4: delta = (4096 >> 4) * 4 / 16 = 64 < 128.  Pass k has
	 * nr = 64 (k - 1), total = 4 (k - 1) + 64: no scan up to pass 16,
	 * after which nr_deferred = 64 * 16 = 1024.
	 */
	for (unsigned k = 1; k <= 16; k++) {
		CHECK_UEQ(tide_shrink(4, 0), 0);
		CHECK_UEQ(info_of("carry").nr_deferred, 64 * k);
	}
	CHECK_EQ(c.nscan, 0);
	/*
	 * Pass 17: total = (1024 >> 4) + 64 = 128: one scan of 128;
	 * nr_deferred = 1024 + 64 - 128 = 960.  Pass 18: total = 60 + 64 =
	 * 124: none, nr_deferred 1024.  Pass 19 scans again.
	 */
	CHECK_UEQ(tide_shrink(4, 0), 128);
	CHECK_EQ(c.nscan, 1);
	CHECK_UEQ(c.nr_to_scan[0], 128);
	CHECK_UEQ(info_of("carry").nr_deferred, 960);
	CHECK_UEQ(tide_shrink(4, 0), 0);
	CHECK_UEQ(info_of("carry").nr_deferred, 1024);
	CHECK_UEQ(tide_shrink(4, 0), 128);
	CHECK_EQ(c.nscan, 2);
	tide_shrinker_free(s);
}

TEST(cache_smaller_than_a_batch_is_emptied_in_one_call)
{
	static struct cache c = { .objects = 50 };
	struct tide_shrinker *s = add_cache("small", &c);

	/*
	 * Priority 0: delta = 50 * 4 / 2 = 100; total = min(100, 100) = 100.
	 * 100 < 128 but 100 >= 50: one scan of min(128, 100) = 100, which
	 * frees all 50; total = 0: stop.  nr_deferred = 100 - 100 = 0.
	 */
	CHECK_UEQ(tide_shrink(0, 0), 50);
	CHECK_EQ(c.nscan, 1);
	CHECK_UEQ(c.nr_to_scan[0], 100);
	CHECK_UEQ(c.objects, 0);
	CHECK_UEQ(info_of("small").nr_deferred, 0);
	tide_shrinker_free(s);
}

TEST(small_cache_at_priority_12_is_left_alone)
{
	static struct cache c = { .objects = 50 };
	struct tide_shrinker *s = add_cache("small12", &c);

	/* delta = (50 >> 12) * 4 / 2 = 0; total 0 < 50: no scan, nothing
	 * deferred. */
	CHECK_UEQ(tide_shrink(TIDE_DEF_PRIORITY, 0), 0);
	CHECK_EQ(c.nscan, 0);
	CHECK_UEQ(info_of("small12").nr_deferred, 0);
	tide_shrinker_free(s);
}

TEST(seeks_0_asks_for_half_the_cache_at_any_priority)
{
	static struct cache c = { .objects = 1000, .refill = true };
	struct tide_shrinker *s = add_cache("seeks0", &c);

	tide_shrinker_set_seeks(s, 0);
	/*
	 * delta = 1000 / 2 = 500 whatever the priority; total = min(500,
	 * 2000) = 500: scans 128, 128, 128 (384), 116 left < 128, < 1000.
	 * nr_deferred = 500 - 384 = 116.
	 */
	CHECK_UEQ(tide_shrink(TIDE_DEF_PRIORITY, 0), 384);
	CHECK_EQ(c.nscan, 3);
	CHECK_UEQ(c.nr_to_scan[2], 128);
	CHECK_UEQ(info_of("seeks0").nr_deferred, 116);
	CHECK_UEQ(info_of("seeks0").seeks, 0);
	tide_shrinker_free(s);
}

TEST(batch_sets_the_scan_size_and_0_means_128)
{
	static struct cache c = { .objects = 1000, .refill = true };
	struct tide_shrinker *s = add_cache("batch", &c);

	/*
	 * Batch 50, priority 0: delta = 2000 = total: 40 scans of 50, total
	 * 0: nr_deferred 0.
	 */
	tide_shrinker_set_batch(s, 50);
	CHECK_UEQ(tide_shrink(0, 0), 2000);
	CHECK_EQ(c.nscan, 40);
	CHECK_UEQ(c.nr_to_scan[39], 50);
	CHECK_UEQ(info_of("batch").batch, 50);
	CHECK_UEQ(info_of("batch").nr_deferred, 0);

	/* Batch 0 = 128: 15 scans of 128 (1920), 80 deferred. */
	tide_shrinker_set_batch(s, 0);
	c.nscan = 0;
	CHECK_UEQ(tide_shrink(0, 0), 1920);
	CHECK_EQ(c.nscan, 15);
	CHECK_UEQ(c.nr_to_scan[14], 128);
	CHECK_UEQ(info_of("batch").batch, 128);
	CHECK_UEQ(info_of("batch").nr_deferred, 80);
	tide_shrinker_free(s);
}

TEST(callbacks_see_priority_and_flags)
{
	static struct cache c = { .objects = 1000, .refill = true };
	struct tide_shrinker *s = add_cache("ctl", &c);

	/* delta = (1000 >> 3) * 4 / 2 = 250: one scan of 128, 122 left. */
	CHECK_UEQ(tide_shrink(3, TIDE_NOIO), 128);
	CHECK_EQ(c.count_prio[0], 3);
	CHECK_EQ(c.scan_prio[0], 3);
	CHECK_UEQ(c.scan_flags, TIDE_NOIO);
	CHECK(!c.may_io);
	CHECK(c.in_reclaim_seen);
	CHECK(!tide__in_reclaim());
	tide_shrink(0, 0);
	CHECK(c.may_io);
	CHECK(!tide_shrink_may_io(NULL));
	tide_shrinker_free(s);
}

TEST(priority_is_clamped_to_0_through_12)
{
	static struct cache c = { .objects = 1000, .refill = true };
	struct tide_shrinker *s = add_cache("clamp", &c);

	tide_shrink(99, 0);
	tide_shrink(-5, 0);
	CHECK_EQ(c.count_prio[0], 12);
	CHECK_EQ(c.count_prio[1], 0);
	tide_shrinker_free(s);
}

/* ---- count and scan return values ------------------------------------- */

TEST(count_empty_or_zero_means_no_scan)
{
	static struct cache e = { .count_ret = TIDE_SHRINK_EMPTY };
	static struct cache z = { .objects = 0, .count_ret = 0 };
	struct tide_shrinker *se = add_cache("empty", &e);
	struct tide_shrinker *sz = add_cache("zero", &z);

	CHECK_UEQ(tide_shrink(0, 0), 0);
	CHECK_EQ(e.ncount, 1);
	CHECK_EQ(z.ncount, 1);
	CHECK_EQ(e.nscan + z.nscan, 0);
	CHECK_UEQ(info_of("empty").count, 0);
	CHECK_UEQ(info_of("empty").nr_deferred, 0);
	tide_shrinker_free(se);
	tide_shrinker_free(sz);
}

TEST(scan_stop_ends_that_shrinkers_loop_only)
{
	static struct cache a = { .objects = 10000,
				  .refill = true,
				  .stop_after = 2 };
	static struct cache b = { .objects = 1000, .refill = true };
	struct tide_shrinker *sa = add_cache("stopper", &a);
	struct tide_shrinker *sb = add_cache("after", &b);

	/*
	 * a: two scans of 128, the third returns STOP: freed 256; nr_deferred
	 * = 20000 - 256 = 19744.  b still runs: 15 scans (1920).
	 */
	CHECK_UEQ(tide_shrink(0, 0), 256 + 1920);
	CHECK_EQ(a.nscan, 3);
	CHECK_EQ(b.nscan, 15);
	CHECK_UEQ(info_of("stopper").nr_deferred, 19744);
	CHECK_UEQ(info_of("stopper").calls, 3);
	CHECK_UEQ(info_of("stopper").scanned, 256);
	tide_shrinker_free(sa);
	tide_shrinker_free(sb);
}

TEST(scan_reporting_fewer_scanned_is_asked_again)
{
	static struct cache c = { .objects = 1000,
				  .refill = true,
				  .scan_looked = 100 };
	struct tide_shrinker *s = add_cache("fewer", &c);

	/*
	 * Priority 0: total 2000; every scan looks at 100 (of 128):
	 * total 2000 -> 1900 -> ... -> 100 after 19 scans; 100 < 128,
	 * < 1000: stop.  Scanned 1900, nr_deferred = 2000 - 1900 = 100.
	 */
	tide_shrink(0, 0);
	CHECK_EQ(c.nscan, 19);
	CHECK_UEQ(info_of("fewer").scanned, 1900);
	CHECK_UEQ(info_of("fewer").nr_deferred, 100);
	tide_shrinker_free(s);
}

TEST(scan_reporting_nothing_scanned_does_not_spin)
{
	static struct cache c = { .objects = 1000,
				  .refill = true,
				  .scan_zero_looked = true };
	struct tide_shrinker *s = add_cache("zero-scanned", &c);

	/* One call, nothing scanned: the loop ends; all 2000 deferred. */
	tide_shrink(0, 0);
	CHECK_EQ(c.nscan, 1);
	CHECK_UEQ(info_of("zero-scanned").nr_deferred, 2000);
	tide_shrinker_free(s);
}

static int reports;
static void count_report(const char *what, const void *ptr, void *arg)
{
	(void)what;
	(void)ptr;
	(void)arg;
	reports++;
}

TEST(count_returning_stop_is_reported_and_treated_as_zero)
{
	static struct cache c = { .count_ret = TIDE_SHRINK_STOP };
	struct tide_shrinker *s = add_cache("bad-count", &c);

	tide_set_error_handler(count_report, NULL);
	CHECK_UEQ(tide_shrink(0, 0), 0);
	CHECK_EQ(c.nscan, 0);
	CHECK_EQ(reports, 1);
	CHECK_UEQ(info_of("bad-count").count, 0);
	tide_shrinker_free(s);
}

TEST(scan_returning_empty_is_reported_and_counts_as_nothing_freed)
{
	static struct cache c = { .objects = 1000,
				  .refill = true,
				  .scan_ret = TIDE_SHRINK_EMPTY };
	struct tide_shrinker *s = add_cache("bad-scan", &c);

	tide_set_error_handler(count_report, NULL);
	/* The loop goes on as usual: 15 scans, each reported. */
	CHECK_UEQ(tide_shrink(0, 0), 0);
	CHECK_EQ(c.nscan, 15);
	CHECK_EQ(reports, 15);
	CHECK_UEQ(info_of("bad-scan").freed, 0);
	CHECK_UEQ(info_of("bad-scan").scanned, 1920);
	tide_shrinker_free(s);
}

TEST(huge_counts_are_clamped_without_overflow)
{
	static struct cache c = { .count_ret = TIDE_COUNT_MAX + 5,
				  .refill = true,
				  .stop_after = 0 };
	struct tide_shrinker *s = add_cache("huge", &c);
	unsigned long m = TIDE_COUNT_MAX; /* 2^63 - 1 on LP64 */

	/* A batch so large that nothing is scanned at priority 12. */
	tide_shrinker_set_batch(s, m);
	/*
	 * freeable = m (clamped); delta = (m >> 12) * 4 / 2; no scan
	 * (total < batch and < freeable); nr_deferred = delta.
	 */
	CHECK_UEQ(tide_shrink(12, 0), 0);
	CHECK_UEQ(info_of("huge").nr_deferred, (m >> 12) * 2);
	/* Next pass adds (nr >> 12) to total but nr + delta to deferred. */
	CHECK_UEQ(tide_shrink(12, 0), 0);
	CHECK_UEQ(info_of("huge").nr_deferred, (m >> 12) * 4);
	CHECK_EQ(c.nscan, 0);
	tide_shrinker_free(s);

	/*
	 * Seeks 1, priority 0: delta = 4m, which does not fit in a long;
	 * total = min(4m, 2m) = 2m >= batch: one scan of min(m, 2m) = m,
	 * which returns STOP.  nr_deferred = min(4m - 0, 2m) = 2m exactly
	 * (64-bit arithmetic would wrap 4m to 2^64 - 4 instead).
	 */
	c.stop_after = 0;
	c.scan_ret = TIDE_SHRINK_STOP;
	c.nscan = 0;
	s = add_cache("huge1", &c);
	tide_shrinker_set_seeks(s, 1);
	tide_shrinker_set_batch(s, m);
	CHECK_UEQ(tide_shrink(0, 0), 0);
	CHECK_EQ(c.nscan, 1);
	CHECK_UEQ(c.nr_to_scan[0], m);
	CHECK_UEQ(info_of("huge1").nr_deferred, 2 * m);
	tide_shrinker_free(s);
}

/* ---- registry ---------------------------------------------------------- */

TEST(registration_order_is_walk_order)
{
	static struct cache c[4];
	static int log[16], len;
	struct tide_shrinker *s[4];
	char name[8];

	for (int i = 0; i < 4; i++) {
		c[i] = (struct cache){ .objects = 10,
				       .refill = true,
				       .order_id = i,
				       .order_log = log,
				       .order_len = &len };
		snprintf(name, sizeof(name), "o%d", i);
		s[i] = add_cache(name, &c[i]);
	}
	tide_shrink(0, 0);
	CHECK_EQ(len, 4);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(log[i], i);
	/* Free one in the middle: the others keep their order. */
	tide_shrinker_free(s[1]);
	len = 0;
	tide_shrink(0, 0);
	CHECK_EQ(len, 3);
	CHECK_EQ(log[0], 0);
	CHECK_EQ(log[1], 2);
	CHECK_EQ(log[2], 3);
	for (int i = 0; i < 4; i++)
		if (i != 1)
			tide_shrinker_free(s[i]);
}

TEST(drop_caches_runs_priority_0_until_a_pass_frees_nothing)
{
	static struct cache c = { .objects = 1000, .free_per_pass = 100 };
	struct tide_shrinker *s = add_cache("drop", &c);

	/*
	 * Each pass frees 100 then answers STOP: 10 passes empty the cache,
	 * the 11th sees count EMPTY and frees nothing.
	 */
	CHECK_UEQ(tide_drop_caches(), 1000);
	CHECK_EQ(c.ncount, 11);
	for (int i = 0; i < 11; i++)
		CHECK_EQ(c.count_prio[i], 0);
	CHECK_UEQ(c.objects, 0);
	tide_shrinker_free(s);
}

TEST(names_are_copied)
{
	static struct cache c = { .objects = 10 };
	char name[16] = "copied";
	struct tide_shrinker *s = add_cache(name, &c);

	strcpy(name, "clobbered");
	CHECK_UEQ(info_of("copied").count, 10);
	tide_shrinker_free(s);
}

TEST(shrinker_scan_runs_one_direct_scan)
{
	static struct cache c = { .objects = 1000 };
	struct tide_shrinker *s = add_cache("direct", &c);

	CHECK_UEQ(tide_shrinker_scan("direct", 300), 300);
	CHECK_EQ(c.ncount, 0);
	CHECK_EQ(c.nscan, 1);
	CHECK_UEQ(c.nr_to_scan[0], 300);
	CHECK_UEQ(c.objects, 700);
	CHECK_UEQ(info_of("direct").nr_deferred, 0);
	CHECK_UEQ(info_of("direct").calls, 1);
	CHECK_UEQ(info_of("direct").scanned, 300);
	CHECK_UEQ(info_of("direct").freed, 300);
	errno = 0;
	CHECK_UEQ(tide_shrinker_scan("nobody", 10), 0);
	CHECK_EQ(errno, ENOENT);
	errno = 0;
	CHECK_UEQ(tide_shrinker_scan(NULL, 10), 0);
	CHECK_EQ(errno, EINVAL);
	tide_shrinker_free(s);
}

static int stop_at_second(const struct tide_shrinker_info *info, void *arg)
{
	int *n = arg;

	(void)info;
	return ++*n == 2 ? 42 : 0;
}

TEST(foreach_stops_on_nonzero_and_returns_it)
{
	static struct cache c[3];
	struct tide_shrinker *s[3];
	int n = 0;

	for (int i = 0; i < 3; i++)
		s[i] = add_cache("f", &c[i]);
	CHECK_EQ(tide_shrinker_foreach(stop_at_second, &n), 42);
	CHECK_EQ(n, 2);
	CHECK_EQ(tide_shrinker_foreach(NULL, NULL), -EINVAL);
	/* The walk dropped its reference: freeing does not hang. */
	for (int i = 0; i < 3; i++)
		tide_shrinker_free(s[i]);
}

RUN_TESTS(T(big_cache_at_priority_0_scans_twice_its_size_in_batches),
	  T(big_cache_at_priority_12_only_defers_and_accumulates),
	  T(deferred_work_reaches_the_scan_threshold),
	  T(cache_smaller_than_a_batch_is_emptied_in_one_call),
	  T(small_cache_at_priority_12_is_left_alone),
	  T(seeks_0_asks_for_half_the_cache_at_any_priority),
	  T(batch_sets_the_scan_size_and_0_means_128),
	  T(callbacks_see_priority_and_flags),
	  T(priority_is_clamped_to_0_through_12),
	  T(count_empty_or_zero_means_no_scan),
	  T(scan_stop_ends_that_shrinkers_loop_only),
	  T(scan_reporting_fewer_scanned_is_asked_again),
	  T(scan_reporting_nothing_scanned_does_not_spin),
	  T(count_returning_stop_is_reported_and_treated_as_zero),
	  T(scan_returning_empty_is_reported_and_counts_as_nothing_freed),
	  T(huge_counts_are_clamped_without_overflow),
	  T(registration_order_is_walk_order),
	  T(drop_caches_runs_priority_0_until_a_pass_frees_nothing),
	  T(names_are_copied), T(shrinker_scan_runs_one_direct_scan),
	  T(foreach_stops_on_nonzero_and_returns_it))
