/* SPDX-License-Identifier: MIT */
/*
 * arena_internal.h - what arena.c (the arena: layout, pages, reclaim) and
 * arena_cache.c (the threads' caches of a shared arena) share.
 */
#ifndef TIDE_ARENA_INTERNAL_H
#define TIDE_ARENA_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct page;
struct tcache;

/*
 * Size classes of the free blocks (arena.c): one per size below 2 *
 * FREE_SUB 8-byte units (256 bytes), then FREE_SUB per power of two, up
 * to TIDE_ARENA_MAX (2^27 units: class 384, the last).
 */
#define FREE_SUB_BITS 4
#define FREE_SUB (1u << FREE_SUB_BITS)
#define FREE_NCLASS ((27 - FREE_SUB_BITS + 1) * FREE_SUB + 1)
#define FREE_MAPW ((FREE_NCLASS + 63) / 64)

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
	unsigned page_shift; /* page_size is 1 << page_shift */
	uint32_t npages;
	struct page *pages;
	uint32_t lru_head, lru_tail; /* index + 1, NIL when empty */
	struct buf *free_root[FREE_NCLASS]; /* per class, by (size, start) */
	unsigned long long free_map[FREE_MAPW]; /* the classes that have any */
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
	atomic_bool shared; /* a second thread got a buffer: caches are on */
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
 * works exactly as arena.c describes.  From the first successful allocation
 * by a second thread on, the arena is shared, and every thread that
 * allocates from it gets a cache of its own: the buffers the thread frees
 * wait there (up to TC_DEPTH per size class and tc_limit() bytes, in
 * arena_cache.c) for its next allocation of a size they hold.  A thread
 * that allocates and frees at a high rate then touches neither the arena's
 * lock nor the pages, nodes and counters other threads write (issue 15: on
 * the shared structures two threads were 6x slower than glibc, the cache
 * lines passing back and forth).
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

/*
 * A table of buffers keyed by start, 1 << @bits slots, open addressing
 * with linear probing, kept at most half full: the arena's live buffers
 * and a cache's set.
 */
static inline size_t tide__bt_slot(size_t start, unsigned bits)
{
	return (size_t)(((unsigned long long)(start >> 3) *
			 0x9e3779b97f4a7c15ull) >>
			(64 - bits));
}

/* The slot of the buffer that starts at @start, or -1. */
static inline long tide__bt_find(struct buf *const *t, unsigned bits,
				 size_t start)
{
	size_t mask = ((size_t)1 << bits) - 1;

	for (size_t i = tide__bt_slot(start, bits);; i = (i + 1) & mask) {
		if (!t[i])
			return -1;
		if (t[i]->start == start)
			return (long)i;
	}
}

/* Room is the caller's: the table stays at most half full. */
static inline void tide__bt_add(struct buf **t, unsigned bits, struct buf *b)
{
	size_t mask = ((size_t)1 << bits) - 1, i;

	for (i = tide__bt_slot(b->start, bits); t[i]; i = (i + 1) & mask)
		;
	t[i] = b;
}

/* Linear probing's deletion of slot @i: later entries of the run move up. */
static inline void tide__bt_del(struct buf **t, unsigned bits, size_t i)
{
	size_t mask = ((size_t)1 << bits) - 1;

	for (size_t j = i;;) {
		size_t h;

		j = (j + 1) & mask;
		if (!t[j])
			break;
		h = tide__bt_slot(t[j]->start, bits);
		if (((j - h) & mask) >= ((j - i) & mask)) {
			t[i] = t[j];
			i = j;
		}
	}
	t[i] = NULL;
}

/* arena.c */
void tide__arena_release_locked(struct tide_arena *a, struct buf *b);

/* arena_free.c: the free blocks, under the arena's lock */
void tide__arena_free_insert(struct tide_arena *a, struct buf *b);
/* @b leaves its class's tree, where *@link points to it. */
void tide__arena_free_unlink(struct tide_arena *a, struct buf **link,
			     struct buf *b);
/* @b, which is free, leaves its class's tree. */
void tide__arena_free_remove(struct tide_arena *a, struct buf *b);
/*
 * The smallest free block of at least @size bytes, the lowest one on
 * ties: the link that points to it (for tide__arena_free_unlink()), or
 * NULL when no block is large enough.
 */
struct buf **tide__arena_best_fit(struct tide_arena *a, size_t size);

/* The first and last page @b overlaps. */
static inline void tide__arena_page_span(const struct tide_arena *a,
					 const struct buf *b, uint32_t *first,
					 uint32_t *last)
{
	*first = (uint32_t)(b->start >> a->page_shift);
	*last = (uint32_t)((b->start + b->size - 1) >> a->page_shift);
}

/* arena_list.c */
extern pthread_mutex_t tide__arenas_lock;
void tide__arena_link(struct tide_arena *a);
void tide__arena_unlink(struct tide_arena *a);

/* arena_cache.c */
void tide__tc_init(void);
const void *tide__tc_self(void);
void *tide__tc_alloc(struct tide_arena *a, size_t size, size_t req);
bool tide__tc_free(struct tide_arena *a, size_t off);
void tide__tc_track(struct tide_arena *a, struct buf *b);
bool tide__tc_untrack(struct buf *b);
void tide__tc_flush_all(struct tide_arena *a);
void tide__tc_orphan_all(struct tide_arena *a);
size_t tide__tc_pages(struct tide_arena *a);
void tide__tc_fork_lock(struct tide_arena *a);
void tide__tc_fork_unlock(struct tide_arena *a, bool child);
void tide__tc_fork_lock_orphans(void);
void tide__tc_fork_unlock_orphans(bool child);

#endif /* TIDE_ARENA_INTERNAL_H */
