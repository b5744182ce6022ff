// SPDX-License-Identifier: MIT
/*
 * pressure.c - a monitor in the program's own event loop.
 *
 * The cache of the shrinker example, 1 MiB entries this time, grows by 48
 * MiB under an RSS budget 16 MiB above the program's start.  The monitor's
 * descriptor sits in the poll() set next to the program's own; when it is
 * readable, tide_monitor_dispatch() runs the reclaim loop on this thread,
 * and the cache shrinks back under the budget.
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

static unsigned long count(void *priv, struct tide_shrink_control *sc)
{
	return tail > head ? (tail - head) * (MiB / 4096) : TIDE_SHRINK_EMPTY;
}

static unsigned long scan(void *priv, struct tide_shrink_control *sc)
{
	unsigned long freed = 0;

	while (freed < sc->nr_to_scan && head < tail) {
		tide_kvfree(entry[head++]); /* oldest first */
		freed += MiB / 4096;
	}
	return freed;
}

/* What the budget source measures: Rss (minus LazyFree, none here). */
static uint64_t rss_bytes(void)
{
	char line[256];
	unsigned long long kb = 0;
	FILE *f = fopen("/proc/self/smaps_rollup", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Rss: %llu kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb * 1024;
}

int main(void)
{
	static const struct tide_shrinker_ops ops = { count, scan };
	struct tide_shrinker *s = tide_shrinker_alloc("example-cache");
	struct tide_monitor_config cfg = {
		.size = sizeof(struct tide_monitor_config),
		.sources = TIDE_SOURCE_BUDGET,
		.budget = TIDE_BUDGET_RSS,
		.high_watermark = rss_bytes() + 16 * MiB,
		.low_watermark = rss_bytes() + 8 * MiB,
		.poll_interval_ms = 10,
	};
	struct tide_monitor_stats st;
	struct tide_monitor *m;
	int r;

	if (!s)
		return 1;
	tide_shrinker_register(s, &ops, NULL);
	r = tide_monitor_new(&m, &cfg);
	if (r) {
		fprintf(stderr, "monitor: %s\n", tide_strerror(r));
		return 1;
	}
	printf("source: %s\n",
	       tide_monitor_source_name(tide_monitor_source(m)));

	while (tail < ENTRIES) {
		struct pollfd pfd = { tide_monitor_fd(m), POLLIN, 0 };

		/* The program's work: one more cache entry, every page used. */
		entry[tail] = tide_kvmalloc(MiB, 0);
		if (!entry[tail])
			return 1;
		memset(entry[tail++], 1, MiB);

		/* The event loop: here only the monitor's fd. */
		if (poll(&pfd, 1, 20) > 0)
			tide_monitor_dispatch(m);
	}
	tide_monitor_stats(m, &st);
	printf("48 MiB written, %u MiB cached, %llu reclaim loops\n",
	       tail - head, st.loops);
	tide_monitor_free(m);
	tide_shrinker_free(s);
	while (head < tail)
		tide_kvfree(entry[head++]);
	/* The budget allowed about 16 MiB: most of the 48 had to go. */
	return st.loops > 0 && tail - head <= 24 ? 0 : 1;
}
