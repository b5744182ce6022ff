// SPDX-License-Identifier: MIT
/*
 * tide-demo - what tide does, in about a minute, without reading code.
 *
 *  1. The headline: 64 blocks of 256 KiB shrunk to 16 KiB.  tide gives 60 of
 *     each block's 64 data pages back at once (93.75%); glibc's realloc is
 *     shown in a fresh process and in one that has freed a large block.
 *  2. A binder-like broker through two load spikes: a process registry
 *     (tide_vec with TIDE_VEC_AUTOTRIM) and transaction buffers (tide_arena,
 *     idle pages handed back by a budget monitor), against the same broker on
 *     malloc/realloc.
 *  3. A cache of 1 MiB kv blocks, given back by its shrinker, in a memory
 *     cgroup with a limit (as root with cgroup v1 memory) or under an RSS
 *     budget: with the pressure monitor against without.
 *
 * Every variant runs in a child process of its own, so each resident figure
 * (the Anonymous: line of /proc/<pid>/smaps_rollup) is that variant's alone.
 * The children stream their samples through a pipe; the parent shows
 * progress, writes the data files, the gnuplot script and the PNG, and
 * prints the summary table.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <tide.h>

#include "internal.h" /* tide__cgroup_dir() for the demo's plumbing */

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)

static struct {
	bool quick, force_budget, no_plot;
	const char *out;
	/* broker */
	unsigned steps, tick_ms;
	/* cache */
	unsigned limit_mib, written_mib, pace_us;
} opt = {
	.out = "tide-demo-out",
	.steps = 400,
	.tick_ms = 40,
	.limit_mib = 128,
	.written_mib = 384,
	.pace_us = 10000,
};

static bool tty;

/* ---- small helpers -------------------------------------------------- */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Resident anonymous memory of this process in KiB. */
static long anon_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/smaps_rollup", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Anonymous: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* Child side: one line to the parent, unbuffered so an OOM kill loses none. */
static void emit(int fd, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0 && (size_t)n < sizeof(buf)) {
		ssize_t w = write(fd, buf, (size_t)n);

		(void)w;
	}
}

static void sleep_us(unsigned us)
{
	struct timespec ts = { us / 1000000, (long)(us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void progress(const char *fmt, ...)
{
	va_list ap;

	if (!tty)
		return;
	va_start(ap, fmt);
	fputs("\r\033[K  ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

static void progress_done(const char *fmt, ...)
{
	va_list ap;

	if (tty)
		fputs("\r\033[K", stderr);
	fputs("  ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
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

/* A "key value" line of a cgroup file; key "" reads the first number. */
static long long read_key(const char *dir, const char *file, const char *key)
{
	char path[PATH_MAX + 64], line[256];
	size_t kl = strlen(key);
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
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

/* xorshift64*: the same seed gives both variants the same workload. */
static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

static double rnd01(void)
{
	return (double)(rnd() >> 11) * (1.0 / 9007199254740992.0);
}

/*
 * Run @fn(@fd, @arg) in a child whose lines come back through a pipe; @line
 * sees each one as it arrives.  Returns the wait status.
 */
static int run_child(void (*fn)(int fd, void *arg), void *arg,
		     void (*line)(const char *l, void *ctx), void *ctx)
{
	char buf[8192];
	size_t used = 0;
	int pfd[2], status = 0;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	if (pipe2(pfd, O_CLOEXEC)) {
		perror("tide-demo: pipe");
		exit(1);
	}
	pid = fork();
	if (pid < 0) {
		perror("tide-demo: fork");
		exit(1);
	}
	if (!pid) {
		close(pfd[0]);
		fn(pfd[1], arg);
		_exit(0);
	}
	close(pfd[1]);
	for (;;) {
		ssize_t n = read(pfd[0], buf + used, sizeof(buf) - 1 - used);
		char *s, *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		used += (size_t)n;
		buf[used] = 0;
		for (s = buf; (nl = strchr(s, '\n')); s = nl + 1) {
			*nl = 0;
			line(s, ctx);
		}
		used -= (size_t)(s - buf);
		memmove(buf, s, used);
		if (used == sizeof(buf) - 1)
			used = 0; /* an overlong line: drop it */
	}
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return status;
}

/* A growable list of result samples in the parent. */
struct series {
	double (*v)[5];
	size_t n, cap;
	char result[512]; /* the child's "R ..." line */
};

static void series_line(const char *l, void *ctx)
{
	struct series *s = ctx;
	double v[5] = { 0 };

	if (l[0] == 'R') {
		snprintf(s->result, sizeof(s->result), "%s", l + 2);
		return;
	}
	if (l[0] != 'S' || sscanf(l + 2, "%lf %lf %lf %lf %lf", &v[0], &v[1],
				  &v[2], &v[3], &v[4]) < 3)
		return;
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 256;
		void *p = realloc(s->v, cap * sizeof(*s->v));

		if (!p)
			return;
		s->v = p;
		s->cap = cap;
	}
	memcpy(s->v[s->n++], v, sizeof(v));
}

/* A value "key=..." of a result line, or @def. */
static double result(const struct series *s, const char *key, double def)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "%s=", key);
	for (p = s->result; (p = strstr(p, pat)); p++)
		if (p == s->result || p[-1] == ' ')
			return atof(p + strlen(pat));
	return def;
}

/* ==== 1. the headline: 256 KiB -> 16 KiB ============================== */

#define NBLK 64

enum { SHRINK_TIDE, SHRINK_GLIBC_FRESH, SHRINK_GLIBC_WARM, SHRINK_VARIANTS };

static const char *const shrink_name[] = {
	"tide_kvrealloc",
	"glibc realloc, fresh process",
	"glibc realloc, after a free()",
};

static void *volatile sink;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void shrink_child(int fd, void *arg)
{
	int variant = (int)(intptr_t)arg;
	bool tide = variant == SHRINK_TIDE;
	char *b[NBLK];
	double us[NBLK];
	long before, after;
	int moved = 0;

	if (variant == SHRINK_GLIBC_WARM) {
		/*
		 * Any program that has freed one large block: glibc then
		 * raises its mmap threshold past that size, and later blocks
		 * of that size come from the heap.
		 */
		sink = malloc(256 * KiB);
		memset(sink, 1, 256 * KiB);
		free(sink);
	}
	for (int i = 0; i < NBLK; i++) {
		b[i] = tide ? tide_kvmalloc(256 * KiB, 0) : malloc(256 * KiB);
		if (!b[i])
			_exit(1);
		memset(b[i], i + 1, 256 * KiB);
	}
	before = anon_kb();
	for (int i = 0; i < NBLK; i++) {
		double t0 = now();
		char *p = tide ? tide_kvrealloc(b[i], 16 * KiB, 0) :
				 realloc(b[i], 16 * KiB);

		us[i] = (now() - t0) * 1e6;
		if (!p)
			_exit(1);
		moved += p != b[i];
		b[i] = p;
	}
	after = anon_kb();
	qsort(us, NBLK, sizeof(us[0]), cmp_double);
	emit(fd, "R freed_kb=%ld moved=%d us=%.2f\n", before - after, moved,
	     (us[NBLK / 2 - 1] + us[NBLK / 2]) / 2);
	for (int i = 0; i < NBLK; i++)
		tide ? tide_kvfree(b[i]) : free(b[i]);
}

static struct series shrink_res[SHRINK_VARIANTS];

static void part_shrink(void)
{
	fprintf(stderr, "[1/3] shrinking 64 blocks of 256 KiB to 16 KiB\n");
	for (int v = 0; v < SHRINK_VARIANTS; v++) {
		struct series *s = &shrink_res[v];
		int st = run_child(shrink_child, (void *)(intptr_t)v,
				   series_line, s);
		double pages = result(s, "freed_kb", 0) / 4.0 / NBLK;

		if (!WIFEXITED(st) || WEXITSTATUS(st))
			snprintf(s->result, sizeof(s->result), "failed");
		progress_done("%-30s %5.1f of 64 pages back per block",
			      shrink_name[v], pages);
	}
}

/* ==== 2. the broker ==================================================== */

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
static const struct {
	double start, up, down, end, height;
} spikes[] = {
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

		rss = anon_kb();
		rss_peak = rss > rss_peak ? rss : rss_peak;
		rss_sum += (double)rss;
		if (reg_cap(&b) > cap_peak)
			cap_peak = reg_cap(&b);
		emit(fd, "S %.3f %zu %.2f %zu %.3f\n", s * opt.tick_ms / 1000.0,
		     reg_cap(&b), rss / 1024.0, reg_len(&b), load);
		sleep_us(opt.tick_ms * 1000);
	}
	rss = anon_kb();
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

static struct series broker_res[2]; /* 0 tide, 1 malloc */

struct broker_progress {
	struct series *s;
	const char *name;
};

static void broker_line(const char *l, void *ctx)
{
	struct broker_progress *bp = ctx;
	struct series *s = bp->s;

	series_line(l, s);
	if (l[0] == 'S' && s->n && s->n % 5 == 0) {
		double *v = s->v[s->n - 1];

		progress("%-15s step %3zu/%u  load %3.0f%%  registry %6.0f "
			 "slots  RSS %6.1f MiB",
			 bp->name, s->n, opt.steps, v[4] * 100, v[1], v[2]);
	}
}

static void part_broker(void)
{
	static const char *const name[] = { "tide", "malloc/realloc" };

	fprintf(stderr,
		"[2/3] a broker through two load spikes (%u steps of %u ms "
		"each, per variant)\n",
		opt.steps, opt.tick_ms);
	for (int v = 0; v < 2; v++) {
		struct broker_progress bp = { &broker_res[v], name[v] };
		int st = run_child(broker_child, v ? NULL : (void *)1,
				   broker_line, &bp);

		if (!WIFEXITED(st) || WEXITSTATUS(st))
			snprintf(bp.s->result, sizeof(bp.s->result), "failed");
		progress_done("%-15s peak %.1f MiB, after the fall %.1f MiB, "
			      "registry %.0f -> %.0f slots",
			      name[v], result(bp.s, "rss_peak", 0),
			      result(bp.s, "rss_end", 0),
			      result(bp.s, "cap_peak", 0),
			      result(bp.s, "cap_end", 0));
	}
}

/* ==== 3. a cache under a memory limit ================================== */

static char cg_dir[PATH_MAX]; /* the child cgroup, "" under a budget */

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

/* Make the limited cgroup; false (and why in @why) when we cannot. */
static bool cgroup_setup(char *why, size_t whysz)
{
	char own[PATH_MAX], limit[32];

	if (geteuid()) {
		snprintf(why, whysz, "not root");
		return false;
	}
	own_memory_cgroup(own, sizeof(own));
	if (!own[0]) {
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
	if (write_str(cg_dir, "memory.limit_in_bytes", limit)) {
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
		if (write_str(cg_dir, "cgroup.procs", pid))
			_exit(2);
	}
	tide_shrinker_register(s, &ops, &cache);
	if (monitored) {
		struct tide_monitor_config cfg = {
			.sources = TIDE_SOURCE_CGROUP1,
		};

		if (!cg_dir[0]) {
			/* Start at 3/4 of the budget, stop under 5/8, as the
			 * cgroup source does with the limit. */
			cfg.sources = TIDE_SOURCE_BUDGET;
			cfg.budget = TIDE_BUDGET_RSS;
			cfg.high_watermark =
				(uint64_t)opt.limit_mib * MiB / 4 * 3;
			cfg.low_watermark =
				(uint64_t)opt.limit_mib * MiB / 8 * 5;
			cfg.poll_interval_ms = 10;
		}
		if (tide_monitor_new(&m, &cfg) || tide_monitor_start(m))
			_exit(3);
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
		rss = anon_kb();
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
			     read_key(cg_dir, "memory.max_usage_in_bytes", "") :
			     -1LL);
	}
}

static struct series cache_res[2]; /* 0 with the monitor, 1 without */
static int cache_status[2];
static long long cache_kills[2];
static char cache_why[256];

static void cache_line(const char *l, void *ctx)
{
	struct broker_progress *bp = ctx;
	struct series *s = bp->s;

	series_line(l, s);
	if (l[0] == 'S' && s->n && s->n % 8 == 0) {
		double *v = s->v[s->n - 1];

		progress("%-15s %4.0f of %u MiB written  RSS %6.1f MiB  "
			 "cached %4.0f MiB",
			 bp->name, v[0], opt.written_mib, v[1], v[2]);
	}
}

static void part_cache(void)
{
	static const char *const name[] = { "with monitor", "without" };
	bool cg =
		!opt.force_budget && cgroup_setup(cache_why, sizeof(cache_why));

	if (opt.force_budget)
		snprintf(cache_why, sizeof(cache_why), "--budget given");
	if (cg)
		fprintf(stderr,
			"[3/3] a cache writing %u MiB in a memory cgroup "
			"limited to %u MiB (%s)\n",
			opt.written_mib, opt.limit_mib, cg_dir);
	else
		fprintf(stderr,
			"[3/3] a cache writing %u MiB under an RSS budget of "
			"%u MiB (no cgroup: %s)\n",
			opt.written_mib, opt.limit_mib, cache_why);
	for (int v = 0; v < 2; v++) {
		struct broker_progress bp = { &cache_res[v], name[v] };
		long long before = cg ? read_key(cg_dir, "memory.oom_control",
						 "oom_kill") :
					0;

		cache_status[v] = run_child(cache_child, v ? NULL : (void *)1,
					    cache_line, &bp);
		cache_kills[v] = cg ? read_key(cg_dir, "memory.oom_control",
					       "oom_kill") -
						 before :
				      0;
		progress_done("%-15s %s", name[v],
			      WIFSIGNALED(cache_status[v]) ? "killed" :
			      WEXITSTATUS(cache_status[v]) ? "failed" :
							     "ran to the end");
	}
	if (cg && rmdir(cg_dir))
		fprintf(stderr, "tide-demo: rmdir %s: %s\n", cg_dir,
			strerror(errno));
}

/* ==== data files, the picture, the table =============================== */

static char *out_path(const char *name)
{
	static char path[4][PATH_MAX];
	static int i;
	char *p = path[i++ % 4];

	snprintf(p, PATH_MAX, "%s/%s", opt.out, name);
	return p;
}

static void write_series(const char *name, const struct series *s, int ncols)
{
	FILE *f = fopen(out_path(name), "we");

	if (!f) {
		fprintf(stderr, "tide-demo: %s: %s\n", out_path(name),
			strerror(errno));
		return;
	}
	for (size_t i = 0; i < s->n; i++) {
		for (int c = 0; c < ncols; c++)
			fprintf(f, c ? " %g" : "%g", s->v[i][c]);
		fputc('\n', f);
	}
	fclose(f);
}

static bool have_gnuplot(void)
{
	return !system("command -v gnuplot >/dev/null 2>&1");
}

/* Returns true when the PNG was written. */
static bool plot(void)
{
	double total = opt.steps * opt.tick_ms / 1000.0;
	const char *limit_label = cg_dir[0] ? "cgroup limit" : "RSS budget";
	char cmd[PATH_MAX + 64];
	FILE *f = fopen(out_path("tide-demo.gp"), "we");

	if (!f)
		return false;
	fprintf(f, "# gnuplot script written by tide-demo; run: gnuplot "
		   "tide-demo.gp\n"
		   "set terminal pngcairo size 1000,1250 font ',10'\n"
		   "set output 'tide-demo.png'\n"
		   "set multiplot layout 3,1 title 'tide-demo: resident "
		   "anonymous memory, tide against the baseline'\n"
		   "set grid\nset lmargin 12\nset rmargin 4\n"
		   "set key at graph 0.99, graph 0.65 right opaque\n");
	for (size_t i = 0; i < sizeof(spikes) / sizeof(spikes[0]); i++)
		fprintf(f,
			"set object %zu rect from %g, graph 0 to %g, graph 1 "
			"behind fc rgb '#fde9c9' fs solid 1.0 noborder\n"
			"set label %zu 'spike %zu' at %g, graph 0.95 center\n",
			i + 1, spikes[i].start * total, spikes[i].end * total,
			i + 1, i + 1,
			(spikes[i].start + spikes[i].end) / 2 * total);
	fprintf(f,
		"set title 'Broker: RSS through load spikes (shaded)'\n"
		"set xlabel 'time (s)'\nset ylabel 'MiB'\n"
		"set xrange [0:%g]\n"
		"plot 'broker-tide.dat' u 1:3 w l lw 2 lc rgb '#1f77b4' "
		"t 'tide: vec + arena + monitor', "
		"'broker-malloc.dat' u 1:3 w l lw 2 lc rgb '#d62728' "
		"t 'malloc/realloc'\n"
		"set title 'Broker: process registry capacity'\n"
		"set ylabel 'slots'\nset logscale y\n"
		"plot 'broker-tide.dat' u 1:2 w steps lw 2 lc rgb '#1f77b4' "
		"t 'tide\\_vec (AUTOTRIM)', "
		"'broker-malloc.dat' u 1:2 w steps lw 2 lc rgb '#d62728' "
		"t 'realloc doubling', "
		"'broker-tide.dat' u 1:4 w l lc rgb '#888888' dt 2 "
		"t 'processes registered'\n"
		"unset logscale y\nunset object 1\nunset object 2\n"
		"unset label 1\nunset label 2\nset xrange [*:*]\n",
		total);
	if (WIFSIGNALED(cache_status[1]) && cache_res[1].n)
		fprintf(f,
			"set label 3 'OOM-killed' at %g, %g right "
			"offset -1, -1 tc rgb '#d62728'\n",
			cache_res[1].v[cache_res[1].n - 1][0],
			cache_res[1].v[cache_res[1].n - 1][1]);
	fprintf(f,
		"set title 'Cache of 1 MiB kv blocks: %s %u MiB'\n"
		"set xlabel 'MiB written to the cache'\nset ylabel 'MiB'\n"
		"set yrange [0:*]\nunset key\nset key inside right bottom opaque\n"
		"plot 'cache-tide.dat' u 1:2 w l lw 2 lc rgb '#1f77b4' "
		"t 'with the pressure monitor + shrinker', "
		"'cache-baseline.dat' u 1:2 w l lw 2 lc rgb '#d62728' "
		"t 'without (%s)', "
		"%u w l dt 2 lc rgb 'black' t '%s'\n"
		"unset multiplot\n",
		limit_label, opt.limit_mib,
		WIFSIGNALED(cache_status[1]) ? "killed" : "no monitor",
		opt.limit_mib, limit_label);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "cd '%s' && gnuplot tide-demo.gp", opt.out);
	return !system(cmd);
}

static void table(bool png, bool gnuplot)
{
	const struct series *t = &broker_res[0], *p = &broker_res[1];
	const struct series *ct = &cache_res[0], *cb = &cache_res[1];
	double total = opt.steps * opt.tick_ms / 1000.0;

	printf("\ntide-demo summary%s\n", opt.quick ? " (--quick)" : "");
	printf("\n1. 64 blocks of 256 KiB shrunk to 16 KiB: each block has 64 "
	       "data pages, 16 KiB needs 4\n");
	printf("   %-32s %-14s %-9s %-8s %s\n", "", "pages back", "share",
	       "moved", "median us/shrink");
	for (int v = 0; v < SHRINK_VARIANTS; v++) {
		const struct series *s = &shrink_res[v];
		double pages = result(s, "freed_kb", 0) / 4.0 / NBLK;

		printf("   %-32s %4.1f of 64     %6.2f%%  %2.0f/64    %.1f\n",
		       shrink_name[v], pages, pages / 64 * 100,
		       result(s, "moved", 0), result(s, "us", 0));
	}
	if (SANITIZED)
		printf("   (built with a sanitizer: malloc is the sanitizer's "
		       "allocator, not glibc's)\n");
	printf("   (glibc serves a first 256 KiB block with mmap and shrinks "
	       "it with mremap; once a\n    program has freed one, glibc "
	       "raises its mmap threshold and such blocks live\n    on the "
	       "heap, where a shrink gives nothing back.)\n");

	printf("\n2. Broker: %d -> %d registered processes and %d -> %d "
	       "transactions in flight, twice,\n   over %.0f s\n",
	       BASE_PROCS, PEAK_PROCS, BASE_TXNS, PEAK_TXNS, total);
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
	printf("   (tide: the registry trims itself as processes leave; idle "
	       "buffer pages go back\n    when RSS is above the 24 MiB budget "
	       "(down to 16 MiB); %.0f reclaim loops, %.0f pages\n    reused "
	       "without a fault)\n",
	       result(t, "loops", 0), result(t, "reused", 0));

	printf("\n3. Cache of 1 MiB kv blocks, %u MiB written, %s %u MiB\n",
	       opt.written_mib,
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
	else
		printf("   %-18s stayed under: peak RSS %.1f MiB\n", "without",
		       result(cb, "rss_peak", 0));

	if (png)
		printf("\nPicture: %s/tide-demo.png\n", opt.out);
	else if (!opt.no_plot && gnuplot)
		printf("\nNo picture: gnuplot failed on %s/tide-demo.gp\n",
		       opt.out);
	else if (!opt.no_plot)
		printf("\nNo picture: gnuplot is not installed (Debian: "
		       "apt-get install gnuplot-nox;\n`make demo` does it as "
		       "root). Data files are in %s/\n",
		       opt.out);
	printf("Data: %s/{broker,cache}-*.dat\n", opt.out);
	fflush(stdout);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tide-demo [--quick] [--budget] [--no-plot] [--out DIR]\n"
		"  --quick    a few seconds instead of about a minute\n"
		"  --budget   part 3 under an RSS budget even when a memory "
		"cgroup could be made\n"
		"  --no-plot  do not run gnuplot\n"
		"  --out DIR  where the data files and tide-demo.png go "
		"(default tide-demo-out)\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "budget", no_argument, NULL, 'b' },
		{ "no-plot", no_argument, NULL, 'n' },
		{ "out", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool png = false, gnuplot = false;
	double t0 = now();
	int c;

	while ((c = getopt_long(argc, argv, "qbno:h", lo, NULL)) != -1) {
		switch (c) {
		case 'q':
			opt.quick = true;
			break;
		case 'b':
			opt.force_budget = true;
			break;
		case 'n':
			opt.no_plot = true;
			break;
		case 'o':
			opt.out = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (opt.quick) {
		opt.steps = 80;
		opt.tick_ms = 10;
		opt.limit_mib = 96;
		opt.written_mib = 192;
		opt.pace_us = 1000;
	}
	tty = isatty(2);
	if (mkdir(opt.out, 0755) && errno != EEXIST) {
		fprintf(stderr, "tide-demo: %s: %s\n", opt.out,
			strerror(errno));
		return 1;
	}
	fprintf(stderr,
		"tide %s demo: three stories, each run with tide and "
		"without, in separate processes\n",
		tide_version());
	part_shrink();
	part_broker();
	part_cache();

	write_series("broker-tide.dat", &broker_res[0], 5);
	write_series("broker-malloc.dat", &broker_res[1], 5);
	write_series("cache-tide.dat", &cache_res[0], 3);
	write_series("cache-baseline.dat", &cache_res[1], 3);
	gnuplot = !opt.no_plot && have_gnuplot();
	if (gnuplot)
		png = plot();
	table(png, gnuplot);
	fprintf(stderr, "done in %.0f s\n", now() - t0);
	return 0;
}
