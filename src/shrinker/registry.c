// SPDX-License-Identifier: MIT
/*
 * shrinker/registry.c - the shrinker registry: handles, the set of live
 * shrinkers, the array in registration order (shrinker.h has the design);
 * tide_shrinker_alloc, tide_shrinker_set_seeks, tide_shrinker_set_batch,
 * tide_shrinker_register.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <tide/shrinker.h>

#include "internal.h"
#include "shrinker/shrinker.h"

#define SET_MIN_CAP 64

struct shrinker_reg tide__shr_reg = {
#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
	/* Holds are a few hundred ns: spinning beats sleeping in a futex. */
	.lock = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP,
#else
	.lock = PTHREAD_MUTEX_INITIALIZER,
#endif
	.idle = PTHREAD_COND_INITIALIZER,
};

static char set_tomb;
#define TOMB ((struct tide_shrinker *)&set_tomb)

/* ---- handles -------------------------------------------------------- */

/*
 * A fresh handle for node @s, under reg.lock: bit 63 set, a 15-bit
 * generation in bits 48..62.  An address above 2^48 (5-level paging) or a
 * 32-bit one has no room there: it carries a 3-bit generation in its low
 * bits, which the node's alignment leaves clear (bit 63 clear).
 */
static struct tide_shrinker *handle_of(struct tide_shrinker *s)
{
	uint64_t a = (uint64_t)(uintptr_t)s, gen = ++tide__shr_reg.gen;

	if (UINTPTR_MAX <= ADDR_MASK || (a & ~ADDR_MASK))
		return (struct tide_shrinker *)(uintptr_t)(a | (gen & LOW_TAG));
	return (struct tide_shrinker *)(uintptr_t)(a | TAGGED |
						   (gen & 0x7fff) << TAG_SHIFT);
}

/* ---- the set of live shrinkers (under reg.lock) --------------------- */

static size_t set_hash(const struct tide_shrinker *s)
{
	uint64_t x = (uint64_t)(uintptr_t)s;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (size_t)x;
}

size_t tide__shr_set_find(const struct tide_shrinker *s)
{
	size_t mask = tide__shr_reg.set_cap - 1;

	if (!tide__shr_reg.set_cap)
		return SIZE_MAX;
	for (size_t i = set_hash(s) & mask;; i = (i + 1) & mask) {
		if (tide__shr_reg.set[i] == s)
			return i;
		if (!tide__shr_reg.set[i])
			return SIZE_MAX;
	}
}

static bool set_contains(const struct tide_shrinker *s)
{
	return tide__shr_set_find(s) != SIZE_MAX;
}

static void set_put(struct tide_shrinker **tab, size_t cap,
		    struct tide_shrinker *s)
{
	size_t i = set_hash(s) & (cap - 1);

	while (tab[i])
		i = (i + 1) & (cap - 1);
	tab[i] = s;
}

/*
 * Keep the table at most half full (tombstones included).  @s is fresh, so
 * not in the set: the first tombstone on its probe path can take it, which
 * keeps a churning program (malloc hands back the same address) from
 * growing a run of tombstones.
 */
static int set_insert(struct tide_shrinker *s)
{
	struct tide_shrinker **tab;
	size_t cap = SET_MIN_CAP, mask, i;

	if ((tide__shr_reg.set_used + 1) * 2 > tide__shr_reg.set_cap) {
		while (cap < (tide__shr_reg.set_count + 1) * 4)
			cap *= 2;
		tab = tide__os_calloc(cap, sizeof(*tab));
		if (!tab)
			return -ENOMEM;
		for (i = 0; i < tide__shr_reg.set_cap; i++)
			if (tide__shr_reg.set[i] &&
			    tide__shr_reg.set[i] != TOMB)
				set_put(tab, cap, tide__shr_reg.set[i]);
		tide__os_free(tide__shr_reg.set);
		tide__shr_reg.set = tab;
		tide__shr_reg.set_cap = cap;
		tide__shr_reg.set_used = tide__shr_reg.set_count;
	}
	mask = tide__shr_reg.set_cap - 1;
	for (i = set_hash(s) & mask;
	     tide__shr_reg.set[i] && tide__shr_reg.set[i] != TOMB;
	     i = (i + 1) & mask)
		;
	if (!tide__shr_reg.set[i])
		tide__shr_reg.set_used++;
	tide__shr_reg.set[i] = s;
	tide__shr_reg.set_count++;
	return 0;
}

void tide__shr_set_remove(size_t i)
{
	tide__shr_reg.set[i] = TOMB;
	if (--tide__shr_reg.set_count)
		return;
	/* Empty: give the table back, so an idle registry holds nothing. */
	tide__os_free(tide__shr_reg.set);
	tide__shr_reg.set = NULL;
	tide__shr_reg.set_cap = tide__shr_reg.set_used = 0;
}

/* ---- the registry array (under reg.lock) --------------------------- */

/* reg.arr holds at least @need slots (a new shrinker's is reserved). */
static int arr_reserve_locked(size_t need)
{
	struct tide_shrinker **a;
	size_t cap = ARR_MIN_CAP;

	if (need <= tide__shr_reg.cap)
		return 0;
	/* A small registry uses reg.small: no allocation comes and goes. */
	if (!tide__shr_reg.cap && need <= ARR_MIN_CAP) {
		tide__shr_reg.arr = tide__shr_reg.small;
		tide__shr_reg.cap = ARR_MIN_CAP;
		return 0;
	}
	while (cap < need) {
		if (cap > SIZE_MAX / 2 / sizeof(*a))
			return -ENOMEM;
		cap *= 2;
	}
	if (tide__shr_reg.arr == tide__shr_reg.small) {
		a = tide__os_malloc(cap * sizeof(*a));
		if (a)
			memcpy(a, tide__shr_reg.small,
			       tide__shr_reg.len * sizeof(*a));
	} else {
		a = tide__os_realloc(tide__shr_reg.arr, cap * sizeof(*a));
	}
	if (!a)
		return -ENOMEM;
	tide__shr_reg.arr = a;
	tide__shr_reg.cap = cap;
	return 0;
}

/* The index that @i becomes when reg.arr is compacted. */
static size_t compacted(size_t i)
{
	size_t p = 0;

	for (size_t k = 0; k < i; k++)
		p += tide__shr_reg.arr[k] != NULL;
	return p;
}

/*
 * Squeeze the holes out of reg.arr, keeping the order; every walk's range
 * moves with its nodes.
 */
static void arr_compact_locked(void)
{
	size_t j = 0;

	for (struct walk *w = tide__shr_reg.walks; w; w = w->next) {
		w->start = compacted(w->start);
		w->pos = compacted(w->pos);
	}
	for (size_t i = 0; i < tide__shr_reg.len; i++) {
		struct tide_shrinker *s = tide__shr_reg.arr[i];

		if (!s)
			continue;
		s->idx = j;
		tide__shr_reg.arr[j++] = s;
	}
	tide__shr_reg.len = j;
}

static void arr_append_locked(struct tide_shrinker *s)
{
	/* Full: at least half of it holes (cap >= 2 x live shrinkers). */
	if (tide__shr_reg.len == tide__shr_reg.cap)
		arr_compact_locked();
	s->idx = tide__shr_reg.len;
	tide__shr_reg.arr[tide__shr_reg.len++] = s;
	tide__shr_reg.live++;
}

void tide__shr_arr_remove_locked(struct tide_shrinker *s)
{
	tide__shr_reg.arr[s->idx] = NULL;
	tide__shr_reg.live--;
	/* Amortised: a compaction after as many frees as live entries. */
	if (tide__shr_reg.len - tide__shr_reg.live > ARR_MIN_CAP &&
	    tide__shr_reg.len - tide__shr_reg.live > tide__shr_reg.live)
		arr_compact_locked();
}

/* No live shrinker is left: give the array back (an idle registry). */
void tide__shr_arr_release_locked(void)
{
	if (tide__shr_reg.arr != tide__shr_reg.small)
		tide__os_free(tide__shr_reg.arr);
	tide__shr_reg.arr = NULL;
	tide__shr_reg.cap = tide__shr_reg.len = tide__shr_reg.live = 0;
	for (struct walk *w = tide__shr_reg.walks; w; w = w->next)
		w->start = w->pos = 0;
}

/* ---- public API ------------------------------------------------------ */

struct tide_shrinker *tide_shrinker_alloc(const char *name)
{
	struct tide_shrinker *s, *h;
	size_t len;
	int r;

	if (!name) {
		errno = EINVAL;
		return NULL;
	}
	len = strlen(name);
	if (len > SIZE_MAX - sizeof(*s) - 1) {
		errno = EOVERFLOW;
		return NULL;
	}
	s = tide__os_calloc(1, sizeof(*s) + len + 1);
	if (!s)
		return NULL;
	memcpy(s->name, name, len + 1);
	s->state = SHRINKER_ALLOCATED;
	atomic_init(&s->dead, 0);
	atomic_init(&s->seeks, TIDE_DEFAULT_SEEKS);
	atomic_init(&s->batch, 0);
	atomic_init(&s->nr_deferred, 0);
	atomic_init(&s->calls, 0);
	atomic_init(&s->scanned, 0);
	atomic_init(&s->freed, 0);

	lock();
	h = handle_of(s);
	s->handle = h;
	/*
	 * Its slot in reg.arr, so that registering cannot fail, and as many
	 * again for holes, so that a full array is at least half holes and
	 * compacting it on register costs O(1) per registration.
	 */
	r = arr_reserve_locked(2 * (tide__shr_reg.set_count + 1));
	if (!r)
		r = set_insert(s);
	if (r && !tide__shr_reg.set_count)
		tide__shr_arr_release_locked();
	unlock();
	if (r) {
		tide__os_free(s);
		errno = -r;
		return NULL;
	}
	return h;
}

void tide_shrinker_set_seeks(struct tide_shrinker *h, unsigned seeks)
{
	if (!h) {
		tide__report("tide_shrinker_set_seeks: NULL shrinker", h);
		return;
	}
	atomic_store_explicit(&node_of(h)->seeks, seeks, memory_order_relaxed);
}

void tide_shrinker_set_batch(struct tide_shrinker *h, unsigned long batch)
{
	if (!h) {
		tide__report("tide_shrinker_set_batch: NULL shrinker", h);
		return;
	}
	atomic_store_explicit(&node_of(h)->batch, batch, memory_order_relaxed);
}

void tide_shrinker_register(struct tide_shrinker *h,
			    const struct tide_shrinker_ops *ops, void *priv)
{
	struct tide_shrinker *s = node_of(h);
	const char *err = NULL;

	if (!h || !ops || !ops->count_objects || !ops->scan_objects) {
		tide__report("tide_shrinker_register: NULL shrinker or "
			     "callbacks",
			     h);
		return;
	}
	lock();
	if (!set_contains(s) || s->handle != h) {
		err = "tide_shrinker_register: not a live shrinker";
	} else if (s->state != SHRINKER_ALLOCATED) {
		err = "tide_shrinker_register: registered twice";
	} else {
		s->ops = *ops;
		s->priv = priv;
		arr_append_locked(s);
		s->state = SHRINKER_REGISTERED;
	}
	unlock();
	/* The handler is user code: never call it under the lock. */
	if (err)
		tide__report(err, h);
}
