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
#include <semaphore.h>
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
	 * Priority 0: total 2000; every scan looks at 100 (of 128) and frees
	 * 100.  A pass makes at most total / batch + 1 = 16 calls (an honest
	 * shrinker taking full batches never needs more): scanned 1600,
	 * nr_deferred = 2000 - 1600 = 400, asked again next pass.
	 */
	tide_shrink(0, 0);
	CHECK_EQ(c.nscan, 16);
	CHECK_UEQ(info_of("fewer").scanned, 1600);
	CHECK_UEQ(info_of("fewer").nr_deferred, 400);
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
	/*
	 * Treated as 0 freed with all 128 looked at: a scan that frees
	 * nothing of a full batch ends the shrinker's loop for the pass.
	 */
	CHECK_UEQ(tide_shrink(0, 0), 0);
	CHECK_EQ(c.nscan, 1);
	CHECK_EQ(reports, 1);
	CHECK_UEQ(info_of("bad-scan").freed, 0);
	CHECK_UEQ(info_of("bad-scan").scanned, 128);
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

/* ---- misuse ------------------------------------------------------------ */

static int count_all(const struct tide_shrinker_info *info, void *arg)
{
	(void)info;
	++*(int *)arg;
	return 0;
}

static int registered(void)
{
	int n = 0;

	CHECK_EQ(tide_shrinker_foreach(count_all, &n), 0);
	return n;
}

/* fn frees the shrinker it is shown and the next one. */
struct free_in_fn {
	struct tide_shrinker *s[3];
	int seen;
};

static int free_shown(const struct tide_shrinker_info *info, void *arg)
{
	struct free_in_fn *f = arg;

	CHECK_STR(info->name, "shown");
	if (f->seen++ == 0) {
		tide_shrinker_free(f->s[0]);
		tide_shrinker_free(f->s[1]);
		/* Its name is still valid: the walk holds the node. */
		CHECK_STR(info->name, "shown");
	}
	return 0;
}

TEST(foreach_function_may_free_the_shown_shrinker)
{
	static struct cache c[3];
	struct free_in_fn f = { .seen = 0 };
	struct tide__os_stats st;

	for (int i = 0; i < 3; i++)
		f.s[i] = add_cache(i ? "next" : "shown", &c[i]);
	tide_shrinker_free(f.s[2]);
	f.s[2] = add_cache("shown", &c[2]);
	/* The first is freed while shown, the second before it is reached. */
	CHECK_EQ(tide_shrinker_foreach(free_shown, &f), 0);
	CHECK_EQ(f.seen, 2);
	CHECK_EQ(c[0].ncount, 1);
	CHECK_EQ(c[1].ncount, 0);
	CHECK_EQ(c[2].ncount, 1);
	CHECK_EQ(registered(), 1);
	tide_shrinker_free(f.s[2]);
	tide__os_stats(&st);
	CHECK_EQ(st.heap_live, 0);
}

static char last_report[256];
static void save_report(const char *what, const void *ptr, void *arg)
{
	(void)ptr;
	(void)arg;
	reports++;
	snprintf(last_report, sizeof(last_report), "%s", what);
}

TEST(alloc_rejects_a_null_name)
{
	errno = 0;
	CHECK(!tide_shrinker_alloc(NULL));
	CHECK_EQ(errno, EINVAL);
}

TEST(register_rejects_null_ops_and_callbacks)
{
	static const struct tide_shrinker_ops no_scan = { .count_objects =
								  cache_count };
	struct tide_shrinker *s = tide_shrinker_alloc("bad-ops");
	struct tide__os_stats st;

	tide_set_error_handler(save_report, NULL);
	tide_shrinker_register(s, NULL, NULL);
	tide_shrinker_register(s, &no_scan, NULL);
	tide_shrinker_register(NULL, &cache_ops, NULL);
	CHECK_EQ(reports, 3);
	CHECK(strstr(last_report, "NULL"));
	CHECK_EQ(registered(), 0);
	/* Still only allocated: free works and releases everything. */
	tide_shrinker_free(s);
	tide__os_stats(&st);
	CHECK_EQ(st.heap_live, 0);
}

TEST(register_twice_is_reported_and_ignored)
{
	static struct cache c = { .objects = 10 };
	struct tide_shrinker *s = add_cache("twice", &c);

	tide_set_error_handler(save_report, NULL);
	tide_shrinker_register(s, &cache_ops, &c);
	CHECK_EQ(reports, 1);
	CHECK_STR(last_report, "tide_shrinker_register: registered twice");
	CHECK_EQ(registered(), 1);
	tide_shrink(0, 0);
	CHECK_EQ(c.ncount, 2); /* foreach + one pass: listed once */
	tide_shrinker_free(s);
}

TEST(double_free_is_reported_and_ignored)
{
	struct tide_shrinker *s = tide_shrinker_alloc("df");
	struct tide_shrinker *keep = tide_shrinker_alloc("keep");
	struct tide__os_stats st;

	tide_set_error_handler(save_report, NULL);
	tide_shrinker_register(keep, &cache_ops, &(struct cache){ 0 });
	tide_shrinker_free(s);
	/* Detected from the live set: freed memory is never read. */
	tide_shrinker_free(s);
	CHECK_EQ(reports, 1);
	CHECK_STR(last_report,
		  "tide_shrinker_free: not a live shrinker (double free?)");
	CHECK_EQ(registered(), 1);
	tide_shrinker_free(keep);
	tide_shrinker_free(keep);
	CHECK_EQ(reports, 2);
	tide__os_stats(&st);
	CHECK_EQ(st.heap_live, 0);
	tide_shrinker_free(NULL);
	CHECK_EQ(reports, 2);
}

TEST(free_of_an_unregistered_shrinker_works)
{
	struct tide_shrinker *s = tide_shrinker_alloc("never");
	struct tide__os_stats st;

	CHECK(s);
	tide_shrinker_set_seeks(s, 4);
	tide_shrinker_free(s);
	tide__os_stats(&st);
	CHECK_EQ(st.heap_live, 0);
	CHECK_EQ(registered(), 0);
}

static void print_report(const char *what, const void *ptr, void *arg)
{
	(void)ptr;
	(void)arg;
	printf("report: %s\n", what);
	fflush(stdout);
}

static struct tide_shrinker *self_s;
static unsigned long free_self_count(void *priv, struct tide_shrink_control *sc)
{
	(void)priv;
	(void)sc;
	return 1000;
}
static unsigned long free_self_scan(void *priv, struct tide_shrink_control *sc)
{
	(void)priv;
	(void)sc;
	tide_shrinker_free(self_s);
	return 0;
}

static void free_self_child(void *arg)
{
	static const struct tide_shrinker_ops ops = { free_self_count,
						      free_self_scan };

	(void)arg;
	tide_set_error_handler(print_report, NULL);
	self_s = tide_shrinker_alloc("self");
	tide_shrinker_register(self_s, &ops, NULL);
	tide_shrink(0, 0);
	printf("returned\n");
}

TEST(free_from_own_callback_is_reported_and_aborts)
{
	char out[1024];
	int st = th_fork(free_self_child, NULL, out, sizeof(out));

	CHECK(WIFSIGNALED(st));
	CHECK_EQ(WTERMSIG(st), SIGABRT);
	CHECK(strstr(out, "report: tide_shrinker_free: called from the "
			  "shrinker's own callback"));
	CHECK(!strstr(out, "returned"));
}

/* ---- OOM loop ------------------------------------------------------------ */

#define OOM_N 40 /* crosses a growth of the live set (64 -> 256 slots) */

static int oom_body(void *arg)
{
	static struct cache c = { .objects = 1000, .refill = true };
	struct tide_shrinker *s[OOM_N];
	int n, err = 0;

	(void)arg;
	for (n = 0; n < OOM_N; n++) {
		s[n] = tide_shrinker_alloc("oom");
		if (!s[n]) {
			CHECK_EQ(errno, ENOMEM);
			err = -ENOMEM;
			break;
		}
		tide_shrinker_set_seeks(s[n], 1);
		tide_shrinker_register(s[n], &cache_ops, &c);
	}
	CHECK_EQ(registered(), n);
	if (!err)
		CHECK_UEQ(tide_shrink(0, 0), 15 * 128 * OOM_N);
	while (n--)
		tide_shrinker_free(s[n]);
	CHECK_EQ(registered(), 0);
	return err;
}

TEST(oom_loop_over_alloc_register_free)
{
	CHECK_CMP(th_oom_loop("shrinker alloc/register/free", oom_body, NULL),
		  >=, 4);
}

/* ---- direct reclaim ------------------------------------------------------ */

static atomic_bool gate_open;
static atomic_int hook_mallocs;
static struct tide__os_hooks failing_hooks;

/* malloc that fails until a shrinker has freed something. */
static void *gated_malloc(size_t size)
{
	atomic_fetch_add(&hook_mallocs, 1);
	if (!atomic_load(&gate_open)) {
		errno = ENOMEM;
		return NULL;
	}
	return malloc(size);
}

static void install_gate(void)
{
	failing_hooks = tide__os_default_hooks;
	failing_hooks.malloc = gated_malloc;
	atomic_store(&gate_open, false);
	atomic_store(&hook_mallocs, 0);
	tide__os_set_hooks(&failing_hooks);
}

static unsigned long gate_scan(void *priv, struct tide_shrink_control *sc)
{
	unsigned long n = cache_scan(priv, sc);

	if (n && n != TIDE_SHRINK_STOP)
		atomic_store(&gate_open, true);
	return n;
}

static const struct tide_shrinker_ops gate_ops = { cache_count, gate_scan };

TEST(failed_allocation_runs_passes_from_12_down_until_one_frees)
{
	static struct cache c = { .objects = 10000 };
	struct tide_shrinker *s = tide_shrinker_alloc("gate");
	static const int want[] = { 12, 11, 10, 9, 8, 7 };
	void *p;

	tide_shrinker_register(s, &gate_ops, &c);
	install_gate();
	/*
	 * count 10000, seeks 2; nr carries between passes:
	 *  12: delta = 2 * 2 = 4,   total 0 + 4 = 4: no scan, nr 4
	 *  11: delta = 4 * 2 = 8,   total 0 + 8: no scan, nr 12
	 *  10: delta = 9 * 2 = 18,  total 0 + 18: no scan, nr 30
	 *   9: delta = 19 * 2 = 38, total 0 + 38: no scan, nr 68
	 *   8: delta = 39 * 2 = 78, total 0 + 78: no scan, nr 146
	 *   7: delta = 78 * 2 = 156, total (146 >> 7) + 156 = 157: one scan
	 *      of 128, which frees: the retry succeeds.  nr = 146 + 156 - 128
	 *      = 174.
	 */
	p = tide_kvmalloc(100, 0);
	tide__os_set_hooks(NULL);
	CHECK(p);
	CHECK_EQ(c.ncount, 6);
	for (int i = 0; i < 6; i++)
		CHECK_EQ(c.count_prio[i], want[i]);
	CHECK_EQ(c.nscan, 1);
	CHECK_EQ(c.scan_prio[0], 7);
	CHECK_UEQ(c.nr_to_scan[0], 128);
	CHECK_EQ(atomic_load(&hook_mallocs), 7); /* first try + 6 retries */
	CHECK_UEQ(info_of("gate").nr_deferred, 174);
	tide_kvfree(p);
	tide_shrinker_free(s);
}

TEST(failed_allocation_fails_after_the_priority_0_pass)
{
	static struct cache c = { .objects = 10000, .scan_ret = 0 };
	struct tide_shrinker *s = tide_shrinker_alloc("nofree");

	/* cache_scan frees but gate_ops is not used: the gate stays shut. */
	tide_shrinker_register(s, &cache_ops, &c);
	install_gate();
	errno = 0;
	CHECK(!tide_kvmalloc(100, TIDE_NOIO));
	tide__os_set_hooks(NULL);
	CHECK_EQ(errno, ENOMEM);
	CHECK_EQ(c.ncount, 13); /* priorities 12 .. 0 */
	CHECK_EQ(c.count_prio[12], 0);
	CHECK_UEQ(c.scan_flags, TIDE_NOIO); /* the caller's context */
	CHECK_EQ(atomic_load(&hook_mallocs), 14);
	tide_shrinker_free(s);
}

TEST(noreclaim_allocation_runs_no_pass)
{
	static struct cache c = { .objects = 10000 };
	struct tide_shrinker *s = tide_shrinker_alloc("noreclaim");

	tide_shrinker_register(s, &gate_ops, &c);
	install_gate();
	errno = 0;
	CHECK(!tide_kvmalloc(100, TIDE_NORECLAIM));
	tide__os_set_hooks(NULL);
	CHECK_EQ(errno, ENOMEM);
	CHECK_EQ(c.ncount, 0);
	CHECK_EQ(atomic_load(&hook_mallocs), 1);
	tide_shrinker_free(s);
}

static int nested_counts;
static void *nested_result = (void *)1;
static unsigned long nested_count(void *priv, struct tide_shrink_control *sc)
{
	(void)priv;
	(void)sc;
	nested_counts++;
	return 1000;
}
static unsigned long nested_scan(void *priv, struct tide_shrink_control *sc)
{
	(void)priv;
	(void)sc;
	/* Without TIDE_NORECLAIM on purpose: reclaim must not recurse. */
	nested_result = tide_kvmalloc(100, 0);
	CHECK_UEQ(tide_shrink(0, 0), 0);
	CHECK_UEQ(tide_drop_caches(), 0);
	return TIDE_SHRINK_STOP;
}

TEST(allocation_inside_a_callback_starts_no_nested_reclaim)
{
	static const struct tide_shrinker_ops ops = { nested_count,
						      nested_scan };
	struct tide_shrinker *s = tide_shrinker_alloc("nested");

	tide_shrinker_register(s, &ops, NULL);
	install_gate();
	/* Priority 0: the scan runs and its own allocation fails at once. */
	CHECK_UEQ(tide__direct_reclaim(0, 0), 0);
	tide__os_set_hooks(NULL);
	CHECK(!nested_result);
	CHECK_EQ(nested_counts, 1);
	CHECK_EQ(atomic_load(&hook_mallocs), 1);
	tide_shrinker_free(s);
}

/* ---- concurrency --------------------------------------------------------- */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

#define SLOW_MS 400

struct slow {
	atomic_int inside, max_inside, entered;
	atomic_bool done;
};

static unsigned long slow_count(void *priv, struct tide_shrink_control *sc)
{
	(void)priv;
	(void)sc;
	return 1000;
}

static unsigned long slow_scan(void *priv, struct tide_shrink_control *sc)
{
	struct slow *w = priv;
	int in = atomic_fetch_add(&w->inside, 1) + 1;
	int m = atomic_load(&w->max_inside);

	(void)sc;
	while (in > m && !atomic_compare_exchange_weak(&w->max_inside, &m, in))
		;
	atomic_fetch_add(&w->entered, 1);
	usleep(SLOW_MS * 1000);
	atomic_fetch_sub(&w->inside, 1);
	atomic_store(&w->done, true);
	return TIDE_SHRINK_STOP;
}

static const struct tide_shrinker_ops slow_ops = { slow_count, slow_scan };

static void *shrink_thread(void *arg)
{
	(void)arg;
	tide_shrink(0, 0);
	return NULL;
}

static void wait_entered(struct slow *w, int n)
{
	double t0 = now_ms();

	while (atomic_load(&w->entered) < n) {
		if (now_ms() - t0 > 10000)
			FAIL("slow scan never entered");
		usleep(1000);
	}
}

TEST(free_waits_for_its_own_running_callback)
{
	static struct slow w;
	struct tide_shrinker *s = tide_shrinker_alloc("slow");
	pthread_t t;
	double t0;

	tide_shrinker_register(s, &slow_ops, &w);
	CHECK_EQ(pthread_create(&t, NULL, shrink_thread, NULL), 0);
	wait_entered(&w, 1);
	t0 = now_ms();
	tide_shrinker_free(s);
	/* The callback had finished when free returned. */
	CHECK(atomic_load(&w.done));
	CHECK_EQ(atomic_load(&w.inside), 0);
	th_note("free waited %.1f ms for a %d ms scan", now_ms() - t0, SLOW_MS);
	CHECK_CMP(now_ms() - t0, >=, SLOW_MS / 2);
	pthread_join(t, NULL);
}

TEST(free_and_register_do_not_wait_for_other_shrinkers_callbacks)
{
	static struct slow w;
	static struct cache c = { .objects = 1000, .refill = true };
	struct tide_shrinker *slow = tide_shrinker_alloc("slow");
	struct tide_shrinker *after, *fresh, *before;
	double t0, reg_ms, free_ms, free_before_ms;
	pthread_t t;

	before = add_cache("before", &c);
	tide_shrinker_register(slow, &slow_ops, &w);
	after = add_cache("after", &c);
	CHECK_EQ(pthread_create(&t, NULL, shrink_thread, NULL), 0);
	wait_entered(&w, 1);

	t0 = now_ms();
	fresh = add_cache("fresh", &c);
	reg_ms = now_ms() - t0;
	t0 = now_ms();
	tide_shrinker_free(after);
	tide_shrinker_free(fresh);
	free_ms = now_ms() - t0;
	t0 = now_ms();
	tide_shrinker_free(before);
	free_before_ms = now_ms() - t0;
	CHECK(!atomic_load(&w.done));
	th_note("during a %d ms scan: alloc+register %.3f ms, 2 frees %.3f "
		"ms, free of an earlier one %.3f ms",
		SLOW_MS, reg_ms, free_ms, free_before_ms);
	CHECK_CMP(reg_ms, <, SLOW_MS / 4);
	CHECK_CMP(free_ms, <, SLOW_MS / 4);
	CHECK_CMP(free_before_ms, <, SLOW_MS / 4);
	pthread_join(t, NULL);
	tide_shrinker_free(slow);
}

/*
 * A pass waits in a scan while the registry below it is compacted: it
 * goes on from the same shrinker, calls the survivors once each in
 * order, and never calls one freed meanwhile.
 */
TEST(a_walk_keeps_its_place_when_the_registry_is_compacted)
{
	static struct slow w;
	static struct cache c[100], tc;
	static int log[256], len;
	struct tide_shrinker *slow = tide_shrinker_alloc("slow"), *s[100];
	struct tide__os_stats st;
	pthread_t t;

	tide_shrinker_register(slow, &slow_ops, &w);
	for (int i = 0; i < 100; i++) {
		c[i] = (struct cache){ .order_id = i,
				       .order_log = log,
				       .order_len = &len };
		s[i] = add_cache("c", &c[i]);
	}
	CHECK_EQ(pthread_create(&t, NULL, shrink_thread, NULL), 0);
	wait_entered(&w, 1);
	/*
	 * The pass's batch (32 nodes) holds slow and c[0..30]; the next
	 * one starts at c[31].  97 frees leave more holes than 64 and than
	 * live entries: the array is compacted under the walk, then again
	 * while 300 shrinkers come and go.
	 */
	for (int i = 0; i < 100; i++)
		if (i != 10 && i != 50 && i != 99)
			tide_shrinker_free(s[i]);
	for (int i = 0; i < 300; i++)
		tide_shrinker_free(add_cache("tmp", &tc));
	CHECK(!atomic_load(&w.done));
	pthread_join(t, NULL);
	CHECK_EQ(len, 3);
	CHECK_EQ(log[0], 10);
	CHECK_EQ(log[1], 50);
	CHECK_EQ(log[2], 99);
	CHECK_EQ(tc.ncount, 0);
	tide_shrinker_free(s[10]);
	tide_shrinker_free(s[50]);
	tide_shrinker_free(s[99]);
	tide_shrinker_free(slow);
	tide__os_stats(&st);
	CHECK_EQ(st.heap_live, 0);
}

TEST(several_threads_shrink_at_once)
{
	static struct slow w;
	struct tide_shrinker *s = tide_shrinker_alloc("shared");
	pthread_t t[2];

	tide_shrinker_register(s, &slow_ops, &w);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, shrink_thread, NULL), 0);
	wait_entered(&w, 2);
	/* Both passes are inside the same callback at the same time. */
	CHECK_EQ(atomic_load(&w.max_inside), 2);
	tide_shrinker_free(s);
	CHECK_EQ(atomic_load(&w.inside), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
}

/*
 * The address a handle names, its generation stripped: bits 48..63 on
 * 64-bit, the low 3 bits on 32-bit (docs/shrinker.md).
 */
static uintptr_t handle_addr(const struct tide_shrinker *h)
{
#if UINTPTR_MAX > 0xffffffffu
	return (uintptr_t)h & 0xffffffffffffULL;
#else
	return (uintptr_t)h & ~(uintptr_t)7;
#endif
}

TEST(stale_double_free_of_a_reused_address_is_reported)
{
	static struct cache c = { .objects = 10 };
	struct tide_shrinker *a = NULL, *b = NULL;
	bool reused = false;

	tide_set_error_handler(count_report, NULL);
	/* malloc hands a freed block of the same size back at once. */
	for (int i = 0; i < 1000 && !reused; i++) {
		a = tide_shrinker_alloc("stale");
		tide_shrinker_free(a);
		b = add_cache("live", &c);
		reused = handle_addr(a) == handle_addr(b);
		if (!reused)
			tide_shrinker_free(b);
	}
	if (!reused)
		SKIP("malloc never reused the address (a quarantine?)");
	/* Same memory, different handles: the stale one is not live. */
	CHECK(a != b);
	tide_shrinker_free(a);
	CHECK_EQ(reports, 1);
	/* b is untouched: still registered and scanned. */
	CHECK_UEQ(tide_shrink(0, 0), 10);
	CHECK_UEQ(info_of("live").freed, 10);
	tide_shrinker_free(b);
	CHECK_EQ(reports, 1);
}

/* ---- every pass ends (issue 13) --------------------------------------- */

/* tide_drop_caches() runs at most this many passes (shrinker/pass.c). */
#define DROP_PASSES 16

TEST(lying_shrinker_pass_is_bounded_and_drop_caches_ends)
{
	/* Reports every object freed, frees nothing: the count stays. */
	static struct cache c = { .objects = 1000, .refill = true };
	struct tide_shrinker *s = add_cache("liar", &c);

	/*
	 * One pass: total 2000, 15 full batches (1920), 80 left < 128 and
	 * < 1000: 15 calls, 1920 "freed".
	 */
	CHECK_UEQ(tide_shrink(0, 0), 1920);
	CHECK_EQ(c.nscan, 15);
	/* Every pass "frees": drop_caches stops after DROP_PASSES passes. */
	c.nscan = c.ncount = 0;
	CHECK_UEQ(tide_drop_caches(), 1920ULL * DROP_PASSES);
	CHECK_EQ(c.ncount, DROP_PASSES);
	CHECK_EQ(c.nscan, 15 * DROP_PASSES);
	tide_shrinker_free(s);
}

TEST(liar_that_looks_at_one_object_per_call_is_bounded)
{
	/* Says it looked at 1 object and freed 128, every time. */
	static struct cache c = { .objects = 1000,
				  .refill = true,
				  .scan_looked = 1,
				  .scan_ret = 128 };
	struct tide_shrinker *s = add_cache("liar1", &c);

	/* total 2000 would take 2000 calls; the bound is 2000/128+1 = 16. */
	CHECK_UEQ(tide_shrink(0, 0), 16 * 128);
	CHECK_EQ(c.nscan, 16);
	CHECK_UEQ(info_of("liar1").scanned, 16);
	/* The rest (2000 - 16) is owed to the next pass, clamped to 2000. */
	CHECK_UEQ(info_of("liar1").nr_deferred, 1984);
	tide_shrinker_free(s);
}

TEST(negative_count_with_a_scan_freeing_nothing_ends_in_one_call)
{
	/* A signed counter gone negative; the scan has nothing to free. */
	static struct cache c = { .count_ret = (unsigned long)-22 };
	struct tide_shrinker *s = add_cache("negative", &c);

	/*
	 * Clamped to TIDE_COUNT_MAX (total 2^64 - 2), but the first scan
	 * looks at all 128 and frees 0: the shrinker's loop ends.
	 */
	CHECK_UEQ(tide_drop_caches(), 0);
	CHECK_EQ(c.ncount, 1);
	CHECK_EQ(c.nscan, 1);
	CHECK_UEQ(c.nr_to_scan[0], 128);
	CHECK_UEQ(tide_shrink(0, 0), 0);
	CHECK_EQ(c.nscan, 2);
	tide_shrinker_free(s);
}

TEST(scan_returning_0_forever_is_called_once_per_pass)
{
	static struct cache c = { .count_ret = 1000 }; /* objects 0 */
	struct tide_shrinker *s = add_cache("zero", &c);

	CHECK_UEQ(tide_drop_caches(), 0);
	CHECK_EQ(c.ncount, 1);
	CHECK_EQ(c.nscan, 1);
	for (int i = 0; i < 5; i++)
		CHECK_UEQ(tide_shrink(0, 0), 0);
	CHECK_EQ(c.nscan, 6);
	tide_shrinker_free(s);
}

static unsigned long whole_scan(void *priv, struct tide_shrink_control *sc)
{
	struct cache *c = priv;
	unsigned long n = c->objects;

	c->nr_to_scan[c->nscan++] = sc->nr_to_scan;
	c->objects = 0; /* drops everything, like sqlite3_db_release_memory */
	return n;
}

static const struct tide_shrinker_ops whole_ops = { cache_count, whole_scan };

TEST(whole_cache_scan_counts_as_freed_and_ends_the_loop)
{
	static struct cache c = { .objects = 1000 };
	struct tide_shrinker *s = tide_shrinker_alloc("whole");

	tide_shrinker_register(s, &whole_ops, &c);
	/* Pass 1: one call of 128 frees 1000; pass 2: count EMPTY. */
	CHECK_UEQ(tide_drop_caches(), 1000);
	CHECK_EQ(c.nscan, 1);
	CHECK_UEQ(c.nr_to_scan[0], 128);
	CHECK_EQ(c.ncount, 2);
	CHECK_UEQ(info_of("whole").freed, 1000);
	tide_shrinker_free(s);
}

/*
 * A cache counted in pages whose objects are 3 pages each, freed while
 * fewer than nr_to_scan pages are freed (docs/shrinker.md's own pattern):
 * every scan frees 129 or 130 of the 128 asked.  That used to end the
 * shrinker's loop as if the scan had dropped the whole cache: a pass freed
 * one batch, tide_drop_caches() 2064 of 30000 pages in 16 passes.  The
 * overshoot now counts against the pass's work, and only a scan that freed
 * at least the whole count ends the loop.
 */
struct big_objects {
	unsigned long pages, per, calls;
};

static unsigned long big_count(void *priv, struct tide_shrink_control *sc)
{
	struct big_objects *b = priv;

	return b->pages ? b->pages : TIDE_SHRINK_EMPTY;
}

static unsigned long big_scan(void *priv, struct tide_shrink_control *sc)
{
	struct big_objects *b = priv;
	unsigned long freed = 0;

	b->calls++;
	while (freed < sc->nr_to_scan && b->pages) {
		freed += b->per;
		b->pages -= b->per;
	}
	return freed;
}

TEST(scans_freeing_whole_objects_past_nr_to_scan_go_on)
{
	static const struct tide_shrinker_ops ops = { big_count, big_scan };
	struct big_objects b = { .pages = 30000, .per = 3 };
	struct tide_shrinker *s = tide_shrinker_alloc("big-objects");

	tide_shrinker_register(s, &ops, &b);
	/*
	 * One pass at priority 0: total = min(0 + 30000 * 4 / 2, 2 * 30000)
	 * = 60000.  Every call frees 129 (43 objects), so 232 calls free
	 * 29928, the 233rd the last 72, and the 234th finds nothing, which
	 * ends the loop.
	 */
	CHECK_UEQ(tide_shrink(0, 0), 30000);
	CHECK_UEQ(b.pages, 0);
	CHECK_UEQ(b.calls, 234);
	b.pages = 30000;
	b.calls = 0;
	CHECK_UEQ(tide_drop_caches(), 30000);
	CHECK_UEQ(b.pages, 0);
	tide_shrinker_free(s);
}

/*
 * A cache of objects of 2 * batch pages and more (1 MiB and 4 MiB
 * responses counted in pages): every scan frees one whole object, twice
 * nr_to_scan or more.  Up to 0.2.6 that was taken as a whole-cache scan
 * that ended the shrinker's pass, so tide_drop_caches() freed one object
 * per pass, 16 of 100 (a user trial's proxy kept 17063 pages after
 * `tidectl drop`).  Such a scan now counts as that much of the pass's
 * work, and the loop goes on until the cache is empty.
 */
TEST(drop_frees_every_object_of_twice_a_batch_and_more)
{
	static const struct tide_shrinker_ops ops = { big_count, big_scan };
	static const unsigned long per[] = { 256, 1024 };

	for (size_t i = 0; i < 2; i++) {
		struct big_objects b = { .pages = 100 * per[i], .per = per[i] };
		struct tide_shrinker *s = tide_shrinker_alloc("big-objects");

		tide_shrinker_register(s, &ops, &b);
		/*
		 * Pass 1 at priority 0: total = 2 * count; each call frees
		 * one object and that much of the total, so 100 calls free
		 * all; the 101st finds nothing.  Pass 2: count EMPTY.
		 */
		CHECK_UEQ(tide_drop_caches(), 100 * per[i]);
		CHECK_UEQ(b.pages, 0);
		CHECK_UEQ(b.calls, 101);
		CHECK_UEQ(info_of("big-objects").freed, 100 * per[i]);
		tide_shrinker_free(s);
	}
}

/*
 * docs/shrinker.md's SQLite example counts memory in use, which never gets
 * to 0: its one release frees less than the count but far more than it was
 * asked.  That counts as the pass's work, and the next call, which finds
 * nothing to release, ends the loop: two calls a pass.  (Up to 0.2.6 twice
 * nr_to_scan ended the loop at once, which also ended it for the caches
 * of big objects above.)
 */
struct release_all {
	unsigned long count, releasable, calls;
};

static unsigned long release_count(void *priv, struct tide_shrink_control *sc)
{
	return ((struct release_all *)priv)->count;
}

static unsigned long release_scan(void *priv, struct tide_shrink_control *sc)
{
	struct release_all *r = priv;
	unsigned long n = r->releasable;

	r->calls++;
	r->releasable = 0;
	r->count -= n;
	return n;
}

TEST(release_of_less_than_the_count_is_two_calls_a_pass)
{
	static const struct tide_shrinker_ops ops = { release_count,
						      release_scan };
	struct release_all r = { .count = 5000, .releasable = 4000 };
	struct tide_shrinker *s = tide_shrinker_alloc("release-all");

	tide_shrinker_register(s, &ops, &r);
	/* total 10000: 4000 released, 6000 left; the second call frees
	 * nothing of the 128 it looked at, which ends the loop */
	CHECK_UEQ(tide_shrink(0, 0), 4000);
	CHECK_UEQ(r.calls, 2);
	CHECK_UEQ(r.count, 1000);
	/* 256 and 255 of 128 asked: the same, two calls each */
	r.releasable = 256;
	CHECK_UEQ(tide_shrink(0, 0), 256);
	CHECK_UEQ(r.calls, 4);
	r.releasable = 255;
	CHECK_UEQ(tide_shrink(0, 0), 255);
	CHECK_UEQ(r.calls, 6);
	tide_shrinker_free(s);
}

static unsigned long order_purges[MAX_CALLS];
static unsigned order_n;

static unsigned long order_scan(void *priv, struct tide_shrink_control *sc)
{
	struct tide_purge_stats st;

	tide_purge_stats(&st);
	order_purges[order_n++] = st.calls;
	return cache_scan(priv, sc);
}

static const struct tide_shrinker_ops order_ops = { cache_count, order_scan };

TEST(drop_caches_scans_the_caches_before_the_one_purge)
{
	static struct cache c[2] = { { .objects = 1000 }, { .objects = 300 } };
	struct tide_shrinker *s[2];
	struct tide_purge_stats st;

	for (int i = 0; i < 2; i++) {
		s[i] = tide_shrinker_alloc(i ? "order1" : "order0");
		tide_shrinker_register(s[i], &order_ops, &c[i]);
	}
	tide_purge_stats(&st);
	CHECK_UEQ(st.calls, 0);
	CHECK_UEQ(tide_drop_caches(), 1300);
	/*
	 * 1000 (total 2000): 8 calls free 7 x 128 + 104, the 9th frees 0 of
	 * 128 and ends the loop; 300 (total 600): 128, 128, 44, then 0.
	 * Then a pass that sees EMPTY twice, then the purge.
	 */
	CHECK_EQ(order_n, 13);
	for (unsigned i = 0; i < order_n; i++)
		CHECK_UEQ(order_purges[i], 0);
	tide_purge_stats(&st);
	CHECK_UEQ(st.calls, 1);
	CHECK_EQ(c[0].ncount, 2);
	for (int i = 0; i < 2; i++)
		tide_shrinker_free(s[i]);
}

/* ---- tide__shrink_share -------------------------------------------------- */

TEST(shrink_share_asks_every_shrinker_for_its_share)
{
	static struct cache c[3] = { { .objects = 1000 },
				     { .objects = 1001 },
				     { .objects = 10 } };
	struct tide_shrinker *s[3];

	for (int i = 0; i < 3; i++) {
		char name[8] = "share0";

		name[5] = (char)('0' + i);
		s[i] = add_cache(name, &c[i]);
	}
	/*
	 * Priority 12 asks for nothing (1000 >> 12 = 0); a quarter: 250
	 * (128 + 122), ceil(1001 / 4) = 251 (128 + 123), ceil(10 / 4) = 3.
	 */
	CHECK_UEQ(tide__shrink_share(12, 0, 4), 250 + 251 + 3);
	CHECK_EQ(c[0].nscan, 2);
	CHECK_UEQ(c[0].nr_to_scan[0], 128);
	CHECK_UEQ(c[0].nr_to_scan[1], 122);
	CHECK_UEQ(c[1].nr_to_scan[1], 123);
	CHECK_EQ(c[2].nscan, 1);
	CHECK_UEQ(c[2].nr_to_scan[0], 3);
	CHECK_UEQ(c[0].objects, 750);
	CHECK_UEQ(c[1].objects, 750);
	CHECK_UEQ(c[2].objects, 7);
	/* More than delta was scanned: nothing deferred. */
	CHECK_UEQ(info_of("share0").nr_deferred, 0);

	/* Divisor 1: everything each counts (750: 5 x 128 + 110). */
	CHECK_UEQ(tide__shrink_share(12, 0, 1), 750 + 750 + 7);
	CHECK_EQ(c[0].nscan, 2 + 6);
	CHECK_UEQ(c[0].nr_to_scan[7], 110);
	for (int i = 0; i < 3; i++)
		CHECK_UEQ(c[i].objects, 0);

	/* Divisor 0: exactly tide_shrink(12): nothing for small caches. */
	c[0].objects = 1000;
	c[0].nscan = 0;
	CHECK_UEQ(tide__shrink_share(12, 0, 0), 0);
	CHECK_EQ(c[0].nscan, 0);
	for (int i = 0; i < 3; i++)
		tide_shrinker_free(s[i]);
}

TEST(shrink_share_never_asks_below_the_priority_arithmetic)
{
	static struct cache c = { .objects = 1000 };
	struct tide_shrinker *s = add_cache("share-p0", &c);

	/*
	 * Priority 0 already asks for 2000 > 250: the normal pass, 8 calls
	 * free 1000, a 9th frees nothing and ends it.
	 */
	CHECK_UEQ(tide__shrink_share(0, 0, 4), 1000);
	CHECK_EQ(c.nscan, 9);
	tide_shrinker_free(s);
}

/* ---- tide__shrink_to ------------------------------------------------------ */

TEST(shrink_to_stops_between_scans_once_the_target_is_freed)
{
	static struct cache a = { .objects = 1000 }, b = { .objects = 1000 };
	struct tide_shrinker *sa = add_cache("to-a", &a);
	struct tide_shrinker *sb = add_cache("to-b", &b);
	struct tide__os_stats st;

	tide_shrinker_set_seeks(sa, 0);
	tide_shrinker_set_seeks(sb, 0);
	/*
	 * seeks 0: 500 asked of each; target 200: a scans 128, 128 (256 >=
	 * 200) and stops; b is not asked; a defers the 244 it did not scan.
	 */
	CHECK_UEQ(tide__shrink_to(12, 0, 200), 256);
	CHECK_EQ(a.nscan, 2);
	CHECK_EQ(b.nscan, 0);
	CHECK_UEQ(a.objects, 744);
	CHECK_UEQ(info_of("to-a").nr_deferred, 500 - 256);
	/* Target 0: no bound, exactly tide_shrink(): a is asked for
	 * (244 >> 12) + 744 / 2 = 372 (128, 128; 116 left), b for 500
	 * (3 x 128). */
	CHECK_UEQ(tide__shrink_to(12, 0, 0), 256 + 384);
	CHECK_EQ(a.nscan, 4);
	CHECK_EQ(b.nscan, 3);
	/* A pass stopped at its target let go of its batch. */
	CHECK_UEQ(tide__shrink_to(12, 0, 1), 128);
	CHECK_EQ(a.nscan, 5);
	tide_shrinker_free(sa);
	tide_shrinker_free(sb);
	tide__os_stats(&st);
	CHECK_EQ(st.heap_live, 0);
}

/* The shrinker being freed stops its loop between two calls. */
struct endless {
	sem_t started, freed;
	atomic_int after_ran;
	atomic_ulong calls;
};

static struct endless endless;

static unsigned long endless_count(void *priv, struct tide_shrink_control *sc)
{
	(void)priv;
	(void)sc;
	return (unsigned long)-22;
}

static unsigned long endless_scan(void *priv, struct tide_shrink_control *sc)
{
	(void)priv;
	/* Lies: "freed" all it was asked, so nothing ends the loop. */
	if (atomic_fetch_add(&endless.calls, 1) == 0)
		sem_post(&endless.started);
	return sc->nr_to_scan;
}

static unsigned long after_count(void *priv, struct tide_shrink_control *sc)
{
	(void)priv;
	(void)sc;
	return 1;
}

static unsigned long after_scan(void *priv, struct tide_shrink_control *sc)
{
	struct timespec ts;

	(void)priv;
	(void)sc;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 60;
	/* The pass is still running here: free must have returned first. */
	if (sem_timedwait(&endless.freed, &ts))
		FAIL("tide_shrinker_free did not return during the pass");
	atomic_store(&endless.after_ran, 1);
	return 1;
}

static void *pass_thread(void *arg)
{
	(void)arg;
	tide_shrink(0, 0);
	return NULL;
}

TEST(free_of_an_endless_shrinker_returns_while_the_pass_runs)
{
	static const struct tide_shrinker_ops eops = { endless_count,
						       endless_scan };
	static const struct tide_shrinker_ops aops = { after_count,
						       after_scan };
	struct tide_shrinker *e = tide_shrinker_alloc("endless");
	struct tide_shrinker *a = tide_shrinker_alloc("after");
	unsigned long calls;
	pthread_t t;

	sem_init(&endless.started, 0, 0);
	sem_init(&endless.freed, 0, 0);
	tide_shrinker_register(e, &eops, NULL);
	tide_shrinker_register(a, &aops, NULL);
	CHECK_EQ(pthread_create(&t, NULL, pass_thread, NULL), 0);
	sem_wait(&endless.started);
	/* ~2^57 calls are due; free waits only for the one in flight. */
	tide_shrinker_free(e);
	calls = atomic_load(&endless.calls);
	sem_post(&endless.freed);
	pthread_join(t, NULL);
	CHECK_EQ(atomic_load(&endless.after_ran), 1);
	/* No call started after free returned. */
	CHECK_UEQ(atomic_load(&endless.calls), calls);
	th_note("endless shrinker made %lu calls before free stopped it",
		calls);
	tide_shrinker_free(a);
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
	  T(foreach_stops_on_nonzero_and_returns_it),
	  T(foreach_function_may_free_the_shown_shrinker),
	  T(alloc_rejects_a_null_name),
	  T(register_rejects_null_ops_and_callbacks),
	  T(register_twice_is_reported_and_ignored),
	  T(double_free_is_reported_and_ignored),
	  T(free_of_an_unregistered_shrinker_works),
	  T(free_from_own_callback_is_reported_and_aborts),
	  T(oom_loop_over_alloc_register_free),
	  T(failed_allocation_runs_passes_from_12_down_until_one_frees),
	  T(failed_allocation_fails_after_the_priority_0_pass),
	  T(noreclaim_allocation_runs_no_pass),
	  T(allocation_inside_a_callback_starts_no_nested_reclaim),
	  T(free_waits_for_its_own_running_callback),
	  T(free_and_register_do_not_wait_for_other_shrinkers_callbacks),
	  T(a_walk_keeps_its_place_when_the_registry_is_compacted),
	  T(several_threads_shrink_at_once),
	  T(lying_shrinker_pass_is_bounded_and_drop_caches_ends),
	  T(liar_that_looks_at_one_object_per_call_is_bounded),
	  T(negative_count_with_a_scan_freeing_nothing_ends_in_one_call),
	  T(scan_returning_0_forever_is_called_once_per_pass),
	  T(whole_cache_scan_counts_as_freed_and_ends_the_loop),
	  T(scans_freeing_whole_objects_past_nr_to_scan_go_on),
	  T(drop_frees_every_object_of_twice_a_batch_and_more),
	  T(release_of_less_than_the_count_is_two_calls_a_pass),
	  T(drop_caches_scans_the_caches_before_the_one_purge),
	  T(shrink_share_asks_every_shrinker_for_its_share),
	  T(shrink_share_never_asks_below_the_priority_arithmetic),
	  T(shrink_to_stops_between_scans_once_the_target_is_freed),
	  T(free_of_an_endless_shrinker_returns_while_the_pass_runs),
	  T(stale_double_free_of_a_reused_address_is_reported))
