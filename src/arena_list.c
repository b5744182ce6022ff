// SPDX-License-Identifier: MIT
/*
 * arena_list.c - every live arena of the process: the list behind
 * tide_arena_totals(), and the fork() handlers that take every arena's
 * locks (arena.c is one arena, arena_cache.c the threads' caches of one).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <tide/arena.h>

#include "arena_internal.h"
#include "internal.h"

/*
 * Every live arena, for tide_arena_totals(): linked at create, unlinked at
 * destroy, under a lock of its own.  The alloc and free paths never touch
 * it.  Lock order: arenas_lock, then an arena's lock.
 */
pthread_mutex_t tide__arenas_lock = PTHREAD_MUTEX_INITIALIZER;
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
	pthread_mutex_lock(&tide__arenas_lock);
	for (struct tide_arena *a = arenas_head; a; a = a->reg_next) {
		pthread_mutex_lock(&a->lock);
		tide__tc_fork_lock(a);
	}
	tide__tc_fork_lock_orphans();
}

/* In the child the caches of the threads it lacks are marked dead. */
static void arenas_fork_unlock(bool child)
{
	tide__tc_fork_unlock_orphans(child);
	for (struct tide_arena *a = arenas_head; a; a = a->reg_next) {
		tide__tc_fork_unlock(a, child);
		pthread_mutex_unlock(&a->lock);
	}
	pthread_mutex_unlock(&tide__arenas_lock);
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

void tide__arena_link(struct tide_arena *a)
{
	pthread_mutex_lock(&tide__arenas_lock);
	a->reg_prev = NULL;
	a->reg_next = arenas_head;
	if (arenas_head)
		arenas_head->reg_prev = a;
	arenas_head = a;
	pthread_mutex_unlock(&tide__arenas_lock);
}

/*
 * Out of the list, and out of the threads' caches: each is orphaned (its
 * thread frees it when it next makes one, or when it ends), a dead one is
 * freed here.  Its stacks and set are never read again.
 */
void tide__arena_unlink(struct tide_arena *a)
{
	pthread_mutex_lock(&tide__arenas_lock);
	pthread_mutex_lock(&a->lock);
	tide__tc_orphan_all(a);
	pthread_mutex_unlock(&a->lock);
	if (a->reg_prev)
		a->reg_prev->reg_next = a->reg_next;
	else
		arenas_head = a->reg_next;
	if (a->reg_next)
		a->reg_next->reg_prev = a->reg_prev;
	pthread_mutex_unlock(&tide__arenas_lock);
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
	pthread_mutex_lock(&tide__arenas_lock);
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
	pthread_mutex_unlock(&tide__arenas_lock);
	*st = t;
}
