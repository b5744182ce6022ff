// SPDX-License-Identifier: MIT
/*
 * test_pressure_cgroup.c - the pressure monitor against a real cgroup v1
 * memory limit.
 *
 * A child cgroup of our own memory cgroup gets a 192 MiB limit.  A process
 * moved into it grows a cache of 1 MiB kv blocks to 640 MiB in total, each
 * page written, the cache handing blocks back through its shrinker.  With a
 * monitor on the cgroup v1 source (usage threshold at 3/4 of the limit,
 * reclaim down to 5/8, vmpressure levels) it survives and ends under the
 * limit; the same run without a monitor is OOM-killed, which proves the
 * limit is real.  Needs root and a writable cgroup v1 memory hierarchy;
 * skips (77) otherwise.
 */
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <sys/stat.h>

#include <tide.h>

#include "harness.h"

#define MiB (UINT64_C(1) << 20)
#define LIMIT (192 * MiB)
#define ENTRY (1 * MiB)
#define ENTRIES 640

static char cg_dir[PATH_MAX]; /* the child cgroup */

/* The own cgroup v1 memory directory, or "" if there is none. */
static void own_memory_cgroup(char *out, size_t size)
{
	char *dir = NULL;

	out[0] = 0;
	if (tide__cgroup_dir(false, &dir))
		return;
	snprintf(out, size, "%s", dir);
	tide__os_free(dir);
}

static int write_str(const char *dir, const char *file, const char *val)
{
	char path[PATH_MAX + 64];
	int fd, r = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		r = -errno;
	close(fd);
	return r;
}

static long long read_key(const char *dir, const char *file, const char *key)
{
	char path[PATH_MAX + 64], line[256];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		size_t kl = strlen(key);

		if (!kl) {
			v = atoll(line);
			break;
		}
		if (!strncmp(line, key, kl) && line[kl] == ' ') {
			v = atoll(line + kl + 1);
			break;
		}
	}
	fclose(f);
	return v;
}

/* ---- the workload (runs in the child cgroup) ------------------------- */

struct cache {
	pthread_mutex_t lock;
	void *e[ENTRIES];
	unsigned head, tail; /* live entries: [head, tail) */
	unsigned long evicted;
};

static unsigned long cache_count(void *priv, struct tide_shrink_control *sc)
{
	struct cache *c = priv;
	unsigned long pages;

	pthread_mutex_lock(&c->lock);
	pages = (unsigned long)(c->tail - c->head) * (ENTRY / 4096);
	pthread_mutex_unlock(&c->lock);
	return pages ? pages : TIDE_SHRINK_EMPTY;
}

/* Drop the oldest entries until nr_to_scan pages are freed. */
static unsigned long cache_scan(void *priv, struct tide_shrink_control *sc)
{
	struct cache *c = priv;
	unsigned long freed = 0;

	if (pthread_mutex_trylock(&c->lock))
		return TIDE_SHRINK_STOP;
	while (freed < sc->nr_to_scan && c->head < c->tail) {
		tide_kvfree(c->e[c->head]);
		c->e[c->head++] = NULL;
		freed += ENTRY / 4096;
		c->evicted++;
	}
	pthread_mutex_unlock(&c->lock);
	return freed;
}

static void workload(void *arg)
{
	static const struct tide_shrinker_ops ops = { cache_count, cache_scan };
	const struct tide_monitor_config cfg = {
		.size = sizeof(struct tide_monitor_config),
		.sources = TIDE_SOURCE_CGROUP1,
	};
	bool monitored = arg != NULL;
	static struct cache c = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct tide_shrinker *s = tide_shrinker_alloc("cache");
	struct tide_monitor *m = NULL;
	struct tide_monitor_stats st = { 0 };
	const char *src;
	char pid[32];
	int r;

	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	r = write_str(cg_dir, "cgroup.procs", pid);
	if (r) {
		printf("join: %s\n", strerror(-r));
		_exit(2);
	}
	tide_shrinker_register(s, &ops, &c);
	if (monitored) {
		r = tide_monitor_new(&m, &cfg);
		if (!r)
			r = tide_monitor_start(m);
		if (r) {
			printf("monitor: %s\n", tide_strerror(r));
			_exit(3);
		}
	}
	for (unsigned i = 0; i < ENTRIES; i++) {
		char *p = tide_kvmalloc(ENTRY, 0);

		if (!p) {
			printf("kvmalloc: %s\n", strerror(errno));
			_exit(4);
		}
		for (size_t off = 0; off < ENTRY; off += 4096)
			p[off] = (char)i;
		pthread_mutex_lock(&c.lock);
		c.e[c.tail++] = p;
		pthread_mutex_unlock(&c.lock);
	}
	if (m)
		tide_monitor_stats(m, &st);
	src = tide_monitor_source_name(tide_monitor_source(m));
	/* Stop the monitor thread before reading the cache unlocked. */
	tide_monitor_free(m);
	printf("usage=%lld evicted=%lu cached=%u loops=%llu passes=%llu "
	       "freed=%llu source=%s\n",
	       read_key(cg_dir, "memory.usage_in_bytes", ""), c.evicted,
	       c.tail - c.head, st.loops, st.passes, st.freed, m ? src : "-");
	fflush(stdout);
	_exit(0);
}

/* ---- the test --------------------------------------------------------- */

TEST(cgroup1_limit_survived_with_monitor_oom_killed_without)
{
	char own[PATH_MAX], out_mon[16384], out_raw[4096], limit[32];
	long long kills_before, kills_mon, kills_raw, usage = -1;
	unsigned long long loops = 0;
	unsigned long evicted = 0;
	int st_mon, st_raw, rm;

	if (th_under_valgrind())
		SKIP("under valgrind the cgroup charges valgrind's own shadow "
		     "memory and the workload runs ~50x slower: the limit "
		     "would measure valgrind, not the cache");
	own_memory_cgroup(own, sizeof(own));
	if (!own[0])
		SKIP("no cgroup v1 memory controller mounted");
	snprintf(cg_dir, sizeof(cg_dir), "%s/tide-test-%d", own, (int)getpid());
	if (mkdir(cg_dir, 0755))
		SKIP("cannot create a memory cgroup under %s: %s", own,
		     strerror(errno));
	snprintf(limit, sizeof(limit), "%llu", (unsigned long long)LIMIT);
	if (write_str(cg_dir, "memory.limit_in_bytes", limit)) {
		rmdir(cg_dir);
		SKIP("cannot set memory.limit_in_bytes");
	}
	kills_before = read_key(cg_dir, "memory.oom_control", "oom_kill");

	st_mon = th_fork(workload, (void *)1, out_mon, sizeof(out_mon));
	kills_mon = read_key(cg_dir, "memory.oom_control", "oom_kill");
	st_raw = th_fork(workload, NULL, out_raw, sizeof(out_raw));
	kills_raw = read_key(cg_dir, "memory.oom_control", "oom_kill");
	/* Both children are reaped: the cgroup is empty and can go. */
	rm = rmdir(cg_dir) ? -errno : 0;

	th_note("with monitor: %s", out_mon);
	th_note("without: status %#x %s", st_raw, out_raw);
	sscanf(out_mon, "usage=%lld evicted=%lu cached=%*u loops=%llu", &usage,
	       &evicted, &loops);
	CHECK_EQ(rm, 0);
	CHECK(WIFEXITED(st_mon) && WEXITSTATUS(st_mon) == 0);
	CHECK(strstr(out_mon, "source=cgroup1"));
	CHECK(!strstr(out_mon, "WARNING")); /* no sanitizer report */
	CHECK_EQ(kills_mon, kills_before);
	CHECK_CMP(usage, >, 0);
	CHECK_CMP(usage, <, (long long)LIMIT);
	/* 640 MiB went through a 192 MiB cgroup: at least 448 MiB given back
	 * by the shrinker, over several reclaim loops. */
	CHECK_CMP(evicted, >=, 448);
	CHECK_CMP(loops, >=, 3);
	CHECK(WIFSIGNALED(st_raw) && WTERMSIG(st_raw) == SIGKILL);
	CHECK_EQ(kills_raw, kills_mon + 1);
}

RUN_TESTS(T(cgroup1_limit_survived_with_monitor_oom_killed_without))
