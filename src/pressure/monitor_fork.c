// SPDX-License-Identifier: MIT
/*
 * monitor_fork.c - the live monitors of this process, their fork
 * handlers, and the release of a monitor's descriptors, shared with the
 * parent in a forked child (see pressure/monitor.h).
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "internal.h"
#include "pressure/monitor.h"

/*
 * The live monitors of this process.  Before a fork the prepare handler
 * takes each one's lock, so that the child sees every monitor between two
 * locked sections: never halfway through rediscover() or drop_fd(), which
 * change descriptors and strings only under the lock.  The child's
 * tide_monitor_free() then closes exactly the copies it holds, and its
 * tide_monitor_stats() and friends never wait on a lock held by a thread
 * that did not come along.
 *
 * Lock order: the sensor's write lock (sensor.c, handing the sensor on),
 * mons_lock, then each monitor's lock.  A thread holding a
 * monitor's lock takes no other lock but the C heap's (ctl reads a
 * monitor's figures without its own lock), and user callbacks never run
 * under it; registering at the first tide_monitor_new(), after the
 * allocator set up its own fork handlers, puts the allocator's locks after
 * ours.
 */
static pthread_mutex_t mons_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tide_monitor *mons;

atomic_int tide__mon_self;

/*
 * A signal handler that forks while its thread holds one of these locks
 * would wait in mons_fork_prepare() for that very lock, forever: every
 * section under them (short: no callback, no wait) runs with the thread's
 * signals blocked, and a signal that arrives meanwhile is handled at the
 * unlock.  A thread holds at most one of them at a time (the lock order
 * below), so one saved mask per thread is enough.  The monitor's own
 * thread blocks every signal already and skips the two system calls.
 */
static _Thread_local sigset_t saved_mask;
static _Thread_local bool signals_off;

void tide__mon_thread_signals_off(void)
{
	signals_off = true;
}

void tide__mon_lock(struct tide_monitor *m)
{
	if (!signals_off)
		tide__os_signals_block(&saved_mask);
	pthread_mutex_lock(m ? &m->lock : &mons_lock);
}

void tide__mon_unlock(struct tide_monitor *m)
{
	pthread_mutex_unlock(m ? &m->lock : &mons_lock);
	if (!signals_off)
		tide__os_signals_restore(&saved_mask);
}

/* The handlers run with signals blocked too: a handler that forks again
 * in between would wait for mons_lock. */
static void mons_fork_prepare(void)
{
	tide__mon_lock(NULL);
	for (struct tide_monitor *m = mons; m; m = m->fork_next)
		pthread_mutex_lock(&m->lock);
}

static void mons_fork_parent(void)
{
	for (struct tide_monitor *m = mons; m; m = m->fork_next)
		pthread_mutex_unlock(&m->lock);
	tide__mon_unlock(NULL);
}

/*
 * A loop-polled monitor's epoll number in a forked child (as ctl.c's
 * park_epfd() for a dispatched listener): the program's copied loop may
 * still poll it, and the epoll is the parent's, readable at each of the
 * parent's events, which only the parent consumes; a loop that ignored
 * -ECHILD woke for every one (a level-triggered loop spun until the
 * parent's dispatch).  In the child the number stays open as an empty
 * epoll of the child's own, which never becomes readable, and from then
 * on it is the program's: the library never closes it.  Only a number
 * that holds the monitor's own epoll (its keyed stop entry, checked in
 * /proc) is parked: a lost monitor's, or one the program closed and
 * reused (for its own loop's epoll, say), is left as it is.  When /proc
 * cannot tell, or there is no descriptor to make the new one from
 * (EMFILE, ENOMEM), the number stays the parent's epoll, as before 0.2.10.
 */
static void park_epfd(struct tide_monitor *m)
{
	if (m->epfd < 0 || m->epfd_parked || atomic_load(&m->started) ||
	    !atomic_load(&m->dispatched) || atomic_load(&m->lost) ||
	    tide__mon_epoll_own(m) != 1)
		return;
	if (tide__os_epoll_park(m->epfd))
		m->epfd_parked = true;
}

/*
 * The locks are released by the thread that took them, the child's only
 * one.  The monitors stay listed (inherited, hence inert, but readable
 * until the child frees them: a second fork hands them on unlocked too).
 */
static void mons_fork_child(void)
{
	atomic_store_explicit(&tide__mon_self, (int)tide__os_getpid(),
			      memory_order_relaxed);
	for (struct tide_monitor *m = mons; m; m = m->fork_next) {
		park_epfd(m);
		pthread_mutex_unlock(&m->lock);
	}
	tide__mon_unlock(NULL);
}

static void mons_fork_setup(void)
{
	pthread_atfork(mons_fork_prepare, mons_fork_parent, mons_fork_child);
}

void tide__mon_fork_register(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, mons_fork_setup);
}

void tide__mon_list_add(struct tide_monitor *m)
{
	tide__mon_lock(NULL);
	m->fork_next = mons;
	mons = m;
	tide__mon_unlock(NULL);
}

void tide__mon_list_remove(struct tide_monitor *m)
{
	tide__mon_lock(NULL);
	for (struct tide_monitor **p = &mons; *p; p = &(*p)->fork_next)
		if (*p == m) {
			*p = m->fork_next;
			break;
		}
	tide__mon_unlock(NULL);
}

struct tide_monitor *tide__mon_sensor_heir(size_t *step, bool *watch)
{
	pid_t self = tide__os_getpid();
	struct tide_monitor *heir = NULL;
	bool ok;

	/* newest first: the last one that qualifies is the oldest (its
	 * lock taken plainly: the list's lock blocked the signals) */
	for (struct tide_monitor *m = mons; m; m = m->fork_next) {
		if (m->pid != self) /* inherited: inert here */
			continue;
		pthread_mutex_lock(&m->lock);
		/* a lost monitor's numbers may be the program's files */
		if (!m->sensor_off && !atomic_load(&m->lost) &&
		    tide__mon_limit_watcher(m))
			heir = m;
		pthread_mutex_unlock(&m->lock);
	}
	if (!heir)
		return NULL;
	pthread_mutex_lock(&heir->lock);
	ok = !heir->sensor_off && tide__mon_sensor_reading(heir, step, watch);
	pthread_mutex_unlock(&heir->lock);
	return ok ? heir : NULL;
}

/* ---- releasing the descriptors ------------------------------------------ */

/*
 * A lost monitor's numbers (monitor_thread()) may be the program's by now:
 * they are forgotten, neither closed nor used (no EPOLL_CTL_DEL either).
 * The descriptors among them that were still the monitor's leak: the
 * library cannot tell which are.
 */
void tide__mon_release_fds(struct tide_monitor *m, bool shared)
{
	bool lost = atomic_load(&m->lost);
	bool forgetting = lost && !tide__os_fds_forget(true);

	/* passed on to the oldest other monitor with a limit watcher */
	tide__sensor_disarm(m, shared, shared);
	for (size_t i = 0; i < TIDE__NSRC; i++) {
		if (shared && !lost)
			tide__mon_src_close_waiting(m, &m->src[i]);
		tide__mon_src_close(m, &m->src[i], shared && !lost);
	}
	tide__mon_close_fd(&m->simfd);
	tide__mon_close_fd(&m->quietfd);
	tide__mon_close_fd(&m->pollfd);
	tide__mon_close_fd(&m->stopfd);
	if (m->epfd_parked)
		m->epfd = -1; /* the program's (park_epfd()) */
	tide__mon_close_fd(&m->epfd);
	if (forgetting)
		tide__os_fds_forget(false);
}

/*
 * Monitors a forked child freed from inside the callback that forked (see
 * tide_monitor_free()): released but kept, as the child's copy of the loop
 * still reads them until it stops; reachable from here, not leaked.
 */
static struct tide_monitor *kept_in_child[8];

/*
 * Release this process's copies of the descriptors and unlist @m now; the
 * memory stays until the child ends (kept_in_child), or is leaked when
 * that is full.
 */
void tide__mon_release_in_child(struct tide_monitor *m)
{
	tide__mon_list_remove(m);
	tide__mon_release_fds(m, false);
	for (size_t i = 0; i < sizeof(kept_in_child) / sizeof(kept_in_child[0]);
	     i++)
		if (!kept_in_child[i]) {
			kept_in_child[i] = m;
			break;
		}
}
