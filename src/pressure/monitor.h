/* SPDX-License-Identifier: MIT */
/*
 * pressure/monitor.h - what the monitor core (pressure/monitor.c: sources,
 * descriptors, dispatch, lifecycle) and its reclaim answer
 * (pressure/reclaim.c: kswapd's loops, the level and the statistics, the
 * sensor's hook) share.  Private to those two files.
 */
#ifndef TIDE_PRESSURE_MONITOR_H
#define TIDE_PRESSURE_MONITOR_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <tide/pressure.h>

#include "internal.h"
#include "pressure/cgroup.h"
#include "pressure/source.h"

/* Sources a monitor can hold: one per TIDE_SOURCE_* bit but NONE. */
#define TIDE__NSRC 6

struct tide_monitor {
	pid_t pid; /* creator: in any other process the monitor is inert */
	atomic_uint mask; /* sources in use */
	int epfd, stopfd, pollfd, quietfd, simfd;
	/* the epoll's device and inode (every epoll's, on Linux up to now):
	 * the thread polls the number only while it holds one
	 * (tide__mon_note_epoll() and thread_once() in monitor_run.c) */
	struct tide__file_id ep_id;
	struct tide__src src[TIDE__NSRC];

	/* configuration (a full copy, strings owned) */
	struct tide_monitor_config cfg;
	struct tide__cg_paths paths;
	struct tide__cg_limit cg;
	/* the limit the last discovery found (move.c: a limit followed in
	 * place is never raised past it) */
	uint64_t cg_found;
	/* /proc/self/cgroup as last read (move.c): FNV-1a and length */
	uint64_t cg_hash, cg_len;
	unsigned follow; /* sources re-opened after a move (move.c) */
	bool move_check;
	/* a move whose watchers could not all open (out of memory or
	 * descriptors): tried again at @move_retry_ns */
	bool move_pending;
	uint64_t move_retry_ns;
	/* the limit is read again from then on (move.c) */
	uint64_t limit_check_ns;
	/* a reading found the limit's file changed (the sources' marks,
	 * taken): discovery runs at @limit_nudge_ns, not before */
	bool limit_nudged;
	uint64_t limit_nudge_ns;
	/* tide__monitor_fractions(): percentages of the effective limit the
	 * configured limit and watermarks are made from again when it
	 * changes (0: as configured) */
	unsigned limit_pct, high_pct, low_pct;
	/* the watermarks the program gave in bytes (configuration or
	 * tide_monitor_set_watermarks()), 0 for the defaults */
	uint64_t given_high, given_low;
	/* the last tide__monitor_tune() that succeeded (an operator's
	 * "watermarks"), for a forked child's monitor (the preload shim) */
	bool tuned;
	struct tide__tune tune;
	unsigned rate_ms, quiet_ms;

	/* state (monitor thread) */
	enum tide_pressure_level sig_level_now, wm_level, reported;
	uint64_t reported_ns;
	atomic_int sim; /* simulated level + 1, 0: none pending */
	atomic_bool started;
	/* the program polls it from its own loop (tide_monitor_fd() or
	 * tide_monitor_dispatch() was called): the sensor leaves reclaim to
	 * that loop (while not started), see tide__mon_sense_later() */
	atomic_bool dispatched;
	/* a charge found the working set over high and the loop has not
	 * checked since: the poll timer fires at once */
	atomic_bool sense_pending;
	/* tide_monitor_free() is stopping the thread (set under @lock) or,
	 * not started, waiting for the dispatches under way (set before it
	 * looks at @dispatching): the thread takes no event once it sees it
	 * (thread_once() in monitor_run.c), a dispatch that begins does
	 * nothing, and neither waits for the sensor's write lock (sensor.c,
	 * write_lock()) */
	atomic_bool stopping;
	/* tide_monitor_dispatch() calls under way (on the loop's thread,
	 * nested ones counted): tide_monitor_free() on another thread waits
	 * for them */
	atomic_int dispatching;
	/* the thread is in its poll(), or about to look at the marks and
	 * poll (thread_once()) */
	atomic_bool polling;
	/* its thread stopped on an error of its epoll descriptor (the
	 * program closed it behind the library's back): every number is
	 * forgotten, none touched again (tide__mon_release_fds()) */
	atomic_bool lost;
	atomic_bool ended; /* its thread returned (or is about to) */
	/* in a forked child, @epfd (a loop-polled monitor's) was made an
	 * empty epoll of the child's own: the program's, never closed here
	 * (tide__mon_park_epfd()) */
	bool epfd_parked;
	/* the high half of every epoll entry's data (the low half is the
	 * tag): an event without it is not from this monitor's epoll */
	uint32_t key;
	/* tide__monitor_guard(): the thread's longest wait, 0 for none,
	 * what it calls once it finds itself lost, and when it last
	 * checked its epoll in /proc */
	unsigned guard_ms;
	void (*on_lost)(struct tide_monitor *m);
	uint64_t guard_checked_ns;
	pthread_t thread;

	/* st, src[].st, src[].high/low; and src[] itself: its descriptors
	 * while a source's handle() or follow() runs, while move.c re-opens
	 * the sources that follow a move and while
	 * tide_monitor_set_watermarks() replaces a v1 threshold (against
	 * each other, the fork handler and the readers on other threads).
	 * Taken with tide__mon_lock(). */
	pthread_mutex_t lock;
	struct tide_monitor_stats st;

	/* move.c re-opens the sources: the sensor is not handed to it
	 * (under the lock) */
	bool sensor_off;

	/* the live monitors of this process (monitor_fork.c, for fork()) */
	struct tide_monitor *fork_next;
};

/* monitor_fork.c: this process's pid, set when a monitor is created and
 * by the fork child handler (a plain load for the checks below) */
extern atomic_int tide__mon_self;

/*
 * In a process other than the creator: a child that inherited @m, or one
 * that a callback forked and then returned from (its loops stop there,
 * touching nothing the parent's monitor shares).  The monitor's loops ask
 * at every wake-up and pass: the pid cached at creation and refreshed by
 * fork()'s child handler.  A child made without fork handlers (vfork(),
 * clone(), _Fork()) must not return into a callback's loop; it may call
 * the entry points, which ask tide__mon_forked_exact().
 */
static inline bool tide__mon_forked(const struct tide_monitor *m)
{
	return atomic_load_explicit(&tide__mon_self, memory_order_relaxed) !=
	       m->pid;
}

/* The same asked of the kernel (getpid()): for the entry points. */
static inline bool tide__mon_forked_exact(const struct tide_monitor *m)
{
	return tide__os_getpid() != m->pid;
}

/*
 * monitor_fork.c: take and release @m's lock (NULL: the list of live
 * monitors) with this thread's signals blocked, so that a signal handler
 * that forks never runs while its thread holds a lock the fork handler
 * takes.  The monitor's own thread, which blocks every signal, only locks.
 */
void tide__mon_lock(struct tide_monitor *m);
void tide__mon_unlock(struct tide_monitor *m);
/* monitor_fork.c: the calling thread blocks every signal for good */
void tide__mon_thread_signals_off(void);

/* monitor_fork.c: list @m among the live monitors (a new one, ready) */
void tide__mon_list_add(struct tide_monitor *m);
/* monitor_fork.c: unlist @m (before it is released) */
void tide__mon_list_remove(struct tide_monitor *m);
/* monitor_fork.c: close this process's copies of @m's descriptors
 * (@shared: @m is this process's own, its sources also leave the epoll
 * set and the sensor is passed on); a lost @m's are only forgotten */
void tide__mon_release_fds(struct tide_monitor *m, bool shared);
/* monitor.c: mark @m lost if its descriptors are no longer of the kinds
 * it made (the program closed them behind the library's back) */
void tide__mon_check_lost(struct tide_monitor *m);
/* monitor_fork.c: in a child forked from a callback of @m's loop, which
 * still reads @m: unlist it and release its descriptors, keeping the
 * memory (tide_monitor_free()) */
void tide__mon_release_in_child(struct tide_monitor *m);

/*
 * monitor_run.c: @m's loop runs on this thread from tide__mon_enter() to
 * tide__mon_leave() (a dispatch, on the monitor's thread or the caller's,
 * and a charge the sensor measures for @m): a callback it runs (the level
 * callback, a shrinker) that calls tide_monitor_free(@m) is reported as
 * misuse, the monitor would be freed under its loop.  Frames nest (a
 * callback may dispatch another monitor).
 */
struct tide__mon_frame {
	const struct tide_monitor *m;
	struct tide__mon_frame *outer;
};
void tide__mon_enter(struct tide__mon_frame *f, const struct tide_monitor *m);
void tide__mon_leave(struct tide__mon_frame *f);
/* monitor_run.c: does a loop of @m run on this thread (a frame of it)? */
bool tide__mon_runs_here(const struct tide_monitor *m);
/* monitor.c: handle the @n events epoll reported for @m (a dispatch,
 * monitor_run.c); true when told to stop */
struct epoll_event;
bool tide__mon_handle(struct tide_monitor *m, const struct epoll_event *evs,
		      int n);

/* reclaim.c: a source's signalled (@wm false) or watermark level */
void tide__mon_set_level(struct tide_monitor *m, struct tide__src *s, bool wm,
			 enum tide_pressure_level lvl);
/* reclaim.c: count events and reclaim loops, for @s too unless NULL */
void tide__mon_stat_add(struct tide_monitor *m, struct tide__src *s,
			unsigned long long events, unsigned long long loops);
/* monitor.c: close *@fd if open, then -1 */
void tide__mon_close_fd(int *fd);
/* monitor.c: add @fd to @m's epoll set for @events, tagged @tag (the
 * entry's data: @m->key, then @tag in the low 32 bits) */
int tide__mon_ep_add(struct tide_monitor *m, int fd, uint32_t events,
		     uint32_t tag);
/* monitor.c: does @m's epoll number hold @m's own epoll (its stop entry
 * with its key)?  1 yes, 0 no, -errno when /proc cannot tell */
int tide__mon_epoll_own(const struct tide_monitor *m);
/*
 * monitor_run.c: does the program's loop own @m's reclaim (polled or
 * dispatched by it, not started)?
 */
bool tide__mon_loop_owned(const struct tide_monitor *m);
/*
 * monitor_run.c: does anything read @m's working set on its own (its
 * thread started, or the program's loop given its descriptor)?  One that
 * nobody polls reads it only when a charge passes the sensor's step.
 */
bool tide__mon_polled(const struct tide_monitor *m);
/*
 * monitor_run.c: a charge found the working set over high on a loop-owned
 * monitor: make its descriptor readable now (once until the loop checks).
 */
void tide__mon_sense_later(struct tide_monitor *m);
/* monitor.c: arm the timerfd @fd to fire once in @ms milliseconds */
void tide__mon_arm_timer(int fd, unsigned ms);
/* reclaim.c: report the combined level (again only with @repeat) */
void tide__mon_report(struct tide_monitor *m, bool repeat);
/* reclaim.c: is a level event of @s held back (no loop, no level)? */
bool tide__mon_gated(struct tide_monitor *m, struct tide__src *s);
/* reclaim.c: kswapd's loop for a signalled level */
void tide__mon_reclaim_level(struct tide_monitor *m, struct tide__src *s,
			     enum tide_pressure_level lvl);
/* reclaim.c: read every watermark source, reclaim where over high */
void tide__mon_check_watermarks(struct tide_monitor *m);
/* reclaim.c: arm the allocation sensor for the limit watcher @lw */
void tide__mon_arm_sensor(struct tide_monitor *m, struct tide__src *lw);
/* reclaim.c, under @m's lock: the sensor's first step for @m and whether
 * heap blocks are watched, read from its limit watcher; false without one */
bool tide__mon_sensor_reading(struct tide_monitor *m, size_t *step,
			      bool *watch);
/* monitor.c: open source @idx (registered in the epoll set), or close
 * @s (@shared: also remove it from the epoll set); under the lock once
 * the monitor is listed */
int tide__mon_src_open(struct tide_monitor *m, size_t idx);
void tide__mon_src_close(struct tide_monitor *m, struct tide__src *s,
			 bool shared);
/* monitor.c: before tide__mon_src_close() of @m's own @s, not under the
 * lock: close a source whose closes wait (close_waits) side by side */
void tide__mon_src_close_waiting(struct tide_monitor *m, struct tide__src *s);
/* move.c: which sources follow the process to another cgroup, and its
 * /proc/self/cgroup as now (0 or the error that fails the monitor) */
int tide__mon_move_setup(struct tide_monitor *m);
/* move.c: at a poll, re-open the sources that follow after a move; true
 * when it gave that up because tide_monitor_free() is stopping the
 * monitor's thread (the loop ends) */
bool tide__mon_check_moved(struct tide_monitor *m);
/*
 * move.c: a reading of @s found its limit's file changed (limit_moved):
 * wake the monitor, whose next check runs discovery at once rather than
 * at the next 2 s limit check.  Any thread (the sensor's included).
 */
void tide__mon_limit_nudge(struct tide_monitor *m, struct tide__src *s);
/*
 * move.c, monitor thread: the ms until a discovery a reading asked for
 * (limit_moved) may run, at least 1; 0 when none is asked for.
 */
unsigned tide__mon_limit_nudge_ms(struct tide_monitor *m);
/* watermarks.c: whether @m runs a watermark source; @m's lock held. */
bool tide__mon_any_watermark(const struct tide_monitor *m);
/* watermarks.c: the effective limit tide_monitor_limit() reports (0:
 * none); @m's lock held. */
uint64_t tide__mon_limit_locked(struct tide_monitor *m);
/* How often moves are checked (and a failed re-open tried again). */
#define TIDE__MOVE_CHECK_MS 1000
/* monitor.c: replace @s's threshold (rearm()) with one for a hold until
 * the measure reaches @until, or with one at high (@until 0); takes the
 * lock.  0 or -errno, with nothing changed. */
int tide__mon_rearm_hold(struct tide_monitor *m, struct tide__src *s,
			 uint64_t until);
/*
 * watermarks.c, @m's lock held: the limit the watcher @lw reads changed in
 * place to @limit where no discovery can run (move.c): @lw acts on it, and
 * the watermark sources take the pair @m's configuration makes of it (as
 * after a re-open), their thresholds moved as tide_monitor_set_watermarks()
 * moves them.  The sources stay open.
 */
void tide__mon_limit_in_place(struct tide_monitor *m, struct tide__src *lw,
			      uint64_t limit);
/* monitor.c: the cgroup v1, else v2, limit watcher in use, or NULL */
struct tide__src *tide__mon_limit_watcher(struct tide_monitor *m);
/* monitor.c: @m's open source of bit @bit (TIDE_SOURCE_*), or NULL */
struct tide__src *tide__mon_src_of(struct tide_monitor *m, unsigned bit);
/*
 * monitor_run.c, at creation: note what @m's new epoll is (its device and
 * inode), for the thread's look before each sleep.  Nothing noted when
 * fstat() fails: the thread then cannot tell and polls.
 */
void tide__mon_note_epoll(struct tide_monitor *m);

#endif /* TIDE_PRESSURE_MONITOR_H */
