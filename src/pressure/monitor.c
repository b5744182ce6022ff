// SPDX-License-Identifier: MIT
/*
 * pressure.c - from memory-pressure signals to reclaim.
 *
 * A monitor owns an epoll descriptor holding its source's descriptors
 * (a PSI trigger, a FIFO or socket, cgroup eventfds, memory.events), two
 * timerfds (polling, level decay) and a stop eventfd.  Dispatching turns
 * what is ready into a level and a reclaim loop:
 *
 *  - level signals (PSI, systemd's protocol, vmpressure) run passes from
 *    priority 12 down to the level's floor (LOW 10, MEDIUM 6, CRITICAL 0)
 *    and repeat at the floor while a pass frees something;
 *  - watermark signals (cgroup usage thresholds, memory.current, the
 *    budget) start when usage reaches the high watermark, go down to 0 and
 *    stop as soon as usage is under the low watermark.
 *
 * The sources themselves (finding, opening, reading) live in the second
 * half of the file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <tide/pressure.h>
#include <tide/shrinker.h>

#include "internal.h"
#include "pressure/cgroup.h"

#define DEFAULT_TRIGGER "some 200000 2000000"
#define DEFAULT_PSI_PATH "/proc/pressure/memory"
#define DEFAULT_RSS_PATH "/proc/self/smaps_rollup"
#define DEFAULT_POLL_MS 100
#define DEFAULT_RATE_MS 1000
#define DEFAULT_QUIET_MS 2000
/* Passes at the floor are bounded in case caches refill as fast as reclaim
 * empties them. */
#define MAX_FLOOR_PASSES 32
/* A cgroup limit at or above this is "no limit" (v1 shows PAGE_COUNTER_MAX). */
#define NO_LIMIT (UINT64_C(1) << 60)

enum tag {
	TAG_STOP,
	TAG_POLL,
	TAG_QUIET,
	TAG_WATCH,
	TAG_PSI,
	TAG_CG2_EVENTS,
	TAG_V1_THRESH,
	TAG_V1_LEVEL, /* + level - 1 */
};

struct tide_monitor {
	unsigned source;
	int epfd, stopfd, pollfd, quietfd;

	/* level sources */
	int sigfd; /* PSI trigger, FIFO or socket */
	bool sig_stream; /* FIFO/socket: read and discard */
	enum tide_pressure_level sig_level;

	/* watermark sources */
	bool watermark;
	uint64_t high, low;
	int usage_fd; /* memory.current / memory.usage_in_bytes, or -1 */
	char *rss_path; /* budget of RSS */
	int events_fd; /* cgroup v2 memory.events */
	unsigned long long ev_high, ev_max;
	int v1_thresh, v1_level[3];

	/* configuration */
	unsigned poll_ms, rate_ms, quiet_ms;
	tide_level_fn on_level;
	void *level_arg;
	struct tide_shrinker *trim;

	/* state */
	enum tide_pressure_level wm_level, sig_level_now, reported;
	uint64_t reported_ns;
	atomic_bool trim_armed;
	atomic_bool started;
	pthread_t thread;

	pthread_mutex_t lock; /* st */
	struct tide_monitor_stats st;
};

/* ---- small helpers ---------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int ep_add(struct tide_monitor *m, int fd, uint32_t events, uint32_t tag)
{
	struct epoll_event ev = { .events = events, .data.u32 = tag };

	if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, fd, &ev))
		return -errno;
	return 0;
}

static void arm_timer(int fd, unsigned ms, bool periodic)
{
	struct itimerspec its = { 0 };

	its.it_value.tv_sec = ms / 1000;
	its.it_value.tv_nsec = (long)(ms % 1000) * 1000000;
	if (periodic)
		its.it_interval = its.it_value;
	timerfd_settime(fd, 0, &its, NULL);
}

/* Read a small file at offset 0 into @buf (NUL terminated). */
static int read_fd_text(int fd, char *buf, size_t size)
{
	ssize_t n = pread(fd, buf, size - 1, 0);

	if (n < 0)
		return -errno;
	buf[n] = 0;
	return 0;
}

static int read_text(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int r;

	if (fd < 0)
		return -errno;
	r = read_fd_text(fd, buf, size);
	close(fd);
	return r;
}

/* A cgroup number: decimal bytes or "max". */
static int parse_u64(const char *s, uint64_t *ret)
{
	unsigned long long v;
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	if (!strncmp(s, "max", 3)) {
		*ret = UINT64_MAX;
		return 0;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || (*end && *end != '\n' && *end != ' '))
		return -EINVAL;
	*ret = v;
	return 0;
}

static int read_u64(const char *path, uint64_t *ret)
{
	char buf[64];
	int r = read_text(path, buf, sizeof(buf));

	return r ? r : parse_u64(buf, ret);
}

static char *join(const char *dir, const char *file)
{
	/* The analyzer loses track of errno-based returns: dir is set. */
	// NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker)
	size_t a = strlen(dir), b = strlen(file);
	char *p = tide__os_malloc(a + b + 2);

	if (!p)
		return NULL;
	memcpy(p, dir, a);
	p[a] = '/';
	memcpy(p + a + 1, file, b + 1);
	return p;
}

static char *dup_str(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = tide__os_malloc(n);

	if (p)
		memcpy(p, s, n);
	return p;
}

/* ---- levels, reporting, stats ----------------------------------------- */

static void stat_add(struct tide_monitor *m, unsigned long long events,
		     unsigned long long loops)
{
	pthread_mutex_lock(&m->lock);
	m->st.events += events;
	m->st.loops += loops;
	pthread_mutex_unlock(&m->lock);
}

/*
 * Report the combined level.  Changes go out at once; the same level again
 * only when @repeat and the rate limit allows.
 */
static void report(struct tide_monitor *m, bool repeat)
{
	enum tide_pressure_level lvl = TIDE__MAX(m->wm_level, m->sig_level_now);
	uint64_t now = now_ns();
	bool changed = lvl != m->reported;

	pthread_mutex_lock(&m->lock);
	m->st.level = lvl;
	pthread_mutex_unlock(&m->lock);
	if (!changed) {
		if (!repeat || lvl == TIDE_PRESSURE_NONE ||
		    now - m->reported_ns < (uint64_t)m->rate_ms * 1000000u)
			return;
	}
	m->reported = lvl;
	m->reported_ns = now;
	if (m->on_level)
		m->on_level(lvl, m->level_arg);
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

static int read_usage(struct tide_monitor *m, uint64_t *ret);

static unsigned long pass(struct tide_monitor *m, int priority)
{
	unsigned long freed = tide_shrink(priority, 0);

	pthread_mutex_lock(&m->lock);
	m->st.passes++;
	m->st.freed += freed;
	m->st.last_priority = priority;
	pthread_mutex_unlock(&m->lock);
	return freed;
}

/* kswapd's loop for a level signal: no usage target, so walk to the floor. */
static void reclaim_level(struct tide_monitor *m, enum tide_pressure_level lvl)
{
	int floor = level_floor(lvl), prio = TIDE_DEF_PRIORITY;
	unsigned at_floor = 0;

	for (;;) {
		unsigned long freed = pass(m, prio);

		if (prio > floor) {
			prio--;
			continue;
		}
		if (!freed || ++at_floor >= MAX_FLOOR_PASSES)
			break;
	}
	stat_add(m, 0, 1);
}

static void set_usage(struct tide_monitor *m, uint64_t usage)
{
	pthread_mutex_lock(&m->lock);
	m->st.usage = usage;
	pthread_mutex_unlock(&m->lock);
}

/*
 * kswapd's loop for a watermark source: from 12 down to 0, stopping as soon
 * as usage is under the low watermark.  Returns the last usage read.
 */
static uint64_t reclaim_watermark(struct tide_monitor *m, uint64_t usage)
{
	int prio = TIDE_DEF_PRIORITY;
	unsigned at_floor = 0;

	for (;;) {
		unsigned long freed = pass(m, prio);

		if (read_usage(m, &usage))
			break;
		set_usage(m, usage);
		if (usage < m->low)
			break;
		if (prio > 0) {
			prio--;
			continue;
		}
		if (!freed || ++at_floor >= MAX_FLOOR_PASSES)
			break;
	}
	stat_add(m, 0, 1);
	return usage;
}

/*
 * Check usage against the watermarks: at or over high, reclaim; the level
 * stays up (hysteresis) until usage is under low.
 */
static void check_watermarks(struct tide_monitor *m,
			     enum tide_pressure_level lvl)
{
	uint64_t usage;

	if (!m->watermark || read_usage(m, &usage))
		return;
	set_usage(m, usage);
	if (usage >= m->high) {
		m->wm_level = TIDE__MAX(lvl, TIDE_PRESSURE_MEDIUM);
		stat_add(m, 1, 0);
		report(m, true);
		usage = reclaim_watermark(m, usage);
	}
	if (usage < m->low && m->wm_level != TIDE_PRESSURE_NONE) {
		m->wm_level = TIDE_PRESSURE_NONE;
		report(m, false);
	}
}

static void signal_level(struct tide_monitor *m, enum tide_pressure_level lvl)
{
	m->sig_level_now = lvl;
	stat_add(m, 1, 0);
	report(m, true);
	arm_timer(m->quietfd, m->quiet_ms, false);
	reclaim_level(m, lvl);
}

/* ---- the malloc_trim shrinker ------------------------------------------ */

/*
 * Counts the heap's free bytes in pages; one scan per pass calls
 * malloc_trim(0) and, if it released anything, reports those pages freed.
 * count arms it (count runs once per shrinker per pass), so the later scan
 * calls of the same pass stop at once instead of trimming again.
 */
static unsigned long heap_free_pages(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
	struct mallinfo2 mi = mallinfo2();

	return (unsigned long)(mi.fordblks / tide__os_page_size());
#else
	return 0;
#endif
}

static unsigned long trim_count(void *priv, struct tide_shrink_control *sc)
{
	struct tide_monitor *m = priv;
	unsigned long pages = heap_free_pages();

	atomic_store(&m->trim_armed, pages != 0);
	return pages ? pages : TIDE_SHRINK_EMPTY;
}

static unsigned long trim_scan(void *priv, struct tide_shrink_control *sc)
{
	struct tide_monitor *m = priv;
	unsigned long pages;

	if (!atomic_exchange(&m->trim_armed, false))
		return TIDE_SHRINK_STOP;
	pages = heap_free_pages();
	return tide__os_heap_trim() ? pages : 0;
}

static const struct tide_shrinker_ops trim_ops = {
	.count_objects = trim_count,
	.scan_objects = trim_scan,
};

/* ---- dispatch ----------------------------------------------------------- */

static int v1_level_fired(struct tide_monitor *m)
{
	int lvl = 0;
	uint64_t v;

	for (int i = 0; i < 3; i++)
		if (m->v1_level[i] >= 0 &&
		    read(m->v1_level[i], &v, sizeof(v)) == sizeof(v))
			lvl = i + 1;
	return lvl;
}

static int read_cg2_events(struct tide_monitor *m, bool *high, bool *max)
{
	char buf[512], *p;
	unsigned long long h = m->ev_high, x = m->ev_max;
	int r;

	*high = *max = false;
	if (m->events_fd < 0)
		return 0;
	r = read_fd_text(m->events_fd, buf, sizeof(buf));
	if (r)
		return r;
	p = strstr(buf, "high ");
	if (p && (p == buf || p[-1] == '\n'))
		h = strtoull(p + 5, NULL, 10);
	p = strstr(buf, "max ");
	if (p && (p == buf || p[-1] == '\n'))
		x = strtoull(p + 4, NULL, 10);
	*high = h > m->ev_high;
	*max = x > m->ev_max;
	m->ev_high = h;
	m->ev_max = x;
	return 0;
}

static void handle_stream(struct tide_monitor *m, uint32_t events, bool *sig)
{
	char buf[512];
	ssize_t n;

	for (;;) {
		n = read(m->sigfd, buf, sizeof(buf));
		if (n > 0) {
			*sig = true;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	/* The peer of a socket went away: nothing more will come. */
	if (n == 0 || (events & (EPOLLHUP | EPOLLERR))) {
		epoll_ctl(m->epfd, EPOLL_CTL_DEL, m->sigfd, NULL);
		close_fd(&m->sigfd);
	}
}

/* Handle what epoll reported; returns true when told to stop. */
static bool handle(struct tide_monitor *m, const struct epoll_event *evs, int n)
{
	enum tide_pressure_level sig = TIDE_PRESSURE_NONE;
	bool check_wm = false, quiet = false, stop = false;
	uint64_t v;

	for (int i = 0; i < n; i++) {
		uint32_t tag = evs[i].data.u32;
		bool fired = false, high, max;

		switch (tag) {
		case TAG_STOP:
			stop = true;
			break;
		case TAG_POLL:
			if (read(m->pollfd, &v, sizeof(v)) < 0)
				break;
			/* a poll tick checks what an event does */
			__attribute__((fallthrough));
		case TAG_CG2_EVENTS:
			if (!read_cg2_events(m, &high, &max) && (high || max))
				sig = TIDE__MAX(sig,
						max ? TIDE_PRESSURE_CRITICAL :
						      TIDE_PRESSURE_MEDIUM);
			check_wm = true;
			break;
		case TAG_QUIET:
			if (read(m->quietfd, &v, sizeof(v)) == sizeof(v))
				quiet = true;
			break;
		case TAG_WATCH:
		case TAG_PSI:
			if (m->sig_stream) {
				handle_stream(m, evs[i].events, &fired);
			} else {
				fired = evs[i].events & EPOLLPRI;
				/* The PSI file's cgroup went away. */
				if (evs[i].events & EPOLLERR) {
					epoll_ctl(m->epfd, EPOLL_CTL_DEL,
						  m->sigfd, NULL);
					close_fd(&m->sigfd);
				}
			}
			if (fired)
				sig = TIDE__MAX(sig, m->sig_level);
			break;
		case TAG_V1_THRESH:
			if (read(m->v1_thresh, &v, sizeof(v)) == sizeof(v))
				check_wm = true;
			break;
		default:
			sig = TIDE__MAX(
				sig,
				(enum tide_pressure_level)v1_level_fired(m));
			break;
		}
	}
	if (stop)
		return true;
	if (quiet && sig == TIDE_PRESSURE_NONE &&
	    m->sig_level_now != TIDE_PRESSURE_NONE) {
		m->sig_level_now = TIDE_PRESSURE_NONE;
		report(m, false);
	}
	if (sig != TIDE_PRESSURE_NONE)
		signal_level(m, sig);
	if (check_wm)
		check_watermarks(m, TIDE_PRESSURE_MEDIUM);
	return false;
}

static bool dispatch_once(struct tide_monitor *m, int timeout, int *err)
{
	struct epoll_event evs[16];
	int n = epoll_wait(m->epfd, evs, 16, timeout);

	*err = 0;
	if (n < 0) {
		*err = errno == EINTR ? 0 : -errno;
		return false;
	}
	return handle(m, evs, n);
}

int tide_monitor_dispatch(struct tide_monitor *m)
{
	int err;

	if (!m)
		return -EINVAL;
	if (atomic_load(&m->started))
		return -EBUSY;
	dispatch_once(m, 0, &err);
	return err;
}

static void *monitor_thread(void *arg)
{
	struct tide_monitor *m = arg;
	int err;

	while (!dispatch_once(m, -1, &err) && err != -EBADF)
		;
	return NULL;
}

int tide_monitor_start(struct tide_monitor *m)
{
	sigset_t all, old;
	bool expect = false;
	int r;

	if (!m)
		return -EINVAL;
	if (!atomic_compare_exchange_strong(&m->started, &expect, true))
		return -EBUSY;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&m->thread, NULL, monitor_thread, m);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		atomic_store(&m->started, false);
		return -r;
	}
	return 0;
}

int tide_monitor_fd(const struct tide_monitor *m)
{
	return m ? m->epfd : -EINVAL;
}

unsigned tide_monitor_source(const struct tide_monitor *m)
{
	return m ? m->source : 0;
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
	pthread_mutex_lock(&m->lock);
	*st = m->st;
	pthread_mutex_unlock(&m->lock);
}

/* ---- sources ------------------------------------------------------------ */

/* -ENODEV from a source opener: not configured here, try the next one. */

static int read_usage(struct tide_monitor *m, uint64_t *ret)
{
	char buf[4096], *p;
	unsigned long long rss = 0, lazy = 0;
	int r;

	if (m->usage_fd >= 0) {
		r = read_fd_text(m->usage_fd, buf, 64);
		return r ? r : parse_u64(buf, ret);
	}
	r = read_text(m->rss_path, buf, sizeof(buf));
	if (r)
		return r;
	p = strstr(buf, "Rss:");
	if (!p)
		return -EINVAL;
	rss = strtoull(p + 4, NULL, 10);
	p = strstr(buf, "LazyFree:");
	if (p)
		lazy = strtoull(p + 9, NULL, 10);
	*ret = (rss > lazy ? rss - lazy : 0) * 1024;
	return 0;
}

/* Is @tok one of the comma-separated words of @list?  Modifies @list. */
static bool has_token(char *list, const char *tok, char **save)
{
	for (char *t = strtok_r(list, ",", save); t;
	     t = strtok_r(NULL, ",", save))
		if (!strcmp(t, tok))
			return true;
	return false;
}

/*
 * Find the own cgroup directory: the v2 one (@v2) or the v1 memory one,
 * from /proc/self/cgroup and the mount point in /proc/self/mountinfo.
 */
int tide__cgroup_dir(bool v2, char **ret)
{
	char line[4096], cgpath[PATH_MAX] = "", *dir;
	bool found = false;
	FILE *f;

	f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return errno > 0 ? -errno : -ENODEV;
	while (!found && fgets(line, sizeof(line), f)) {
		char *ctl = strchr(line, ':'), *path, *save = NULL;

		if (!ctl)
			continue;
		*ctl++ = 0;
		path = strchr(ctl, ':');
		if (!path)
			continue;
		*path++ = 0;
		path[strcspn(path, "\n")] = 0;
		if (v2)
			found = !strcmp(line, "0") && !*ctl;
		else
			found = has_token(ctl, "memory", &save);
		if (found)
			snprintf(cgpath, sizeof(cgpath), "%s", path);
	}
	fclose(f);
	if (!found)
		return -ENODEV;

	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return errno > 0 ? -errno : -ENODEV;
	found = false;
	while (!found && fgets(line, sizeof(line), f)) {
		char root[PATH_MAX], mnt[PATH_MAX], type[64], opts[1024];
		char *save = NULL, *dash = strstr(line, " - ");

		if (!dash ||
		    sscanf(line, "%*s %*s %*s %4095s %4095s", root, mnt) != 2 ||
		    sscanf(dash + 3, "%63s %*s %1023s", type, opts) != 2)
			continue;
		if (v2 ? strcmp(type, "cgroup2") :
			 strcmp(type, "cgroup") ||
				    !has_token(opts, "memory", &save))
			continue;
		{
			const char *rel = cgpath;
			size_t rl = strlen(root);

			if (strcmp(root, "/") && !strncmp(cgpath, root, rl))
				rel = cgpath + rl;
			dir = tide__os_malloc(strlen(mnt) + strlen(rel) + 2);
			if (!dir) {
				fclose(f);
				return -ENOMEM;
			}
			sprintf(dir, "%s%s%s", mnt, *rel == '/' ? "" : "/",
				rel);
		}
		found = true;
	}
	fclose(f);
	if (!found)
		return -ENODEV;
	*ret = dir;
	return 0;
}

static int cgroup_dir(const char *given, bool v2, char **ret)
{
	if (given) {
		*ret = dup_str(given);
		return *ret ? 0 : -ENOMEM;
	}
	return tide__cgroup_dir(v2, ret);
}

/* Open a PSI file, write @trigger (with its NUL: the kernel expects it). */
static int open_psi(struct tide_monitor *m, const char *path,
		    const char *trigger, uint32_t tag)
{
	size_t len = strlen(trigger) + 1;
	int fd, r;

	ssize_t n;

	fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, trigger, len);
	if (n != (ssize_t)len) {
		r = n < 0 ? -errno : -EIO;
		goto out_close;
	}
	m->sigfd = fd;
	m->sig_stream = false;
	m->sig_level = !strncmp(trigger, "full", 4) ? TIDE_PRESSURE_CRITICAL :
						      TIDE_PRESSURE_MEDIUM;
	r = ep_add(m, fd, EPOLLPRI, tag);
	if (r) {
		m->sigfd = -1;
		goto out_close;
	}
	return 0;
out_close:
	close(fd);
	return r;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* systemd's $MEMORY_PRESSURE_WATCH protocol (docs/MEMORY_PRESSURE.md). */
static int open_watch(struct tide_monitor *m)
{
	const char *watch = secure_getenv("MEMORY_PRESSURE_WATCH");
	const char *wr = secure_getenv("MEMORY_PRESSURE_WRITE");
	unsigned char *data = NULL;
	size_t len = 0;
	struct stat st;
	uint32_t events = EPOLLIN;
	int fd, r;

	if (!watch)
		return -ENODEV;
	if (!*watch || !strcmp(watch, "/dev/null"))
		return 1; /* monitoring turned off */
	if (watch[0] != '/')
		return -EINVAL;
	if (wr) {
		r = tide__b64_decode(wr, &data, &len);
		if (r)
			return r;
	}
	if (stat(watch, &st)) {
		r = -errno;
		goto out;
	}
	if (S_ISSOCK(st.st_mode)) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		if (strlen(watch) >= sizeof(sa.sun_path)) {
			r = -ENAMETOOLONG;
			goto out;
		}
		strcpy(sa.sun_path, watch);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			r = -errno;
			goto out;
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
		    fcntl(fd, F_SETFL, O_NONBLOCK)) {
			r = -errno;
			goto out_close;
		}
		m->sig_stream = true;
	} else {
		/* O_RDWR: a FIFO never reports hangup when writers come and
		 * go, and a PSI file needs write access for the trigger. */
		fd = open(watch, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
		if (fd < 0) {
			r = -errno;
			goto out;
		}
		m->sig_stream = S_ISFIFO(st.st_mode);
		if (!m->sig_stream)
			events = EPOLLPRI;
	}
	r = write_all(fd, data, len);
	if (r)
		goto out_close;
	r = ep_add(m, fd, events, TAG_WATCH);
	if (r)
		goto out_close;
	m->sigfd = fd;
	m->sig_level = TIDE_PRESSURE_MEDIUM;
	goto out;
out_close:
	close(fd);
out:
	tide__os_free(data);
	return r;
}

/* Watermarks from the configuration or from a cgroup limit. */
static int set_watermarks(struct tide_monitor *m,
			  const struct tide_monitor_config *cfg, uint64_t limit)
{
	if (cfg->high_watermark) {
		m->high = cfg->high_watermark;
		m->low = cfg->low_watermark ? cfg->low_watermark :
					      m->high - m->high / 8;
	} else if (limit < NO_LIMIT) {
		m->high = limit - limit / 4;
		m->low = cfg->low_watermark ? cfg->low_watermark :
					      limit - limit / 8 * 3;
	} else {
		return -ENODEV;
	}
	if (m->low > m->high)
		return -EINVAL;
	m->watermark = true;
	return 0;
}

static int open_cgroup2(struct tide_monitor *m,
			const struct tide_monitor_config *cfg)
{
	char *dir = NULL, *path = NULL;
	uint64_t high = UINT64_MAX, max = UINT64_MAX, limit;
	bool h, x;
	int r;

	r = cgroup_dir(cfg->cgroup2_dir, true, &dir);
	if (r)
		return r;
	r = -ENOMEM;
	path = join(dir, "memory.events");
	if (!path)
		goto out;
	m->events_fd = open(path, O_RDONLY | O_CLOEXEC);
	tide__os_free(path);
	if (m->events_fd < 0) {
		r = -errno;
		goto out;
	}
	r = -ENOMEM;
	if (!(path = join(dir, "memory.high")))
		goto out;
	read_u64(path, &high);
	tide__os_free(path);
	if (!(path = join(dir, "memory.max")))
		goto out;
	read_u64(path, &max);
	tide__os_free(path);
	limit = high < NO_LIMIT ? high : max;
	r = set_watermarks(m, cfg, limit);
	if (r)
		goto out;
	r = -ENOMEM;
	if (!(path = join(dir, "memory.current")))
		goto out;
	m->usage_fd = open(path, O_RDONLY | O_CLOEXEC);
	tide__os_free(path);
	if (m->usage_fd < 0) {
		r = -errno;
		goto out;
	}
	r = read_cg2_events(m, &h, &x);
	if (r)
		goto out;
	/* Not pollable (not kernfs, as in tests): the poll timer reads it. */
	if (ep_add(m, m->events_fd, EPOLLPRI, TAG_CG2_EVENTS) == -EPERM)
		r = 0;
	m->poll_ms = m->poll_ms ? m->poll_ms : DEFAULT_POLL_MS;
out:
	tide__os_free(dir);
	return r;
}

static int v1_register(int ctl, int efd, int target, const char *arg)
{
	char buf[128];
	int n = snprintf(buf, sizeof(buf), "%d %d %s", efd, target, arg);

	if (write(ctl, buf, (size_t)n) != n)
		return -errno;
	return 0;
}

static int open_cgroup1(struct tide_monitor *m,
			const struct tide_monitor_config *cfg)
{
	static const char *const names[3] = { "low", "medium", "critical" };
	char *dir = NULL, *path = NULL;
	int ctl = -1, plevel = -1, r;
	uint64_t limit = UINT64_MAX;

	r = cgroup_dir(cfg->cgroup1_dir, false, &dir);
	if (r)
		return r;
	r = -ENOMEM;
	if (!(path = join(dir, "cgroup.event_control")))
		goto out;
	ctl = open(path, O_WRONLY | O_CLOEXEC);
	tide__os_free(path);
	if (ctl < 0) {
		r = -errno;
		goto out;
	}
	r = -ENOMEM;
	if (!(path = join(dir, "memory.limit_in_bytes")))
		goto out;
	r = read_u64(path, &limit);
	tide__os_free(path);
	if (r)
		goto out;
	r = -ENOMEM;
	if (!(path = join(dir, "memory.usage_in_bytes")))
		goto out;
	m->usage_fd = open(path, O_RDONLY | O_CLOEXEC);
	tide__os_free(path);
	if (m->usage_fd < 0) {
		r = -errno;
		goto out;
	}
	r = set_watermarks(m, cfg, limit);
	if (r == -ENODEV) {
		/* No limit and no watermarks: vmpressure levels only. */
		m->watermark = false;
		close_fd(&m->usage_fd);
	} else if (r) {
		goto out;
	} else {
		char arg[32];

		snprintf(arg, sizeof(arg), "%" PRIu64, m->high);
		m->v1_thresh = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (m->v1_thresh < 0) {
			r = -errno;
			goto out;
		}
		r = v1_register(ctl, m->v1_thresh, m->usage_fd, arg);
		if (!r)
			r = ep_add(m, m->v1_thresh, EPOLLIN, TAG_V1_THRESH);
		if (r)
			goto out;
	}
	r = -ENOMEM;
	if (!(path = join(dir, "memory.pressure_level")))
		goto out;
	plevel = open(path, O_RDONLY | O_CLOEXEC);
	tide__os_free(path);
	if (plevel < 0) {
		r = -errno;
		goto out;
	}
	for (int i = 0; i < 3; i++) {
		m->v1_level[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (m->v1_level[i] < 0) {
			r = -errno;
			goto out;
		}
		r = v1_register(ctl, m->v1_level[i], plevel, names[i]);
		if (!r)
			r = ep_add(m, m->v1_level[i], EPOLLIN,
				   TAG_V1_LEVEL + (uint32_t)i);
		if (r)
			goto out;
	}
	r = 0;
out:
	if (plevel >= 0)
		close(plevel);
	if (ctl >= 0)
		close(ctl);
	tide__os_free(dir);
	return r;
}

static int open_budget(struct tide_monitor *m,
		       const struct tide_monitor_config *cfg)
{
	char *dir = NULL, *path = NULL;
	int r;

	if (!cfg->high_watermark)
		return -ENODEV;
	r = set_watermarks(m, cfg, UINT64_MAX);
	if (r)
		return r;
	if (cfg->budget == TIDE_BUDGET_RSS) {
		m->rss_path = dup_str(cfg->rss_path ? cfg->rss_path :
						      DEFAULT_RSS_PATH);
		if (!m->rss_path)
			return -ENOMEM;
		/* Fail now, not at the first poll, if it cannot be read. */
		{
			uint64_t u;

			r = read_usage(m, &u);
		}
	} else if (cfg->budget == TIDE_BUDGET_CGROUP) {
		r = cgroup_dir(cfg->cgroup2_dir, true, &dir);
		if (!r && !(path = join(dir, "memory.current")))
			r = -ENOMEM;
		if (!r) {
			m->usage_fd = open(path, O_RDONLY | O_CLOEXEC);
			if (m->usage_fd < 0)
				r = -errno;
		}
		tide__os_free(path);
		tide__os_free(dir);
		path = dir = NULL;
		if (r && r != -ENOMEM) {
			r = cgroup_dir(cfg->cgroup1_dir, false, &dir);
			if (!r && !(path = join(dir, "memory.usage_in_bytes")))
				r = -ENOMEM;
			if (!r) {
				m->usage_fd = open(path, O_RDONLY | O_CLOEXEC);
				if (m->usage_fd < 0)
					r = -errno;
			}
			tide__os_free(path);
			tide__os_free(dir);
		}
	} else {
		r = -EINVAL;
	}
	m->poll_ms = m->poll_ms ? m->poll_ms : DEFAULT_POLL_MS;
	return r;
}

/* Undo what a failed source opener left behind. */
static void reset_source(struct tide_monitor *m)
{
	int *fds[] = { &m->sigfd,      &m->usage_fd,	&m->events_fd,
		       &m->v1_thresh,  &m->v1_level[0], &m->v1_level[1],
		       &m->v1_level[2] };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			epoll_ctl(m->epfd, EPOLL_CTL_DEL, *fds[i], NULL);
		close_fd(fds[i]);
	}
	tide__os_free(m->rss_path);
	m->rss_path = NULL;
	m->watermark = false;
	m->high = m->low = 0;
	m->ev_high = m->ev_max = 0;
}

static int open_source(struct tide_monitor *m,
		       const struct tide_monitor_config *cfg, unsigned src)
{
	const char *trigger =
		cfg->psi_trigger ? cfg->psi_trigger : DEFAULT_TRIGGER;
	char *dir = NULL, *path;
	int r;

	switch (src) {
	case TIDE_SOURCE_WATCH:
		return open_watch(m);
	case TIDE_SOURCE_PSI_CGROUP:
		r = cgroup_dir(cfg->cgroup2_dir, true, &dir);
		if (r)
			return r;
		path = join(dir, "memory.pressure");
		tide__os_free(dir);
		if (!path)
			return -ENOMEM;
		r = open_psi(m, path, trigger, TAG_PSI);
		tide__os_free(path);
		return r;
	case TIDE_SOURCE_PSI:
		return open_psi(
			m, cfg->psi_path ? cfg->psi_path : DEFAULT_PSI_PATH,
			trigger, TAG_PSI);
	case TIDE_SOURCE_CGROUP2:
		return open_cgroup2(m, cfg);
	case TIDE_SOURCE_CGROUP1:
		return open_cgroup1(m, cfg);
	case TIDE_SOURCE_BUDGET:
		return open_budget(m, cfg);
	default:
		return 0; /* TIDE_SOURCE_NONE */
	}
}

/*
 * Try the sources of @mask in order.  A source that is not configured or
 * that the kernel refuses falls through; only a malformed
 * $MEMORY_PRESSURE_WATCH setting, a bad configuration or ENOMEM end the
 * search with an error.
 */
static int choose_source(struct tide_monitor *m,
			 const struct tide_monitor_config *cfg, unsigned mask)
{
	int last = -ENODEV;

	for (unsigned src = 1; src <= TIDE_SOURCE_NONE; src <<= 1) {
		int r;

		if (!(mask & src))
			continue;
		r = open_source(m, cfg, src);
		if (r == 1) { /* $MEMORY_PRESSURE_WATCH=/dev/null */
			m->source = TIDE_SOURCE_NONE;
			return 0;
		}
		if (!r) {
			m->source = src;
			return 0;
		}
		reset_source(m);
		if (r == -ENOMEM ||
		    (src == TIDE_SOURCE_WATCH && r != -ENODEV) ||
		    (r == -EINVAL && src == TIDE_SOURCE_BUDGET))
			return r;
		last = r;
	}
	return last;
}

/* ---- creation and destruction ------------------------------------------ */

static void monitor_release(struct tide_monitor *m)
{
	reset_source(m);
	close_fd(&m->quietfd);
	close_fd(&m->pollfd);
	close_fd(&m->stopfd);
	close_fd(&m->epfd);
	tide_shrinker_free(m->trim);
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

int tide_monitor_new(struct tide_monitor **ret,
		     const struct tide_monitor_config *cfg)
{
	static const struct tide_monitor_config defaults;
	struct tide_monitor *m;
	int r;

	if (!ret)
		return -EINVAL;
	if (!cfg)
		cfg = &defaults;
	if (!config_valid(cfg))
		return -EINVAL;
	m = tide__os_calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	pthread_mutex_init(&m->lock, NULL);
	m->epfd = m->stopfd = m->pollfd = m->quietfd = -1;
	m->sigfd = m->usage_fd = m->events_fd = m->v1_thresh = -1;
	m->v1_level[0] = m->v1_level[1] = m->v1_level[2] = -1;
	m->st.last_priority = -1;
	m->poll_ms = cfg->poll_interval_ms;
	m->rate_ms = cfg->rate_limit_ms ? cfg->rate_limit_ms : DEFAULT_RATE_MS;
	m->quiet_ms = cfg->quiet_ms ? cfg->quiet_ms : DEFAULT_QUIET_MS;
	m->on_level = cfg->on_level;
	m->level_arg = cfg->level_arg;

	m->epfd = epoll_create1(EPOLL_CLOEXEC);
	m->stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	m->pollfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	m->quietfd =
		timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (m->epfd < 0 || m->stopfd < 0 || m->pollfd < 0 || m->quietfd < 0) {
		r = -errno;
		goto out_free;
	}
	r = ep_add(m, m->stopfd, EPOLLIN, TAG_STOP);
	if (!r)
		r = ep_add(m, m->pollfd, EPOLLIN, TAG_POLL);
	if (!r)
		r = ep_add(m, m->quietfd, EPOLLIN, TAG_QUIET);
	if (r)
		goto out_free;

	r = choose_source(m, cfg,
			  cfg->sources ? cfg->sources : TIDE_SOURCE_AUTO);
	if (r)
		goto out_free;

	if (!(cfg->flags & TIDE_MONITOR_NO_TRIM)) {
		m->trim = tide_shrinker_alloc("malloc_trim");
		if (!m->trim) {
			r = -ENOMEM;
			goto out_free;
		}
		tide_shrinker_register(m->trim, &trim_ops, m);
	}
	if (m->watermark && (m->source == TIDE_SOURCE_CGROUP2 ||
			     m->source == TIDE_SOURCE_BUDGET))
		arm_timer(m->pollfd, m->poll_ms, true);
	*ret = m;
	return 0;
out_free:
	monitor_release(m);
	return r;
}

void tide_monitor_free(struct tide_monitor *m)
{
	uint64_t one = 1;

	if (!m)
		return;
	if (atomic_load(&m->started)) {
		while (write(m->stopfd, &one, sizeof(one)) < 0 &&
		       errno == EINTR)
			;
		pthread_join(m->thread, NULL);
	}
	monitor_release(m);
}

/* ---- interface stubs (issue 12 fills them in) --------------------------- */

int tide_monitor_limit(struct tide_monitor *m, struct tide_monitor_limit *ret)
{
	if (!m || !ret)
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	ret->high = m->high;
	ret->low = m->low;
	return 0;
}

int tide_monitor_set_watermarks(struct tide_monitor *m, uint64_t high,
				uint64_t low)
{
	if (!m || !high || low > high)
		return -EINVAL;
	return -EOPNOTSUPP;
}

int tide_monitor_simulate(struct tide_monitor *m,
			  enum tide_pressure_level level)
{
	if (!m || level > TIDE_PRESSURE_CRITICAL)
		return -EINVAL;
	return -EOPNOTSUPP;
}
