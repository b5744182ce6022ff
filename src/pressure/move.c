// SPDX-License-Identifier: MIT
/*
 * move.c - following the process to another cgroup.
 *
 * The sources that watch a group discovery found, rather than one the
 * configuration names - the limit watchers, graded PSI on the own v2
 * group (with the system-wide PSI it stands in for) and the budget in
 * cgroup mode - are re-opened on the group the process is in after it
 * moved.  A move is seen at a poll, at least once a second, as a change
 * of /proc/self/cgroup.  Its text is compared as a 64-bit FNV-1a hash and
 * a length, read through in small pieces: the file has no size limit
 * (one line per v1 hierarchy, named ones included), and a hash keeps no
 * copy nor heap buffer per poll.
 *
 * The limit may change in place too (systemctl set-property MemoryMax=,
 * docker update -m, a resize of a Kubernetes pod): every
 * LIMIT_CHECK_MS the discovery runs again, and a different effective
 * limit (value, file or group) re-opens the same sources as a move, whose
 * watermarks then follow the new limit.  Up to 0.2.9 the monitor kept the
 * limit it found at creation: lowered from 1 GiB to 200 MiB, a process
 * was OOM-killed with its monitor still waiting for 768 MiB.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "internal.h"
#include "pressure/cgroup.h"
#include "pressure/monitor.h"
#include "pressure/source.h"

/* Policy: the sources whose group comes from discovery. */
static unsigned following(const struct tide_monitor_config *cfg)
{
	unsigned want = cfg->sources ? cfg->sources : TIDE_SOURCE_AUTO;
	bool dirs = cfg->cgroup1_dir || cfg->cgroup2_dir;
	unsigned f = 0;

	if (!dirs)
		f |= TIDE_SOURCE_CGROUP1 | TIDE_SOURCE_CGROUP2;
	if (!cfg->cgroup2_dir)
		f |= TIDE_SOURCE_PSI_CGROUP | TIDE_SOURCE_PSI;
	if (!dirs && cfg->budget == TIDE_BUDGET_CGROUP)
		f |= TIDE_SOURCE_BUDGET;
	f &= want;
	/* the system-wide PSI only moves with the own group's */
	if (!(f & TIDE_SOURCE_PSI_CGROUP))
		f &= ~TIDE_SOURCE_PSI;
	return f;
}

/* Policy: how often the limit is read again (a discovery: a few files). */
#define LIMIT_CHECK_MS 2000
/*
 * A reading that found the limit's file changed asks for a discovery at
 * once, but discoveries so asked for run at most every LIMIT_NUDGE_MS: an
 * agent that rewrites memory.high many times a second does not re-open
 * the sources each time.
 */
#define LIMIT_NUDGE_MS 250

static int read_self(struct tide_monitor *m, uint64_t *hash, uint64_t *len)
{
	return tide__file_digest(m->paths.proc_cgroup ? m->paths.proc_cgroup :
							"/proc/self/cgroup",
				 hash, len);
}

int tide__mon_move_setup(struct tide_monitor *m)
{
	int r;

	m->follow = following(&m->cfg);
	if (!m->follow || m->mask == TIDE_SOURCE_NONE)
		return 0;
	/* out of memory or descriptors fails the monitor, rather than one
	 * that would never notice a move */
	r = read_self(m, &m->cg_hash, &m->cg_len);
	if (tide__os_exhausted(r))
		return r;
	m->move_check = !r;
	m->limit_check_ns =
		tide__os_now_ns() + (uint64_t)LIMIT_CHECK_MS * 1000000u;
	return 0;
}

/*
 * Re-open the sources that follow on the group the process is in now.
 * Returns 0, or the error (tide__os_exhausted()) that kept discovery or
 * one of them from opening: the caller tries again later.  Other failures
 * mean the source does not apply there and are final.  -ECANCELED: the
 * monitor is being freed (its thread is stopping) and the sensor's write
 * lock was busy, see write_lock() in sensor.c: given up before anything
 * changed (suspend), or after (arm, pass: another monitor holds the
 * sensor, nothing is lost).
 */
void tide__monitor_fractions(struct tide_monitor *m, unsigned limit_pct,
			     unsigned high_pct, unsigned low_pct)
{
	tide__mon_lock(m);
	m->limit_pct = limit_pct;
	m->high_pct = high_pct;
	m->low_pct = low_pct;
	tide__mon_unlock(m);
}

/*
 * The configured limit and watermarks for the new effective limit @cg,
 * @m's lock held, before the sources re-open: made again from their
 * percentages of it (tide__monitor_fractions()); or, given in bytes, the
 * limit's defaults while they are at or over it (a limit lowered under
 * them, as docker update -m may: they would never fire, and the program
 * would have no reclaim until the OOM kill), and the bytes again once
 * they are under it.
 */
static void follow_limit(struct tide_monitor *m,
			 const struct tide__cg_limit *cg)
{
	uint64_t base = cg->limit < TIDE__NO_LIMIT ? cg->limit : 0;
	bool past;

	if (m->limit_pct && base) {
		m->cfg.limit = tide__pct_of(base, m->limit_pct);
		base = m->cfg.limit;
	} else if (m->cfg.limit) {
		base = m->cfg.limit;
	}
	if (m->high_pct && base)
		m->cfg.high_watermark = tide__pct_of(base, m->high_pct);
	if (m->low_pct && base)
		m->cfg.low_watermark = tide__pct_of(base, m->low_pct);
	if (m->high_pct || !m->given_high)
		return;
	past = base && m->given_high >= base;
	m->cfg.high_watermark = past ? 0 : m->given_high;
	m->cfg.low_watermark = past ? 0 : m->given_low;
}

static int rediscover(struct tide_monitor *m, struct tide__cg_limit *found)
{
	struct tide__cg_limit cg;
	unsigned mask = atomic_load(&m->mask);
	struct tide__src *lw;
	int r = 0, err = 0;

	if (found)
		cg = *found; /* ours now */
	else
		r = tide__cg_discover(&m->paths, &cg);
	if (r)
		return tide__os_exhausted(r) ? r : 0;
	/* not armed while its sources change (a charge reads them without
	 * the lock), nor passed the sensor by another's free meanwhile: the
	 * flag is set under the sensor's write lock, which a hand-over holds
	 * from its choice to its arming */
	if (!tide__sensor_suspend(m)) {
		tide__cg_release(&cg);
		return -ECANCELED;
	}
	tide__mon_lock(m);
	for (size_t i = 0; i < TIDE__NSRC; i++)
		if (m->src[i].ops && (m->src[i].bit & m->follow)) {
			tide__mon_src_close(m, &m->src[i], true);
			mask &= ~(1u << i);
		}
	tide__cg_release(&m->cg);
	m->cg = cg;
	m->cg_found = cg.limit;
	follow_limit(m, &m->cg);
	for (size_t i = 0; i < TIDE__NSRC; i++) {
		unsigned bit = 1u << i;

		/* as at creation: the system-wide PSI only without the own
		 * group's */
		if (!(m->follow & bit) ||
		    (bit == TIDE_SOURCE_PSI && (mask & TIDE_SOURCE_PSI_CGROUP)))
			continue;
		r = tide__mon_src_open(m, i);
		if (!r)
			mask |= bit;
		else if (tide__os_exhausted(r))
			err = r;
	}
	if (!(mask & ~TIDE_SOURCE_NONE))
		mask = TIDE_SOURCE_NONE;
	else
		mask &= ~TIDE_SOURCE_NONE;
	atomic_store(&m->mask, mask);
	m->sensor_off = false;
	tide__mon_unlock(m);
	lw = tide__mon_limit_watcher(m);
	if (lw)
		tide__mon_arm_sensor(m, lw);
	else /* it was armed and lost its watcher: the next one takes it */
		tide__sensor_pass(m);
	return atomic_load(&m->stopping) ? -ECANCELED : err;
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static void follow_in_place(struct tide_monitor *m);

/*
 * The effective limit as discovery finds it now, if it changed.  Where
 * discovery fails for want of the files (a chroot with /proc but no
 * cgroup mount), a change the watcher read is followed in place.
 */
static bool limit_changed(struct tide_monitor *m, struct tide__cg_limit *cg)
{
	int r = tide__cg_discover(&m->paths, cg);

	if (r) {
		if (!tide__os_exhausted(r))
			follow_in_place(m);
		return false;
	}
	if (cg->limit != m->cg.limit || cg->version != m->cg.version ||
	    !same_str(cg->file, m->cg.file) || !same_str(cg->dir, m->cg.dir))
		return true;
	tide__cg_release(cg);
	return false;
}

/*
 * The limit changed in place where no discovery can run: /proc/self/cgroup
 * or the cgroup mounts cannot be read (a daemon that chrooted where there
 * is no /proc, or no /sys: sshd's privilege separation, postfix, bind -t).
 * The limit watcher keeps its limit's file open, and its last reading is
 * the new limit, no higher than the limit the last discovery found: the
 * watched file is one of the limits that apply (memory.max, memory.high,
 * an ancestor's), and one raised past another that still applies would
 * take the watermarks out of reach (a review).  The sources stay as they
 * are, and the limit and the watermarks follow it as a re-open would make
 * them (follow_limit()).  A limit removed (v1's unlimited) keeps the last
 * pair.  A user trial: such a daemon's monitor asked for a discovery
 * every millisecond (700 wake-ups a second, 6% of a CPU) and kept the old
 * limit's watermarks, so a daemon holding 313 MB it had freed was never
 * purged in a group lowered from 1 GiB to 700 MiB.
 */
static void follow_in_place(struct tide_monitor *m)
{
	struct tide__src *lw;
	uint64_t v;
	bool moved = false;

	tide__mon_lock(m);
	lw = tide__mon_limit_watcher(m);
	if (lw && !tide__limit_seen(lw, &v) && v && v < TIDE__NO_LIMIT &&
	    (v = TIDE__MIN(v, m->cg_found)) != m->cg.limit) {
		m->cg.limit = v;
		follow_limit(m, &m->cg);
		tide__mon_limit_in_place(m, lw, v);
		moved = true;
	}
	tide__mon_unlock(m);
	if (moved)
		tide__mon_arm_sensor(m, lw);
}

/* Take the sources' limit_moved marks into @m->limit_nudged. */
static void take_marks(struct tide_monitor *m)
{
	for (size_t i = 0; i < TIDE__NSRC; i++)
		if (m->src[i].ops &&
		    atomic_load_explicit(&m->src[i].limit_moved,
					 memory_order_relaxed) &&
		    atomic_exchange(&m->src[i].limit_moved, false))
			m->limit_nudged = true;
}

unsigned tide__mon_limit_nudge_ms(struct tide_monitor *m)
{
	uint64_t now;

	if (!m->move_check)
		return 0;
	take_marks(m);
	if (!m->limit_nudged)
		return 0;
	now = tide__os_now_ns();
	if (now >= m->limit_nudge_ns)
		return 1;
	return (unsigned)((m->limit_nudge_ns - now) / 1000000u) + 1;
}

void tide__mon_limit_nudge(struct tide_monitor *m, struct tide__src *s)
{
	if (!atomic_load_explicit(&s->limit_moved, memory_order_relaxed) ||
	    !m->move_check || atomic_load(&m->lost))
		return;
	tide__mon_arm_timer(m->pollfd, 1);
}

/*
 * Has the process moved to another cgroup, or has its limit changed
 * (checked every LIMIT_CHECK_MS)?  Then re-open the sources that follow
 * there.  When that ran out of memory or descriptors, it is tried again
 * once a second (whether or not the process moved again meanwhile) until
 * every one that applies is open.
 */
bool tide__mon_check_moved(struct tide_monitor *m)
{
	struct tide__cg_limit cg, *found = NULL;
	uint64_t now, hash, len;
	int r;

	if (!m->move_check)
		return false;
	now = tide__os_now_ns();
	/* the readings' marks, taken whatever comes next: a mark left set
	 * would have the sensor re-arm the timer at every reading */
	take_marks(m);
	if (m->move_pending && now < m->move_retry_ns)
		return false;
	r = read_self(m, &hash, &len);
	if (r) {
		/*
		 * No move can be seen, no discovery run.  A change the
		 * watcher read is followed in place; out of memory or
		 * descriptors, it is tried again in a second.  Either way
		 * the mark waits no more: left set, it asked for a check
		 * every millisecond.
		 */
		if (m->limit_nudged && tide__os_exhausted(r)) {
			m->limit_nudge_ns =
				now + (uint64_t)TIDE__MOVE_CHECK_MS * 1000000u;
		} else if (m->limit_nudged) {
			m->limit_nudged = false;
			follow_in_place(m);
		}
		return false;
	}
	if (!m->move_pending && hash == m->cg_hash && len == m->cg_len) {
		if (now < m->limit_check_ns &&
		    !(m->limit_nudged && now >= m->limit_nudge_ns))
			return false;
		m->limit_nudged = false;
		m->limit_check_ns = now + (uint64_t)LIMIT_CHECK_MS * 1000000u;
		m->limit_nudge_ns = now + (uint64_t)LIMIT_NUDGE_MS * 1000000u;
		if (!limit_changed(m, &cg))
			return false;
		found = &cg;
	}
	m->limit_nudged = false; /* the sources re-open on what is found */
	m->cg_hash = hash;
	m->cg_len = len;
	r = rediscover(m, found);
	if (r == -ECANCELED)
		return true;
	m->move_pending = r != 0;
	if (m->move_pending)
		m->move_retry_ns =
			now + (uint64_t)TIDE__MOVE_CHECK_MS * 1000000u;
	return false;
}
