/* SPDX-License-Identifier: MIT */
/*
 * shrinker/shrinker.h - the shrinker registry and reclaim, mm/shrinker.c
 * for user space: what its files share.  Private to src/shrinker/.
 *
 *  registry.c  the registry: handles, the set of live shrinkers, the array
 *              in registration order; tide_shrinker_alloc, _set_seeks,
 *              _set_batch, _register
 *  walk.c      walks over the array a batch at a time, the zombie list
 *  free.c      tide_shrinker_free: unregister, wait for a callback in flight
 *  fork.c      the fork handlers
 *  pass.c      the callbacks and do_shrink_slab's arithmetic; the passes
 *              (tide_shrink, tide_drop_caches, the internal ones),
 *              tide_shrinker_scan and tide_shrinker_foreach
 *
 * What a pass runs per shrinker (walk_next, enter, the count call) is
 * inline in pass.c: the functions below that it calls are static inline
 * here; the calls across files are per batch, per pass or per free.
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
 * user-space addresses on x86-64 and arm64 (4-level paging) leave clear.
 * An address with no room there (32-bit, or above 2^48 with 5-level
 * paging) carries a 3-bit count in its low bits instead, which the node's
 * 8-byte alignment leaves clear (bit 63 clear).  When malloc hands a freed
 * shrinker's address to a new one, the stale handle still differs from the
 * live one, so a second free of the old handle is reported instead of
 * unregistering the new shrinker.  Users never dereference the opaque
 * handle; tide strips the tag before using it.
 */
#ifndef TIDE_SHRINKER_SHRINKER_H
#define TIDE_SHRINKER_SHRINKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tide/shrinker.h>

#include "internal.h"

/*
 * Everything declared below is the library's own: hidden, so that the
 * objects reach the shared state without the GOT and the thread-local
 * word without a __tls_get_addr call, as when it was all one file.
 */
#pragma GCC visibility push(hidden)

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

#define TAG_SHIFT 48
#define ADDR_MASK ((UINT64_C(1) << TAG_SHIFT) - 1)
#define TAGGED (UINT64_C(1) << 63) /* never set in a user-space address */
/* The low bits of a node's address, clear: its alignment (calloc's). */
#define LOW_TAG UINT64_C(7)
_Static_assert(_Alignof(struct tide_shrinker) > LOW_TAG, "low tag");
#define WALK_BATCH 32
#define ARR_MIN_CAP 64
#define WAIT ((uintptr_t)1) /* in a walk's cur: a free waits for it */

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
 * The registry ("reg" in the comments), defined in registry.c.  The lock
 * guards all of it but idle.
 */
struct shrinker_reg {
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
};

extern struct shrinker_reg tide__shr_reg;

/*
 * What this thread holds, for the fork child handler: its walks (a
 * foreach function may start a pass; tide_shrinker_scan is a walk of one
 * node), with their batches and the shrinker whose callbacks each runs
 * (walk.c).
 */
extern _Thread_local struct walk *tide__shr_my_walk;

/* fork.c: registers the fork handlers, once (tide__shrinker_fork_register). */
extern pthread_once_t tide__shr_atfork_once;
void tide__shr_register_atfork(void);

static inline void lock(void)
{
	/*
	 * The fork handlers are registered on first use, after the process
	 * allocator has registered its own (tide_shrinker_alloc has called
	 * it by then): prepare handlers run in reverse order, so ours takes
	 * reg.lock before the allocator locks its arenas, and a thread
	 * holding reg.lock while it allocates can finish.
	 */
	pthread_once(&tide__shr_atfork_once, tide__shr_register_atfork);
	pthread_mutex_lock(&tide__shr_reg.lock);
}

static inline void unlock(void)
{
	pthread_mutex_unlock(&tide__shr_reg.lock);
}

/* The node a handle names (the tag stripped). */
static inline struct tide_shrinker *node_of(const struct tide_shrinker *h)
{
	uint64_t v = (uint64_t)(uintptr_t)h;

	return (struct tide_shrinker *)(uintptr_t)(v & TAGGED ? v & ADDR_MASK :
								v & ~LOW_TAG);
}

/* ---- registry.c: under reg.lock ---------------------------------------- */

/* The set slot of live @s, or SIZE_MAX: @s is not a live shrinker. */
size_t tide__shr_set_find(const struct tide_shrinker *s);
/* Take slot @i out of the set (gives the table back when it empties). */
void tide__shr_set_remove(size_t i);
/* Take registered @s out of reg.arr (a hole; compacts now and then). */
void tide__shr_arr_remove_locked(struct tide_shrinker *s);
/* No live shrinker is left: give the array back (an idle registry). */
void tide__shr_arr_release_locked(void);

/* ---- walk.c ------------------------------------------------------------ */

/* Under reg.lock: is registered @s in the current batch of a walk? */
bool tide__shr_held_at_locked(const struct tide_shrinker *s);
/* Under reg.lock: is @s (registered or not) in the current batch of a walk? */
bool tide__shr_held_locked(const struct tide_shrinker *s);
void tide__shr_zombie_add_locked(struct tide_shrinker *s);
void tide__shr_zombie_del_locked(struct tide_shrinker *s);
/* Under reg.lock: put @w on reg.walks. */
void tide__shr_walk_add_locked(struct walk *w);
/* Wake the tide_shrinker_free() calls waiting for a walker to move on. */
void tide__shr_wake(void);
/*
 * Start a walk of the registry: its first node, or NULL.  Once walk_first or
 * walk_next returned NULL the walker calls walk_done; to end sooner,
 * walk_stop.
 */
struct tide_shrinker *tide__shr_walk_first(struct full_walk *fw);
/* Start a walk of the one shrinker named @name: it, or NULL (walk over). */
struct tide_shrinker *tide__shr_walk_named(struct walk *w,
					   struct tide_shrinker **one,
					   const char *name);
/* The current batch is done: the next batch's first node, or NULL. */
struct tide_shrinker *tide__shr_walk_next_batch(struct walk *w);
/* @w runs no callback now (before user code that is not a callback). */
void tide__shr_walk_idle(struct walk *w);
/* A walk has ended (walk_next returned NULL, or walk_stop). */
void tide__shr_walk_done(struct walk *w);
/* Stop a walk early: let go of the current batch (and end it). */
void tide__shr_walk_stop(struct walk *w);

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
		tide__shr_wake();
	return !atomic_load(&s->dead);
}

/* The next node of walk @w, or NULL: the walk is done. */
static inline struct tide_shrinker *walk_next(struct walk *w)
{
	if (++w->i < w->n)
		return w->buf[w->side][w->i];
	return tide__shr_walk_next_batch(w);
}

#pragma GCC visibility pop

#endif /* TIDE_SHRINKER_SHRINKER_H */
