// SPDX-License-Identifier: MIT
/*
 * sensor.c - the allocation as a pressure sensor (see internal.h).
 *
 * While a limit watcher runs, kv and the arena charge the bytes they add.
 * Each thread adds its charges up in a counter of its own and hands the
 * sum to the shared count once it reaches the local step (LOCAL_STEP);
 * the common path is a relaxed load (is a monitor armed) and an add to a
 * thread-local counter, no shared write: heap-sized kv blocks, charged
 * from the low watermark on, would otherwise all write one cache line.
 * Each time the shared count passes the step - an eighth of the headroom
 * left under the high watermark, at least 1 MiB - the thread that passed
 * it reads the working set and, over the high watermark, runs the
 * monitor's reclaim loop before it returns.  Events and polling can lag a
 * program that allocates at memory speed; the allocation cannot.
 *
 * The bound: each thread holds back less than the local step, so a burst
 * is measured once its charges pass the step plus at most threads x the
 * local step (precisely: the other threads' held-back charges; the thread
 * whose hand-over passes the step holds nothing back), unless that
 * hand-over may not reclaim (TIDE_NORECLAIM, inside a shrinker): then the
 * next one measures.  A thread that exits hands what it held back over
 * (thread_exit(), a key's destructor; the key is set at the thread's
 * first charge, which the common path's compare sends out of line): many
 * short threads that each charge less than the local step are counted in
 * full.  Held-back charges outlive a check or a new arming and count
 * toward the next step, which may come that much earlier; a forked child
 * starts with none (sensor_atfork_child()).
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
 * lock.  A charge holds the read lock and takes monitors' locks only.  A
 * monitor's thread that re-opens its sources after a move takes the write
 * lock too (suspend, then arm or pass); a charge's shrinker may free that
 * monitor and join the thread: the thread gives way (write_lock()).
 */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include <tide/common.h>

#include "internal.h"
#include "pressure/monitor.h" /* tide__mon_lock() */
#include "pressure/source.h"

/*
 * The most a thread holds back: LOCAL_STEP, or a sixteenth of the step if
 * that is less (the step is at least 1 MiB today, so 64 KiB).
 */
#define LOCAL_STEP ((size_t)64 << 10)
#define LOCAL_DIV 16

/*
 * Read on every charge, written at an arming or a check; the count, which
 * every hand-over writes, on a line of its own.
 */
static struct {
	_Alignas(64) _Atomic(struct tide_monitor *) armed;
	atomic_size_t step, local_step;
} rd = { NULL, (size_t)1 << 20, LOCAL_STEP };
static struct {
	_Alignas(64) atomic_size_t charged;
	atomic_flag busy;
} wr = { 0, ATOMIC_FLAG_INIT };
static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static _Thread_local bool reading; /* this thread holds the read lock */
/*
 * Charged, not handed over yet; UNKEYED (a value no sum of charges below
 * it reaches) until the thread's first charge, so that the common path's
 * compare sends that one to charge_slow(), which sets the thread's exit
 * key.  Allocation sizes stay under UNKEYED, so UNKEYED + bytes does not
 * wrap.
 */
#define UNKEYED ((SIZE_MAX >> 1) + 1)
static _Thread_local size_t held = UNKEYED;
/* its destructor hands a thread's held-back charge over at its exit */
static pthread_key_t exit_key;
static atomic_bool exit_key_made;

/*
 * Backpressure for a loop-owned monitor (internal.h): over high, set by
 * its readings; the loop's dispatches, counted; this thread is a loop's.
 */
static atomic_bool behind;
static atomic_uint loop_runs;
/* loop_runs when a wait timed out: none waits again until it moves */
static atomic_uint stalled_runs = UINT_MAX;
static _Thread_local bool loop_thread;
#define THROTTLE_MS 20

#ifdef TIDE_TEST_HOOKS
void (*tide__sensor_write_hook)(const char *what);
static atomic_int writers_waiting;
static atomic_ulong throttled;

unsigned long tide__sensor_throttled(void)
{
	return atomic_load(&throttled);
}
#define THROTTLED() atomic_fetch_add(&throttled, 1)

size_t tide__sensor_charged(void)
{
	return atomic_load(&wr.charged);
}

int tide__sensor_writers_waiting(void)
{
	return atomic_load(&writers_waiting);
}

#define WRITE_HOOK(what)                               \
	do {                                           \
		if (tide__sensor_write_hook)           \
			tide__sensor_write_hook(what); \
	} while (0)
#define WAITING(n) atomic_fetch_add(&writers_waiting, n)
#else
#define WRITE_HOOK(what) ((void)(what))
#define WAITING(n) ((void)0)
#define THROTTLED() ((void)0)
#endif

/*
 * Take the write lock for @what (test builds: see internal.h): on the
 * thread (or dispatch) of monitor @m re-opening its sources after a move,
 * or for anyone else (@m NULL), who just waits.
 *
 * A shrinker that a charge runs holds the read lock, and may free @m:
 * tide_monitor_free() joins @m's thread, which would wait here for the
 * joiner.  Of the two, the free must not give way: it promises that once
 * it returns no callback of @m runs and nothing of it is left, so it
 * joins, whatever thread it is called on.  The thread gives way instead:
 * it waits in slices of WAIT_SLICE_MS and gives up (false) once its
 * monitor is being freed (m->stopping) while a monitor holds the sensor.
 * Giving up then loses nothing: a suspend has changed nothing yet (the
 * free disarms @m if it armed the sensor, and passes it on), an arm
 * would find the sensor taken, a pass would find it armed; whoever
 * disarms the holder later passes it on.  With no monitor armed no
 * charge runs a shrinker (it holds the read lock only to find none), so
 * the lock comes free soon and the thread waits on: a pass it gave up
 * there could have left the sensor off.  Nothing of what the lock
 * protects changes: whoever gets it holds it alone, as before.
 */
#define WAIT_SLICE_MS 10

static bool write_lock(struct tide_monitor *m, const char *what)
{
	bool ok = true;

	WRITE_HOOK(what);
	if (!pthread_rwlock_trywrlock(&lock))
		return true;
	WAITING(1);
	if (!m) {
		pthread_rwlock_wrlock(&lock);
	} else {
		for (;;) {
			if (atomic_load(&m->stopping) &&
			    atomic_load(&rd.armed)) {
				ok = false;
				break;
			}
			if (!tide__os_wrlock_wait(&lock, WAIT_SLICE_MS))
				break;
		}
	}
	WAITING(-1);
	return ok;
}

static void set_step(size_t v)
{
	atomic_store_explicit(&rd.step, v, memory_order_relaxed);
	atomic_store_explicit(&rd.local_step,
			      TIDE__MIN(LOCAL_STEP, v / LOCAL_DIV),
			      memory_order_relaxed);
}

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
	atomic_store(&rd.armed, NULL);
	atomic_store(&behind, false);
	tide__kv_watch(false);
	atomic_store(&wr.charged, 0);
	/* what the forking thread held back was the parent's (its exit
	 * key, if set, came along) */
	if (held < UNKEYED)
		held = 0;
	atomic_flag_clear(&wr.busy);
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

/* Under the write lock, with no monitor armed: arm @m, first step @first. */
static void arm_locked(struct tide_monitor *m, size_t first)
{
	atomic_store(&behind, false);
	set_step(first);
	atomic_store(&wr.charged, 0);
	atomic_store(&rd.armed, m);
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
		arm_locked(heir, first);
		tide__kv_watch(watch);
	}
	tide__mon_unlock(NULL);
}

void tide__sensor_pass(struct tide_monitor *m)
{
	tide__sensor_fork_register();
	/* a charge's shrinker: its read lock would deadlock (and another
	 * monitor is armed: the one it measures) */
	if (reading || !write_lock(m, "pass"))
		return;
	if (!atomic_load(&rd.armed))
		hand_over_locked();
	pthread_rwlock_unlock(&lock);
}

bool tide__sensor_arm(struct tide_monitor *m, size_t first)
{
	struct tide_monitor *armed;
	bool ok;

	tide__sensor_fork_register();
	/* A monitor made by a shrinker a charge runs: this thread holds the
	 * read lock, the write lock would wait for itself.  Not armed; a
	 * later hand-over may pick it. */
	if (reading || !write_lock(m, "arm"))
		return false;
	/* a lost holder reads nothing (tide__monitor_sense()): take over
	 * (under the write lock it cannot be freed meanwhile) */
	armed = atomic_load(&rd.armed);
	ok = !armed || atomic_load(&armed->lost);
	if (ok)
		arm_locked(m, first);
	pthread_rwlock_unlock(&lock);
	return ok;
}

void tide__sensor_lost(struct tide_monitor *m)
{
	/* a charge's shrinker holds the read lock: the next arm takes over.
	 * No unlocked look at rd.armed first: a hand-over may be arming @m
	 * right now (picked before it was found lost). */
	if (reading || !write_lock(m, "lost"))
		return;
	if (atomic_load(&rd.armed) == m) {
		atomic_store(&rd.armed, NULL);
		atomic_store(&behind, false);
		tide__kv_watch(false);
		hand_over_locked(); /* the heir is never a lost monitor */
	}
	pthread_rwlock_unlock(&lock);
}

bool tide__sensor_suspend(struct tide_monitor *m)
{
	tide__sensor_fork_register();
	if (!reading && !write_lock(m, "suspend"))
		return false;
	tide__mon_lock(m);
	m->sensor_off = true;
	tide__mon_unlock(m);
	if (!reading && atomic_load(&rd.armed) == m) {
		atomic_store(&rd.armed, NULL);
		atomic_store(&behind, false);
		tide__kv_watch(false);
	}
	if (!reading)
		pthread_rwlock_unlock(&lock);
	return true;
}

void tide__sensor_disarm(struct tide_monitor *m, bool wait, bool pass)
{
	struct tide_monitor *expect = m;

	if (atomic_load_explicit(&rd.armed, memory_order_relaxed) != m)
		return;
	if (!wait) {
		/* A forked child: the lock may be held by a thread that does
		 * not exist here. */
		if (atomic_compare_exchange_strong(&rd.armed, &expect, NULL))
			atomic_store(&behind, false);
		return;
	}
	write_lock(NULL, "disarm");
	if (atomic_load(&rd.armed) == m) {
		atomic_store(&rd.armed, NULL);
		atomic_store(&behind, false);
		tide__kv_watch(false);
		if (pass)
			hand_over_locked();
	}
	pthread_rwlock_unlock(&lock);
}

bool tide__sensor_heap_watched(const struct tide_monitor *m, uint64_t value,
			       uint64_t low)
{
	/*
	 * Under low the fast paths charge nothing, so only a poll would see
	 * heap blocks pass low again: a monitor nobody polls (never started,
	 * its descriptor never taken) watches them at any working set.  Up to
	 * 0.2.27 it did not, and a program filling 8 KiB kv blocks into a
	 * 128 MiB v1 group with a monitor never started was OOM-killed.
	 */
	return value >= low || !tide__mon_polled(m);
}

void tide__sensor_watch(struct tide_monitor *m, uint64_t value, uint64_t low)
{
	bool on = tide__sensor_heap_watched(m, value, low);

	/* Both of the monitor's readers may call this at once: each
	 * compares with what kv does now, so the last reading wins. */
	if (atomic_load_explicit(&rd.armed, memory_order_relaxed) == m &&
	    tide__kv_watching() != on)
		tide__kv_watch(on);
}

void tide__sensor_behind(struct tide_monitor *m, bool over)
{
	if (atomic_load_explicit(&rd.armed, memory_order_relaxed) == m &&
	    atomic_load_explicit(&behind, memory_order_relaxed) != over)
		atomic_store(&behind, over);
}

void tide__sensor_loop_ran(bool ran)
{
	loop_thread = true;
	if (ran) {
		/* the wake-up it was behind on is served */
		atomic_store(&behind, false);
		atomic_fetch_add(&loop_runs, 1);
	}
}

/*
 * A hand-over while the loop that owns the reclaim is behind (a charge
 * found the working set over high and woke the loop, which has not
 * dispatched since): wait for that dispatch to end, at most THROTTLE_MS.
 * Bounded: the loop may itself wait for a lock this thread holds, or for
 * this thread.  A wait that ran out with no dispatch meanwhile means the
 * loop is not polling now: no thread waits again until it has dispatched
 * (a worker would otherwise pay 20 ms per hand-over for as long as the
 * loop is away).
 */
static void throttle(void)
{
	unsigned seen = atomic_load(&loop_runs);

	if (atomic_load(&stalled_runs) == seen)
		return;
	THROTTLED();
	for (int i = 0; i < THROTTLE_MS && atomic_load(&behind) &&
			atomic_load(&loop_runs) == seen;
	     i++)
		tide__os_poll(NULL, 0, 1);
	if (atomic_load(&behind) && atomic_load(&loop_runs) == seen)
		atomic_store(&stalled_runs, seen);
}

/*
 * Hand @bytes over to the shared count; at the step, measure.  Out of
 * line, so that the common path (an add to this thread's counter) stays
 * short.
 */
__attribute__((noinline)) static void hand_over(size_t bytes, unsigned flags)
{
	struct tide_monitor *m;
	size_t n, s = atomic_load_explicit(&rd.step, memory_order_relaxed);

	if (atomic_load_explicit(&behind, memory_order_relaxed) &&
	    !loop_thread && !(flags & TIDE_NORECLAIM) && !tide__in_reclaim())
		throttle();

	n = atomic_fetch_add_explicit(&wr.charged, bytes,
				      memory_order_relaxed) +
	    bytes;
	if (n < s)
		return;
	if ((flags & TIDE_NORECLAIM) || tide__in_reclaim())
		return; /* the next hand-over that may reclaim does it */
	/* One thread measures at a time; the others go on allocating. */
	if (atomic_flag_test_and_set(&wr.busy))
		return;
	/*
	 * Take what is counted now, not more: hand-overs made meanwhile by
	 * other threads stay for the next step.  Only the holder of @busy
	 * takes, so the count never goes below zero; under the step, the
	 * holder before us took this hand-over already.
	 */
	n = atomic_load_explicit(&wr.charged, memory_order_relaxed);
	if (n < s) {
		atomic_flag_clear(&wr.busy);
		return;
	}
	atomic_fetch_sub_explicit(&wr.charged, n, memory_order_relaxed);
	if (!pthread_rwlock_tryrdlock(&lock)) {
		reading = true;
		m = atomic_load(&rd.armed);
		if (m)
			set_step(tide__monitor_sense(m, flags));
		/* not in a child forked meanwhile by a callback of ours,
		 * whose fork handler released it */
		if (reading) {
			reading = false;
			pthread_rwlock_unlock(&lock);
		}
	}
	atomic_flag_clear(&wr.busy);
}

/*
 * A thread's exit: hand over what it held back, as a charge that may not
 * reclaim (TIDE_NORECLAIM): the next hand-over that may measures.  Not
 * here: a thread in its key destructors is no place for shrinker
 * callbacks (the program's own thread-specific data may be gone).
 * Charged again afterwards (by another key's destructor), it sets the
 * key again, which runs this again.
 */
static void thread_exit(void *arg)
{
	size_t n = held;

	(void)arg;
	held = UNKEYED;
	if (n && n < UNKEYED)
		hand_over(n, TIDE_NORECLAIM);
}

static void exit_key_make(void)
{
	if (!pthread_key_create(&exit_key, thread_exit))
		atomic_store(&exit_key_made, true);
}

/*
 * Unloaded (dlclose()): no thread may call a destructor that is gone.
 * At the process's exit no thread runs destructors any more.
 */
__attribute__((destructor)) static void exit_key_drop(void)
{
	/* cleared first: a thread still charging (at exit()) sets no key
	 * that another library may be given next */
	if (atomic_exchange(&exit_key_made, false))
		pthread_key_delete(exit_key);
}

/*
 * Out of line: a hand-over, or this thread's first charge (@n is
 * UNKEYED + bytes), which sets its exit key once.  Without a key (none
 * left, out of memory) what the thread holds back at its exit is lost,
 * as it was before 0.2.7.
 */
__attribute__((noinline)) static void charge_slow(size_t n, unsigned flags)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	if (n >= UNKEYED) {
		n -= UNKEYED;
		pthread_once(&once, exit_key_make);
		if (atomic_load(&exit_key_made))
			pthread_setspecific(exit_key, &exit_key);
		if (n < atomic_load_explicit(&rd.local_step,
					     memory_order_relaxed)) {
			held = n;
			return;
		}
	}
	held = 0;
	hand_over(n, flags);
}

void tide__sensor_charge(size_t bytes, unsigned flags)
{
	size_t n;

	if (!atomic_load_explicit(&rd.armed, memory_order_relaxed))
		return;
	n = held + bytes;
	if (n < atomic_load_explicit(&rd.local_step, memory_order_relaxed)) {
		held = n;
		return;
	}
	charge_slow(n, flags);
}
