/* SPDX-License-Identifier: MIT */
/*
 * pressure/source.h - the one interface between the monitor core
 * (pressure/monitor.c and reclaim.c) and its pressure sources, one file per
 * family:
 *
 *   psi.c     systemd's $MEMORY_PRESSURE_WATCH protocol, graded PSI on the
 *             own cgroup v2 memory.pressure, else /proc/pressure/memory;
 *   limit.c   the limit watcher: the effective cgroup v1/v2 limit, usage
 *             threshold eventfds, memory.events, vmpressure levels and an
 *             adaptive poll of the working set;
 *   budget.c  process RSS or cgroup usage against configured watermarks.
 *
 * A source owns up to TIDE__SRC_FDS descriptors.  The core adds each to its
 * epoll set with the events the source asks for (a regular file epoll
 * refuses is left to the poll timer), calls handle() when one is ready or
 * when its poll timer expires, and, for a watermark source, read() to
 * compare a working set (or budget measure) with the source's watermarks.
 * The core runs every reclaim loop; sources never reclaim.
 *
 * Sources run on the monitor's thread; read() may also run on an
 * allocating thread (the sensor), so it must only pread() its descriptors.
 */
#ifndef TIDE_PRESSURE_SOURCE_H
#define TIDE_PRESSURE_SOURCE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tide/pressure.h>

#include "pressure/cgroup.h"
#include "pressure/defaults.h"

#define TIDE__SRC_FDS 8
/* open(): $MEMORY_PRESSURE_WATCH says monitoring is off. */
#define TIDE__SRC_OFF 1
/* The most descriptors one rearm() replaces (struct tide__rearm). */
#define TIDE__REARM_FDS 2

/* What a source is opened with. */
struct tide__src_env {
	/* The caller's configuration, all fields present (zero = default). */
	const struct tide_monitor_config *cfg;
	/* The effective limit and own groups, as discovery found them. */
	const struct tide__cg_limit *cg;
};

struct tide__src {
	const struct tide__src_ops *ops;
	unsigned bit; /* TIDE_SOURCE_* */
	int fd[TIDE__SRC_FDS]; /* -1 when unused */
	uint32_t events[TIDE__SRC_FDS]; /* epoll events for fd[i] */
	/* Watermark sources: read() is compared with high and low. */
	bool watermark;
	uint64_t high, low;
	/* Limit watchers: the limit (0 for none) and where it came from;
	 * limit_moved: a reading found that file changed (set by read(),
	 * taken by tide__mon_check_moved(), which runs discovery then). */
	uint64_t limit;
	int version;
	char *dir;
	const char *file;
	atomic_bool limit_moved;
	/* Poll interval the source wants now in ms; 0: not polled. */
	unsigned poll_ms;
	void *priv; /* the source's own state */
	/* Kept by the core (see tide_monitor_source_stats()): st.level is the
	 * higher of the signalled level and the watermark level. */
	struct tide_monitor_source_stats st;
	enum tide_pressure_level sig, wm;
	/* Watermark sources, kept by the core under the monitor's lock: a
	 * loop that freed nothing and left the measure over high holds the
	 * next one back for idle_ms (reclaim.c). */
	unsigned idle_ms;
	uint64_t idle_until_ns, idle_value;
	/* Sources with rearm(), kept by the core under the monitor's lock:
	 * the measure the threshold was raised to for a hold (0: it is at
	 * high), and the hold (its idle_until_ns) a raise was last tried
	 * for: one try per hold (reclaim.c, hold_threshold()). */
	uint64_t raised, raise_tried_ns;
	/* Limit watchers, kept by the core under the monitor's lock: the
	 * interval the poll of a hold no threshold watches has backed off
	 * to (0: not in such a hold), and the highest measure that hold has
	 * seen (reclaim.c, hold_poll()). */
	unsigned hold_poll_ms;
	uint64_t hold_peak;
	/* The kernel's level sources, kept by the core under the monitor's
	 * lock: a level loop that gave nothing back holds the loops of
	 * events of that level or lower back until level_hold_ns (0: no
	 * hold; reclaim.c, level_held()). */
	uint64_t level_hold_ns;
	enum tide_pressure_level level_hold;
};

/*
 * What rearm() opens: for i < n, fd[i] replaces the source's fd[slot + i];
 * -1 leaves that slot unused (what it held is closed).  All n are swapped
 * in together or none (pressure/watermarks.c).
 */
struct tide__rearm {
	int slot, n;
	int fd[TIDE__REARM_FDS];
};

struct tide__src_ops {
	/*
	 * Open the source: fill fd[], events[] and the watermark fields.
	 * Returns 0; TIDE__SRC_OFF (watch only); -ENODEV when the source
	 * does not apply here (not configured, no limit); another -errno when
	 * it applies but fails (the kernel refused a trigger, EACCES).  On
	 * failure everything it opened is closed again by close().
	 */
	int (*open)(struct tide__src *s, const struct tide__src_env *env);
	/*
	 * Optional: with @until 0, the high watermark is about to become
	 * @high; otherwise a hold holds loops back until the measure reaches
	 * @until (or falls under low).  Open what must replace fd[] for it
	 * into *@ret (a v1 usage threshold registered at @high; for a hold,
	 * one at the usage where the measure would reach @until and one at
	 * the usage where it would fall under low), the core adds them to the
	 * epoll set with events[] of their slots and swaps them in; ret->n 0
	 * when nothing needs replacing.  0, or -errno with nothing left open,
	 * ret->n 0 and @s unchanged.  Runs under the monitor's lock.
	 */
	int (*rearm)(struct tide__src *s, uint64_t high, uint64_t until,
		     struct tide__rearm *ret);
	/*
	 * fd[@i] reported @events (@i -1: the poll timer expired).  Sets
	 * *@level to a level the source now reports (left alone: none) and
	 * *@check when the watermarks must be checked.  Returns true when
	 * fd[@i] is done (hangup, group gone): the core removes it from the
	 * epoll set and closes it.
	 */
	bool (*handle)(struct tide__src *s, int i, uint32_t events,
		       enum tide_pressure_level *level, bool *check);
	/*
	 * Optional: before a poll reads, replace a descriptor whose file was
	 * replaced.  Runs under the monitor's lock: a child forked at any
	 * moment holds either the old or the new one, never both.
	 */
	void (*follow)(struct tide__src *s);
	/* The measure watermarks compare: 0 or -errno (NULL: level source). */
	int (*read)(struct tide__src *s, uint64_t *ret);
	/* The poll interval the source wants after reading @value. */
	unsigned (*next_poll)(const struct tide__src *s, uint64_t value);
	/* Release priv and dir; the core closes fd[]. */
	void (*close)(struct tide__src *s);
	/*
	 * Closing each of fd[] waits in the kernel (a PSI trigger: an RCU
	 * grace period, 11-27 ms on a 2-CPU machine), and waits that overlap
	 * end together: when the monitor is freed, the core closes them side
	 * by side (tide__mon_src_close_waiting()).
	 */
	bool close_waits;
};

extern const struct tide__src_ops tide__src_watch_ops;
extern const struct tide__src_ops tide__src_psi_cgroup_ops;
extern const struct tide__src_ops tide__src_psi_ops;
extern const struct tide__src_ops tide__src_cgroup2_ops;
extern const struct tide__src_ops tide__src_cgroup1_ops;
extern const struct tide__src_ops tide__src_budget_ops;

/* Helpers shared by the source files (monitor.c; tide__src_watermarks():
 * watermarks.c). */
char *tide__path_join(const char *dir, const char *file);
char *tide__strdup(const char *s);
/* Default watermarks from @limit, or the configured ones (-EINVAL: low >
 * high; -ENODEV: neither a limit nor a configured high watermark). */
int tide__src_watermarks(struct tide__src *s,
			 const struct tide_monitor_config *cfg, uint64_t limit);

/* limit.c: the value a limit watcher @s last read from its limit's file
 * (into *@ret), or -ENOENT when it watches none (a configured limit). */
int tide__limit_seen(struct tide__src *s, uint64_t *ret);

/* ---- the sensor (sensor.c) and its hook in the core (reclaim.c) ---- */

/* Arm the sensor for @m with a first step of @step bytes; only one monitor
 * arms it at a time (false when another has, unless that one is lost; or when called on a thread
 * whose charge runs a shrinker: it holds the read lock, or when @m is
 * being freed while another holds it, see write_lock()). */
bool tide__sensor_arm(struct tide_monitor *m, size_t step);
/* @m re-opens its sources (a move): set m->sensor_off under the write
 * lock, so that no hand-over picks @m meanwhile, and disarm @m if it
 * armed the sensor.  Cleared by the caller under @m's lock.  False, with
 * nothing done, when @m is being freed while another monitor holds the
 * sensor (write_lock()): the caller gives the move up. */
bool tide__sensor_suspend(struct tide_monitor *m);
/* Disarm it if @m armed it; with @wait, waits for a charge that runs @m's
 * reclaim (without: in a forked child, where that lock may be stale), and
 * with @pass too, passes it on to tide__mon_sensor_heir() (not while @m is
 * listed: tide_monitor_free() unlists it first). */
void tide__sensor_disarm(struct tide_monitor *m, bool wait, bool pass);
/* @m was found lost: if it armed the sensor, pass it on (its readings
 * are no longer taken; tide__mon_sensor_heir() skips lost monitors).
 * Nothing on a thread whose charge runs a shrinker (tide__sensor_arm()
 * then takes over from @m). */
void tide__sensor_lost(struct tide_monitor *m);
/* With no monitor armed: arm tide__mon_sensor_heir(), if there is one.
 * Called by @m's thread (or dispatch), which gives up when @m is being
 * freed while another monitor holds the sensor (write_lock()). */
void tide__sensor_pass(struct tide_monitor *m);
/*
 * monitor_fork.c, with the list of monitors locked (and the sensor's write
 * lock held): the oldest live monitor of this process with a limit watcher
 * (not one re-opening its sources after a move), with its first step in
 * @step and whether heap blocks are to be watched in @watch; or NULL.
 */
struct tide_monitor *tide__mon_sensor_heir(size_t *step, bool *watch);
/*
 * Called by the sensor on an allocating thread each time the charged bytes
 * pass the step: read the working set, run direct reclaim when it is over
 * the high watermark, honouring %TIDE_NOIO in the allocation's @flags (the
 * shrinkers see it).  Returns the next step in bytes.
 */
size_t tide__monitor_sense(struct tide_monitor *m, unsigned flags);

#endif /* TIDE_PRESSURE_SOURCE_H */
