// SPDX-License-Identifier: MIT
/*
 * sensor.c - the allocation as a pressure sensor (see internal.h).
 *
 * While a limit watcher runs, kv and the arena charge the bytes they add.
 * The common path is two relaxed atomics (is a monitor armed; add to the
 * count).  Each time the count passes the step - an eighth of the headroom
 * left under the high watermark, at least 1 MiB - the allocating thread
 * reads the working set and, over the high watermark, runs the monitor's
 * reclaim loop before it returns.  Events and polling can lag a program
 * that allocates at memory speed; the allocation cannot.
 *
 * One monitor arms the sensor at a time (the first with a limit watcher).
 * The read lock keeps it alive while a charge uses it; disarming takes the
 * write lock, so tide_monitor_free() waits for a charge in flight.  When
 * the armed monitor goes (or its move left it without a limit watcher),
 * the sensor passes to the oldest live monitor of this process that has
 * one (tide__mon_sensor_heir()), in the same write-locked section: a
 * reload (a new monitor, then the old one freed) never leaves it off.
 *
 * Lock order: the write lock, then the list of monitors, then a monitor's
 * lock.  A charge holds the read lock and takes monitors' locks only.
 */
#include <pthread.h>
#include <stdatomic.h>

#include <tide/common.h>

#include "internal.h"
#include "pressure/monitor.h" /* tide__mon_lock() */
#include "pressure/source.h"

static _Atomic(struct tide_monitor *) armed;
static atomic_size_t charged;
static atomic_size_t step = (size_t)1 << 20;
static atomic_flag busy = ATOMIC_FLAG_INIT;
static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static _Thread_local bool reading; /* this thread holds the read lock */

/*
 * In a forked child the monitor that armed the sensor is inert (its pid is
 * the parent's) and the lock may be held by a thread that does not exist
 * there: start the child with a disarmed sensor and fresh locks, so that a
 * monitor the child creates can arm it.  The thread that forked may hold
 * the read lock itself (a shrinker run by a charge forked): it is released
 * here, and @reading tells the charge not to release it again.
 */
static void sensor_atfork_child(void)
{
	atomic_store(&armed, NULL);
	tide__kv_watch(false);
	atomic_store(&charged, 0);
	atomic_flag_clear(&busy);
	if (reading) /* ours to release (the others' threads are gone) */
		pthread_rwlock_unlock(&lock);
	reading = false;
	pthread_rwlock_init(&lock, NULL);
}

static void sensor_setup(void)
{
	pthread_atfork(NULL, NULL, sensor_atfork_child);
}

void tide__sensor_fork_register(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, sensor_setup);
}

/*
 * Under the write lock, with no monitor armed: arm the oldest live monitor
 * of this process with a limit watcher, if any.  The list stays locked
 * until it is armed, so a tide_monitor_free() of the heir on another
 * thread (unlisted first) finds it armed and disarms it again.
 */
static void hand_over_locked(void)
{
	struct tide_monitor *heir;
	size_t first;
	bool watch;

	tide__mon_lock(NULL);
	heir = tide__mon_sensor_heir(&first, &watch);
	if (heir) {
		atomic_store(&step, first);
		atomic_store(&charged, 0);
		atomic_store(&armed, heir);
		tide__kv_watch(watch);
	}
	tide__mon_unlock(NULL);
}

void tide__sensor_pass(void)
{
	tide__sensor_fork_register();
	pthread_rwlock_wrlock(&lock);
	if (!atomic_load(&armed))
		hand_over_locked();
	pthread_rwlock_unlock(&lock);
}

bool tide__sensor_arm(struct tide_monitor *m, size_t first)
{
	struct tide_monitor *none = NULL;
	bool ok;

	tide__sensor_fork_register();
	pthread_rwlock_wrlock(&lock);
	ok = atomic_compare_exchange_strong(&armed, &none, m);
	if (ok) {
		atomic_store(&step, first);
		atomic_store(&charged, 0);
	}
	pthread_rwlock_unlock(&lock);
	return ok;
}

void tide__sensor_disarm(struct tide_monitor *m, bool wait, bool pass)
{
	struct tide_monitor *expect = m;

	if (atomic_load_explicit(&armed, memory_order_relaxed) != m)
		return;
	if (!wait) {
		/* A forked child: the lock may be held by a thread that does
		 * not exist here. */
		atomic_compare_exchange_strong(&armed, &expect, NULL);
		return;
	}
	pthread_rwlock_wrlock(&lock);
	if (atomic_load(&armed) == m) {
		atomic_store(&armed, NULL);
		tide__kv_watch(false);
		if (pass)
			hand_over_locked();
	}
	pthread_rwlock_unlock(&lock);
}

void tide__sensor_watch(struct tide_monitor *m, uint64_t value, uint64_t low)
{
	bool on = value >= low;

	/* Both of the monitor's readers may call this at once: each
	 * compares with what kv does now, so the last reading wins. */
	if (atomic_load_explicit(&armed, memory_order_relaxed) == m &&
	    tide__kv_watching() != on)
		tide__kv_watch(on);
}

void tide__sensor_charge(size_t bytes, unsigned flags)
{
	struct tide_monitor *m;
	size_t n;

	if (!atomic_load_explicit(&armed, memory_order_relaxed))
		return;
	n = atomic_fetch_add_explicit(&charged, bytes, memory_order_relaxed) +
	    bytes;
	if (n < atomic_load_explicit(&step, memory_order_relaxed))
		return;
	if ((flags & TIDE_NORECLAIM) || tide__in_reclaim())
		return; /* the next charge that may reclaim does it */
	/* One thread measures at a time; the others go on allocating. */
	if (atomic_flag_test_and_set(&busy))
		return;
	atomic_store_explicit(&charged, 0, memory_order_relaxed);
	if (!pthread_rwlock_tryrdlock(&lock)) {
		reading = true;
		m = atomic_load(&armed);
		if (m)
			atomic_store_explicit(&step,
					      tide__monitor_sense(m, flags),
					      memory_order_relaxed);
		/* not in a child forked meanwhile by a callback of ours,
		 * whose fork handler released it */
		if (reading) {
			reading = false;
			pthread_rwlock_unlock(&lock);
		}
	}
	atomic_flag_clear(&busy);
}
