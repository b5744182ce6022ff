// SPDX-License-Identifier: MIT
/*
 * shrinker/pass.c - reclaim: the count and scan calls, the kernel's
 * do_shrink_slab() arithmetic, the passes over the registry (tide_shrink,
 * tide_drop_caches, direct reclaim and the monitor's passes), and the
 * other walks that call shrinkers: tide_shrinker_scan and
 * tide_shrinker_foreach.  What a pass runs per shrinker is in this file or
 * inline from shrinker.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>

#include <tide/pressure.h>
#include <tide/shrinker.h>

#include "internal.h"
#include "shrinker/shrinker.h"

/* Exact arithmetic for do_shrink_slab: 4 * count overflows a long. */
#if ULONG_MAX < ULLONG_MAX
typedef unsigned long long wide_t;
#else
__extension__ typedef unsigned __int128 wide_t;
#endif

/* tide_drop_caches(): at most this many passes (a cache may lie). */
#define TIDE_DROP_PASSES 16

/* This thread runs shrinker callbacks (a pass, or count/scan calls). */
static _Thread_local bool in_reclaim;

bool tide__in_reclaim(void)
{
	return in_reclaim;
}

/* ---- callbacks ------------------------------------------------------ */

static unsigned long sat_add(unsigned long a, unsigned long b)
{
	return a > ULONG_MAX - b ? ULONG_MAX : a + b;
}

/*
 * The callbacks run with in_reclaim set by the caller: a pass sets it once
 * for all its calls.
 */
static unsigned long call_count(struct tide_shrinker *s,
				struct tide_shrink_control *sc)
{
	unsigned long n = s->ops.count_objects(s->priv, sc);

	if (n == TIDE_SHRINK_STOP) {
		tide__report("tide shrinker: count_objects returned "
			     "TIDE_SHRINK_STOP (treated as 0)",
			     s);
		return 0;
	}
	if (n == TIDE_SHRINK_EMPTY)
		return 0;
	return TIDE__MIN(n, TIDE_COUNT_MAX);
}

/*
 * One scan call: returns the objects freed or TIDE_SHRINK_STOP, and leaves
 * in sc->nr_scanned what the scan looked at (at most sc->nr_to_scan).
 */
static unsigned long call_scan(struct tide_shrinker *s,
			       struct tide_shrink_control *sc)
{
	unsigned long n, want = sc->nr_to_scan;

	n = s->ops.scan_objects(s->priv, sc);
	atomic_fetch_add_explicit(&s->calls, 1, memory_order_relaxed);
	if (n == TIDE_SHRINK_STOP) {
		sc->nr_scanned = 0;
		return n;
	}
	if (n == TIDE_SHRINK_EMPTY) {
		tide__report("tide shrinker: scan_objects returned "
			     "TIDE_SHRINK_EMPTY (treated as 0 freed)",
			     s);
		n = 0;
	}
	n = TIDE__MIN(n, TIDE_COUNT_MAX);
	sc->nr_scanned = TIDE__MIN(sc->nr_scanned, want);
	/*
	 * scanned before freed (release), read in the opposite order
	 * (acquire): a snapshot never shows more freed than scanned.
	 */
	atomic_fetch_add_explicit(&s->scanned, sc->nr_scanned,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&s->freed, n, memory_order_release);
	return n;
}

static unsigned long effective_batch(struct tide_shrinker *s)
{
	unsigned long b = atomic_load_explicit(&s->batch, memory_order_relaxed);

	return b ? b : TIDE_SHRINK_BATCH;
}

static void add_deferred(struct tide_shrinker *s, unsigned long n)
{
	unsigned long old = atomic_load(&s->nr_deferred);

	while (!atomic_compare_exchange_weak(&s->nr_deferred, &old,
					     sat_add(old, n)))
		;
}

static bool dying(struct tide_shrinker *s)
{
	return atomic_load(&s->dead);
}

/*
 * The kernel's do_shrink_slab(): one shrinker, one pass, with a floor of
 * ceil(count / @share_div) objects asked for (tide__shrink_share; 0: none)
 * and these bounds, so
 * that no shrinker holds a pass (or a tide_shrinker_free waiting on it):
 *  - total <= 2 * freeable, and at most total / batch + 1 scan calls (an
 *    honest shrinker never needs more: each call but the last takes a full
 *    batch);
 *  - a scan that looked at everything it was given and freed nothing, or
 *    freed at least the whole count (a whole-cache scan), ends the loop;
 *    one that freed more than it was asked (whole objects of several
 *    units, or a release of everything unused that is less than the count)
 *    counts what it freed as the work done.  A single call cannot tell a
 *    cache of objects of 2 * batch units from one that released all it
 *    could, so the next call does: the first goes on freeing, the second
 *    frees nothing and the loop ends;
 *  - a shrinker being freed stops between two calls.
 */
static unsigned long do_shrink(struct tide_shrinker *s, unsigned long freeable,
			       int priority, unsigned flags,
			       unsigned long share_div, unsigned long budget)
{
	struct tide_shrink_control sc = { .priority = priority,
					  .flags = flags };
	unsigned long nr, batch, freed = 0, min_share = 0;
	wide_t delta, total, scanned = 0, next, calls, work;
	unsigned seeks;

	if (dying(s))
		return 0;
	nr = atomic_exchange(&s->nr_deferred, 0);
	seeks = atomic_load_explicit(&s->seeks, memory_order_relaxed);
	batch = effective_batch(s);

	if (seeks)
		delta = (wide_t)(freeable >> priority) * 4 / seeks;
	else
		delta = freeable / 2;
	total = TIDE__MIN((wide_t)(nr >> priority) + delta,
			  2 * (wide_t)freeable);
	if (share_div)
		min_share = freeable / share_div + !!(freeable % share_div);
	total = TIDE__MAX(total, (wide_t)min_share);
	calls = total / batch + 1;

	while (total &&
	       (total >= batch || total >= freeable || scanned < min_share)) {
		unsigned long ret, n = (unsigned long)TIDE__MIN(batch, total);

		sc.nr_to_scan = sc.nr_scanned = n;
		ret = call_scan(s, &sc);
		if (ret == TIDE_SHRINK_STOP)
			break;
		freed = sat_add(freed, ret);
		/* Freeing past nr_to_scan (whole objects of several
		 * units) is that much of the pass's work done. */
		work = ret > n ? (wide_t)ret : (wide_t)sc.nr_scanned;
		total = work < total ? total - work : 0;
		scanned += work;
		/* Nothing looked at, nothing to free, or the whole cache. */
		if (!sc.nr_scanned || (!ret && sc.nr_scanned == n) ||
		    ret >= freeable)
			break;
		if (!--calls || dying(s))
			break;
		/* The pass's target is met: the rest stays deferred. */
		if (budget && freed >= budget)
			break;
	}

	next = nr + delta > scanned ? nr + delta - scanned : 0;
	add_deferred(s, (unsigned long)TIDE__MIN(next, 2 * (wide_t)freeable));
	return freed;
}

/* ---- passes --------------------------------------------------------- */

bool tide_shrink_may_io(const struct tide_shrink_control *sc)
{
	return sc && !(sc->flags & TIDE_NOIO);
}

static unsigned long shrink_pass(int priority, unsigned flags,
				 unsigned long share_div, unsigned long budget)
{
	unsigned long freed = 0;
	struct tide_shrinker *s;
	struct full_walk fw;
	struct walk *w = &fw.w;

	if (in_reclaim)
		return 0;
	priority = TIDE__MAX(0, TIDE__MIN(priority, TIDE_DEF_PRIORITY));
	in_reclaim = true;
	for (s = tide__shr_walk_first(&fw); s; s = walk_next(w)) {
		struct tide_shrink_control sc = { .priority = priority,
						  .flags = flags };
		unsigned long freeable;

		if (budget && freed >= budget) {
			tide__shr_walk_stop(w);
			in_reclaim = false;
			return freed;
		}
		if (!enter(w, s))
			continue;
		freeable = call_count(s, &sc);
		if (!freeable)
			continue;
		freed = sat_add(freed, do_shrink(s, freeable, priority, flags,
						 share_div,
						 budget ? budget - freed : 0));
	}
	tide__shr_walk_done(w);
	in_reclaim = false;
	return freed;
}

unsigned long tide_shrink(int priority, unsigned flags)
{
	return shrink_pass(priority, flags, 0, 0);
}

unsigned long tide__direct_reclaim(int priority, unsigned flags)
{
	return tide_shrink(priority, flags);
}

unsigned long tide__shrink_share(int priority, unsigned flags,
				 unsigned long share_div)
{
	return shrink_pass(priority, flags, share_div, 0);
}

unsigned long tide__shrink_to(int priority, unsigned flags,
			      unsigned long nr_to_reclaim)
{
	return shrink_pass(priority, flags, 0, nr_to_reclaim);
}

unsigned long tide__drop_caches(unsigned long *ret_purged, bool *ret_measured)
{
	unsigned long freed = 0, pass, purged;
	bool measured = false;
	int n = 0;

	if (in_reclaim) {
		purged = 0;
		goto out;
	}
	do {
		pass = tide_shrink(0, 0);
		freed = sat_add(freed, pass);
	} while (pass && ++n < TIDE_DROP_PASSES);
	/* Last, once: the caches have freed into the allocator by now. */
	purged = tide__purge(&measured);
out:
	if (ret_purged)
		*ret_purged = purged;
	if (ret_measured)
		*ret_measured = measured;
	return freed;
}

unsigned long tide_drop_caches(void)
{
	return tide__drop_caches(NULL, NULL);
}

/* ---- the other walks that call shrinkers ---------------------------- */

unsigned long tide_shrinker_scan(const char *name, unsigned long nr_to_scan)
{
	struct tide_shrink_control sc = { .nr_to_scan = nr_to_scan,
					  .nr_scanned = nr_to_scan };
	struct tide_shrinker *s;
	unsigned long ret = 0;
	struct tide_shrinker *one;
	struct walk w;
	int saved;

	if (!name) {
		errno = EINVAL;
		return 0;
	}
	if (in_reclaim || !nr_to_scan)
		return 0;
	/* A walk of one node: held, and a walker while it is called. */
	s = tide__shr_walk_named(&w, &one, name);
	if (!s) {
		errno = ENOENT;
		return 0;
	}
	/*
	 * errno is ENOENT only for a name that is no shrinker: whatever the
	 * callback left there is not the caller's (tidectl would report a
	 * scan that ran as a missing shrinker).
	 */
	saved = errno;
	if (enter(&w, s)) {
		in_reclaim = true;
		ret = call_scan(s, &sc);
		in_reclaim = false;
	}
	tide__shr_walk_stop(&w);
	errno = saved;
	return ret == TIDE_SHRINK_STOP ? 0 : ret;
}

int tide_shrinker_foreach(int (*fn)(const struct tide_shrinker_info *, void *),
			  void *arg)
{
	struct tide_shrinker *s;
	struct full_walk fw;
	struct walk *w = &fw.w;
	bool was;
	int r;

	if (!fn)
		return -EINVAL;
	for (s = tide__shr_walk_first(&fw); s; s = walk_next(w)) {
		struct tide_shrink_control sc = { 0 };
		struct tide_shrinker_info info = { 0 };

		if (!enter(w, s))
			continue;
		was = in_reclaim;
		in_reclaim = true;
		info.count = call_count(s, &sc);
		in_reclaim = was;
		/* fn is no callback: it may free @s (held, so still valid). */
		tide__shr_walk_idle(w);
		info.name = s->name;
		info.seeks = atomic_load(&s->seeks);
		info.batch = effective_batch(s);
		info.nr_deferred = atomic_load(&s->nr_deferred);
		info.calls = atomic_load(&s->calls);
		info.freed =
			atomic_load_explicit(&s->freed, memory_order_acquire);
		info.scanned =
			atomic_load_explicit(&s->scanned, memory_order_relaxed);
		/* @s stays held: its name is valid while fn runs. */
		r = fn(&info, arg);
		if (r) {
			tide__shr_walk_stop(w);
			return r;
		}
	}
	tide__shr_walk_done(w);
	return 0;
}
