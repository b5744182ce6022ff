// SPDX-License-Identifier: MIT
/*
 * shrinker.c - the shrinker registry and reclaim, mm/shrinker.c for user
 * space.
 *
 * The registry is an array of node pointers in registration order (a
 * freed shrinker leaves a hole; holes are squeezed out once there are more
 * of them than live entries).  One mutex guards the array, the states, the
 * list of walks and the set of live shrinkers; it is held only for
 * bookkeeping, never while a callback runs.  tide_shrinker_alloc reserves
 * the new shrinker's slot, so registering cannot fail.
 *
 * A walk (a reclaim pass, foreach, tide_shrinker_scan) keeps itself safe
 * without holding the mutex during callbacks with two things:
 *  - batches keep nodes allocated.  In one mutex hold a walk copies the
 *    next up to WALK_BATCH node pointers from the array (an index says
 *    where it is; compaction moves the index with the nodes) and lets go
 *    of its previous batch.  Nothing is written to the nodes for it.  A
 *    freed shrinker that some walk's batch still holds stays allocated (on
 *    the zombie list, for fork) and the last walk to let go of it frees it.
 *  - every walk is on the registry's list of walks with a word, cur, that
 *    names the node whose callbacks it runs.  Before calling a node the
 *    walker exchanges cur for that node and then reads the node's dead
 *    flag; free sets the dead flag and then reads every walk's cur.  Both
 *    sides are sequentially consistent, so one of them sees the other:
 *    either the walker skips the node or free finds it in cur and waits
 *    until the walker moves on (free sets the WAIT bit in cur; the exchange
 *    that replaces it wakes free).  A walker leaves cur as it is after a
 *    callback and replaces it only at the next node, so a pass pays one
 *    atomic operation per shrinker (the exchange), and tide_shrinker_free
 *    waits for that shrinker's own callback in flight, never for a pass,
 *    another shrinker's callback or a walk that merely holds the node.
 *
 * The set of live shrinkers (an open-addressing hash set of node
 * addresses) lets tide_shrinker_free and tide_shrinker_register recognise a
 * pointer that is not a live shrinker (double free) without reading freed
 * memory: a node's handle is read only once the node is known live.
 *
 * Handles carry a generation: the pointer users get is the node's address
 * with bit 63 set and a 15-bit allocation count in bits 48..62, which
 * user-space addresses on x86-64 and arm64 (4-level paging) leave clear.  When malloc hands a freed
 * shrinker's address to a new one, the stale handle still differs from the
 * live one, so a second free of the old handle is reported instead of
 * unregistering the new shrinker.  Users never dereference the opaque
 * handle; tide strips the tag before using it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <tide/pressure.h>
#include <tide/shrinker.h>

#include "internal.h"

enum shrinker_state {
	SHRINKER_ALLOCATED = 1, /* allocated, not (yet) registered */
	SHRINKER_REGISTERED, /* in reg.arr, walked by reclaim */
	SHRINKER_DEAD, /* freed: kept while a walk's batch holds it */
};

struct tide_shrinker {
	/* What a pass reads of every shrinker, first (one cache line). */
	struct tide_shrinker_ops ops; /* written before registration */
	void *priv;
	atomic_uint dead; /* set by free; walkers skip the node from then on */
	/* Under reg.lock. */
	enum shrinker_state state;
	bool freeing; /* a tide_shrinker_free waits for walkers to leave it */
	size_t idx; /* in reg.arr while registered */
	struct tide_shrinker *zprev, *znext; /* on reg.zombies while dead */
	/* Settable at any time, so read without the lock. */
	atomic_uint seeks;
	atomic_ulong batch;
	atomic_ulong nr_deferred;
	atomic_ullong calls, scanned, freed;
	struct tide_shrinker *handle; /* what users were given */
	char name[];
};

/* Exact arithmetic for do_shrink_slab: 4 * count overflows a long. */
#if ULONG_MAX < ULLONG_MAX
typedef unsigned long long wide_t;
#else
__extension__ typedef unsigned __int128 wide_t;
#endif

#define SET_MIN_CAP 64
#define TAG_SHIFT 48
#define ADDR_MASK ((UINT64_C(1) << TAG_SHIFT) - 1)
#define TAGGED (UINT64_C(1) << 63) /* never set in a user-space address */
/* tide_drop_caches(): at most this many passes (a cache may lie). */
#define TIDE_DROP_PASSES 16
#define WALK_BATCH 32
#define ARR_MIN_CAP 64
#define WAIT ((uintptr_t)1) /* in a walk's cur: a free waits for it */

struct walk;

static struct {
	pthread_mutex_t lock;
	pthread_cond_t idle; /* a walker waited for moved on */
	/* Registered shrinkers in registration order; NULL: a hole. */
	struct tide_shrinker **arr;
	size_t cap, len, live; /* cap >= 2 x live shrinkers (set_count) */
	struct tide_shrinker *zombies; /* freed, still held by a walk */
	struct tide_shrinker *small[ARR_MIN_CAP]; /* reg.arr while it fits */
	struct walk *walks; /* every walk and direct scan under way */
	struct tide_shrinker **set; /* live nodes (allocated or registered) */
	size_t set_cap, set_used, set_count; /* used counts tombstones */
	unsigned gen; /* handle generations handed out */
} reg = {
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

/* This thread runs shrinker callbacks (a pass, or count/scan calls). */
static _Thread_local bool in_reclaim;

bool tide__in_reclaim(void)
{
	return in_reclaim;
}

/* ---- handles -------------------------------------------------------- */

/* The node a handle names (the tag stripped). */
static struct tide_shrinker *node_of(const struct tide_shrinker *h)
{
	uint64_t v = (uint64_t)(uintptr_t)h;

	return (struct tide_shrinker *)(uintptr_t)(v & TAGGED ? v & ADDR_MASK :
								v);
}

/*
 * A fresh handle for node @s, under reg.lock: bit 63 set, a 15-bit
 * generation in bits 48..62.  An address above 2^48 (5-level paging) or a
 * 32-bit one has no room: the handle is the plain address (bit 63 clear).
 */
static struct tide_shrinker *handle_of(struct tide_shrinker *s)
{
	uint64_t a = (uint64_t)(uintptr_t)s, gen;

	if (UINTPTR_MAX <= ADDR_MASK || (a & ~ADDR_MASK))
		return s;
	gen = (uint64_t)(++reg.gen & 0x7fff);
	return (struct tide_shrinker *)(uintptr_t)(a | TAGGED |
						   gen << TAG_SHIFT);
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

	if ((reg.set_used + 1) * 2 > reg.set_cap) {
		while (cap < (reg.set_count + 1) * 4)
			cap *= 2;
		tab = tide__os_calloc(cap, sizeof(*tab));
		if (!tab)
			return -ENOMEM;
		for (i = 0; i < reg.set_cap; i++)
			if (reg.set[i] && reg.set[i] != TOMB)
				set_put(tab, cap, reg.set[i]);
		tide__os_free(reg.set);
		reg.set = tab;
		reg.set_cap = cap;
		reg.set_used = reg.set_count;
	}
	mask = reg.set_cap - 1;
	for (i = set_hash(s) & mask; reg.set[i] && reg.set[i] != TOMB;
	     i = (i + 1) & mask)
		;
	if (!reg.set[i])
		reg.set_used++;
	reg.set[i] = s;
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

/* ---- the registry array and walking ---------------------------------- */

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void register_atfork(void);

static void lock(void)
{
	/*
	 * The fork handlers are registered on first use, after the process
	 * allocator has registered its own (tide_shrinker_alloc has called
	 * it by then): prepare handlers run in reverse order, so ours takes
	 * reg.lock before the allocator locks its arenas, and a thread
	 * holding reg.lock while it allocates can finish.
	 */
	pthread_once(&atfork_once, register_atfork);
	pthread_mutex_lock(&reg.lock);
}

static void unlock(void)
{
	pthread_mutex_unlock(&reg.lock);
}

/*
 * A walk over the registry in registration order, a batch at a time: a
 * batch is up to WALK_BATCH node pointers copied from reg.arr under the
 * lock: the non-NULL ones in reg.arr[start..pos) then, so a registered
 * node is in it exactly when its idx is in that range.  A walk is on reg.walks
 * from walk_first to its end (walk_next returning NULL, or walk_stop);
 * while it is, the nodes of its current batch stay allocated (held_locked).
 * cur is the node whose callbacks it runs or ran last (| WAIT), 0 when
 * none; the walker writes it with atomic exchanges, free sets the WAIT bit
 * with compare-and-swap.  Everything else is written under reg.lock.
 */
struct walk {
	atomic_uintptr_t cur;
	int side, n, i; /* the batch is buf[side][0..n); i: the walker's */
	size_t start, pos;
	struct walk *prev, *next; /* on reg.walks */
	struct walk *outer; /* this thread's enclosing walk (fork) */
	struct tide_shrinker **buf[2]; /* WALK_BATCH each; one for a scan */
};

/* A walk with room for two batches (a pass, foreach). */
struct full_walk {
	struct walk w;
	struct tide_shrinker *store[2][WALK_BATCH];
};

/*
 * What this thread holds, for the fork child handler: its walks (a
 * foreach function may start a pass; tide_shrinker_scan is a walk of one
 * node), with their batches and the shrinker whose callbacks each runs.
 */
static _Thread_local struct walk *my_walk;

/* Is registered @s in the current batch of a walk on reg.walks? */
static bool held_at_locked(const struct tide_shrinker *s)
{
	for (struct walk *w = reg.walks; w; w = w->next)
		if (s->idx >= w->start && s->idx < w->pos)
			return true;
	return false;
}

/* Is @s (registered or not) in the current batch of a walk? */
static bool held_locked(const struct tide_shrinker *s)
{
	for (struct walk *w = reg.walks; w; w = w->next)
		for (int i = 0; i < w->n; i++)
			if (w->buf[w->side][i] == s)
				return true;
	return false;
}

static void zombie_add_locked(struct tide_shrinker *s)
{
	s->zprev = NULL;
	s->znext = reg.zombies;
	if (reg.zombies)
		reg.zombies->zprev = s;
	reg.zombies = s;
}

static void zombie_del_locked(struct tide_shrinker *s)
{
	if (s->zprev)
		s->zprev->znext = s->znext;
	else
		reg.zombies = s->znext;
	if (s->znext)
		s->znext->zprev = s->zprev;
}

/*
 * Forget the batch @b[0..n) that a walk has just let go of (it is no
 * longer its current batch); the dead nodes nobody holds any more leave
 * the zombie list and are moved to the front of @b.  Returns how many.
 */
static int release_locked(struct tide_shrinker **b, int n)
{
	int k = 0;

	for (int i = 0; i < n; i++) {
		struct tide_shrinker *s = b[i];

		if (s->state != SHRINKER_DEAD || s->freeing || held_locked(s))
			continue;
		zombie_del_locked(s);
		b[k++] = s;
	}
	return k;
}

static void free_nodes(struct tide_shrinker **b, int k)
{
	for (int i = 0; i < k; i++)
		tide__os_free(b[i]);
}

/* reg.arr holds at least @need slots (a new shrinker's is reserved). */
static int arr_reserve_locked(size_t need)
{
	struct tide_shrinker **a;
	size_t cap = ARR_MIN_CAP;

	if (need <= reg.cap)
		return 0;
	/* A small registry uses reg.small: no allocation comes and goes. */
	if (!reg.cap && need <= ARR_MIN_CAP) {
		reg.arr = reg.small;
		reg.cap = ARR_MIN_CAP;
		return 0;
	}
	while (cap < need) {
		if (cap > SIZE_MAX / 2 / sizeof(*a))
			return -ENOMEM;
		cap *= 2;
	}
	if (reg.arr == reg.small) {
		a = tide__os_malloc(cap * sizeof(*a));
		if (a)
			memcpy(a, reg.small, reg.len * sizeof(*a));
	} else {
		a = tide__os_realloc(reg.arr, cap * sizeof(*a));
	}
	if (!a)
		return -ENOMEM;
	reg.arr = a;
	reg.cap = cap;
	return 0;
}

/* The index that @i becomes when reg.arr is compacted. */
static size_t compacted(size_t i)
{
	size_t p = 0;

	for (size_t k = 0; k < i; k++)
		p += reg.arr[k] != NULL;
	return p;
}

/*
 * Squeeze the holes out of reg.arr, keeping the order; every walk's range
 * moves with its nodes.
 */
static void arr_compact_locked(void)
{
	size_t j = 0;

	for (struct walk *w = reg.walks; w; w = w->next) {
		w->start = compacted(w->start);
		w->pos = compacted(w->pos);
	}
	for (size_t i = 0; i < reg.len; i++) {
		struct tide_shrinker *s = reg.arr[i];

		if (!s)
			continue;
		s->idx = j;
		reg.arr[j++] = s;
	}
	reg.len = j;
}

static void arr_append_locked(struct tide_shrinker *s)
{
	/* Full: at least half of it holes (cap >= 2 x live shrinkers). */
	if (reg.len == reg.cap)
		arr_compact_locked();
	s->idx = reg.len;
	reg.arr[reg.len++] = s;
	reg.live++;
}

static void arr_remove_locked(struct tide_shrinker *s)
{
	reg.arr[s->idx] = NULL;
	reg.live--;
	/* Amortised: a compaction after as many frees as live entries. */
	if (reg.len - reg.live > ARR_MIN_CAP && reg.len - reg.live > reg.live)
		arr_compact_locked();
}

/* No live shrinker is left: give the array back (an idle registry). */
static void arr_release_locked(void)
{
	if (reg.arr != reg.small)
		tide__os_free(reg.arr);
	reg.arr = NULL;
	reg.cap = reg.len = reg.live = 0;
	for (struct walk *w = reg.walks; w; w = w->next)
		w->start = w->pos = 0;
}

/* Copy up to WALK_BATCH nodes from reg.arr[w->pos..) into @b. */
static int grab_locked(struct walk *w, struct tide_shrinker **b)
{
	size_t pos = w->pos, len = reg.len;
	int n = 0;

	w->start = pos;
	for (; pos < len && n < WALK_BATCH; pos++) {
		struct tide_shrinker *s = reg.arr[pos];

		if (s)
			b[n++] = s;
	}
	w->pos = pos;
	return n;
}

/* Wake the tide_shrinker_free() calls waiting for a walker to move on. */
static void wake(void)
{
	lock();
	pthread_cond_broadcast(&reg.idle);
	unlock();
}

/*
 * Start running callbacks of @s on walk @w: false if @s is being freed.
 * This ends what @w ran before (there is no separate "leave": a walker
 * between two nodes runs no callback, and the exchange for the next node,
 * or walk_del_locked, is what a free waiting on the previous node sees).
 */
static inline bool enter(struct walk *w, struct tide_shrinker *s)
{
	uintptr_t old = atomic_exchange(&w->cur, (uintptr_t)s);

	if (__builtin_expect(old & WAIT, 0))
		wake();
	return !atomic_load(&s->dead);
}

/* @w runs no callback now (before user code that is not a callback). */
static void walk_idle(struct walk *w)
{
	if (atomic_exchange(&w->cur, 0) & WAIT)
		wake();
}

static void walk_add_locked(struct walk *w)
{
	w->prev = NULL;
	w->next = reg.walks;
	if (reg.walks)
		reg.walks->prev = w;
	reg.walks = w;
}

static void walk_del_locked(struct walk *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		reg.walks = w->next;
	if (w->next)
		w->next->prev = w->prev;
	if (atomic_exchange(&w->cur, 0) & WAIT)
		pthread_cond_broadcast(&reg.idle);
}

static void walk_init(struct walk *w, struct tide_shrinker **b0,
		      struct tide_shrinker **b1)
{
	w->buf[0] = b0;
	w->buf[1] = b1;
	atomic_init(&w->cur, 0);
	w->side = 0;
	w->n = 0;
	w->i = 0;
	w->start = w->pos = 0;
	w->outer = my_walk;
	my_walk = w;
}

static struct tide_shrinker *walk_first(struct full_walk *fw)
{
	struct walk *w = &fw->w;

	walk_init(w, fw->store[0], fw->store[1]);
	lock();
	w->n = grab_locked(w, w->buf[0]);
	if (w->n)
		walk_add_locked(w);
	unlock();
	return w->n ? w->buf[0][0] : NULL;
}

/* The current batch is done: take the next one, let go of this one. */
static __attribute__((noinline)) struct tide_shrinker *
walk_next_batch(struct walk *w)
{
	struct tide_shrinker **b = w->buf[w->side], **nb = w->buf[!w->side];
	int n = w->n, k;

	lock();
	w->n = grab_locked(w, nb);
	w->side = !w->side;
	if (!w->n)
		walk_del_locked(w);
	k = release_locked(b, n);
	unlock();
	w->i = 0;
	free_nodes(b, k);
	return w->n ? nb[0] : NULL;
}

static inline struct tide_shrinker *walk_next(struct walk *w)
{
	if (++w->i < w->n)
		return w->buf[w->side][w->i];
	return walk_next_batch(w);
}

/* A walk has ended (walk_next returned NULL, or walk_stop). */
static void walk_done(struct walk *w)
{
	my_walk = w->outer;
}

/* Stop a walk early: let go of the current batch. */
static void walk_stop(struct walk *w)
{
	struct tide_shrinker **b = w->buf[w->side];
	int n = w->n, k;

	lock();
	w->n = 0;
	if (n)
		walk_del_locked(w);
	k = release_locked(b, n);
	unlock();
	walk_done(w);
	free_nodes(b, k);
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
 *    freed more than it was asked (a whole-cache scan), ends the loop;
 *  - a shrinker being freed stops between two calls.
 */
static unsigned long do_shrink(struct tide_shrinker *s, unsigned long freeable,
			       int priority, unsigned flags,
			       unsigned long share_div, unsigned long budget)
{
	struct tide_shrink_control sc = { .priority = priority,
					  .flags = flags };
	unsigned long nr, batch, freed = 0, min_share = 0;
	wide_t delta, total, scanned = 0, next, calls;
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
		total -= sc.nr_scanned;
		scanned += sc.nr_scanned;
		/* Nothing looked at, nothing to free, or the whole cache. */
		if (!sc.nr_scanned || (!ret && sc.nr_scanned == n) || ret > n)
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

/* ---- fork --------------------------------------------------------------- */

static void fork_prepare(void)
{
	pthread_mutex_lock(&reg.lock);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&reg.lock);
}

/* Does a walk of the forking thread (the child's only one) hold @s? */
static bool mine(const struct tide_shrinker *s)
{
	for (struct walk *w = my_walk; w; w = w->outer)
		for (int i = 0; i < w->n; i++)
			if (w->buf[w->side][i] == s)
				return true;
	return false;
}

/*
 * The child has one thread, the forking one.  The walks and waiting frees
 * of the parent's other threads do not carry over: a child's
 * tide_shrinker_free of a shrinker that was mid-scan in the parent
 * returns, and a node freed while they held it goes now.  The forking
 * thread's walks stay (no free waits on them yet).  The condition
 * variable starts afresh.
 */
static void fork_child(void)
{
	struct tide_shrinker *s, *next;

	reg.walks = NULL;
	for (struct walk *w = my_walk; w; w = w->outer) {
		uintptr_t cur = atomic_load(&w->cur) & ~WAIT;

		if (!w->n)
			continue;
		walk_add_locked(w);
		atomic_store(&w->cur, cur);
	}
	for (s = reg.zombies; s; s = next) {
		next = s->znext;
		s->freeing = false;
		if (!mine(s)) {
			zombie_del_locked(s);
			tide__os_free(s);
		}
	}
	pthread_cond_init(&reg.idle, NULL);
	/* taken by fork_prepare() on this very thread: released, not made
	 * afresh (ThreadSanitizer would count it held for good) */
	pthread_mutex_unlock(&reg.lock);
}

static void register_atfork(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

void tide__shrinker_fork_register(void)
{
	pthread_once(&atfork_once, register_atfork);
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
	r = arr_reserve_locked(2 * (reg.set_count + 1));
	if (!r)
		r = set_insert(s);
	if (r && !reg.set_count)
		arr_release_locked();
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

/*
 * After @s's dead flag is set: true if a walker runs (or may run) @s's
 * callbacks now; the WAIT bit in its cur makes it wake us when it moves
 * on.  A walker whose cur is not @s will see the flag before it calls @s.
 */
static bool wait_mark_locked(struct tide_shrinker *s)
{
	bool busy = false;

	for (struct walk *w = reg.walks; w; w = w->next) {
		uintptr_t c = atomic_load(&w->cur);

		if ((c & ~WAIT) != (uintptr_t)s)
			continue;
		/* A failed CAS: the walker has moved on. */
		if ((c & WAIT) ||
		    atomic_compare_exchange_strong(&w->cur, &c, c | WAIT))
			busy = true;
	}
	return busy;
}

/* Does this thread run a callback of @s (so waiting would deadlock)? */
static bool runs_callbacks_of(struct tide_shrinker *s)
{
	for (struct walk *w = my_walk; w; w = w->outer)
		if ((atomic_load_explicit(&w->cur, memory_order_relaxed) &
		     ~WAIT) == (uintptr_t)s)
			return true;
	return false;
}

void tide_shrinker_free(struct tide_shrinker *h)
{
	struct tide_shrinker *s = node_of(h);
	bool release = true;
	size_t i;

	if (!h)
		return;
	lock();
	i = set_find(s);
	if (i == SIZE_MAX || s->handle != h) {
		unlock();
		tide__report("tide_shrinker_free: not a live shrinker "
			     "(double free?)",
			     h);
		return;
	}
	if (runs_callbacks_of(s)) {
		unlock();
		tide__misuse("tide_shrinker_free: called from the shrinker's "
			     "own callback (would wait for itself)",
			     h);
	}
	set_remove(i);
	if (s->state == SHRINKER_REGISTERED) {
		/* No walk can take @s into a batch once it leaves reg.arr. */
		bool held = held_at_locked(s);

		arr_remove_locked(s);
		s->state = SHRINKER_DEAD;
		atomic_store(&s->dead, 1);
		if (held || wait_mark_locked(s)) {
			/* On the zombie list: a fork child frees it. */
			zombie_add_locked(s);
			/* Walks letting go of @s leave it to us meanwhile. */
			s->freeing = true;
			while (wait_mark_locked(s))
				pthread_cond_wait(&reg.idle, &reg.lock);
			s->freeing = false;
			/* A walk whose batch holds @s frees it when done. */
			release = !held_locked(s);
			if (release)
				zombie_del_locked(s);
		}
	}
	if (!reg.set_count)
		arr_release_locked();
	unlock();
	if (release)
		tide__os_free(s);
}

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
	for (s = walk_first(&fw); s; s = walk_next(w)) {
		struct tide_shrink_control sc = { .priority = priority,
						  .flags = flags };
		unsigned long freeable;

		if (budget && freed >= budget) {
			walk_stop(w);
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
	walk_done(w);
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

unsigned long tide_drop_caches(void)
{
	unsigned long freed = 0, pass;
	int n = 0;

	if (in_reclaim)
		return 0;
	do {
		pass = tide_shrink(0, 0);
		freed = sat_add(freed, pass);
	} while (pass && ++n < TIDE_DROP_PASSES);
	/* Last, once: the caches have freed into the allocator by now. */
	tide_purge();
	return freed;
}

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
	walk_init(&w, &one, NULL);
	lock();
	s = NULL;
	for (size_t i = 0; i < reg.len && !s; i++)
		if (reg.arr[i] && !strcmp(reg.arr[i]->name, name))
			s = reg.arr[i];
	if (s) {
		w.buf[0][0] = s;
		w.n = 1;
		w.start = s->idx;
		w.pos = s->idx + 1;
		walk_add_locked(&w);
	}
	unlock();
	if (!s) {
		walk_done(&w);
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
	walk_stop(&w);
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
	for (s = walk_first(&fw); s; s = walk_next(w)) {
		struct tide_shrink_control sc = { 0 };
		struct tide_shrinker_info info = { 0 };

		if (!enter(w, s))
			continue;
		was = in_reclaim;
		in_reclaim = true;
		info.count = call_count(s, &sc);
		in_reclaim = was;
		/* fn is no callback: it may free @s (held, so still valid). */
		walk_idle(w);
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
			walk_stop(w);
			return r;
		}
	}
	walk_done(w);
	return 0;
}
