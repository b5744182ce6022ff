// SPDX-License-Identifier: MIT
/*
 * story_broker.c - a binder-like broker through two load spikes: a process
 * registry (tide_vec with TIDE_VEC_AUTOTRIM) and transaction buffers
 * (tide_arena, idle pages handed back by a budget monitor), against the
 * same broker on malloc/realloc.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tide.h>

#include "demo.h"

/* A registered client process, 64 bytes like a small binder_proc entry. */
struct proc {
	uint32_t pid, prio;
	uint64_t node, cookie;
	char comm[16];
	uint64_t stats[3];
};

/* The same broker on tide or on malloc/realloc. */
struct broker {
	bool tide;
	struct tide_vec reg; /* tide: the registry */
	struct proc *plain; /* malloc: the registry... */
	size_t plain_len, plain_cap; /* ...grown by doubling, never shrunk */
	struct tide_arena *arena;
};

static size_t reg_len(const struct broker *b)
{
	return b->tide ? b->reg.len : b->plain_len;
}

static size_t reg_cap(const struct broker *b)
{
	return b->tide ? b->reg.cap : b->plain_cap;
}

static void reg_add(struct broker *b, uint32_t pid)
{
	struct proc p = { .pid = pid, .prio = pid % 40, .node = pid };

	snprintf(p.comm, sizeof(p.comm), "client-%u", pid);
	if (b->tide) {
		if (tide_vec_push(&b->reg, &p))
			_exit(5);
		return;
	}
	if (b->plain_len == b->plain_cap) {
		size_t cap = b->plain_cap ? 2 * b->plain_cap : 4;
		void *n = realloc(b->plain, cap * sizeof(*b->plain));

		if (!n)
			_exit(5);
		b->plain = n;
		b->plain_cap = cap;
	}
	b->plain[b->plain_len++] = p;
}

static void reg_del(struct broker *b, size_t i)
{
	if (b->tide) {
		tide_vec_swap_remove(&b->reg, i, NULL);
		return;
	}
	b->plain[i] = b->plain[--b->plain_len];
}

static void *buf_alloc(struct broker *b, size_t size)
{
	void *p = b->tide ? tide_arena_alloc(b->arena, size) : malloc(size);

	if (!p)
		_exit(6);
	return p;
}

static void buf_free(struct broker *b, void *p)
{
	if (b->tide)
		tide_arena_free(b->arena, p);
	else
		free(p);
}

/* Two spikes, the second smaller; the last quarter is quiet. */
const struct spike spikes[2] = {
	{ 0.08, 0.14, 0.28, 0.34, 1.0 },
	{ 0.48, 0.54, 0.64, 0.70, 0.6 },
};

static double load_at(unsigned step)
{
	double x = (double)step / opt.steps;

	for (size_t i = 0; i < sizeof(spikes) / sizeof(spikes[0]); i++) {
		if (x < spikes[i].start || x >= spikes[i].end)
			continue;
		if (x < spikes[i].up)
			return spikes[i].height * (x - spikes[i].start) /
			       (spikes[i].up - spikes[i].start);
		if (x < spikes[i].down)
			return spikes[i].height;
		return spikes[i].height * (spikes[i].end - x) /
		       (spikes[i].end - spikes[i].down);
	}
	return 0;
}

#define BASE_PROCS 2000
#define PEAK_PROCS 300000
#define BASE_TXNS 64
#define PEAK_TXNS 3000
#define RING 8192 /* > 2 * PEAK_TXNS */
#define HELD 4096

struct held {
	void *p;
	unsigned until;
};

/* Log-uniform between 256 B and 64 KiB, like a mix of small and bulk
 * transactions. */
static size_t txn_size(void)
{
	return (size_t)(256.0 * exp(rnd01() * log(256.0)));
}

static void broker_child(int fd, void *arg)
{
	struct broker b = { .tide = arg != NULL };
	struct tide_monitor *m = NULL;
	void **ring = calloc(RING, sizeof(*ring));
	struct held *held = calloc(HELD, sizeof(*held));
	size_t head = 0, tail = 0, nheld = 0;
	uint32_t next_pid = 1;
	size_t cap_peak = 0;
	long rss_peak = 0, rss;
	double rss_sum = 0;

	if (!ring || !held)
		_exit(4);
	rng_state = 0x7469646564656d6fULL;
	if (b.tide) {
		/* A budget the broker should keep to when idle: above it the
		 * arena's idle pages go back. */
		const struct tide_monitor_config cfg = {
			.size = sizeof(cfg),
			.sources = TIDE_SOURCE_BUDGET,
			.budget = TIDE_BUDGET_RSS,
			.high_watermark = 24 * MiB,
			.low_watermark = 16 * MiB,
			.poll_interval_ms = 50,
			.flags = TIDE_MONITOR_NO_TRIM,
		};

		tide_vec_init(&b.reg, sizeof(struct proc), TIDE_VEC_AUTOTRIM);
		b.arena = tide_arena_create("broker-buffers", 256 * MiB);
		if (!b.arena || tide_monitor_new(&m, &cfg) ||
		    tide_monitor_start(m))
			_exit(3);
	}
	for (unsigned s = 0; s < opt.steps; s++) {
		double load = load_at(s);
		size_t procs =
			BASE_PROCS + (size_t)(load * (PEAK_PROCS - BASE_PROCS));
		size_t txns =
			BASE_TXNS + (size_t)(load * (PEAK_TXNS - BASE_TXNS));
		size_t churn = reg_len(&b) / 100;

		/* Clients come and go all the time, more of them in a spike. */
		for (size_t i = 0; i < churn; i++) {
			reg_del(&b, rnd() % reg_len(&b));
			reg_add(&b, next_pid++);
		}
		while (reg_len(&b) < procs)
			reg_add(&b, next_pid++);
		while (reg_len(&b) > procs)
			reg_del(&b, rnd() % reg_len(&b));

		/* Half the transactions in flight complete each step. */
		for (size_t done = (tail - head) / 2; done--;)
			buf_free(&b, ring[head++ % RING]);
		while (tail - head > txns)
			buf_free(&b, ring[head++ % RING]);
		for (size_t i = 0; i < nheld;) {
			if (held[i].until > s) {
				i++;
				continue;
			}
			buf_free(&b, held[i].p);
			held[i] = held[--nheld];
		}
		while (tail - head < txns) {
			size_t size = txn_size();
			void *p = buf_alloc(&b, size);

			memset(p, (int)s, size);
			/* A few replies stay unread for a long time. */
			if (nheld < HELD && rnd() % 256 == 0) {
				held[nheld].p = p;
				held[nheld++].until =
					s + 1 +
					(unsigned)(-log(1 - rnd01()) * 0.4 *
						   opt.steps);
				continue;
			}
			ring[tail++ % RING] = p;
		}

		rss = tproc_anon_kb();
		rss_peak = rss > rss_peak ? rss : rss_peak;
		rss_sum += (double)rss;
		if (reg_cap(&b) > cap_peak)
			cap_peak = reg_cap(&b);
		emit(fd, "S %.3f %zu %.2f %zu %.3f\n", s * opt.tick_ms / 1000.0,
		     reg_cap(&b), rss / 1024.0, reg_len(&b), load);
		sleep_us(opt.tick_ms * 1000);
	}
	rss = tproc_anon_kb();
	{
		struct tide_monitor_stats mst = { 0 };
		struct tide_arena_stats ast = { 0 };

		tide_monitor_stats(m, &mst);
		tide_arena_stats(b.arena, &ast);
		emit(fd,
		     "R rss_peak=%.2f rss_end=%.2f rss_mean=%.2f cap_peak=%zu "
		     "cap_end=%zu len_end=%zu loops=%llu reused=%llu\n",
		     rss_peak / 1024.0, rss / 1024.0,
		     rss_sum / opt.steps / 1024.0, cap_peak, reg_cap(&b),
		     reg_len(&b), mst.loops, ast.page_faults_avoided);
	}
	tide_monitor_free(m);
}

struct series broker_res[2];

static void broker_line(const char *l, void *ctx)
{
	struct series_progress *bp = ctx;
	struct series *s = bp->s;

	series_line(l, s);
	if (l[0] == 'S' && s->n && s->n % 5 == 0) {
		double *v = s->v[s->n - 1];

		progress("%-15s step %3zu/%u  load %3.0f%%  registry %6.0f "
			 "slots  RSS %6.1f MiB",
			 bp->name, s->n, opt.steps, v[4] * 100, v[1], v[2]);
	}
}

void story_broker(void)
{
	static const char *const name[] = { "tide", "malloc/realloc" };

	story_begin("a broker through two load spikes (%u steps of %u ms "
		    "each, per variant)",
		    opt.steps, opt.tick_ms);
	for (int v = 0; v < 2; v++) {
		struct series_progress bp = { &broker_res[v], name[v] };
		int st = run_child(broker_child, v ? NULL : (void *)1,
				   broker_line, &bp);

		if (!WIFEXITED(st) || WEXITSTATUS(st)) {
			snprintf(bp.s->result, sizeof(bp.s->result), "failed");
			story_fail();
		}
		progress_done("%-15s peak %.1f MiB, after the fall %.1f MiB, "
			      "registry %.0f -> %.0f slots",
			      name[v], result(bp.s, "rss_peak", 0),
			      result(bp.s, "rss_end", 0),
			      result(bp.s, "cap_peak", 0),
			      result(bp.s, "cap_end", 0));
	}
}

void story_broker_report(void)
{
	const struct series *t = &broker_res[0], *p = &broker_res[1];
	double total = opt.steps * opt.tick_ms / 1000.0;

	printf("\n%u. Broker: %d -> %d registered processes and %d -> %d "
	       "transactions in flight, twice,\n   over %.0f s\n",
	       story_number(), BASE_PROCS, PEAK_PROCS, BASE_TXNS, PEAK_TXNS,
	       total);
	printf("   %-18s %10s %12s %16s %22s\n", "", "peak RSS", "mean RSS",
	       "RSS after fall", "registry slots");
	printf("   %-18s %6.1f MiB %8.1f MiB %12.1f MiB %10.0f -> %-8.0f\n",
	       "tide", result(t, "rss_peak", 0), result(t, "rss_mean", 0),
	       result(t, "rss_end", 0), result(t, "cap_peak", 0),
	       result(t, "cap_end", 0));
	printf("   %-18s %6.1f MiB %8.1f MiB %12.1f MiB %10.0f -> %-8.0f\n",
	       "malloc/realloc", result(p, "rss_peak", 0),
	       result(p, "rss_mean", 0), result(p, "rss_end", 0),
	       result(p, "cap_peak", 0), result(p, "cap_end", 0));
	for (int v = 0; v < 2; v++)
		if (!strcmp(broker_res[v].result, "failed"))
			printf("   %-18s FAILED (its process did not finish)\n",
			       v ? "malloc/realloc" : "tide");
	printf("   (tide: the registry trims itself as processes leave; idle "
	       "buffer pages go back\n    when RSS is above the 24 MiB budget "
	       "(down to 16 MiB); %.0f reclaim loops, %.0f pages\n    reused "
	       "without a fault)\n",
	       result(t, "loops", 0), result(t, "reused", 0));
}
