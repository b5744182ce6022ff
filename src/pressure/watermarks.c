// SPDX-License-Identifier: MIT
/*
 * watermarks.c - a monitor's watermarks: the pair a source opens with
 * (tide__src_watermarks()), moving them (tide_monitor_set_watermarks(),
 * and the v1 usage thresholds bound to them: re-registered at a new high,
 * raised for a hold-back over high, see reclaim.c; all or nothing), and
 * the limit and pair in effect (tide_monitor_limit()).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>

#include <tide/pressure.h>

#include "internal.h"
#include "pressure/defaults.h"
#include "pressure/monitor.h"
#include "pressure/source.h"

/* Under the lock: remove what threshold_open() opened into @rs from the
 * epoll set and close it. */
static void threshold_drop(struct tide_monitor *m, struct tide__rearm *rs)
{
	for (int i = 0; i < rs->n; i++) {
		if (rs->fd[i] >= 0)
			tide__os_epoll_ctl(m->epfd, EPOLL_CTL_DEL, rs->fd[i],
					   NULL);
		tide__mon_close_fd(&rs->fd[i]);
	}
	rs->n = 0;
}

/*
 * Under the lock: open @s's replacement threshold for @high, or for a hold
 * until @until, into *@rs (a v1 source: two eventfds for a hold, one at
 * high, see limit.c) and add them to the epoll set; rs->n 0 when the
 * source has nothing to replace.  0, or -errno with nothing left open.
 */
static int threshold_open(struct tide_monitor *m, struct tide__src *s,
			  uint64_t high, uint64_t until, struct tide__rearm *rs)
{
	size_t n = (size_t)(s - m->src);
	int r;

	rs->n = 0;
	r = s->ops->rearm(s, high, until, rs);
	if (r < 0) {
		rs->n = 0;
		return r;
	}
	for (int i = 0; i < rs->n; i++) {
		int slot = rs->slot + i;

		if (rs->fd[i] < 0)
			continue;
		r = tide__mon_ep_add(m, rs->fd[i], s->events[slot],
				     (uint32_t)(n << 8 | (unsigned)slot));
		if (r) {
			threshold_drop(m, rs);
			return r;
		}
	}
	return 0;
}

/* Under the lock: what threshold_open() opened into @rs replaces what
 * its slots held. */
static void threshold_swap(struct tide_monitor *m, struct tide__src *s,
			   struct tide__rearm *rs, uint64_t until)
{
	for (int i = 0; i < rs->n; i++) {
		int slot = rs->slot + i;

		if (s->fd[slot] >= 0)
			tide__os_epoll_ctl(m->epfd, EPOLL_CTL_DEL, s->fd[slot],
					   NULL);
		tide__mon_close_fd(&s->fd[slot]);
		s->fd[slot] = rs->fd[i];
	}
	rs->n = 0;
	s->raised = until;
}

/*
 * Under the lock: every source that binds a descriptor to the high
 * watermark (a v1 usage threshold) opens one for @high, all or none; then
 * the new ones replace the old (a threshold raised for a hold included:
 * the next check raises it again, see reclaim.c).  Returns 0 or the first
 * exhaustion error (tide__os_exhausted()), with nothing changed.
 */
static int rearm_sources(struct tide_monitor *m, uint64_t high)
{
	struct tide__rearm rs[TIDE__NSRC];
	int r = 0;
	size_t n;

	for (n = 0; n < TIDE__NSRC && !r; n++) {
		struct tide__src *s = &m->src[n];

		rs[n].n = 0;
		if (!s->ops || !s->watermark || !s->ops->rearm)
			continue;
		r = threshold_open(m, s, high, 0, &rs[n]);
		/* A group that went away or an event_control no longer
		 * writable: the old threshold stays (its events only wake
		 * the check) and the poll watches the new pair.  Out of
		 * memory or descriptors: nothing changes, the caller retries. */
		if (r < 0 && !tide__os_exhausted(r))
			r = 0;
	}
	for (size_t i = 0; i < n; i++) {
		struct tide__src *s = &m->src[i];

		if (!rs[i].n)
			continue;
		if (r) { /* roll back what the others opened */
			threshold_drop(m, &rs[i]);
			continue;
		}
		threshold_swap(m, s, &rs[i], 0);
		s->raise_tried_ns = 0;
	}
	return r;
}

int tide__mon_rearm_hold(struct tide_monitor *m, struct tide__src *s,
			 uint64_t until)
{
	struct tide__rearm rs;
	int r;

	/* a forked child's copy of the loop: the epoll is the parent's */
	if (tide__mon_forked(m))
		return -ECHILD;
	tide__mon_lock(m);
	r = threshold_open(m, s, s->high, until, &rs);
	if (!r && rs.n)
		threshold_swap(m, s, &rs, until);
	tide__mon_unlock(m);
	return r;
}

/* The sources' thresholds moved to @high, then their pair set. */
static int apply_pair(struct tide_monitor *m, uint64_t high, uint64_t low)
{
	int r;

	r = tide__mon_any_watermark(m) ? rearm_sources(m, high) : -EOPNOTSUPP;
	if (r)
		return r;
	for (size_t i = 0; i < TIDE__NSRC; i++) {
		if (!m->src[i].ops || !m->src[i].watermark)
			continue;
		m->src[i].high = high;
		m->src[i].low = low;
	}
	return 0;
}

void tide__mon_limit_in_place(struct tide_monitor *m, struct tide__src *lw,
			      uint64_t limit)
{
	struct tide__src pair = { 0 };

	lw->limit = limit;
	/* out of memory or descriptors for a v1 threshold: the old pair
	 * stays, until the next change */
	if (!tide__src_watermarks(&pair, &m->cfg, limit))
		apply_pair(m, pair.high, pair.low);
}

/* Set @high and @low (@low not 0) on every watermark source, @m's lock
 * held; the configured pair becomes them.  0 or -errno: nothing changed. */
static int set_pair(struct tide_monitor *m, uint64_t high, uint64_t low)
{
	int r = apply_pair(m, high, low);

	if (r)
		return r;
	/* what the sources re-opened after a move take */
	m->cfg.high_watermark = high;
	m->cfg.low_watermark = low;
	m->high_pct = m->low_pct = 0; /* bytes from now on */
	m->given_high = high;
	m->given_low = low;
	return 0;
}

int tide_monitor_set_watermarks(struct tide_monitor *m, uint64_t high,
				uint64_t low)
{
	int r;

	if (!m || !high || low > high)
		return -EINVAL;
	if (tide__mon_forked_exact(m))
		return -ECHILD;
	/* its numbers may be the program's now: a new threshold would be
	 * added to the program's epoll, the poll timer's number armed */
	if (atomic_load(&m->lost))
		return -EBADF;
	if (!low)
		low = tide__low_of_high(high);
	tide__mon_lock(m);
	r = set_pair(m, high, low);
	if (!r)
		m->tuned = false; /* the program's pair, not an operator's */
	tide__mon_unlock(m);
	if (r)
		return r;
	/* checked at the next poll, which is now */
	tide__mon_arm_timer(m->pollfd, 1);
	return 0;
}

int tide__monitor_tune(struct tide_monitor *m, const struct tide__tune *t,
		       uint64_t *ret_high, uint64_t *ret_low)
{
	bool of_limit = t->high_pct || !t->high;
	uint64_t high = t->high, low = t->low, limit;
	int r;

	if (!m || t->high_pct > 100 || t->low_pct > 100 || tide__tune_mixed(t))
		return -EINVAL;
	if (tide__mon_forked_exact(m))
		return -ECHILD;
	if (atomic_load(&m->lost)) /* as tide_monitor_set_watermarks() */
		return -EBADF;
	/* the pair from the limit as it is under the lock: a limit changed
	 * meanwhile re-opens the sources only after this */
	tide__mon_lock(m);
	limit = tide__mon_limit_locked(m);
	r = -EOPNOTSUPP; /* before "no limit": PSI alone has neither */
	if (!tide__mon_any_watermark(m))
		goto out;
	if (of_limit && !limit) {
		r = -ENODEV;
		goto out;
	}
	if (t->high_pct) {
		high = tide__pct_of(limit, t->high_pct);
		low = t->low_pct ? tide__pct_of(limit, t->low_pct) :
				   tide__low_of_high(high);
	} else if (!t->high) {
		high = tide__default_high(limit);
		low = tide__default_low(limit);
	} else if (!low) {
		low = tide__low_of_high(high);
	}
	r = -ERANGE;
	if (high < TIDE__WATERMARK_FLOOR || low < TIDE__WATERMARK_FLOOR)
		goto out;
	r = -EFBIG; /* usage never gets there: the OOM kill comes first */
	if (limit && high >= limit)
		goto out;
	r = -EINVAL;
	if (low > high)
		goto out;
	r = set_pair(m, high, low);
	if (!r && of_limit) {
		/* made again from the limit when it changes (move.c) */
		m->high_pct = t->high_pct;
		m->low_pct = t->low_pct;
		m->cfg.high_watermark = t->high_pct ? high : 0;
		m->cfg.low_watermark = t->low_pct ? low : 0;
		m->given_high = m->given_low = 0;
	}
	if (!r) {
		m->tuned = true;
		m->tune = *t;
	}
out:
	tide__mon_unlock(m);
	if (r)
		return r;
	*ret_high = high;
	*ret_low = low;
	tide__mon_arm_timer(m->pollfd, 1);
	return 0;
}

bool tide__monitor_tuned(struct tide_monitor *m, struct tide__tune *ret)
{
	bool tuned;

	tide__mon_lock(m);
	tuned = m->tuned;
	if (tuned)
		*ret = m->tune;
	tide__mon_unlock(m);
	return tuned;
}

void tide__monitor_watermarks_kind(struct tide_monitor *m, char *buf,
				   size_t size)
{
	const char *high;
	char pct[16];

	tide__mon_lock(m);
	high = m->given_high ? "bytes" : "default";
	if (m->high_pct) {
		snprintf(pct, sizeof(pct), "%u%%", m->high_pct);
		high = pct;
	}
	if (!tide__mon_any_watermark(m))
		snprintf(buf, size, "%s", "");
	else if (m->low_pct)
		snprintf(buf, size, "%s,%u%%", high, m->low_pct);
	else
		snprintf(buf, size, "%s", high);
	tide__mon_unlock(m);
}

/* ---- a source's pair at opening --------------------------------------- */

int tide__src_watermarks(struct tide__src *s,
			 const struct tide_monitor_config *cfg, uint64_t limit)
{
	uint64_t high, low;

	if (cfg->high_watermark) {
		high = cfg->high_watermark;
		low = cfg->low_watermark ? cfg->low_watermark :
					   tide__low_of_high(high);
	} else if (limit && limit < TIDE__NO_LIMIT) {
		high = tide__default_high(limit);
		low = cfg->low_watermark;
		/*
		 * A low given alone over the limit's high (a limit found or
		 * lowered under 4/3 of it) would make no pair: the limit's
		 * default low, until a limit whose high is at or over it.  Up
		 * to 0.2.27 this was -EINVAL: the monitor failed at creation,
		 * and a limit lowered in place dropped its limit watcher
		 * without a word (or, chrooted, kept a high over the limit).
		 */
		if (!low || low > high)
			low = tide__default_low(limit);
	} else {
		return -ENODEV;
	}
	if (low > high)
		return -EINVAL;
	s->watermark = true;
	s->high = high;
	s->low = low;
	return 0;
}

/* ---- the limit and the watermarks in effect ------------------------------ */

bool tide__mon_any_watermark(const struct tide_monitor *m)
{
	for (size_t i = 0; i < TIDE__NSRC; i++)
		if (m->src[i].ops && m->src[i].watermark)
			return true;
	return false;
}

uint64_t tide__mon_limit_locked(struct tide_monitor *m)
{
	struct tide__src *s = tide__mon_limit_watcher(m);

	if (!s)
		s = tide__mon_src_of(m, TIDE_SOURCE_BUDGET);
	if (s && s->limit)
		return s->limit;
	if (m->cg.limit < TIDE__NO_LIMIT && m->cg.dir)
		return m->cg.limit;
	return 0;
}

int tide_monitor_limit(struct tide_monitor *m, struct tide_monitor_limit *ret)
{
	struct tide_monitor_limit l;
	struct tide__src *s;

	if (!m || !ret)
		return -EINVAL;
	memset(&l, 0, sizeof(l));
	tide__mon_lock(m);
	s = tide__mon_limit_watcher(m);
	if (!s)
		s = tide__mon_src_of(m, TIDE_SOURCE_BUDGET);
	if (s) {
		l.high = s->high;
		l.low = s->low;
	}
	if (s && s->limit) {
		l.limit = s->limit;
		l.version =
			s->file && !strcmp(s->file, "config") ? 0 : s->version;
		/* the budget's dir is its rss_path, not the limit's */
		if (s->dir && s->bit != TIDE_SOURCE_BUDGET)
			snprintf(l.dir, sizeof(l.dir), "%s", s->dir);
		if (s->file)
			snprintf(l.file, sizeof(l.file), "%s", s->file);
	} else if (m->cg.limit < TIDE__NO_LIMIT && m->cg.dir) {
		l.limit = m->cg.limit;
		l.version = m->cg.version;
		snprintf(l.dir, sizeof(l.dir), "%s", m->cg.dir);
		snprintf(l.file, sizeof(l.file), "%s",
			 m->cg.file ? m->cg.file : "");
	}
	/* the limiting group's working set, read now */
	if (s && s->bit != TIDE_SOURCE_BUDGET &&
	    (atomic_load(&m->lost) || s->ops->read(s, &l.working_set)))
		l.working_set = s->st.value;
	tide__mon_unlock(m);
	*ret = l;
	return 0;
}
