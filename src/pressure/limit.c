// SPDX-License-Identifier: MIT
/*
 * limit.c - the limit watcher: the effective cgroup limit (v1 or v2, found
 * by pressure/cgroup.c or given in the configuration) against the limiting
 * group's working set (usage minus inactive file cache).
 *
 * It wakes on whatever the kernel offers - v1 usage thresholds through
 * cgroup.event_control, v1 vmpressure levels, v2 memory.events (POLLPRI) -
 * and, because thresholds are edge triggered and v1 usage counts page cache
 * (after one event usage may never cross again), it also polls the working
 * set at an interval that shortens as the working set nears the high
 * watermark: the monitor never sleeps long while over it.  The decision is
 * always made on the working set, never on usage.
 *
 * Every reading (the poll's, and the allocation sensor's on allocating
 * threads) also reads the limit's own file again: a limit lowered in
 * place is seen at the next reading, not only at the monitor's discovery
 * every 2 s (limit_moved, pressure/move.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "internal.h"
#include "pressure/cgroup.h"
#include "pressure/source.h"

/* Adaptive poll: the slowest interval (far from high) unless configured,
 * and the fastest (at high). */
#define POLL_SLOW_MS 1000
#define POLL_FAST_MS 2

/*
 * fd slots.  FD_EVENT: v2 the own group's memory.events; v1 the usage
 * threshold at high, or for a hold the one where it ends, FD_BELOW then
 * the one under low (one eventfd each: see cgroup1_rearm()).  FD_LEVENTS
 * (v2 only, FD_BELOW's slot): the limiting ancestor's memory.events.local
 * (see cgroup2_open()).  FD_LEVEL..+2: v1 vmpressure low, medium,
 * critical.  FD_LIMIT: the limit's file (never polled).
 */
enum { FD_USAGE, FD_STAT, FD_EVENT, FD_BELOW, FD_LEVEL, FD_LIMIT = 7 };
#define FD_LEVENTS FD_BELOW

struct limit_priv {
	unsigned slow_ms;
	/* the limit's file read last (limit_watch()), when it is watched */
	bool limit_watched;
	_Atomic uint64_t limit_seen;
	/* cgroup v2 memory.events counters seen so far: [0] FD_EVENT's,
	 * [1] FD_LEVENTS' */
	uint64_t ev_high[2], ev_max[2];
	/* what FD_USAGE, FD_STAT and FD_LIMIT were opened on ([0], [1],
	 * [2]): a program that closed the monitor's descriptors (close_range)
	 * may have its own files on the numbers before the monitor finds
	 * itself lost */
	struct tide__file_id id[3];
};

/* The id slot of @slot: FD_USAGE, FD_STAT, FD_LIMIT. */
static int id_of(int slot)
{
	return slot == FD_USAGE ? 0 : slot == FD_STAT ? 1 : 2;
}

/*
 * With @keep, note what @s's descriptor @slot was opened on; without, is
 * it still that file (one fstat)?  0, -EBADF (the program's file on the
 * number), or fstat's error.
 */
static int file_id(struct tide__src *s, int slot, bool keep)
{
	struct limit_priv *p = s->priv;
	struct tide__file_id *id = &p->id[id_of(slot)];

	return keep ? tide__os_file_id(s->fd[slot], id) :
		      tide__os_same_file(s->fd[slot], id);
}

/* ---- reading --------------------------------------------------------- */

static int read_u64_at(const char *dir, const char *file, uint64_t *ret)
{
	char *path = tide__path_join(dir, file);
	char buf[64];
	int r;

	if (!path)
		return -ENOMEM;
	r = tide__file_read(-1, path, buf, sizeof(buf));
	tide__os_free(path);
	return r ? r : tide__parse_u64(buf, ret);
}

static int open_at(const char *dir, const char *file, bool write)
{
	char *path = tide__path_join(dir, file);
	int fd;

	if (!path)
		return -ENOMEM;
	fd = write ? tide__os_open(path, O_WRONLY | O_NONBLOCK) :
		     tide__file_open(path, false, false);
	tide__os_free(path);
	return fd;
}

/*
 * Usage and the working set: usage minus inactive file cache (0 when
 * memory.stat is missing or lacks the key).  With @ret_hier, the same
 * pass over memory.stat also looks for the v1 hierarchical limit (the
 * file is made by the kernel at every read): *@ret_found says whether it
 * was there.
 */
static int read_usage(struct tide__src *s, uint64_t *ret_usage,
		      uint64_t *ret_ws, uint64_t *ret_hier, bool *ret_found)
{
	const char *keys[2] = { s->version == 1 ? "total_inactive_file" :
						  "inactive_file",
				TIDE__CG_HIER_KEY };
	uint64_t vals[2] = { 0, 0 };
	char buf[64];
	uint64_t usage;
	int r, found = 0;

	/* still the files it opened: no read of another's file */
	r = file_id(s, FD_USAGE, false);
	if (!r && s->fd[FD_STAT] >= 0)
		r = file_id(s, FD_STAT, false);
	if (r)
		return r;
	r = tide__file_read(s->fd[FD_USAGE], NULL, buf, sizeof(buf));
	if (!r)
		r = tide__parse_u64(buf, &usage);
	if (r)
		return r == -ENOENT ? -ENODEV : r;
	if (s->fd[FD_STAT] >= 0) {
		found = tide__cg_stat_scan_keys(s->fd[FD_STAT], keys, vals,
						ret_hier ? 2 : 1);
		if (found < 0)
			found = 0;
	}
	if (!(found & 1))
		vals[0] = 0;
	if (ret_hier) {
		*ret_found = found & 2;
		*ret_hier = vals[1];
	}
	*ret_usage = usage;
	*ret_ws = usage > vals[0] ? usage - vals[0] : 0;
	return 0;
}

/*
 * Read the limit's file again (or take the value @hier read from
 * memory.stat with the working set); a value other than the last one
 * read marks the source (limit_moved).  No heap: the sensor reads on
 * allocating threads.
 */
static void limit_watch(struct tide__src *s, const uint64_t *hier)
{
	struct limit_priv *p = s->priv;
	char buf[64];
	uint64_t v;

	if (s->fd[FD_LIMIT] >= 0) {
		if (file_id(s, FD_LIMIT, false) ||
		    tide__file_read(s->fd[FD_LIMIT], NULL, buf, sizeof(buf)) ||
		    tide__parse_u64(buf, &v))
			return;
	} else if (hier) {
		v = *hier;
	} else {
		return;
	}
	/* a plain load first: no shared write at every reading */
	if (atomic_load_explicit(&p->limit_seen, memory_order_relaxed) != v &&
	    atomic_exchange(&p->limit_seen, v) != v)
		atomic_store(&s->limit_moved, true);
}

int tide__limit_seen(struct tide__src *s, uint64_t *ret)
{
	struct limit_priv *p = s->priv;

	if (!p || !p->limit_watched)
		return -ENOENT;
	*ret = atomic_load(&p->limit_seen);
	return 0;
}

static int limit_read(struct tide__src *s, uint64_t *ret)
{
	struct limit_priv *p = s->priv;
	/* a limit in memory.stat: one pass for both keys */
	bool in_stat = p->limit_watched && s->fd[FD_LIMIT] < 0;
	uint64_t usage, hier;
	bool found = false;
	int r = read_usage(s, &usage, ret, in_stat ? &hier : NULL, &found);

	if (!r && p->limit_watched)
		limit_watch(s, found ? &hier : NULL);
	return r;
}

/*
 * Far from high (at or under half of it) poll at the slow interval; closer,
 * the interval falls with the square of the headroom left, to a few
 * milliseconds at the watermark.
 */
static unsigned limit_next_poll(const struct tide__src *s, uint64_t value)
{
	const struct limit_priv *p = s->priv;
	uint64_t half = s->high / 2, left;
	double f;
	unsigned ms;

	if (value >= s->high || !half)
		return POLL_FAST_MS;
	left = s->high - value;
	if (left >= half)
		return p->slow_ms;
	f = (double)left / (double)half;
	ms = (unsigned)(p->slow_ms * f * f);
	return ms < POLL_FAST_MS ? POLL_FAST_MS : ms;
}

/* ---- opening ---------------------------------------------------------- */

static void limit_close(struct tide__src *s)
{
	tide__os_free(s->priv);
	tide__os_free(s->dir);
	s->dir = NULL;
	s->priv = NULL;
}

static int priv_new(struct tide__src *s, const struct tide_monitor_config *cfg)
{
	struct limit_priv *p = tide__os_calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->slow_ms =
		cfg->poll_interval_ms ? cfg->poll_interval_ms : POLL_SLOW_MS;
	s->priv = p;
	return 0;
}

/*
 * The limit's file, found by discovery, is read again at every reading
 * (limit_watch()): v1 memory.limit_in_bytes, v2 memory.max or memory.high
 * through a descriptor of its own, a limit above the mount root through
 * memory.stat.  Not a configured limit or group (@watch false: nothing
 * follows those), nor a file that cannot be opened (discovery every 2 s
 * still sees a change).
 */
static int watch_file(struct tide__src *s, uint64_t limit, bool watch)
{
	struct limit_priv *p = s->priv;
	int r;

	if (!watch || !s->file || !strcmp(s->file, "config"))
		return 0;
	if (strcmp(s->file, "memory.stat")) {
		s->fd[FD_LIMIT] = open_at(s->dir, s->file, false);
		if (tide__os_exhausted(s->fd[FD_LIMIT]))
			return s->fd[FD_LIMIT];
		if (s->fd[FD_LIMIT] < 0) {
			s->fd[FD_LIMIT] = -1;
			return 0;
		}
		r = file_id(s, FD_LIMIT, true);
		if (r)
			return r;
	} else if (s->fd[FD_STAT] < 0) {
		return 0;
	}
	atomic_store(&p->limit_seen, limit);
	p->limit_watched = true;
	return 0;
}

/*
 * As tide__src_watermarks(), for a limit watcher: watermarks given in
 * bytes at or over @limit, which they could never reach, give way to the
 * limit's defaults.
 */
static int limit_watermarks(struct tide__src *s,
			    const struct tide_monitor_config *cfg,
			    uint64_t limit)
{
	struct tide_monitor_config d;

	if (!limit || limit >= TIDE__NO_LIMIT || cfg->high_watermark < limit)
		return tide__src_watermarks(s, cfg, limit);
	/*
	 * Given in bytes at or over the limit: they could never fire, and
	 * the program would have no reclaim until the OOM kill.  The
	 * limit's defaults, until a limit above them, at creation as after a
	 * change (follow_limit() in move.c, which keeps the bytes given).
	 */
	d = *cfg;
	d.high_watermark = d.low_watermark = 0;
	return tide__src_watermarks(s, &d, limit);
}

/* Watermarks and the usage/stat descriptors of the limiting group; with
 * @watch (found by discovery), its limit's file too. */
static int open_group(struct tide__src *s, const struct tide__src_env *env,
		      const char *dir, uint64_t limit, const char *file,
		      bool watch)
{
	const struct tide_monitor_config *cfg = env->cfg;
	int r;

	if (cfg->limit) {
		limit = cfg->limit;
		file = "config";
	}
	if (limit >= TIDE__NO_LIMIT ||
	    (env->cg->mem_total && limit >= env->cg->mem_total && !cfg->limit))
		limit = 0;
	r = limit_watermarks(s, cfg, limit);
	if (r)
		return r;
	s->limit = limit;
	s->file = limit ? file : NULL;
	s->dir = tide__strdup(dir);
	if (!s->dir)
		return -ENOMEM;
	r = priv_new(s, cfg);
	if (r)
		return r;
	s->fd[FD_USAGE] = open_at(dir,
				  s->version == 1 ? "memory.usage_in_bytes" :
						    "memory.current",
				  false);
	if (s->fd[FD_USAGE] < 0)
		return s->fd[FD_USAGE];
	r = file_id(s, FD_USAGE, true);
	if (r)
		return r;
	/* memory.stat is optional: without it the working set is usage */
	s->fd[FD_STAT] = open_at(dir, "memory.stat", false);
	if (tide__os_exhausted(s->fd[FD_STAT]))
		return s->fd[FD_STAT];
	if (s->fd[FD_STAT] < 0) {
		s->fd[FD_STAT] = -1;
	} else {
		r = file_id(s, FD_STAT, true);
		if (r)
			return r;
	}
	return watch_file(s, limit, watch);
}

/* ---- cgroup v2 ---------------------------------------------------------- */

/* New "high" and "max" events in the memory.events file of @slot (k 0:
 * FD_EVENT, 1: FD_LEVENTS), if it is open. */
static int read_events_of(struct tide__src *s, int slot, int k, bool *high,
			  bool *max)
{
	struct limit_priv *p = s->priv;
	char buf[512];
	uint64_t h, x;
	int r;

	if (s->fd[slot] < 0)
		return 0;
	r = tide__file_read(s->fd[slot], NULL, buf, sizeof(buf));
	if (r)
		return r;
	/* a counter missing or not a number keeps its last value */
	if (tide__cg_stat_value(buf, "high", &h))
		h = p->ev_high[k];
	if (tide__cg_stat_value(buf, "max", &x))
		x = p->ev_max[k];
	*high |= h > p->ev_high[k];
	*max |= x > p->ev_max[k];
	p->ev_high[k] = h;
	p->ev_max[k] = x;
	return 0;
}

/* New events of the own group's file and of the limiting ancestor's. */
static int read_events(struct tide__src *s, bool *high, bool *max)
{
	int r;

	*high = *max = false;
	r = read_events_of(s, FD_EVENT, 0, high, max);
	if (!r)
		r = read_events_of(s, FD_LEVENTS, 1, high, max);
	return r;
}

/* memory.events-format @file of @dir into @slot, watched for POLLPRI; a
 * file that cannot be opened leaves the slot unused (-ENOENT reported, for
 * a fallback), exhaustion fails. */
static int open_events(struct tide__src *s, int slot, const char *dir,
		       const char *file)
{
	int fd = open_at(dir, file, false);

	if (fd < 0)
		return tide__os_exhausted(fd) || fd == -ENOENT ? fd : 0;
	s->fd[slot] = fd;
	s->events[slot] = EPOLLPRI;
	return 0;
}

static int cgroup2_open(struct tide__src *s, const struct tide__src_env *env)
{
	const struct tide_monitor_config *cfg = env->cfg;
	const struct tide__cg_limit *cg = env->cg;
	const char *dir, *own, *file = NULL;
	uint64_t limit = UINT64_MAX, high = UINT64_MAX, max = UINT64_MAX;
	bool h, x;
	int r;

	s->version = 2;
	if (cfg->cgroup2_dir) {
		dir = own = cfg->cgroup2_dir;
		r = read_u64_at(dir, "memory.current", &high);
		if (r)
			return r;
		high = UINT64_MAX;
		r = read_u64_at(dir, "memory.high", &high);
		if (!tide__os_exhausted(r))
			r = read_u64_at(dir, "memory.max", &max);
		if (tide__os_exhausted(r))
			return r;
		limit = TIDE__MIN(high, max);
		file = high <= max ? "memory.high" : "memory.max";
	} else if (cg->version == 2 && cg->dir) {
		dir = cg->dir;
		own = cg->own_v2 ? cg->own_v2 : dir;
		limit = cg->limit;
		file = cg->file;
	} else if (cfg->limit && cg->own_v2 && cg->v2_memory) {
		dir = own = cg->own_v2;
	} else {
		return -ENODEV;
	}
	r = open_group(s, env, dir, limit, file, !cfg->cgroup2_dir);
	if (r)
		return r;
	/*
	 * "high" and "max" events.  The kernel counts one in memory.events
	 * of the group whose limit was hit and of each of its ancestors,
	 * never of its descendants: the own group's file sees the own
	 * group's limits (and those of groups under it), not an ancestor's.
	 * A limit on an ancestor is seen in that group's memory.events.local
	 * (its own limits only, Linux 5.2+); its memory.events would also
	 * count every group under it that hits a limit of its own, siblings
	 * included, so it is read only where .local is missing (older
	 * kernels), and the gate under the low watermark (reclaim.c), which
	 * compares the limiting group's working set, keeps a sibling's
	 * events from running loops while that group is far from its limit.
	 */
	r = open_events(s, FD_EVENT, own, "memory.events");
	if (r == -ENOENT)
		r = 0;
	if (!r && strcmp(own, dir)) {
		r = open_events(s, FD_LEVENTS, dir, "memory.events.local");
		if (r == -ENOENT)
			r = open_events(s, FD_LEVENTS, dir, "memory.events");
		if (r == -ENOENT)
			r = 0;
	}
	if (r)
		return r;
	r = read_events(s, &h, &x);
	if (r)
		return r;
	s->poll_ms = ((struct limit_priv *)s->priv)->slow_ms;
	return 0;
}

/* ---- cgroup v1 ---------------------------------------------------------- */

/* One registration "<eventfd> <target fd> <arg>" per write; the kernel
 * strips the newline (as from echo), which keeps two writes through one
 * descriptor apart in a fake directory's regular file. */
static int v1_register(int ctl, int efd, int target, const char *arg)
{
	char buf[128];
	int n = snprintf(buf, sizeof(buf), "%d %d %s\n", efd, target, arg);
	ssize_t w = tide__os_write(ctl, buf, (size_t)n);

	if (w < 0)
		return (int)w;
	return w == n ? 0 : -EIO;
}

/* A new eventfd registered through @ctl as a usage threshold at @at: the
 * eventfd or -errno (nothing left open: closing the eventfd unregisters
 * it). */
static int v1_threshold(struct tide__src *s, int ctl, uint64_t at)
{
	char arg[32];
	int efd = tide__os_eventfd(), r;

	if (efd < 0)
		return efd;
	snprintf(arg, sizeof(arg), "%" PRIu64, at);
	r = v1_register(ctl, efd, s->fd[FD_USAGE], arg);
	if (r) {
		tide__os_close(efd);
		return r;
	}
	return efd;
}

/* Thresholds and vmpressure levels where cgroup.event_control is writable;
 * without them the poll alone watches. */
static int v1_events(struct tide__src *s, const char *dir)
{
	static const char *const names[3] = { "low", "medium", "critical" };
	int ctl, plevel, r = 0;

	ctl = open_at(dir, "cgroup.event_control", true);
	if (ctl < 0)
		return tide__os_exhausted(ctl) ? ctl : 0;
	r = v1_threshold(s, ctl, s->high);
	if (r >= 0) {
		s->fd[FD_EVENT] = r;
		s->events[FD_EVENT] = s->events[FD_BELOW] = EPOLLIN;
		r = 0;
	} else if (tide__os_exhausted(r)) {
		goto out;
	} else {
		r = 0; /* not writable here: the poll alone watches */
	}
	plevel = open_at(dir, "memory.pressure_level", false);
	if (tide__os_exhausted(plevel)) {
		r = plevel;
		goto out;
	}
	if (plevel < 0)
		goto out;
	for (int i = 0; i < 3; i++) {
		int efd = tide__os_eventfd();

		if (efd < 0) {
			r = efd; /* the process is out of descriptors */
			break;
		}
		r = v1_register(ctl, efd, plevel, names[i]);
		if (r) {
			tide__os_close(efd);
			if (tide__os_exhausted(r))
				break;
			r = 0;
			continue;
		}
		s->fd[FD_LEVEL + i] = efd;
		s->events[FD_LEVEL + i] = EPOLLIN;
	}
	tide__os_close(plevel);
out:
	tide__os_close(ctl);
	return r;
}

static int cgroup1_open(struct tide__src *s, const struct tide__src_env *env)
{
	const struct tide_monitor_config *cfg = env->cfg;
	const struct tide__cg_limit *cg = env->cg;
	const char *dir, *file = "memory.limit_in_bytes";
	uint64_t limit = UINT64_MAX;
	int r;

	s->version = 1;
	if (cfg->cgroup1_dir) {
		dir = cfg->cgroup1_dir;
		r = read_u64_at(dir, file, &limit);
		if (r)
			return r;
	} else if (cg->version == 1 && cg->dir) {
		dir = cg->dir;
		limit = cg->limit;
		file = cg->file;
	} else if (cfg->limit && cg->own_v1) {
		dir = cg->own_v1;
	} else {
		/* No v1 limit where the monitor's discovery (through the
		 * configuration's paths) looked: none to find elsewhere. */
		return -ENODEV;
	}
	r = open_group(s, env, dir, limit, file, !cfg->cgroup1_dir);
	if (r)
		return r;
	r = v1_events(s, s->dir);
	if (r)
		return r;
	s->poll_ms = ((struct limit_priv *)s->priv)->slow_ms;
	return 0;
}

/*
 * The watermarks change to @high (@until 0): a threshold registered at the
 * new high replaces the one at the old (which closing its eventfd
 * unregisters).  Without one (cgroup.event_control not writable) there is
 * nothing to replace.
 *
 * Or a hold holds loops back until the working set reaches @until (see
 * reclaim.c: idle(), hold_threshold()), and the threshold at high must
 * stop waking the monitor for nothing.  The kernel (mm/memcontrol-v1.c)
 * checks a group's thresholds only every so many page charges and
 * uncharges on a CPU (THRESHOLDS_EVENTS_TARGET, 128 pages): it then reads
 * the usage and signals every threshold between the usage it saw last
 * time and now, upwards or downwards; a threshold registered at or under
 * the usage of the moment counts as already crossed.  Usage hovering
 * around high (a few MiB allocated and freed) crosses it both ways on
 * every cycle.  So for a hold two thresholds replace it, at the usage
 * where the working set would reach @until (FD_EVENT) and where it would
 * fall under low (FD_BELOW), the inactive file cache as now (thresholds
 * compare usage): hovering crosses neither, a rise to where the hold ends
 * and a fall under low still wake the check at once.  A rise hidden by
 * the kernel dropping page cache at the same moment is seen at the next
 * poll.  Back at high, FD_BELOW is closed.
 *
 * One eventfd per threshold, never one registered twice: kernels before
 * 5.6 without the stable fix "memcg: fix NULL pointer dereference in
 * __mem_cgroup_usage_unregister_event" (March 2020) oops when an eventfd
 * registered for a group's last two thresholds is closed (the first
 * unregister removes both entries and frees the array, the second reads
 * it), as at a monitor's free or the process's exit during a hold.
 */
static int cgroup1_rearm(struct tide__src *s, uint64_t high, uint64_t until,
			 struct tide__rearm *ret)
{
	uint64_t usage, ws, at = high, below = 0;
	int ctl, r;

	ret->n = 0;
	if (s->fd[FD_EVENT] < 0)
		return 0;
	if (until) {
		r = read_usage(s, &usage, &ws, NULL, NULL);
		if (r)
			return r;
		/* usage - ws: the inactive file cache, added to both */
		at = until + (usage - ws);
		below = s->low + (usage - ws);
	}
	ctl = open_at(s->dir, "cgroup.event_control", true);
	if (ctl < 0)
		return ctl;
	/* fd[1] -1 at high: what FD_BELOW holds is closed */
	ret->fd[0] = v1_threshold(s, ctl, at);
	ret->fd[1] = -1;
	r = ret->fd[0] < 0 ? ret->fd[0] : 0;
	if (!r && below) {
		ret->fd[1] = v1_threshold(s, ctl, below);
		if (ret->fd[1] < 0) {
			r = ret->fd[1];
			tide__os_close(ret->fd[0]);
		}
	}
	tide__os_close(ctl);
	if (r)
		return r;
	ret->slot = FD_EVENT;
	ret->n = 2;
	return 0;
}

/* ---- events ------------------------------------------------------------- */

static bool limit_handle(struct tide__src *s, int i, uint32_t events,
			 enum tide_pressure_level *level, bool *check)
{
	bool high, max;

	*check = true;
	if (s->version == 2 && (i < 0 || i == FD_EVENT || i == FD_LEVENTS)) {
		if (!read_events(s, &high, &max) && (high || max))
			*level =
				TIDE__MAX(*level, max ? TIDE_PRESSURE_CRITICAL :
							TIDE_PRESSURE_MEDIUM);
		/* The group went away. */
		return i >= 0 && (events & EPOLLERR);
	}
	/* v1: a threshold (FD_EVENT, FD_BELOW) only wakes the check */
	if (i >= 0 && tide__os_event_take(s->fd[i]) && i >= FD_LEVEL)
		*level = TIDE__MAX(
			*level, (enum tide_pressure_level)(i - FD_LEVEL + 1));
	return false;
}

const struct tide__src_ops tide__src_cgroup2_ops = {
	.open = cgroup2_open,
	.handle = limit_handle,
	.read = limit_read,
	.next_poll = limit_next_poll,
	.close = limit_close,
};

const struct tide__src_ops tide__src_cgroup1_ops = {
	.open = cgroup1_open,
	.rearm = cgroup1_rearm,
	.handle = limit_handle,
	.read = limit_read,
	.next_poll = limit_next_poll,
	.close = limit_close,
};
