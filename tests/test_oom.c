// SPDX-License-Identifier: MIT
/*
 * test_oom.c - SQLite's OOM loop over every public function of kv, vec,
 * shrinker, pressure and arena, transient and persistent.
 *
 * Each case prepares its inputs with faults off (th_oom_loop_ex), then runs
 * one call with the Nth failable OS call failing, for N = 1, 2, ... until a
 * pass injects no fault.  Every pass must end in success or a clean error
 * (the exact errno the contract names) with every input exactly as it was,
 * and leak no heap block, mapping, mapped byte, file descriptor or thread.
 * Functions that make no failable call still run once and report 0 fault
 * points, so the report lists every function.  The module tests hold their
 * own OOM loops over longer sequences; this file is the one that covers
 * every entry point, cross-module paths (direct reclaim freeing kv blocks,
 * a pressure loop reclaiming an arena) and fds/threads.
 */
#include <dirent.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <malloc.h>

#include <tide.h>

#include "harness.h"
#include "pressure/monitor.h" /* move_check: not visible through the API */

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

/* ---- the report --------------------------------------------------------- */

/* Fault points per public function, summed over its cases. */
struct fn_total {
	const char *fn;
	unsigned long points;
	int cases;
};

static struct fn_total totals[96];
static int ntotals;

static void add_total(const char *fn, unsigned long points)
{
	int i;

	for (i = 0; i < ntotals; i++)
		if (!strcmp(totals[i].fn, fn))
			break;
	if (i == ntotals) {
		CHECK(ntotals < (int)(sizeof(totals) / sizeof(totals[0])));
		totals[ntotals++].fn = fn;
	}
	totals[i].points += points;
	totals[i].cases++;
}

static void report(void)
{
	for (int i = 0; i < ntotals; i++)
		printf("# %-28s %4lu fault points (%d case%s)\n", totals[i].fn,
		       totals[i].points, totals[i].cases,
		       totals[i].cases == 1 ? "" : "s");
}

/*
 * Run one case of public function @fn: @label names the variant in the
 * per-case line th_oom_loop_ex() prints.
 */
static unsigned long run_case(const char *fn, const char *label,
			      int (*setup)(void *), int (*body)(void *),
			      void (*teardown)(void *), void *arg)
{
	const struct th_oom_case c = { setup, body, teardown };
	char what[160];
	unsigned long points;

	snprintf(what, sizeof(what), "%s (%s)", fn, label);
	points = th_oom_loop_ex(what, &c, arg);
	add_total(fn, points);
	return points;
}

/*
 * The same case under the descriptor limit (th_fd_limit_loop): the call
 * fails with -EMFILE at each descriptor it opens, leaving nothing behind,
 * or succeeds with exactly what it makes without a limit.
 */
static unsigned long fd_case(const char *fn, const char *label,
			     int (*setup)(void *), int (*body)(void *),
			     void (*teardown)(void *), void *arg)
{
	const struct th_oom_case c = { setup, body, teardown };
	char what[160];

	snprintf(what, sizeof(what), "%s (%s)", fn, label);
	return th_fd_limit_loop(what, &c, arg);
}

/* A pattern that depends on the position and a seed. */
static void fill_pattern(void *p, size_t n, unsigned seed)
{
	unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)(i * 31 + seed);
}

static bool has_pattern(const void *p, size_t n, unsigned seed)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != (unsigned char)(i * 31 + seed))
			return false;
	return true;
}

static bool all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* ---- kv ----------------------------------------------------------------- */

struct kv_case {
	size_t from, to; /* from 0 with realloc: p starts NULL */
	unsigned flags;
	bool paged; /* expected backend of the result */
	void *p;
};

static int kv_alloc_body(void *arg)
{
	struct kv_case *k = arg;
	void *p = tide_kvmalloc(k->to, k->flags);

	if (!p) {
		CHECK_EQ(errno, ENOMEM);
		return -ENOMEM;
	}
	CHECK_KVSIZE(p, k->to);
	CHECK_EQ(tide_kv_is_paged(p), k->paged);
	if (k->flags & TIDE_ZERO)
		CHECK(all_zero(p, k->to));
	/* The mapping is 2 MiB aligned; the block follows its header. */
	if (k->flags & TIDE_HUGE)
		CHECK_CMP((uintptr_t)p % TIDE__HUGE_SIZE, <=, 64);
	fill_pattern(p, k->to, 1);
	tide_kvfree(p);
	return 0;
}

static int kv_calloc_body(void *arg)
{
	struct kv_case *k = arg;
	void *p = tide_kvcalloc(k->to, 8, k->flags);

	if (!p) {
		CHECK_EQ(errno, ENOMEM);
		return -ENOMEM;
	}
	CHECK_KVSIZE(p, k->to * 8);
	CHECK(all_zero(p, k->to * 8));
	tide_kvfree(p);
	return 0;
}

static int kv_calloc_overflow_body(void *arg)
{
	/* volatile: the compiler would reject the constant product. */
	volatile size_t n = SIZE_MAX / 2;

	(void)arg;
	errno = 0;
	CHECK_PTR_EQ(tide_kvcalloc(n, 3, 0), NULL);
	CHECK_EQ(errno, EOVERFLOW);
	return 0;
}

static int kv_setup(void *arg)
{
	struct kv_case *k = arg;

	k->p = NULL;
	if (!k->from)
		return 0;
	k->p = tide_kvmalloc(k->from, k->flags);
	if (!k->p)
		return -errno;
	fill_pattern(k->p, k->from, 7);
	return 0;
}

static void kv_teardown(void *arg)
{
	struct kv_case *k = arg;

	tide_kvfree(k->p);
	k->p = NULL;
}

static int kv_realloc_body(void *arg)
{
	struct kv_case *k = arg;
	bool was_paged = tide_kv_is_paged(k->p);
	void *q = tide_kvrealloc(k->p, k->to, k->flags);

	if (!k->to) {
		/* Frees, whatever the faults: nothing to fail. */
		CHECK_PTR_EQ(q, NULL);
		k->p = NULL;
		return 0;
	}
	if (!q) {
		CHECK_EQ(errno, ENOMEM);
		/* The block is untouched: same size, backend and bytes. */
		CHECK_KVSIZE(k->p, k->from);
		CHECK_EQ(tide_kv_is_paged(k->p), was_paged);
		CHECK(has_pattern(k->p, k->from, 7));
		return -ENOMEM;
	}
	k->p = q;
	CHECK_KVSIZE(q, k->to);
	CHECK_EQ(tide_kv_is_paged(q), k->paged);
	CHECK(has_pattern(q, TIDE__MIN(k->from, k->to), 7));
	if ((k->flags & TIDE_ZERO) && k->to > k->from)
		CHECK(all_zero((char *)q + k->from, k->to - k->from));
	fill_pattern(q, k->to, 7);
	return 0;
}

static int kv_free_body(void *arg)
{
	struct kv_case *k = arg;

	tide_kvfree(k->p);
	k->p = NULL;
	tide_kvfree(NULL);
	return 0;
}

static int kv_query_body(void *arg)
{
	struct kv_case *k = arg;

	CHECK_KVSIZE(k->p, k->from);
	CHECK_CMP(tide_kvresident(k->p), >=, k->from);
	CHECK_EQ(tide_kv_is_paged(k->p), k->paged);
	CHECK_UEQ(tide_kvsize(NULL), 0);
	CHECK_UEQ(tide_kvresident(NULL), 0);
	CHECK(!tide_kv_is_paged(NULL));
	return 0;
}

static int kv_threshold_body(void *arg)
{
	size_t old = tide_kv_threshold();

	(void)arg;
	tide_kv_set_threshold(4096);
	CHECK_UEQ(tide_kv_threshold(), 4096);
	tide_kv_set_threshold(old);
	CHECK_UEQ(tide_kv_threshold(), old);
	return 0;
}

/*
 * Direct reclaim across modules: a shrinker whose cache holds kv blocks.
 * kvmalloc that gets ENOMEM runs reclaim, the scan frees cache blocks with
 * tide_kvfree(), and the allocation is retried.
 */
#define CACHE_N 2048

static struct {
	void *obj[CACHE_N];
	unsigned long n;
	struct tide_shrinker *s;
} cache;

static unsigned long cache_count(void *priv, struct tide_shrink_control *sc)
{
	(void)priv;
	(void)sc;
	return cache.n ? cache.n : TIDE_SHRINK_EMPTY;
}

static unsigned long cache_scan(void *priv, struct tide_shrink_control *sc)
{
	unsigned long n = TIDE__MIN(sc->nr_to_scan, cache.n);

	(void)priv;
	for (unsigned long i = 0; i < n; i++)
		tide_kvfree(cache.obj[--cache.n]);
	return n;
}

static const struct tide_shrinker_ops cache_ops = { cache_count, cache_scan };

static int cache_setup(void *arg)
{
	(void)arg;
	cache.s = tide_shrinker_alloc("oom-cache");
	if (!cache.s)
		return -errno;
	tide_shrinker_set_seeks(cache.s, 0);
	for (cache.n = 0; cache.n < CACHE_N; cache.n++) {
		cache.obj[cache.n] = tide_kvmalloc(64, TIDE_NORECLAIM);
		if (!cache.obj[cache.n])
			return -errno;
	}
	tide_shrinker_register(cache.s, &cache_ops, NULL);
	return 0;
}

static void cache_teardown(void *arg)
{
	(void)arg;
	tide_shrinker_free(cache.s);
	cache.s = NULL;
	while (cache.n)
		tide_kvfree(cache.obj[--cache.n]);
}

static int kv_reclaim_body(void *arg)
{
	struct kv_case *k = arg;
	unsigned long before = cache.n;
	void *p = tide_kvmalloc(k->to, k->flags);

	if (!p) {
		CHECK_EQ(errno, ENOMEM);
		/* Reclaim ran down to priority 0: the cache is empty. */
		CHECK(!(k->flags & TIDE_NORECLAIM));
		CHECK_UEQ(cache.n, 0);
		return -ENOMEM;
	}
	if (tide__fault_hits() && !(k->flags & TIDE_NORECLAIM))
		CHECK_CMP(cache.n, <, before);
	else
		CHECK_UEQ(cache.n, before);
	tide_kvfree(p);
	return 0;
}

static int kv_noreclaim_body(void *arg)
{
	unsigned long before = cache.n;
	int r = kv_alloc_body(arg);

	/* NORECLAIM: the cache is never asked, fault or not. */
	CHECK_UEQ(cache.n, before);
	return r;
}

TEST(every_kv_function_survives_the_oom_loop)
{
	struct kv_case heap = { .to = 1000 };
	struct kv_case paged = { .to = 1 * MiB, .paged = true };
	struct kv_case huge = { .to = 3 * MiB,
				.flags = TIDE_HUGE,
				.paged = true };
	struct kv_case zero = { .to = 300 * KiB,
				.flags = TIDE_ZERO,
				.paged = true };
	struct kv_case arr_heap = { .to = 100 };
	struct kv_case arr_paged = { .to = 64 * KiB, .paged = true };
	struct kv_case re[] = {
		{ 0, 100, 0, false, NULL }, /* NULL: allocates */
		{ 100, 4000, 0, false, NULL }, /* heap grow */
		{ 4000, 100, 0, false, NULL }, /* heap shrink */
		{ 1000, 1 * MiB, TIDE_ZERO, true, NULL }, /* heap -> paged */
		{ 1 * MiB, 5 * MiB, 0, true, NULL }, /* paged grow */
		{ 1 * MiB, 1 * MiB + 100, TIDE_ZERO, true, NULL }, /* in page */
		{ 1 * MiB, 16 * KiB, 0, true, NULL }, /* paged shrink */
		{ 1 * MiB, 100, TIDE_ZERO, true, NULL }, /* stays paged */
		{ 3 * MiB, 9 * MiB, TIDE_HUGE, true, NULL }, /* huge grow */
		{ 9 * MiB, 2 * MiB, TIDE_HUGE, true, NULL }, /* huge shrink */
		{ 100, 0, 0, false, NULL }, /* size 0 frees */
		{ 1 * MiB, 0, 0, false, NULL },
	};
	struct kv_case held_heap = { .from = 100 };
	struct kv_case held_paged = { .from = 1 * MiB, .paged = true };
	struct kv_case reclaim = { .to = 2 * MiB, .paged = true };
	struct kv_case noreclaim = { .to = 2 * MiB,
				     .flags = TIDE_NORECLAIM,
				     .paged = true };
	unsigned long points = 0;
	char label[64];

	th_warm_up_threads();
	points += run_case("tide_kvmalloc", "heap", NULL, kv_alloc_body, NULL,
			   &heap);
	points += run_case("tide_kvmalloc", "paged", NULL, kv_alloc_body, NULL,
			   &paged);
	points += run_case("tide_kvmalloc", "huge", NULL, kv_alloc_body, NULL,
			   &huge);
	points += run_case("tide_kvmalloc", "zero", NULL, kv_alloc_body, NULL,
			   &zero);
	points += run_case("tide_kvmalloc", "direct reclaim frees kv cache",
			   cache_setup, kv_reclaim_body, cache_teardown,
			   &reclaim);
	points += run_case("tide_kvmalloc", "NORECLAIM leaves cache alone",
			   cache_setup, kv_noreclaim_body, cache_teardown,
			   &noreclaim);
	points += run_case("tide_kvcalloc", "heap", NULL, kv_calloc_body, NULL,
			   &arr_heap);
	points += run_case("tide_kvcalloc", "paged", NULL, kv_calloc_body, NULL,
			   &arr_paged);
	points += run_case("tide_kvcalloc", "overflow", NULL,
			   kv_calloc_overflow_body, NULL, NULL);
	for (size_t i = 0; i < sizeof(re) / sizeof(re[0]); i++) {
		snprintf(label, sizeof(label), "%zu -> %zu%s%s", re[i].from,
			 re[i].to, re[i].flags & TIDE_HUGE ? " huge" : "",
			 re[i].flags & TIDE_ZERO ? " zero" : "");
		points += run_case("tide_kvrealloc", label, kv_setup,
				   kv_realloc_body, kv_teardown, &re[i]);
	}
	run_case("tide_kvfree", "heap", kv_setup, kv_free_body, kv_teardown,
		 &held_heap);
	run_case("tide_kvfree", "paged", kv_setup, kv_free_body, kv_teardown,
		 &held_paged);
	run_case("tide_kvsize", "heap", kv_setup, kv_query_body, kv_teardown,
		 &held_heap);
	run_case("tide_kvresident", "paged", kv_setup, kv_query_body,
		 kv_teardown, &held_paged);
	run_case("tide_kv_is_paged", "heap and paged", kv_setup, kv_query_body,
		 kv_teardown, &held_paged);
	run_case("tide_kv_set_threshold", "and back", NULL, kv_threshold_body,
		 NULL, NULL);
	run_case("tide_kv_threshold", "read", NULL, kv_threshold_body, NULL,
		 NULL);
	report();
	/* Every allocating kv case has at least one fault point per mode. */
	CHECK_CMP(points, >=, 2 * (8 + 10));
}

/* ---- vec ---------------------------------------------------------------- */

struct vec_case {
	size_t len, cap;
	unsigned flags;
	struct tide_vec v;
	/* snapshot */
	void *data;
	size_t slen, scap;
	uint64_t *bytes;
};

static bool keep_even(const void *e, void *arg)
{
	(void)arg;
	return !(*(const uint64_t *)e & 1);
}

static int vec_setup(void *arg)
{
	struct vec_case *c = arg;
	int r;

	tide_vec_init(&c->v, sizeof(uint64_t), c->flags & ~TIDE_VEC_AUTOTRIM);
	if (c->cap) {
		r = tide_vec_reserve(&c->v, c->cap);
		if (r)
			return r;
		CHECK_UEQ(c->v.cap, c->cap);
	}
	for (uint64_t i = 0; i < c->len; i++) {
		r = tide_vec_push(&c->v, &i);
		if (r)
			return r;
	}
	CHECK_UEQ(c->v.cap, c->cap);
	c->v.flags = c->flags;
	c->data = c->v.data;
	c->slen = c->v.len;
	c->scap = c->v.cap;
	c->bytes = malloc(c->len * 8 + 1);
	CHECK(c->bytes);
	if (c->len)
		memcpy(c->bytes, c->v.data, c->len * 8);
	return 0;
}

static void vec_teardown(void *arg)
{
	struct vec_case *c = arg;

	tide_vec_destroy(&c->v);
	free(c->bytes);
	c->bytes = NULL;
}

/* After a failure: the vector is exactly as setup left it. */
static int vec_unchanged(struct vec_case *c, int r)
{
	CHECK_PTR_EQ(c->v.data, c->data);
	CHECK_UEQ(c->v.len, c->slen);
	CHECK_UEQ(c->v.cap, c->scap);
	if (c->slen)
		CHECK(!memcmp(c->v.data, c->bytes, c->slen * 8));
	return r;
}

/* Elements 0..n-1 hold 0..n-1. */
static void vec_check_seq(const struct tide_vec *v, size_t n)
{
	CHECK_UEQ(v->len, n);
	for (size_t i = 0; i < n; i++)
		CHECK_UEQ(((const uint64_t *)v->data)[i], i);
}

/* A removal with AUTOTRIM succeeds; a failed trim keeps the capacity. */
static void vec_check_trimmed(struct vec_case *c)
{
	if (!(c->flags & TIDE_VEC_AUTOTRIM) || c->v.len >= c->scap / 4) {
		CHECK_UEQ(c->v.cap, c->scap);
		return;
	}
	if (c->v.cap == c->scap)
		CHECK(tide__fault_hits() > 0);
	else
		CHECK_CMP(c->v.cap, <, c->scap);
}

static int vec_reserve_body(void *arg)
{
	struct vec_case *c = arg;
	int r = tide_vec_reserve(&c->v, 100);

	if (r) {
		CHECK_EQ(r, -ENOMEM);
		return vec_unchanged(c, r);
	}
	CHECK_CMP(c->v.cap, >=, c->slen + 100);
	vec_check_seq(&c->v, c->slen);
	return 0;
}

static int vec_reserve_overflow_body(void *arg)
{
	struct vec_case *c = arg;

	CHECK_EQ(tide_vec_reserve(&c->v, SIZE_MAX - 1), -EOVERFLOW);
	CHECK_EQ(tide_vec_reserve(&c->v, SIZE_MAX / 8), -EOVERFLOW);
	return vec_unchanged(c, 0);
}

static int vec_push_body(void *arg)
{
	struct vec_case *c = arg;
	uint64_t x = c->slen;
	int r = tide_vec_push(&c->v, &x);

	if (r) {
		CHECK_EQ(r, -ENOMEM);
		return vec_unchanged(c, r);
	}
	vec_check_seq(&c->v, c->slen + 1);
	return 0;
}

static int vec_push_val_body(void *arg)
{
	struct vec_case *c = arg;
	int r = tide_vec_push_val(&c->v, uint64_t, c->slen);

	if (r) {
		CHECK_EQ(r, -ENOMEM);
		return vec_unchanged(c, r);
	}
	vec_check_seq(&c->v, c->slen + 1);
	return 0;
}

static int vec_push_slot_body(void *arg)
{
	struct vec_case *c = arg;
	uint64_t *s = tide_vec_push_slot(&c->v);

	if (!s) {
		CHECK_EQ(errno, ENOMEM);
		return vec_unchanged(c, -ENOMEM);
	}
	if (c->flags & TIDE_ZERO)
		CHECK_UEQ(*s, 0);
	*s = c->slen;
	vec_check_seq(&c->v, c->slen + 1);
	return 0;
}

static int vec_insert_body(void *arg)
{
	struct vec_case *c = arg;
	uint64_t x = 999;
	int r = tide_vec_insert(&c->v, 0, &x);

	if (r) {
		CHECK_EQ(r, -ENOMEM);
		return vec_unchanged(c, r);
	}
	CHECK_UEQ(tide_vec_at(&c->v, uint64_t, 0), 999);
	CHECK_EQ(tide_vec_remove(&c->v, 0, NULL), 0);
	vec_check_seq(&c->v, c->slen);
	return 0;
}

static int vec_pop_body(void *arg)
{
	struct vec_case *c = arg;
	uint64_t x = 0;

	CHECK_EQ(tide_vec_pop(&c->v, &x), 0);
	CHECK_UEQ(x, c->slen - 1);
	vec_check_seq(&c->v, c->slen - 1);
	vec_check_trimmed(c);
	return 0;
}

static int vec_pop_val_body(void *arg)
{
	struct vec_case *c = arg;
	uint64_t x = 0;

	CHECK_EQ(tide_vec_pop_val(&c->v, uint64_t, &x), 0);
	CHECK_UEQ(x, c->slen - 1);
	vec_check_seq(&c->v, c->slen - 1);
	vec_check_trimmed(c);
	return 0;
}

static int vec_remove_body(void *arg)
{
	struct vec_case *c = arg;
	uint64_t x = 0;

	CHECK_EQ(tide_vec_remove(&c->v, c->slen - 1, &x), 0);
	CHECK_UEQ(x, c->slen - 1);
	vec_check_seq(&c->v, c->slen - 1);
	vec_check_trimmed(c);
	return 0;
}

static int vec_swap_remove_body(void *arg)
{
	struct vec_case *c = arg;
	uint64_t x = 0;

	CHECK_EQ(tide_vec_swap_remove(&c->v, c->slen - 1, &x), 0);
	CHECK_UEQ(x, c->slen - 1);
	vec_check_seq(&c->v, c->slen - 1);
	vec_check_trimmed(c);
	return 0;
}

static int vec_retain_body(void *arg)
{
	struct vec_case *c = arg;

	CHECK_UEQ(tide_vec_retain(&c->v, keep_even, NULL), c->slen / 2);
	CHECK_UEQ(c->v.len, (c->slen + 1) / 2);
	for (size_t i = 0; i < c->v.len; i++)
		CHECK_UEQ(tide_vec_at(&c->v, uint64_t, i), 2 * i);
	vec_check_trimmed(c);
	return 0;
}

static int vec_truncate_body(void *arg)
{
	struct vec_case *c = arg;

	tide_vec_truncate(&c->v, 1);
	vec_check_seq(&c->v, 1);
	vec_check_trimmed(c);
	return 0;
}

/* Shrinking is an optimization: a failure leaves the vector as it was. */
static int vec_shrink_common(struct vec_case *c, int r, size_t want)
{
	if (r) {
		CHECK_EQ(r, -ENOMEM);
		return vec_unchanged(c, r);
	}
	vec_check_seq(&c->v, c->slen);
	if (c->v.cap != want) {
		/* Paged buffers keep capacities that would free no page. */
		CHECK(tide_kv_is_paged(c->v.data));
		CHECK_CMP(c->v.cap, >=, want);
	}
	return 0;
}

static int vec_shrink_to_body(void *arg)
{
	struct vec_case *c = arg;

	return vec_shrink_common(c, tide_vec_shrink_to(&c->v, 10),
				 TIDE__MAX(c->slen, 10));
}

static int vec_shrink_to_fit_body(void *arg)
{
	struct vec_case *c = arg;

	return vec_shrink_common(c, tide_vec_shrink_to_fit(&c->v), c->slen);
}

static int vec_trim_body(void *arg)
{
	struct vec_case *c = arg;
	int r = tide_vec_trim(&c->v);

	if (r < 0) {
		CHECK_EQ(r, -ENOMEM);
		return vec_unchanged(c, r);
	}
	CHECK_EQ(r, c->v.cap < c->scap);
	return vec_shrink_common(c, 0, TIDE__MAX(c->slen * 2, 4));
}

static int vec_destroy_body(void *arg)
{
	struct vec_case *c = arg;

	tide_vec_destroy(&c->v);
	CHECK_PTR_EQ(c->v.data, NULL);
	CHECK_UEQ(c->v.len, 0);
	CHECK_UEQ(c->v.cap, 0);
	CHECK_UEQ(c->v.elem_size, 8);
	tide_vec_destroy(NULL);
	return 0;
}

static int vec_init_body(void *arg)
{
	struct tide_vec v;
	struct tide_vec w = TIDE_VEC_INIT(uint64_t, TIDE_ZERO);

	(void)arg;
	memset(&v, 0xa5, sizeof(v));
	tide_vec_init(&v, 8, TIDE_ZERO);
	CHECK_PTR_EQ(v.data, w.data);
	CHECK_UEQ(v.len, w.len);
	CHECK_UEQ(v.cap, w.cap);
	CHECK_UEQ(v.elem_size, w.elem_size);
	CHECK_UEQ(v.flags, w.flags);
	tide_vec_init(NULL, 8, 0);
	return 0;
}

static unsigned long vec_all(size_t page_elems, bool paged)
{
	/* Full vectors (growth) and sparse ones (shrinking, autotrim). */
	struct vec_case full = { .len = page_elems, .cap = page_elems };
	struct vec_case sparse = { .len = 11, .cap = 8 * page_elems };
	struct vec_case sparse_at = { .len = 11,
				      .cap = 8 * page_elems,
				      .flags = TIDE_VEC_AUTOTRIM };
	struct vec_case zero = { .len = page_elems,
				 .cap = page_elems,
				 .flags = TIDE_ZERO };
	struct vec_case empty = { 0 };
	const char *m = paged ? "paged" : "heap";
	char l[64];
	unsigned long points = 0;

	tide_kv_set_threshold(paged ? 0 : SIZE_MAX);
	snprintf(l, sizeof(l), "%s, full", m);
	points += run_case("tide_vec_reserve", l, vec_setup, vec_reserve_body,
			   vec_teardown, &full);
	points += run_case("tide_vec_reserve", "empty", vec_setup,
			   vec_reserve_body, vec_teardown, &empty);
	run_case("tide_vec_reserve", "overflow", vec_setup,
		 vec_reserve_overflow_body, vec_teardown, &full);
	points += run_case("tide_vec_push", l, vec_setup, vec_push_body,
			   vec_teardown, &full);
	points += run_case("tide_vec_push_val", l, vec_setup, vec_push_val_body,
			   vec_teardown, &full);
	points += run_case("tide_vec_insert", l, vec_setup, vec_insert_body,
			   vec_teardown, &full);
	snprintf(l, sizeof(l), "%s, full, zero", m);
	points += run_case("tide_vec_push_slot", l, vec_setup,
			   vec_push_slot_body, vec_teardown, &zero);
	snprintf(l, sizeof(l), "%s, sparse", m);
	points += run_case("tide_vec_shrink_to", l, vec_setup,
			   vec_shrink_to_body, vec_teardown, &sparse);
	points += run_case("tide_vec_shrink_to_fit", l, vec_setup,
			   vec_shrink_to_fit_body, vec_teardown, &sparse);
	points += run_case("tide_vec_trim", l, vec_setup, vec_trim_body,
			   vec_teardown, &sparse);
	run_case("tide_vec_pop", l, vec_setup, vec_pop_body, vec_teardown,
		 &sparse);
	run_case("tide_vec_destroy", l, vec_setup, vec_destroy_body,
		 vec_teardown, &sparse);
	snprintf(l, sizeof(l), "%s, sparse, autotrim", m);
	points += run_case("tide_vec_pop", l, vec_setup, vec_pop_body,
			   vec_teardown, &sparse_at);
	points += run_case("tide_vec_pop_val", l, vec_setup, vec_pop_val_body,
			   vec_teardown, &sparse_at);
	points += run_case("tide_vec_remove", l, vec_setup, vec_remove_body,
			   vec_teardown, &sparse_at);
	points += run_case("tide_vec_swap_remove", l, vec_setup,
			   vec_swap_remove_body, vec_teardown, &sparse_at);
	points += run_case("tide_vec_retain", l, vec_setup, vec_retain_body,
			   vec_teardown, &sparse_at);
	points += run_case("tide_vec_truncate", l, vec_setup, vec_truncate_body,
			   vec_teardown, &sparse_at);
	run_case("tide_vec_init", "and TIDE_VEC_INIT", NULL, vec_init_body,
		 NULL, NULL);
	return points;
}

TEST(every_vec_function_survives_the_oom_loop)
{
	unsigned long heap, paged;

	th_warm_up_threads();
	heap = vec_all(64, false);
	paged = vec_all(4096 / 8, true);
	report();
	/* 15 allocating cases per backend, each failable in both modes. */
	CHECK_CMP(heap, >=, 2 * 15);
	CHECK_CMP(paged, >=, 2 * 15);
}

/* ---- shrinker ----------------------------------------------------------- */

struct sh_case {
	int n; /* shrinkers registered by setup */
	struct tide_shrinker *s[80];
	struct tide_shrinker *made;
	unsigned long objects;
};

static unsigned long obj_count(void *priv, struct tide_shrink_control *sc)
{
	struct sh_case *c = priv;

	(void)sc;
	return c->objects ? c->objects : TIDE_SHRINK_EMPTY;
}

static unsigned long obj_scan(void *priv, struct tide_shrink_control *sc)
{
	struct sh_case *c = priv;
	unsigned long n = TIDE__MIN(sc->nr_to_scan, c->objects);

	c->objects -= n;
	return n;
}

static const struct tide_shrinker_ops obj_ops = { obj_count, obj_scan };

static int count_cb(const struct tide_shrinker_info *info, void *arg)
{
	(void)info;
	++*(int *)arg;
	return 0;
}

static int registered(void)
{
	int n = 0;

	CHECK_EQ(tide_shrinker_foreach(count_cb, &n), 0);
	return n;
}

static int sh_setup(void *arg)
{
	struct sh_case *c = arg;

	c->made = NULL;
	c->objects = 4096;
	for (int i = 0; i < c->n; i++) {
		c->s[i] = tide_shrinker_alloc("oom-sh");
		if (!c->s[i])
			return -errno;
		tide_shrinker_set_seeks(c->s[i], 0);
		tide_shrinker_register(c->s[i], &obj_ops, c);
	}
	return 0;
}

static void sh_teardown(void *arg)
{
	struct sh_case *c = arg;

	tide_shrinker_free(c->made);
	c->made = NULL;
	for (int i = 0; i < c->n; i++)
		tide_shrinker_free(c->s[i]);
	CHECK_EQ(registered(), 0);
}

static int sh_alloc_body(void *arg)
{
	struct sh_case *c = arg;

	c->made = tide_shrinker_alloc("oom-new");
	if (!c->made) {
		CHECK_EQ(errno, ENOMEM);
		CHECK_EQ(registered(), c->n);
		return -ENOMEM;
	}
	CHECK_EQ(registered(), c->n);
	return 0;
}

static int sh_register_body(void *arg)
{
	struct sh_case *c = arg;
	struct tide_shrinker *s;

	/* Allocate outside the fault window: register itself is tested. */
	tide__fault_clear();
	s = tide_shrinker_alloc("oom-reg");
	CHECK(s);
	tide_shrinker_set_seeks(s, 1);
	tide_shrinker_set_batch(s, 16);
	tide_shrinker_register(s, &obj_ops, c);
	c->made = s;
	CHECK_EQ(registered(), c->n + 1);
	return 0;
}

static int sh_free_body(void *arg)
{
	struct sh_case *c = arg;

	tide_shrinker_free(c->s[--c->n]);
	tide_shrinker_free(NULL);
	CHECK_EQ(registered(), c->n);
	return 0;
}

static int sh_shrink_body(void *arg)
{
	struct sh_case *c = arg;

	/*
	 * seeks 0: each shrinker (all share one cache) is asked for half of
	 * what is left and scans it in batches of 128 while at least a batch
	 * (or all of it) remains; nothing is deferred yet.
	 */
	unsigned long want = 0, left = c->objects;

	for (int i = 0; i < c->n; i++) {
		unsigned long total = left / 2, freeable = left;

		while (total && (total >= 128 || total >= freeable)) {
			unsigned long nr = TIDE__MIN(128, total);

			want += nr;
			left -= nr;
			total -= nr;
		}
	}
	CHECK_UEQ(tide_shrink(5, TIDE_NOIO), want);
	CHECK_UEQ(c->objects, left);
	return 0;
}

static int sh_drop_body(void *arg)
{
	struct sh_case *c = arg;

	/*
	 * Priority 0, seeks 0: half of what is left per pass, until half is
	 * under a batch and under the count (64 of 128): that pass scans
	 * nothing (the 64 are deferred) and ends the loop.
	 */
	CHECK_UEQ(tide_drop_caches(), 4096 - 128);
	CHECK_UEQ(c->objects, 128);
	return 0;
}

static int sh_share_body(void *arg)
{
	struct sh_case *c = arg;

	/*
	 * Divisor 1: at least the whole count (4096) although seeks 0 asks
	 * for half: 32 calls of 128 empty the cache in one pass.
	 */
	CHECK_UEQ(tide__shrink_share(12, 0, 1), 4096);
	CHECK_UEQ(c->objects, 0);
	return 0;
}

static int sh_purge_body(void *arg)
{
	struct tide_purge_stats st;

	(void)arg;
	tide_purge();
	tide_purge_stats(&st);
	CHECK_CMP(st.calls, >=, 1);
	return 0;
}

static int sh_scan_body(void *arg)
{
	struct sh_case *c = arg;

	CHECK_UEQ(tide_shrinker_scan("oom-sh", 100), 100);
	CHECK_UEQ(c->objects, 4096 - 100);
	errno = 0;
	CHECK_UEQ(tide_shrinker_scan("no-such", 100), 0);
	CHECK_EQ(errno, ENOENT);
	return 0;
}

static int sh_foreach_body(void *arg)
{
	struct sh_case *c = arg;

	CHECK_EQ(registered(), c->n);
	CHECK_EQ(tide_shrinker_foreach(NULL, NULL), -EINVAL);
	return 0;
}

static int sh_may_io_body(void *arg)
{
	struct tide_shrink_control sc = { .flags = TIDE_NOIO };

	(void)arg;
	CHECK(!tide_shrink_may_io(&sc));
	sc.flags = 0;
	CHECK(tide_shrink_may_io(&sc));
	return 0;
}

TEST(every_shrinker_function_survives_the_oom_loop)
{
	static struct sh_case none = { .n = 0 }, one = { .n = 1 },
			      many = { .n = 70 };
	unsigned long points = 0;

	th_warm_up_threads();
	points += run_case("tide_shrinker_alloc", "first", sh_setup,
			   sh_alloc_body, sh_teardown, &none);
	points += run_case("tide_shrinker_alloc", "71st", sh_setup,
			   sh_alloc_body, sh_teardown, &many);
	run_case("tide_shrinker_register", "with seeks and batch", sh_setup,
		 sh_register_body, sh_teardown, &one);
	run_case("tide_shrinker_set_seeks", "with register", sh_setup,
		 sh_register_body, sh_teardown, &one);
	run_case("tide_shrinker_set_batch", "with register", sh_setup,
		 sh_register_body, sh_teardown, &one);
	run_case("tide_shrinker_free", "registered", sh_setup, sh_free_body,
		 sh_teardown, &many);
	run_case("tide_shrink", "70 shrinkers", sh_setup, sh_shrink_body,
		 sh_teardown, &many);
	run_case("tide_drop_caches", "1 shrinker", sh_setup, sh_drop_body,
		 sh_teardown, &one);
	run_case("tide_shrinker_scan", "by name", sh_setup, sh_scan_body,
		 sh_teardown, &one);
	run_case("tide__shrink_share", "divisor 1", sh_setup, sh_share_body,
		 sh_teardown, &one);
	run_case("tide_purge", "after a pass", sh_setup, sh_purge_body,
		 sh_teardown, &one);
	run_case("tide_shrinker_foreach", "70 shrinkers", sh_setup,
		 sh_foreach_body, sh_teardown, &many);
	run_case("tide_shrink_may_io", "NOIO", NULL, sh_may_io_body, NULL,
		 NULL);
	report();
	CHECK_CMP(points, >=, 2 * 2);
}

/* ---- arena -------------------------------------------------------------- */

struct ar_case {
	struct tide_arena *a;
	void *buf[8];
	struct tide_arena_stats st;
};

static struct tide_arena_stats ar_stats(struct tide_arena *a)
{
	struct tide_arena_stats st;

	tide_arena_stats(a, &st);
	return st;
}

/* An arena with buffers 0, 2, 4 live and 1, 3 freed (LRU pages). */
static int ar_setup(void *arg)
{
	struct ar_case *c = arg;

	c->a = tide_arena_create("oom-arena", 64 * 4096);
	if (!c->a)
		return -errno;
	for (int i = 0; i < 5; i++) {
		c->buf[i] = tide_arena_alloc(c->a, 3 * 4096);
		if (!c->buf[i])
			return -errno;
		memset(c->buf[i], i + 1, 3 * 4096);
	}
	tide_arena_free(c->a, c->buf[1]);
	tide_arena_free(c->a, c->buf[3]);
	c->buf[1] = c->buf[3] = NULL;
	c->st = ar_stats(c->a);
	CHECK_UEQ(c->st.pages_lru, 6);
	return 0;
}

static void ar_teardown(void *arg)
{
	struct ar_case *c = arg;

	tide_arena_destroy(c->a);
	c->a = NULL;
}

static void ar_unchanged(struct ar_case *c)
{
	struct tide_arena_stats st = ar_stats(c->a);

	CHECK(!memcmp(&st, &c->st, sizeof(st)));
	for (int i = 0; i < 5; i += 2) {
		const unsigned char *b = c->buf[i];

		for (size_t j = 0; j < 3 * 4096; j++)
			if (b[j] != i + 1)
				FAIL("buffer %d byte %zu changed", i, j);
	}
}

static int ar_create_body(void *arg)
{
	struct ar_case *c = arg;
	int before = registered();

	c->a = tide_arena_create("oom-arena", 1 * MiB);
	if (!c->a) {
		CHECK_EQ(errno, ENOMEM);
		CHECK_EQ(registered(), before);
		return -ENOMEM;
	}
	CHECK_EQ(registered(), before + 1);
	return 0;
}

static int ar_alloc_body(void *arg)
{
	struct ar_case *c = arg;
	void *p = tide_arena_alloc(c->a, 100);

	if (!p) {
		CHECK_EQ(errno, ENOMEM);
		ar_unchanged(c);
		return -ENOMEM;
	}
	/* Best fit: the lowest freed hole, buffer 1's place. */
	CHECK_PTR_EQ(p, (char *)c->buf[0] + 3 * 4096);
	CHECK_UEQ(ar_stats(c->a).used_bytes, c->st.used_bytes + 104);
	return 0;
}

static int ar_free_body(void *arg)
{
	struct ar_case *c = arg;

	tide_arena_free(c->a, c->buf[2]);
	tide_arena_free(c->a, NULL);
	CHECK_UEQ(ar_stats(c->a).used_bytes, c->st.used_bytes - 3 * 4096);
	CHECK_UEQ(ar_stats(c->a).pages_lru, c->st.pages_lru + 3);
	return 0;
}

static int ar_stats_body(void *arg)
{
	struct ar_case *c = arg;
	struct tide_arena_stats z;

	ar_unchanged(c);
	memset(&z, 0xff, sizeof(z));
	tide_arena_stats(NULL, &z);
	CHECK_UEQ(z.size, 0);
	CHECK_UEQ(z.pages_total, 0);
	return 0;
}

static int ar_destroy_body(void *arg)
{
	struct ar_case *c = arg;
	int before = registered();

	tide_arena_destroy(c->a);
	c->a = NULL;
	tide_arena_destroy(NULL);
	CHECK_EQ(registered(), before - 1);
	return 0;
}

/* The arena's shrinker: a failed madvise keeps the pages on the LRU. */
static int ar_scan_body(void *arg)
{
	struct ar_case *c = arg;
	unsigned long freed = tide_shrinker_scan("oom-arena", 6);
	struct tide_arena_stats st = ar_stats(c->a);

	CHECK_UEQ(st.pages_lru + freed, c->st.pages_lru);
	CHECK_UEQ(st.pages_unmapped, c->st.pages_unmapped + freed);
	if (!tide__fault_hits())
		CHECK_UEQ(freed, 6);
	if (freed < 6)
		return -ENOMEM;
	return 0;
}

TEST(every_arena_function_survives_the_oom_loop)
{
	struct ar_case c = { 0 };
	unsigned long points = 0;

	th_warm_up_threads();
	points += run_case("tide_arena_create", "1 MiB", NULL, ar_create_body,
			   ar_teardown, &c);
	points += run_case("tide_arena_alloc", "into a hole", ar_setup,
			   ar_alloc_body, ar_teardown, &c);
	run_case("tide_arena_free", "between live neighbours", ar_setup,
		 ar_free_body, ar_teardown, &c);
	run_case("tide_arena_stats", "and NULL", ar_setup, ar_stats_body,
		 ar_teardown, &c);
	run_case("tide_arena_destroy", "with live buffers", ar_setup,
		 ar_destroy_body, ar_teardown, &c);
	points += run_case("arena shrinker scan", "6 LRU pages", ar_setup,
			   ar_scan_body, ar_teardown, &c);
	report();
	CHECK_CMP(points, >=, 2 * 3);
}

/* ---- pressure ----------------------------------------------------------- */

static char tmpdir[64];

static const char *tmp_path(const char *name)
{
	static char buf[4][512];
	static int i;
	char *p = buf[i++ % 4];

	snprintf(p, 512, "%s/%s", tmpdir, name);
	return p;
}

static void write_file(const char *name, const char *text)
{
	int fd = open(tmp_path(name), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		      0644);

	CHECK(fd >= 0);
	CHECK_EQ(write(fd, text, strlen(text)), (long)strlen(text));
	close(fd);
}

static void make_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/tide-oom-XXXXXX");
	CHECK(mkdtemp(tmpdir));
	write_file("smaps_rollup", "Rss: 1024 kB\nLazyFree: 0 kB\n");
	write_file("memory.high", "104857600\n");
	write_file("memory.max", "max\n");
	write_file("memory.current", "10485760\n");
	write_file("memory.events", "low 0\nhigh 0\nmax 0\noom 0\n");
	CHECK_EQ(mkfifo(tmp_path("fifo"), 0600), 0);
	/* a cgroup v1 memory group: limit 100 MiB, usage 10 MiB, with the
	 * files its usage thresholds and vmpressure events register in */
	CHECK_EQ(mkdir(tmp_path("v1"), 0700), 0);
	write_file("v1/memory.limit_in_bytes", "104857600\n");
	write_file("v1/memory.usage_in_bytes", "10485760\n");
	write_file("v1/memory.stat", "total_inactive_file 0\n");
	write_file("v1/memory.pressure_level", "");
	write_file("v1/cgroup.event_control", "");
}

static void remove_tmpdir(void)
{
	static const char *const names[] = {
		"smaps_rollup",
		"memory.high",
		"memory.max",
		"memory.current",
		"memory.events",
		"fifo",
		"v1/memory.limit_in_bytes",
		"v1/memory.usage_in_bytes",
		"v1/memory.stat",
		"v1/memory.pressure_level",
		"v1/cgroup.event_control",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unlink(tmp_path(names[i]));
	rmdir(tmp_path("v1"));
	rmdir(tmpdir);
}

struct mon_case {
	struct tide_monitor_config cfg;
	bool use_cfg;
	unsigned want_source;
	bool want_move_check; /* watches for cgroup moves */
	struct tide_monitor *m;
	struct ar_case ar;
};

static int mon_new_body(void *arg)
{
	struct mon_case *c = arg;
	struct tide_monitor *m = (struct tide_monitor *)&m;
	int before = registered();
	int r = tide_monitor_new(&m, c->use_cfg ? &c->cfg : NULL);

	if (r) {
		CHECK_EQ(r, th_expect_err);
		/* ret is written only on success. */
		CHECK_PTR_EQ(m, &m);
		CHECK_EQ(registered(), before);
		return r;
	}
	CHECK_UEQ(tide_monitor_source(m), c->want_source);
	CHECK_EQ(m->move_check, c->want_move_check);
	c->m = m;
	return 0;
}

static void mon_teardown(void *arg)
{
	struct mon_case *c = arg;

	tide_monitor_free(c->m);
	c->m = NULL;
	if (c->ar.a)
		ar_teardown(&c->ar);
	CHECK_EQ(registered(), 0);
}

static int mon_setup(void *arg)
{
	struct mon_case *c = arg;
	int r;

	c->m = NULL;
	r = tide_monitor_new(&c->m, c->use_cfg ? &c->cfg : NULL);
	if (r)
		return r;
	CHECK_UEQ(tide_monitor_source(c->m), c->want_source);
	return 0;
}

/* tide_monitor_free() of the monitor mon_setup() made, unstarted. */
static int mon_free_only_body(void *arg)
{
	struct mon_case *c = arg;

	tide_monitor_free(c->m);
	c->m = NULL;
	return 0;
}

/* Passes of a loop whose thread start failed (-EAGAIN). */
static int thread_failures;

/*
 * The thread start is tide_monitor_start()'s one failable call: when it
 * fails (-EAGAIN, as pthread_create() does), the monitor is not started,
 * so a retry starts it (fails again the same way under a persistent
 * fault) instead of answering -EBUSY.
 */
static int mon_start_body(void *arg)
{
	struct mon_case *c = arg;
	int threads = th_thread_count();
	int r = tide_monitor_start(c->m);

	if (r) {
		CHECK_EQ(r, -EAGAIN);
		CHECK_EQ(th_thread_count(), threads);
		thread_failures++;
		if (!th_fault_persistent) {
			CHECK_EQ(tide_monitor_start(c->m), 0);
			CHECK_EQ(th_thread_count(), threads + 1);
			CHECK_EQ(tide_monitor_start(c->m), -EBUSY);
			return r;
		}
		CHECK_EQ(tide_monitor_start(c->m), -EAGAIN);
		CHECK_EQ(th_thread_count(), threads);
		/* Not started: dispatch still works. */
		CHECK_EQ(tide_monitor_dispatch(c->m), 0);
		return r;
	}
	CHECK_EQ(th_thread_count(), threads + 1);
	CHECK_EQ(tide_monitor_start(c->m), -EBUSY);
	return 0;
}

/* A cgroup v2 monitor over its high watermark, an arena with 6 LRU pages. */
static int mon_arena_setup(void *arg)
{
	struct mon_case *c = arg;
	int r = ar_setup(&c->ar);

	if (r)
		return r;
	return mon_setup(c);
}

/*
 * memory.current 80 MiB is over high (75 of memory.high 100 MiB) and never
 * falls: the watermark loop runs passes down to priority 0, where the
 * arena's 6 LRU pages are reclaimed.  A failed madvise leaves them on the
 * LRU (the pass frees nothing), never anything worse.
 */
static int mon_dispatch_body(void *arg)
{
	struct mon_case *c = arg;
	struct pollfd p = { .fd = tide_monitor_fd(c->m), .events = POLLIN };
	struct tide_monitor_stats st;
	struct tide_arena_stats as;

	CHECK_EQ(poll(&p, 1, 2000), 1);
	CHECK_EQ(tide_monitor_dispatch(c->m), 0);
	tide_monitor_stats(c->m, &st);
	as = ar_stats(c->ar.a);
	CHECK_UEQ(st.loops, 1);
	CHECK_UEQ(as.pages_lru + st.freed, 6);
	CHECK_UEQ(as.pages_used, c->ar.st.pages_used);
	if (!tide__fault_hits())
		CHECK_UEQ(st.freed, 6);
	return st.freed == 6 ? 0 : -ENOMEM;
}

static int mon_query_body(void *arg)
{
	struct mon_case *c = arg;
	struct tide_monitor_stats st;

	CHECK_CMP(tide_monitor_fd(c->m), >=, 0);
	CHECK_EQ(tide_monitor_fd(NULL), -EINVAL);
	CHECK_UEQ(tide_monitor_source(c->m), c->want_source);
	CHECK_UEQ(tide_monitor_source(NULL), 0);
	CHECK_STR(tide_monitor_source_name(TIDE_SOURCE_WATCH), "watch");
	CHECK_STR(tide_monitor_source_name(3), "unknown");
	tide_monitor_stats(c->m, &st);
	CHECK_UEQ(st.loops, 0);
	CHECK_EQ(st.last_priority, -1);
	return 0;
}

static int mon_free_body(void *arg)
{
	struct mon_case *c = arg;
	/* the start's thread is the one failable call here: freed
	 * unstarted then */
	int r = tide_monitor_start(c->m);

	if (r)
		CHECK_EQ(r, -EAGAIN);
	tide_monitor_free(c->m);
	c->m = NULL;
	tide_monitor_free(NULL);
	return r;
}

/*
 * Does this kernel take a PSI trigger (one of the system PSI source's) on
 * /proc/pressure/memory?  That source accepts no fake file (procfs or
 * cgroupfs only), so its case runs on the real one or not at all.
 */
static bool system_psi_works(void)
{
	int err = th_psi_trigger_err();

	if (err)
		th_note("system PSI case skipped: /proc/pressure/memory takes "
			"no trigger: %s",
			strerror(err));
	return !err;
}

TEST(every_pressure_function_survives_the_oom_loop)
{
	struct mon_case budget = { .use_cfg = true,
				   .want_source = TIDE_SOURCE_BUDGET };
	struct mon_case cg2 = { .use_cfg = true,
				.want_source = TIDE_SOURCE_CGROUP2 };
	struct mon_case watch = { .use_cfg = false,
				  .want_source = TIDE_SOURCE_WATCH };
	struct mon_case notrim = { .use_cfg = true,
				   .want_source = TIDE_SOURCE_WATCH };
	struct mon_case none = { .use_cfg = true,
				 .want_source = TIDE_SOURCE_NONE };
	struct mon_case cg2poll = { .use_cfg = true,
				    .want_source = TIDE_SOURCE_CGROUP2 };
	struct mon_case watchonly = { .use_cfg = true,
				      .want_source = TIDE_SOURCE_WATCH };
	struct mon_case psi = { .use_cfg = true,
				.want_source = TIDE_SOURCE_PSI };
	struct mon_case cg1 = { .use_cfg = true,
				.want_source = TIDE_SOURCE_CGROUP1 };
	unsigned long points = 0, fdpoints = 0, none_points = 0;
	char v1dir[96];

	th_warm_up_threads();
	make_tmpdir();
	snprintf(v1dir, sizeof(v1dir), "%s", tmp_path("v1"));
	budget.cfg = (struct tide_monitor_config){
		.size = sizeof(struct tide_monitor_config),
		.sources = TIDE_SOURCE_BUDGET,
		.high_watermark = 100 * MiB,
		.rss_path = tmp_path("smaps_rollup"),
	};
	cg2.cfg = (struct tide_monitor_config){
		.size = sizeof(struct tide_monitor_config),
		.sources = TIDE_SOURCE_CGROUP2,
		.cgroup2_dir = tmpdir
	};
	notrim.cfg = (struct tide_monitor_config){
		.size = sizeof(struct tide_monitor_config),
		.sources = TIDE_SOURCE_WATCH,
		.flags = TIDE_MONITOR_NO_TRIM,
	};
	watchonly.cfg = (struct tide_monitor_config){
		.size = sizeof(struct tide_monitor_config),
		.sources = TIDE_SOURCE_WATCH,
	};
	none.cfg = (struct tide_monitor_config){
		.size = sizeof(struct tide_monitor_config),
		.sources = TIDE_SOURCE_NONE
	};
	cg2poll.cfg = (struct tide_monitor_config){
		.size = sizeof(struct tide_monitor_config),
		.sources = TIDE_SOURCE_CGROUP2,
		.cgroup2_dir = tmpdir,
		.poll_interval_ms = 10,
		.flags = TIDE_MONITOR_NO_TRIM,
	};
	psi.cfg = (struct tide_monitor_config){
		.size = sizeof(struct tide_monitor_config),
		.sources = TIDE_SOURCE_PSI,
	};
	cg1.cfg = (struct tide_monitor_config){
		.size = sizeof(struct tide_monitor_config),
		.sources = TIDE_SOURCE_CGROUP1,
		.cgroup1_dir = v1dir,
	};
	CHECK_EQ(setenv("MEMORY_PRESSURE_WATCH", tmp_path("fifo"), 1), 0);
	CHECK_EQ(setenv("MEMORY_PRESSURE_WRITE", "aGVsbG8=", 1), 0);

	{
		/* auto mode: every source that applies on this machine */
		struct tide_monitor *probe = NULL;

		CHECK_EQ(tide_monitor_new(&probe, NULL), 0);
		watch.want_source = tide_monitor_source(probe);
		watch.want_move_check = probe->move_check;
		CHECK(watch.want_source & TIDE_SOURCE_WATCH);
		tide_monitor_free(probe);
	}
	{
		/* Each under the OOM loop, then under the descriptor limit:
		 * the call needs as many free descriptors as it holds at its
		 * peak: epoll, two eventfds and two timerfds, then one file
		 * at a time (cgroup discovery) without sources; with the
		 * watch source alone, its FIFO and the write end it keeps
		 * (which must not be dropped quietly). */
		static const char *const label[] = { "watch fifo + write",
						     "budget", "cgroup2",
						     "none" };
		struct mon_case *const mc[] = { &watch, &budget, &cg2, &none };

		for (int i = 0; i < 4; i++)
			points += run_case("tide_monitor_new", label[i], NULL,
					   mon_new_body, mon_teardown, mc[i]);
		for (int i = 0; i < 4; i++) {
			unsigned long p =
				fd_case("tide_monitor_new", label[i], NULL,
					mon_new_body, mon_teardown, mc[i]);

			if (mc[i] == &none)
				none_points = p;
			else
				fdpoints += p;
		}
	}
	CHECK_UEQ(none_points, 5 + 1);
	/*
	 * The system PSI trigger and a cgroup v1 group (usage thresholds
	 * and vmpressure events through cgroup.event_control), which the
	 * loops above do not reach.
	 */
	if (system_psi_works()) {
		points += run_case("tide_monitor_new", "system psi", NULL,
				   mon_new_body, mon_teardown, &psi);
		/* at its peak: the monitor's 5 and the descriptors of its
		 * three triggers (low, medium, critical) */
		CHECK_UEQ(fd_case("tide_monitor_new", "system psi", NULL,
				  mon_new_body, mon_teardown, &psi),
			  5 + 3);
		/*
		 * Each trigger's close waits for an RCU grace period: the
		 * free closes two of the three on threads of their own, side
		 * by side with the third.  A thread that cannot start leaves
		 * its trigger to the freeing thread, closed all the same
		 * (the loop checks every descriptor and thread).  Fault
		 * points, transient and persistent: the check that the
		 * descriptors are still the monitor's (one open of
		 * /proc/self/fdinfo) and one per thread.
		 */
		CHECK_UEQ(run_case("tide_monitor_free", "system psi", mon_setup,
				   mon_free_only_body, mon_teardown, &psi),
			  2 * (1 + 2));
	}
	points += run_case("tide_monitor_new", "cgroup1", NULL, mon_new_body,
			   mon_teardown, &cg1);
	/*
	 * The monitor's 5, memory.usage_in_bytes and memory.stat, the
	 * eventfds of the threshold at high and of the three vmpressure
	 * levels, while cgroup.event_control and memory.pressure_level are
	 * open to register them (a configured group's limit file is not
	 * kept open)
	 */
	CHECK_UEQ(fd_case("tide_monitor_new", "cgroup1", NULL, mon_new_body,
			  mon_teardown, &cg1),
		  5 + 2 + 4 + 2);
	CHECK_UEQ(fd_case("tide_monitor_new", "watch fifo + write only", NULL,
			  mon_new_body, mon_teardown, &watchonly),
		  5 + 2);
	unsetenv("MEMORY_PRESSURE_WRITE");
	/* the thread start, transient and persistent (0 up to 0.2.15: it
	 * called pthread_create() itself, which no fault reached) */
	thread_failures = 0;
	CHECK_UEQ(run_case("tide_monitor_start", "thread", mon_setup,
			   mon_start_body, mon_teardown, &notrim),
		  2);
	CHECK_EQ(thread_failures, 2);
	write_file("memory.current", "83886080\n");
	points += run_case("tide_monitor_dispatch", "cgroup2 loop over arena",
			   mon_arena_setup, mon_dispatch_body, mon_teardown,
			   &cg2poll);
	run_case("tide_monitor_fd", "and source, stats", mon_setup,
		 mon_query_body, mon_teardown, &notrim);
	run_case("tide_monitor_source", "watch", mon_setup, mon_query_body,
		 mon_teardown, &notrim);
	run_case("tide_monitor_source_name", "known and unknown", mon_setup,
		 mon_query_body, mon_teardown, &notrim);
	run_case("tide_monitor_stats", "fresh", mon_setup, mon_query_body,
		 mon_teardown, &notrim);
	run_case("tide_monitor_free", "started", mon_setup, mon_free_body,
		 mon_teardown, &watch);
	unsetenv("MEMORY_PRESSURE_WATCH");
	remove_tmpdir();
	report();
	CHECK_CMP(points, >=, 2 * 4);
	CHECK_CMP(fdpoints, >=, 3 * (5 + 1));
}

/* ---- common ------------------------------------------------------------- */

static void on_error(const char *what, const void *ptr, void *arg)
{
	(void)what;
	(void)ptr;
	(void)arg;
}

static int common_body(void *arg)
{
	(void)arg;
	CHECK_STR(tide_version(), TIDE_VERSION_STRING);
	CHECK(tide_strerror(-ENOSPC) && *tide_strerror(-ENOSPC));
	CHECK_STR(tide_strerror(0), "Success");
	tide_set_error_handler(on_error, NULL);
	tide_set_error_handler(NULL, NULL);
	return 0;
}

TEST(common_functions_make_no_failable_call)
{
	/*
	 * The loop's fd count agrees with the harness's slow one (not under
	 * valgrind, whose own descriptors only one of them sees).
	 */
	if (!th_under_valgrind())
		CHECK_EQ(th_fd_count_fast(), th_fd_count());
	CHECK_UEQ(run_case("tide_version", "strerror, set_error_handler", NULL,
			   common_body, NULL, NULL),
		  0);
}

/* ---- ctl ---------------------------------------------------------------- */

struct ctl_case {
	char dir[256], path[320];
	unsigned flags;
	int client;
	struct tide_shrinker *s;
	const char *req; /* "shrinkers" or "info" */
	char comm[80]; /* "\ncomm=NAME\n", NAME as /proc/self/comm says */
};

static unsigned long ctl_count(void *priv, struct tide_shrink_control *sc)
{
	(void)priv;
	(void)sc;
	return 3;
}

static unsigned long ctl_scan(void *priv, struct tide_shrink_control *sc)
{
	(void)priv;
	return sc->nr_to_scan;
}

static const struct tide_shrinker_ops ctl_ops = { ctl_count, ctl_scan };

static int ctl_listen_body(void *arg)
{
	struct ctl_case *c = arg;
	struct tide_ctl_config cfg = { .size = sizeof(cfg),
				       .dir = c->dir,
				       .flags = c->flags };
	int r = tide_ctl_listen(&cfg);

	if (r) {
		/* the listener's thread could not start (pthread_create()'s
		 * error), or anything before it ran out */
		if (r == -EAGAIN && !(c->flags & TIDE_CTL_DISPATCH))
			thread_failures++;
		else
			CHECK_EQ(r, th_expect_err);
		CHECK(access(c->path, F_OK) && errno == ENOENT);
		CHECK_EQ(tide_ctl_fd(), -ENOTCONN);
		if (r == -EAGAIN && !th_fault_persistent) {
			/* nothing left in the way of a retry */
			CHECK_EQ(tide_ctl_listen(&cfg), 0);
			CHECK(!access(c->path, F_OK));
			CHECK_CMP(tide_ctl_fd(), >=, 0);
			tide_ctl_close();
			CHECK(access(c->path, F_OK) && errno == ENOENT);
		}
		return r;
	}
	CHECK(!access(c->path, F_OK));
	tide_ctl_close();
	CHECK(access(c->path, F_OK) && errno == ENOENT);
	return 0;
}

static int ctl_dispatch_setup(void *arg)
{
	struct ctl_case *c = arg;
	struct tide_ctl_config cfg = { .size = sizeof(cfg),
				       .dir = c->dir,
				       .flags = TIDE_CTL_DISPATCH };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int r = tide_ctl_listen(&cfg);

	if (r)
		return r;
	c->s = tide_shrinker_alloc("oom");
	if (!c->s)
		return -ENOMEM;
	tide_shrinker_register(c->s, &ctl_ops, NULL);
	c->client = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s",
			       c->path) < sizeof(sa.sun_path));
	if (connect(c->client, (struct sockaddr *)&sa, sizeof(sa)) ||
	    dprintf(c->client, "%s\n", c->req) != (int)strlen(c->req) + 1)
		return -errno;
	return 0;
}

/*
 * The reply is the whole answer or the out-of-memory line.  A review: a
 * failed allocation of the connection, or its epoll add, closed it with
 * no reply, and info answered comm= (empty) when /proc/self/comm could
 * not be opened for want of memory.
 */
static int ctl_dispatch_body(void *arg)
{
	struct ctl_case *c = arg;
	char out[512];
	size_t len = 0;
	bool eof = false;

	for (int i = 0; i < 500 && !eof; i++) {
		struct pollfd p = { .fd = c->client, .events = POLLIN };
		ssize_t n;

		CHECK_EQ(tide_ctl_dispatch(), 0);
		if (poll(&p, 1, 2) <= 0)
			continue;
		n = recv(c->client, out + len, sizeof(out) - 1 - len, 0);
		if (n <= 0)
			eof = true;
		else
			len += (size_t)n;
	}
	out[len] = 0;
	/*
	 * Nothing, and the connection still open: never accepted, as every
	 * accept fails from the fault on (it waits in the backlog).
	 */
	if (!len && !eof && th_fault_persistent)
		return -ENOMEM;
	if (!strcmp(c->req, "shrinkers") &&
	    !strcmp(out, "ok\noom\t3\t0\t0\t0\t0\t2\t128\nend\n"))
		return 0;
	if (!strcmp(c->req, "info") && !strncmp(out, "ok\npid=", 7) &&
	    strstr(out, c->comm) && len > 4 && !strcmp(out + len - 4, "end\n"))
		return 0;
	if (strcmp(out, "err ENOMEM out of memory\n"))
		FAIL("%s under faults answered \"%s\"", c->req, out);
	return -ENOMEM;
}

static void ctl_dispatch_teardown(void *arg)
{
	struct ctl_case *c = arg;

	if (c->client >= 0)
		close(c->client);
	c->client = -1;
	tide_shrinker_free(c->s);
	c->s = NULL;
	tide_ctl_close();
}

/* Is somebody listening on the socket at @path (of any length)? */
static bool listened_on(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int pfd = open(path, O_PATH | O_CLOEXEC);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	bool yes;

	CHECK(fd >= 0);
	if (pfd < 0) {
		close(fd);
		return false;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d", pfd);
	yes = !connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	      errno == EAGAIN;
	close(fd);
	close(pfd);
	return yes;
}

/*
 * Our own PID.sock in c->dir (past sun_path), nobody listening on it: the
 * listen probes it (take_over()'s connect through a descriptor of the
 * socket, the directory's clean) before it binds its own.
 */
static int ctl_stale_setup(void *arg)
{
	struct ctl_case *c = arg;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int dfd = open(c->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct stat st;
	int r = 0;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%d.sock",
		 dfd, (int)getpid());
	/* mode 0755, where the library's is 0600: told apart whatever
	 * inode and ctime a new file gets */
	if (dfd < 0 || fd < 0 || fchmod(fd, 0755) ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)))
		r = -errno;
	close(fd);
	close(dfd);
	CHECK(!r && !lstat(c->path, &st) && !listened_on(c->path));
	CHECK_EQ(st.st_mode & 07777, 0755);
	return r;
}

/*
 * A failed listen leaves the stale socket (or none: the clean removed it
 * before the failure); not a socket of its own (told by its mode: under
 * the descriptor limit nothing can connect to look).
 */
static int ctl_stale_body(void *arg)
{
	struct ctl_case *c = arg;
	struct tide_ctl_config cfg = { .size = sizeof(cfg),
				       .dir = c->dir,
				       .flags = TIDE_CTL_DISPATCH };
	struct stat st;
	int r = tide_ctl_listen(&cfg);

	if (r) {
		CHECK_EQ(r, th_expect_err);
		CHECK_EQ(tide_ctl_fd(), -ENOTCONN);
		if (lstat(c->path, &st))
			CHECK_EQ(errno, ENOENT);
		else
			CHECK_EQ(st.st_mode & 07777, 0755);
		return r;
	}
	/* its own socket in place of the stale one */
	CHECK(!lstat(c->path, &st) && S_ISSOCK(st.st_mode));
	CHECK_EQ(st.st_mode & 07777, 0600);
	CHECK_CMP(tide_ctl_fd(), >=, 0);
	tide_ctl_close();
	CHECK(access(c->path, F_OK) && errno == ENOENT);
	return 0;
}

static void ctl_stale_teardown(void *arg)
{
	unlink(((struct ctl_case *)arg)->path);
}

TEST(every_ctl_function_survives_the_oom_loop)
{
	struct ctl_case c = { .client = -1 };
	char tmp[] = "/tmp/tide-oom-ctl-XXXXXX", cmd[64];
	unsigned long points = 0;

	th_warm_up_threads();
	CHECK(mkdtemp(tmp));
	snprintf(c.dir, sizeof(c.dir), "%s/tide", tmp);
	snprintf(c.path, sizeof(c.path), "%s/%d.sock", c.dir, (int)getpid());
	c.flags = TIDE_CTL_DISPATCH;
	thread_failures = 0;
	points += run_case("tide_ctl_listen", "dispatch", NULL, ctl_listen_body,
			   NULL, &c);
	CHECK_EQ(thread_failures, 0);
	c.flags = 0;
	/* its last failable call is the thread start: one pass of each
	 * mode fails there (none up to 0.2.15) */
	points += run_case("tide_ctl_listen", "own thread", NULL,
			   ctl_listen_body, NULL, &c);
	CHECK_EQ(thread_failures, 2);
	/*
	 * At its peak the server holds epoll, a timerfd, an eventfd and the
	 * socket (the directory's descriptor is closed before them).
	 */
	CHECK_UEQ(fd_case("tide_ctl_listen", "own thread", NULL,
			  ctl_listen_body, NULL, &c),
		  4);
	c.flags = TIDE_CTL_DISPATCH;
	CHECK_UEQ(fd_case("tide_ctl_listen", "dispatch", NULL, ctl_listen_body,
			  NULL, &c),
		  4);
	c.flags = 0;
	c.req = "shrinkers";
	points += run_case("tide_ctl_dispatch", "a shrinkers request",
			   ctl_dispatch_setup, ctl_dispatch_body,
			   ctl_dispatch_teardown, &c);
	c.req = "info";
	{
		/* valgrind's own name under memcheck, not test_oom */
		char name[32] = "";
		FILE *f = fopen("/proc/self/comm", "re");

		CHECK(f && fgets(name, sizeof(name), f));
		fclose(f);
		name[strcspn(name, "\n")] = 0;
		snprintf(c.comm, sizeof(c.comm), "\ncomm=%s\n", name);
	}
	points += run_case("tide_ctl_dispatch", "an info request",
			   ctl_dispatch_setup, ctl_dispatch_body,
			   ctl_dispatch_teardown, &c);
	/*
	 * A directory whose PID.sock is longer than sun_path: bound through
	 * an O_PATH descriptor of the directory, one more call to fail, and
	 * one more descriptor to be refused (5 points), closed before the
	 * listen returns (ctl_listen_body() checks what is left).
	 */
	snprintf(c.dir, sizeof(c.dir), "%s/%0120d", tmp, 0);
	CHECK(!mkdir(c.dir, 0700));
	CHECK((size_t)snprintf(c.dir, sizeof(c.dir), "%s/%0120d/tide", tmp, 0) <
	      sizeof(c.dir));
	CHECK((size_t)snprintf(c.path, sizeof(c.path), "%s/%d.sock", c.dir,
			       (int)getpid()) < sizeof(c.path));
	CHECK_CMP(strlen(c.path), >=,
		  sizeof(((struct sockaddr_un *)0)->sun_path));
	c.flags = TIDE_CTL_DISPATCH;
	points += run_case("tide_ctl_listen", "a directory past sun_path", NULL,
			   ctl_listen_body, NULL, &c);
	CHECK_UEQ(fd_case("tide_ctl_listen", "a directory past sun_path", NULL,
			  ctl_listen_body, NULL, &c),
		  5);
	points += run_case("tide_ctl_listen",
			   "a stale own socket past sun_path", ctl_stale_setup,
			   ctl_stale_body, ctl_stale_teardown, &c);
	/* the probes hold 2 at most, before the 5 of the bind */
	CHECK_UEQ(fd_case("tide_ctl_listen", "a stale own socket past sun_path",
			  ctl_stale_setup, ctl_stale_body, ctl_stale_teardown,
			  &c),
		  5);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
	CHECK_EQ(system(cmd), 0);
	report();
	CHECK_CMP(points, >=, 2 * 3);
}

RUN_TESTS(T(every_kv_function_survives_the_oom_loop),
	  T(every_vec_function_survives_the_oom_loop),
	  T(every_shrinker_function_survives_the_oom_loop),
	  T(every_arena_function_survives_the_oom_loop),
	  T(every_pressure_function_survives_the_oom_loop),
	  T(common_functions_make_no_failable_call),
	  T(every_ctl_function_survives_the_oom_loop))
