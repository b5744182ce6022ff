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
	struct tide__src src[TIDE__NSRC];

	/* configuration (a full copy, strings owned) */
	struct tide_monitor_config cfg;
	struct tide__cg_paths paths;
	struct tide__cg_limit cg;
	char proc_cgroup[4096]; /* /proc/self/cgroup as last read */
	bool move_check;
	/* a move whose watchers could not all open (out of memory or
	 * descriptors): tried again at @move_retry_ns */
	bool move_pending;
	uint64_t move_retry_ns;
	unsigned rate_ms, quiet_ms;

	/* state (monitor thread) */
	enum tide_pressure_level sig_level_now, wm_level, reported;
	uint64_t reported_ns;
	atomic_int sim; /* simulated level + 1, 0: none pending */
	atomic_bool started;
	pthread_t thread;

	/* st, src[].st, src[].high/low; and src[] itself while rediscover()
	 * re-opens the limit watchers (against tide_monitor_limit() and
	 * tide_monitor_source_stats() on other threads) */
	pthread_mutex_t lock;
	struct tide_monitor_stats st;

	/* the live monitors of this process (monitor.c, for fork()) */
	struct tide_monitor *fork_next;
};

/*
 * In a process other than the creator: a child that inherited @m, or one
 * that a callback forked and then returned from (its loops stop there,
 * touching nothing the parent's monitor shares).
 */
static inline bool tide__mon_forked(const struct tide_monitor *m)
{
	return tide__os_getpid() != m->pid;
}

/* monitor_fork.c: list @m among the live monitors (a new one, ready) */
void tide__mon_list_add(struct tide_monitor *m);
/* monitor_fork.c: unlist @m (before it is released) */
void tide__mon_list_remove(struct tide_monitor *m);

/* reclaim.c: a source's signalled (@wm false) or watermark level */
void tide__mon_set_level(struct tide_monitor *m, struct tide__src *s, bool wm,
			 enum tide_pressure_level lvl);
/* reclaim.c: count events and reclaim loops, for @s too unless NULL */
void tide__mon_stat_add(struct tide_monitor *m, struct tide__src *s,
			unsigned long long events, unsigned long long loops);
/* reclaim.c: report the combined level (again only with @repeat) */
void tide__mon_report(struct tide_monitor *m, bool repeat);
/* reclaim.c: kswapd's loop for a signalled level */
void tide__mon_reclaim_level(struct tide_monitor *m, struct tide__src *s,
			     enum tide_pressure_level lvl);
/* reclaim.c: read every watermark source, reclaim where over high */
void tide__mon_check_watermarks(struct tide_monitor *m);
/* reclaim.c: arm the allocation sensor for the limit watcher @lw */
void tide__mon_arm_sensor(struct tide_monitor *m, struct tide__src *lw);
/* monitor.c: the cgroup v1, else v2, limit watcher in use, or NULL */
struct tide__src *tide__mon_limit_watcher(struct tide_monitor *m);

#endif /* TIDE_PRESSURE_MONITOR_H */
