// SPDX-License-Identifier: MIT
/*
 * shrinker/walk.c - walks over the registry, a batch at a time, and the
 * zombie list of freed shrinkers that a walk's batch still holds
 * (shrinker.h has the design).  walk_next and enter, what a walk runs per
 * node, are inline in shrinker.h.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "internal.h"
#include "shrinker/shrinker.h"

/* This thread's innermost walk; each names the one it is inside (outer). */
_Thread_local struct walk *tide__shr_my_walk;

/* Is registered @s in the current batch of a walk on reg.walks? */
bool tide__shr_held_at_locked(const struct tide_shrinker *s)
{
	for (struct walk *w = tide__shr_reg.walks; w; w = w->next)
		if (s->idx >= w->start && s->idx < w->pos)
			return true;
	return false;
}

/* Is @s (registered or not) in the current batch of a walk? */
bool tide__shr_held_locked(const struct tide_shrinker *s)
{
	for (struct walk *w = tide__shr_reg.walks; w; w = w->next)
		for (int i = 0; i < w->n; i++)
			if (w->buf[w->side][i] == s)
				return true;
	return false;
}

void tide__shr_zombie_add_locked(struct tide_shrinker *s)
{
	s->zprev = NULL;
	s->znext = tide__shr_reg.zombies;
	if (tide__shr_reg.zombies)
		tide__shr_reg.zombies->zprev = s;
	tide__shr_reg.zombies = s;
}

void tide__shr_zombie_del_locked(struct tide_shrinker *s)
{
	if (s->zprev)
		s->zprev->znext = s->znext;
	else
		tide__shr_reg.zombies = s->znext;
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

		if (s->state != SHRINKER_DEAD || s->freeing ||
		    tide__shr_held_locked(s))
			continue;
		tide__shr_zombie_del_locked(s);
		b[k++] = s;
	}
	return k;
}

static void free_nodes(struct tide_shrinker **b, int k)
{
	for (int i = 0; i < k; i++)
		tide__os_free(b[i]);
}

/* Copy up to WALK_BATCH nodes from reg.arr[w->pos..) into @b. */
static int grab_locked(struct walk *w, struct tide_shrinker **b)
{
	size_t pos = w->pos, len = tide__shr_reg.len;
	int n = 0;

	w->start = pos;
	for (; pos < len && n < WALK_BATCH; pos++) {
		struct tide_shrinker *s = tide__shr_reg.arr[pos];

		if (s)
			b[n++] = s;
	}
	w->pos = pos;
	return n;
}

/* Wake the tide_shrinker_free() calls waiting for a walker to move on. */
void tide__shr_wake(void)
{
	lock();
	pthread_cond_broadcast(&tide__shr_reg.idle);
	unlock();
}

/* @w runs no callback now (before user code that is not a callback). */
void tide__shr_walk_idle(struct walk *w)
{
	if (atomic_exchange(&w->cur, 0) & WAIT)
		tide__shr_wake();
}

void tide__shr_walk_add_locked(struct walk *w)
{
	w->prev = NULL;
	w->next = tide__shr_reg.walks;
	if (tide__shr_reg.walks)
		tide__shr_reg.walks->prev = w;
	tide__shr_reg.walks = w;
}

static void walk_del_locked(struct walk *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		tide__shr_reg.walks = w->next;
	if (w->next)
		w->next->prev = w->prev;
	if (atomic_exchange(&w->cur, 0) & WAIT)
		pthread_cond_broadcast(&tide__shr_reg.idle);
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
	w->outer = tide__shr_my_walk;
	tide__shr_my_walk = w;
}

struct tide_shrinker *tide__shr_walk_first(struct full_walk *fw)
{
	struct walk *w = &fw->w;

	walk_init(w, fw->store[0], fw->store[1]);
	lock();
	w->n = grab_locked(w, w->buf[0]);
	if (w->n)
		tide__shr_walk_add_locked(w);
	unlock();
	return w->n ? w->buf[0][0] : NULL;
}

/*
 * Start @w as a walk of one node, the registered shrinker named @name, with
 * @one as its batch: that node, or NULL (no such shrinker; the walk is
 * done).
 */
struct tide_shrinker *tide__shr_walk_named(struct walk *w,
					   struct tide_shrinker **one,
					   const char *name)
{
	struct tide_shrinker *s = NULL;

	walk_init(w, one, NULL);
	lock();
	for (size_t i = 0; i < tide__shr_reg.len && !s; i++)
		if (tide__shr_reg.arr[i] &&
		    !strcmp(tide__shr_reg.arr[i]->name, name))
			s = tide__shr_reg.arr[i];
	if (s) {
		w->buf[0][0] = s;
		w->n = 1;
		w->start = s->idx;
		w->pos = s->idx + 1;
		tide__shr_walk_add_locked(w);
	}
	unlock();
	if (!s)
		tide__shr_walk_done(w);
	return s;
}

/* The current batch is done: take the next one, let go of this one. */
__attribute__((noinline)) struct tide_shrinker *
tide__shr_walk_next_batch(struct walk *w)
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

/* A walk has ended (walk_next returned NULL, or walk_stop). */
void tide__shr_walk_done(struct walk *w)
{
	tide__shr_my_walk = w->outer;
}

/* Stop a walk early: let go of the current batch. */
void tide__shr_walk_stop(struct walk *w)
{
	struct tide_shrinker **b = w->buf[w->side];
	int n = w->n, k;

	lock();
	w->n = 0;
	if (n)
		walk_del_locked(w);
	k = release_locked(b, n);
	unlock();
	tide__shr_walk_done(w);
	free_nodes(b, k);
}
