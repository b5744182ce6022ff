// SPDX-License-Identifier: MIT
/*
 * shrinker/fork.c - the registry's fork handlers: the lock is held across
 * fork(), and the child keeps only the forking thread's walks.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "internal.h"
#include "shrinker/shrinker.h"

pthread_once_t tide__shr_atfork_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void)
{
	pthread_mutex_lock(&tide__shr_reg.lock);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&tide__shr_reg.lock);
}

/* Does a walk of the forking thread (the child's only one) hold @s? */
static bool mine(const struct tide_shrinker *s)
{
	for (struct walk *w = tide__shr_my_walk; w; w = w->outer)
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

	tide__shr_reg.walks = NULL;
	for (struct walk *w = tide__shr_my_walk; w; w = w->outer) {
		uintptr_t cur = atomic_load(&w->cur) & ~WAIT;

		if (!w->n)
			continue;
		tide__shr_walk_add_locked(w);
		atomic_store(&w->cur, cur);
	}
	for (s = tide__shr_reg.zombies; s; s = next) {
		next = s->znext;
		s->freeing = false;
		if (!mine(s)) {
			tide__shr_zombie_del_locked(s);
			tide__child_free(s);
		}
	}
	pthread_cond_init(&tide__shr_reg.idle, NULL);
	/* taken by fork_prepare() on this very thread: released, not made
	 * afresh (ThreadSanitizer would count it held for good) */
	pthread_mutex_unlock(&tide__shr_reg.lock);
}

void tide__shr_register_atfork(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

void tide__shrinker_fork_register(void)
{
	pthread_once(&tide__shr_atfork_once, tide__shr_register_atfork);
}
