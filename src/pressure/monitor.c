// SPDX-License-Identifier: MIT
/*
 * monitor.c - the monitor core: from what its sources report to reclaim.
 *
 * A monitor owns an epoll descriptor holding the descriptors of every
 * source it opened (see pressure/source.h), a poll timerfd, a level-decay
 * timerfd, a stop eventfd and a simulate eventfd.  Dispatching asks each
 * ready source what happened and answers with kswapd's loops
 * (pressure/reclaim.c).  The monitor's level is the highest any source
 * reports.  This file knows sources only through struct tide__src_ops.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <tide/pressure.h>
#include <tide/shrinker.h>

#include "internal.h"
#include "pressure/cgroup.h"
#include "pressure/monitor.h"
#include "pressure/source.h"

#define DEFAULT_RATE_MS 1000
#define DEFAULT_QUIET_MS 2000

/* Every source, in the order of the TIDE_SOURCE_* bits. */
static const struct tide__src_ops *const source_ops[] = {
	&tide__src_watch_ops,	&tide__src_psi_cgroup_ops,
	&tide__src_psi_ops,	&tide__src_cgroup2_ops,
	&tide__src_cgroup1_ops, &tide__src_budget_ops,
};
#define NSRC (sizeof(source_ops) / sizeof(source_ops[0]))
_Static_assert(NSRC == TIDE__NSRC, "pressure/monitor.h: TIDE__NSRC");

/* epoll tags: a source's fd is (index << 8 | fd slot); the core's own: */
enum {
	TAG_STOP = 0xff00,
	TAG_POLL,
	TAG_QUIET,
	TAG_SIM,
};

/* ---- small helpers ---------------------------------------------------- */

void tide__mon_close_fd(int *fd)
{
	if (*fd >= 0)
		tide__os_close(*fd);
	*fd = -1;
}

int tide__mon_ep_add(struct tide_monitor *m, int fd, uint32_t events,
		     uint32_t tag)
{
	struct epoll_event ev = { .events = events,
				  .data.u64 = (uint64_t)m->key << 32 | tag };

	return tide__os_epoll_ctl(m->epfd, EPOLL_CTL_ADD, fd, &ev);
}

void tide__mon_arm_timer(int fd, unsigned ms)
{
	struct itimerspec its = { 0 };

	its.it_value.tv_sec = ms / 1000;
	its.it_value.tv_nsec = (long)(ms % 1000) * 1000000;
	tide__os_timer_set(fd, false, &its);
}

char *tide__path_join(const char *dir, const char *file)
{
	size_t a = strlen(dir), b = strlen(file);
	char *p = tide__os_malloc(a + b + 2);

	if (!p)
		return NULL;
	memcpy(p, dir, a);
	p[a] = '/';
	memcpy(p + a + 1, file, b + 1);
	return p;
}

char *tide__strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = tide__os_malloc(n);

	if (p)
		memcpy(p, s, n);
	return p;
}

/* ---- levels, reporting, stats ----------------------------------------- */

struct tide__src *tide__mon_src_of(struct tide_monitor *m, unsigned bit)
{
	for (size_t i = 0; i < NSRC; i++)
		if (m->src[i].ops && m->src[i].bit == bit)
			return &m->src[i];
	return NULL;
}

static void signal_level(struct tide_monitor *m, struct tide__src *s,
			 enum tide_pressure_level lvl)
{
	m->sig_level_now = TIDE__MAX(m->sig_level_now, lvl);
	tide__mon_stat_add(m, s, 1, 0);
	tide__mon_report(m, true);
	if (tide__mon_forked(m))
		return;
	tide__mon_arm_timer(m->quietfd, m->quiet_ms);
	tide__mon_reclaim_level(m, s, lvl);
}

/* ---- the limit watcher, for the sensor and tide_monitor_limit() ------- */

struct tide__src *tide__mon_limit_watcher(struct tide_monitor *m)
{
	struct tide__src *s = tide__mon_src_of(m, TIDE_SOURCE_CGROUP1);

	return s ? s : tide__mon_src_of(m, TIDE_SOURCE_CGROUP2);
}

/* ---- dispatch ----------------------------------------------------------- */

/*
 * A source's handle() for fd[@i] (-1: its poll), under the lock:
 * tide_monitor_set_watermarks() may replace a descriptor from another
 * thread, and a child forked meanwhile closes exactly what is open.  A
 * descriptor the source is done with is dropped.
 */
static void src_handle(struct tide_monitor *m, struct tide__src *s, int i,
		       uint32_t events, enum tide_pressure_level *lvl,
		       bool *check)
{
	tide__mon_lock(m);
	if ((i < 0 || s->fd[i] >= 0) &&
	    s->ops->handle(s, i, events, lvl, check) && i >= 0) {
		tide__os_epoll_ctl(m->epfd, EPOLL_CTL_DEL, s->fd[i], NULL);
		tide__mon_close_fd(&s->fd[i]);
	}
	tide__mon_unlock(m);
}

static void arm_poll(struct tide_monitor *m)
{
	unsigned ms = m->move_check ? TIDE__MOVE_CHECK_MS : 0, nudge;

	for (size_t i = 0; i < NSRC; i++)
		if (m->src[i].ops && m->src[i].poll_ms &&
		    (!ms || m->src[i].poll_ms < ms))
			ms = m->src[i].poll_ms;
	/* a reading found the limit's file changed: discovery soon */
	nudge = tide__mon_limit_nudge_ms(m);
	if (nudge && nudge < ms)
		ms = nudge;
	if (ms)
		tide__mon_arm_timer(m->pollfd, ms);
	/* after the arm: a charge that armed 1 ms before it is not undone */
	if (ms != 1 && atomic_load(&m->sense_pending))
		tide__mon_arm_timer(m->pollfd, 1);
}

bool tide__mon_handle(struct tide_monitor *m, const struct epoll_event *evs,
		      int n)
{
	enum tide_pressure_level sig[NSRC] = { 0 }, sim = TIDE_PRESSURE_NONE;
	bool check = false, quiet = false, stop = false, poll = false;
	bool simulated = false;

	for (int k = 0; k < n; k++) {
		uint32_t tag = (uint32_t)evs[k].data.u64;

		/*
		 * Not an entry of this monitor's: the program closed the
		 * epoll behind the library's back and its own epoll is on
		 * the number now.  Lost: nothing here is ours to read.
		 */
		if (evs[k].data.u64 >> 32 != m->key) {
			atomic_store(&m->lost, true);
			return true;
		}

		switch (tag) {
		case TAG_STOP:
			stop = true;
			break;
		case TAG_POLL:
			if (tide__os_event_take(m->pollfd))
				poll = true;
			break;
		case TAG_QUIET:
			if (tide__os_event_take(m->quietfd))
				quiet = true;
			break;
		case TAG_SIM:
			if (tide__os_event_take(m->simfd)) {
				int lv = atomic_exchange(&m->sim, 0);

				if (lv) {
					simulated = true;
					sim = (enum tide_pressure_level)(lv -
									 1);
				}
			}
			break;
		default: {
			size_t si = tag >> 8;
			int fi = (int)(tag & 0xff);
			struct tide__src *s = &m->src[si];

			if (si < NSRC && s->ops)
				src_handle(m, s, fi, evs[k].events, &sig[si],
					   &check);
			break;
		}
		}
	}
	if (stop)
		return true;
	if (poll) {
		/* a free may have stopped it waiting for the sensor's lock */
		if (tide__mon_check_moved(m))
			return true;
		for (size_t i = 0; i < NSRC; i++) {
			struct tide__src *s = &m->src[i];

			if (s->ops && s->poll_ms)
				src_handle(m, s, -1, 0, &sig[i], &check);
		}
	}
	/* A level the gate holds back is an event, nothing more: no loop,
	 * no level, and it does not keep a raised level from decaying. */
	for (size_t i = 0; i < NSRC; i++) {
		if (sig[i] == TIDE_PRESSURE_NONE || !m->src[i].ops ||
		    !tide__mon_gated(m, &m->src[i]))
			continue;
		sig[i] = TIDE_PRESSURE_NONE;
		tide__mon_stat_add(m, &m->src[i], 1, 0);
	}
	if (quiet) {
		/* a level simulated in the same batch is a signal too (up to
		 * 0.2.27 NONE was reported before it) */
		bool any = simulated && sim != TIDE_PRESSURE_NONE;

		for (size_t i = 0; i < NSRC; i++)
			any |= sig[i] != TIDE_PRESSURE_NONE;
		if (!any && m->sig_level_now != TIDE_PRESSURE_NONE) {
			m->sig_level_now = TIDE_PRESSURE_NONE;
			for (size_t i = 0; i < NSRC; i++)
				if (m->src[i].ops)
					tide__mon_set_level(m, &m->src[i],
							    false,
							    TIDE_PRESSURE_NONE);
			tide__mon_report(m, false);
		}
	}
	/* its callback forked: no second report in the child's copy */
	if (tide__mon_forked(m))
		return true;
	if (simulated) {
		if (sim == TIDE_PRESSURE_NONE) {
			m->sig_level_now = TIDE_PRESSURE_NONE;
			tide__mon_report(m, false);
		} else {
			signal_level(m, NULL, sim);
		}
	}
	for (size_t i = 0; i < NSRC; i++) {
		if (sig[i] == TIDE_PRESSURE_NONE)
			continue;
		if (tide__mon_forked(m))
			return true;
		tide__mon_set_level(m, &m->src[i], false, sig[i]);
		signal_level(m, &m->src[i], sig[i]);
	}
	/*
	 * A callback above or below may have forked: in the child this
	 * thread stops here (the descriptors are the parent's), and a
	 * monitor thread that was the one to fork ends with it.
	 */
	if (tide__mon_forked(m))
		return true;
	if (check || poll) {
		/* a charge from here on is seen by this check or arms again */
		atomic_store(&m->sense_pending, false);
		tide__mon_check_watermarks(m);
	}
	if (tide__mon_forked(m))
		return true;
	if (poll || check)
		arm_poll(m);
	return false;
}

int tide__mon_epoll_own(const struct tide_monitor *m)
{
	return tide__os_epoll_holds(m->epfd, m->stopfd,
				    (uint64_t)m->key << 32 | TAG_STOP);
}

unsigned tide_monitor_source(const struct tide_monitor *m)
{
	return m ? atomic_load(&m->mask) : 0;
}

const char *tide_monitor_source_name(unsigned source)
{
	switch (source) {
	case TIDE_SOURCE_WATCH:
		return "watch";
	case TIDE_SOURCE_PSI_CGROUP:
		return "psi-cgroup";
	case TIDE_SOURCE_PSI:
		return "psi";
	case TIDE_SOURCE_CGROUP2:
		return "cgroup2";
	case TIDE_SOURCE_CGROUP1:
		return "cgroup1";
	case TIDE_SOURCE_BUDGET:
		return "budget";
	case TIDE_SOURCE_NONE:
		return "none";
	default:
		return "unknown";
	}
}

void tide_monitor_stats(struct tide_monitor *m, struct tide_monitor_stats *st)
{
	if (!m || !st)
		return;
	tide__mon_lock(m);
	*st = m->st;
	/* a monitor left with no watermark source (its limit removed)
	 * reads no usage: not the last one its old sources read */
	if (!tide__mon_any_watermark(m))
		st->usage = 0;
	tide__mon_unlock(m);
}

int tide_monitor_source_stats(struct tide_monitor *m, unsigned source,
			      struct tide_monitor_source_stats *st)
{
	struct tide__src *s;

	if (!m || !st || !source || (source & (source - 1)))
		return -EINVAL;
	/* the mask in use is NONE alone: no source, nothing delivered */
	if (source == TIDE_SOURCE_NONE &&
	    atomic_load(&m->mask) == TIDE_SOURCE_NONE) {
		memset(st, 0, sizeof(*st));
		return 0;
	}
	tide__mon_lock(m);
	s = tide__mon_src_of(m, source);
	if (s)
		*st = s->st;
	tide__mon_unlock(m);
	return s ? 0 : -ENOENT;
}

/* ---- opening the sources ------------------------------------------------ */

static void *close_thread(void *arg)
{
	tide__os_close((int)(intptr_t)arg);
	return NULL;
}

/*
 * Close the descriptors of @s, a source whose closes wait in the kernel
 * (close_waits), side by side: each but the first on a thread of its own,
 * so that the waits overlap (a monitor's three PSI triggers: 16 ms
 * instead of 40 here).  A descriptor whose thread cannot start is left to
 * tide__mon_src_close().  Only where the monitor's lock is not held (a
 * thread holding it takes no lock but the heap's; monitor_fork.c), and
 * only for the monitor's own descriptors, of which this process holds
 * the last copies (a forked child's close does not wait).
 */
void tide__mon_src_close_waiting(struct tide_monitor *m, struct tide__src *s)
{
	int *fd = s->fd;
	pthread_t t[TIDE__SRC_FDS];
	bool started[TIDE__SRC_FDS] = { false };
	int first = -1;

	if (!s->ops || !s->ops->close_waits)
		return;
	for (int i = 0; i < TIDE__SRC_FDS; i++) {
		if (fd[i] < 0)
			continue;
		tide__os_epoll_ctl(m->epfd, EPOLL_CTL_DEL, fd[i], NULL);
		if (first < 0)
			first = i;
		else if (!tide__os_thread_create(&t[i], close_thread,
						 (void *)(intptr_t)fd[i]))
			started[i] = true;
	}
	if (first >= 0)
		tide__mon_close_fd(&fd[first]);
	for (int i = 0; i < TIDE__SRC_FDS; i++) {
		if (!started[i])
			continue;
		pthread_join(t[i], NULL);
		fd[i] = -1;
	}
}

void tide__mon_src_close(struct tide_monitor *m, struct tide__src *s,
			 bool shared)
{
	for (int i = 0; i < TIDE__SRC_FDS; i++) {
		if (s->fd[i] >= 0 && shared)
			tide__os_epoll_ctl(m->epfd, EPOLL_CTL_DEL, s->fd[i],
					   NULL);
		tide__mon_close_fd(&s->fd[i]);
	}
	if (s->ops && s->ops->close)
		s->ops->close(s);
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < TIDE__SRC_FDS; i++)
		s->fd[i] = -1;
}

int tide__mon_src_open(struct tide_monitor *m, size_t idx)
{
	struct tide__src_env env = { .cfg = &m->cfg, .cg = &m->cg };
	struct tide__src *s = &m->src[idx];
	int r;

	memset(s, 0, sizeof(*s));
	for (int i = 0; i < TIDE__SRC_FDS; i++)
		s->fd[i] = -1;
	s->ops = source_ops[idx];
	s->bit = 1u << idx;
	r = s->ops->open(s, &env);
	for (int i = 0; !r && i < TIDE__SRC_FDS; i++) {
		if (s->fd[i] < 0 || !s->events[i])
			continue;
		r = tide__mon_ep_add(m, s->fd[i], s->events[i],
				     (uint32_t)(idx << 8 | i));
		/* Not pollable (a regular file, as in tests): the poll timer
		 * reads it.  A source with none would never report (the
		 * watch source on a procfs or cgroupfs file that is no PSI
		 * file, /proc/self/status: up to 0.2.27 it came up). */
		if (r == -EPERM)
			r = s->poll_ms ? 0 : -EINVAL;
	}
	if (r && r != TIDE__SRC_OFF)
		tide__mon_src_close(m, s, true);
	return r;
}

/*
 * Does $MEMORY_PRESSURE_WATCH's error @r fail the monitor?  A malformed
 * value (-EINVAL: relative, bad base64, a PSI file with no trigger to
 * write; -ENOTTY: a regular file off procfs and cgroupfs) always does.  A
 * path that cannot be opened now (gone, no access, a socket no one accepts
 * on) drops the source alone, as one that does not apply, where @mask
 * lets sources be missing (it has TIDE_SOURCE_NONE: auto mode does); a
 * mask that names the source without NONE asked for it: its error.
 */
static bool watch_fails(unsigned mask, int r)
{
	if (r == -ENODEV)
		return false;
	if (r == -EINVAL || r == -ENOTTY)
		return true;
	return !(mask & TIDE_SOURCE_NONE);
}

/*
 * Open every source of @mask that applies.  A source that is not configured
 * here or that the kernel refuses is dropped; a malformed
 * $MEMORY_PRESSURE_WATCH (or one that cannot be opened, when asked for:
 * watch_fails()), a bad configuration or running out of memory or
 * descriptors (tide__os_exhausted()) fail the monitor: it never comes up
 * quietly with fewer sources than it would have had.
 * Returns the error of the last source tried when none opened.
 */
static int open_sources(struct tide_monitor *m, unsigned mask)
{
	int last = -ENODEV;

	for (size_t i = 0; i < NSRC; i++) {
		unsigned bit = 1u << i;
		int r;

		if (!(mask & bit))
			continue;
		/* The system-wide PSI file only when the own group's is not
		 * there (it is the same signal, host-wide). */
		if (bit == TIDE_SOURCE_PSI &&
		    (m->mask & TIDE_SOURCE_PSI_CGROUP))
			continue;
		r = tide__mon_src_open(m, i);
		if (r == TIDE__SRC_OFF) { /* $MEMORY_PRESSURE_WATCH=/dev/null */
			for (size_t j = 0; j < NSRC; j++)
				if (m->src[j].ops)
					tide__mon_src_close(m, &m->src[j],
							    true);
			m->mask = TIDE_SOURCE_NONE;
			return 0;
		}
		if (!r) {
			m->mask |= bit;
			continue;
		}
		if (tide__os_exhausted(r) ||
		    (bit == TIDE_SOURCE_WATCH && watch_fails(mask, r)) ||
		    (r == -EINVAL && bit != TIDE_SOURCE_PSI &&
		     bit != TIDE_SOURCE_PSI_CGROUP))
			return r;
		last = r;
	}
	if (m->mask)
		return 0;
	if (mask & TIDE_SOURCE_NONE) {
		m->mask = TIDE_SOURCE_NONE;
		return 0;
	}
	return last;
}

/* ---- creation and destruction ------------------------------------------ */

static void free_strings(struct tide_monitor_config *c)
{
	const char **s[] = { &c->psi_trigger,	 &c->psi_path,
			     &c->cgroup2_dir,	 &c->cgroup1_dir,
			     &c->rss_path,	 &c->proc_cgroup_path,
			     &c->mountinfo_path, &c->meminfo_path };

	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		tide__os_free((void *)*s[i]);
		*s[i] = NULL;
	}
}

static int copy_strings(struct tide_monitor_config *c)
{
	const char **s[] = { &c->psi_trigger,	 &c->psi_path,
			     &c->cgroup2_dir,	 &c->cgroup1_dir,
			     &c->rss_path,	 &c->proc_cgroup_path,
			     &c->mountinfo_path, &c->meminfo_path };
	size_t n = sizeof(s) / sizeof(s[0]);

	for (size_t i = 0; i < n; i++) {
		if (!*s[i])
			continue;
		*s[i] = tide__strdup(*s[i]);
		if (!*s[i]) {
			for (size_t j = i + 1; j < n; j++)
				*s[j] = NULL;
			free_strings(c);
			return -ENOMEM;
		}
	}
	return 0;
}

static void monitor_release(struct tide_monitor *m, bool shared)
{
	tide__mon_release_fds(m, shared);
	tide__cg_release(&m->cg);
	free_strings(&m->cfg);
	pthread_mutex_destroy(&m->lock);
	tide__os_free(m);
}

static bool config_valid(const struct tide_monitor_config *cfg)
{
	if (cfg->sources & ~TIDE_SOURCE_AUTO)
		return false;
	if (cfg->budget != TIDE_BUDGET_RSS && cfg->budget != TIDE_BUDGET_CGROUP)
		return false;
	if (cfg->flags & ~TIDE_MONITOR_NO_TRIM)
		return false;
	if (cfg->low_watermark && cfg->high_watermark &&
	    cfg->low_watermark > cfg->high_watermark)
		return false;
	return true;
}

/*
 * The size rule (docs/abi.md, as the kernel's copy_struct_from_user()): read
 * min(size, sizeof) bytes, missing fields are zero, and a larger caller
 * struct must be zero past ours.
 */
static int config_copy(const struct tide_monitor_config *cfg,
		       struct tide_monitor_config *ret)
{
	size_t size;

	memset(ret, 0, sizeof(*ret));
	if (!cfg)
		return 0;
	size = cfg->size;
	if (size < offsetof(struct tide_monitor_config, size) + sizeof(size))
		return -EINVAL;
	if (size > sizeof(*ret)) {
		const unsigned char *p = (const unsigned char *)cfg;

		for (size_t i = sizeof(*ret); i < size; i++)
			if (p[i])
				return -E2BIG;
	}
	memcpy(ret, cfg, TIDE__MIN(size, sizeof(*ret)));
	ret->size = sizeof(*ret);
	return 0;
}

int tide_monitor_new(struct tide_monitor **ret,
		     const struct tide_monitor_config *cfg)
{
	struct tide_monitor *m;
	struct tide__src *lw;
	int r;

	if (!ret)
		return -EINVAL;
	m = tide__os_calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	/* after the allocator's own fork handlers (its first call is made) */
	tide__mon_fork_register();
	r = config_copy(cfg, &m->cfg);
	if (!r && !config_valid(&m->cfg))
		r = -EINVAL;
	if (r) {
		tide__os_free(m);
		return r;
	}
	r = copy_strings(&m->cfg);
	if (r) {
		tide__os_free(m);
		return r;
	}
	pthread_mutex_init(&m->lock, NULL);
	m->pid = tide__os_getpid();
	/* (a process made by clone() without fork handlers may create one) */
	atomic_store_explicit(&tide__mon_self, (int)m->pid,
			      memory_order_relaxed);
	m->epfd = m->stopfd = m->pollfd = m->quietfd = m->simfd = -1;
	m->key = tide__epoll_key(m, m->pid);
	for (size_t i = 0; i < NSRC; i++)
		for (int j = 0; j < TIDE__SRC_FDS; j++)
			m->src[i].fd[j] = -1;
	m->st.last_priority = -1;
	m->rate_ms =
		m->cfg.rate_limit_ms ? m->cfg.rate_limit_ms : DEFAULT_RATE_MS;
	m->quiet_ms = m->cfg.quiet_ms ? m->cfg.quiet_ms : DEFAULT_QUIET_MS;
	m->given_high = m->cfg.high_watermark;
	m->given_low = m->cfg.low_watermark;
	m->paths.proc_cgroup = m->cfg.proc_cgroup_path;
	m->paths.mountinfo = m->cfg.mountinfo_path;
	m->paths.meminfo = m->cfg.meminfo_path;

	m->epfd = tide__os_epoll_create();
	m->stopfd = tide__os_eventfd();
	m->simfd = tide__os_eventfd();
	m->pollfd = tide__os_timerfd();
	m->quietfd = tide__os_timerfd();
	{
		const int fd[] = { m->epfd, m->stopfd, m->simfd, m->pollfd,
				   m->quietfd };

		/* The error of the last one that failed (what errno held). */
		for (size_t i = 0; i < sizeof(fd) / sizeof(fd[0]); i++)
			if (fd[i] < 0)
				r = fd[i];
	}
	if (r)
		goto out_free;
	tide__mon_note_epoll(m);
	r = tide__mon_ep_add(m, m->stopfd, EPOLLIN, TAG_STOP);
	if (!r)
		r = tide__mon_ep_add(m, m->pollfd, EPOLLIN, TAG_POLL);
	if (!r)
		r = tide__mon_ep_add(m, m->quietfd, EPOLLIN, TAG_QUIET);
	if (!r)
		r = tide__mon_ep_add(m, m->simfd, EPOLLIN, TAG_SIM);
	if (r)
		goto out_free;

	r = tide__cg_discover(&m->paths, &m->cg);
	if (tide__os_exhausted(r))
		goto out_free;
	if (r) {
		/* No /proc to read: no limit, the sources that need none. */
		memset(&m->cg, 0, sizeof(m->cg));
		m->cg.limit = UINT64_MAX;
	}
	m->cg_found = m->cg.limit;
	r = open_sources(m, m->cfg.sources ? m->cfg.sources : TIDE_SOURCE_AUTO);
	if (r)
		goto out_free;

	r = tide__mon_move_setup(m);
	if (r)
		goto out_free;
	/* Listed before it tries the sensor: when that fails because
	 * another monitor has it, a free of that one on another thread
	 * must find this one as its heir. */
	tide__mon_list_add(m);
	lw = tide__mon_limit_watcher(m);
	if (lw)
		tide__mon_arm_sensor(m, lw);
	arm_poll(m);
	*ret = m;
	return 0;
out_free:
	monitor_release(m, true);
	return r;
}

/*
 * Before a free: are the monitor's own descriptors still what it made?
 * A program that closed them behind the library's back (a
 * close_range(2), as daemons do) may have its own files on the numbers
 * now, and the thread, asleep in an epoll_wait() on the closed epoll,
 * never noticed.  Then @m is lost.  The epoll is told from one the
 * program put on its number by its keyed stop entry; the other numbers
 * only by their kinds.
 */
void tide__mon_check_lost(struct tide_monitor *m)
{
	/* a parked number is the program's (park_epfd()) */
	const struct tide__os_fd fds[] = {
		{ m->epfd_parked ? -1 : m->epfd, TIDE__FD_EPOLL },
		{ m->stopfd, TIDE__FD_EVENT },
		{ m->simfd, TIDE__FD_EVENT },
		{ m->pollfd, TIDE__FD_TIMER },
		{ m->quietfd, TIDE__FD_TIMER },
	};

	if (!atomic_load(&m->lost) &&
	    (!tide__os_fds_are(fds, sizeof(fds) / sizeof(fds[0])) ||
	     (m->epfd >= 0 && m->stopfd >= 0 && !m->epfd_parked &&
	      !tide__mon_epoll_own(m))))
		atomic_store(&m->lost, true);
}

void tide_monitor_free(struct tide_monitor *m)
{
	if (!m)
		return;
	/* Its loop would go on reading it once the callback returns (its
	 * thread would also wait for itself). */
	if (tide__mon_runs_here(m) && tide__mon_forked_exact(m)) {
		/*
		 * A child forked inside the callback (its own pthread_atfork
		 * handler frees what it inherited, as a language runtime's
		 * does): the child's copy of the loop reads @m until its
		 * next fork check, where it stops.
		 */
		tide__mon_release_in_child(m);
		return;
	}
	if (tide__mon_runs_here(m))
		tide__misuse("tide_monitor_free: called from a callback the "
			     "monitor runs (its level callback or a shrinker "
			     "of its reclaim)",
			     m);
	tide__ctl_monitor_gone(m); /* a listener still using it lets go */
	/* Inherited across fork: the descriptors are shared with the
	 * parent's monitor, whose thread must keep running; only close this
	 * process's copies. */
	if (tide__mon_forked_exact(m)) {
		tide__mon_check_lost(m);
		tide__mon_list_remove(m);
		monitor_release(m, false);
		return;
	}
	if (atomic_load(&m->started)) {
		/*
		 * Both marks under the lock the thread takes its events in
		 * (thread_once() in monitor_run.c), stopping first: a thread
		 * that sees the monitor lost sees it stopping too, and calls
		 * no on_lost of the shim's.
		 */
		tide__mon_lock(m);
		atomic_store(&m->stopping, true);
		tide__mon_check_lost(m);
		tide__mon_unlock(m);
	} else {
		/*
		 * The program's loop may be in a dispatch of @m on another
		 * thread, reclaiming: it ends before @m goes (up to 0.2.27
		 * it went on with freed memory; a sanitizer build reported
		 * it).  A dispatch that starts now does nothing (see
		 * tide_monitor_dispatch()).
		 */
		atomic_store(&m->stopping, true);
		while (atomic_load(&m->dispatching))
			tide__os_poll(NULL, 0, 1);
		tide__mon_check_lost(m);
	}
	if (atomic_load(&m->started) && atomic_load(&m->lost) &&
	    !atomic_load(&m->ended) && atomic_load(&m->polling)) {
		/*
		 * Its thread sleeps in a poll() of a number that may be the
		 * program's now, or is about to see the marks and end; it
		 * cannot be told to stop: no signal can reach it but through
		 * such a number.  Leave it on memory that stays valid: @m is
		 * never freed, its numbers never touched.  It takes no event
		 * when it wakes (thread_once()).
		 */
		pthread_detach(m->thread);
		tide__mon_list_remove(m);
		tide__sensor_disarm(m, true, true);
		return;
	}
	if (atomic_load(&m->started)) {
		/* joined even from a shrinker a charge runs (it holds the
		 * sensor's read lock): the thread, if it waits for the write
		 * lock after a move, gives way (write_lock() in sensor.c).
		 * Lost and awake, it ends at its next look at the marks. */
		if (!atomic_load(&m->lost))
			tide__os_event_signal(m->stopfd);
		pthread_join(m->thread, NULL);
	}
	/* listed until its thread is gone: a child forked meanwhile still
	 * gets it unlocked and whole */
	tide__mon_list_remove(m);
	monitor_release(m, true);
}

/* ---- simulate ------------------------------------------------------------ */

int tide_monitor_simulate(struct tide_monitor *m,
			  enum tide_pressure_level level)
{
	if (!m || (unsigned)level > TIDE_PRESSURE_CRITICAL)
		return -EINVAL;
	if (tide__mon_forked_exact(m))
		return -ECHILD;
	/* its simulate eventfd's number may be the program's file now */
	if (atomic_load(&m->lost))
		return -EBADF;
	atomic_store(&m->sim, (int)level + 1);
	tide__os_event_signal(m->simfd);
	return 0;
}
