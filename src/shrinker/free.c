// SPDX-License-Identifier: MIT
/*
 * shrinker/free.c - tide_shrinker_free: take a shrinker out of the
 * registry, wait for its callback in flight on another thread, and free
 * it or leave it to the walks whose batches hold it (shrinker.h has the
 * design: the dead flag and the walks' cur words).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <tide/shrinker.h>

#include "internal.h"
#include "shrinker/shrinker.h"

/*
 * After @s's dead flag is set: true if a walker runs (or may run) @s's
 * callbacks now; the WAIT bit in its cur makes it wake us when it moves
 * on.  A walker whose cur is not @s will see the flag before it calls @s.
 */
static bool wait_mark_locked(struct tide_shrinker *s)
{
	bool busy = false;

	for (struct walk *w = tide__shr_reg.walks; w; w = w->next) {
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
	for (struct walk *w = tide__shr_my_walk; w; w = w->outer)
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
	i = tide__shr_set_find(s);
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
	tide__shr_set_remove(i);
	if (s->state == SHRINKER_REGISTERED) {
		/* No walk can take @s into a batch once it leaves reg.arr. */
		bool held = tide__shr_held_at_locked(s);

		tide__shr_arr_remove_locked(s);
		s->state = SHRINKER_DEAD;
		atomic_store(&s->dead, 1);
		if (held || wait_mark_locked(s)) {
			/* On the zombie list: a fork child frees it. */
			tide__shr_zombie_add_locked(s);
			/* Walks letting go of @s leave it to us meanwhile. */
			s->freeing = true;
			while (wait_mark_locked(s))
				pthread_cond_wait(&tide__shr_reg.idle,
						  &tide__shr_reg.lock);
			s->freeing = false;
			/* A walk whose batch holds @s frees it when done. */
			release = !tide__shr_held_locked(s);
			if (release)
				tide__shr_zombie_del_locked(s);
		}
	}
	if (!tide__shr_reg.set_count)
		tide__shr_arr_release_locked();
	unlock();
	if (release)
		tide__os_free(s);
}
