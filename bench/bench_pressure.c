// SPDX-License-Identifier: MIT
/*
 * bench_pressure.c - from a pressure signal to the pages being back, per
 * source, against a hand-written floor in the same run; and the cost of the
 * allocation sensor.
 *
 * A cache of 256 KiB kv blocks is handed back through its shrinker.
 * Sources:
 *
 *  - FIFO ($MEMORY_PRESSURE_WATCH): t0 is the write of one byte; a monitor
 *    thread runs the MEDIUM loop.
 *  - cgroup v1 limit watcher (defaults, tide_monitor_new(&m, NULL)): in a
 *    child memory cgroup with a 256 MiB limit the cache is filled to 1 MiB
 *    under the high watermark (3/4 of the limit); t0 is before touching
 *    2 MiB more (which crosses it); the monitor thread (threshold eventfd,
 *    adaptive poll) runs the watermark loop down to low.
 *  - the sensor alone: the same, the monitor never started; t0 is before
 *    the next 1 MiB kv allocation, which reclaims on this thread.
 *
 * For each: t_first (the first unmap) and t_all (the loop's last unmap).
 * The floor is the hand-written program with no tide: a thread,
 * waiting while its blocks are written, munmaps the same number of written
 * 256 KiB blocks as tide gave back; its first and last munmap give the
 * floor's t_first and t_all.  For the FIFO it waits on an eventfd that t0
 * writes; for the cgroup rows on the same v1 usage threshold at the high
 * watermark, t0 before the same 2 MiB that cross it.  The cache and the
 * floor free the oldest block first.  A second floor reads one word of
 * each block before its munmap, as tide_kvfree() read the block's header
 * before kv's registry (on this VM that read alone makes munmap 2-3x
 * dearer; tide no longer pays it).
 * Per-round timestamps are reset before every round, and a round whose
 * reclaim never ran stops the benchmark (exit 1).  Arguments: fifo, cgroup
 * or sensor run one section.
 *
 * Sensor cost: a kv block grown by doubling from 4 KiB to 1 GiB
 * (tide_kvrealloc, each growth charged), with a limit watcher armed (a
 * configured 64 GiB limit: the sensor counts and reads, never reclaims)
 * against no monitor, alternating, medians.
 *
 * Goals (issue 12): first pages <= 1.1x the floor, all pages <= 1.2x; the
 * sensor <= 1.02x.  Output: a Markdown section on stdout.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tide.h>

#include "bench.h"
#include "internal.h"
#include "pressure/cgroup.h" /* tide__cg_discover() */

#define BLOCK (256u << 10)
#define MAXB 4096
#define ROUNDS 41
/* the cgroup rounds refill ~190 MiB each: fewer */
#define CG_ROUNDS 15

struct cache {
	pthread_mutex_t lock;
	void *b[MAXB];
	unsigned head, n; /* live: b[head .. head + n) */
	double first_free; /* bench_now() of the first unmap after an event */
	double last_free; /* bench_now() of the last unmap */
	atomic_ulong frees;
};

static struct cache cache = { .lock = PTHREAD_MUTEX_INITIALIZER };

static unsigned long c_count(void *priv, struct tide_shrink_control *sc)
{
	unsigned long pages;

	pthread_mutex_lock(&cache.lock);
	pages = (unsigned long)cache.n * (BLOCK / 4096);
	pthread_mutex_unlock(&cache.lock);
	return pages ? pages : TIDE_SHRINK_EMPTY;
}

static unsigned long c_scan(void *priv, struct tide_shrink_control *sc)
{
	unsigned long freed = 0;

	if (pthread_mutex_trylock(&cache.lock))
		return TIDE_SHRINK_STOP;
	while (freed < sc->nr_to_scan && cache.n) {
		/* the oldest first, as an LRU cache evicts (and as the
		 * floor unmaps) */
		tide_kvfree(cache.b[cache.head++]);
		cache.n--;
		freed += BLOCK / 4096;
		/* the first unmap, as the floor's t_first */
		if (!cache.first_free)
			cache.first_free = bench_now();
	}
	if (freed) {
		cache.last_free = bench_now();
		atomic_fetch_add(&cache.frees, 1);
	}
	pthread_mutex_unlock(&cache.lock);
	return freed;
}

static const struct tide_shrinker_ops c_ops = { c_count, c_scan };

/*
 * Grow the cache to @bytes.  The allocation happens outside the cache's
 * lock: with a limit watcher the allocation is a sensor and may run the
 * cache's own shrinker on this thread (as the kernel's direct reclaim
 * does), which takes that lock.
 */
static int fill(size_t bytes)
{
	for (;;) {
		char *p;

		pthread_mutex_lock(&cache.lock);
		memmove(cache.b, cache.b + cache.head,
			cache.n * sizeof(cache.b[0]));
		cache.head = 0;
		if ((size_t)cache.n * BLOCK >= bytes || cache.n >= MAXB) {
			pthread_mutex_unlock(&cache.lock);
			return 0;
		}
		pthread_mutex_unlock(&cache.lock);
		p = tide_kvmalloc(BLOCK, 0);
		if (!p)
			return -ENOMEM;
		for (size_t o = 0; o < BLOCK; o += 4096)
			p[o] = 1;
		pthread_mutex_lock(&cache.lock);
		cache.b[cache.head + cache.n++] = p;
		pthread_mutex_unlock(&cache.lock);
	}
}

static void drop_all(void)
{
	pthread_mutex_lock(&cache.lock);
	while (cache.n) {
		tide_kvfree(cache.b[cache.head++]);
		cache.n--;
	}
	cache.head = 0;
	pthread_mutex_unlock(&cache.lock);
}

static double first[ROUNDS], floor_first[ROUNDS], floor_all[ROUNDS];
/* the floor that reads one word of each block before its munmap, as
 * tide_kvfree() read its header before kv's registry (see report()) */
static double floor_first_h[ROUNDS], floor_all_h[ROUNDS];

/* ---- the floor: eventfd + munmap, no tide ------------------------------- */

struct floor_run {
	int efd;
	unsigned n;
	bool touch;
	void **maps;
	double t_first, t_all;
};

static void *floor_thread(void *arg)
{
	struct floor_run *f = arg;
	uint64_t v;

	while (read(f->efd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
	for (unsigned i = 0; i < f->n; i++) {
		if (f->touch)
			(void)*(volatile const long *)f->maps[i];
		munmap(f->maps[i], BLOCK);
		if (!i)
			f->t_first = bench_now();
	}
	f->t_all = bench_now();
	return NULL;
}

/*
 * The same number of written 256 KiB blocks as tide gave back in the
 * round, freed by the hand-written program: returns the seconds from the
 * eventfd write to its first and last munmap.
 */
/* The cgroup floor's group and high watermark (NULL: the eventfd floor). */
static const char *floor_cg;
static long long floor_high;

static long long usage_of(const char *dir);

/*
 * Register @efd for a v1 usage threshold at @high on @cg (what the limit
 * watcher registers); 0 or -1.
 */
static int floor_threshold(const char *cg, int efd, long long high)
{
	char p[PATH_MAX + 64], line[96];
	int ufd, cfd, r = -1;

	snprintf(p, sizeof(p), "%s/memory.usage_in_bytes", cg);
	ufd = open(p, O_RDONLY | O_CLOEXEC);
	snprintf(p, sizeof(p), "%s/cgroup.event_control", cg);
	cfd = open(p, O_WRONLY | O_CLOEXEC);
	snprintf(line, sizeof(line), "%d %d %lld", efd, ufd, high);
	if (ufd >= 0 && cfd >= 0 && write(cfd, line, strlen(line)) > 0)
		r = 0;
	if (cfd >= 0)
		close(cfd);
	if (ufd >= 0)
		close(ufd);
	return r;
}

static void floor_round1(double mib, bool touch, double *t_first, double *t_all)
{
	static void *maps[MAXB];
	struct floor_run f = { .maps = maps, .touch = touch };
	char *pad = NULL, *extra = NULL;
	size_t pad_len = 0;
	pthread_t t;
	uint64_t one = 1;
	double t0;

	f.n = (unsigned)(mib * (1 << 20) / BLOCK + 0.5);
	if (!f.n)
		f.n = 1;
	f.efd = eventfd(0, EFD_CLOEXEC);
	/* The thread waits while the blocks are written, as the monitor
	 * waits while the cache fills. */
	pthread_create(&t, NULL, floor_thread, &f);
	for (unsigned i = 0; i < f.n; i++) {
		maps[i] = mmap(NULL, BLOCK, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (maps[i] == MAP_FAILED) {
			fprintf(stderr, "floor: mmap failed\n");
			exit(1);
		}
		memset(maps[i], 1, BLOCK);
	}
	if (floor_cg) {
		/* As the tide round: to 1 MiB under high, the same
		 * threshold, t0 before the 2 MiB that cross it. */
		long long u = usage_of(floor_cg);

		if (u < floor_high - (1 << 20)) {
			pad_len = (size_t)(floor_high - (1 << 20) - u);
			pad = mmap(NULL, pad_len, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (pad == MAP_FAILED)
				exit(1);
			memset(pad, 1, pad_len);
		}
		if (floor_threshold(floor_cg, f.efd, floor_high)) {
			fprintf(stderr, "floor: no usage threshold\n");
			exit(1);
		}
		extra = mmap(NULL, 2u << 20, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (extra == MAP_FAILED)
			exit(1);
	}
	usleep(1000); /* the thread is blocked in read() */
	/*
	 * The FIFO round reads smaps_rollup right before t0 (the RSS it
	 * reports as MiB back); that walk of the page tables makes the
	 * munmaps after it dearer on this VM, so the floor makes it too.
	 */
	if (!floor_cg)
		(void)bench_anon_kb();
	t0 = bench_now();
	if (extra) {
		for (size_t o = 0; o < (2u << 20); o += 4096)
			extra[o] = 1;
	} else if (write(f.efd, &one, sizeof(one)) != sizeof(one)) {
		exit(1);
	}
	pthread_join(t, NULL);
	close(f.efd);
	if (extra)
		munmap(extra, 2u << 20);
	if (pad)
		munmap(pad, pad_len);
	*t_first = f.t_first - t0;
	*t_all = f.t_all - t0;
}

/* Both floors for round @r: plain, and reading a word before each munmap. */
static void floor_round(double mib, int r)
{
	floor_round1(mib, false, &floor_first[r], &floor_all[r]);
	floor_round1(mib, true, &floor_first_h[r], &floor_all_h[r]);
}

/* Reset a round's timestamps; after the round, fail loudly if the
 * reclaim never ran. */
static void round_reset(void)
{
	pthread_mutex_lock(&cache.lock);
	cache.first_free = 0;
	cache.last_free = 0;
	pthread_mutex_unlock(&cache.lock);
}

static void round_check(const char *what, int r)
{
	if (!cache.first_free || !cache.last_free) {
		fprintf(stderr,
			"bench_pressure: %s round %d: the reclaim never ran\n",
			what, r);
		printf("\n**%s round %d: the reclaim never ran**\n", what, r);
		fflush(stdout);
		exit(1);
	}
}

static void report(const char *what, double *lat, int n, double *mib,
		   const char *extra)
{
	double med, mmib, fmed, ffmed, famed, fhmed, ahmed;

	if (!n) {
		printf("| %s | skipped: %s | | | | | | | | | |\n", what, extra);
		return;
	}
	mmib = bench_median(mib, (size_t)n);
	med = bench_median(lat, (size_t)n);
	fmed = bench_median(first, (size_t)n);
	ffmed = bench_median(floor_first, (size_t)n);
	famed = bench_median(floor_all, (size_t)n);
	fhmed = bench_median(floor_first_h, (size_t)n);
	ahmed = bench_median(floor_all_h, (size_t)n);
	printf("| %s | %d | %.1f | %.3f | %.3f | %.2f× (%s) | %.3f | %.3f | "
	       "%.2f× (%s) | %.3f / %.3f | %.2f× / %.2f× |\n",
	       what, n, mmib, fmed * 1e3, ffmed * 1e3, fmed / ffmed,
	       fmed / ffmed <= 1.1 ? "met" : "not met", med * 1e3, famed * 1e3,
	       med / famed, med / famed <= 1.2 ? "met" : "not met", fhmed * 1e3,
	       ahmed * 1e3, fmed / fhmed, med / ahmed);
}

static void wait_loops(struct tide_monitor *m, unsigned long long loops)
{
	struct tide_monitor_stats st;

	/* Asleep, as the floor's main thread is while its thread unmaps:
	 * a thread that wakes on another CPU during the loop makes the
	 * munmaps' TLB shootdowns IPIs (costly in this VM).  A loop takes
	 * 10-20 ms: one look every 50 ms, up to 20 s. */
	for (int i = 0; i < 400; i++) {
		usleep(50000);
		tide_monitor_stats(m, &st);
		if (st.loops >= loops)
			return;
	}
}

/* ---- FIFO --------------------------------------------------------------- */

static void bench_fifo(void)
{
	char dir[] = "/tmp/tide-bench-XXXXXX", fifo[64];
	const struct tide_monitor_config cfg = {
		.size = sizeof(struct tide_monitor_config),
		.sources = TIDE_SOURCE_WATCH,
		.flags = TIDE_MONITOR_NO_TRIM
	};
	struct tide_monitor *m = NULL;
	struct tide_monitor_stats st;
	double lat[ROUNDS], mib[ROUNDS];
	int n = 0, fd;

	if (!mkdtemp(dir))
		return report("FIFO write", lat, 0, mib, "no /tmp");
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	if (mkfifo(fifo, 0600))
		return report("FIFO write", lat, 0, mib, "mkfifo");
	setenv("MEMORY_PRESSURE_WATCH", fifo, 1);
	unsetenv("MEMORY_PRESSURE_WRITE");
	if (tide_monitor_new(&m, &cfg) || tide_monitor_start(m))
		return report("FIFO write", lat, 0, mib, "monitor");
	fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	for (int r = 0; r < ROUNDS; r++) {
		long before, after;
		double t0;

		fill(64u << 20);
		before = bench_anon_kb();
		tide_monitor_stats(m, &st);
		round_reset();
		t0 = bench_now();
		if (write(fd, "x", 1) != 1)
			break;
		wait_loops(m, st.loops + 1);
		round_check("FIFO", r);
		after = bench_anon_kb();
		lat[n] = cache.last_free - t0;
		first[n] = cache.first_free - t0;
		mib[n] = (double)(before - after) / 1024;
		floor_round(mib[n], n);
		n++;
	}
	close(fd);
	tide_monitor_free(m);
	drop_all();
	unsetenv("MEMORY_PRESSURE_WATCH");
	unlink(fifo);
	rmdir(dir);
	report("FIFO write (MEDIUM, 64 MiB cache)", lat, n, mib, "");
}

/* ---- cgroup v1 threshold ------------------------------------------------ */

static int own_v1_dir(char *out, size_t size)
{
	struct tide__cg_limit l;
	int r = -1;

	if (tide__cg_discover(NULL, &l))
		return -1;
	if (l.own_v1) {
		snprintf(out, size, "%s", l.own_v1);
		r = 0;
	}
	tide__cg_release(&l);
	return r;
}

static int put(const char *dir, const char *file, const char *val)
{
	char p[PATH_MAX + 64];
	int fd, r = 0;

	snprintf(p, sizeof(p), "%s/%s", dir, file);
	fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (write(fd, val, strlen(val)) < 0)
		r = -1;
	close(fd);
	return r;
}

static long long usage_of(const char *dir)
{
	char p[PATH_MAX + 64], buf[64] = "";
	int fd;

	snprintf(p, sizeof(p), "%s/memory.usage_in_bytes", dir);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, buf, sizeof(buf) - 1) < 0)
		buf[0] = 0;
	if (fd >= 0)
		close(fd);
	return atoll(buf);
}

static void cgroup_rounds(const char *cg, bool sensor)
{
	const long long limit = 256ll << 20, high = limit / 4 * 3;
	const char *what = sensor ? "sensor alone (monitor never started)" :
				    "cgroup v1 limit watcher (defaults)";
	struct tide_monitor *m = NULL;
	struct tide_monitor_stats st;
	double lat[ROUNDS], mib[ROUNDS];
	int n = 0;

	if (tide_monitor_new(&m, NULL) || (!sensor && tide_monitor_start(m)))
		return report(what, lat, 0, mib, "monitor");
	if (!(tide_monitor_source(m) & TIDE_SOURCE_CGROUP1)) {
		tide_monitor_free(m);
		return report(what, lat, 0, mib, "no limit watcher");
	}
	for (int r = 0; r < CG_ROUNDS; r++) {
		long long before;
		char *extra, *probe = NULL;
		double t0;

		/* to 1 MiB under the high watermark, then cross it: block
		 * by block on the group's usage, which also counts kv's
		 * page tables and registry */
		while (usage_of(cg) + BLOCK <= high - (1 << 20) &&
		       cache.n < MAXB)
			if (fill((size_t)(cache.n + 1) * BLOCK))
				break;
		before = usage_of(cg);
		tide_monitor_stats(m, &st);
		extra = tide_kvmalloc(2u << 20, 0);
		round_reset();
		if (!sensor)
			t0 = bench_now();
		for (size_t o = 0; extra && o < (2u << 20); o += 4096)
			extra[o] = 1;
		if (sensor) {
			/* the next charge passes the step: it reclaims */
			t0 = bench_now();
			probe = tide_kvmalloc(1u << 20, 0);
		} else {
			wait_loops(m, st.loops + 1);
		}
		round_check(what, r);
		lat[n] = cache.last_free - t0;
		first[n] = cache.first_free - t0;
		mib[n] =
			(double)(before + (2 << 20) - usage_of(cg)) / (1 << 20);
		tide_kvfree(extra);
		tide_kvfree(probe);
		/* the floor, on the same bytes, under the watermark */
		drop_all();
		floor_cg = cg;
		floor_high = high;
		floor_round(TIDE__MIN(mib[n], (high >> 20) / 2), n);
		floor_cg = NULL;
		n++;
	}
	tide_monitor_free(m);
	drop_all();
	report(what, lat, n, mib, "");
}

static void cgroup_child(const char *cg)
{
	double none[1];
	char pid[32];

	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	if (put(cg, "cgroup.procs", pid))
		return report("cgroup v1 limit watcher", none, 0, none, "join");
	cgroup_rounds(cg, false);
	fflush(stdout);
	cgroup_rounds(cg, true);
}

static void bench_cgroup(void)
{
	char own[PATH_MAX], cg[PATH_MAX + 32];
	double none[1];
	pid_t pid;

	if (own_v1_dir(own, sizeof(own)))
		return report("cgroup v1 threshold", none, 0, none,
			      "no cgroup v1 memory controller");
	snprintf(cg, sizeof(cg), "%s/tide-bench-%d", own, (int)getpid());
	if (mkdir(cg, 0755))
		return report("cgroup v1 threshold", none, 0, none,
			      "cannot create a memory cgroup (not root?)");
	if (put(cg, "memory.limit_in_bytes", "268435456")) {
		rmdir(cg);
		return report("cgroup v1 threshold", none, 0, none,
			      "cannot set the limit");
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		cgroup_child(cg);
		fflush(stdout);
		_exit(0);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
	rmdir(cg);
}

/* ---- the sensor's cost ------------------------------------------------ */

static double grow_once(void)
{
	double t0 = bench_now();
	void *p = tide_kvmalloc(4096, 0);

	for (size_t sz = 8192; p && sz <= (1u << 30); sz *= 2) {
		void *q = tide_kvrealloc(p, sz, 0);

		if (!q)
			break;
		p = q;
	}
	tide_kvfree(p);
	return bench_now() - t0;
}

static void bench_sensor_cost(void)
{
	struct tide_monitor_config cfg = {
		.size = sizeof(cfg),
		.sources = TIDE_SOURCE_CGROUP1 | TIDE_SOURCE_CGROUP2,
		.limit = UINT64_C(64) << 30,
		.flags = TIDE_MONITOR_NO_TRIM,
	};
	enum { N = 60 };
	double with[N], without[N], mw, mo;
	struct tide_monitor *m = NULL;

	printf("\n## pressure: the allocation sensor's cost\n\n");
	if (tide_monitor_new(&m, &cfg)) {
		printf("skipped: no cgroup group to read a working set from\n");
		return;
	}
	tide_monitor_free(m);
	grow_once();
	/* blocks of 10 without, 10 with (one monitor per block), ... */
	for (int b = 0, iw = 0, io = 0; b < 2 * N / 10; b++) {
		if (b & 1) {
			if (tide_monitor_new(&m, &cfg))
				exit(1);
			grow_once();
			for (int i = 0; i < 10 && iw < N; i++)
				with[iw++] = grow_once();
			tide_monitor_free(m);
		} else {
			grow_once();
			for (int i = 0; i < 10 && io < N; i++)
				without[io++] = grow_once();
		}
	}
	mw = bench_median(with, N);
	mo = bench_median(without, N);
	printf("A kv block grown by doubling from 4 KiB to 1 GiB "
	       "(tide_kvrealloc, 18 growths), with a limit watcher armed "
	       "(configured 64 GiB limit: the sensor counts every growth and "
	       "reads the working set at each step, never reclaims) and "
	       "without a monitor, in alternating blocks of 10 (one monitor per block, a warm-up growth first), %d rounds each, medians.\n\n",
	       N);
	printf("| run | median ms |\n|---|---|\n");
	printf("| no monitor | %.3f |\n| limit watcher armed | %.3f |\n",
	       mo * 1e3, mw * 1e3);
	printf("| ratio | %.3f× (goal <= 1.02×: %s) |\n", mw / mo,
	       mw / mo <= 1.02 ? "met" : "not met");
}

int main(int argc, char **argv)
{
	static struct tide_shrinker *s;

	/* "sensor": only the sensor's cost; "fifo", "cgroup": one section */
	if (argc > 1 && !strcmp(argv[1], "sensor")) {
		bench_sensor_cost();
		return 0;
	}

	s = tide_shrinker_alloc("bench-cache");
	tide_shrinker_set_seeks(s, 0); /* cheap to rebuild: half per pass */
	tide_shrinker_register(s, &c_ops, NULL);
	printf("## pressure: signal to pages back, per source\n\n");
	printf("The monitor answers the signal with kswapd's loop over a "
	       "cache of 256 KiB kv blocks (seeks 0); %d rounds for the FIFO, %d per cgroup source. "
	       "Times from the signal to the first unmap (first pages back) "
	       "and to the loop's last unmap (all pages back), against the "
	       "floor: a hand-written program with no tide, a thread that "
	       "munmaps the same number of written blocks (first and last "
	       "munmap) when woken by an eventfd written at t0 (FIFO row) or "
	       "by the same v1 usage threshold at the high watermark (cgroup "
	       "rows); the last columns are a floor that also reads one word "
	       "of each block before its munmap, as tide_kvfree() read the "
	       "block's header before kv's registry (shown for this VM's "
	       "cost of touching a mapping before its munmap). The cache "
	       "and the floor free the oldest block first. Goals: first <= "
	       "1.1× the floor, all <= "
	       "1.2×.\n\n",
	       ROUNDS, CG_ROUNDS);
	printf("| source | rounds | MiB back (median) | first pages: median "
	       "ms | floor first ms | ratio | all pages: median ms | floor all "
	       "ms | ratio | floor reading a word per block: first / all ms | "
	       "ratio first / all |\n");
	printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
	if (argc < 2 || !strcmp(argv[1], "fifo"))
		bench_fifo();
	fflush(stdout);
	if (argc < 2 || !strcmp(argv[1], "cgroup"))
		bench_cgroup();
	if (argc < 2)
		bench_sensor_cost();
	tide_shrinker_free(s);
	return 0;
}
