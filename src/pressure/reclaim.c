// SPDX-License-Identifier: MIT
/*
 * reclaim.c - the monitor's answer to pressure: kswapd's loops.
 *
 *  - a level (PSI, systemd's protocol, vmpressure, memory.events, a
 *    simulated level) that tide__mon_gated() lets through runs passes
 *    from priority 12 down to the level's floor (LOW 10, MEDIUM 6,
 *    CRITICAL 0) and repeats at the floor while a pass frees something;
 *    its first pass asks every shrinker for a share of its count (MEDIUM
 *    a quarter, CRITICAL all) so small caches answer; after a loop that
 *    gave nothing back, the kernel's events at that level run none for a
 *    second (level_held());
 *  - a watermark source over its high watermark runs passes from 12 down to
 *    0 and stops as soon as it reads under its low watermark; the passes
 *    are bounded by the gap to low (see reclaim_watermark()).
 *
 * Every loop ends with an allocator purge (tide_purge()) unless
 * TIDE_MONITOR_NO_TRIM; a watermark loop whose caches freed the gap
 * without it showing purges before it goes on (a few times at most).
 * Also here: the monitor's level and statistics, and the allocation
 * sensor's hook (tide__monitor_sense()).  The core that opens sources and
 * dispatches their events is pressure/monitor.c.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <limits.h>
#include <stdint.h>

#include <tide/pressure.h>
#include <tide/shrinker.h>

#include "internal.h"
#include "pressure/cgroup.h"
#include "pressure/monitor.h"

/* Passes at the floor are bounded in case caches refill as fast as reclaim
 * empties them. */
#define MAX_FLOOR_PASSES 32
/* Allocator purges inside one watermark loop, at most (plus the last). */
#define MAX_LOOP_PURGES 8
/* Rounds in a row after which the measure has not dropped at all, the
 * allocator purged or not, that end a watermark loop (reclaim_watermark()). */
#define MAX_BLIND_ROUNDS 2
/* After a loop that freed nothing over high: the next waits this long,
 * doubling up to the most. */
#define IDLE_MIN_MS 1000
#define IDLE_MAX_MS 2000
/* The poll of a hold no threshold watches backs off to this, at most (see
 * hold_poll()), and comes back to the fast poll on a rise of a
 * HOLD_RISE_DIV-th of the hold's margin. */
#define HOLD_POLL_MAX_MS 128
#define HOLD_RISE_DIV 4
/* The sensor's step: this fraction of the headroom left, at least MIN. */
#define SENSOR_STEP_DIV 8
#define SENSOR_STEP_MIN ((size_t)1 << 20)
/* The system-wide PSI reclaims while MemAvailable < MemTotal / this. */
#define GATE_AVAIL_DIV 8
/* After a level loop that gave nothing back, events of the kernel's level
 * sources at that level or lower run no loop for this long (level_held()),
 * and a purge gives back less than this many bytes for nothing. */
#define LEVEL_HOLD_MS 1000
#define LEVEL_HOLD_PURGE ((uint64_t)1 << 20)

/* A source's signalled (@wm false) or watermark level. */
void tide__mon_set_level(struct tide_monitor *m, struct tide__src *s, bool wm,
			 enum tide_pressure_level lvl)
{
	tide__mon_lock(m);
	if (wm)
		s->wm = lvl;
	else
		s->sig = lvl;
	s->st.level = TIDE__MAX(s->sig, s->wm);
	tide__mon_unlock(m);
}

void tide__mon_stat_add(struct tide_monitor *m, struct tide__src *s,
			unsigned long long events, unsigned long long loops)
{
	tide__mon_lock(m);
	m->st.events += events;
	m->st.loops += loops;
	if (s) {
		s->st.events += events;
		s->st.loops += loops;
	}
	tide__mon_unlock(m);
}

/*
 * Report the combined level.  Changes go out at once; the same level again
 * only when @repeat and the rate limit allows.
 */
void tide__mon_report(struct tide_monitor *m, bool repeat)
{
	enum tide_pressure_level lvl = TIDE__MAX(m->wm_level, m->sig_level_now);
	uint64_t now = tide__os_now_ns();
	bool changed = lvl != m->reported;

	tide__mon_lock(m);
	m->st.level = lvl;
	tide__mon_unlock(m);
	if (!changed) {
		if (!repeat || lvl == TIDE_PRESSURE_NONE ||
		    now - m->reported_ns < (uint64_t)m->rate_ms * 1000000u)
			return;
	}
	m->reported = lvl;
	m->reported_ns = now;
	if (m->cfg.on_level)
		m->cfg.on_level(lvl, m->cfg.level_arg);
}

static int level_floor(enum tide_pressure_level lvl)
{
	switch (lvl) {
	case TIDE_PRESSURE_LOW:
		return 10;
	case TIDE_PRESSURE_MEDIUM:
		return 6;
	default:
		return 0;
	}
}

/*
 * Is a level event of @s held back (counted, no loop, level not raised)?
 *
 *  - a group-scoped level (the own group's PSI, v1 vmpressure, v2
 *    memory.events) while a limit watcher runs on a limit above its low
 *    watermark: when the working set, read now, is under low.  Such
 *    events also come from page cache churn (usage at the limit,
 *    reclaimed by the kernel); clean cache is the kernel's to drop, and
 *    evicting objects for it is thrash;
 *  - the system-wide PSI: when MemAvailable is at least 1/8 of MemTotal.
 *    A host-wide stall while the host has that much available is some
 *    cgroup's limit being thrashed, or IO, not a shortage this process
 *    can relieve;
 *  - never systemd's protocol (an explicit request), a simulated level, or
 *    when what gates cannot be read (the event counts as before).
 */
bool tide__mon_gated(struct tide_monitor *m, struct tide__src *s)
{
	struct tide__src *lw;
	uint64_t value, low, limit, total, avail;

	if (!s)
		return false;
	switch (s->bit) {
	case TIDE_SOURCE_PSI:
		if (tide__meminfo_read(m->paths.meminfo, &total, &avail) ||
		    !total)
			return false;
		return avail >= total / GATE_AVAIL_DIV;
	case TIDE_SOURCE_PSI_CGROUP:
	case TIDE_SOURCE_CGROUP1:
	case TIDE_SOURCE_CGROUP2:
		lw = tide__mon_limit_watcher(m);
		if (!lw)
			return false;
		tide__mon_lock(m);
		low = lw->low;
		limit = lw->limit;
		tide__mon_unlock(m);
		/* only under a limit the low watermark is under: watermarks
		 * set past the limit (or no limit) would hold back every
		 * event of a group at its limit */
		if (!limit || low >= limit || lw->ops->read(lw, &value))
			return false;
		return value < low;
	default:
		return false;
	}
}

/* The share of every cache a level's first pass asks for: 1/div. */
static unsigned long level_share(enum tide_pressure_level lvl)
{
	switch (lvl) {
	case TIDE_PRESSURE_MEDIUM:
		return 4;
	case TIDE_PRESSURE_CRITICAL:
		return 1;
	default:
		return 0;
	}
}

/*
 * One pass: with a @share, the level's share of every cache; with a
 * @budget (objects, counted as pages), stop once that much is freed.
 */
static unsigned long pass(struct tide_monitor *m, int priority,
			  unsigned long share, unsigned long budget,
			  unsigned flags)
{
	unsigned long freed =
		share  ? tide__shrink_share(priority, flags, share) :
		budget ? tide__shrink_to(priority, flags, budget) :
			 tide_shrink(priority, flags);

	tide__mon_lock(m);
	m->st.passes++;
	m->st.freed += freed;
	m->st.last_priority = priority;
	tide__mon_unlock(m);
	return freed;
}

/* The loop's last step: the allocator purge; the pages it gave back. */
static unsigned long loop_end(struct tide_monitor *m, struct tide__src *s)
{
	unsigned long purged = 0;

	if (!(m->cfg.flags & TIDE_MONITOR_NO_TRIM))
		purged = tide_purge();
	tide__mon_stat_add(m, s, 0, 1);
	return purged;
}

/* tide_shrinker_foreach(): stop (1) at the first cache that counts any. */
static int count_any(const struct tide_shrinker_info *info, void *arg)
{
	(void)arg;
	return info->count > 0;
}

/*
 * Is the loop for a level event of @s at @lvl held back?  A level loop
 * whose passes freed nothing and whose purge gave back less than
 * LEVEL_HOLD_PURGE found nothing to give; a group at its limit (a
 * neighbour's OOM kill, live data at the limit) goes on signalling, and
 * vmpressure and memory.events signal at every reclaim batch or failed
 * charge: a user trial's daemon ran 1411 such loops, each with its purge,
 * in a few seconds.  So for LEVEL_HOLD_MS after one, events of the same
 * source at that level or lower run no loop; they still count and still
 * raise the level.  A higher level, or a shrinker that counts something
 * to free (its objects were busy, or it filled since), ends the hold at
 * once, as in the watermark loops' hold (idle()).  Only the kernel's
 * signals are held: systemd's protocol is the manager's request and a
 * simulated level the program's, as at the gate.
 */
static bool level_held(struct tide_monitor *m, struct tide__src *s,
		       enum tide_pressure_level lvl)
{
	bool held;

	if (!s || s->bit == TIDE_SOURCE_WATCH)
		return false;
	tide__mon_lock(m);
	held = s->level_hold_ns && lvl <= s->level_hold &&
	       tide__os_now_ns() < s->level_hold_ns;
	if (!held)
		s->level_hold_ns = 0;
	tide__mon_unlock(m);
	if (!held || tide_shrinker_foreach(count_any, NULL) != 1)
		return held;
	tide__mon_lock(m);
	s->level_hold_ns = 0;
	tide__mon_unlock(m);
	return false;
}

/* kswapd's loop for a level: no usage target, so walk to the floor. */
void tide__mon_reclaim_level(struct tide_monitor *m, struct tide__src *s,
			     enum tide_pressure_level lvl)
{
	int floor = level_floor(lvl), prio = TIDE_DEF_PRIORITY;
	unsigned long share = level_share(lvl), total = 0, purged;
	unsigned at_floor = 0;

	if (level_held(m, s, lvl))
		return;
	for (;;) {
		unsigned long freed;

		/* a callback forked: the child's copy of the loop stops */
		if (tide__mon_forked(m))
			return;
		freed = pass(m, prio, share, 0, 0);
		if (tide__mon_forked(m))
			return;
		total += freed;
		share = 0;
		if (prio > floor) {
			prio--;
			continue;
		}
		if (!freed || ++at_floor >= MAX_FLOOR_PASSES)
			break;
	}
	purged = loop_end(m, s);
	if (s && !total &&
	    (uint64_t)purged * tide__os_page_size() < LEVEL_HOLD_PURGE) {
		tide__mon_lock(m);
		s->level_hold = lvl;
		s->level_hold_ns =
			tide__os_now_ns() + (uint64_t)LEVEL_HOLD_MS * 1000000u;
		tide__mon_unlock(m);
	}
}

static void set_value(struct tide_monitor *m, struct tide__src *s,
		      uint64_t value)
{
	uint64_t low;

	tide__mon_lock(m);
	m->st.usage = value;
	s->st.value = value;
	low = s->low;
	tide__mon_unlock(m);
	/* the sensor's own watcher: heap blocks are watched from low on */
	if (s == tide__mon_limit_watcher(m))
		tide__sensor_watch(m, value, low);
}

static void watermarks(struct tide_monitor *m, struct tide__src *s,
		       uint64_t *high, uint64_t *low)
{
	tide__mon_lock(m);
	*high = s->high;
	*low = s->low;
	tide__mon_unlock(m);
}

/* The gap from @value down to @low in pages (at least 1): the target. */
static unsigned long gap_pages(uint64_t value, uint64_t low)
{
	uint64_t gap = value > low ? (value - low) / tide__os_page_size() : 0;

	return (unsigned long)TIDE__MIN(gap, (uint64_t)ULONG_MAX - 1) + 1;
}

/*
 * kswapd's loop for a watermark source: from 12 down to 0, stopping as soon
 * as the measure is under the low watermark.  Returns the last value read.
 *
 * Every pass is bounded by what is left of the target, kswapd's
 * nr_to_reclaim: the gap to low in pages (caches count in pages or small
 * units), less what the loop's passes have freed since the target was
 * set.  Once the caches have freed the whole target and the measure is
 * still not under low, a new target is set from the gap left (a cache of
 * units smaller than pages gets there in more rounds).  When less than
 * half of what they freed showed in the measure, their frees may be hidden
 * in the allocator (heap blocks freed into malloc show after its purge):
 * the allocator is purged then (unless TIDE_MONITOR_NO_TRIM), up to
 * MAX_LOOP_PURGES times per loop, and no more once a purge gave back less
 * than half of the claim (the frees are elsewhere, or the measure grows
 * with something else; a purge of a large fragmented heap takes a while).
 * Before this, the passes read the measure, saw no progress from heap
 * frees and went on to priority 0: a crossing emptied such a cache.
 *
 * A round after which the measure has not dropped at all, purge or not,
 * was blind: what the caches freed did not show (the allocator keeps it
 * after purges stopped, another thread's allocations took it, or the
 * memory is not the caches').  MAX_BLIND_ROUNDS of them in a row end the
 * loop: more rounds would only take more of the caches for nothing (a
 * trial's writer thread beside a cache of 1-16 KiB blocks saw loops empty
 * it, 148 MiB to 0 where 25 MiB was the gap).  A cache counting units
 * smaller than pages makes the measure drop a little every round, and
 * goes on.  The next check starts a new loop if the measure is still at
 * or over high.
 */
static uint64_t reclaim_watermark(struct tide_monitor *m, struct tide__src *s,
				  uint64_t value, unsigned flags,
				  unsigned long *total)
{
	bool trim = !(m->cfg.flags & TIDE_MONITOR_NO_TRIM), purged = false;
	unsigned purges = 0; /* inside the loop, up to MAX_LOOP_PURGES */
	unsigned blind = 0; /* rounds in a row the measure did not drop */
	int prio = TIDE_DEF_PRIORITY;
	unsigned at_floor = 0;
	unsigned long target, claimed = 0;
	uint64_t high, low, start = value, page = tide__os_page_size();

	watermarks(m, s, &high, &low);
	target = gap_pages(value, low);
	for (;;) {
		unsigned long freed;

		/* a callback (a shrinker, a count of idle(), or the level
		 * callback before the loop) forked: the child's copy of the
		 * loop stops here, and after every pass and purge, before it
		 * reads @s (a child that freed the monitor inside the
		 * callback left @s without ops: tide_monitor_free()) */
		if (tide__mon_forked(m))
			return value;
		freed = pass(m, prio, 0, target - claimed, flags);
		if (tide__mon_forked(m))
			return value;
		*total += freed;
		claimed = freed < target - claimed ? claimed + freed : target;
		purged = purged && !freed;
		if (s->ops->read(s, &value))
			break;
		set_value(m, s, value);
		if (value < low)
			break;
		if (claimed == target) {
			/* did less than half of the claimed frees show? */
			bool hidden = start - TIDE__MIN(start, value) <
				      (uint64_t)claimed * page / 2;

			if (hidden && trim && purges < MAX_LOOP_PURGES) {
				/* one that gave back less than half of the
				 * claim says the frees are not in malloc */
				purges = tide_purge() < claimed / 2 ?
						 MAX_LOOP_PURGES :
						 purges + 1;
				purged = true;
				if (tide__mon_forked(m))
					return value;
				if (s->ops->read(s, &value))
					break;
				set_value(m, s, value);
				if (value < low)
					break;
			}
			blind = value < start ? 0 : blind + 1;
			if (blind >= MAX_BLIND_ROUNDS)
				break;
			target = gap_pages(value, low);
			claimed = 0;
			start = value;
		}
		if (prio > 0) {
			prio--;
			continue;
		}
		if (!freed || ++at_floor >= MAX_FLOOR_PASSES)
			break;
	}
	/* the allocator was purged after the last pass that freed anything */
	if (!purged)
		loop_end(m, s);
	else
		tide__mon_stat_add(m, s, 0, 1);
	if (tide__mon_forked(m))
		return value;
	if (trim && !purged && !s->ops->read(s, &value))
		set_value(m, s, value);
	return value;
}

/*
 * A loop over high that freed nothing and left the measure over high: the
 * memory is not the caches' (live data, another tenant), and a loop per
 * event or poll would only burn CPU and purges (a trial's idle host ran
 * 400 loops a second).  The next loop waits IDLE_MIN_MS, doubling to
 * IDLE_MAX_MS while loops keep freeing nothing, unless the measure grew by
 * half the band between the watermarks (at least 1 MiB) since, or a
 * shrinker counts something to free (count_any()).
 */

/* How much the measure grows before a hold ends. */
static uint64_t hold_margin(uint64_t high, uint64_t low)
{
	return TIDE__MAX((high - low) / 2, (uint64_t)SENSOR_STEP_MIN);
}

/* Is a hold in force for @s at @value (time and growth; no callback)? */
static bool holding(struct tide_monitor *m, struct tide__src *s, uint64_t value,
		    uint64_t high, uint64_t low)
{
	uint64_t margin = hold_margin(high, low);
	bool r;

	tide__mon_lock(m);
	r = s->idle_ms && tide__os_now_ns() < s->idle_until_ns &&
	    value < s->idle_value + margin;
	tide__mon_unlock(m);
	return r;
}

static bool idle(struct tide_monitor *m, struct tide__src *s, uint64_t value,
		 uint64_t high, uint64_t low)
{
	/* A cache that has something to give now (its objects were busy
	 * in the last loop) ends the wait: asking costs count calls until
	 * the first that is not empty. */
	return holding(m, s, value, high, low) &&
	       tide_shrinker_foreach(count_any, NULL) != 1;
}

static void loop_result(struct tide_monitor *m, struct tide__src *s,
			uint64_t value, uint64_t high, unsigned long freed)
{
	tide__mon_lock(m);
	if (value >= high && !freed) {
		s->idle_ms = s->idle_ms ?
				     TIDE__MIN(2 * s->idle_ms, IDLE_MAX_MS) :
				     IDLE_MIN_MS;
		s->idle_until_ns =
			tide__os_now_ns() + (uint64_t)s->idle_ms * 1000000u;
		s->idle_value = value;
	} else {
		s->idle_ms = 0;
	}
	tide__mon_unlock(m);
}

/* Over high: reclaim, unless idle() holds it back.  The value after. */
static uint64_t over_high(struct tide_monitor *m, struct tide__src *s,
			  uint64_t value, uint64_t high, uint64_t low,
			  unsigned flags)
{
	unsigned long freed = 0;

	if (idle(m, s, value, high, low))
		return value;
	value = reclaim_watermark(m, s, value, flags, &freed);
	/* its callbacks forked: no hold for the child's copy */
	if (!tide__mon_forked(m))
		loop_result(m, s, value, high, freed);
	return value;
}

/*
 * A hold must also hold back the wake-ups that would only find it holding.
 * A v1 usage threshold at high wakes the monitor at every crossing, and a
 * group whose usage hovers around high (live data just over it, a little
 * allocated and freed) crosses it hundreds of times a second (a user
 * trial: 400 wake-ups a second, each reading the group's usage); the poll
 * ran every 2 ms over high as well.  While a hold lasts, the threshold
 * moves up to where the hold would end (the measure @value grown by the
 * margin, as idle() has it; also registered where it would fall under
 * low, see limit.c), and the poll waits for the hold's end or the slow
 * interval (poll_interval_ms), whichever comes first; the threshold goes
 * back to high once a check finds the hold ended or the measure under
 * low (a check in a dip under high keeps it: idle() would hold a rise
 * back anyway).  So a rise that ends the hold and a fall under low still
 * wake the monitor at once; a shrinker that gets something to give is
 * asked at the allocation sensor's charges and at those polls, no longer
 * at every crossing.  One try per hold: when the threshold cannot move
 * (out of memory or descriptors, cgroup.event_control refused), it stays
 * where it was (high, or where the last hold raised it), and the poll
 * backs off as hold_poll() says, as it does where there is no threshold
 * at all.  Sets *@until to where the hold ends (0:
 * no hold); returns the measure the threshold is raised to (0: none).
 */
static uint64_t hold_threshold(struct tide_monitor *m, struct tide__src *s,
			       uint64_t value, uint64_t high, uint64_t low,
			       uint64_t now, uint64_t *until)
{
	bool move;
	uint64_t raised;

	tide__mon_lock(m);
	*until = 0;
	if (s->idle_ms && now < s->idle_until_ns && value >= low)
		*until = s->idle_value + hold_margin(high, low);
	if (!s->ops->rearm) {
		move = false;
	} else if (*until) {
		move = s->raise_tried_ns != s->idle_until_ns;
		s->raise_tried_ns = s->idle_until_ns;
	} else {
		move = s->raised != 0;
	}
	tide__mon_unlock(m);
	if (move)
		tide__mon_rearm_hold(m, s, *until);
	tide__mon_lock(m);
	/* A failed raise for a hold that follows a raised one leaves the
	 * threshold where the last hold put it: not this hold's end, so
	 * not a raise the poll may wait on. */
	raised = !*until || s->raised == *until ? s->raised : 0;
	tide__mon_unlock(m);
	return raised;
}

/*
 * The poll of a hold that no threshold watches: cgroup v2 (no usage
 * thresholds), a v1 group whose cgroup.event_control is not writable, a
 * raise that failed.  At 2 ms over high through the hold, such a watcher
 * woke hundreds of times a second to read a usage the hold then ignored
 * (100-300 ms of CPU a second in a group sized tight).  It cannot wait for
 * the hold's end as a raised threshold does: a rise toward the limit has
 * nothing else to wake it (v2's memory.events only reports the limit
 * reached; the sensor only sees kv and arena charges).  So the interval
 * backs off: the source's own (2 ms over high) at the hold's first check,
 * doubling at each check while the measure stays within a quarter of the
 * margin over the highest the hold has seen (usage hovering in a band
 * never brings it back), up to HOLD_POLL_MAX_MS; a rise past that brings
 * it back to the source's own at once, so a climb is followed closely.
 * A hold that follows another at once (its end's loop freed nothing)
 * goes on from the interval and peak the last one reached: the measure
 * has not risen for a whole hold.  The bound, while the measure is over
 * high (in a dip under it the source's own interval from the headroom
 * applies, as without a hold): a rise that ends the hold (the margin) is
 * seen within HOLD_POLL_MAX_MS, and the first second of a hold wakes the
 * poll 13 times at most (the last at its end), not 500.  Never past the hold's
 * end (its loop runs then), never longer than the slow interval, never
 * shorter than the source's own.  Under the monitor's lock.
 */
/* Milliseconds to the end of @s's hold, rounded up (under the lock). */
static uint64_t hold_left_ms(const struct tide__src *s, uint64_t now)
{
	return (s->idle_until_ns - now) / 1000000u + 1;
}

static unsigned hold_poll(struct tide__src *s, uint64_t value, uint64_t high,
			  uint64_t low, uint64_t now)
{
	uint64_t left = hold_left_ms(s, now);
	uint64_t step = hold_margin(high, low) / HOLD_RISE_DIV;
	unsigned own = s->ops->next_poll(s, value);
	unsigned slow = s->ops->next_poll(s, 0), ms;

	if (!s->hold_poll_ms || value > s->hold_peak + step) {
		s->hold_poll_ms = own;
		s->hold_peak = TIDE__MAX(value, s->idle_value);
	} else {
		s->hold_poll_ms =
			TIDE__MIN(2 * s->hold_poll_ms, HOLD_POLL_MAX_MS);
		s->hold_peak = TIDE__MAX(s->hold_peak, value);
	}
	ms = TIDE__MAX(s->hold_poll_ms, own);
	ms = TIDE__MIN(ms, slow);
	return (unsigned)TIDE__MIN((uint64_t)ms, left);
}

/*
 * The poll interval of a limit watcher after a check that read @value:
 * next_poll()'s, or a hold's (see hold_threshold() and hold_poll()).  The
 * budget's poll is fixed (poll_interval_ms): it has none of this.
 */
static unsigned limit_poll(struct tide_monitor *m, struct tide__src *s,
			   uint64_t value, uint64_t high, uint64_t low)
{
	uint64_t now = tide__os_now_ns(), until;
	unsigned ms;

	if (hold_threshold(m, s, value, high, low, now, &until) && until) {
		tide__mon_lock(m);
		ms = s->ops->next_poll(s, 0); /* the slow interval */
		ms = (unsigned)TIDE__MIN((uint64_t)ms, hold_left_ms(s, now));
		s->hold_poll_ms = 0;
		tide__mon_unlock(m);
		return ms;
	}
	tide__mon_lock(m);
	if (until) {
		ms = hold_poll(s, value, high, low, now);
	} else {
		s->hold_poll_ms = 0;
		ms = s->ops->next_poll(s, value);
	}
	tide__mon_unlock(m);
	return ms;
}

/*
 * Check one watermark source: at or over high, reclaim; the level stays up
 * (hysteresis) until every watermark source is under its low watermark.
 */
static void check_source(struct tide_monitor *m, struct tide__src *s)
{
	uint64_t value, high, low;
	unsigned ms;

	if (!s->watermark)
		return;
	if (s->ops->follow) {
		tide__mon_lock(m);
		s->ops->follow(s);
		tide__mon_unlock(m);
	}
	if (s->ops->read(s, &value)) {
		/* The group went away or cannot be read: poll it slowly
		 * (a move to another group is re-discovered), never spin;
		 * the fast paths come back, a charge could not measure. */
		if (s == tide__mon_limit_watcher(m))
			tide__sensor_watch(m, 0, 1);
		if (s->ops->next_poll) {
			tide__mon_lock(m);
			s->poll_ms = s->ops->next_poll(s, 0);
			tide__mon_unlock(m);
		}
		return;
	}
	set_value(m, s, value);
	watermarks(m, s, &high, &low);
	if (value >= high) {
		tide__mon_set_level(m, s, true, TIDE_PRESSURE_MEDIUM);
		m->wm_level = TIDE__MAX(m->wm_level, TIDE_PRESSURE_MEDIUM);
		tide__mon_stat_add(m, s, 1, 0);
		tide__mon_report(m, true);
		/*
		 * The level callback, or a callback of the loop, forked:
		 * the child's copy stops before it reads @s again (freed
		 * inside the callback, it has no ops) or moves a threshold
		 * in the epoll it shares with the parent (limit_poll()).
		 */
		if (tide__mon_forked(m))
			return;
		value = over_high(m, s, value, high, low, 0);
		if (tide__mon_forked(m))
			return;
	}
	if (value < low)
		tide__mon_set_level(m, s, true, TIDE_PRESSURE_NONE);
	if (s->bit == TIDE_SOURCE_CGROUP1 || s->bit == TIDE_SOURCE_CGROUP2) {
		ms = limit_poll(m, s, value, high, low);
		tide__mon_lock(m);
		s->poll_ms = ms;
		tide__mon_unlock(m);
	} else if (s->ops->next_poll) {
		tide__mon_lock(m); /* s->high */
		s->poll_ms = s->ops->next_poll(s, value);
		tide__mon_unlock(m);
	}
}

void tide__mon_check_watermarks(struct tide_monitor *m)
{
	enum tide_pressure_level wm = TIDE_PRESSURE_NONE;

	for (size_t i = 0; i < TIDE__NSRC; i++) {
		if (m->src[i].ops && m->src[i].watermark)
			check_source(m, &m->src[i]);
		/* a callback forked: the child's copy checks no more */
		if (tide__mon_forked(m))
			return;
	}
	for (size_t i = 0; i < TIDE__NSRC; i++)
		if (m->src[i].ops && m->src[i].watermark)
			wm = TIDE__MAX(wm, m->src[i].wm);
	if (wm != m->wm_level) {
		m->wm_level = wm;
		tide__mon_report(m, false);
	}
}

/* ---- the sensor's hook --------------------------------------------------- */

static size_t sensor_step(uint64_t value, uint64_t high)
{
	size_t step =
		value < high ? (size_t)((high - value) / SENSOR_STEP_DIV) : 0;

	return TIDE__MAX(step, SENSOR_STEP_MIN);
}

/* Arm the sensor for the limit watcher @lw and set its first poll. */
void tide__mon_arm_sensor(struct tide_monitor *m, struct tide__src *lw)
{
	uint64_t v = 0, high, low;
	size_t step;

	lw->ops->read(lw, &v);
	tide__mon_lock(m);
	if (lw->ops->next_poll)
		lw->poll_ms = lw->ops->next_poll(lw, v);
	tide__mon_unlock(m);
	watermarks(m, lw, &high, &low);
	step = sensor_step(v, high);
	if (tide__sensor_arm(m, step))
		tide__sensor_watch(m, v, low);
}

/*
 * For a monitor the sensor passes to.  Its poll interval is left alone:
 * its own thread (if it runs one) sets it at its next check.
 */
bool tide__mon_sensor_reading(struct tide_monitor *m, size_t *step, bool *watch)
{
	struct tide__src *lw = tide__mon_limit_watcher(m);
	uint64_t v = 0;

	if (!lw)
		return false;
	/* a lost monitor's numbers may be the program's files now */
	if (!atomic_load(&m->lost))
		lw->ops->read(lw, &v);
	*step = sensor_step(v, lw->high);
	*watch = tide__sensor_heap_watched(m, v, lw->low);
	return true;
}

size_t tide__monitor_sense(struct tide_monitor *m, unsigned flags)
{
	struct tide__src *s = tide__mon_limit_watcher(m);
	struct tide__mon_frame f;
	uint64_t value, high, low;

	/* a lost monitor's numbers may be the program's files now: never
	 * read (tide__mon_check_lost()) */
	if (!s || tide__mon_forked(m) || atomic_load(&m->lost) ||
	    s->ops->read(s, &value))
		return SENSOR_STEP_MIN;
	tide__mon_limit_nudge(m, s);
	watermarks(m, s, &high, &low);
	tide__sensor_watch(m, value, low);
	if (value < high)
		tide__sensor_behind(m, false);
	if (value >= high && tide__mon_loop_owned(m)) {
		/*
		 * The program's loop polls this monitor, and its shrinkers
		 * count on running between two of the loop's callbacks,
		 * never inside its own code's allocation: no callback here
		 * (not even the hold's count probe).  Make the descriptor
		 * readable now (the next poll checks every watermark
		 * source), unless a hold would only find itself holding;
		 * measure again a step on.
		 */
		if (!holding(m, s, value, high, low)) {
			tide__mon_sense_later(m);
			/* the other threads wait for that dispatch */
			tide__sensor_behind(m, true);
		}
		return sensor_step(value, high);
	}
	if (value >= high) {
		tide__mon_stat_add(m, s, 1, 0);
		/* its shrinkers must not free @m (the read lock holds it) */
		tide__mon_enter(&f, m);
		value = over_high(m, s, value, high, low, flags & TIDE_NOIO);
		tide__mon_leave(&f);
	}
	return sensor_step(value, high);
}
