// SPDX-License-Identifier: MIT
/*
 * story_cache.c - a cache of 1 MiB kv blocks, given back by its shrinker,
 * in a memory cgroup with a limit (as root with cgroup v1 memory) or under
 * an RSS budget: with the pressure monitor against without.  In the cgroup
 * the monitor runs with the default configuration (tide_monitor_new(&m,
 * NULL)), and the story prints which sources and which limit it found.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tide.h>

#include "demo.h"

char cg_dir[PATH_MAX];

/* Make the limited cgroup; false (and why in @why) when we cannot. */
static bool cgroup_setup(char *why, size_t whysz)
{
	char own[PATH_MAX - 64], limit[32];

	if (geteuid()) {
		snprintf(why, whysz, "not root");
		return false;
	}
	if (tproc_memcg_v1_dir(own, sizeof(own))) {
		snprintf(why, whysz, "no cgroup v1 memory controller");
		return false;
	}
	snprintf(cg_dir, sizeof(cg_dir), "%s/tide-demo-%d", own, (int)getpid());
	if (mkdir(cg_dir, 0755)) {
		snprintf(why, whysz, "cannot create %s: %s", cg_dir,
			 strerror(errno));
		cg_dir[0] = 0;
		return false;
	}
	snprintf(limit, sizeof(limit), "%llu",
		 (unsigned long long)opt.limit_mib * MiB);
	if (tproc_dir_write(cg_dir, "memory.limit_in_bytes", limit)) {
		snprintf(why, whysz, "cannot set memory.limit_in_bytes");
		rmdir(cg_dir);
		cg_dir[0] = 0;
		return false;
	}
	return true;
}

struct cache {
	pthread_mutex_t lock;
	void **e;
	unsigned head, tail; /* live entries: [head, tail) */
	unsigned long evicted;
};

static struct cache cache = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Counted in pages: reclaim's arithmetic wants many small units. */
static unsigned long cache_count(void *priv, struct tide_shrink_control *sc)
{
	struct cache *c = priv;
	unsigned long pages;

	pthread_mutex_lock(&c->lock);
	pages = (unsigned long)(c->tail - c->head) * (MiB / 4096);
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
		freed += MiB / 4096;
		c->evicted++;
	}
	pthread_mutex_unlock(&c->lock);
	return freed;
}

/* One "I ..." line: the sources in use and the limit the monitor found. */
static void describe_monitor(int fd, struct tide_monitor *m, const char *how)
{
	struct tide_monitor_limit lim;
	unsigned mask = tide_monitor_source(m);
	char names[256] = "", found[sizeof(lim.dir) + sizeof(lim.file) + 96];
	size_t len = 0;
	int r;

	for (unsigned bit = 1; bit && len < sizeof(names); bit <<= 1) {
		if (!(mask & bit))
			continue;
		len += (size_t)snprintf(names + len, sizeof(names) - len,
					"%s%s", len ? "+" : "",
					tide_monitor_source_name(bit));
	}
	r = tide_monitor_limit(m, &lim);
	if (r)
		snprintf(found, sizeof(found), "not reported: %s",
			 strerror(-r));
	else if (!lim.limit)
		snprintf(found, sizeof(found), "none");
	else
		snprintf(found, sizeof(found), "%.1f MiB (%s%s%s, cgroup v%d)",
			 (double)lim.limit / MiB, lim.dir,
			 lim.dir[0] ? "/" : "", lim.file, lim.version);
	emit(fd, "I monitor from %s: sources %s, limit %s\n", how,
	     names[0] ? names : "none", found);
}

static void cache_child(int fd, void *arg)
{
	static const struct tide_shrinker_ops ops = { cache_count, cache_scan };
	bool monitored = arg != NULL;
	struct tide_shrinker *s = tide_shrinker_alloc("demo-cache");
	struct tide_monitor *m = NULL;
	long rss, peak = 0;
	char pid[32];

	cache.e = calloc(opt.written_mib, sizeof(*cache.e));
	if (!s || !cache.e)
		_exit(4);
	if (cg_dir[0]) {
		snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
		if (tproc_dir_write(cg_dir, "cgroup.procs", pid))
			_exit(2);
	}
	tide_shrinker_register(s, &ops, &cache);
	if (monitored) {
		/*
		 * In the cgroup: the defaults, as a program that knows nothing
		 * of its limit would run.  Under a budget: start at 3/4 of it,
		 * stop under 5/8, as the limit watcher does with a limit.
		 */
		const struct tide_monitor_config budget = {
			.size = sizeof(budget),
			.sources = TIDE_SOURCE_BUDGET,
			.budget = TIDE_BUDGET_RSS,
			.high_watermark = (uint64_t)opt.limit_mib * MiB / 4 * 3,
			.low_watermark = (uint64_t)opt.limit_mib * MiB / 8 * 5,
			.poll_interval_ms = 10,
		};

		if (tide_monitor_new(&m, cg_dir[0] ? NULL : &budget) ||
		    tide_monitor_start(m))
			_exit(3);
		describe_monitor(fd, m,
				 cg_dir[0] ? "the defaults" : "an RSS budget");
	}
	for (unsigned i = 0; i < opt.written_mib; i++) {
		char *p = tide_kvmalloc(MiB, 0);

		if (!p)
			_exit(4);
		for (size_t off = 0; off < MiB; off += 4096)
			p[off] = (char)(i + 1);
		pthread_mutex_lock(&cache.lock);
		cache.e[cache.tail++] = p;
		pthread_mutex_unlock(&cache.lock);
		rss = tproc_anon_kb();
		peak = rss > peak ? rss : peak;
		pthread_mutex_lock(&cache.lock);
		emit(fd, "S %u %.2f %u\n", i + 1, rss / 1024.0,
		     cache.tail - cache.head);
		pthread_mutex_unlock(&cache.lock);
		sleep_us(opt.pace_us);
	}
	{
		struct tide_monitor_stats st = { 0 };

		tide_monitor_stats(m, &st);
		/* Stop the monitor before reading the cache unlocked. */
		tide_monitor_free(m);
		emit(fd,
		     "R survived=1 rss_peak=%.2f evicted=%lu cached=%u "
		     "loops=%llu usage_max=%lld\n",
		     peak / 1024.0, cache.evicted, cache.tail - cache.head,
		     st.loops,
		     cg_dir[0] ?
			     tproc_dir_value(cg_dir,
					     "memory.max_usage_in_bytes", "") :
			     -1LL);
	}
}

struct series cache_res[2];
int cache_status[2];
static long long cache_kills[2];
static char cache_why[256];

static void cache_line(const char *l, void *ctx)
{
	struct series_progress *bp = ctx;
	struct series *s = bp->s;

	series_line(l, s);
	if (l[0] == 'S' && s->n && s->n % 8 == 0) {
		double *v = s->v[s->n - 1];

		progress("%-15s %4.0f of %u MiB written  RSS %6.1f MiB  "
			 "cached %4.0f MiB",
			 bp->name, v[0], opt.written_mib, v[1], v[2]);
	}
}

void story_cache(void)
{
	static const char *const name[] = { "with monitor", "without" };
	bool cg =
		!opt.force_budget && cgroup_setup(cache_why, sizeof(cache_why));

	if (opt.force_budget)
		snprintf(cache_why, sizeof(cache_why), "--budget given");
	if (cg)
		story_begin("a cache writing %u MiB in a memory cgroup "
			    "limited to %u MiB (%s)",
			    opt.written_mib, opt.limit_mib, cg_dir);
	else
		story_begin("a cache writing %u MiB under an RSS budget of "
			    "%u MiB (no cgroup: %s)",
			    opt.written_mib, opt.limit_mib, cache_why);
	for (int v = 0; v < 2; v++) {
		struct series_progress bp = { &cache_res[v], name[v] };
		long long before =
			cg ? tproc_dir_value(cg_dir, "memory.oom_control",
					     "oom_kill") :
			     0;

		cache_status[v] = run_child(cache_child, v ? NULL : (void *)1,
					    cache_line, &bp);
		cache_kills[v] =
			cg ? tproc_dir_value(cg_dir, "memory.oom_control",
					     "oom_kill") -
					before :
			     0;
		progress_done("%-15s %s", name[v],
			      WIFSIGNALED(cache_status[v]) ? "killed" :
			      WEXITSTATUS(cache_status[v]) ? "failed" :
							     "ran to the end");
	}
	/* Killed without the monitor is the story; failing is not. */
	if (!result(&cache_res[0], "survived", 0) ||
	    (WIFEXITED(cache_status[1]) && WEXITSTATUS(cache_status[1])))
		story_fail();
	if (cg && rmdir(cg_dir))
		fprintf(stderr, "tide-demo: rmdir %s: %s\n", cg_dir,
			strerror(errno));
}

void story_cache_report(void)
{
	const struct series *ct = &cache_res[0], *cb = &cache_res[1];

	printf("\n%u. Cache of 1 MiB kv blocks, %u MiB written, %s %u MiB\n",
	       story_number(), opt.written_mib,
	       cg_dir[0] ? "memory cgroup limited to" : "RSS budget of",
	       opt.limit_mib);
	if (result(ct, "survived", 0))
		printf("   %-18s survived, peak RSS %.1f MiB, %.0f MiB given "
		       "back by the shrinker in %.0f reclaim loops\n",
		       "with monitor", result(ct, "rss_peak", 0),
		       result(ct, "evicted", 0), result(ct, "loops", 0));
	else
		printf("   %-18s FAILED (status %#x)\n", "with monitor",
		       cache_status[0]);
	if (WIFSIGNALED(cache_status[1]))
		printf("   %-18s OOM-killed (signal %d, %lld oom_kill) after "
		       "%zu MiB written, RSS %.1f MiB\n",
		       "without", WTERMSIG(cache_status[1]), cache_kills[1],
		       cb->n, cb->n ? cb->v[cb->n - 1][1] : 0.0);
	else if (result(cb, "rss_peak", 0) > opt.limit_mib)
		printf("   %-18s exceeded the budget: peak RSS %.1f MiB "
		       "(%.1fx)\n",
		       "without", result(cb, "rss_peak", 0),
		       result(cb, "rss_peak", 0) / opt.limit_mib);
	else if (WIFEXITED(cache_status[1]) && WEXITSTATUS(cache_status[1]))
		printf("   %-18s FAILED (exit status %d)\n", "without",
		       WEXITSTATUS(cache_status[1]));
	else
		printf("   %-18s stayed under: peak RSS %.1f MiB\n", "without",
		       result(cb, "rss_peak", 0));
	if (ct->info[0])
		printf("   (%s)\n", ct->info);
}
