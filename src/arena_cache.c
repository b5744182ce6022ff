// SPDX-License-Identifier: MIT
/*
 * arena_cache.c - the threads' caches of an arena they share (arena.c is
 * the arena itself); the design is described in arena_internal.h, above
 * TC_MAX.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include <tide/arena.h>

#include "arena_internal.h"
#include "internal.h"

struct tc_table;

struct tcache {
	pthread_mutex_t lock;
	struct tide_arena *arena; /* NULL once destroyed (arenas_lock, lock) */
	unsigned long long arena_id;
	struct tcache *prev, *next; /* the arena's caches, under its lock */
	struct tc_table *owner;
	bool dead; /* its thread is gone (a forked child's other threads) */
	/*
	 * Its arena was destroyed: set last, after the destroyer's final use,
	 * so the owner, which reads it without any lock (it may hold another
	 * arena's lock, and a fork's prepare takes caches' locks before
	 * arenas' ones), may free the cache at once.
	 */
	atomic_bool orphaned;
	bool in_orphans; /* on the orphans list (set before ->orphaned) */
	unsigned tracked; /* nodes whose ->tc is this cache */
	unsigned nset;
	atomic_size_t bytes; /* in the stacks (written under lock) */
	/*
	 * The pages the stacks' buffers touch, each counted whole, under
	 * lock: an upper bound of what a flush puts on the LRU.  The bytes
	 * rounded up to pages are not: four 1 KiB buffers alone on four
	 * pages are 1 page of bytes and free 4 (up to 0.2.27 the shrinker
	 * counted that 1, and a priority-0 pass left pages resident).
	 */
	atomic_size_t pages;
	uint8_t depth[TC_NCLASS];
	struct buf *stack[TC_NCLASS][TC_DEPTH];
	struct buf *set[TC_SET];
};

/* A thread's caches, one per arena it allocated from while shared. */
struct tc_table {
	struct tcache *slot[TC_SLOTS];
	atomic_uint ncaches; /* caches of this table not yet freed */
};

static _Thread_local struct tc_table *tc_mine;
/*
 * tc_thread_exit() ran: the thread is ending.  Another key's destructor
 * may still allocate; it gets no cache, since one made in the last round
 * of destructors (PTHREAD_DESTRUCTOR_ITERATIONS) would never be freed.
 */
static _Thread_local bool tc_exited;
static pthread_key_t tc_key;
static atomic_bool tc_key_ok; /* tc_key exists (until the library goes) */
static pthread_once_t tc_key_once = PTHREAD_ONCE_INIT;

/*
 * The caches a destroy orphaned that their threads have not freed yet,
 * linked through ->prev/->next (no arena lists them any more).  Only their
 * own threads reach them, through their tables; in a forked child the
 * other threads are gone, and this list is how the child frees theirs
 * (tc_reap_orphans()).  orphans_lock is the innermost lock: taken with an
 * arena's lock or arenas_lock held, never the other way.
 */
static pthread_mutex_t orphans_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tcache *orphans;
/*
 * In a forked child, the orphans of the threads it lacks, moved here by
 * the fork handler (linked through ->next) for tc_reap_orphans() to free;
 * under orphans_lock.  Nothing else is ever put here: the child's own
 * threads' orphans stay theirs.
 */
static struct tcache *orphans_dead;
static atomic_bool orphans_reap; /* orphans_dead is not empty */

/* @c first on the list at *@head (an arena's caches, or the orphans). */
static void tc_list_add(struct tcache **head, struct tcache *c)
{
	c->prev = NULL;
	c->next = *head;
	if (*head)
		(*head)->prev = c;
	*head = c;
}

/* @c off the list at *@head. */
static void tc_list_del(struct tcache **head, struct tcache *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		*head = c->next;
	if (c->next)
		c->next->prev = c->prev;
}

static void orphans_unlink_locked(struct tcache *c)
{
	tc_list_del(&orphans, c);
	c->in_orphans = false;
}

/* Size classes of 8 <= @s <= TC_MAX: four per power of two. */
static unsigned tc_class(size_t s)
{
	unsigned k = 63u - (unsigned)__builtin_clzll((unsigned long long)s);

	return (k - 3) * 4 + (unsigned)((s >> (k - 2)) & 3);
}

/* The bytes one cache may hold: a sixteenth of the arena, 1 MiB at most. */
static size_t tc_limit(const struct tide_arena *a)
{
	return TIDE__MIN(a->size / 16, TC_MAX);
}

static int tc_set_find(const struct tcache *c, size_t start)
{
	return (int)tide__bt_find(c->set, TC_SET_BITS, start);
}

/* Room is guaranteed: at most TC_TRACK of the TC_SET slots are in use. */
static void tc_set_add(struct tcache *c, struct buf *b)
{
	tide__bt_add(c->set, TC_SET_BITS, b);
	c->nset++;
}

static void tc_set_del(struct tcache *c, unsigned i)
{
	tide__bt_del(c->set, TC_SET_BITS, i);
	c->nset--;
}

/* The calling thread's cache of @a, or NULL.  No lock: the table is its. */
static struct tcache *tc_find(const struct tide_arena *a)
{
	struct tc_table *t = tc_mine;

	if (!t)
		return NULL;
	for (unsigned i = 0; i < TC_SLOTS; i++)
		if (t->slot[i] && t->slot[i]->arena_id == a->id)
			return t->slot[i];
	return NULL;
}

/* The pages @b touches, each counted whole (see struct tcache). */
static size_t span_pages(const struct tide_arena *a, const struct buf *b)
{
	uint32_t first, last;

	tide__arena_page_span(a, b, &first, &last);
	return (size_t)(last - first) + 1;
}

/*
 * The calling thread's cache hands out a buffer of at least @size bytes
 * (a multiple of 8; @req asked for): the most recent one of @size's class
 * that is large enough, or the most recent one of the next class (all of
 * which are).  NULL when it has none.
 */
void *tide__tc_alloc(struct tide_arena *a, size_t size, size_t req)
{
	struct tcache *c = tc_find(a);
	unsigned cls, j, k;
	struct buf *b = NULL;

	if (!c)
		return NULL;
	cls = tc_class(size);
	pthread_mutex_lock(&c->lock);
	for (j = c->depth[cls]; j-- > 0;) {
		if (c->stack[cls][j]->size >= size) {
			b = c->stack[cls][j];
			break;
		}
	}
	if (!b && c->depth[cls + 1]) {
		cls++;
		j = c->depth[cls] - 1;
		b = c->stack[cls][j];
	}
	if (!b) {
		pthread_mutex_unlock(&c->lock);
		return NULL;
	}
	for (k = j; k + 1 < c->depth[cls]; k++)
		c->stack[cls][k] = c->stack[cls][k + 1];
	c->depth[cls]--;
	atomic_store_explicit(
		&c->bytes,
		atomic_load_explicit(&c->bytes, memory_order_relaxed) - b->size,
		memory_order_relaxed);
	atomic_store_explicit(
		&c->pages,
		atomic_load_explicit(&c->pages, memory_order_relaxed) -
			span_pages(a, b),
		memory_order_relaxed);
	b->cached = false;
	tc_set_add(c, b);
	/* ASan: the slack past @req stays poisoned, as on the locked path. */
	tide__os_unpoison(a->base + b->start, req);
	tide__os_poison(a->base + b->start + req, b->size - req);
	pthread_mutex_unlock(&c->lock);
	return a->base + b->start;
}

/*
 * The calling thread frees the buffer at @off: if its cache tracks it and
 * has room, the buffer waits there.  False sends the free down the locked
 * path (which also untracks the buffer).
 */
bool tide__tc_free(struct tide_arena *a, size_t off)
{
	struct tcache *c = tc_find(a);
	size_t bytes;
	struct buf *b;
	unsigned cls;
	int i;

	if (!c)
		return false;
	pthread_mutex_lock(&c->lock);
	i = tc_set_find(c, off);
	if (i < 0)
		goto out_miss;
	b = c->set[i];
	cls = tc_class(b->size);
	bytes = atomic_load_explicit(&c->bytes, memory_order_relaxed);
	if (c->depth[cls] == TC_DEPTH || bytes + b->size > tc_limit(a))
		goto out_miss;
	tc_set_del(c, (unsigned)i);
	b->cached = true;
	c->stack[cls][c->depth[cls]++] = b;
	atomic_store_explicit(&c->bytes, bytes + b->size, memory_order_relaxed);
	atomic_store_explicit(
		&c->pages,
		atomic_load_explicit(&c->pages, memory_order_relaxed) +
			span_pages(a, b),
		memory_order_relaxed);
	tide__os_poison(a->base + b->start, b->size);
	pthread_mutex_unlock(&c->lock);
	return true;

out_miss:
	pthread_mutex_unlock(&c->lock);
	return false;
}

/*
 * The locked path met a tracked buffer: untrack it, or return true if it
 * waits in its cache (then the user freed it already).  Arena lock held.
 */
bool tide__tc_untrack(struct buf *b)
{
	struct tcache *c = b->tc;
	bool cached;
	int i;

	pthread_mutex_lock(&c->lock);
	cached = b->cached;
	if (!cached) {
		i = tc_set_find(c, b->start);
		if (i >= 0)
			tc_set_del(c, (unsigned)i);
		b->tc = NULL;
		c->tracked--;
	}
	pthread_mutex_unlock(&c->lock);
	return cached;
}

/* Every buffer waiting in @c is freed for real.  Both locks held. */
static void tc_flush_locked(struct tide_arena *a, struct tcache *c)
{
	for (unsigned cls = 0; cls < TC_NCLASS; cls++) {
		for (unsigned j = 0; j < c->depth[cls]; j++) {
			struct buf *b = c->stack[cls][j];

			b->cached = false;
			b->tc = NULL;
			c->tracked--;
			tide__arena_release_locked(a, b);
		}
		c->depth[cls] = 0;
	}
	atomic_store_explicit(&c->bytes, 0, memory_order_relaxed);
	atomic_store_explicit(&c->pages, 0, memory_order_relaxed);
}

/*
 * @c leaves @a: its waiting buffers are freed, the ones its thread holds
 * are no longer tracked.  The arena's lock held, not @c's.
 */
static void tc_detach(struct tide_arena *a, struct tcache *c)
{
	pthread_mutex_lock(&c->lock);
	tc_flush_locked(a, c);
	for (unsigned i = 0; i < TC_SET; i++) {
		if (c->set[i]) {
			c->set[i]->tc = NULL;
			c->set[i] = NULL;
		}
	}
	c->nset = 0;
	c->tracked = 0;
	pthread_mutex_lock(&a->tc_lock);
	tc_list_del(&a->tcaches, c);
	atomic_fetch_sub_explicit(&a->ncaches, 1, memory_order_relaxed);
	pthread_mutex_unlock(&a->tc_lock);
	c->arena = NULL;
	pthread_mutex_unlock(&c->lock);
}

/* Free a cache no arena lists; a dead thread's table goes with its last. */
static void tc_destroy(struct tcache *c)
{
	struct tc_table *t = c->owner;
	bool free_table;

	if (c->in_orphans) {
		pthread_mutex_lock(&orphans_lock);
		orphans_unlink_locked(c);
		pthread_mutex_unlock(&orphans_lock);
	}
	free_table = atomic_fetch_sub(&t->ncaches, 1) == 1 && c->dead;
	pthread_mutex_destroy(&c->lock);
	tide__os_free(c);
	if (free_table)
		tide__os_free(t);
}

/*
 * In a forked child, the orphaned caches of the threads it lacks, which
 * the fork handler set apart (orphans_dead), are freed (and a table with
 * them, when it was their last): nothing else can reach them there.  In
 * the child's own time, from an arena call, not in the fork handler,
 * which must not call the C heap.  Any locks held but orphans_lock.
 */
static void tc_reap_orphans(void)
{
	struct tcache *c, *next;

	if (!atomic_load_explicit(&orphans_reap, memory_order_relaxed))
		return;
	pthread_mutex_lock(&orphans_lock);
	c = orphans_dead;
	orphans_dead = NULL;
	atomic_store_explicit(&orphans_reap, false, memory_order_relaxed);
	pthread_mutex_unlock(&orphans_lock);
	for (; c; c = next) {
		next = c->next;
		tc_destroy(c);
	}
}

/* Every cache of @a flushed; dead ones freed.  The arena's lock held. */
void tide__tc_flush_all(struct tide_arena *a)
{
	struct tcache *c, *next;

	tc_reap_orphans();

	for (c = a->tcaches; c; c = next) {
		next = c->next;
		if (c->dead) {
			tc_detach(a, c);
			tc_destroy(c);
			continue;
		}
		pthread_mutex_lock(&c->lock);
		tc_flush_locked(a, c);
		pthread_mutex_unlock(&c->lock);
	}
}

/* A thread ends: its caches leave their arenas and are freed. */
static void tc_thread_exit(void *arg)
{
	struct tc_table *t = arg;

	pthread_mutex_lock(&tide__arenas_lock);
	for (unsigned i = 0; i < TC_SLOTS; i++) {
		struct tcache *c = t->slot[i];
		struct tide_arena *a;

		if (!c)
			continue;
		a = c->arena; /* set to NULL under arenas_lock */
		if (a) {
			pthread_mutex_lock(&a->lock);
			tc_detach(a, c);
			pthread_mutex_unlock(&a->lock);
		}
		tc_destroy(c);
	}
	pthread_mutex_unlock(&tide__arenas_lock);
	tc_mine = NULL;
	tc_exited = true;
	tide__os_free(t);
}

static void tc_key_init(void)
{
	atomic_store(&tc_key_ok, !pthread_key_create(&tc_key, tc_thread_exit));
}

/*
 * The library is unloaded (dlclose()) or the process exits: the key goes
 * first.  Threads that still run with caches would otherwise call
 * tc_thread_exit() in unmapped code when they end; now nothing runs (their
 * caches are lost with the library, their arenas' memory is the program's).
 */
__attribute__((destructor)) static void tc_unload(void)
{
	if (atomic_exchange(&tc_key_ok, false))
		pthread_key_delete(tc_key);
}

/*
 * The calling thread's cache of @a, made if it has none (the arena's lock
 * held).  NULL when the memory is short, the thread has TC_SLOTS caches
 * of live arenas or its caches ended (tc_exited): its buffers of @a then
 * always take the locked path.
 */
static struct tcache *tc_get(struct tide_arena *a)
{
	struct tc_table *t = tc_mine;
	struct tcache *c = tc_find(a);
	unsigned i;

	if (c || tc_exited || !atomic_load(&tc_key_ok))
		return c;
	if (!t) {
		t = tide__os_calloc(1, sizeof(*t));
		if (!t)
			return NULL;
		if (pthread_setspecific(tc_key, t)) {
			tide__os_free(t);
			return NULL;
		}
		tc_mine = t;
	}
	for (i = 0; i < TC_SLOTS && t->slot[i]; i++) {
		/* Never a cache's lock here: see ->orphaned. */
		if (atomic_load_explicit(&t->slot[i]->orphaned,
					 memory_order_acquire)) {
			tc_destroy(t->slot[i]);
			t->slot[i] = NULL;
			break;
		}
	}
	if (i == TC_SLOTS)
		return NULL;
	c = tide__os_calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	if (pthread_mutex_init(&c->lock, NULL)) {
		tide__os_free(c);
		return NULL;
	}
	c->arena = a;
	c->arena_id = a->id;
	c->owner = t;
	pthread_mutex_lock(&a->tc_lock);
	tc_list_add(&a->tcaches, c);
	atomic_fetch_add_explicit(&a->ncaches, 1, memory_order_relaxed);
	pthread_mutex_unlock(&a->tc_lock);
	atomic_fetch_add(&t->ncaches, 1);
	t->slot[i] = c;
	return c;
}

/* The locked path allocated @b on a shared arena: its thread tracks it. */
void tide__tc_track(struct tide_arena *a, struct buf *b)
{
	struct tcache *c;

	if (b->size > TC_MAX)
		return;
	c = tc_get(a);
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	if (c->tracked < TC_TRACK) {
		tc_set_add(c, b);
		b->tc = c;
		c->tracked++;
	}
	pthread_mutex_unlock(&c->lock);
}

/* Once, before the first arena: the key whose destructor ends a thread's
 * caches. */
void tide__tc_init(void)
{
	pthread_once(&tc_key_once, tc_key_init);
	tc_reap_orphans();
}

/* The calling thread, as the arena's first allocator is remembered (a
 * thread started after another ended may reuse its address). */
const void *tide__tc_self(void)
{
	return &tc_mine;
}

/*
 * @a is destroyed (arenas_lock and its lock held): its caches come off the
 * list before any may be freed (a count may be walking it); each is
 * orphaned (its thread frees it when it next makes one, or when it ends),
 * a dead one is freed here.  Their stacks and sets are never read again.
 */
void tide__tc_orphan_all(struct tide_arena *a)
{
	struct tcache *c, *next;

	pthread_mutex_lock(&a->tc_lock);
	c = a->tcaches;
	a->tcaches = NULL;
	atomic_store_explicit(&a->ncaches, 0, memory_order_relaxed);
	pthread_mutex_unlock(&a->tc_lock);
	for (; c; c = next) {
		bool dead;

		next = c->next;
		pthread_mutex_lock(&c->lock);
		c->arena = NULL;
		dead = c->dead;
		pthread_mutex_unlock(&c->lock);
		if (dead) {
			tc_destroy(c);
			continue;
		}
		pthread_mutex_lock(&orphans_lock);
		tc_list_add(&orphans, c);
		c->in_orphans = true;
		pthread_mutex_unlock(&orphans_lock);
		/* the last touch: its owner may free it from now on */
		atomic_store_explicit(&c->orphaned, true, memory_order_release);
	}
	tc_reap_orphans();
}

/*
 * The pages the buffers waiting in @a's caches touch, for the shrinker's
 * count: under the list's own lock, never the arena's, which an
 * allocating thread may hold.
 */
size_t tide__tc_pages(struct tide_arena *a)
{
	size_t pages = 0;

	if (!atomic_load_explicit(&a->ncaches, memory_order_relaxed))
		return 0;
	pthread_mutex_lock(&a->tc_lock);
	for (struct tcache *c = a->tcaches; c; c = c->next)
		pages += atomic_load_explicit(&c->pages, memory_order_relaxed);
	pthread_mutex_unlock(&a->tc_lock);
	return pages;
}

/* fork()'s prepare, @a's lock held: its caches' locks, then its list's. */
void tide__tc_fork_lock(struct tide_arena *a)
{
	for (struct tcache *c = a->tcaches; c; c = c->next)
		pthread_mutex_lock(&c->lock);
	pthread_mutex_lock(&a->tc_lock);
}

/*
 * And after it.  In the child only the forking thread is left: the caches
 * of the others are marked dead, and the next flush of their arena (in the
 * child's own time, not in a fork handler, which must not call the C
 * heap) frees them.
 */
void tide__tc_fork_unlock(struct tide_arena *a, bool child)
{
	pthread_mutex_unlock(&a->tc_lock);
	for (struct tcache *c = a->tcaches; c; c = c->next) {
		if (child && c->owner != tc_mine)
			c->dead = true;
		pthread_mutex_unlock(&c->lock);
	}
}

/* fork()'s prepare, after every arena's locks: the orphans list's. */
void tide__tc_fork_lock_orphans(void)
{
	pthread_mutex_lock(&orphans_lock);
}

/*
 * And after it, first.  In the child (its only thread the forking one), an
 * orphan of another thread is one nothing can reach: it moves from the
 * orphans list to orphans_dead, marked dead, and tc_reap_orphans() frees
 * it at the child's next arena call.  No heap call here.  The forking
 * thread's own orphans stay on the list, for it.
 */
void tide__tc_fork_unlock_orphans(bool child)
{
	struct tcache *c, *next;

	if (child) {
		for (c = orphans; c; c = next) {
			next = c->next;
			if (c->owner == tc_mine)
				continue;
			orphans_unlink_locked(c);
			c->dead = true;
			c->next = orphans_dead;
			orphans_dead = c;
		}
		if (orphans_dead)
			atomic_store(&orphans_reap, true);
	}
	pthread_mutex_unlock(&orphans_lock);
}

/* ---- for the tests ---------------------------------------------------- */

unsigned tide__arena_orphans(void);

/* The caches orphaned and not yet freed (a forked child's reap too). */
unsigned tide__arena_orphans(void)
{
	unsigned n = 0;

	pthread_mutex_lock(&orphans_lock);
	for (struct tcache *c = orphans; c; c = c->next)
		n++;
	for (struct tcache *c = orphans_dead; c; c = c->next)
		n++;
	pthread_mutex_unlock(&orphans_lock);
	return n;
}

unsigned tide__arena_caches(struct tide_arena *a, size_t *bytes);

/*
 * The threads' caches of @a and (*@bytes) the bytes waiting in them, as
 * they are: nothing is flushed.  Dead caches (a forked child's other
 * threads) count until a flush frees them.
 */
unsigned tide__arena_caches(struct tide_arena *a, size_t *bytes)
{
	unsigned n = 0;

	*bytes = 0;
	pthread_mutex_lock(&a->lock);
	for (struct tcache *c = a->tcaches; c; c = c->next) {
		n++;
		*bytes += atomic_load_explicit(&c->bytes, memory_order_relaxed);
	}
	pthread_mutex_unlock(&a->lock);
	return n;
}
