// SPDX-License-Identifier: MIT
/*
 * bench_pressure.c - latency from a pressure event to the pages being back.
 *
 * A cache of 256 KiB kv blocks is handed back through its shrinker by a
 * monitor running in its own thread.  Two events:
 *
 *  - FIFO: $MEMORY_PRESSURE_WATCH points at a FIFO; t0 is the write of one
 *    byte, t1 the moment the reclaim loop's last block was unmapped.
 *  - cgroup v1 threshold: in a child memory cgroup with a 256 MiB limit the
 *    cache is filled to 1 MiB under the high watermark (3/4 of the limit);
 *    t0 is before touching 2 MiB more (which crosses it), t1 the moment
 *    usage is back under the low watermark (the loop's last unmap).
 *    Needs root and cgroup v1; reported as skipped otherwise.
 *
 * No peer is named for this module; the goal is the issue's: median
 * latency <= 10 ms.  Output: a Markdown section on stdout.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tide.h>

#include "bench.h"
#include "internal.h" /* tide__cgroup_dir() */

#define BLOCK (256u << 10)
#define MAXB 4096
#define ROUNDS 41

struct cache {
	pthread_mutex_t lock;
	void *b[MAXB];
	unsigned n;
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
		tide_kvfree(cache.b[--cache.n]);
		freed += BLOCK / 4096;
	}
	if (freed) {
		cache.last_free = bench_now();
		if (!cache.first_free)
			cache.first_free = cache.last_free;
		atomic_fetch_add(&cache.frees, 1);
	}
	pthread_mutex_unlock(&cache.lock);
	return freed;
}

static const struct tide_shrinker_ops c_ops = { c_count, c_scan };

static int fill(size_t bytes)
{
	pthread_mutex_lock(&cache.lock);
	while ((size_t)cache.n * BLOCK < bytes && cache.n < MAXB) {
		char *p = tide_kvmalloc(BLOCK, 0);

		if (!p) {
			pthread_mutex_unlock(&cache.lock);
			return -ENOMEM;
		}
		for (size_t o = 0; o < BLOCK; o += 4096)
			p[o] = 1;
		cache.b[cache.n++] = p;
	}
	pthread_mutex_unlock(&cache.lock);
	return 0;
}

static void drop_all(void)
{
	pthread_mutex_lock(&cache.lock);
	while (cache.n)
		tide_kvfree(cache.b[--cache.n]);
	pthread_mutex_unlock(&cache.lock);
}

static double first[ROUNDS], floor_lat[ROUNDS];

/*
 * The floor: the seconds this thread takes to free @mib MiB of the same
 * written blocks directly, with no event, monitor or shrinker in between.
 */
static double raw_free(double mib)
{
	unsigned want = (unsigned)(mib * (1 << 20) / BLOCK + 0.5);
	double t0;

	fill((size_t)want * BLOCK + (size_t)cache.n * BLOCK);
	pthread_mutex_lock(&cache.lock);
	t0 = bench_now();
	for (unsigned i = 0; i < want && cache.n; i++)
		tide_kvfree(cache.b[--cache.n]);
	t0 = bench_now() - t0;
	pthread_mutex_unlock(&cache.lock);
	return t0;
}

static void report(const char *what, double *lat, int n, double *mib,
		   const char *extra)
{
	double med, p99, mmib, fmed, fp99, rmed;

	if (!n) {
		printf("| %s | skipped: %s | | | | | | | | |\n", what, extra);
		return;
	}
	rmed = bench_median(floor_lat, (size_t)n);
	mmib = bench_median(mib, (size_t)n);
	p99 = bench_quantile(lat, (size_t)n, 0.99);
	med = bench_median(lat, (size_t)n);
	fp99 = bench_quantile(first, (size_t)n, 0.99);
	fmed = bench_median(first, (size_t)n);
	printf("| %s | %d | %.3f | %.3f | %s | %.3f | %.3f | %.1f | %s | "
	       "%.3f | %.2f× |\n",
	       what, n, fmed * 1e3, fp99 * 1e3,
	       fmed <= 0.010 ? "met" : "not met", med * 1e3, p99 * 1e3, mmib,
	       med <= 0.010 ? "met" : "not met", rmed * 1e3, med / rmed);
}

static void wait_loops(struct tide_monitor *m, unsigned long long loops)
{
	struct tide_monitor_stats st;

	for (int i = 0; i < 200000; i++) {
		tide_monitor_stats(m, &st);
		if (st.loops >= loops)
			return;
		usleep(50);
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
		cache.first_free = 0;
		t0 = bench_now();
		if (write(fd, "x", 1) != 1)
			break;
		wait_loops(m, st.loops + 1);
		after = bench_anon_kb();
		lat[n] = cache.last_free - t0;
		first[n] = cache.first_free - t0;
		mib[n] = (double)(before - after) / 1024;
		floor_lat[n] = raw_free(mib[n]);
		n++;
	}
	close(fd);
	tide_monitor_free(m);
	drop_all();
	unlink(fifo);
	rmdir(dir);
	report("FIFO write (MEDIUM, 64 MiB cache)", lat, n, mib, "");
}

/* ---- cgroup v1 threshold ------------------------------------------------ */

static int own_v1_dir(char *out, size_t size)
{
	char *dir = NULL;

	if (tide__cgroup_dir(false, &dir))
		return -1;
	snprintf(out, size, "%s", dir);
	tide__os_free(dir);
	return 0;
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

static void cgroup_child(const char *cg)
{
	const long long limit = 256ll << 20, high = limit / 4 * 3;
	const struct tide_monitor_config cfg = {
		.size = sizeof(struct tide_monitor_config),
		.sources = TIDE_SOURCE_CGROUP1,
		.flags = TIDE_MONITOR_NO_TRIM
	};
	struct tide_monitor *m = NULL;
	struct tide_monitor_stats st;
	double lat[ROUNDS], mib[ROUNDS];
	char pid[32];
	int n = 0;

	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	if (put(cg, "cgroup.procs", pid))
		return report("cgroup v1 threshold", lat, 0, mib, "join");
	if (tide_monitor_new(&m, &cfg) || tide_monitor_start(m))
		return report("cgroup v1 threshold", lat, 0, mib, "monitor");
	for (int r = 0; r < ROUNDS; r++) {
		long long before, base = usage_of(cg);
		char *extra;
		double t0;

		/* to 1 MiB under the high watermark, then cross it */
		fill((size_t)(cache.n * (size_t)BLOCK +
			      (size_t)(high - (1 << 20) - base)));
		before = usage_of(cg);
		tide_monitor_stats(m, &st);
		extra = tide_kvmalloc(2u << 20, 0);
		cache.first_free = 0;
		t0 = bench_now();
		for (size_t o = 0; extra && o < (2u << 20); o += 4096)
			extra[o] = 1;
		wait_loops(m, st.loops + 1);
		lat[n] = cache.last_free - t0;
		first[n] = cache.first_free - t0;
		mib[n] =
			(double)(before + (2 << 20) - usage_of(cg)) / (1 << 20);
		tide_kvfree(extra);
		/* the floor, on the same bytes, under the watermark */
		drop_all();
		floor_lat[n] = raw_free(TIDE__MIN(mib[n], (high >> 20) / 2));
		n++;
	}
	tide_monitor_free(m);
	drop_all();
	report("cgroup v1 usage threshold (256 MiB limit)", lat, n, mib, "");
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

int main(void)
{
	static struct tide_shrinker *s;

	s = tide_shrinker_alloc("bench-cache");
	tide_shrinker_set_seeks(s, 0); /* cheap to rebuild: half per pass */
	tide_shrinker_register(s, &c_ops, NULL);
	printf("## pressure: event-to-pages-back latency\n\n");
	printf("A monitor thread answers the event with kswapd's loop over a "
	       "cache of 256 KiB kv blocks (seeks 0). Latency: from the event "
	       "to the first unmap (reaction) and to the loop's last unmap (all pages back); %d rounds each. No peer library is "
	       "named for this module. Goal: median <= 10 ms.\n\n",
	       ROUNDS);
	printf("The floor is the time this process takes to free the same "
	       "bytes of written blocks directly, with no event, monitor or "
	       "shrinker in between (measured after each round): giving "
	       "tens of MiB back costs that much on this machine whoever "
	       "does it.\n\n");
	printf("| event | rounds | first pages back: median ms | p99 ms | "
	       "goal | loop done, all pages back: median ms | p99 ms | MiB "
	       "given back (median) | goal | floor: direct free of the same "
	       "MiB, median ms | loop / floor |\n");
	printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
	bench_fifo();
	fflush(stdout);
	bench_cgroup();
	tide_shrinker_free(s);
	return 0;
}
