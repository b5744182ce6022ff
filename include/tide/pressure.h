/* SPDX-License-Identifier: MIT */
/*
 * tide/pressure.h - turn memory-pressure signals into reclaim passes.
 *
 * A monitor watches every pressure source that applies (or those forced in
 * the configuration) at once - the effective cgroup limit against the
 * working set, graded PSI, systemd's protocol, a budget, and the
 * allocations themselves - and answers each signal with kswapd's reclaim
 * loop over the shrinker registry (but a signal it holds back: page cache
 * churn under the low watermark, or a repeat within a second of a loop
 * that gave nothing back; docs/pressure.md, "Reclaim"): passes start at
 * priority 12 and go down one step after every pass that missed its
 * target, to a floor that depends on the signal; every loop ends with a
 * purge of the allocator (tide_purge()), and a watermark loop whose
 * caches' frees do not show in the working set purges between passes too
 * (a few times at most).  It runs in its own thread (tide_monitor_start())
 * or in the caller's event loop (tide_monitor_fd() +
 * tide_monitor_dispatch()).
 * docs/pressure.md tells the whole story.
 */
#ifndef TIDE_PRESSURE_H
#define TIDE_PRESSURE_H

#include <stdint.h>

#include <tide/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * enum tide_pressure_level - how hard memory is pressed.
 * @TIDE_PRESSURE_NONE: no pressure.
 * @TIDE_PRESSURE_LOW: reclaim is going on (vmpressure "low"); reclaim
 *	passes go down to priority 10.
 * @TIDE_PRESSURE_MEDIUM: a PSI trigger or systemd notification fired, a
 *	watermark was crossed, or vmpressure says "medium"; level sources
 *	reclaim down to priority 6.
 * @TIDE_PRESSURE_CRITICAL: a "full" PSI trigger, vmpressure "critical" or
 *	a cgroup v2 "max" event; reclaim down to priority 0.
 */
enum tide_pressure_level {
	TIDE_PRESSURE_NONE,
	TIDE_PRESSURE_LOW,
	TIDE_PRESSURE_MEDIUM,
	TIDE_PRESSURE_CRITICAL
};

/*
 * Pressure sources.  A monitor opens every one of
 * tide_monitor_config.sources (0: all) that applies here; the system-wide
 * PSI file only when the own group's memory.pressure is not there (the v2
 * root's is the host's: psi-cgroup never opens on the root).  Level events
 * are gated: a group-scoped one (psi-cgroup, vmpressure, memory.events)
 * runs no loop and raises no level while a limit watcher runs and the
 * working set is under its low watermark; a system-wide PSI one while
 * MemAvailable is at least 1/8 of MemTotal.  Either is still counted as an
 * event.  systemd's protocol is never gated.
 */
/* $MEMORY_PRESSURE_WATCH / $MEMORY_PRESSURE_WRITE (systemd's protocol) */
#define TIDE_SOURCE_WATCH (1u << 0)
/* graded PSI triggers on the own cgroup v2 memory.pressure */
#define TIDE_SOURCE_PSI_CGROUP (1u << 1)
/* graded PSI triggers on the system-wide /proc/pressure/memory */
#define TIDE_SOURCE_PSI (1u << 2)
/* limit watcher, cgroup v2: the effective limit vs the working set,
 * memory.events (high, max) of the own group and memory.events.local of
 * a limiting ancestor, adaptive poll, allocation sensor */
#define TIDE_SOURCE_CGROUP2 (1u << 3)
/* limit watcher, cgroup v1: the effective limit vs the working set,
 * usage thresholds, memory.pressure_level, adaptive poll, sensor */
#define TIDE_SOURCE_CGROUP1 (1u << 4)
/* polled budget: process RSS or cgroup usage vs configured watermarks */
#define TIDE_SOURCE_BUDGET (1u << 5)
/* no event source: only allocation failure (direct reclaim in kv); the
 * mask a monitor reports when nothing else applies */
#define TIDE_SOURCE_NONE (1u << 6)
#define TIDE_SOURCE_AUTO 0x7fu

/* What the budget source measures (tide_monitor_config.budget). */
enum tide_budget_measure {
	TIDE_BUDGET_RSS, /* process Rss minus LazyFree (smaps_rollup) */
	TIDE_BUDGET_CGROUP /* own cgroup usage: v2 memory.current, else v1 */
};

/* tide_monitor_config.flags */
#define TIDE_MONITOR_NO_TRIM (1u << 0) /* no allocator purge ending loops */

/**
 * typedef tide_level_fn - level change callback.
 * @level: the new level, or the same level again (a repeat, rate limited).
 * @arg: tide_monitor_config.level_arg.
 *
 * Called on the thread that runs the monitor (its own thread, or the caller
 * of tide_monitor_dispatch()), before the reclaim the signal causes.  It
 * must not call tide_monitor_free() on its monitor: that is reported
 * through the error handler and aborts (see tide_set_error_handler()).
 */
typedef void (*tide_level_fn)(enum tide_pressure_level level, void *arg);

/**
 * struct tide_monitor_config - how a monitor finds and answers pressure.
 * @size: sizeof(struct tide_monitor_config) as the caller compiled it;
 *	see docs/abi.md (fields past @size are zero; bytes past the
 *	library's struct must be zero).
 * @sources: mask of TIDE_SOURCE_*; 0 means %TIDE_SOURCE_AUTO.  Every one
 *	that applies is opened; one that does not apply or that the kernel
 *	refuses is dropped.  Without %TIDE_SOURCE_NONE in the mask,
 *	tide_monitor_new() fails when none opens.
 * @psi_trigger: one PSI trigger written to memory.pressure files instead
 *	of the graded three (LOW "some 70000 2000000", MEDIUM "some 100000
 *	2000000", CRITICAL "full 100000 2000000", as GLib grades them).  A
 *	"full" trigger reports CRITICAL, "some" MEDIUM.
 * @high_watermark: working set (limit watchers) or measure (budget) in
 *	bytes at which reclaim starts.  0: 3/4 of the effective limit.  The
 *	budget source needs it.  The effective limit is read again every 2 s;
 *	while it is at or under @high_watermark (which could never be
 *	reached), from creation on or after a change, the limit watchers use
 *	the limit's defaults instead, and @low_watermark is not used.
 * @low_watermark: reclaim stops as soon as the measure is under this.  0:
 *	5/8 of the effective limit, or 7/8 of @high_watermark when that was
 *	given.  Given without @high_watermark, while it is over 3/4 of the
 *	effective limit (the default high; a limit found or changed to under
 *	4/3 of it), the limit watchers use 5/8 of the limit instead.
 * @budget: what the budget source measures.
 * @poll_interval_ms: how often the budget is read (0: 100); for limit
 *	watchers the slowest adaptive poll interval (0: 1000), used while the
 *	working set is at most half the high watermark.
 * @rate_limit_ms: a level reported again unchanged is passed to @on_level at
 *	most once per this many milliseconds; 0 means 1000.  Changes are
 *	always reported at once.
 * @quiet_ms: a level source (PSI, systemd, vmpressure) goes back to
 *	%TIDE_PRESSURE_NONE after this long without a signal; 0 means 2000.
 * @flags: %TIDE_MONITOR_NO_TRIM.
 * @on_level: optional level callback, see &typedef tide_level_fn.
 * @level_arg: passed to @on_level.
 * @psi_path: system PSI file; NULL means "/proc/pressure/memory".  Only a
 *	file on procfs or cgroupfs is accepted (-ENOTTY before any write).
 * @cgroup2_dir: the cgroup v2 group to watch (its memory.max/high are the
 *	limit); NULL: the effective limit found by discovery.
 * @cgroup1_dir: the cgroup v1 memory group to watch likewise; NULL: found.
 * @rss_path: smaps_rollup-format file for %TIDE_BUDGET_RSS; NULL means
 *	"/proc/self/smaps_rollup".  Kept open and read from offset 0 at each
 *	poll; a file put in its place (rename()) is opened then.  Its
 *	"Rss:" line (and "LazyFree:", when there) must read "N kB" and
 *	end there, else tide_monitor_new() fails with -EINVAL; bytes past
 *	64 bits read as UINT64_MAX.
 * @limit: the effective limit in bytes, instead of the one discovery
 *	finds (the working set is still read from the limiting or own group);
 *	0: discovered.
 * @proc_cgroup_path: /proc/self/cgroup for discovery (tests); NULL: real.
 *	Every source takes its groups from this discovery: where it finds
 *	none, a source that needs one does not apply (-ENODEV).
 * @mountinfo_path: /proc/self/mountinfo likewise.
 * @meminfo_path: /proc/meminfo likewise (a limit at or above MemTotal is
 *	no limit; MemAvailable gates the system-wide PSI's events).
 *
 * A zeroed configuration (with @size set) is the same as passing NULL.
 * Strings are copied by tide_monitor_new().
 */
struct tide_monitor_config {
	size_t size;
	unsigned sources;
	const char *psi_trigger;
	uint64_t high_watermark;
	uint64_t low_watermark;
	enum tide_budget_measure budget;
	unsigned poll_interval_ms;
	unsigned rate_limit_ms;
	unsigned quiet_ms;
	unsigned flags;
	tide_level_fn on_level;
	void *level_arg;
	const char *psi_path;
	const char *cgroup2_dir;
	const char *cgroup1_dir;
	const char *rss_path;
	/* added in 0.2 (issue 12); see docs/abi.md for the size rule */
	uint64_t limit;
	const char *proc_cgroup_path;
	const char *mountinfo_path;
	const char *meminfo_path;
};

/**
 * struct tide_monitor_stats - what a monitor has done so far.
 * @events: pressure signals received (FIFO writes, PSI events, eventfd
 *	wakeups, watermark crossings seen by polling).
 * @loops: reclaim loops completed.
 * @passes: reclaim passes (tide_shrink() calls) run.
 * @freed: objects the passes freed, as the shrinkers count them.
 * @last_priority: priority of the last pass, -1 before the first.
 * @level: the current level.
 * @usage: the last value a watermark source read, in bytes, which is what
 *	it compares with its watermarks; 0 before the first reading and for
 *	a monitor with no watermark source.  Despite the name, for a limit
 *	watcher (%TIDE_SOURCE_CGROUP2, %TIDE_SOURCE_CGROUP1) it is the
 *	limiting group's working set: memory.current (v2) or
 *	memory.usage_in_bytes (v1) minus its inactive file cache
 *	(inactive_file, v1 total_inactive_file), so page cache the kernel
 *	can drop does not count.  For %TIDE_SOURCE_BUDGET it is the budget's
 *	measure: Rss minus LazyFree of /proc/self/smaps_rollup
 *	(%TIDE_BUDGET_RSS), or the own group's memory.current or
 *	memory.usage_in_bytes as it is, page cache included
 *	(%TIDE_BUDGET_CGROUP).  With more than one watermark source, the
 *	last one read; each source's own is
 *	the value field of struct tide_monitor_source_stats.
 */
struct tide_monitor_stats {
	unsigned long long events, loops, passes, freed;
	int last_priority;
	enum tide_pressure_level level;
	uint64_t usage;
};

/**
 * struct tide_monitor_source_stats - what one source of a monitor has done.
 * @events: signals this source delivered (triggers, FIFO writes, eventfd
 *	wakeups, watermark crossings seen by polling).
 * @loops: reclaim loops this source started.
 * @level: the level this source reports now.
 * @value: for a watermark source, the last working set (or budget measure)
 *	read, in bytes; 0 for a level source.
 */
struct tide_monitor_source_stats {
	unsigned long long events, loops;
	enum tide_pressure_level level;
	uint64_t value;
};

struct tide_monitor; /* opaque */

/**
 * tide_monitor_new() - create a pressure monitor.
 * @ret: where the monitor is stored, on success only.
 * @cfg: configuration, or NULL for auto-detection with the defaults.
 *
 * Finds the effective memory limit, opens every source of @cfg->sources
 * that applies (see TIDE_SOURCE_*) and, when a limit watcher runs, arms the
 * allocation sensor (one monitor at a time: the first that armed it keeps
 * it; when that one is freed, or moves to a group with no limit, it passes
 * to the oldest live one with a limit watcher).  $MEMORY_PRESSURE_WATCH
 * set to
 * empty or to /dev/null (any spelling) turns monitoring off: the mask is
 * then %TIDE_SOURCE_NONE.  Set to a path that cannot be opened (missing,
 * no access, a socket nobody listens or accepts on), it drops the watch
 * source alone when the mask has %TIDE_SOURCE_NONE (auto mode does); a
 * mask that names %TIDE_SOURCE_WATCH without it fails with that error.
 * Level and watermark signals are answered only
 * from tide_monitor_start()'s thread or tide_monitor_dispatch().  The
 * sensor acts on allocating threads from now on: an allocation whose charge
 * finds the working set over the high watermark runs the reclaim loop
 * before it returns, until the program first calls tide_monitor_fd() or
 * tide_monitor_dispatch() on the monitor that holds the sensor (see
 * tide_monitor_dispatch()).
 *
 * Context: any thread; does file I/O, never reclaims.
 * Return: 0; -EINVAL for a bad configuration (@cfg->size 0 or too small
 * included), a relative $MEMORY_PRESSURE_WATCH, bad base64 in
 * $MEMORY_PRESSURE_WRITE, or a PSI file named there without a trigger to
 * write; -E2BIG when @cfg is larger than this library's struct and a byte
 * past it is not zero; -ENOTTY when $MEMORY_PRESSURE_WATCH names a regular
 * file not on procfs or cgroupfs; the error of opening it (e.g. -ENOENT,
 * -ECONNREFUSED; -EAGAIN for an AF_UNIX socket whose listener's backlog
 * is full: it never waits for it to accept) when the mask names
 * %TIDE_SOURCE_WATCH without %TIDE_SOURCE_NONE; -ENOMEM; -EMFILE or -ENFILE when out of
 * file descriptors (also for a source's files: the monitor never comes up
 * with fewer sources than it would have had); or the error of the last
 * source tried (e.g. -ENOENT, -EACCES; -ENODEV for %TIDE_SOURCE_BUDGET
 * without @cfg->high_watermark, or a cgroup source where there is no such
 * group) when none in the mask opens.
 */
TIDE_API int tide_monitor_new(struct tide_monitor **ret,
			      const struct tide_monitor_config *cfg);

/**
 * tide_monitor_start() - run the monitor in its own thread.
 * @m: the monitor.
 *
 * The thread blocks all signals, waits on the monitor's fd and dispatches.
 * tide_monitor_free() stops and joins it.
 *
 * Context: any thread; not concurrently with tide_monitor_dispatch().
 * Return: 0, -EBUSY if already started, -ECHILD in a process that inherited
 * the monitor across fork(), -EBADF once a tide_monitor_dispatch() has
 * found the monitor lost (it returns -EBADF from then on; no thread waits
 * on a number that may be the program's), or -EAGAIN when no thread can
 * be created (out of resources or at a limit on threads, as
 * pthread_create() says): the monitor is then not started, and a later
 * call may start it.
 */
TIDE_API int tide_monitor_start(struct tide_monitor *m);

/**
 * tide_monitor_fd() - the pollable descriptor of a monitor.
 * @m: the monitor.
 *
 * An epoll descriptor that is readable (POLLIN) whenever
 * tide_monitor_dispatch() has work: a signal arrived or a timer (polling,
 * level decay) expired.  The monitor owns it; do not close it.  Asking for
 * it tells the monitor that the program's loop polls it: from then on the
 * allocation sensor leaves its reclaim to that loop, as after the first
 * tide_monitor_dispatch() (unless tide_monitor_start() runs the monitor).
 * In a child forked after that, the number is an empty epoll of the
 * child's own, which never becomes readable; the library never closes it
 * there (the child's loop may still hold it), the child does.
 *
 * Context: any thread.
 * Return: the descriptor, or -EINVAL for a NULL monitor.
 */
TIDE_API int tide_monitor_fd(const struct tide_monitor *m);

/**
 * tide_monitor_dispatch() - handle what is pending on the monitor's fd.
 * @m: the monitor.
 *
 * Never blocks waiting: reads every ready source, reports level changes
 * and runs the reclaim loops they call for (which may take a while: the
 * shrinkers run on the calling thread).
 *
 * From the first call on, or from the first tide_monitor_fd() (unless
 * tide_monitor_start() runs the monitor), the program's loop owns the
 * reclaim: the allocation sensor, while this monitor holds it, no longer
 * runs shrinkers inside an allocation, on any thread.  When a charge finds
 * the working set over the high watermark (and no hold after a loop that
 * freed nothing is in force) it makes the descriptor readable, once until
 * the next dispatch, which runs the loop.  So every shrinker call the
 * monitor makes happens inside tide_monitor_dispatch(), between two
 * callbacks of the loop.  While the last reading was over high, an
 * allocation the sensor counts on another thread (not one that
 * dispatched or asked for the descriptor, and without %TIDE_NORECLAIM)
 * waits for the loop's next dispatch to end, at most 20 ms, running
 * nothing itself: the loop's reclaim is not outrun by worker threads.
 * The loop's own callbacks are not held up.  Another monitor of the
 * process that holds the sensor (one made earlier) still reclaims in its
 * allocations.
 *
 * Context: the caller's event loop thread; runs reclaim; not while the
 * monitor's own thread runs.  From a shrinker callback (a reclaim already
 * running on this thread) it runs no reclaim: reclaim does not recurse,
 * and the loop that runs the callback goes on.  A tide_monitor_free() of
 * @m on another thread waits for a dispatch under way (which must return:
 * a callback that leaves it by longjmp(), a C++ exception or
 * pthread_exit() leaves that free waiting for good).  No dispatch may
 * begin once the free has been called; one that races its start does
 * nothing and returns 0.
 * Return: 0, -EBUSY when tide_monitor_start() was called, -EINVAL for
 * NULL, -ECHILD in a process that inherited the monitor across fork() (the
 * child's copy of the descriptor is an empty epoll of its own that never
 * becomes readable, and the child's to close: take it out of the loop,
 * close it, free the copy and create a monitor of the child's own),
 * -EBADF once the monitor is lost (the program closed its descriptor, or
 * put another epoll on the number, behind the library's back: from then
 * on no call touches the number again), or -errno from epoll_wait().
 */
TIDE_API int tide_monitor_dispatch(struct tide_monitor *m);

/**
 * tide_monitor_source() - the sources a monitor uses.
 * @m: the monitor.
 *
 * Context: any thread.
 * Return: the mask of TIDE_SOURCE_* bits in use (%TIDE_SOURCE_NONE alone
 * when none is); 0 for NULL.
 */
TIDE_API unsigned tide_monitor_source(const struct tide_monitor *m);

/**
 * tide_monitor_source_name() - name of a TIDE_SOURCE_* bit.
 * @source: one TIDE_SOURCE_* bit.
 *
 * Context: any thread.
 * Return: a static string such as "cgroup1", or "unknown".
 */
TIDE_API const char *tide_monitor_source_name(unsigned source);

/**
 * tide_monitor_stats() - read a monitor's counters.
 * @m: the monitor.
 * @st: filled in.
 *
 * Context: any thread, also while the monitor's thread runs.
 * Return: nothing.
 */
TIDE_API void tide_monitor_stats(struct tide_monitor *m,
				 struct tide_monitor_stats *st);

/**
 * tide_monitor_source_stats() - read the counters of one source.
 * @m: the monitor.
 * @source: one TIDE_SOURCE_* bit in tide_monitor_source(@m).
 * @st: filled in on success only.
 *
 * %TIDE_SOURCE_NONE, when tide_monitor_source(@m) reports it (no source
 * in use), reads all zero: no source delivers anything (a simulated level
 * counts in tide_monitor_stats() only).
 *
 * Context: any thread, also while the monitor's thread runs.
 * Return: 0; -EINVAL for NULL arguments or not exactly one bit; -ENOENT when
 * the monitor does not use @source (%TIDE_SOURCE_NONE included, when it
 * uses another).
 */
TIDE_API int tide_monitor_source_stats(struct tide_monitor *m, unsigned source,
				       struct tide_monitor_source_stats *st);

/**
 * struct tide_monitor_limit - the effective limit a monitor watches.
 * @limit: the effective limit in bytes; 0 when none was found (or none
 *	applies: every limit on the way up is above MemTotal).
 * @working_set: the limiting group's usage minus its inactive file cache,
 *	as last read; 0 when there is no limiting group.
 * @high: high watermark in use (bytes of working set, or of the budget's
 *	measure); 0 when no watermark source runs.
 * @low: low watermark in use; 0 likewise.
 * @version: cgroup version of the limiting group (1 or 2); 0 for none or
 *	for a limit given in the configuration.
 * @dir: directory the limit came from ("" when none), NUL terminated and
 *	cut to fit.
 * @file: limit file there ("memory.limit_in_bytes", "memory.max",
 *	"memory.high") or "config"; "" when none.
 */
struct tide_monitor_limit {
	uint64_t limit, working_set, high, low;
	int version;
	char dir[512];
	char file[32];
};

/**
 * tide_monitor_limit() - the effective limit, where it came from, the
 * working set and the watermarks.
 * @m: the monitor.
 * @ret: filled in on success only.
 *
 * Context: any thread, also while the monitor's thread runs.
 * Return: 0, or -EINVAL for NULL arguments.
 */
TIDE_API int tide_monitor_limit(struct tide_monitor *m,
				struct tide_monitor_limit *ret);

/**
 * tide_monitor_set_watermarks() - change the watermarks at run time.
 * @m: the monitor.
 * @high: new high watermark in bytes (> 0).
 * @low: new low watermark; 0 means 7/8 of @high.
 *
 * Go's debug.SetMemoryLimit: every watermark source (limit watchers and
 * the budget) takes the new pair at the monitor's next check, which it
 * schedules at once.  The pair replaces the configured one for good: the
 * sources re-opened after the process moves to another cgroup take it
 * too.  A cgroup v1 limit watcher's usage-threshold event is registered
 * again at @high (a new eventfd first, then the old one closed).  When
 * its group can no longer take one (removed, or cgroup.event_control no
 * longer writable) the old threshold stays, its events only wake the
 * check, and the poll watches the new pair.  On failure nothing changed:
 * the old pair and the old threshold stay.
 *
 * Context: any thread.
 * Return: 0; -EINVAL for NULL, @high 0 or @low > @high; -EOPNOTSUPP when the
 * monitor runs no watermark source; -ECHILD in a process that inherited
 * the monitor across fork(); -EBADF once the monitor has been found lost
 * (by a tide_monitor_dispatch(), which returns -EBADF from then on, or by
 * its thread): nothing changed, none of its old descriptor numbers
 * touched (they may be the program's files now); -ENOMEM, -EMFILE or
 * -ENFILE when the new threshold cannot be opened.
 */
TIDE_API int tide_monitor_set_watermarks(struct tide_monitor *m, uint64_t high,
					 uint64_t low);

/**
 * tide_monitor_simulate() - deliver a level as if a source had reported it.
 * @m: the monitor.
 * @level: the level to deliver; %TIDE_PRESSURE_NONE ends a simulated level.
 *
 * For programs' own tests (Chromium's SimulatePressureNotification): the
 * level callback and the level's reclaim loop run as for a real signal, on
 * the monitor's thread or at the next tide_monitor_dispatch().
 *
 * Context: any thread.
 * Return: 0; -EINVAL for NULL or a level out of range; -ECHILD in a process
 * that inherited the monitor across fork(); -EBADF once the monitor has
 * been found lost (by a tide_monitor_dispatch(), which returns -EBADF from
 * then on, or by its thread): nothing is delivered, nothing written to
 * its old descriptor numbers (they may be the program's files now).
 */
TIDE_API int tide_monitor_simulate(struct tide_monitor *m,
				   enum tide_pressure_level level);

/**
 * struct tide_purge_stats - what the allocator purge has done.
 * @allocator: the allocator found ("glibc", "jemalloc", "mimalloc",
 *	"tcmalloc" or "unknown").
 * @calls: purges run.
 * @pages: pages they gave back, in total (resident anonymous memory
 *	before minus after, never negative).
 * @last_before: resident anonymous bytes before the last purge.
 * @last_after: resident anonymous bytes after it.
 */
struct tide_purge_stats {
	const char *allocator;
	unsigned long long calls, pages;
	uint64_t last_before, last_after;
};

/**
 * tide_purge() - give the process allocator's free memory back now.
 *
 * Calls the purge of the allocator the process really uses (glibc
 * malloc_trim(0), jemalloc's arena purge, mimalloc's mi_collect(true),
 * tcmalloc's ReleaseFreeMemory), found at run time.  First it gives back
 * the pages of kv's registry of paged blocks that hold no live block.
 * jemalloc purges nothing of an arena that another thread (its background
 * thread, or one whose free set off a decay) is purging: while its
 * statistics show at least 1 MiB still free and resident, and half or
 * more of what there was, the purge is tried again every millisecond, for
 * 500 ms at most.  A wait that ran out with nothing given back (the child
 * of a fork made during another thread's purge, where the arena stays
 * held) makes later purges call once, until one is seen to work.
 *
 * Context: any thread; not async-signal-safe.  Under jemalloc it may
 * sleep, up to 500 ms.
 * Return: pages given back, measured as resident memory before and after
 * (/proc/self/statm); 0 when either reading could not be made, and then
 * &struct tide_purge_stats keeps the last measured figures.
 */
TIDE_API unsigned long tide_purge(void);

/**
 * tide_purge_allocator() - name of the allocator tide_purge() purges.
 *
 * Context: any thread.
 * Return: a static string, see &struct tide_purge_stats.allocator.
 */
TIDE_API const char *tide_purge_allocator(void);

/**
 * tide_purge_stats() - read the purge counters.
 * @st: filled in.
 *
 * Context: any thread.
 * Return: nothing.
 */
TIDE_API void tide_purge_stats(struct tide_purge_stats *st);

/**
 * tide_monitor_free() - stop and destroy a monitor.
 * @m: the monitor, or NULL.
 *
 * Stops and joins the monitor's thread if started, disarms the sensor (it
 * passes to the oldest other live monitor with a limit watcher, if any)
 * and closes every descriptor.  In a process that inherited @m across fork()
 * it only closes that process's copies of the descriptors and frees the
 * memory: the parent's monitor goes on.  Fork handlers take every
 * monitor's lock around fork(), so a child's copy is never caught halfway
 * through a change of its descriptors, and its tide_monitor_stats(),
 * tide_monitor_source_stats() and tide_monitor_limit() never wait.  Those
 * locks are held with the thread's signals blocked: a signal handler that
 * forks runs after the section, never inside it.
 * A control socket listener still reporting on @m (call tide_ctl_close()
 * first) lets go of it: reported, see &struct tide_ctl_config.
 *
 * Context: any thread but the monitor's own: called from a callback the
 * monitor runs (@on_level, a shrinker of its reclaim or of the sensor's)
 * it is reported through the error handler and aborts.  May wait for a
 * running reclaim loop (also one the sensor runs) to finish, for a
 * tide_monitor_dispatch() of @m under way on another thread (the
 * program's loop: its callbacks must not wait for the freeing thread), and
 * for a control socket request under way on another thread.  With a PSI
 * source, each of its triggers' closes waits for an RCU grace period in
 * the kernel: all but one of them (three, one per level) are closed on
 * short-lived threads of their own, side by side with the last (13-28 ms
 * in all on a 2-CPU machine, against 40 ms one after the other;
 * docs/pressure.md).
 * Return: nothing.
 */
TIDE_API void tide_monitor_free(struct tide_monitor *m);

#ifdef __cplusplus
}
#endif

#endif /* TIDE_PRESSURE_H */
