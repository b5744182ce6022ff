// SPDX-License-Identifier: MIT
/*
 * monitor_run.c - running a monitor: on its own thread
 * (tide_monitor_start()) or from the program's loop (tide_monitor_fd(),
 * tide_monitor_dispatch()), which then owns the allocation sensor's
 * reclaim; the loops running on a thread; the preload shim's guard of a
 * thread's epoll.  What a dispatch does with the events is monitor.c's
 * (tide__mon_handle()).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <tide/pressure.h>

#include "internal.h"
#include "pressure/monitor.h"

/*
 * The program polls @m (tide_monitor_fd() or tide_monitor_dispatch()): its
 * loop owns the sensor's reclaim from now on (tide__mon_loop_owned()).  A
 * plain load first: no shared write at every dispatch.
 */
static void mark_polled(struct tide_monitor *m)
{
	if (!atomic_load_explicit(&m->dispatched, memory_order_relaxed))
		atomic_store(&m->dispatched, true);
	tide__sensor_loop_ran(false); /* this thread is the loop's */
}

bool tide__mon_loop_owned(const struct tide_monitor *m)
{
	return atomic_load(&m->dispatched) && !atomic_load(&m->started);
}

bool tide__mon_polled(const struct tide_monitor *m)
{
	return atomic_load(&m->started) || atomic_load(&m->dispatched);
}

void tide__mon_sense_later(struct tide_monitor *m)
{
	/* its numbers may be the program's now: touch none */
	if (atomic_load(&m->lost))
		return;
	/* once until the loop checks: later charges do not push it back */
	if (!atomic_exchange(&m->sense_pending, true))
		tide__mon_arm_timer(m->pollfd, 1);
}

/* The loops running on this thread, innermost first. */
static _Thread_local struct tide__mon_frame *running;

void tide__mon_enter(struct tide__mon_frame *f, const struct tide_monitor *m)
{
	f->m = m;
	f->outer = running;
	running = f;
}

void tide__mon_leave(struct tide__mon_frame *f)
{
	running = f->outer;
}

bool tide__mon_runs_here(const struct tide_monitor *m)
{
	for (const struct tide__mon_frame *f = running; f; f = f->outer)
		if (f->m == m)
			return true;
	return false;
}

/*
 * Handle what a wait of @m's epoll returned: @n events into @evs, or
 * -errno.  True: stop (the stop event, or @m found lost).
 */
static bool handle_taken(struct tide_monitor *m, struct epoll_event *evs, int n,
			 int *err)
{
	struct tide__mon_frame f;
	bool stop;

	*err = 0;
	if (n < 0) {
		*err = n == -EINTR ? 0 : n;
		/*
		 * EBADF or EINVAL: the program closed the epoll descriptor
		 * behind the library's back (a close_range(2), as daemons
		 * do) and may have reused the number.  Lost: no number of
		 * the monitor is touched again (its thread stops, the
		 * sensor's wake-up arms nothing); the timerfds' and
		 * eventfds' may be its pipes now.
		 */
		if (*err) {
			atomic_store(&m->lost, true);
			tide__sensor_lost(m);
		}
		return false;
	}
	tide__mon_enter(&f, m);
	stop = tide__mon_handle(m, evs, n);
	tide__mon_leave(&f);
	if (atomic_load(&m->lost)) /* tide__mon_handle() found it so */
		tide__sensor_lost(m);
	return stop;
}

static bool dispatch_once(struct tide_monitor *m, int timeout, int *err)
{
	struct epoll_event evs[16];

	return handle_taken(
		m, evs, tide__os_epoll_wait(m->epfd, evs, 16, timeout), err);
}

/* Has @m been found lost, or is tide_monitor_free() stopping it? */
static bool marked(struct tide_monitor *m)
{
	return atomic_load(&m->lost) || atomic_load(&m->stopping);
}

void tide__mon_note_epoll(struct tide_monitor *m)
{
	if (tide__os_file_id(m->epfd, &m->ep_id))
		m->ep_id.ino = 0;
}

/*
 * Does @m's epoll number hold an epoll?  A program that closed it may
 * have put a pipe or a socket there: a poll() asleep on it would hold the
 * program's file open (a pipe's reader would never see its end).  Found
 * so, @m is lost.  The window between this look and the poll() is the
 * program's own close racing the thread's wake-up.
 */
static bool holds_an_epoll(struct tide_monitor *m)
{
	if (!m->ep_id.ino)
		return true; /* no fstat() at creation: cannot tell */
	if (!tide__os_same_file(m->epfd, &m->ep_id))
		return true;
	atomic_store(&m->lost, true);
	return false;
}

/*
 * poll() refused (a soft RLIMIT_NOFILE of 0, as a privilege-separated
 * daemon's sandbox sets: poll() takes no more descriptors than that;
 * ENOMEM): wait in epoll_wait(), which has no such limit, as up to 0.2.25.
 * It shows as polling meanwhile, so that tide_monitor_free() does not
 * wait for a thread asleep on an epoll nothing may wake; events taken
 * from it after a free are dropped.
 */
static bool epoll_wait_instead(struct tide_monitor *m, int timeout,
			       struct epoll_event *evs, int *err)
{
	int n;

	atomic_store(&m->polling, true);
	if (marked(m))
		return true;
	n = tide__os_epoll_wait(m->epfd, evs, 16, timeout);
	atomic_store(&m->polling, false);
	if (marked(m))
		return true;
	return handle_taken(m, evs, n, err);
}

/*
 * One wait of @m's own thread.  It sleeps in poll(), which takes no
 * event, then takes the ready events without waiting, under @m's lock,
 * once it has seen neither the lost nor the stopping mark there.
 * tide_monitor_free() sets both marks under that lock, so the thread of a
 * monitor it found lost never takes an event after it returned, from
 * that epoll or from one the program has put on the number by then (up
 * to 0.2.25 a thread that had not waited yet waited on the number and
 * took the program's events); and it reads m->polling after the marks:
 * a thread that shows as polling is either in a poll() that takes
 * nothing, or about to see the marks and stop, so it is left to end by
 * itself; any other ends at its next look, and is joined.  True: stop.
 */
static bool thread_once(struct tide_monitor *m, int timeout, int *err)
{
	struct pollfd p = { .fd = m->epfd, .events = POLLIN };
	struct epoll_event evs[16];
	int n;

	*err = 0;
	atomic_store(&m->polling, true);
	if (marked(m) || !holds_an_epoll(m))
		return true;
	n = tide__os_poll(&p, 1, timeout);
	atomic_store(&m->polling, false);
	if (n == 0 || n == -EINTR)
		return false; /* the guard's timeout, or a signal */
	if (n < 0)
		return epoll_wait_instead(m, timeout, evs, err);
	tide__mon_lock(m);
	if (marked(m)) {
		tide__mon_unlock(m);
		return true;
	}
	/* a closed number or another file: EBADF, EINVAL (lost) */
	n = tide__os_epoll_wait(m->epfd, evs, 16, 0);
	tide__mon_unlock(m);
	if (n == 0)
		return false; /* no longer ready */
	return handle_taken(m, evs, n, err);
}

bool tide__mon_foreign(const struct tide_monitor *m)
{
	return tide__mon_forked_exact(m);
}

int tide_monitor_dispatch(struct tide_monitor *m)
{
	int err;

	if (!m)
		return -EINVAL;
	if (tide__mon_forked_exact(m))
		return -ECHILD;
	/* its number may be the program's now: never waited on again */
	if (atomic_load(&m->lost))
		return -EBADF;
	if (atomic_load(&m->started))
		return -EBUSY;
	mark_polled(m);
	/*
	 * Counted before the stopping mark is looked at, as
	 * tide_monitor_free() sets the mark before it looks at the count
	 * (both sequentially consistent): either the free waits for this
	 * dispatch, or this one sees the mark and touches @m no more (a
	 * dispatch that starts once the free has begun: nothing to do).
	 */
	atomic_fetch_add(&m->dispatching, 1);
	if (atomic_load(&m->stopping)) {
		atomic_fetch_sub(&m->dispatching, 1);
		return 0;
	}
	dispatch_once(m, 0, &err);
	atomic_fetch_sub(&m->dispatching, 1); /* @m may be freed from here */
	tide__sensor_loop_ran(true); /* threads that waited for it go on */
	return err;
}

void tide__monitor_guard(struct tide_monitor *m, unsigned every_ms,
			 void (*on_lost)(struct tide_monitor *m))
{
	m->guard_ms = every_ms;
	m->on_lost = on_lost;
}

/*
 * A guarded monitor's epoll number still holds its own epoll (its keyed
 * stop entry), when a check is due (tide__guard_due()); when /proc cannot
 * tell (out of descriptors, no /proc), it is taken to be.
 */
static bool still_own(struct tide_monitor *m)
{
	return !tide__guard_due(&m->guard_checked_ns) ||
	       tide__mon_epoll_own(m) != 0;
}

static void *monitor_thread(void *arg)
{
	struct tide_monitor *m = arg;
	int timeout = m->guard_ms ? (int)m->guard_ms : -1, err;

	tide__mon_thread_signals_off(); /* tide_monitor_start() blocked them */
	/* an error of the epoll descriptor: lost (handle_taken()), stop */
	for (;;) {
		if (m->guard_ms && !atomic_load(&m->lost) &&
		    !atomic_load(&m->stopping) && !still_own(m)) {
			atomic_store(&m->lost, true);
			break;
		}
		if (thread_once(m, timeout, &err) || err)
			break;
	}
	/* (found lost by tide_monitor_free(), which disarmed it: a no-op) */
	if (atomic_load(&m->lost))
		tide__sensor_lost(m);
	atomic_store(&m->ended, true);
	/*
	 * A callback forked and the child returned here: this thread is a
	 * stray copy, the child's only thread.  End the child as a forked
	 * child should, without the parent's atexit handlers or a second
	 * flush of its stdio buffers.
	 */
	if (tide__mon_forked_exact(m))
		_exit(0);
	if (atomic_load(&m->lost) && m->on_lost && !atomic_load(&m->stopping))
		m->on_lost(m);
	return NULL;
}

int tide_monitor_start(struct tide_monitor *m)
{
	bool expect = false;
	int r;

	if (!m)
		return -EINVAL;
	if (tide__mon_forked_exact(m))
		return -ECHILD;
	/* its thread would wait on a number that may be the program's */
	if (atomic_load(&m->lost))
		return -EBADF;
	if (!atomic_compare_exchange_strong(&m->started, &expect, true))
		return -EBUSY;
	r = tide__os_thread_create(&m->thread, monitor_thread, m);
	if (r) {
		atomic_store(&m->started, false);
		/* a charge's reading meanwhile took it for polled and may
		 * have turned the heap watch off: nobody polls it after all
		 * (tide__sensor_watch() turns it on for such a monitor) */
		tide__sensor_watch(m, 0, UINT64_MAX);
		return r;
	}
	return 0;
}

int tide_monitor_fd(const struct tide_monitor *m)
{
	if (!m)
		return -EINVAL;
	/* Not const: the monitor itself never is (tide_monitor_new()). */
	mark_polled((struct tide_monitor *)m);
	return m->epfd;
}
