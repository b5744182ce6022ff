// SPDX-License-Identifier: MIT
/*
 * test_pressure_move.c - what a monitor's sources follow at run time: the
 * process moving to another cgroup (the budget in cgroup mode and graded
 * PSI on the own v2 group, as the limit watchers in
 * test_pressure_cgroup.c), a /proc/self/cgroup of any length, and the v1
 * usage threshold that tide_monitor_set_watermarks() moves (against a
 * fake v1 directory here: every failure must leave the old threshold; the
 * real kernel's event is in test_pressure_cgroup.c).
 *
 * This host's cgroup v2 hierarchy has no memory controller: the budget
 * reads memory.current from fake trees that discovery is pointed at
 * through the configuration's path fields.  Graded PSI needs a real
 * cgroupfs memory.pressure (a file anywhere else is refused before a
 * byte is written), which every v2 group has with or without the memory
 * controller: that test makes two real v2 groups and points only
 * /proc/self/cgroup at a fake file; it skips without a writable v2
 * hierarchy.
 */
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/stat.h>

#include <tide.h>

#include "harness.h"
#include "pressure/monitor.h"

#define MiB (UINT64_C(1) << 20)

/* ---- fake trees ----------------------------------------------------------- */

static char tree[64];

static const char *at(const char *rel)
{
	static char slot[4][PATH_MAX];
	static int next;
	char *p = slot[next++ % 4];

	snprintf(p, PATH_MAX, "%s/%s", tree, rel);
	return p;
}

/* Write @text to @rel in the tree, creating its directory (one level). */
static void put(const char *rel, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void put(const char *rel, const char *fmt, ...)
{
	static char buf[16384];
	char path[PATH_MAX], *slash;
	va_list ap;
	int n, fd;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	CHECK(n >= 0 && (size_t)n < sizeof(buf));
	snprintf(path, sizeof(path), "%s", at(rel));
	slash = strrchr(path, '/');
	*slash = 0;
	for (char *p = path + strlen(tree) + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		mkdir(path, 0755);
		*p = '/';
	}
	mkdir(path, 0755);
	*slash = '/';
	/* written whole then renamed: a reader never sees half of it */
	snprintf(path + strlen(path), 8, ".new");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, buf, (size_t)n), n);
	close(fd);
	CHECK_EQ(rename(path, at(rel)), 0);
}

static void tree_init(void)
{
	snprintf(tree, sizeof(tree), "/tmp/tide-move-XXXXXX");
	CHECK(mkdtemp(tree));
	put("proc/meminfo", "MemTotal:       16777216 kB\n");
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void tree_done(void)
{
	nftw(tree, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static uint64_t budget_value(struct tide_monitor *m)
{
	struct tide_monitor_source_stats st;

	CHECK_EQ(tide_monitor_source_stats(m, TIDE_SOURCE_BUDGET, &st), 0);
	return st.value;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the budget in cgroup mode follows a move ------------------------------ */

/*
 * A v2 hierarchy mounted at <tree>/unified with groups a (10 MiB) and b
 * (20 MiB), and /proc/self/cgroup saying "0::/@group" after @pad bytes of
 * named v1 hierarchies (lines that are nobody's memory controller).
 */
static char padding[8192];

static void put_self(const char *group)
{
	put("proc/cgroup", "%s0::/%s\n", padding, group);
}

static void v2_tree(size_t pad)
{
	size_t n = 0;

	tree_init();
	padding[0] = 0;
	for (int i = 100; n + 64 < pad; i++)
		n += (size_t)snprintf(padding + n, sizeof(padding) - n,
				      "%d:name=tide-padding-hierarchy-%d:/\n",
				      i, i);
	put("proc/mountinfo",
	    "40 30 0:37 / %s/unified rw,nosuid shared:9 - cgroup2 cgroup2 "
	    "rw\n",
	    tree);
	put("unified/a/memory.current", "%llu\n",
	    (unsigned long long)(10 * MiB));
	put("unified/b/memory.current", "%llu\n",
	    (unsigned long long)(20 * MiB));
	put_self("a");
}

static void budget_config(struct tide_monitor_config *cfg)
{
	*cfg = (struct tide_monitor_config){
		.size = sizeof(*cfg),
		.sources = TIDE_SOURCE_BUDGET,
		.budget = TIDE_BUDGET_CGROUP,
		.high_watermark = 100 * MiB,
		.poll_interval_ms = 10,
		.flags = TIDE_MONITOR_NO_TRIM,
	};
	cfg->proc_cgroup_path = at("proc/cgroup");
	cfg->mountinfo_path = at("proc/mountinfo");
	cfg->meminfo_path = at("proc/meminfo");
}

/* Tick until the budget reads @want (at most @ms); the ms it took. */
static uint64_t wait_value(struct tide_monitor *m, uint64_t want, int ms)
{
	uint64_t t0 = now_ms();

	while (budget_value(m) != want && now_ms() - t0 < (uint64_t)ms)
		th_tick(m, 50);
	return now_ms() - t0;
}

/*
 * The budget reads the own group's memory.current; moved to b, it reads
 * b's at the next poll.  Then moved back to a while its open fails (the
 * last failable call of a move, counted on the move to b): the budget is
 * gone for a second, then tried again and back on a.
 */
TEST(budget_in_cgroup_mode_follows_a_move)
{
	struct tide_monitor_config cfg;
	struct tide__os_stats a, b;
	struct tide_monitor *m = NULL;
	uint64_t took;

	v2_tree(0);
	budget_config(&cfg);
	CHECK_EQ(tide_monitor_new(&m, &cfg), 0);
	CHECK_EQ(tide_monitor_source(m), TIDE_SOURCE_BUDGET);
	CHECK(th_tick(m, 1000));
	CHECK_UEQ(budget_value(m), 10 * MiB);

	put_self("b");
	tide__os_stats(&a);
	CHECK(th_tick(m, 1000));
	tide__os_stats(&b);
	CHECK_UEQ(budget_value(m), 20 * MiB);
	CHECK_EQ(tide_monitor_source(m), TIDE_SOURCE_BUDGET);

	put_self("a");
	tide__fault_set(b.failable_calls - a.failable_calls, false);
	CHECK(th_tick(m, 1000));
	CHECK_UEQ(tide__fault_hits(), 1);
	tide__fault_clear();
	CHECK_EQ(tide_monitor_source(m), TIDE_SOURCE_NONE);
	CHECK_EQ(tide_monitor_source_stats(
			 m, TIDE_SOURCE_BUDGET,
			 &(struct tide_monitor_source_stats){ 0 }),
		 -ENOENT);
	took = now_ms();
	while (tide_monitor_source(m) != TIDE_SOURCE_BUDGET &&
	       now_ms() - took < 3000)
		th_tick(m, 100);
	took = now_ms() - took;
	th_note("budget back after %llu ms", (unsigned long long)took);
	CHECK_EQ(tide_monitor_source(m), TIDE_SOURCE_BUDGET);
	CHECK_CMP(took, >=, 800);
	CHECK_CMP(wait_value(m, 10 * MiB, 1000), <, 1000);
	CHECK_UEQ(budget_value(m), 10 * MiB);
	tide_monitor_free(m);
	tree_done();
}

/*
 * /proc/self/cgroup longer than a page (a host with many named
 * hierarchies): a move is still seen, also one that keeps the length.
 */
TEST(move_seen_in_a_proc_self_cgroup_over_4_kib)
{
	struct tide_monitor_config cfg;
	struct tide_monitor *m = NULL;
	struct stat st;

	v2_tree(6000);
	CHECK_EQ(stat(at("proc/cgroup"), &st), 0);
	CHECK_CMP(st.st_size, >, 4096);
	budget_config(&cfg);
	CHECK_EQ(tide_monitor_new(&m, &cfg), 0);
	CHECK(th_tick(m, 1000));
	CHECK_UEQ(budget_value(m), 10 * MiB);
	put_self("b"); /* same length */
	CHECK_CMP(wait_value(m, 20 * MiB, 1000), <, 1000);
	CHECK_UEQ(budget_value(m), 20 * MiB);
	put_self("a");
	CHECK_CMP(wait_value(m, 10 * MiB, 1000), <, 1000);
	CHECK_UEQ(budget_value(m), 10 * MiB);
	tide_monitor_free(m);
	tree_done();
}

/* ---- a limit changed in place --------------------------------------------- */

static struct tide_monitor_limit limit_of(struct tide_monitor *m)
{
	struct tide_monitor_limit l;

	CHECK_EQ(tide_monitor_limit(m, &l), 0);
	return l;
}

/* The monitor's limit and watermarks are @limit, @high and @low MiB. */
static void check_limit(struct tide_monitor *m, uint64_t limit, uint64_t high,
			uint64_t low)
{
	struct tide_monitor_limit l = limit_of(m);

	CHECK_UEQ(l.limit, limit * MiB);
	CHECK_UEQ(l.high, high * MiB);
	CHECK_UEQ(l.low, low * MiB);
}

/* Tick until the monitor's limit reads @want (at most @ms); the ms taken. */
static uint64_t wait_limit(struct tide_monitor *m, uint64_t want, int ms)
{
	uint64_t t0 = now_ms();

	while (limit_of(m).limit != want && now_ms() - t0 < (uint64_t)ms)
		th_tick(m, 100);
	return now_ms() - t0;
}

/* @cfg for the limit watcher of limit_tree(), default watermarks. */
static void limit_config(struct tide_monitor_config *cfg)
{
	budget_config(cfg);
	cfg->sources = TIDE_SOURCE_CGROUP2 | TIDE_SOURCE_NONE;
	cfg->high_watermark = 0;
}

/*
 * The v2 tree with group a limited to 1 GiB (memory.max), and @cfg for a
 * limit watcher that discovers it (the paths made afresh: at() reuses its
 * slots).
 */
static void limit_tree(struct tide_monitor_config *cfg)
{
	v2_tree(0);
	put("unified/a/memory.high", "max\n");
	put("unified/a/memory.max", "%llu\n", (unsigned long long)(1024 * MiB));
	put("unified/a/memory.events", "low 0\nhigh 0\nmax 0\noom 0\n");
	limit_config(cfg);
}

/*
 * memory.max of group a set to @mib MiB: the monitor sees it (within the
 * 2 s limit check and 5 s) with watermarks @high and @low MiB.
 */
static void new_limit(struct tide_monitor *m, uint64_t mib, uint64_t high,
		      uint64_t low)
{
	struct tide_monitor_limit l;

	put("unified/a/memory.max", "%llu\n", (unsigned long long)(mib * MiB));
	CHECK_CMP(wait_limit(m, mib * MiB, 5000), <, 5000);
	l = limit_of(m);
	CHECK_UEQ(l.high, high * MiB);
	CHECK_UEQ(l.low, low * MiB);
}

/*
 * The own group's memory.max lowered in place (systemctl set-property,
 * docker update -m): the monitor reads the new limit within the limit
 * check's 2 s and its default watermarks follow (3/4 and 5/8 of it), as
 * they do when raised again.  Up to 0.2.9 it kept the limit it found at
 * creation: a trial's process was OOM-killed under a limit lowered from
 * 1 GiB to 200 MiB, its monitor still waiting for 768 MiB.
 */
TEST(a_limit_changed_in_place_moves_the_watermarks)
{
	struct tide_monitor_config cfg;
	struct tide_monitor_limit l;
	struct tide_monitor *m = NULL;
	uint64_t took;

	limit_tree(&cfg);
	cfg.high_watermark = 0;
	CHECK_EQ(tide_monitor_new(&m, &cfg), 0);
	CHECK_EQ(tide_monitor_source(m), TIDE_SOURCE_CGROUP2);
	check_limit(m, 1024, 768, 640);
	CHECK_STR(limit_of(m).file, "memory.max");

	put("unified/a/memory.max", "%llu\n", (unsigned long long)(200 * MiB));
	took = wait_limit(m, 200 * MiB, 5000);
	th_note("200 MiB seen after %llu ms", (unsigned long long)took);
	l = limit_of(m);
	CHECK_UEQ(l.limit, 200 * MiB);
	CHECK_UEQ(l.high, 150 * MiB);
	CHECK_UEQ(l.low, 125 * MiB);
	CHECK_EQ(tide_monitor_source(m), TIDE_SOURCE_CGROUP2);
	/* memory.high below memory.max: the limit becomes memory.high */
	put("unified/a/memory.high", "%llu\n", (unsigned long long)(100 * MiB));
	CHECK_CMP(wait_limit(m, 100 * MiB, 5000), <, 5000);
	CHECK_STR(limit_of(m).file, "memory.high");
	put("unified/a/memory.high", "max\n");
	put("unified/a/memory.max", "max\n");
	CHECK_CMP(wait_limit(m, 0, 5000), <, 5000);
	CHECK_EQ(tide_monitor_source(m), TIDE_SOURCE_NONE);
	{
		struct tide_monitor_stats st;

		/* no watermark source left: no usage (not the last read) */
		tide_monitor_stats(m, &st);
		CHECK_UEQ(st.usage, 0);
	}
	tide_monitor_free(m);
	tree_done();
}

/*
 * Watermarks given in bytes (600/500 MiB under 1 GiB) and a limit lowered
 * under them (200 MiB): they could never fire, and the limit's defaults
 * are used while the limit stays there; raised again, the bytes are back.
 * Watermarks given as percentages (the preload shim's TIDE_HIGH=50%,
 * tide__monitor_fractions()) are made again from the new limit.
 */
TEST(watermarks_in_bytes_or_percent_follow_a_changed_limit)
{
	struct tide_monitor_config cfg;
	struct tide_monitor_limit l;
	struct tide_monitor *m = NULL;

	limit_tree(&cfg);
	cfg.high_watermark = 600 * MiB;
	cfg.low_watermark = 500 * MiB;
	CHECK_EQ(tide_monitor_new(&m, &cfg), 0);
	l = limit_of(m);
	CHECK_UEQ(l.high, 600 * MiB);
	CHECK_UEQ(l.low, 500 * MiB);
	new_limit(m, 200, 150, 125);
	new_limit(m, 1024, 600, 500);
	tide_monitor_free(m);

	/* 50% and 40% of the limit, as the shim passes them */
	limit_config(&cfg);
	cfg.high_watermark = 512 * MiB;
	cfg.low_watermark = (1024 * MiB) / 100 * 40;
	CHECK_EQ(tide_monitor_new(&m, &cfg), 0);
	tide__monitor_fractions(m, 0, 50, 40);
	new_limit(m, 400, 200, 160);
	/* set_watermarks() in bytes ends the following */
	CHECK_EQ(tide_monitor_set_watermarks(m, 300 * MiB, 250 * MiB), 0);
	new_limit(m, 800, 300, 250);
	tide_monitor_free(m);
	tree_done();
}

/*
 * Write @text into @rel in place, as a cgroup file changes (put() renames
 * a new file over it, which a descriptor open on the old one never sees).
 * Not through at(): a running monitor's configured paths are in its slots.
 */
static void put_in_place(const char *rel, const char *text)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", tree, rel);
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);

	CHECK(fd >= 0);
	CHECK_EQ(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* The tree's file @rel removed (a chroot where it is out of reach). */
static void gone(const char *rel)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", tree, rel);
	CHECK_EQ(unlink(path), 0);
}

/*
 * Tick until the limit the monitor's discovery found is @want (at most
 * @ms); the ms taken.  Not through tide_monitor_limit(): its reading of
 * the working set would read the limit's file itself.
 */
static uint64_t wait_found(struct tide_monitor *m, uint64_t want, int ms)
{
	uint64_t t0 = now_ms();

	while (m->cg.limit != want && now_ms() - t0 < (uint64_t)ms)
		th_tick(m, 50);
	return now_ms() - t0;
}

/*
 * A limit lowered in place is seen at the watcher's next reading, not only
 * at the discovery every 2 s.  With the default poll (a reading a second
 * far from high), a change made right after the monitor was made (its
 * first discovery 2 s away) is followed after the first reading, about
 * 1 s; so is one made right after a change was seen (the next discovery
 * 2 s away again).  Without a poll, the allocation sensor's reading a step
 * of allocations on sees it at once.  Up to 0.2.10 it took up to 2 s,
 * while a trial's process grew 165 MiB in 0.9 s into a limit lowered from
 * 1 GiB to 300 MiB: OOM-killed 7 of 14 runs.  The v2 limit (memory.max)
 * and a v1 limit above the mount root (memory.stat's
 * hierarchical_memory_limit) alike.
 */
TEST(a_limit_lowered_in_place_is_seen_at_the_next_reading)
{
	struct tide_monitor_config cfg;
	struct tide_monitor *m = NULL;
	uint64_t took;
	void *p;

	limit_tree(&cfg);
	cfg.poll_interval_ms = 0; /* the default: 1 s far from high */
	CHECK_EQ(tide_monitor_new(&m, &cfg), 0);
	CHECK_UEQ(m->cg.limit, 1024 * MiB);
	put_in_place("unified/a/memory.max", "314572800\n");
	took = wait_found(m, 300 * MiB, 5000);
	th_note("300 MiB seen after %llu ms", (unsigned long long)took);
	CHECK_CMP(took, <, 1500);
	CHECK_UEQ(limit_of(m).high, 225 * MiB);
	put_in_place("unified/a/memory.max", "209715200\n");
	took = wait_found(m, 200 * MiB, 5000);
	th_note("200 MiB seen after %llu ms", (unsigned long long)took);
	CHECK_CMP(took, <, 1500);
	tide_monitor_free(m);

	/* no poll for a minute: the sensor's reading (paged blocks, never
	 * touched, cost no memory; past its step, an eighth of 758 MiB) */
	put("unified/a/memory.max", "%llu\n", (unsigned long long)(1024 * MiB));
	limit_config(&cfg); /* its paths afresh: at() reuses its slots */
	cfg.poll_interval_ms = 60000;
	CHECK_EQ(tide_monitor_new(&m, &cfg), 0);
	CHECK_UEQ(m->cg.limit, 1024 * MiB);
	th_tick(m, 10); /* polled by this test's loop from now on */
	put_in_place("unified/a/memory.max", "314572800\n");
	p = tide_kvmalloc(200 * MiB, 0);
	CHECK(p);
	took = wait_found(m, 300 * MiB, 5000);
	tide_kvfree(p);
	th_note("sensor: 300 MiB seen after %llu ms", (unsigned long long)took);
	CHECK_CMP(took, <, 500);
	tide_monitor_free(m);
	tree_done();

	/* v1, the limit on a group above the mount root */
	tree_init();
	put("proc/cgroup", "4:memory:/\n");
	put("proc/mountinfo",
	    "34 30 0:31 / %s/memory rw - cgroup cgroup rw,memory\n", tree);
	put("memory/memory.limit_in_bytes", "9223372036854771712\n");
	put("memory/memory.usage_in_bytes", "%llu\n",
	    (unsigned long long)(10 * MiB));
	put("memory/memory.stat", "hierarchical_memory_limit 314572800\n"
				  "total_inactive_file 0\n");
	put("memory/cgroup.event_control", "%s", "");
	budget_config(&cfg);
	cfg.sources = TIDE_SOURCE_CGROUP1 | TIDE_SOURCE_NONE;
	cfg.high_watermark = 0;
	cfg.poll_interval_ms = 0;
	CHECK_EQ(tide_monitor_new(&m, &cfg), 0);
	CHECK_EQ(tide_monitor_source(m), TIDE_SOURCE_CGROUP1);
	CHECK_UEQ(m->cg.limit, 300 * MiB);
	CHECK_STR(limit_of(m).file, "memory.stat");
	put_in_place("memory/memory.stat",
		     "hierarchical_memory_limit "
		     "209715200\ntotal_inactive_file 0\n");
	took = wait_found(m, 200 * MiB, 5000);
	th_note("v1: 200 MiB seen after %llu ms", (unsigned long long)took);
	CHECK_CMP(took, <, 1500);
	CHECK_UEQ(limit_of(m).high, 150 * MiB);
	tide_monitor_free(m);
	tree_done();
}

/*
 * A daemon that chrooted where there is no /proc cannot read
 * /proc/self/cgroup, so no discovery runs: a limit changed in place is
 * followed from the watcher's own reading of its limit's file, which it
 * keeps open, with the sources left as they are.  A user trial: the
 * monitor asked for a discovery every millisecond (700 wake-ups a second)
 * and kept the old limit's watermarks.  Here /proc/self/cgroup (the
 * test's file) is removed after the monitor was made.
 */
TEST(a_limit_changed_in_place_is_followed_without_proc_self_cgroup)
{
	struct tide_monitor_config cfg;
	struct tide_monitor_limit l;
	struct tide_monitor *m = NULL;
	uint64_t took;

	limit_tree(&cfg);
	CHECK_EQ(tide_monitor_new(&m, &cfg), 0);
	CHECK_EQ(tide_monitor_source(m), TIDE_SOURCE_CGROUP2);
	CHECK_UEQ(m->cg.limit, 1024 * MiB);
	gone("proc/cgroup");
	gone("proc/mountinfo");

	put_in_place("unified/a/memory.max", "209715200\n");
	took = wait_found(m, 200 * MiB, 5000);
	th_note("200 MiB followed after %llu ms", (unsigned long long)took);
	CHECK_UEQ(m->cg.limit, 200 * MiB);
	l = limit_of(m);
	CHECK_UEQ(l.limit, 200 * MiB);
	CHECK_UEQ(l.high, 150 * MiB);
	CHECK_UEQ(l.low, 125 * MiB);
	CHECK_STR(l.file, "memory.max");
	CHECK_EQ(tide_monitor_source(m), TIDE_SOURCE_CGROUP2);
	/* no discovery is waited for: the monitor sleeps its poll */
	th_tick(m, 50);
	CHECK_EQ(tide__mon_limit_nudge_ms(m), 0);

	/* bytes the program set, past a lowered limit: its defaults, then
	 * the bytes again once it is raised */
	CHECK_EQ(tide_monitor_set_watermarks(m, 120 * MiB, 100 * MiB), 0);
	put_in_place("unified/a/memory.max", "104857600\n");
	CHECK_CMP(wait_found(m, 100 * MiB, 5000), <, 5000);
	l = limit_of(m);
	CHECK_UEQ(l.high, 75 * MiB);
	CHECK_UEQ(l.low, 5 * MiB * 25 / 2);
	put_in_place("unified/a/memory.max", "314572800\n");
	CHECK_CMP(wait_found(m, 300 * MiB, 5000), <, 5000);
	l = limit_of(m);
	CHECK_UEQ(l.high, 120 * MiB);
	CHECK_UEQ(l.low, 100 * MiB);
	/*
	 * raised past the limit the last discovery found (1 GiB): no
	 * higher than that, as another limit may apply that only a
	 * discovery sees (memory.high, an ancestor's; a review)
	 */
	put_in_place("unified/a/memory.max", "4294967296\n");
	CHECK_CMP(wait_found(m, 1024 * MiB, 5000), <, 5000);
	l = limit_of(m);
	CHECK_UEQ(l.limit, 1024 * MiB);
	CHECK_UEQ(l.high, 120 * MiB); /* the program's bytes, under it */
	put_in_place("unified/a/memory.max", "314572800\n");
	CHECK_CMP(wait_found(m, 300 * MiB, 5000), <, 5000);
	/* a limit removed (v2 "max") keeps the last one */
	put_in_place("unified/a/memory.max", "max\n");
	for (int i = 0; i < 10; i++)
		th_tick(m, 50);
	CHECK_UEQ(m->cg.limit, 300 * MiB);
	CHECK_EQ(tide__mon_limit_nudge_ms(m), 0);
	tide_monitor_free(m);
	tree_done();
}

/*
 * The same where /proc/self/cgroup can be read but the cgroup mounts
 * cannot (a chroot with /proc but no /sys): the discovery fails, and the
 * change the watcher read is followed in place (a review: it was not).
 */
TEST(a_limit_changed_in_place_is_followed_without_the_cgroup_mount)
{
	struct tide_monitor_config cfg;
	struct tide_monitor *m = NULL;
	uint64_t took;

	limit_tree(&cfg);
	CHECK_EQ(tide_monitor_new(&m, &cfg), 0);
	CHECK_UEQ(m->cg.limit, 1024 * MiB);
	gone("proc/mountinfo");
	put_in_place("unified/a/memory.max", "209715200\n");
	took = wait_found(m, 200 * MiB, 5000);
	th_note("200 MiB followed after %llu ms", (unsigned long long)took);
	CHECK_UEQ(m->cg.limit, 200 * MiB);
	CHECK_UEQ(limit_of(m).high, 150 * MiB);
	th_tick(m, 50);
	CHECK_EQ(tide__mon_limit_nudge_ms(m), 0);
	tide_monitor_free(m);
	tree_done();
}

/*
 * A low watermark given alone (high left to the limit's 3/4) over the
 * high of a limit found or lowered under 4/3 of it would make no pair:
 * the limit's default low (5/8) applies instead, at creation, after a
 * discovery and followed in place, until a limit whose high is at or over
 * it brings it back.  Up to 0.2.27 that pair was -EINVAL: the monitor
 * failed at creation, a discovery dropped the limit watcher without a
 * word (a user trial: sources 0x14 became 0x4 when a v1 limit went from
 * 1 GiB to 700 MiB), and a chrooted monitor kept the old high, over the
 * new limit.
 */
TEST(a_low_watermark_given_alone_gives_way_under_a_lowered_limit)
{
	struct tide_monitor_config cfg;
	struct tide_monitor *m = NULL;

	limit_tree(&cfg);
	cfg.low_watermark = 600 * MiB;
	CHECK_EQ(tide_monitor_new(&m, &cfg), 0);
	check_limit(m, 1024, 768, 600);
	new_limit(m, 640, 480, 400);
	CHECK_EQ(tide_monitor_source(m), TIDE_SOURCE_CGROUP2);
	tide_monitor_free(m);

	/* found so at creation; raised, the low given is back */
	limit_config(&cfg);
	cfg.low_watermark = 600 * MiB;
	CHECK_EQ(tide_monitor_new(&m, &cfg), 0);
	CHECK_EQ(tide_monitor_source(m), TIDE_SOURCE_CGROUP2);
	check_limit(m, 640, 480, 400);
	new_limit(m, 1024, 768, 600);
	tide_monitor_free(m);
	/* a high of 600 MiB holds it */
	put("unified/a/memory.max", "%llu\n", (unsigned long long)(800 * MiB));
	limit_config(&cfg);
	cfg.low_watermark = 600 * MiB;
	CHECK_EQ(tide_monitor_new(&m, &cfg), 0);
	check_limit(m, 800, 600, 600);
	tide_monitor_free(m);
	tree_done();

	/* followed in place, with no discovery (a chroot) */
	limit_tree(&cfg);
	cfg.low_watermark = 600 * MiB;
	CHECK_EQ(tide_monitor_new(&m, &cfg), 0);
	gone("proc/cgroup");
	gone("proc/mountinfo");
	put_in_place("unified/a/memory.max", "671088640\n");
	CHECK_CMP(wait_found(m, 640 * MiB, 5000), <, 5000);
	check_limit(m, 640, 480, 400);
	CHECK_EQ(tide_monitor_source(m), TIDE_SOURCE_CGROUP2);
	tide_monitor_free(m);
	tree_done();
}

/* What the watermarks are made of, as ctl's "monitor" answer says. */
static const char *kind_of(struct tide_monitor *m)
{
	static char buf[32];

	tide__monitor_watermarks_kind(m, buf, sizeof(buf));
	return buf;
}

/* tide__monitor_tune(): @t's pair is set; what it set in bytes. */
static void tune(struct tide_monitor *m, struct tide__tune t, uint64_t high,
		 uint64_t low)
{
	uint64_t h = 0, l = 0;
	struct tide_monitor_limit lim;

	CHECK_EQ(tide__monitor_tune(m, &t, &h, &l), 0);
	CHECK_UEQ(h, high);
	CHECK_UEQ(l, low);
	lim = limit_of(m);
	CHECK_UEQ(lim.high, high);
	CHECK_UEQ(lim.low, low);
}

/*
 * tidectl's "watermarks" (tide__monitor_tune()) under a 1 GiB limit:
 * bytes are set as tide_monitor_set_watermarks() sets them (and follow a
 * limit as bytes do, watermarks_in_bytes_or_percent_follow_a_changed_limit);
 * percentages and "default" are made again from each new limit.  Mixed
 * kinds, a low above the high, a watermark under 1 MiB, a high at or above
 * the limit, and a percentage without a limit change nothing.
 */
TEST(watermarks_an_operator_sets_follow_the_limit_as_given)
{
	struct tide_monitor_config cfg;
	struct tide_monitor *m = NULL;
	uint64_t h = 1, l = 2;
	struct tide_monitor_limit lim;

	limit_tree(&cfg);
	CHECK_EQ(tide_monitor_new(&m, &cfg), 0);
	CHECK_STR(kind_of(m), "default");
	/* bytes (low 0 is 7/8 of high): as tide_monitor_set_watermarks() */
	tune(m, (struct tide__tune){ .high = 512 * MiB }, 512 * MiB, 448 * MiB);
	CHECK_STR(kind_of(m), "bytes");
	/* percentages of the limit, followed */
	tune(m, (struct tide__tune){ .high_pct = 50, .low_pct = 40 }, 512 * MiB,
	     (1024 * MiB) * 40 / 100);
	CHECK_STR(kind_of(m), "50%,40%");
	new_limit(m, 400, 200, 160);
	/* a percentage without low: 7/8 of the high, followed */
	tune(m, (struct tide__tune){ .high_pct = 80 }, 320 * MiB, 280 * MiB);
	CHECK_STR(kind_of(m), "80%");
	new_limit(m, 800, 640, 560);
	/* back to the defaults: 3/4 and 5/8 of each limit */
	tune(m, (struct tide__tune){ 0 }, 600 * MiB, 500 * MiB);
	CHECK_STR(kind_of(m), "default");
	new_limit(m, 1024, 768, 640);

	/* refused, nothing changed */
	CHECK_EQ(tide__monitor_tune(m,
				    &(struct tide__tune){ .high = 100 * MiB,
							  .low = 200 * MiB },
				    &h, &l),
		 -EINVAL);
	CHECK_EQ(tide__monitor_tune(
			 m, &(struct tide__tune){ .high_pct = 50, .low = MiB },
			 &h, &l),
		 -EINVAL);
	CHECK_EQ(tide__monitor_tune(m,
				    &(struct tide__tune){ .high = 100 * MiB,
							  .low_pct = 10 },
				    &h, &l),
		 -EINVAL);
	CHECK_EQ(tide__monitor_tune(m, &(struct tide__tune){ .low = MiB }, &h,
				    &l),
		 -EINVAL);
	CHECK_EQ(tide__monitor_tune(m, &(struct tide__tune){ .high_pct = 101 },
				    &h, &l),
		 -EINVAL);
	CHECK_EQ(tide__monitor_tune(m, &(struct tide__tune){ .high = MiB - 1 },
				    &h, &l),
		 -ERANGE);
	CHECK_EQ(tide__monitor_tune(m,
				    &(struct tide__tune){ .high = 2 * MiB,
							  .low = MiB - 1 },
				    &h, &l),
		 -ERANGE);
	/* at or above the 1 GiB limit: never reached */
	CHECK_EQ(tide__monitor_tune(
			 m, &(struct tide__tune){ .high = 1024 * MiB }, &h, &l),
		 -EFBIG);
	CHECK_EQ(tide__monitor_tune(m, &(struct tide__tune){ .high_pct = 100 },
				    &h, &l),
		 -EFBIG);
	CHECK_UEQ(h, 1);
	CHECK_UEQ(l, 2);
	lim = limit_of(m);
	CHECK_UEQ(lim.high, 768 * MiB);
	CHECK_UEQ(lim.low, 640 * MiB);
	tide_monitor_free(m);

	/* a budget without a limit: bytes only */
	put("unified/a/memory.max", "max\n");
	budget_config(&cfg);
	CHECK_EQ(tide_monitor_new(&m, &cfg), 0);
	CHECK_EQ(tide__monitor_tune(m, &(struct tide__tune){ .high_pct = 50 },
				    &h, &l),
		 -ENODEV);
	CHECK_EQ(tide__monitor_tune(m, &(struct tide__tune){ 0 }, &h, &l),
		 -ENODEV);
	tune(m, (struct tide__tune){ .high = 64 * MiB, .low = 32 * MiB },
	     64 * MiB, 32 * MiB);
	tide_monitor_free(m);
	tree_done();
}

/* ---- the sensor passes on when a move leaves its monitor without a limit */

static struct tide_monitor_stats mon_stats(struct tide_monitor *m)
{
	struct tide_monitor_stats st;

	tide_monitor_stats(m, &st);
	return st;
}

/*
 * Watermarks given in bytes at or over the limit found at creation
 * (1100/900 MiB, or a high of 1024 MiB, under 1 GiB) could never fire: the
 * limit's defaults (768/640 MiB) are used from the start, as after a limit
 * lowered under them, so 800 MiB in use is over high and an allocation's
 * reading counts the event; a limit raised above them (2 GiB) brings the
 * bytes back.  Just under the limit (1000 MiB) they are kept, with their
 * own low (7/8 of high), and 800 MiB is under them.  Up to 0.2.25 they
 * were kept at creation, and the program had no reclaim until the OOM
 * kill.
 */
TEST(watermarks_in_bytes_over_the_limit_at_creation_use_its_defaults)
{
	struct tide_monitor_config cfg;
	struct tide_monitor *m = NULL;
	void *p;

	limit_tree(&cfg);
	put("unified/a/memory.current", "%llu\n",
	    (unsigned long long)(800 * MiB));
	limit_config(&cfg); /* its paths again: put() reuses at()'s slots */
	cfg.high_watermark = 1100 * MiB;
	cfg.low_watermark = 900 * MiB;
	CHECK_EQ(tide_monitor_new(&m, &cfg), 0);
	CHECK_EQ(tide_monitor_source(m), TIDE_SOURCE_CGROUP2);
	check_limit(m, 1024, 768, 640);
	p = tide_kvmalloc(2u << 20, 0);
	tide_kvfree(p);
	CHECK_UEQ(mon_stats(m).events, 1);
	new_limit(m, 2048, 1100, 900);
	tide_monitor_free(m);

	put("unified/a/memory.max", "%llu\n", (unsigned long long)(1024 * MiB));
	limit_config(&cfg);
	cfg.high_watermark = 1024 * MiB; /* at the limit */
	CHECK_EQ(tide_monitor_new(&m, &cfg), 0);
	check_limit(m, 1024, 768, 640);
	tide_monitor_free(m);

	cfg.high_watermark = 1000 * MiB; /* under it: kept */
	CHECK_EQ(tide_monitor_new(&m, &cfg), 0);
	check_limit(m, 1024, 1000, 875);
	p = tide_kvmalloc(2u << 20, 0);
	tide_kvfree(p);
	CHECK_UEQ(mon_stats(m).events, 0);
	tide_monitor_free(m);
	tree_done();
}

/*
 * A follows the process (discovery): on group a (memory.high 100 MiB,
 * 90 MiB used: over high) its v2 limit watcher arms the sensor; B watches
 * a's directory as configured.  Moved to b (no limit), A has no limit
 * watcher left: the sensor passes to B, which measures the next charge.
 */
TEST(sensor_passes_on_when_a_move_leaves_its_monitor_without_a_limit)
{
	struct tide_monitor_config ca, cb;
	struct tide_monitor *a = NULL, *b = NULL;
	void *p;

	v2_tree(0);
	put("unified/a/memory.high", "%llu\n", (unsigned long long)(100 * MiB));
	put("unified/a/memory.max", "max\n");
	put("unified/a/memory.current", "%llu\n",
	    (unsigned long long)(90 * MiB));
	put("unified/a/memory.events", "low 0\nhigh 0\nmax 0\noom 0\n");
	put("unified/b/memory.high", "max\n");
	put("unified/b/memory.max", "max\n");
	put("unified/b/memory.events", "low 0\nhigh 0\nmax 0\noom 0\n");
	budget_config(&ca);
	ca.sources = TIDE_SOURCE_CGROUP2 | TIDE_SOURCE_NONE;
	ca.high_watermark = 0;
	cb = ca;
	cb.cgroup2_dir = at("unified/a");
	CHECK_EQ(tide_monitor_new(&a, &ca), 0);
	CHECK_EQ(tide_monitor_source(a), TIDE_SOURCE_CGROUP2);
	CHECK_EQ(tide_monitor_new(&b, &cb), 0);
	CHECK_EQ(tide_monitor_source(b), TIDE_SOURCE_CGROUP2);
	p = tide_kvmalloc(2u << 20, 0);
	tide_kvfree(p);
	CHECK_UEQ(mon_stats(a).events, 1);
	CHECK_UEQ(mon_stats(b).events, 0);

	put_self("b");
	CHECK(th_tick(a, 1000));
	CHECK_EQ(tide_monitor_source(a), TIDE_SOURCE_NONE);
	p = tide_kvmalloc(2u << 20, 0);
	tide_kvfree(p);
	CHECK_UEQ(mon_stats(a).events, 1);
	CHECK_UEQ(mon_stats(b).events, 1);
	tide_monitor_free(b);
	tide_monitor_free(a);
	tree_done();
}

/* ---- a charge's shrinker frees a monitor that is following a move --------- */

/*
 * A monitor's thread re-opens its sources after a move under the sensor's
 * write lock: suspend, then arm (the new group has a limit) or pass (it
 * has none).  A shrinker that an allocation's charge runs holds the read
 * lock; when it frees that monitor, tide_monitor_free() joins the thread,
 * which waited for the write lock the joiner held: the program hung (the
 * 0.2.6 release note).  The hook stops the monitor's thread just before
 * it takes the lock for @what; the charge's shrinker lets it go, waits
 * until it is blocked on the lock, moves its watermarks (a monitor's own
 * lock only: never waits for the write lock) and frees it.
 */
static const char *_Atomic hold_what;
static sem_t hold_reached, hold_release;

static void hold_hook(const char *what)
{
	const char *want = atomic_load(&hold_what);

	if (!want || strcmp(want, what) ||
	    !atomic_compare_exchange_strong(&hold_what, &want, NULL))
		return;
	sem_post(&hold_reached);
	while (sem_wait(&hold_release))
		;
}

struct move_freer {
	struct tide_monitor *victim;
	pthread_t owner; /* the charging thread: only its calls count */
	int scans, set, waiting;
	bool freed;
};

static unsigned long freer_count(void *priv, struct tide_shrink_control *sc)
{
	(void)priv;
	(void)sc;
	return 10;
}

static unsigned long freer_scan(void *priv, struct tide_shrink_control *sc)
{
	struct move_freer *f = priv;
	uint64_t t0 = now_ms();
	struct timespec ms = { 0, 1000000 };

	(void)sc;
	/* B's own thread reclaims too (group a is over high), whenever
	 * its first poll comes after this shrinker's registration */
	if (!pthread_equal(pthread_self(), f->owner) || f->scans++)
		return 0;
	sem_post(&hold_release);
	while (!tide__sensor_writers_waiting() && now_ms() - t0 < 5000)
		nanosleep(&ms, NULL);
	f->waiting = tide__sensor_writers_waiting();
	f->set = tide_monitor_set_watermarks(f->victim, 120 * MiB, 0);
	tide_monitor_free(f->victim);
	f->freed = true;
	return 0;
}

static const struct tide_shrinker_ops freer_ops = { freer_count, freer_scan };

/*
 * A (armed: it is the older) watches group a as configured, 90 of 100
 * MiB, over its high watermark (75): every charge of 2 MiB measures and
 * reclaims.  B follows the process (a v2 limit watcher and the budget,
 * polled every 10 ms) and runs its own thread.  The process moves to b
 * (@limited: memory.high 200 MiB, B arms; else none, B passes).
 */
static void free_while_it_follows_a_move(const char *what, bool limited)
{
	struct tide_monitor_config ca, cb;
	struct tide_monitor *a = NULL;
	struct move_freer f = { .owner = pthread_self() };
	struct tide_shrinker *s;
	struct timespec ts;
	int fds;
	void *p;

	v2_tree(0);
	put("unified/a/memory.high", "%llu\n", (unsigned long long)(100 * MiB));
	put("unified/a/memory.max", "max\n");
	put("unified/a/memory.current", "%llu\n",
	    (unsigned long long)(90 * MiB));
	put("unified/a/memory.events", "low 0\nhigh 0\nmax 0\noom 0\n");
	if (limited)
		put("unified/b/memory.high", "%llu\n",
		    (unsigned long long)(200 * MiB));
	else
		put("unified/b/memory.high", "max\n");
	put("unified/b/memory.max", "max\n");
	put("unified/b/memory.events", "low 0\nhigh 0\nmax 0\noom 0\n");
	budget_config(&cb);
	cb.sources = TIDE_SOURCE_CGROUP2 | TIDE_SOURCE_BUDGET;
	ca = cb;
	ca.sources = TIDE_SOURCE_CGROUP2;
	ca.high_watermark = 0;
	ca.cgroup2_dir = at("unified/a");
	CHECK_EQ(sem_init(&hold_reached, 0, 0), 0);
	CHECK_EQ(sem_init(&hold_release, 0, 0), 0);
	tide__sensor_write_hook = hold_hook;
	CHECK_EQ(tide_monitor_new(&a, &ca), 0);
	fds = th_fd_count_fast();
	CHECK_EQ(tide_monitor_new(&f.victim, &cb), 0);
	CHECK_EQ(tide_monitor_source(f.victim),
		 TIDE_SOURCE_CGROUP2 | TIDE_SOURCE_BUDGET);
	CHECK_EQ(tide_monitor_start(f.victim), 0);
	s = tide_shrinker_alloc("freer");
	CHECK(s);
	tide_shrinker_register(s, &freer_ops, &f);

	/* B's thread sees the move and stops before the lock */
	atomic_store(&hold_what, what);
	put_self("b");
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	CHECK_EQ(sem_timedwait(&hold_reached, &ts), 0);

	alarm(10); /* 0.2.6 hung here */
	p = tide_kvmalloc(2u << 20, 0);
	CHECK(p);
	alarm(0);
	tide_kvfree(p);
	CHECK(f.freed);
	CHECK_EQ(f.waiting, 1);
	CHECK_EQ(f.set, 0);
	CHECK_EQ(tide__sensor_writers_waiting(), 0);
	CHECK_EQ(th_fd_count_fast(), fds);
	CHECK_UEQ(mon_stats(a).events, 1);
	/* A still holds the sensor: the next charge measures again */
	p = tide_kvmalloc(2u << 20, 0);
	tide_kvfree(p);
	CHECK_UEQ(mon_stats(a).events, 2);
	tide__sensor_write_hook = NULL;
	tide_shrinker_free(s);
	tide_monitor_free(a);
	sem_destroy(&hold_reached);
	sem_destroy(&hold_release);
	tree_done();
}

TEST(charge_shrinker_frees_a_monitor_waiting_to_suspend_after_a_move)
{
	free_while_it_follows_a_move("suspend", false);
}

TEST(charge_shrinker_frees_a_monitor_waiting_to_arm_after_a_move)
{
	free_while_it_follows_a_move("arm", true);
}

TEST(charge_shrinker_frees_a_monitor_waiting_to_pass_after_a_move)
{
	free_while_it_follows_a_move("pass", false);
}

/* ---- graded PSI on the own v2 group follows a move ------------------------- */

static const char *v2_root(void)
{
	static char root[PATH_MAX];
	char line[4096];
	FILE *f = fopen("/proc/self/mountinfo", "re");

	root[0] = 0;
	if (!f)
		return root;
	while (fgets(line, sizeof(line), f)) {
		char *dash = strstr(line, " - cgroup2 "), point[PATH_MAX];

		if (dash &&
		    sscanf(line, "%*s %*s %*s %*s %4095s", point) == 1) {
			snprintf(root, sizeof(root), "%s", point);
			break;
		}
	}
	fclose(f);
	return root;
}

TEST(psi_cgroup_follows_a_move)
{
	struct tide_monitor_config cfg = {
		.size = sizeof(cfg),
		.sources = TIDE_SOURCE_PSI_CGROUP,
		.flags = TIDE_MONITOR_NO_TRIM,
	};
	char ga[PATH_MAX], gb[PATH_MAX], pa[PATH_MAX + 32], pb[PATH_MAX + 32];
	char na[64], nb[64];
	struct tide_monitor *m = NULL;
	const char *root = v2_root();
	uint64_t t0;
	int r;

	if (!root[0])
		SKIP("no cgroup v2 hierarchy mounted");
	snprintf(na, sizeof(na), "tide-move-%d-a", (int)getpid());
	snprintf(nb, sizeof(nb), "tide-move-%d-b", (int)getpid());
	snprintf(ga, sizeof(ga), "%s/%s", root, na);
	snprintf(gb, sizeof(gb), "%s/%s", root, nb);
	if (mkdir(ga, 0755))
		SKIP("cannot create a v2 group under %s: %s", root,
		     strerror(errno));
	CHECK_EQ(mkdir(gb, 0755), 0);
	snprintf(pa, sizeof(pa), "%s/memory.pressure", ga);
	snprintf(pb, sizeof(pb), "%s/memory.pressure", gb);
	if (access(pa, W_OK)) {
		rmdir(ga);
		rmdir(gb);
		SKIP("no writable memory.pressure in a v2 group (PSI off?)");
	}
	tree_init();
	put("proc/cgroup", "0::/%s\n", na);
	cfg.proc_cgroup_path = at("proc/cgroup");
	r = tide_monitor_new(&m, &cfg);
	if (r == -ENODEV || (!r && tide_monitor_source(m) == 0)) {
		tide_monitor_free(m);
		rmdir(ga);
		rmdir(gb);
		tree_done();
		SKIP("graded PSI triggers refused here");
	}
	CHECK_EQ(r, 0);
	CHECK_EQ(tide_monitor_source(m), TIDE_SOURCE_PSI_CGROUP);
	/* GLib's three triggers on a's file */
	CHECK_EQ(th_fds_on(pa, false, NULL), 3);
	CHECK_EQ(th_fds_on(pb, false, NULL), 0);
	put("proc/cgroup", "0::/%s\n", nb);
	t0 = now_ms();
	while (th_fds_on(pb, false, NULL) != 3 && now_ms() - t0 < 3000)
		th_tick(m, 200);
	CHECK_EQ(th_fds_on(pb, false, NULL), 3);
	CHECK_EQ(th_fds_on(pa, false, NULL), 0);
	CHECK_EQ(tide_monitor_source(m), TIDE_SOURCE_PSI_CGROUP);
	tide_monitor_free(m);
	CHECK_EQ(th_fds_on(pb, false, NULL), 0);
	CHECK_EQ(rmdir(ga), 0);
	CHECK_EQ(rmdir(gb), 0);
	tree_done();
}

/*
 * The v2 root is no own group: its memory.pressure is the host's PSI.  In
 * the root ("0::/"), psi-cgroup does not open there and the system-wide
 * PSI stands in, under its own name; a group that moves from a child into
 * the root gets the same.
 */
static bool psi_accepted(void)
{
	return !th_psi_trigger_err();
}

TEST(psi_cgroup_never_opens_on_the_v2_root)
{
	struct tide_monitor_config cfg = {
		.size = sizeof(cfg),
		.sources = TIDE_SOURCE_PSI_CGROUP | TIDE_SOURCE_PSI,
		.flags = TIDE_MONITOR_NO_TRIM,
	};
	char ga[PATH_MAX], pa[PATH_MAX + 32], pr[PATH_MAX + 32], na[64];
	struct tide_monitor *m = NULL;
	const char *root = v2_root();
	uint64_t t0;

	if (!root[0])
		SKIP("no cgroup v2 hierarchy mounted");
	snprintf(pr, sizeof(pr), "%s/memory.pressure", root);
	if (access(pr, W_OK) || !psi_accepted())
		SKIP("no writable PSI files here (PSI off?)");
	snprintf(na, sizeof(na), "tide-gate-%d-a", (int)getpid());
	snprintf(ga, sizeof(ga), "%s/%s", root, na);
	if (mkdir(ga, 0755))
		SKIP("cannot create a v2 group under %s: %s", root,
		     strerror(errno));
	snprintf(pa, sizeof(pa), "%s/memory.pressure", ga);
	tree_init();
	put("proc/cgroup", "0::/\n");
	cfg.proc_cgroup_path = at("proc/cgroup");
	CHECK_EQ(tide_monitor_new(&m, &cfg), 0);
	CHECK_EQ(tide_monitor_source(m), TIDE_SOURCE_PSI);
	CHECK_EQ(th_fds_on(pr, false, NULL), 0);
	CHECK_EQ(th_fds_on("/proc/pressure/memory", false, NULL), 3);
	tide_monitor_free(m);

	/* in a child group: its own file; moved into the root: the system's */
	put("proc/cgroup", "0::/%s\n", na);
	CHECK_EQ(tide_monitor_new(&m, &cfg), 0);
	CHECK_EQ(tide_monitor_source(m), TIDE_SOURCE_PSI_CGROUP);
	CHECK_EQ(th_fds_on(pa, false, NULL), 3);
	CHECK_EQ(th_fds_on("/proc/pressure/memory", false, NULL), 0);
	put("proc/cgroup", "0::/\n");
	t0 = now_ms();
	while (tide_monitor_source(m) != TIDE_SOURCE_PSI &&
	       now_ms() - t0 < 3000)
		th_tick(m, 200);
	CHECK_EQ(tide_monitor_source(m), TIDE_SOURCE_PSI);
	CHECK_EQ(th_fds_on(pa, false, NULL), 0);
	CHECK_EQ(th_fds_on(pr, false, NULL), 0);
	CHECK_EQ(th_fds_on("/proc/pressure/memory", false, NULL), 3);
	tide_monitor_free(m);
	CHECK_EQ(rmdir(ga), 0);
	tree_done();
}

/* ---- set_watermarks and the v1 usage threshold ---------------------------- */

/*
 * A fake v1 group: cgroup.event_control is a regular file here, so each
 * registration ("<eventfd> <usage fd> <bytes>") is written to it from
 * offset 0, and the eventfd it names is ours to signal.
 */
struct v1 {
	struct tide_monitor *m;
	int ctl; /* cgroup.event_control, opened at setup (the body may run
		  * out of descriptors) */
	int efd; /* the eventfd registered at setup */
};

static void v1_tree(void)
{
	tree_init();
	put("g/memory.limit_in_bytes", "%llu\n",
	    (unsigned long long)(100 * MiB));
	put("g/memory.usage_in_bytes", "%llu\n",
	    (unsigned long long)(10 * MiB));
	put("g/memory.stat", "total_inactive_file 0\n");
	put("g/cgroup.event_control", "%s", "");
}

/* The threshold registered last and its eventfd. */
static uint64_t v1_threshold(const struct v1 *v, int *efd)
{
	char buf[256];
	unsigned long long bytes = 0;
	ssize_t n = pread(v->ctl, buf, sizeof(buf) - 1, 0);

	CHECK(n > 0);
	buf[n] = 0;
	CHECK_EQ(sscanf(buf, "%d %*d %llu", efd, &bytes), 2);
	return bytes;
}

static int v1_setup(void *arg)
{
	struct v1 *v = arg;
	struct tide_monitor_config cfg = {
		.size = sizeof(cfg),
		.sources = TIDE_SOURCE_CGROUP1,
		.poll_interval_ms = 100000,
		.flags = TIDE_MONITOR_NO_TRIM,
	};
	int efd;

	put("g/cgroup.event_control", "%s", "");
	v->ctl = open(at("g/cgroup.event_control"), O_RDONLY | O_CLOEXEC);
	CHECK(v->ctl >= 0);
	cfg.cgroup1_dir = at("g");
	CHECK_EQ(tide_monitor_new(&v->m, &cfg), 0);
	CHECK_EQ(tide_monitor_source(v->m), TIDE_SOURCE_CGROUP1);
	CHECK_UEQ(v1_threshold(v, &efd), 75 * MiB);
	v->efd = efd;
	return 0;
}

static void v1_teardown(void *arg)
{
	struct v1 *v = arg;

	tide_monitor_free(v->m);
	v->m = NULL;
	close(v->ctl);
}

/* @fd is closed (no descriptor opened since may have taken its number). */
static bool closed(int fd)
{
	return fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

/*
 * set_watermarks() as a failure loop's body: a failure changes nothing.
 * A registration whose eventfd is closed again is no registration (the
 * kernel drops a threshold when its eventfd is closed): one written and
 * then closed because adding its eventfd to the epoll set failed leaves
 * the threshold at setup's in place.
 */
static int v1_body(void *arg)
{
	struct v1 *v = arg;
	struct tide_monitor_limit l;
	int fds = th_fd_count_fast(), efd, r;
	uint64_t at;

	r = tide_monitor_set_watermarks(v->m, 64 * MiB, 48 * MiB);
	CHECK_EQ(tide_monitor_limit(v->m, &l), 0);
	if (r) {
		CHECK_EQ(r, th_expect_err);
		CHECK_UEQ(l.high, 75 * MiB);
		CHECK_UEQ(l.low, 100 * MiB * 5 / 8);
		CHECK_EQ(th_fd_count_fast(), fds);
		at = v1_threshold(v, &efd);
		if (efd == v->efd) {
			CHECK_UEQ(at, 75 * MiB);
		} else {
			CHECK_UEQ(at, 64 * MiB);
			CHECK(closed(efd));
		}
		CHECK_EQ(fcntl(v->efd, F_GETFD), FD_CLOEXEC);
		return r;
	}
	CHECK_UEQ(l.high, 64 * MiB);
	CHECK_UEQ(l.low, 48 * MiB);
	CHECK_UEQ(v1_threshold(v, &efd), 64 * MiB);
	/* the new eventfd replaced the old one */
	CHECK_EQ(th_fd_count_fast(), fds);
	return 0;
}

TEST(set_watermarks_re_registers_the_v1_threshold_or_changes_nothing)
{
	const struct th_oom_case c = { .setup = v1_setup,
				       .body = v1_body,
				       .teardown = v1_teardown };
	struct v1 v = { 0 };
	int efd;

	v1_tree();
	/* out of memory (injected) or descriptors (RLIMIT_NOFILE) */
	CHECK_CMP(th_oom_loop_ex("set_watermarks", &c, &v), >=, 2);
	CHECK_CMP(th_fd_limit_loop("set_watermarks", &c, &v), >=, 1);

	/* the new eventfd is the one the monitor waits on */
	v1_setup(&v);
	CHECK_EQ(tide_monitor_set_watermarks(v.m, 64 * MiB, 48 * MiB), 0);
	CHECK(th_tick(v.m, 1000)); /* the check set_watermarks schedules */
	CHECK(!th_tick(v.m, 200));
	CHECK_UEQ(v1_threshold(&v, &efd), 64 * MiB);
	CHECK_EQ(eventfd_write(efd, 1), 0);
	CHECK(th_tick(v.m, 1000));
	CHECK(!th_tick(v.m, 200)); /* read: no wake-up again */
	v1_teardown(&v);
	tree_done();
}

/* ---- a hold moves the v1 usage threshold ----------------------------------- */

/*
 * Over high with nothing to give back, a loop that frees nothing holds the
 * next back (reclaim.c: idle()); meanwhile the threshold at high would wake
 * the monitor at every crossing for a check that only finds the hold.  The
 * hold moves it up to the usage where the working set would have grown by
 * the margin (half the band: (75 - 62.5) / 2 = 6.25 MiB here), and where
 * it would fall under low, the inactive file cache as read then added to
 * both; back to high when a check finds the hold ended or the working set
 * under low.  Here usage 94 MiB, inactive file 4 MiB: working set 90.
 */
#define V1_LOW (100 * MiB * 5 / 8)
#define V1_MARGIN ((75 * MiB - V1_LOW) / 2)

/* Write over @rel in place: the monitor keeps these files open. */
static void poke(const char *rel, unsigned long long v)
{
	char buf[64];
	int fd = open(at(rel), O_WRONLY | O_TRUNC | O_CLOEXEC);
	int n = snprintf(buf, sizeof(buf), "%s%llu\n",
			 strstr(rel, "stat") ? "total_inactive_file " : "", v);

	CHECK(fd >= 0);
	CHECK_EQ(write(fd, buf, (size_t)n), n);
	close(fd);
}

static void v1_usage(uint64_t usage, uint64_t inactive)
{
	poke("g/memory.usage_in_bytes", usage);
	poke("g/memory.stat", inactive);
}

/* The registrations written since the fake event_control was emptied
 * (one "<eventfd> <usage fd> <bytes>" line each): how many, and the
 * eventfd and bytes of the first two.  Empties it again. */
static int v1_regs(const struct v1 *v, int efd[2], uint64_t bytes[2])
{
	char buf[512], *p = buf;
	ssize_t n = pread(v->ctl, buf, sizeof(buf) - 1, 0);
	int k = 0;

	CHECK(n >= 0);
	buf[n] = 0;
	for (char *nl; (nl = strchr(p, '\n')); p = nl + 1, k++) {
		unsigned long long b;
		int e;

		CHECK_EQ(sscanf(p, "%d %*d %llu", &e, &b), 2);
		if (k < 2) {
			efd[k] = e;
			bytes[k] = b;
		}
	}
	CHECK_EQ(*p, 0);
	CHECK_EQ(truncate(at("g/cgroup.event_control"), 0), 0);
	return k;
}

static struct tide_monitor_source_stats v1_stats(struct tide_monitor *m)
{
	struct tide_monitor_source_stats st;

	CHECK_EQ(tide_monitor_source_stats(m, TIDE_SOURCE_CGROUP1, &st), 0);
	return st;
}

/* v1_setup() with the working set at 90 MiB and the threshold at high
 * (75 MiB) as the kernel would signal it at the crossing. */
struct v1_hold {
	struct v1 v;
	int efd; /* the eventfd of the threshold at high */
};

static int v1_hold_setup(void *arg)
{
	struct v1_hold *h = arg;
	uint64_t b[2];
	int e[2];

	v1_setup(&h->v);
	CHECK_EQ(v1_regs(&h->v, e, b), 1);
	h->efd = e[0];
	v1_usage(94 * MiB, 4 * MiB);
	return 0;
}

static void v1_hold_teardown(void *arg)
{
	v1_teardown(&((struct v1_hold *)arg)->v);
}

/* The crossing of high wakes the check: its loop frees nothing (no
 * shrinker here) and holds the next back. */
static void v1_cross_high(struct v1_hold *h)
{
	CHECK_EQ(eventfd_write(h->efd, 1), 0);
	CHECK(th_tick(h->v.m, 1000));
}

TEST(a_hold_moves_the_v1_threshold_up_and_back)
{
	struct tide_monitor_source_stats st;
	struct v1_hold h = { 0 };
	uint64_t b[2], t0;
	int e[2], up, below, fds;

	v1_tree();
	v1_hold_setup(&h);
	fds = th_fd_count_fast();
	v1_cross_high(&h);
	CHECK_UEQ(v1_stats(h.v.m).loops, 1);
	/* up: where the working set reaches 90 + 6.25 MiB, and falls under
	 * low, 4 MiB of inactive file cache added to both; one eventfd each
	 * (up to 0.2.6 one eventfd registered twice: old kernels oops when
	 * it is closed, see limit.c, cgroup1_rearm()) */
	CHECK_EQ(v1_regs(&h.v, e, b), 2);
	CHECK_UEQ(b[0], 90 * MiB + V1_MARGIN + 4 * MiB);
	CHECK_UEQ(b[1], V1_LOW + 4 * MiB);
	CHECK(e[0] != e[1]);
	CHECK(e[0] != h.efd && e[1] != h.efd);
	/* the two eventfds replaced the one at high */
	CHECK(closed(h.efd));
	CHECK_EQ(th_fd_count_fast(), fds + 1);
	/* the poll waits for the hold's end (1 s), not 2 ms */
	t0 = now_ms();
	CHECK(th_tick(h.v.m, 2000));
	CHECK_CMP(now_ms() - t0, >=, 900);
	/* whose loop frees nothing again: held 2 s, raised again there,
	 * two new eventfds in place of the two */
	CHECK_UEQ(v1_stats(h.v.m).loops, 2);
	up = e[0];
	below = e[1];
	CHECK_EQ(v1_regs(&h.v, e, b), 2);
	CHECK_UEQ(b[0], 90 * MiB + V1_MARGIN + 4 * MiB);
	CHECK_UEQ(b[1], V1_LOW + 4 * MiB);
	CHECK(e[0] != e[1]);
	CHECK(closed(up) && closed(below));
	CHECK_EQ(th_fd_count_fast(), fds + 1);
	up = e[0];
	below = e[1];
	/* a wake-up short of the margin, from either threshold, is a check
	 * (it reads the working set; the eventfd is read: no second
	 * wake-up) that finds the hold: nothing moves (the hold ends 2 s
	 * after the last loop: no poll meanwhile) */
	v1_usage(94 * MiB + V1_MARGIN - MiB, 4 * MiB);
	CHECK_EQ(eventfd_write(up, 1), 0);
	CHECK(th_tick(h.v.m, 500));
	CHECK(!th_tick(h.v.m, 100));
	st = v1_stats(h.v.m);
	CHECK_UEQ(st.value, 90 * MiB + V1_MARGIN - MiB);
	CHECK_UEQ(st.loops, 2);
	v1_usage(80 * MiB, 4 * MiB);
	CHECK_EQ(eventfd_write(below, 1), 0);
	CHECK(th_tick(h.v.m, 500));
	CHECK(!th_tick(h.v.m, 100));
	st = v1_stats(h.v.m);
	CHECK_UEQ(st.value, 76 * MiB);
	CHECK_UEQ(st.loops, 2);
	CHECK_EQ(v1_regs(&h.v, e, b), 0);
	/* the rise to the margin the kernel signals (on the upper one) ends
	 * the hold: a loop, held again from 97 MiB on */
	v1_usage(101 * MiB, 4 * MiB);
	CHECK_EQ(eventfd_write(up, 1), 0);
	CHECK(th_tick(h.v.m, 1000));
	CHECK_UEQ(v1_stats(h.v.m).loops, 3);
	CHECK_EQ(v1_regs(&h.v, e, b), 2);
	CHECK_UEQ(b[0], 97 * MiB + V1_MARGIN + 4 * MiB);
	CHECK_UEQ(b[1], V1_LOW + 4 * MiB);
	CHECK(e[0] != e[1]);
	CHECK_EQ(th_fd_count_fast(), fds + 1);
	up = e[0];
	below = e[1];
	/* the fall under low the kernel signals (on the lower one): NONE,
	 * back to high, both closed */
	v1_usage(60 * MiB, 4 * MiB);
	CHECK_EQ(eventfd_write(below, 1), 0);
	CHECK(th_tick(h.v.m, 1000));
	CHECK_EQ(v1_stats(h.v.m).level, TIDE_PRESSURE_NONE);
	CHECK_EQ(v1_regs(&h.v, e, b), 1);
	CHECK_UEQ(b[0], 75 * MiB);
	CHECK(closed(up) && closed(below));
	CHECK_EQ(th_fd_count_fast(), fds);
	/* and it is the one the monitor waits on */
	CHECK_EQ(eventfd_write(e[0], 1), 0);
	CHECK(th_tick(h.v.m, 1000));
	CHECK_UEQ(v1_stats(h.v.m).loops, 3);
	v1_hold_teardown(&h);
	tree_done();
}

/*
 * tide_monitor_set_watermarks() during a hold puts one threshold at the
 * new high in place of the hold's two, and a monitor freed during a hold
 * closes both.
 */
TEST(set_watermarks_and_free_in_a_hold_close_both_v1_thresholds)
{
	struct v1_hold h = { 0 };
	uint64_t b[2];
	int e[2], fds, fds0 = th_fd_count_fast();

	v1_tree();
	v1_hold_setup(&h);
	fds = th_fd_count_fast();
	v1_cross_high(&h);
	CHECK_EQ(v1_regs(&h.v, e, b), 2);
	CHECK(e[0] != e[1]);
	CHECK_EQ(th_fd_count_fast(), fds + 1);
	CHECK_EQ(tide_monitor_set_watermarks(h.v.m, 80 * MiB, 0), 0);
	CHECK(closed(e[0]) && closed(e[1]));
	CHECK_EQ(th_fd_count_fast(), fds);
	CHECK_EQ(v1_regs(&h.v, e, b), 1);
	CHECK_UEQ(b[0], 80 * MiB);
	/* the check set_watermarks schedules finds the hold (90 MiB, over
	 * 80): no loop, raised again for it with the new margin (half of
	 * 80 - 70 MiB, low 7/8 of high) */
	CHECK(th_tick(h.v.m, 1000));
	CHECK_UEQ(v1_stats(h.v.m).loops, 1);
	CHECK_EQ(v1_regs(&h.v, e, b), 2);
	CHECK_UEQ(b[0], 90 * MiB + 5 * MiB + 4 * MiB);
	CHECK_UEQ(b[1], 70 * MiB + 4 * MiB);
	CHECK(e[0] != e[1]);
	CHECK_EQ(th_fd_count_fast(), fds + 1);
	/* freed in the hold: every descriptor it had (the test's own view
	 * of cgroup.event_control aside) */
	tide_monitor_free(h.v.m);
	h.v.m = NULL;
	CHECK(closed(e[0]) && closed(e[1]));
	CHECK_EQ(th_fd_count_fast(), fds0 + 1);
	close(h.v.ctl);
	CHECK_EQ(th_fd_count_fast(), fds0);
	tree_done();
}

/*
 * The raise as a failure loop's body: out of memory or descriptors, the
 * threshold at high stays, nothing leaks, and the next check of the same
 * hold does not try again (it would at every wake-up).  The error is the
 * monitor's own; the body reports the one the loop injects.
 */
static int v1_hold_body(void *arg)
{
	struct v1_hold *h = arg;
	int fds = th_fd_count_fast(), n, e[2];
	uint64_t b[2];

	v1_cross_high(h);
	n = v1_regs(&h->v, e, b);
	if (n == 2 && !closed(e[0])) { /* two eventfds in place of one */
		CHECK(e[0] != e[1]);
		CHECK_UEQ(b[0], 90 * MiB + V1_MARGIN + 4 * MiB);
		CHECK_EQ(th_fd_count_fast(), fds + 1);
		return 0;
	}
	CHECK_EQ(th_fd_count_fast(), fds);
	/* registered, then closed again (which unregisters them): the upper
	 * one when the lower one's eventfd failed, both when adding them to
	 * the epoll set failed */
	CHECK_CMP(n, <=, 2);
	for (int i = 0; i < n; i++)
		CHECK(closed(e[i]));
	/* still at high (its eventfd open): it wakes the check, which
	 * tries no more */
	CHECK_EQ(fcntl(h->efd, F_GETFD), FD_CLOEXEC);
	CHECK_EQ(eventfd_write(h->efd, 1), 0);
	CHECK(th_tick(h->v.m, 1000));
	CHECK_EQ(v1_regs(&h->v, e, b), 0);
	CHECK_UEQ(v1_stats(h->v.m).loops, 1);
	return th_expect_err;
}

TEST(a_hold_that_cannot_move_the_v1_threshold_leaves_it_at_high)
{
	const struct th_oom_case c = { .setup = v1_hold_setup,
				       .body = v1_hold_body,
				       .teardown = v1_hold_teardown };
	struct v1_hold h = { 0 };
	uint64_t b[2], t0;
	int e[2], fds;

	v1_tree();
	/* the path of cgroup.event_control, its open, the upper threshold's
	 * eventfd, the lower one's, and adding each eventfd to the epoll
	 * set (6; 3 up to 0.2.6, one eventfd for both; the adds fail since
	 * 0.2.8); transient and persistent: twice */
	CHECK_UEQ(th_oom_loop_ex("hold", &c, &h), 2 * 6);
	/* the limit counts the 9 descriptors setup opened (the monitor's
	 * epoll, 2 eventfds, 2 timerfds, usage, memory.stat and threshold;
	 * the test's view of cgroup.event_control), then the raise's 3,
	 * open at once with the threshold at high before the swap:
	 * cgroup.event_control, the upper eventfd, the lower one (2 up to
	 * 0.2.6) */
	CHECK_UEQ(th_fd_limit_loop("hold", &c, &h), 9 + 3);

	/* the kernel refuses the registration (here /dev/full: ENOSPC) */
	v1_hold_setup(&h);
	fds = th_fd_count_fast();
	CHECK_EQ(symlink("/dev/full", at("g/ec")), 0);
	CHECK_EQ(rename(at("g/ec"), at("g/cgroup.event_control")), 0);
	v1_cross_high(&h);
	CHECK_EQ(th_fd_count_fast(), fds);
	CHECK_EQ(fcntl(h.efd, F_GETFD), FD_CLOEXEC);
	CHECK_UEQ(v1_stats(h.v.m).loops, 1);
	/* the threshold at high still wakes the check, and the poll of
	 * the hold backs off from 2 ms as where there is no threshold
	 * (test_pressure: a_hold_backs_the_v1_poll_off_without_event_control):
	 * 4 ms after this check */
	CHECK_EQ(eventfd_write(h.efd, 1), 0);
	CHECK(th_tick(h.v.m, 1000));
	CHECK(th_tick(h.v.m, 100));
	/* one try per hold: the next one's raise works again */
	put("g/cgroup.event_control", "%s", "");
	close(h.v.ctl);
	h.v.ctl = open(at("g/cgroup.event_control"), O_RDONLY | O_CLOEXEC);
	CHECK(h.v.ctl >= 0);
	t0 = now_ms();
	while (v1_stats(h.v.m).loops < 2 && now_ms() - t0 < 3000)
		th_tick(h.v.m, 100);
	CHECK_UEQ(v1_stats(h.v.m).loops, 2);
	CHECK_EQ(v1_regs(&h.v, e, b), 2);
	CHECK_UEQ(b[0], 90 * MiB + V1_MARGIN + 4 * MiB);
	CHECK(e[0] != e[1]);
	CHECK_EQ(th_fd_count_fast(), fds + 1); /* two eventfds for one */
	/*
	 * A raise that fails for the hold that follows a raised one, with
	 * the working set 5 MiB lower: the threshold stays where the last
	 * hold put it, 5 MiB over this hold's end, so the poll backs off as
	 * where there is none (4 ms after the check).  Up to 0.2.6 the check
	 * took the old raise for this hold's and slept to the hold's end
	 * (4 s), blind to a rise of less than 5 MiB over it (a review found
	 * it).
	 */
	v1_usage(89 * MiB, 4 * MiB);
	CHECK_EQ(symlink("/dev/full", at("g/ec")), 0);
	CHECK_EQ(rename(at("g/ec"), at("g/cgroup.event_control")), 0);
	t0 = now_ms();
	while (v1_stats(h.v.m).loops < 3 && now_ms() - t0 < 3000)
		th_tick(h.v.m, 100);
	CHECK_UEQ(v1_stats(h.v.m).loops, 3);
	CHECK(fcntl(e[0], F_GETFD) >= 0 && fcntl(e[1], F_GETFD) >= 0);
	CHECK_EQ(th_fd_count_fast(), fds + 1);
	CHECK(th_tick(h.v.m, 100));
	CHECK(th_tick(h.v.m, 100));
	CHECK_UEQ(v1_stats(h.v.m).loops, 3);
	v1_hold_teardown(&h);
	tree_done();
}

RUN_TESTS(T(budget_in_cgroup_mode_follows_a_move),
	  T(move_seen_in_a_proc_self_cgroup_over_4_kib),
	  T(a_limit_changed_in_place_moves_the_watermarks),
	  T(watermarks_in_bytes_or_percent_follow_a_changed_limit),
	  T(watermarks_in_bytes_over_the_limit_at_creation_use_its_defaults),
	  T(watermarks_an_operator_sets_follow_the_limit_as_given),
	  T(a_limit_lowered_in_place_is_seen_at_the_next_reading),
	  T(a_limit_changed_in_place_is_followed_without_proc_self_cgroup),
	  T(a_limit_changed_in_place_is_followed_without_the_cgroup_mount),
	  T(a_low_watermark_given_alone_gives_way_under_a_lowered_limit),
	  T(psi_cgroup_follows_a_move),
	  T(set_watermarks_re_registers_the_v1_threshold_or_changes_nothing),
	  T(sensor_passes_on_when_a_move_leaves_its_monitor_without_a_limit),
	  T(charge_shrinker_frees_a_monitor_waiting_to_suspend_after_a_move),
	  T(charge_shrinker_frees_a_monitor_waiting_to_arm_after_a_move),
	  T(charge_shrinker_frees_a_monitor_waiting_to_pass_after_a_move),
	  T(a_hold_moves_the_v1_threshold_up_and_back),
	  T(a_hold_that_cannot_move_the_v1_threshold_leaves_it_at_high),
	  T(set_watermarks_and_free_in_a_hold_close_both_v1_thresholds),
	  T(psi_cgroup_never_opens_on_the_v2_root))
