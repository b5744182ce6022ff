// SPDX-License-Identifier: MIT
/*
 * shrinker.c - the shrinker registry and reclaim, mm/shrinker.c for user
 * space.
 *
 * The registry is a doubly linked list in registration order.  One mutex
 * guards the list links, the per-shrinker reference counts and states and
 * the set of live shrinkers; it is held only for pointer hops and
 * bookkeeping, never while a callback runs.  A walker (a reclaim pass,
 * tide_shrinker_foreach) holds a reference on the shrinker whose callbacks
 * it runs; tide_shrinker_free marks the shrinker dead so that walkers skip
 * it, waits until its references are gone and only then unlinks it.  A node
 * a walker holds a reference on therefore stays linked, and the walker can
 * always continue from it.  Freeing waits for that shrinker's own callbacks
 * only; registering waits for nothing but the mutex.
 *
 * The set of live shrinkers (an open-addressing hash set of pointers) lets
 * tide_shrinker_free and tide_shrinker_register recognise a pointer that is
 * not a live shrinker (double free) without reading freed memory.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <tide/shrinker.h>

#include "internal.h"

enum shrinker_state {
	SHRINKER_ALLOCATED = 1, /* allocated, not (yet) registered */
	SHRINKER_REGISTERED, /* linked, walked by reclaim */
	SHRINKER_DEAD, /* being freed: linked until its refs are gone */
};

struct tide_shrinker {
	/* Under reg.lock. */
	struct tide_shrinker *prev, *next;
	unsigned long refs;
	enum shrinker_state state;
	/* Written once under reg.lock before the shrinker is linked. */
	struct tide_shrinker_ops ops;
	void *priv;
	/* Settable at any time, so read without the lock. */
	atomic_uint seeks;
	atomic_ulong batch;
	atomic_ulong nr_deferred;
	atomic_ullong calls, scanned, freed;
	char name[];
};

/* Exact arithmetic for do_shrink_slab: 4 * count overflows a long. */
#if ULONG_MAX < ULLONG_MAX
typedef unsigned long long wide_t;
#else
__extension__ typedef unsigned __int128 wide_t;
#endif

#define SET_MIN_CAP 64

static struct {
	pthread_mutex_t lock;
	pthread_cond_t released; /* a dead shrinker lost its last ref */
	struct tide_shrinker *head, *tail;
	struct tide_shrinker **set; /* live shrinkers (allocated or linked) */
	size_t set_cap, set_used, set_count; /* used counts tombstones */
} reg = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.released = PTHREAD_COND_INITIALIZER,
};

static char set_tomb;
#define TOMB ((struct tide_shrinker *)&set_tomb)

/* The shrinker whose callback (or foreach function) this thread runs. */
static _Thread_local struct tide_shrinker *cur_shrinker;
static _Thread_local bool in_reclaim;

bool tide__in_reclaim(void)
{
	return in_reclaim;
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

static size_t set_find(const struct tide_shrinker *s)
{
	size_t mask = reg.set_cap - 1;

	if (!reg.set_cap)
		return SIZE_MAX;
	for (size_t i = set_hash(s) & mask;; i = (i + 1) & mask) {
		if (reg.set[i] == s)
			return i;
		if (!reg.set[i])
			return SIZE_MAX;
	}
}

static bool set_contains(const struct tide_shrinker *s)
{
	return set_find(s) != SIZE_MAX;
}

static void set_put(struct tide_shrinker **tab, size_t cap,
		    struct tide_shrinker *s)
{
	size_t i = set_hash(s) & (cap - 1);

	while (tab[i])
		i = (i + 1) & (cap - 1);
	tab[i] = s;
}

/* Keep the table at most half full (tombstones included). */
static int set_insert(struct tide_shrinker *s)
{
	struct tide_shrinker **tab;
	size_t cap = SET_MIN_CAP;

	if ((reg.set_used + 1) * 2 > reg.set_cap) {
		while (cap < (reg.set_count + 1) * 4)
			cap *= 2;
		tab = tide__os_calloc(cap, sizeof(*tab));
		if (!tab)
			return -ENOMEM;
		for (size_t i = 0; i < reg.set_cap; i++)
			if (reg.set[i] && reg.set[i] != TOMB)
				set_put(tab, cap, reg.set[i]);
		tide__os_free(reg.set);
		reg.set = tab;
		reg.set_cap = cap;
		reg.set_used = reg.set_count;
	}
	set_put(reg.set, reg.set_cap, s);
	reg.set_used++;
	reg.set_count++;
	return 0;
}

static void set_remove(size_t i)
{
	reg.set[i] = TOMB;
	if (--reg.set_count)
		return;
	/* Empty: give the table back, so an idle registry holds nothing. */
	tide__os_free(reg.set);
	reg.set = NULL;
	reg.set_cap = reg.set_used = 0;
}

/* ---- list walking --------------------------------------------------- */

static void lock(void)
{
	pthread_mutex_lock(&reg.lock);
}

static void unlock(void)
{
	pthread_mutex_unlock(&reg.lock);
}

static void put_locked(struct tide_shrinker *s)
{
	if (!--s->refs && s->state == SHRINKER_DEAD)
		pthread_cond_broadcast(&reg.released);
}

/*
 * Drop the reference on @pos and take one on the next registered shrinker
 * after it (the first one when @pos is NULL).  Returns NULL at the end.
 */
static struct tide_shrinker *hop(struct tide_shrinker *pos)
{
	struct tide_shrinker *next;

	lock();
	next = pos ? pos->next : reg.head;
	while (next && next->state != SHRINKER_REGISTERED)
		next = next->next;
	if (next)
		next->refs++;
	if (pos)
		put_locked(pos);
	unlock();
	return next;
}

static void put(struct tide_shrinker *s)
{
	lock();
	put_locked(s);
	unlock();
}

/* ---- callbacks ------------------------------------------------------ */

static unsigned long sat_add(unsigned long a, unsigned long b)
{
	return a > ULONG_MAX - b ? ULONG_MAX : a + b;
}

static unsigned long call_count(struct tide_shrinker *s,
				struct tide_shrink_control *sc)
{
	struct tide_shrinker *prev = cur_shrinker;
	bool was = in_reclaim;
	unsigned long n;

	cur_shrinker = s;
	in_reclaim = true;
	n = s->ops.count_objects(s->priv, sc);
	in_reclaim = was;
	cur_shrinker = prev;
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
	struct tide_shrinker *prev = cur_shrinker;
	unsigned long n, want = sc->nr_to_scan;
	bool was = in_reclaim;

	cur_shrinker = s;
	in_reclaim = true;
	n = s->ops.scan_objects(s->priv, sc);
	in_reclaim = was;
	cur_shrinker = prev;
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
	atomic_fetch_add_explicit(&s->scanned, sc->nr_scanned,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&s->freed, n, memory_order_relaxed);
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

/* The kernel's do_shrink_slab(): one shrinker, one pass. */
static unsigned long do_shrink(struct tide_shrinker *s, int priority,
			       unsigned flags)
{
	struct tide_shrink_control sc = { .priority = priority,
					  .flags = flags };
	unsigned long freeable, nr, batch, freed = 0;
	wide_t delta, total, scanned = 0, next;
	unsigned seeks;

	freeable = call_count(s, &sc);
	if (!freeable)
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

	while (total >= batch || total >= freeable) {
		unsigned long ret, n = (unsigned long)TIDE__MIN(batch, total);

		sc.nr_to_scan = sc.nr_scanned = n;
		ret = call_scan(s, &sc);
		if (ret == TIDE_SHRINK_STOP)
			break;
		freed = sat_add(freed, ret);
		total -= sc.nr_scanned;
		scanned += sc.nr_scanned;
		/* A scan that looked at nothing would make us spin. */
		if (!sc.nr_scanned)
			break;
	}

	/* scanned <= the first total <= nr + delta: never negative. */
	next = TIDE__MIN(nr + delta - scanned, 2 * (wide_t)freeable);
	add_deferred(s, (unsigned long)next);
	return freed;
}

/* ---- public API ------------------------------------------------------ */

struct tide_shrinker *tide_shrinker_alloc(const char *name)
{
	struct tide_shrinker *s;
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
	atomic_init(&s->seeks, TIDE_DEFAULT_SEEKS);
	atomic_init(&s->batch, 0);
	atomic_init(&s->nr_deferred, 0);
	atomic_init(&s->calls, 0);
	atomic_init(&s->scanned, 0);
	atomic_init(&s->freed, 0);

	lock();
	r = set_insert(s);
	unlock();
	if (r) {
		tide__os_free(s);
		errno = -r;
		return NULL;
	}
	return s;
}

void tide_shrinker_set_seeks(struct tide_shrinker *s, unsigned seeks)
{
	if (!s) {
		tide__report("tide_shrinker_set_seeks: NULL shrinker", s);
		return;
	}
	atomic_store_explicit(&s->seeks, seeks, memory_order_relaxed);
}

void tide_shrinker_set_batch(struct tide_shrinker *s, unsigned long batch)
{
	if (!s) {
		tide__report("tide_shrinker_set_batch: NULL shrinker", s);
		return;
	}
	atomic_store_explicit(&s->batch, batch, memory_order_relaxed);
}

void tide_shrinker_register(struct tide_shrinker *s,
			    const struct tide_shrinker_ops *ops, void *priv)
{
	const char *err = NULL;

	if (!s || !ops || !ops->count_objects || !ops->scan_objects) {
		tide__report("tide_shrinker_register: NULL shrinker or "
			     "callbacks",
			     s);
		return;
	}
	lock();
	if (!set_contains(s)) {
		err = "tide_shrinker_register: not a live shrinker";
	} else if (s->state != SHRINKER_ALLOCATED) {
		err = "tide_shrinker_register: registered twice";
	} else {
		s->ops = *ops;
		s->priv = priv;
		s->prev = reg.tail;
		s->next = NULL;
		if (reg.tail)
			reg.tail->next = s;
		else
			reg.head = s;
		reg.tail = s;
		s->state = SHRINKER_REGISTERED;
	}
	unlock();
	/* The handler is user code: never call it under the lock. */
	if (err)
		tide__report(err, s);
}

void tide_shrinker_free(struct tide_shrinker *s)
{
	size_t i;

	if (!s)
		return;
	if (s == cur_shrinker)
		tide__misuse("tide_shrinker_free: called from the shrinker's "
			     "own callback (would wait for itself)",
			     s);
	lock();
	i = set_find(s);
	if (i == SIZE_MAX) {
		unlock();
		tide__report("tide_shrinker_free: not a live shrinker "
			     "(double free?)",
			     s);
		return;
	}
	set_remove(i);
	if (s->state == SHRINKER_REGISTERED) {
		s->state = SHRINKER_DEAD;
		while (s->refs)
			pthread_cond_wait(&reg.released, &reg.lock);
		if (s->prev)
			s->prev->next = s->next;
		else
			reg.head = s->next;
		if (s->next)
			s->next->prev = s->prev;
		else
			reg.tail = s->prev;
	}
	unlock();
	tide__os_free(s);
}

bool tide_shrink_may_io(const struct tide_shrink_control *sc)
{
	return sc && !(sc->flags & TIDE_NOIO);
}

unsigned long tide_shrink(int priority, unsigned flags)
{
	unsigned long freed = 0;

	if (in_reclaim)
		return 0;
	priority = TIDE__MAX(0, TIDE__MIN(priority, TIDE_DEF_PRIORITY));
	for (struct tide_shrinker *s = hop(NULL); s; s = hop(s))
		freed = sat_add(freed, do_shrink(s, priority, flags));
	return freed;
}

unsigned long tide__direct_reclaim(int priority, unsigned flags)
{
	return tide_shrink(priority, flags);
}

unsigned long tide_drop_caches(void)
{
	unsigned long freed = 0, pass;

	if (in_reclaim)
		return 0;
	do {
		pass = tide_shrink(0, 0);
		freed = sat_add(freed, pass);
	} while (pass);
	return freed;
}

unsigned long tide_shrinker_scan(const char *name, unsigned long nr_to_scan)
{
	struct tide_shrink_control sc = { .nr_to_scan = nr_to_scan,
					  .nr_scanned = nr_to_scan };
	struct tide_shrinker *s;
	unsigned long ret;

	if (!name) {
		errno = EINVAL;
		return 0;
	}
	if (in_reclaim || !nr_to_scan)
		return 0;
	lock();
	for (s = reg.head; s; s = s->next)
		if (s->state == SHRINKER_REGISTERED && !strcmp(s->name, name))
			break;
	if (s)
		s->refs++;
	unlock();
	if (!s) {
		errno = ENOENT;
		return 0;
	}
	ret = call_scan(s, &sc);
	put(s);
	return ret == TIDE_SHRINK_STOP ? 0 : ret;
}

int tide_shrinker_foreach(int (*fn)(const struct tide_shrinker_info *, void *),
			  void *arg)
{
	struct tide_shrinker *s, *prev;
	int r;

	if (!fn)
		return -EINVAL;
	for (s = hop(NULL); s; s = hop(s)) {
		struct tide_shrink_control sc = { 0 };
		struct tide_shrinker_info info = {
			.name = s->name,
			.seeks = atomic_load(&s->seeks),
			.batch = effective_batch(s),
			.count = call_count(s, &sc),
			.nr_deferred = atomic_load(&s->nr_deferred),
			.calls = atomic_load(&s->calls),
			.scanned = atomic_load(&s->scanned),
			.freed = atomic_load(&s->freed),
		};

		prev = cur_shrinker;
		cur_shrinker = s;
		r = fn(&info, arg);
		cur_shrinker = prev;
		if (r) {
			put(s);
			return r;
		}
	}
	return 0;
}
