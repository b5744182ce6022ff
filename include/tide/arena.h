/* SPDX-License-Identifier: MIT */
/*
 * tide/arena.h - binder-style buffer arena inside one mapping whose idle
 * pages stay resident for reuse and go back to the kernel under pressure.
 */
#ifndef TIDE_ARENA_H
#define TIDE_ARENA_H

#include <tide/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The largest arena, 1 GiB: the library's limit (defining it differently
 * before this header changes nothing in the library, so it is not
 * allowed: the compiler says it is redefined). */
#define TIDE_ARENA_MAX (TIDE__CAST(size_t, 1) << 30)

/**
 * DOC: arena
 *
 * An arena is one anonymous mapping carved into buffers the way Android's
 * binder carves its transaction buffer (drivers/android/binder_alloc.c).
 * A page no live buffer overlaps is not given back at once: it waits on the
 * arena's LRU, resident if it was written, so the next buffer placed there
 * costs no page fault.  Under memory pressure the arena's shrinker
 * (registered under the arena's name) hands the oldest LRU pages back with
 * MADV_DONTNEED and reports as freed only those that were resident.
 *
 * Buffers are 8-byte aligned and are not zeroed: a buffer on pages reused
 * from the LRU holds what the previous buffer left there, one on reclaimed
 * or never-used pages reads as zero.
 *
 * A forked child may go on using its parent's arenas (its copies): the
 * arena locks that other threads of the parent held at fork() are handled
 * (pthread_atfork() handlers, registered at the first tide_arena_create()).
 *
 * Threads: while one thread allocates from an arena, every call takes the
 * arena's lock and the layout rules below hold exactly.  From the first
 * successful allocation by a thread other than the first one that
 * allocated (a thread started after that one ended may count as the same)
 * on, the arena is shared for good (a failed one shares nothing), and each
 * thread that allocates from it keeps a cache:
 * a buffer it frees waits there (up to 4 per size class, four classes per
 * power of two, and no more than a sixteenth of the arena, 1 MiB at most,
 * in all) for the same thread's next allocation of a size it holds,
 * without the lock.  A cached buffer counts as free: tide_arena_stats(),
 * tide_arena_totals(), the shrinker's scan and an allocation that finds no
 * room flush every cache of the arena first; the shrinker's count adds the
 * cached pages (docs/arena.md, "Threads").
 */
struct tide_arena;

/**
 * struct tide_arena_stats - what an arena holds, from tide_arena_stats().
 * @size: bytes of the mapping (the size asked for, rounded up to pages).
 * @used_bytes: bytes in live buffers (each buffer's size rounded up to 8;
 *	on an arena shared by threads, a buffer a thread's cache handed out
 *	counts whole, which may be up to about 1.5 times the size asked for).
 * @free_bytes: @size - @used_bytes (possibly fragmented).
 * @pages_total: pages of the mapping.
 * @pages_used: pages overlapped by at least one live buffer.
 * @pages_lru: pages no live buffer overlaps but one did since the page was
 *	last reclaimed, waiting for reuse or for the shrinker.  Only those a
 *	buffer wrote are resident (the arena does not track writes): an upper
 *	bound of the resident pages and of what the shrinker can free.
 * @pages_unmapped: the rest, never used or reclaimed: not resident.
 * @pages_high_water: one past the highest page index any buffer ever
 *	overlapped (binder's pages_high): the arena's resident footprint never
 *	exceeded this many pages.
 * @page_faults_avoided: pages that a new buffer took off the LRU rather than
 *	faulting in a fresh page.
 *
 * @pages_used + @pages_lru + @pages_unmapped == @pages_total always.
 */
struct tide_arena_stats {
	size_t size, used_bytes, free_bytes;
	size_t pages_total, pages_used, pages_lru, pages_unmapped;
	size_t pages_high_water;
	unsigned long long page_faults_avoided; /* pages reused from the LRU */
};

/**
 * tide_arena_create() - map an arena and register its shrinker.
 * @name: the arena's name, also the name of its shrinker (see
 *	tide_shrinker_scan() and tide_shrinker_foreach()); copied.
 * @size: bytes; rounded up to whole pages, at most %TIDE_ARENA_MAX.
 *
 * The mapping is reserved at once but nothing is resident until buffers are
 * written.  Buffer bookkeeping lives on the C heap, so the first buffer
 * starts at the mapping's first byte.
 *
 * Context: any thread; may block on the shrinker registry's lock.
 * Return: the arena, or NULL with errno EINVAL (@name NULL, @size 0 or above
 * %TIDE_ARENA_MAX) or ENOMEM.
 */
TIDE_API struct tide_arena *tide_arena_create(const char *name, size_t size);

/**
 * tide_arena_alloc() - carve a buffer out of the arena.
 * @a: the arena.
 * @size: bytes, rounded up to 8.
 *
 * Best fit: the smallest free block that holds @size, the lowest one when
 * several are equally small; the buffer takes the front of that block.  So a
 * fresh arena lays buffers out back to back from offset 0.  On an arena
 * shared by threads (see above) the calling thread's cache comes first: the
 * most recent buffer it freed of @size's class that is large enough, or of
 * the class above, possibly up to about 1.5 times @size (the excess counts
 * in &tide_arena_stats.used_bytes; ASan keeps it poisoned).  The buffer's
 * pages that sit on the LRU are taken off it (no fault, counted in
 * &tide_arena_stats.page_faults_avoided); the others fault in when written.
 *
 * The pages that were not resident count for the allocation sensor of a
 * monitor's limit watcher (tide_monitor_new()), but the call never runs
 * reclaim itself: the next charge that may (a paged kv allocation or
 * growth without %TIDE_NORECLAIM) measures.  So it may be called with a
 * lock held that a shrinker takes.
 *
 * Context: any thread; takes the arena's lock (not for a buffer from the
 * calling thread's cache).  Never runs reclaim.
 * Return: the buffer (8-byte aligned, not zeroed), or NULL with errno EINVAL
 * (@a NULL or @size 0), ENOSPC (larger than the arena, or no free block is
 * large enough even with every thread's cache flushed) or ENOMEM
 * (bookkeeping).  A failed call changes nothing, but for the flush of the
 * threads' caches that comes before an ENOSPC on a shared arena (their
 * buffers freed for real, as a snapshot would).  The bookkeeping is
 * reserved before that flush, so an ENOMEM leaves every cache as it was,
 * unless memory was short then too: the flush goes ahead (it may give a
 * block that needs no bookkeeping), and an ENOMEM after it is possible.
 */
TIDE_API void *tide_arena_alloc(struct tide_arena *a, size_t size);

/**
 * tide_arena_free() - give a buffer back to its arena.
 * @a: the arena the buffer came from.
 * @p: the buffer, or NULL (nothing happens).
 *
 * The block merges with free neighbours; every page no live buffer overlaps
 * any more joins the tail of the LRU, keeping its memory (if it was written)
 * until reused or reclaimed.  A page shared with a live neighbour stays
 * used.  On an arena shared by threads, a buffer the calling thread
 * allocated may instead wait in its cache (see above) until that thread
 * reuses it or a flush frees it as described here.
 *
 * A @p that is not a live buffer of @a (double free, a pointer into a
 * buffer, another arena's buffer) is reported through the error handler
 * (tide_set_error_handler()) and the call does nothing else: the arena is
 * left exactly as it was and the process goes on.  A non-NULL @p with a
 * NULL @a is reported the same way.
 *
 * Context: any thread; takes the arena's lock (not for a buffer that goes
 * to the calling thread's cache).
 * Return: nothing.
 */
TIDE_API void tide_arena_free(struct tide_arena *a, void *p);

/**
 * tide_arena_destroy() - unregister the shrinker and unmap the arena.
 * @a: the arena, or NULL (nothing happens).
 *
 * Waits for a scan of this arena's shrinker that is running on another
 * thread.  Buffers still live are released with the mapping.  Threads that
 * keep a cache of the arena and still run free it at their next cache or
 * when they end.
 *
 * Context: any thread but the arena's own shrinker callback; no other call
 * on @a may run concurrently or follow.
 * Return: nothing.
 */
TIDE_API void tide_arena_destroy(struct tide_arena *a);

/**
 * tide_arena_stats() - a consistent snapshot of the arena's counters.
 * @a: the arena; NULL fills @st with zeros.
 * @st: where to write.
 *
 * On an arena shared by threads, every thread's cache of it is flushed
 * first (its buffers freed for real), so the snapshot counts cached
 * buffers as free and their pages as LRU.
 *
 * Context: any thread; takes the arena's lock and its caches' locks.
 * Return: nothing.
 */
TIDE_API void tide_arena_stats(struct tide_arena *a,
			       struct tide_arena_stats *st);

/**
 * struct tide_arena_totals - every live arena of the process, summed.
 * @arenas: live arenas (created and not yet destroyed).
 * @size: the sum of their &tide_arena_stats.size.
 * @used_bytes: the sum of their &tide_arena_stats.used_bytes.
 * @pages_used: the sum of their &tide_arena_stats.pages_used.
 * @pages_lru: the sum of their &tide_arena_stats.pages_lru (idle; resident
 *	only where written).
 * @pages_unmapped: the sum of their &tide_arena_stats.pages_unmapped.
 * @page_faults_avoided: the sum of their
 *	&tide_arena_stats.page_faults_avoided (destroyed arenas drop out).
 */
struct tide_arena_totals {
	size_t arenas;
	size_t size, used_bytes;
	size_t pages_used, pages_lru, pages_unmapped;
	unsigned long long page_faults_avoided;
};

/**
 * tide_arena_totals() - the sums of tide_arena_stats() over every live arena.
 * @st: where to write; NULL does nothing.
 *
 * Arenas are listed at tide_arena_create() and unlisted at
 * tide_arena_destroy(), under a lock of the list's own; this call takes it,
 * then reads each arena with tide_arena_stats() (each arena's snapshot is
 * consistent, its threads' caches flushed first; the sum is of snapshots
 * taken one after the other).  The
 * alloc and free paths never touch the list.  A forked child starts with
 * its parent's arenas (its copies are its memory) and sums them the same
 * way.
 *
 * Context: any thread but an arena's own shrinker callback; takes the list's
 * lock, then each arena's lock in turn.
 * Return: nothing; @st is filled in.
 */
TIDE_API void tide_arena_totals(struct tide_arena_totals *st);

#ifdef __cplusplus
}
#endif

#endif /* TIDE_ARENA_H */
