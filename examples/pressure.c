// SPDX-License-Identifier: MIT
/*
 * pressure.c - a monitor with the defaults, in the program's own event loop.
 *
 * tide_monitor_new(&m, NULL) opens every pressure source that applies here
 * and finds the effective memory limit by itself; the program prints what
 * it found.  The monitor's descriptor sits in the poll() set next to the
 * program's own; when it is readable, tide_monitor_dispatch() runs the
 * reclaim loop on this thread.  The cache of the shrinker example (1 MiB
 * entries) grows by 48 MiB; then a simulated CRITICAL level - what a
 * source delivers when the limit is close - empties it, as the program's
 * own tests can do (tide_monitor_simulate()).
 */
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <tide.h>

#define MiB (1024 * 1024)
#define ENTRIES 48

static void *entry[ENTRIES];
static unsigned head, tail; /* live: [head, tail); one thread, no lock */

/* The objects are the 1 MiB entries. */
static unsigned long count(void *priv, struct tide_shrink_control *sc)
{
	(void)priv;
	(void)sc;
	return tail > head ? tail - head : TIDE_SHRINK_EMPTY;
}

static unsigned long scan(void *priv, struct tide_shrink_control *sc)
{
	unsigned long freed = 0;

	(void)priv;
	while (freed < sc->nr_to_scan && head < tail) {
		tide_kvfree(entry[head++]); /* oldest first */
		freed++;
	}
	return freed;
}

static void print_sources(unsigned mask)
{
	printf("sources:");
	for (unsigned bit = 1; bit <= TIDE_SOURCE_NONE; bit <<= 1)
		if (mask & bit)
			printf(" %s", tide_monitor_source_name(bit));
	printf("\n");
}

int main(void)
{
	static const struct tide_shrinker_ops ops = { count, scan };
	struct tide_shrinker *s = tide_shrinker_alloc("example-cache");
	struct tide_monitor_limit lim;
	struct tide_monitor_stats st;
	struct tide_monitor *m;
	unsigned cached, left;
	int r;

	if (!s)
		return 1;
	tide_shrinker_register(s, &ops, NULL);
	r = tide_monitor_new(&m, NULL);
	if (r) {
		fprintf(stderr, "monitor: %s\n", tide_strerror(r));
		return 1;
	}
	print_sources(tide_monitor_source(m));
	if (!tide_monitor_limit(m, &lim) && lim.limit)
		printf("limit: %llu MiB from %s/%s (cgroup v%d), working set "
		       "%llu MiB, reclaim from %llu down to %llu MiB\n",
		       (unsigned long long)lim.limit / MiB, lim.dir, lim.file,
		       lim.version, (unsigned long long)lim.working_set / MiB,
		       (unsigned long long)lim.high / MiB,
		       (unsigned long long)lim.low / MiB);
	else
		printf("limit: none found (level sources only)\n");

	while (tail < ENTRIES) {
		struct pollfd pfd = { tide_monitor_fd(m), POLLIN, 0 };

		/* The program's work: one more cache entry, every page used. */
		entry[tail] = tide_kvmalloc(MiB, 0);
		if (!entry[tail])
			return 1;
		memset(entry[tail++], 1, MiB);

		/* The event loop: here only the monitor's fd. */
		if (poll(&pfd, 1, 0) > 0)
			tide_monitor_dispatch(m);
	}
	cached = tail - head;
	tide_monitor_simulate(m, TIDE_PRESSURE_CRITICAL);
	for (int i = 0; i < 100; i++) {
		struct pollfd pfd = { tide_monitor_fd(m), POLLIN, 0 };

		if (poll(&pfd, 1, 20) > 0 && !tide_monitor_dispatch(m) &&
		    head == tail)
			break;
	}
	tide_monitor_stats(m, &st);
	left = tail - head;
	printf("48 MiB written, %u MiB cached; after a CRITICAL level %u MiB, "
	       "%llu reclaim loops\n",
	       cached, left, st.loops);
	tide_monitor_free(m);
	tide_shrinker_free(s);
	while (head < tail)
		tide_kvfree(entry[head++]);
	/* CRITICAL asks every cache for everything it counts. */
	return st.loops > 0 && !left ? 0 : 1;
}
