/* SPDX-License-Identifier: MIT */
/*
 * cache.h - the cache server skeleton the event-loop examples share
 * (glib.c, libuv.c, sd-event.c; docs/integrations.md).
 *
 * The "server" answers one request per timer tick by caching a 1 MiB kv
 * block.  Its shrinker takes no lock: count and scan run on the loop's
 * thread, from tide_monitor_dispatch(), like every other callback of the
 * loop.  The monitor runs with its defaults; its signal is
 * $MEMORY_PRESSURE_WATCH (systemd's protocol) pointing at a FIFO which the
 * example writes to itself once the cache is full, as systemd would on
 * pressure.  The check at the end is what the examples prove: the cache
 * shrank, on the loop's thread only, and its pages went back.
 */
#ifndef TIDE_EXAMPLE_CACHE_H
#define TIDE_EXAMPLE_CACHE_H

/* mkdtemp, setenv: the including file defines _GNU_SOURCE before its
 * first #include (the loop's headers include the C library's). */
#ifndef _GNU_SOURCE
#error "define _GNU_SOURCE before the first #include"
#endif
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tide.h>

#define MiB (1024 * 1024)
#define ENTRIES 64

static struct {
	void *e[ENTRIES];
	unsigned head, tail; /* live entries: [head, tail) */
	unsigned long scans, evicted, off_thread;
	pthread_t owner; /* the loop's thread */
	long anon_full; /* KiB resident when full */
	unsigned long evicted_full; /* evicted before that (another source) */
	char dir[64], fifo[80];
	struct tide_shrinker *shrinker;
} cache;

static void on_owner_thread(void)
{
	if (!pthread_equal(pthread_self(), cache.owner))
		cache.off_thread++;
}

static unsigned long cache_count(void *priv, struct tide_shrink_control *sc)
{
	(void)priv;
	(void)sc;
	on_owner_thread();
	return cache.tail > cache.head ?
		       (cache.tail - cache.head) * (MiB / 4096) :
		       TIDE_SHRINK_EMPTY;
}

/* No lock, no trylock: nothing else touches the cache concurrently. */
static unsigned long cache_scan(void *priv, struct tide_shrink_control *sc)
{
	unsigned long freed = 0;

	(void)priv;
	on_owner_thread();
	cache.scans++;
	while (freed < sc->nr_to_scan && cache.head < cache.tail) {
		tide_kvfree(cache.e[cache.head++]); /* oldest first */
		cache.evicted++;
		freed += MiB / 4096;
	}
	return freed;
}

/* Resident anonymous memory in KiB (Anonymous: of smaps_rollup). */
static long anon_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/smaps_rollup", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Anonymous: %ld kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

/* The FIFO as $MEMORY_PRESSURE_WATCH, the shrinker, the monitor (defaults). */
static int cache_setup(struct tide_monitor **m)
{
	static const struct tide_shrinker_ops ops = { cache_count, cache_scan };
	int r;

	cache.owner = pthread_self();
	snprintf(cache.dir, sizeof(cache.dir), "/tmp/tide-loop-XXXXXX");
	if (!mkdtemp(cache.dir))
		return -1;
	snprintf(cache.fifo, sizeof(cache.fifo), "%s/pressure", cache.dir);
	if (mkfifo(cache.fifo, 0600) ||
	    setenv("MEMORY_PRESSURE_WATCH", cache.fifo, 1))
		return -1;
	cache.shrinker = tide_shrinker_alloc("loop-cache");
	if (!cache.shrinker)
		return -1;
	tide_shrinker_register(cache.shrinker, &ops, NULL);
	r = tide_monitor_new(m, NULL);
	if (r) {
		fprintf(stderr, "monitor: %s\n", tide_strerror(r));
		return -1;
	}
	/* Several sources may apply at once; this example needs the FIFO. */
	printf("monitor sources:");
	for (unsigned bit = 1; bit <= TIDE_SOURCE_NONE; bit <<= 1)
		if (tide_monitor_source(*m) & bit)
			printf(" %s", tide_monitor_source_name(bit));
	printf(" (watch: %s)\n", cache.fifo);
	return tide_monitor_source(*m) & TIDE_SOURCE_WATCH ? 0 : -1;
}

/*
 * One request: cache a 1 MiB block.  Returns 1 when the cache is full; then
 * (once) the pressure signal goes into the FIFO.
 */
static int cache_serve(void)
{
	char *p;
	int fd;

	if (cache.tail == ENTRIES)
		return 1;
	p = tide_kvmalloc(MiB, 0);
	if (!p)
		return -1;
	memset(p, (int)cache.tail + 1, MiB);
	cache.e[cache.tail++] = p;
	if (cache.tail < ENTRIES)
		return 0;
	cache.anon_full = anon_kb();
	cache.evicted_full = cache.evicted;
	printf("cache full: %d MiB, %ld KiB resident; signalling pressure\n",
	       ENTRIES, cache.anon_full);
	fd = open(cache.fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || write(fd, "p", 1) != 1)
		return -1;
	close(fd);
	return 1;
}

/*
 * True once the monitor has answered the FIFO's signal with a whole reclaim
 * loop (another source, such as PSI, may run a pass of its own before it).
 */
static int cache_answered(struct tide_monitor *m)
{
	struct tide_monitor_source_stats st;

	return !tide_monitor_source_stats(m, TIDE_SOURCE_WATCH, &st) &&
	       st.loops > 0;
}

#if defined(__SANITIZE_THREAD__)
#define CACHE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CACHE_TSAN 1
#endif
#endif

/* 0 when the pressure shrank the cache on the loop's thread. */
static int cache_check(struct tide_monitor *m)
{
	long anon = anon_kb();
	long back = cache.anon_full - anon;
	/* what the FIFO's signal evicted: a quarter of the full cache at least */
	unsigned long live_full = ENTRIES - cache.evicted_full;
	unsigned long after = cache.evicted - cache.evicted_full;
	int ok = after && after >= live_full / 4 && !cache.off_thread;

#ifndef CACHE_TSAN
	/*
	 * Every block evicted since the cache was full gave its MiB back
	 * (blocks another source evicted before that were never counted in
	 * anon_full).  Under TSan the shadow of the pages is resident memory
	 * too; under valgrind (make valgrind sets TIDE_UNDER_VALGRIND) its own
	 * heap moves the figure by some KiB.
	 */
	if (!getenv("TIDE_UNDER_VALGRIND"))
		ok = ok && back >= (long)after * 1024 - 256;
#endif

	printf("%s: %lu of %d MiB evicted (%lu before the cache was full) in "
	       "%lu scans, %lu callbacks off the loop thread, %ld KiB resident "
	       "given back\n",
	       ok ? "ok" : "FAILED", cache.evicted, ENTRIES, cache.evicted_full,
	       cache.scans, cache.off_thread, back);
	tide_monitor_free(m);
	tide_shrinker_free(cache.shrinker);
	while (cache.head < cache.tail)
		tide_kvfree(cache.e[cache.head++]);
	unlink(cache.fifo);
	rmdir(cache.dir);
	return ok ? 0 : 1;
}

#endif /* TIDE_EXAMPLE_CACHE_H */
