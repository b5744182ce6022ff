// SPDX-License-Identifier: MIT
/*
 * arena.c - binder-style buffers inside one mapping, after the kernel's
 * drivers/android/binder_alloc.c.
 *
 * The arena is one anonymous mapping.  Buffers tile it: every byte belongs to
 * exactly one buffer, live or free, and the buffers are kept in address order
 * on a doubly linked list so that a free can merge with its neighbours.  Free
 * buffers also sit in a tree ordered by (size, start), which gives best fit
 * with the lowest address on ties; live buffers sit in a hash table keyed
 * by start (open addressing, at most half full), which is how a pointer
 * handed to tide_arena_free() is checked.  All of this lives on the C heap,
 * so the first buffer starts at the mapping's first byte.
 *
 * Every page has a count of the live buffers that overlap it and one of
 * three states: used (count > 0), lru (count 0, but touched since it was last
 * reclaimed) and unmapped.  The LRU is a list of page indices threaded
 * through the page array, oldest at the head.  The shrinker takes pages from
 * the head and hands them back with MADV_DONTNEED, one call per run of
 * contiguous pages, after a mincore of the run: only its resident pages
 * (written since they were last reclaimed) count as freed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <tide/arena.h>
#include <tide/shrinker.h>

#include "internal.h"

#define ARENA_ALIGN 8
/* LRU links hold a page index + 1, so that 0 (calloc's) means none. */
#define NIL 0
/* Pages per madvise batch of a scan: sorted so runs can be merged. */
#define SCAN_CHUNK 256
/* Nodes kept for reuse so that the steady state does not touch the heap. */
#define SPARE_MAX 16

enum page_state { PAGE_UNMAPPED, PAGE_LRU, PAGE_USED };

struct page {
	uint32_t ref; /* live buffers overlapping this page */
	uint32_t prev, next; /* LRU links (index + 1) while on the LRU */
	uint8_t state;
};

struct buf {
	size_t start, size; /* offset in the mapping; bytes, a multiple of 8 */
	struct buf *prev, *next; /* address order; neighbours are adjacent */
	struct buf *left, *right; /* the free tree, while free */
	struct tcache *tc; /* the thread cache that tracks it, or NULL */
	uint32_t prio; /* treap priority */
	bool free;
	bool cached; /* waiting in ->tc's stacks: free to the user */
};

struct tide_arena {
	pthread_mutex_t lock;
	char *base;
	size_t size, page_size;
	uint32_t npages;
	struct page *pages;
	uint32_t lru_head, lru_tail; /* index + 1, NIL when empty */
	struct buf *free_root; /* keyed by (size, start) */
	struct buf **live; /* the live buffers, hashed by start */
	unsigned live_bits; /* the table has 1 << live_bits slots (0: none) */
	size_t nlive;
	struct buf *first; /* at offset 0: never merged away */
	struct buf *spare; /* recycled nodes, linked through ->next */
	unsigned nr_spare;
	uint32_t rng;
	size_t used_bytes, pages_used, pages_lru, pages_high_water;
	unsigned long long faults_avoided;
	atomic_size_t lru_count; /* pages_lru, readable without the lock */
	unsigned long long id; /* unique in the process: thread caches' key */
	const void *solo; /* the one thread that allocated so far */
	atomic_bool shared; /* a second thread allocated: caches are on */
	struct tcache *tcaches; /* the threads' caches of this arena */
	atomic_uint ncaches;
	/*
	 * Guards the list of caches (changed under the lock above too) for
	 * the shrinker's count, which must not wait for the arena's lock: a
	 * leaf, held only to link, unlink or sum.
	 */
	pthread_mutex_t tc_lock;
	struct tide_shrinker *shrinker; /* holds its own copy of the name */
	struct tide_arena *reg_prev, *reg_next; /* every live arena */
};

/*
 * Threads on one arena.  While a single thread allocates from an arena, it
 * works exactly as described above.  From the first allocation by a second
 * thread on, the arena is shared, and every thread that allocates from it
 * gets a cache of its own: the buffers the thread frees wait there (up to
 * TC_DEPTH per size class and tc_limit() bytes) for its next allocation of
 * a size they hold.  A thread that allocates and frees at a high rate then
 * touches neither the arena's lock nor the pages, nodes and counters other
 * threads write (issue 15: on the shared structures two threads were 6x
 * slower than glibc, the cache lines passing back and forth).
 *
 * A cached buffer is still live as far as the trees and the pages go: its
 * node stays in the live table, marked ->cached, and its pages stay used.
 * Everything that reports or reclaims (tide_arena_stats(), the shrinker,
 * an allocation that finds no room) first flushes every cache of the
 * arena, freeing their buffers for real (merged, pages on the LRU), so the
 * page-state rules hold in every snapshot.
 *
 * A cache also tracks the buffers its thread allocated (the set: open
 * addressing on the start offset), which is how that thread's free of one
 * is told from a bad pointer without the arena's lock.  A free the set does
 * not know (another thread's buffer, an untracked one, a bad pointer) takes
 * the locked path, which also takes a tracked buffer out of its cache.
 *
 * Locks, in this order: arenas_lock, an arena's lock, a cache's lock, the
 * arena's tc_lock (its list of caches, for the shrinker's count; a leaf).
 * The owner takes only its cache's lock on the fast paths and never waits
 * for the arena's lock while holding it.  A node's ->tc changes only under both
 * the arena's lock and that cache's; ->cached, the stacks and the set are
 * the cache's lock's.
 */
#define TC_MAX ((size_t)1 << 20) /* larger buffers are never cached */
#define TC_NCLASS 70 /* tc_class(TC_MAX) + 2 */
#define TC_DEPTH 4 /* cached buffers per size class */
#define TC_SET_BITS 9
#define TC_SET (1u << TC_SET_BITS)
#define TC_TRACK (TC_SET / 2) /* nodes with ->tc: the set is half full */
#define TC_SLOTS 8 /* arenas a thread keeps a cache for */

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
	unsigned tracked; /* nodes whose ->tc is this cache */
	unsigned nset;
	atomic_size_t bytes; /* in the stacks (written under lock) */
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
static pthread_key_t tc_key;
static atomic_bool tc_key_ok; /* tc_key exists (until the library goes) */
static pthread_once_t tc_key_once = PTHREAD_ONCE_INIT;
static atomic_ullong arena_ids;

static void tc_destroy(struct tcache *c);

/*
 * Every live arena, for tide_arena_totals(): linked at create, unlinked at
 * destroy, under a lock of its own.  The alloc and free paths never touch
 * it.  Lock order: arenas_lock, then an arena's lock.
 */
static pthread_mutex_t arenas_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tide_arena *arenas_head;
static pthread_once_t arenas_fork_once = PTHREAD_ONCE_INIT;
/* The fork handlers are in: until then no arena exists (see below). */
static atomic_bool arenas_forkable;

/*
 * fork(): another thread may hold arenas_lock, an arena's lock or a thread
 * cache's, and a forked child keeps using its parent's arenas (arena.h).
 * Prepare takes arenas_lock, then every listed arena's lock in list order
 * (the order tide_arena_totals() takes them in), each followed by its
 * caches' locks and its list's, so no thread is inside an arena when the
 * process is copied.  The parent and the child release them: the
 * child's only thread is the forking one, which holds them (POSIX's
 * pattern; glibc's unlock of these mutex types checks no owner, and
 * re-initialising a mutex ThreadSanitizer saw locked makes its later
 * destroy a report).
 */
static void arenas_fork_prepare(void)
{
	pthread_mutex_lock(&arenas_lock);
	for (struct tide_arena *a = arenas_head; a; a = a->reg_next) {
		pthread_mutex_lock(&a->lock);
		for (struct tcache *c = a->tcaches; c; c = c->next)
			pthread_mutex_lock(&c->lock);
		pthread_mutex_lock(&a->tc_lock);
	}
}

/*
 * In the child only the forking thread is left: the caches of the others
 * are marked dead, and the next flush of their arena (in the child's own
 * time, not in this handler, which must not call the C heap) frees them.
 */
static void arenas_fork_unlock(bool child)
{
	for (struct tide_arena *a = arenas_head; a; a = a->reg_next) {
		pthread_mutex_unlock(&a->tc_lock);
		for (struct tcache *c = a->tcaches; c; c = c->next) {
			if (child && c->owner != tc_mine)
				c->dead = true;
			pthread_mutex_unlock(&c->lock);
		}
		pthread_mutex_unlock(&a->lock);
	}
	pthread_mutex_unlock(&arenas_lock);
}

static void arenas_fork_parent(void)
{
	arenas_fork_unlock(false);
}

static void arenas_fork_child(void)
{
	arenas_fork_unlock(true);
}

static void arenas_register_atfork(void)
{
	pthread_atfork(arenas_fork_prepare, arenas_fork_parent,
		       arenas_fork_child);
	atomic_store_explicit(&arenas_forkable, true, memory_order_release);
}

/*
 * Prepare handlers run in the reverse order of their registration, and the
 * order matters twice:
 *  - a thread that holds an arena's lock may call the C heap (node_get(),
 *    node_put(), the qsort() of a scan), so the arena locks must be taken
 *    before a replacement allocator (jemalloc, tcmalloc: they register
 *    their handlers when they initialise) takes its own.  So ours are
 *    registered after it: lazily, at the first tide_arena_create() once its
 *    first allocation succeeded (the allocator is initialised by then),
 *    not when the library loads.  (glibc's malloc takes its locks in fork()
 *    itself, after every prepare handler.)
 *  - a module that reads the totals under a lock of its own (ctl.c's
 *    serving thread holds ctl's lock) calls this before registering its own
 *    handlers: theirs prepare first, ours inside them (ctl's lock, then
 *    arenas_lock, then each arena's lock).
 * Until the handlers are in there is no arena, and tide_arena_totals()
 * takes no lock (a fork then could leave arenas_lock held in the child).
 */
void tide__arena_fork_register(void)
{
	pthread_once(&arenas_fork_once, arenas_register_atfork);
}

static void arenas_link(struct tide_arena *a)
{
	pthread_mutex_lock(&arenas_lock);
	a->reg_prev = NULL;
	a->reg_next = arenas_head;
	if (arenas_head)
		arenas_head->reg_prev = a;
	arenas_head = a;
	pthread_mutex_unlock(&arenas_lock);
}

/*
 * Out of the list, and out of the threads' caches: each is orphaned (its
 * thread frees it when it next makes one, or when it ends), a dead one is
 * freed here.  Its stacks and set are never read again.
 */
static void arenas_unlink(struct tide_arena *a)
{
	struct tcache *c, *next;

	pthread_mutex_lock(&arenas_lock);
	pthread_mutex_lock(&a->lock);
	/* Off the list before any may be freed: a count may be walking it. */
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
		if (dead)
			tc_destroy(c);
		else /* the last touch: its owner may free it from now on */
			atomic_store_explicit(&c->orphaned, true,
					      memory_order_release);
	}
	pthread_mutex_unlock(&a->lock);
	if (a->reg_prev)
		a->reg_prev->reg_next = a->reg_next;
	else
		arenas_head = a->reg_next;
	if (a->reg_next)
		a->reg_next->reg_prev = a->reg_prev;
	pthread_mutex_unlock(&arenas_lock);
}

/* ---- the treap of free blocks ------------------------------------------ */

static uint32_t next_prio(struct tide_arena *a)
{
	uint32_t x = a->rng;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	a->rng = x;
	return x;
}

static bool free_less(const struct buf *x, const struct buf *y)
{
	return x->size < y->size || (x->size == y->size && x->start < y->start);
}

typedef bool (*less_fn)(const struct buf *, const struct buf *);

static void tree_insert(struct buf **t, struct buf *n, less_fn less)
{
	struct buf *r = *t;

	if (!r) {
		n->left = n->right = NULL;
		*t = n;
		return;
	}
	if (less(n, r)) {
		tree_insert(&r->left, n, less);
		if (r->left->prio > r->prio) {
			struct buf *l = r->left;

			r->left = l->right;
			l->right = r;
			*t = l;
		}
	} else {
		tree_insert(&r->right, n, less);
		if (r->right->prio > r->prio) {
			struct buf *g = r->right;

			r->right = g->left;
			g->left = r;
			*t = g;
		}
	}
}

static struct buf *tree_join(struct buf *l, struct buf *r)
{
	if (!l)
		return r;
	if (!r)
		return l;
	if (l->prio > r->prio) {
		l->right = tree_join(l->right, r);
		return l;
	}
	r->left = tree_join(l, r->left);
	return r;
}

/* @n must be in the tree: keys are unique, so the descent finds it. */
static void tree_remove(struct buf **t, struct buf *n, less_fn less)
{
	while (*t != n)
		t = less(n, *t) ? &(*t)->left : &(*t)->right;
	*t = tree_join(n->left, n->right);
	n->left = n->right = NULL;
}

/* The smallest free buffer of at least @size bytes, lowest start on ties. */
static struct buf *best_fit(struct tide_arena *a, size_t size)
{
	struct buf *t = a->free_root, *best = NULL;

	while (t) {
		if (t->size >= size) {
			best = t;
			t = t->left;
		} else {
			t = t->right;
		}
	}
	return best;
}

/* ---- the live buffers ------------------------------------------------- */

static size_t live_slot(const struct tide_arena *a, size_t start)
{
	return (size_t)(((unsigned long long)(start >> 3) *
			 0x9e3779b97f4a7c15ull) >>
			(64 - a->live_bits));
}

/* The live buffer that starts at @off, or NULL. */
static struct buf *live_find(const struct tide_arena *a, size_t off)
{
	size_t mask = ((size_t)1 << a->live_bits) - 1;

	if (!a->live_bits)
		return NULL;
	for (size_t i = live_slot(a, off);; i = (i + 1) & mask) {
		if (!a->live[i] || a->live[i]->start == off)
			return a->live[i];
	}
}

/* Room: the table holds @b without going past half full. */
static void live_add(struct tide_arena *a, struct buf *b)
{
	size_t mask = ((size_t)1 << a->live_bits) - 1, i;

	for (i = live_slot(a, b->start); a->live[i]; i = (i + 1) & mask)
		;
	a->live[i] = b;
	a->nlive++;
}

/*
 * Room for one more live buffer: the table doubles (from 64 slots) before
 * it would be more than half full.  -ENOMEM changes nothing.
 */
static int live_reserve(struct tide_arena *a)
{
	unsigned bits = a->live_bits ? a->live_bits + 1 : 6;
	size_t old = a->live_bits ? (size_t)1 << a->live_bits : 0;
	struct buf **t, **prev = a->live;

	if ((a->nlive + 1) * 2 <= old)
		return 0;
	t = tide__os_calloc((size_t)1 << bits, sizeof(*t));
	if (!t)
		return -ENOMEM;
	a->live = t;
	a->live_bits = bits;
	a->nlive = 0;
	for (size_t i = 0; i < old; i++)
		if (prev[i])
			live_add(a, prev[i]);
	tide__os_free(prev);
	return 0;
}

/* Linear probing's deletion: later entries of the run move up. */
static void live_del(struct tide_arena *a, const struct buf *b)
{
	size_t mask = ((size_t)1 << a->live_bits) - 1, i, j;

	for (i = live_slot(a, b->start); a->live[i] != b; i = (i + 1) & mask)
		;
	for (j = i;;) {
		size_t h;

		j = (j + 1) & mask;
		if (!a->live[j])
			break;
		h = live_slot(a, a->live[j]->start);
		if (((j - h) & mask) >= ((j - i) & mask)) {
			a->live[i] = a->live[j];
			i = j;
		}
	}
	a->live[i] = NULL;
	a->nlive--;
}

/*
 * Why @off is not a live buffer's start, for the report: the buffer that
 * holds it (the address-ordered list, walked: misuse only) is free, or
 * live and starts before it.
 */
static const char *not_live(const struct tide_arena *a, size_t off)
{
	const struct buf *b;

	for (b = a->first; b && off >= b->start + b->size; b = b->next)
		;
	if (b && !b->free)
		return "tide_arena_free: pointer inside a buffer";
	return "tide_arena_free: not a live buffer (double free?)";
}

/* ---- nodes ------------------------------------------------------------ */

static struct buf *node_get(struct tide_arena *a)
{
	struct buf *b = a->spare;

	if (b) {
		a->spare = b->next;
		a->nr_spare--;
	} else {
		b = tide__os_malloc(sizeof(*b));
		if (!b)
			return NULL;
	}
	memset(b, 0, sizeof(*b));
	b->prio = next_prio(a);
	return b;
}

static void node_put(struct tide_arena *a, struct buf *b)
{
	if (a->nr_spare >= SPARE_MAX) {
		tide__os_free(b);
		return;
	}
	b->next = a->spare;
	a->spare = b;
	a->nr_spare++;
}

/* ---- pages ------------------------------------------------------------ */

static void lru_unlink(struct tide_arena *a, uint32_t i)
{
	struct page *p = &a->pages[i];

	if (p->prev != NIL)
		a->pages[p->prev - 1].next = p->next;
	else
		a->lru_head = p->next;
	if (p->next != NIL)
		a->pages[p->next - 1].prev = p->prev;
	else
		a->lru_tail = p->prev;
	p->prev = p->next = NIL;
	a->pages_lru--;
	atomic_store_explicit(&a->lru_count, a->pages_lru,
			      memory_order_relaxed);
}

static void lru_append(struct tide_arena *a, uint32_t i)
{
	struct page *p = &a->pages[i];

	p->prev = a->lru_tail;
	p->next = NIL;
	if (a->lru_tail != NIL)
		a->pages[a->lru_tail - 1].next = i + 1;
	else
		a->lru_head = i + 1;
	a->lru_tail = i + 1;
	a->pages_lru++;
	atomic_store_explicit(&a->lru_count, a->pages_lru,
			      memory_order_relaxed);
}

static void page_range(const struct tide_arena *a, const struct buf *b,
		       uint32_t *first, uint32_t *last)
{
	*first = (uint32_t)(b->start / a->page_size);
	*last = (uint32_t)((b->start + b->size - 1) / a->page_size);
}

/*
 * A buffer went live: its pages become used, coming off the LRU if idle.
 * Returns how many were unmapped (they fault in: new memory).
 */
static size_t pages_get(struct tide_arena *a, const struct buf *b)
{
	uint32_t i, first, last;
	size_t fresh = 0;

	page_range(a, b, &first, &last);
	for (i = first; i <= last; i++) {
		struct page *p = &a->pages[i];

		if (p->ref++)
			continue;
		if (p->state == PAGE_LRU) {
			lru_unlink(a, i);
			a->faults_avoided++;
		} else {
			fresh++;
		}
		p->state = PAGE_USED;
		a->pages_used++;
	}
	if (last + 1 > a->pages_high_water)
		a->pages_high_water = last + 1;
	return fresh;
}

/* A buffer died: pages no live buffer touches any more join the LRU tail. */
static void pages_put(struct tide_arena *a, const struct buf *b)
{
	uint32_t i, first, last;

	page_range(a, b, &first, &last);
	for (i = first; i <= last; i++) {
		struct page *p = &a->pages[i];

		if (--p->ref)
			continue;
		p->state = PAGE_LRU;
		a->pages_used--;
		lru_append(a, i);
	}
}

static int cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return (a > b) - (a < b);
}

/* How many of the @n pages mincore() said are resident. */
static unsigned long count_resident(const unsigned char *vec, unsigned n)
{
	unsigned long r = 0;

	for (unsigned i = 0; i < n; i++)
		r += vec[i] & 1;
	return r;
}

/*
 * Hand back up to @nr of the oldest LRU pages.  The oldest pages are taken a
 * chunk at a time and sorted so that each run of contiguous pages costs one
 * madvise.  Before it, mincore says which pages of the run are resident: a
 * page on the LRU was overlapped by a buffer, but only a written one holds
 * memory, so only those count as freed.  *@taken is set to the pages taken
 * off the LRU (the work), the return value is the resident ones among them.
 *
 * A failed madvise, or a mincore that failed for want of memory
 * (tide__os_exhausted(): the fault injector's -ENOMEM too), leaves its run
 * and every page not reached yet on the LRU where they were.  A mincore
 * that fails otherwise (EAGAIN, or a sandbox that forbids it) does not keep
 * the run: it is released and counted as freed whole, an upper bound.
 */
static unsigned long reclaim_locked(struct tide_arena *a, unsigned long nr,
				    unsigned long *taken)
{
	uint32_t batch[SCAN_CHUNK];
	unsigned char vec[SCAN_CHUNK];
	unsigned long freed = 0;

	*taken = 0;
	while (nr && a->lru_head != NIL) {
		unsigned k = 0, i, j;
		uint32_t link = a->lru_head;

		while (k < SCAN_CHUNK && k < nr && link != NIL) {
			batch[k++] = link - 1;
			link = a->pages[link - 1].next;
		}
		qsort(batch, k, sizeof(batch[0]), cmp_u32);
		nr -= k;
		for (i = 0; i < k; i = j) {
			char *addr = a->base + (size_t)batch[i] * a->page_size;
			size_t len;
			int err;

			for (j = i + 1; j < k && batch[j] == batch[j - 1] + 1;)
				j++;
			len = (size_t)(j - i) * a->page_size;
			err = tide__os_resident(addr, len, vec);
			if (err && tide__os_exhausted(err))
				return freed;
			if (tide__os_advise(addr, len, MADV_DONTNEED))
				return freed;
			for (unsigned m = i; m < j; m++) {
				lru_unlink(a, batch[m]);
				a->pages[batch[m]].state = PAGE_UNMAPPED;
			}
			freed += err ? j - i : count_resident(vec, j - i);
			*taken += j - i;
		}
	}
	return freed;
}

/* ---- freeing, and the thread caches ----------------------------------- */

/* @b absorbs @n, the buffer right after it; neither is in a tree. */
static void absorb_next(struct tide_arena *a, struct buf *b, struct buf *n)
{
	b->size += n->size;
	b->next = n->next;
	if (n->next)
		n->next->prev = b;
	node_put(a, n);
}

/* The live buffer @b (untracked) dies: merged, its pages to the LRU. */
static void release_locked(struct tide_arena *a, struct buf *b)
{
	live_del(a, b);
	/* ASan: a use after free is a use-after-poison report. */
	tide__os_poison(a->base + b->start, b->size);
	pages_put(a, b);
	a->used_bytes -= b->size;
	b->free = true;
	if (b->prev && b->prev->free) {
		struct buf *prev = b->prev;

		tree_remove(&a->free_root, prev, free_less);
		absorb_next(a, prev, b);
		b = prev;
	}
	if (b->next && b->next->free) {
		struct buf *next = b->next;

		tree_remove(&a->free_root, next, free_less);
		absorb_next(a, b, next);
	}
	tree_insert(&a->free_root, b, free_less);
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

static unsigned tc_hash(size_t start)
{
	return (unsigned)(((unsigned long long)(start >> 3) *
			   0x9e3779b97f4a7c15ull) >>
			  (64 - TC_SET_BITS));
}

static int tc_set_find(const struct tcache *c, size_t start)
{
	for (unsigned i = tc_hash(start);; i = (i + 1) & (TC_SET - 1)) {
		if (!c->set[i])
			return -1;
		if (c->set[i]->start == start)
			return (int)i;
	}
}

/* Room is guaranteed: at most TC_TRACK of the TC_SET slots are in use. */
static void tc_set_add(struct tcache *c, struct buf *b)
{
	unsigned i = tc_hash(b->start);

	while (c->set[i])
		i = (i + 1) & (TC_SET - 1);
	c->set[i] = b;
	c->nset++;
}

/* Linear probing's deletion: later entries of the run move up. */
static void tc_set_del(struct tcache *c, unsigned i)
{
	for (unsigned j = i;;) {
		unsigned h;

		j = (j + 1) & (TC_SET - 1);
		if (!c->set[j])
			break;
		h = tc_hash(c->set[j]->start);
		if (((j - h) & (TC_SET - 1)) >= ((j - i) & (TC_SET - 1))) {
			c->set[i] = c->set[j];
			i = j;
		}
	}
	c->set[i] = NULL;
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

/*
 * The calling thread's cache hands out a buffer of at least @size bytes
 * (a multiple of 8; @req asked for): the most recent one of @size's class
 * that is large enough, or the most recent one of the next class (all of
 * which are).  NULL when it has none.
 */
static void *tc_alloc(struct tide_arena *a, size_t size, size_t req)
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
static bool tc_free(struct tide_arena *a, size_t off)
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
static bool tc_untrack(struct buf *b)
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
			release_locked(a, b);
		}
		c->depth[cls] = 0;
	}
	atomic_store_explicit(&c->bytes, 0, memory_order_relaxed);
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
	if (c->prev)
		c->prev->next = c->next;
	else
		a->tcaches = c->next;
	if (c->next)
		c->next->prev = c->prev;
	atomic_fetch_sub_explicit(&a->ncaches, 1, memory_order_relaxed);
	pthread_mutex_unlock(&a->tc_lock);
	c->arena = NULL;
	pthread_mutex_unlock(&c->lock);
}

/* Free a cache no arena lists; a dead thread's table goes with its last. */
static void tc_destroy(struct tcache *c)
{
	struct tc_table *t = c->owner;
	bool free_table = atomic_fetch_sub(&t->ncaches, 1) == 1 && c->dead;

	pthread_mutex_destroy(&c->lock);
	tide__os_free(c);
	if (free_table)
		tide__os_free(t);
}

/* Every cache of @a flushed; dead ones freed.  The arena's lock held. */
static void tc_flush_all(struct tide_arena *a)
{
	struct tcache *c, *next;

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

	pthread_mutex_lock(&arenas_lock);
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
	pthread_mutex_unlock(&arenas_lock);
	tc_mine = NULL;
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
 * held).  NULL when the memory is short or the thread has TC_SLOTS caches
 * of live arenas: its buffers of @a then always take the locked path.
 */
static struct tcache *tc_get(struct tide_arena *a)
{
	struct tc_table *t = tc_mine;
	struct tcache *c = tc_find(a);
	unsigned i;

	if (c || !atomic_load(&tc_key_ok))
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
	c->next = a->tcaches;
	if (a->tcaches)
		a->tcaches->prev = c;
	a->tcaches = c;
	atomic_fetch_add_explicit(&a->ncaches, 1, memory_order_relaxed);
	pthread_mutex_unlock(&a->tc_lock);
	atomic_fetch_add(&t->ncaches, 1);
	t->slot[i] = c;
	return c;
}

/* The locked path allocated @b on a shared arena: its thread tracks it. */
static void tc_track(struct tide_arena *a, struct buf *b)
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

/* ---- the shrinker ----------------------------------------------------- */

/*
 * The LRU pages: an upper bound of what a scan frees (only the written ones
 * are resident, and asking the kernel would be a system call per count).
 */
static unsigned long arena_count(void *priv, struct tide_shrink_control *sc)
{
	struct tide_arena *a = priv;
	unsigned long n =
		atomic_load_explicit(&a->lru_count, memory_order_relaxed);
	size_t cached = 0;

	(void)sc;
	if (!atomic_load_explicit(&a->ncaches, memory_order_relaxed))
		return n;
	/*
	 * The threads' caches hold pages too, which a scan flushes first:
	 * their bytes, under the list's own lock (never the arena's, which
	 * an allocating thread may hold).
	 */
	pthread_mutex_lock(&a->tc_lock);
	for (struct tcache *c = a->tcaches; c; c = c->next)
		cached += atomic_load_explicit(&c->bytes, memory_order_relaxed);
	pthread_mutex_unlock(&a->tc_lock);
	return n + (unsigned long)((cached + a->page_size - 1) / a->page_size);
}

/* Batches of never-written pages one scan goes through to find some that
 * hold memory (1024 of 128 pages: 512 MiB of address space). */
#define STRETCH_BATCHES 1024

static unsigned long arena_scan(void *priv, struct tide_shrink_control *sc)
{
	struct tide_arena *a = priv;
	unsigned long freed, taken;

	/* An allocating thread holds the lock: never wait for it. */
	if (pthread_mutex_trylock(&a->lock))
		return TIDE_SHRINK_STOP;
	tc_flush_all(a);
	freed = reclaim_locked(a, sc->nr_to_scan, &taken);
	/*
	 * Nothing resident in the batch (buffers never written): go on down
	 * the LRU, up to STRETCH_BATCHES batches, so that a return of 0 means
	 * the LRU holds nothing more to free.  A scan that frees nothing ends
	 * the shrinker's pass, and a pass that frees nothing a drop: a stretch
	 * of never-written pages would hide the written ones behind it.
	 */
	for (unsigned i = 1; !freed && i < STRETCH_BATCHES && taken; i++) {
		unsigned long more;

		if (a->lru_head == NIL)
			break;
		freed = reclaim_locked(a, sc->nr_to_scan, &more);
		if (!more) /* a failed madvise: the pages stay */
			break;
		taken += more;
	}
	pthread_mutex_unlock(&a->lock);
	/* The work is the pages taken off the LRU, resident or not (the
	 * core reads at most nr_to_scan of it). */
	sc->nr_scanned = taken;
	return freed;
}

static const struct tide_shrinker_ops arena_shrinker_ops = {
	.count_objects = arena_count,
	.scan_objects = arena_scan,
};

/* ---- the public calls ------------------------------------------------- */

/*
 * The arena lock spins a little before it sleeps (glibc's adaptive mutex):
 * the sections it guards are a few hundred nanoseconds, far shorter than a
 * futex sleep and wake-up, so two threads on one arena take turns instead
 * of putting each other to sleep (issue 15: 1.5 s of system time in futex
 * with a plain mutex).
 */
static int init_lock(pthread_mutex_t *m)
{
	pthread_mutexattr_t at;
	int err;

	err = pthread_mutexattr_init(&at);
	if (err)
		return -err;
#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
	pthread_mutexattr_settype(&at, PTHREAD_MUTEX_ADAPTIVE_NP);
#endif
	err = pthread_mutex_init(m, &at);
	pthread_mutexattr_destroy(&at);
	return -err;
}

static void free_all_nodes(struct tide_arena *a)
{
	struct buf *b, *next;

	for (b = a->first; b; b = next) {
		next = b->next;
		tide__os_free(b);
	}
	for (b = a->spare; b; b = next) {
		next = b->next;
		tide__os_free(b);
	}
	a->spare = NULL;
	a->nr_spare = 0;
}

struct tide_arena *tide_arena_create(const char *name, size_t size)
{
	size_t ps = tide__os_page_size(), len, npages;
	struct tide_arena *a;
	struct buf *b;
	int err;

	if (!name || !size || size > TIDE_ARENA_MAX) {
		errno = EINVAL;
		return NULL;
	}
	len = TIDE__ALIGN_UP(size, ps);
	npages = len / ps;
	if (npages >= UINT32_MAX) {
		errno = EINVAL;
		return NULL;
	}
	a = tide__os_calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	tide__arena_fork_register(); /* after an allocation: see there */
	pthread_once(&tc_key_once, tc_key_init);
	a->id = atomic_fetch_add(&arena_ids, 1) + 1;
	a->size = len;
	a->page_size = ps;
	a->npages = (uint32_t)npages;
	a->rng = 0x9e3779b9u;
	err = -ENOMEM;
	/* All zero is a valid start, so large records stay untouched. */
	a->pages = tide__os_calloc(npages, sizeof(*a->pages));
	if (!a->pages)
		goto out_free_arena;
	b = node_get(a);
	if (!b)
		goto out_free_pages;
	b->size = len;
	b->free = true;
	a->first = b;
	tree_insert(&a->free_root, b, free_less);
	err = tide__os_map(len, (void **)&a->base);
	if (err)
		goto out_free_node;
	err = init_lock(&a->lock);
	if (err)
		goto out_unmap;
	err = -pthread_mutex_init(&a->tc_lock, NULL);
	if (err)
		goto out_destroy_lock;
	a->shrinker = tide_shrinker_alloc(name);
	if (!a->shrinker) {
		err = -errno;
		goto out_destroy_tc_lock;
	}
	tide_shrinker_register(a->shrinker, &arena_shrinker_ops, a);
	arenas_link(a);
	return a;

out_destroy_tc_lock:
	pthread_mutex_destroy(&a->tc_lock);
out_destroy_lock:
	pthread_mutex_destroy(&a->lock);
out_unmap:
	tide__os_unmap(a->base, len);
out_free_node:
	tide__os_free(b);
out_free_pages:
	tide__os_free(a->pages);
out_free_arena:
	tide__os_free(a);
	errno = -err;
	return NULL;
}

void tide_arena_destroy(struct tide_arena *a)
{
	if (!a)
		return;
	/* First out of the list: tide_arena_totals() may be reading it. */
	arenas_unlink(a);
	/* Waits for a running scan of this arena, then none can start. */
	tide_shrinker_free(a->shrinker);
	tide__os_unmap(a->base, a->size);
	free_all_nodes(a);
	tide__os_free(a->live);
	tide__os_free(a->pages);
	pthread_mutex_destroy(&a->tc_lock);
	pthread_mutex_destroy(&a->lock);
	tide__os_free(a);
}

void *tide_arena_alloc(struct tide_arena *a, size_t size)
{
	struct buf *b, *rest = NULL;
	size_t req = size, fresh;
	bool shared;

	if (!a || !size) {
		errno = EINVAL;
		return NULL;
	}
	/* Checked before rounding, which would overflow near SIZE_MAX. */
	if (size > a->size) {
		errno = ENOSPC;
		return NULL;
	}
	size = TIDE__ALIGN_UP(size, ARENA_ALIGN);
	shared = atomic_load_explicit(&a->shared, memory_order_relaxed);
	if (shared && size <= TC_MAX) {
		void *p = tc_alloc(a, size, req);

		if (p)
			return p;
	}
	pthread_mutex_lock(&a->lock);
	if (!shared) {
		/* The first allocation by a second thread shares the arena. */
		if (!a->solo)
			a->solo = &tc_mine;
		else if (a->solo != (const void *)&tc_mine)
			atomic_store_explicit(&a->shared, shared = true,
					      memory_order_relaxed);
	}
	b = best_fit(a, size);
	if (!b && a->tcaches) {
		tc_flush_all(a);
		b = best_fit(a, size);
	}
	if (!b) {
		pthread_mutex_unlock(&a->lock);
		errno = ENOSPC;
		return NULL;
	}
	/* Both can fail: before anything changes (a larger table is none). */
	if (live_reserve(a) || (b->size > size && !(rest = node_get(a)))) {
		pthread_mutex_unlock(&a->lock);
		errno = ENOMEM;
		return NULL;
	}
	tree_remove(&a->free_root, b, free_less);
	if (rest) {
		rest->start = b->start + size;
		rest->size = b->size - size;
		rest->free = true;
		rest->prev = b;
		rest->next = b->next;
		if (b->next)
			b->next->prev = rest;
		b->next = rest;
		b->size = size;
		tree_insert(&a->free_root, rest, free_less);
	}
	b->free = false;
	live_add(a, b);
	fresh = pages_get(a, b);
	a->used_bytes += size;
	/* ASan: the rounding slack stays poisoned, as kv's slack does. */
	tide__os_unpoison(a->base + b->start, req);
	tide__os_poison(a->base + b->start + req, size - req);
	if (shared)
		tc_track(a, b);
	pthread_mutex_unlock(&a->lock);
	/*
	 * The pages count, but the arena never runs reclaim (arena.h): the
	 * caller may hold a lock a shrinker takes.  The next charge that may
	 * reclaim (kv's) measures.
	 */
	if (fresh)
		tide__sensor_charge(fresh * a->page_size, TIDE_NORECLAIM);
	return a->base + b->start;
}

void tide_arena_free(struct tide_arena *a, void *p)
{
	const char *what = NULL;
	struct buf *b;
	size_t off;

	if (!p)
		return;
	if (!a) {
		tide__report("tide_arena_free: no arena", p);
		return;
	}
	if ((char *)p < a->base || (char *)p >= a->base + a->size) {
		tide__report("tide_arena_free: pointer not in this arena", p);
		return;
	}
	off = (size_t)((char *)p - a->base);
	if (atomic_load_explicit(&a->shared, memory_order_relaxed) &&
	    tc_free(a, off))
		return;
	pthread_mutex_lock(&a->lock);
	b = live_find(a, off);
	if (!b) {
		what = not_live(a, off);
		goto out_unlock;
	}
	if (b->tc && tc_untrack(b)) {
		what = "tide_arena_free: not a live buffer (double free?)";
		goto out_unlock;
	}
	release_locked(a, b);
out_unlock:
	pthread_mutex_unlock(&a->lock);
	/* Reported outside the lock: the handler may take its own locks. */
	if (what)
		tide__report(what, p);
}

void tide_arena_stats(struct tide_arena *a, struct tide_arena_stats *st)
{
	if (!st)
		return;
	memset(st, 0, sizeof(*st));
	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	tc_flush_all(a);
	st->size = a->size;
	st->used_bytes = a->used_bytes;
	st->free_bytes = a->size - a->used_bytes;
	st->pages_total = a->npages;
	st->pages_used = a->pages_used;
	st->pages_lru = a->pages_lru;
	st->pages_unmapped = a->npages - a->pages_used - a->pages_lru;
	st->pages_high_water = a->pages_high_water;
	st->page_faults_avoided = a->faults_avoided;
	pthread_mutex_unlock(&a->lock);
}

void tide_arena_totals(struct tide_arena_totals *st)
{
	struct tide_arena_totals t = { 0 };
	struct tide_arena_stats as;

	if (!st)
		return;
	if (!atomic_load_explicit(&arenas_forkable, memory_order_acquire)) {
		*st = t; /* no arena was ever created */
		return;
	}
	pthread_mutex_lock(&arenas_lock);
	for (struct tide_arena *a = arenas_head; a; a = a->reg_next) {
		tide_arena_stats(a, &as);
		t.arenas++;
		t.size += as.size;
		t.used_bytes += as.used_bytes;
		t.pages_used += as.pages_used;
		t.pages_lru += as.pages_lru;
		t.pages_unmapped += as.pages_unmapped;
		t.page_faults_avoided += as.page_faults_avoided;
	}
	pthread_mutex_unlock(&arenas_lock);
	*st = t;
}

/* ---- for the tests ---------------------------------------------------- */

size_t tide__arena_page_states(struct tide_arena *a, unsigned char *out,
			       size_t n);
unsigned long tide__arena_reclaim(struct tide_arena *a, unsigned long nr,
				  unsigned long *taken);
unsigned tide__arena_caches(struct tide_arena *a, size_t *bytes);

/*
 * Copy the state of the first @n pages (0 unmapped, 1 lru, 2 used) to @out;
 * returns how many were copied.
 */
size_t tide__arena_page_states(struct tide_arena *a, unsigned char *out,
			       size_t n)
{
	pthread_mutex_lock(&a->lock);
	tc_flush_all(a);
	n = TIDE__MIN(n, (size_t)a->npages);
	for (size_t i = 0; i < n; i++)
		out[i] = a->pages[i].state;
	pthread_mutex_unlock(&a->lock);
	return n;
}

/*
 * What a scan does, but waiting for the lock: returns the resident pages
 * released, *@taken the pages taken off the LRU.
 */
unsigned long tide__arena_reclaim(struct tide_arena *a, unsigned long nr,
				  unsigned long *taken)
{
	unsigned long freed;

	pthread_mutex_lock(&a->lock);
	tc_flush_all(a);
	freed = reclaim_locked(a, nr, taken);
	pthread_mutex_unlock(&a->lock);
	return freed;
}

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
