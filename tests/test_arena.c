// SPDX-License-Identifier: MIT
/*
 * test_arena.c - the arena: layout, page states, the shrinker, misuse and
 * the OOM loop.  The exhaustive test follows the kernel's binder_alloc KUnit
 * test: 5 buffers whose ends fall inside a page, just before, at and just
 * after a page boundary, freed in all 120 orders, with a model of every
 * page's state checked after each step.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include <tide.h>

#include "harness.h"

/* Test hooks of arena.c. */
size_t tide__arena_page_states(struct tide_arena *a, unsigned char *out,
			       size_t n);
unsigned long tide__arena_reclaim(struct tide_arena *a, unsigned long nr,
				  unsigned long *taken);

enum { UNMAPPED, LRU, USED };

static size_t P;

static void setup(void)
{
	P = tide__os_page_size();
}

static struct tide_arena_stats stats(struct tide_arena *a)
{
	struct tide_arena_stats st;

	tide_arena_stats(a, &st);
	return st;
}

static size_t off_of(struct tide_arena *a, void *base, void *p)
{
	(void)a;
	return (size_t)((char *)p - (char *)base);
}

#define CHECK_PAGES(a, used, lru, unmapped)                  \
	do {                                                 \
		struct tide_arena_stats th_st = stats(a);    \
		CHECK_UEQ(th_st.pages_used, (used));         \
		CHECK_UEQ(th_st.pages_lru, (lru));           \
		CHECK_UEQ(th_st.pages_unmapped, (unmapped)); \
	} while (0)

static int page_state(struct tide_arena *a, size_t page)
{
	unsigned char st[4096];

	CHECK(page < sizeof(st));
	CHECK(tide__arena_page_states(a, st, page + 1) == page + 1);
	return st[page];
}

/* ---- creation ---------------------------------------------------------- */

TEST(create_rounds_size_up_to_pages)
{
	struct tide_arena *a;
	struct tide_arena_stats st;

	setup();
	a = tide_arena_create("t", 3 * P + 1);
	CHECK(a);
	st = stats(a);
	CHECK_UEQ(st.size, 4 * P);
	CHECK_UEQ(st.pages_total, 4);
	CHECK_UEQ(st.pages_unmapped, 4);
	CHECK_UEQ(st.pages_used, 0);
	CHECK_UEQ(st.pages_lru, 0);
	CHECK_UEQ(st.used_bytes, 0);
	CHECK_UEQ(st.free_bytes, 4 * P);
	CHECK_UEQ(st.pages_high_water, 0);
	CHECK_UEQ(st.page_faults_avoided, 0);
	tide_arena_destroy(a);
}

TEST(create_rejects_bad_arguments)
{
	setup();
	errno = 0;
	CHECK(!tide_arena_create(NULL, P));
	CHECK_EQ(errno, EINVAL);
	errno = 0;
	CHECK(!tide_arena_create("t", 0));
	CHECK_EQ(errno, EINVAL);
	errno = 0;
	CHECK(!tide_arena_create("t", TIDE_ARENA_MAX + 1));
	CHECK_EQ(errno, EINVAL);
	errno = 0;
	CHECK(!tide_arena_create("t", SIZE_MAX));
	CHECK_EQ(errno, EINVAL);
}

TEST(create_of_maximum_size_commits_no_memory)
{
	struct tide_arena *a;

	long before, after;

	setup();
	th_anon_kb();
	before = th_anon_kb();
	a = tide_arena_create("t", TIDE_ARENA_MAX);
	after = th_anon_kb();
	CHECK(a);
	CHECK_UEQ(stats(a).pages_total, TIDE_ARENA_MAX / P);
	/* Neither the mapping nor the page records are touched. */
	th_note("anon %ld kB -> %ld kB", before, after);
	/* Valgrind's own bookkeeping for the mapping counts as anon. */
	/* (TSan's calloc writes the shadow of the whole block) */
	if (!th_tsan() && !th_under_valgrind())
		CHECK_CMP(after - before, <, 256);
	tide_arena_destroy(a);
}

static int find_count(const struct tide_shrinker_info *info, void *arg)
{
	long *count = arg;

	if (strcmp(info->name, "arena-registered"))
		return 0;
	*count = (long)info->count;
	return 1;
}

TEST(create_registers_shrinker_and_destroy_unregisters_it)
{
	struct tide__os_stats before, after;
	struct tide_arena *a;
	long count = -1;

	setup();
	tide__os_stats(&before);
	a = tide_arena_create("arena-registered", 8 * P);
	CHECK(a);
	CHECK_EQ(tide_shrinker_foreach(find_count, &count), 1);
	CHECK_EQ(count, 0);
	tide_arena_destroy(a);
	count = -1;
	CHECK_EQ(tide_shrinker_foreach(find_count, &count), 0);
	CHECK_EQ(count, -1);
	tide__os_stats(&after);
	CHECK_EQ(after.maps_live, before.maps_live);
	CHECK_EQ(after.map_bytes, before.map_bytes);
	CHECK_EQ(after.heap_live, before.heap_live);
}

TEST(destroy_and_free_accept_null)
{
	struct tide_arena_stats st;

	tide_arena_destroy(NULL);
	tide_arena_free(NULL, NULL);
	memset(&st, 0xff, sizeof(st));
	tide_arena_stats(NULL, &st);
	CHECK_UEQ(st.size, 0);
	CHECK_UEQ(st.pages_total, 0);
}

/* ---- layout ------------------------------------------------------------ */

TEST(fresh_arena_lays_buffers_back_to_back)
{
	struct tide_arena *a;
	void *b0, *b1, *b2, *b3;

	setup();
	a = tide_arena_create("t", 4 * P);
	b0 = tide_arena_alloc(a, 64);
	b1 = tide_arena_alloc(a, 4000);
	b2 = tide_arena_alloc(a, P);
	b3 = tide_arena_alloc(a, 8);
	CHECK(b0 && b1 && b2 && b3);
	CHECK_UEQ((uintptr_t)b0 % P, 0);
	CHECK_UEQ(off_of(a, b0, b1), 64);
	CHECK_UEQ(off_of(a, b0, b2), 4064);
	CHECK_UEQ(off_of(a, b0, b3), 4064 + P);
	CHECK_UEQ(stats(a).used_bytes, 64 + 4000 + P + 8);
	CHECK_UEQ(stats(a).free_bytes, 4 * P - (64 + 4000 + P + 8));
	tide_arena_destroy(a);
}

TEST(sizes_round_up_to_8)
{
	struct tide_arena *a;
	char *b0, *b1, *b2;

	setup();
	a = tide_arena_create("t", P);
	b0 = tide_arena_alloc(a, 1);
	b1 = tide_arena_alloc(a, 9);
	b2 = tide_arena_alloc(a, 16);
	CHECK(b0 && b1 && b2);
	CHECK_UEQ(b1 - b0, 8);
	CHECK_UEQ(b2 - b1, 16);
	CHECK_UEQ(stats(a).used_bytes, 8 + 16 + 16);
	tide_arena_destroy(a);
}

/*
 * Holes of 32 (at B), 16 (at D) and 32 (at F) bytes, then the tail: best fit
 * takes the smallest hole that fits, the lowest one of equal size, and the
 * buffer takes the front of the hole.
 */
TEST(best_fit_takes_smallest_hole_lowest_address_on_ties)
{
	static const size_t sz[] = { 64, 32, 64, 16, 64, 32, 64 };
	struct tide_arena *a;
	char *p[7], *x;
	size_t off[7], o = 0;

	setup();
	a = tide_arena_create("t", P);
	for (int i = 0; i < 7; i++) {
		p[i] = tide_arena_alloc(a, sz[i]);
		CHECK(p[i]);
		off[i] = o;
		o += sz[i];
		CHECK_UEQ(p[i] - p[0], off[i]);
	}
	tide_arena_free(a, p[5]);
	tide_arena_free(a, p[3]);
	tide_arena_free(a, p[1]);
	x = tide_arena_alloc(a, 24); /* 32 at B beats 32 at F (lower) */
	CHECK_UEQ(x - p[0], off[1]);
	x = tide_arena_alloc(a, 16); /* exact 16 at D beats the 32 at F */
	CHECK_UEQ(x - p[0], off[3]);
	x = tide_arena_alloc(a, 8); /* the 8 left at the back of B */
	CHECK_UEQ(x - p[0], off[1] + 24);
	x = tide_arena_alloc(a, 32); /* F */
	CHECK_UEQ(x - p[0], off[5]);
	x = tide_arena_alloc(a, 8); /* the tail */
	CHECK_UEQ(x - p[0], o);
	tide_arena_destroy(a);
}

/*
 * Free blocks are searched by size class (arena.c): 256 and 264 bytes
 * share a class, 272 is in the next.  Best fit must still be exact: the
 * smallest block in the class that holds the request, the lowest of equal
 * ones, and when the class holds only smaller blocks, the smallest block
 * of a later class.  Holes, in address order: 264 (A), 256 (B), 272 (C),
 * 264 (D), each after a live 8-byte buffer, then the tail.
 */
TEST(best_fit_is_exact_within_and_across_size_classes)
{
	static const size_t hole[] = { 264, 256, 272, 264 };
	struct tide_arena *a;
	char *sep[4], *h[4], *x;
	size_t off[4];

	setup();
	a = tide_arena_create("t", P);
	CHECK(a);
	for (int i = 0; i < 4; i++) {
		sep[i] = tide_arena_alloc(a, 8);
		h[i] = tide_arena_alloc(a, hole[i]);
		CHECK(sep[i] && h[i]);
		off[i] = (size_t)(h[i] - sep[0]);
	}
	CHECK(tide_arena_alloc(a, 8)); /* the tail stays apart from D */
	for (int i = 0; i < 4; i++)
		tide_arena_free(a, h[i]);
	x = tide_arena_alloc(a, 260); /* 264: A and D fit exactly, A lower */
	CHECK(x);
	CHECK_UEQ(x - sep[0], off[0]);
	x = tide_arena_alloc(a, 264); /* D */
	CHECK(x);
	CHECK_UEQ(x - sep[0], off[3]);
	/* The class holds only B (256): C, in the next class, is best. */
	x = tide_arena_alloc(a, 264);
	CHECK(x);
	CHECK_UEQ(x - sep[0], off[2]);
	x = tide_arena_alloc(a, 256); /* B */
	CHECK(x);
	CHECK_UEQ(x - sep[0], off[1]);
	x = tide_arena_alloc(a, 8); /* the 8 bytes left at the back of C */
	CHECK(x);
	CHECK_UEQ(x - sep[0], off[2] + 264);
	tide_arena_destroy(a);
}

/* The arena as a model sees it: blocks in address order. */
struct mblock {
	size_t start, size;
	bool live;
};

/*
 * Random allocations (8 bytes to 512 KiB, log-uniform, so that blocks
 * crowd into the same size classes and span many) and frees, against a
 * model that finds best fit by looking at every free block: each buffer
 * must land where the model says, ENOSPC exactly when no block fits.
 */
TEST(best_fit_matches_a_linear_model_over_random_traffic)
{
	enum { MAXB = 4096, OPS = 20000, MAXLIVE = 300 };
	static struct mblock m[MAXB];
	static char *ptr[MAXB];
	size_t arena_size = (size_t)4 << 20, nb = 1, used = 0;
	unsigned nlive = 0, enospc = 0;
	uint32_t rng = 12345;
	struct tide_arena *a;
	char *base;

	setup();
	a = tide_arena_create("t", arena_size);
	CHECK(a);
	base = tide_arena_alloc(a, 8); /* the first byte of the mapping */
	CHECK(base);
	tide_arena_free(a, base);
	m[0] = (struct mblock){ 0, arena_size, false };
	for (int op = 0; op < OPS; op++) {
		rng ^= rng << 13;
		rng ^= rng >> 17;
		rng ^= rng << 5;
		if (nlive < MAXLIVE && (rng % 3 || !nlive)) {
			size_t req = 1 + (rng >> 8) % ((size_t)8 << (rng % 17));
			size_t size = (req + 7) & ~(size_t)7, best = nb;
			char *p;

			for (size_t i = 0; i < nb; i++)
				if (!m[i].live && m[i].size >= size &&
				    (best == nb || m[i].size < m[best].size))
					best = i; /* ties: the lower one */
			errno = 0;
			p = tide_arena_alloc(a, req);
			if (best == nb) {
				CHECK(!p);
				CHECK_EQ(errno, ENOSPC);
				enospc++;
				continue;
			}
			CHECK(p);
			CHECK_UEQ((size_t)(p - base), m[best].start);
			if (m[best].size > size) {
				CHECK_CMP(nb, <, MAXB);
				memmove(&m[best + 1], &m[best],
					(nb - best) * sizeof(m[0]));
				memmove(&ptr[best + 1], &ptr[best],
					(nb - best) * sizeof(ptr[0]));
				nb++;
				m[best + 1].start += size;
				m[best + 1].size -= size;
				m[best].size = size;
			}
			m[best].live = true;
			ptr[best] = p;
			used += size;
			nlive++;
		} else {
			size_t k = (rng >> 4) % nlive, i;

			for (i = 0; !m[i].live || k--; i++)
				;
			tide_arena_free(a, ptr[i]);
			used -= m[i].size;
			nlive--;
			m[i].live = false;
			if (i + 1 < nb && !m[i + 1].live) { /* merge the next */
				m[i].size += m[i + 1].size;
				memmove(&m[i + 1], &m[i + 2],
					(nb - i - 2) * sizeof(m[0]));
				memmove(&ptr[i + 1], &ptr[i + 2],
					(nb - i - 2) * sizeof(ptr[0]));
				nb--;
			}
			if (i > 0 && !m[i - 1].live) { /* into the one before */
				m[i - 1].size += m[i].size;
				memmove(&m[i], &m[i + 1],
					(nb - i - 1) * sizeof(m[0]));
				memmove(&ptr[i], &ptr[i + 1],
					(nb - i - 1) * sizeof(ptr[0]));
				nb--;
			}
		}
		if (op % 1000 == 0)
			CHECK_UEQ(stats(a).used_bytes, used);
	}
	CHECK_UEQ(stats(a).used_bytes, used);
	/* Both outcomes were reached: the arena filled up now and then. */
	CHECK_CMP(enospc, >, 0);
	th_note("%d operations, %u ENOSPC, %zu blocks at the end", OPS, enospc,
		nb);
	tide_arena_destroy(a);
}

TEST(free_merges_with_both_neighbours)
{
	struct tide_arena *a;
	char *b0, *b1, *b2;

	setup();
	a = tide_arena_create("t", 2 * P);
	b0 = tide_arena_alloc(a, 1000);
	b1 = tide_arena_alloc(a, 1000);
	b2 = tide_arena_alloc(a, 2 * P - 2000);
	CHECK(b0 && b1 && b2);
	tide_arena_free(a, b0);
	tide_arena_free(a, b2);
	errno = 0;
	CHECK(!tide_arena_alloc(a, 2 * P - 1000));
	CHECK_EQ(errno, ENOSPC);
	tide_arena_free(a, b1);
	CHECK_PTR_EQ(tide_arena_alloc(a, 2 * P), b0);
	CHECK_UEQ(stats(a).free_bytes, 0);
	tide_arena_destroy(a);
}

/* ---- bad input --------------------------------------------------------- */

TEST(alloc_of_zero_bytes_is_einval)
{
	struct tide_arena *a;
	struct tide_arena_stats before, after;

	setup();
	a = tide_arena_create("t", P);
	before = stats(a);
	errno = 0;
	CHECK(!tide_arena_alloc(a, 0));
	CHECK_EQ(errno, EINVAL);
	errno = 0;
	CHECK(!tide_arena_alloc(NULL, 8));
	CHECK_EQ(errno, EINVAL);
	after = stats(a);
	CHECK(!memcmp(&before, &after, sizeof(before)));
	tide_arena_destroy(a);
}

TEST(alloc_larger_than_arena_is_enospc)
{
	struct tide_arena *a;
	struct tide_arena_stats before, after;

	setup();
	a = tide_arena_create("t", 2 * P);
	before = stats(a);
	errno = 0;
	CHECK(!tide_arena_alloc(a, 2 * P + 1));
	CHECK_EQ(errno, ENOSPC);
	errno = 0;
	CHECK(!tide_arena_alloc(a, SIZE_MAX));
	CHECK_EQ(errno, ENOSPC);
	errno = 0;
	CHECK(!tide_arena_alloc(a, SIZE_MAX - 3));
	CHECK_EQ(errno, ENOSPC);
	after = stats(a);
	CHECK(!memcmp(&before, &after, sizeof(before)));
	tide_arena_destroy(a);
}

TEST(alloc_in_full_arena_is_enospc)
{
	struct tide_arena *a;
	struct tide_arena_stats before, after;
	void *p;

	setup();
	a = tide_arena_create("t", 2 * P);
	p = tide_arena_alloc(a, 2 * P);
	CHECK(p);
	before = stats(a);
	errno = 0;
	CHECK(!tide_arena_alloc(a, 8));
	CHECK_EQ(errno, ENOSPC);
	after = stats(a);
	CHECK(!memcmp(&before, &after, sizeof(before)));
	tide_arena_free(a, p);
	CHECK(tide_arena_alloc(a, 8) == p);
	tide_arena_destroy(a);
}

#define NOT_LIVE "tide_arena_free: not a live buffer (double free?)"
#define INSIDE "tide_arena_free: pointer inside a buffer"
#define FOREIGN "tide_arena_free: pointer not in this arena"

static void expect_rejected(struct tide_arena *a, struct th_reports *r, void *p,
			    const char *what)
{
	struct tide_arena_stats before, after;
	unsigned char s0[64] = { 0 }, s1[64] = { 0 };
	int n = r->n;

	before = stats(a);
	tide__arena_page_states(a, s0, sizeof(s0));
	tide_arena_free(a, p);
	after = stats(a);
	tide__arena_page_states(a, s1, sizeof(s1));
	CHECK_EQ(r->n, n + 1);
	CHECK_PTR_EQ(r->ptr, p);
	CHECK_STR(r->what, what);
	CHECK(!memcmp(&before, &after, sizeof(before)));
	CHECK(!memcmp(s0, s1, sizeof(s0)));
}

TEST(free_rejects_double_foreign_and_interior_pointers)
{
	struct th_reports r = { 0 };
	struct tide_arena *a, *other;
	char *b0, *b1, *b2, *o;
	int local;

	setup();
	tide_set_error_handler(th_on_report, &r);
	a = tide_arena_create("t", 4 * P);
	other = tide_arena_create("u", 4 * P);
	b0 = tide_arena_alloc(a, 100);
	b1 = tide_arena_alloc(a, P);
	b2 = tide_arena_alloc(a, 100);
	o = tide_arena_alloc(other, 64);
	CHECK(b0 && b1 && b2 && o);
	tide_arena_free(a, b1);
	CHECK_EQ(r.n, 0);
	expect_rejected(a, &r, b1, NOT_LIVE); /* double free */
	expect_rejected(a, &r, b1 + 8, NOT_LIVE); /* inside a free block */
	expect_rejected(a, &r, b0 + 8, INSIDE); /* interior */
	expect_rejected(a, &r, b2 + 99, INSIDE); /* last byte */
	expect_rejected(a, &r, b2 + 104, NOT_LIVE); /* one past, free after */
	expect_rejected(a, &r, b0 + 4, INSIDE); /* not 8-aligned */
	expect_rejected(a, &r, o, FOREIGN); /* another arena's buffer */
	expect_rejected(a, &r, &local, FOREIGN); /* the stack */
	expect_rejected(a, &r, b0 + 4 * P, FOREIGN); /* one past the end */
	expect_rejected(a, &r, b0 - 8, FOREIGN); /* just before */
	/* The arena is intact: the freed buffer's space comes back. */
	CHECK_PTR_EQ(tide_arena_alloc(a, P), b1);
	tide_arena_free(a, b0);
	tide_arena_free(a, b1);
	tide_arena_free(a, b2);
	CHECK_UEQ(stats(a).used_bytes, 0);
	CHECK_PTR_EQ(tide_arena_alloc(a, 4 * P), b0);
	CHECK_EQ(r.n, 10);
	tide_arena_destroy(a);
	tide_arena_destroy(other);
}

/* ---- page states ------------------------------------------------------- */

TEST(page_shared_with_live_neighbour_stays_used)
{
	struct tide_arena *a;
	char *b0, *b1;

	setup();
	a = tide_arena_create("t", 4 * P);
	b0 = tide_arena_alloc(a, P + 8); /* pages 0, 1 */
	CHECK_PAGES(a, 2, 0, 2);
	b1 = tide_arena_alloc(a, P - 8); /* page 1 */
	CHECK_PAGES(a, 2, 0, 2);
	tide_arena_free(a, b0);
	CHECK_PAGES(a, 1, 1, 2);
	CHECK_EQ(page_state(a, 0), LRU);
	CHECK_EQ(page_state(a, 1), USED);
	tide_arena_free(a, b1);
	CHECK_PAGES(a, 0, 2, 2);
	CHECK_EQ(page_state(a, 1), LRU);
	tide_arena_destroy(a);
}

TEST(realloc_takes_pages_off_lru_without_fault)
{
	struct tide_arena *a;
	void *p;

	setup();
	a = tide_arena_create("t", 8 * P);
	p = tide_arena_alloc(a, 3 * P);
	CHECK_UEQ(stats(a).page_faults_avoided, 0);
	tide_arena_free(a, p);
	CHECK_PAGES(a, 0, 3, 5);
	p = tide_arena_alloc(a, 2 * P);
	CHECK_PAGES(a, 2, 1, 5);
	CHECK_UEQ(stats(a).page_faults_avoided, 2);
	CHECK(tide_arena_alloc(a, 3 * P));
	CHECK_PAGES(a, 5, 0, 3);
	CHECK_UEQ(stats(a).page_faults_avoided, 3);
	tide_arena_destroy(a);
}

TEST(high_water_is_one_past_highest_page_ever_used)
{
	unsigned long taken;
	struct tide_arena *a;
	void *p, *q;

	setup();
	a = tide_arena_create("t", 8 * P);
	p = tide_arena_alloc(a, P / 2);
	CHECK_UEQ(stats(a).pages_high_water, 1);
	q = tide_arena_alloc(a, 2 * P); /* ends inside page 2 */
	CHECK_UEQ(stats(a).pages_high_water, 3);
	tide_arena_free(a, q);
	tide_arena_free(a, p);
	CHECK_UEQ(stats(a).pages_high_water, 3);
	CHECK_UEQ(tide__arena_reclaim(a, 100, &taken), 0);
	CHECK_UEQ(taken, 3);
	CHECK_UEQ(stats(a).pages_high_water, 3);
	tide_arena_destroy(a);
}

/* ---- the exhaustive binder test --------------------------------------- */

#define NBUF 5
#define XPAGES 32

/* The model: the state every page must be in, from first principles. */
struct model {
	unsigned char state[XPAGES];
	unsigned long long seq[XPAGES]; /* when the page joined the LRU */
	unsigned long long clock, avoided;
	size_t high;
	size_t start[NBUF], end[NBUF];
	bool live[NBUF];
};

static void model_update(struct model *m)
{
	bool used[XPAGES] = { false };

	for (int i = 0; i < NBUF; i++) {
		if (!m->live[i])
			continue;
		for (size_t pg = m->start[i] / P; pg <= (m->end[i] - 1) / P;
		     pg++) {
			used[pg] = true;
			m->high = TIDE__MAX(m->high, pg + 1);
		}
	}
	for (size_t pg = 0; pg < XPAGES; pg++) {
		if (used[pg]) {
			if (m->state[pg] == LRU)
				m->avoided++;
			m->state[pg] = USED;
		} else if (m->state[pg] == USED) {
			m->state[pg] = LRU;
			m->seq[pg] = ++m->clock;
		}
	}
}

static void model_check(struct tide_arena *a, const struct model *m,
			const char *step)
{
	unsigned char got[XPAGES];
	struct tide_arena_stats st = stats(a);
	size_t used = 0, lru = 0;

	CHECK_UEQ(tide__arena_page_states(a, got, XPAGES), XPAGES);
	for (size_t pg = 0; pg < XPAGES; pg++) {
		if (got[pg] != m->state[pg])
			FAIL("%s: page %zu is %d, model says %d", step, pg,
			     got[pg], m->state[pg]);
		used += m->state[pg] == USED;
		lru += m->state[pg] == LRU;
	}
	CHECK_UEQ(st.pages_used, used);
	CHECK_UEQ(st.pages_lru, lru);
	CHECK_UEQ(st.pages_unmapped, XPAGES - used - lru);
	CHECK_UEQ(st.page_faults_avoided, m->avoided);
	CHECK_UEQ(st.pages_high_water, m->high);
}

/* Reclaim the @nr oldest LRU pages, by the model's clock. */
static void model_reclaim(struct model *m, unsigned long nr)
{
	while (nr--) {
		size_t best = XPAGES;

		for (size_t pg = 0; pg < XPAGES; pg++)
			if (m->state[pg] == LRU &&
			    (best == XPAGES || m->seq[pg] < m->seq[best]))
				best = pg;
		if (best == XPAGES)
			return;
		m->state[best] = UNMAPPED;
	}
}

/*
 * Where buffer i ends, given where the previous one ended: relative to the
 * page boundary b that follows the page holding the previous end, inside
 * the page before b, 8 bytes before b, at b or 8 bytes after it.
 */
static size_t end_for(size_t prev_end, int kind)
{
	size_t b = TIDE__ALIGN_UP(prev_end, P) + P;

	switch (kind) {
	case 0:
		return b - P / 2;
	case 1:
		return b - 8;
	case 2:
		return b;
	default:
		return b + 8;
	}
}

static int perms[120][NBUF];

static void make_perms(void)
{
	int n = 0, p[NBUF] = { 0, 1, 2, 3, 4 };

	/* Heap's algorithm, iterative. */
	int c[NBUF] = { 0 }, i = 1;

	memcpy(perms[n++], p, sizeof(p));
	while (i < NBUF) {
		if (c[i] < i) {
			int j = (i & 1) ? c[i] : 0, t = p[j];

			p[j] = p[i];
			p[i] = t;
			memcpy(perms[n++], p, sizeof(p));
			c[i]++;
			i = 1;
		} else {
			c[i++] = 0;
		}
	}
	CHECK_EQ(n, 120);
}

TEST(every_layout_and_free_order_keeps_exact_page_states)
{
	struct tide_arena *a;
	struct model m;
	char *base = NULL;
	unsigned long layouts = 0, orders = 0;
	int stride = 1;

	setup();
	make_perms();
	memset(&m, 0, sizeof(m));
	a = tide_arena_create("binder", XPAGES * P);
	CHECK(a);
	for (int layout = 0; layout < 1024; layout += stride) {
		size_t e = 0;

		for (int i = 0; i < NBUF; i++) {
			m.start[i] = e;
			e = end_for(e, (layout >> (2 * i)) & 3);
			m.end[i] = e;
		}
		CHECK_CMP(e, <=, XPAGES * P);
		for (int o = 0; o < 120; o++) {
			char *p[NBUF];

			for (int i = 0; i < NBUF; i++) {
				p[i] = tide_arena_alloc(a,
							m.end[i] - m.start[i]);
				CHECK(p[i]);
				if (!base)
					base = p[i];
				CHECK_UEQ(p[i] - base, m.start[i]);
				m.live[i] = true;
				model_update(&m);
				model_check(a, &m, "alloc");
			}
			for (int k = 0; k < NBUF; k++) {
				int i = perms[o][k];

				tide_arena_free(a, p[i]);
				m.live[i] = false;
				model_update(&m);
				model_check(a, &m, "free");
			}
			orders++;
		}
		/*
		 * Reclaim part of the LRU: the oldest pages must go.  No
		 * buffer was written, so none of them was resident.
		 */
		{
			unsigned long lru = stats(a).pages_lru, nr = lru / 2;
			unsigned long taken;

			CHECK_UEQ(tide__arena_reclaim(a, nr, &taken), 0);
			CHECK_UEQ(taken, nr);
			model_reclaim(&m, nr);
			model_check(a, &m, "reclaim");
		}
		layouts++;
	}
	th_note("%lu layouts x 120 free orders = %lu sequences", layouts,
		orders);
	tide_arena_destroy(a);
}

/* ---- the shrinker ------------------------------------------------------ */

struct info_q {
	const char *name;
	struct tide_shrinker_info info;
	bool found;
};

static int find_info(const struct tide_shrinker_info *info, void *arg)
{
	struct info_q *q = arg;

	if (strcmp(info->name, q->name))
		return 0;
	q->info = *info;
	q->found = true;
	return 1;
}

static struct tide_shrinker_info shrinker_info(const char *name)
{
	struct info_q q = { .name = name };

	tide_shrinker_foreach(find_info, &q);
	CHECK(q.found);
	return q.info;
}

TEST(shrinker_count_is_lru_pages)
{
	struct tide_arena *a;
	void *p, *q;

	setup();
	a = tide_arena_create("arena-count", 16 * P);
	p = tide_arena_alloc(a, 5 * P);
	q = tide_arena_alloc(a, 3 * P);
	memset(p, 1, 5 * P);
	memset(q, 2, 3 * P);
	CHECK_UEQ(shrinker_info("arena-count").count, 0);
	tide_arena_free(a, p);
	CHECK_UEQ(shrinker_info("arena-count").count, 5);
	tide_arena_free(a, q);
	CHECK_UEQ(shrinker_info("arena-count").count, 8);
	CHECK_UEQ(tide_shrinker_scan("arena-count", 3), 3);
	CHECK_UEQ(shrinker_info("arena-count").count, 5);
	tide_arena_destroy(a);
}

TEST(scan_reclaims_oldest_lru_pages_first)
{
	struct tide_arena *a;
	void *p[4];

	setup();
	a = tide_arena_create("arena-oldest", 8 * P);
	for (int i = 0; i < 4; i++) {
		p[i] = tide_arena_alloc(a, P);
		memset(p[i], i + 1, P);
	}
	/* LRU order: page 2, 0, 3, 1. */
	tide_arena_free(a, p[2]);
	tide_arena_free(a, p[0]);
	tide_arena_free(a, p[3]);
	tide_arena_free(a, p[1]);
	CHECK_UEQ(tide_shrinker_scan("arena-oldest", 1), 1);
	CHECK_EQ(page_state(a, 2), UNMAPPED);
	CHECK_EQ(page_state(a, 0), LRU);
	CHECK_UEQ(tide_shrinker_scan("arena-oldest", 2), 2);
	CHECK_EQ(page_state(a, 0), UNMAPPED);
	CHECK_EQ(page_state(a, 3), UNMAPPED);
	CHECK_EQ(page_state(a, 1), LRU);
	CHECK_PAGES(a, 0, 1, 7);
	/* Asking for more than there is frees what there is. */
	CHECK_UEQ(tide_shrinker_scan("arena-oldest", 100), 1);
	CHECK_PAGES(a, 0, 0, 8);
	tide_arena_destroy(a);
}

TEST(scan_madvises_each_contiguous_run_once)
{
	struct tide__os_stats before, after;
	struct tide_arena *a;
	void *b0, *b1, *b2;

	setup();
	a = tide_arena_create("arena-runs", 16 * P);
	b0 = tide_arena_alloc(a, 4 * P); /* pages 0-3 */
	b1 = tide_arena_alloc(a, 2 * P); /* pages 4-5 */
	b2 = tide_arena_alloc(a, 3 * P); /* pages 6-8 */
	CHECK(b0 && b1 && b2);
	memset(b0, 1, 4 * P);
	memset(b2, 3, 3 * P);
	tide_arena_free(a, b2);
	tide_arena_free(a, b0);
	tide__os_stats(&before);
	CHECK_UEQ(tide_shrinker_scan("arena-runs", 128), 7);
	tide__os_stats(&after);
	CHECK_UEQ(after.advises - before.advises, 2);
	CHECK_PAGES(a, 2, 0, 14);
	tide_arena_destroy(a);
}

TEST(shrink_pass_at_priority_0_empties_the_lru)
{
	struct tide_arena *a;
	void *p;

	setup();
	a = tide_arena_create("arena-pass", 64 * P);
	p = tide_arena_alloc(a, 40 * P);
	memset(p, 1, 40 * P);
	tide_arena_free(a, p);
	CHECK_UEQ(tide_shrink(0, 0), 40);
	CHECK_PAGES(a, 0, 0, 64);
	tide_arena_destroy(a);
}

/* Resident pages of [p, p + n pages), exact (mincore). */
static size_t resident_pages(void *p, size_t n)
{
	unsigned char vec[1024];
	size_t r = 0;

	CHECK(n <= sizeof(vec));
	CHECK(!mincore(p, n * P, vec));
	for (size_t i = 0; i < n; i++)
		r += vec[i] & 1;
	return r;
}

/* Anonymous kB of the mapping that holds @p (/proc/self/smaps). */
static long vma_anon_kb(const void *p)
{
	char line[256];
	long kb = -1;
	bool in = false;
	FILE *f = fopen("/proc/self/smaps", "re");

	CHECK(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
			continue;
		}
		if (in && sscanf(line, "Anonymous: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	CHECK(kb >= 0);
	return kb;
}

/*
 * Fault in the stack a scan may reach, so that the process-wide figure
 * moves by the arena's pages only.
 */
__attribute__((noinline)) static void touch_stack(void)
{
	volatile char deep[64 * 1024];

	for (size_t i = 0; i < sizeof(deep); i += 512)
		deep[i] = (char)i;
}

TEST(reclaim_lowers_rss_by_the_pages_freed)
{
	const size_t n = 256;
	struct tide_arena *a;
	unsigned long freed;
	long before, after, vma_before, vma_after, want;
	char *p;

	setup();
	want = (long)(n * P / 1024);
	a = tide_arena_create("arena-rss", n * P);
	p = tide_arena_alloc(a, n * P);
	CHECK(p);
	memset(p, 0x5a, n * P);
	tide_arena_free(a, p);
	CHECK_UEQ(resident_pages(p, n), n);
	touch_stack();
	th_anon_kb();
	vma_before = vma_anon_kb(p);
	before = th_anon_kb();
	freed = tide_shrinker_scan("arena-rss", n);
	after = th_anon_kb();
	vma_after = vma_anon_kb(p);
	th_note("anon %ld kB -> %ld kB (arena's mapping %ld kB -> %ld kB), "
		"%lu pages freed",
		before, after, vma_before, vma_after, freed);
	CHECK_UEQ(freed, n);
	CHECK_UEQ(resident_pages(p, n), 0);
	CHECK_EQ(vma_before - vma_after, want);
	/*
	 * Process-wide, exact too, except under a sanitizer or valgrind
	 * whose runtime maps memory of its own (shadow, background thread)
	 * meanwhile.
	 */
	if (!th_sanitized() && !th_under_valgrind())
		CHECK_EQ(before - after, want);
	/* The pages really went back: they read as zero again. */
	p = tide_arena_alloc(a, n * P);
	for (size_t i = 0; i < n * P; i += P / 2)
		CHECK_EQ(p[i], 0);
	CHECK_UEQ(stats(a).page_faults_avoided, 0);
	tide_arena_destroy(a);
}

/*
 * Failed calls of a scan (fault injection, -ENOMEM): two runs of 4 pages
 * (pages 0-3 and 8-11, 2 written in each), so the failable calls are
 * mincore 1, madvise 1, mincore 2, madvise 2 (the batch is sorted: pages
 * 0-3 first).  A failure leaves its run and every later page on the LRU
 * where they were; the first run, when it was released before, counts its
 * 2 resident pages.
 */
TEST(reclaim_failure_keeps_pages_on_lru)
{
	static const struct {
		unsigned long nth, freed, taken;
	} cases[] = { { 1, 0, 0 }, { 2, 0, 0 }, { 3, 2, 4 }, { 4, 2, 4 } };
	unsigned char s0[16], s1[16];

	setup();
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		for (int persistent = 0; persistent < 2; persistent++) {
			struct tide_arena *a = tide_arena_create("t", 16 * P);
			unsigned long taken;
			char *p, *q, *gap;

			p = tide_arena_alloc(a, 4 * P);
			gap = tide_arena_alloc(a, 4 * P);
			q = tide_arena_alloc(a, 4 * P);
			CHECK(p && gap && q);
			memset(p, 1, 2 * P);
			memset(q + 2 * P, 2, 2 * P);
			tide_arena_free(a, q);
			tide_arena_free(a, p);
			tide__arena_page_states(a, s0, 16);
			tide__fault_set(cases[c].nth, persistent);
			CHECK_UEQ(tide__arena_reclaim(a, 8, &taken),
				  cases[c].freed);
			CHECK_UEQ(taken, cases[c].taken);
			CHECK_UEQ(tide__fault_hits(), 1);
			tide__fault_clear();
			tide__arena_page_states(a, s1, 16);
			for (int i = 0; i < 16; i++) {
				bool gone = cases[c].taken && i < 4;

				CHECK_EQ(s1[i], gone ? UNMAPPED : s0[i]);
			}
			CHECK_PAGES(a, 4, 8 - cases[c].taken,
				    4 + cases[c].taken);
			/* What stayed is still there, and resident. */
			CHECK_UEQ(tide__arena_reclaim(a, 8, &taken),
				  4 - cases[c].freed);
			CHECK_UEQ(taken, 8 - cases[c].taken);
			CHECK_PAGES(a, 4, 0, 12);
			tide_arena_free(a, gap);
			tide_arena_destroy(a);
		}
	}
}

/* mincore fails with @mincore_errno (not for want of memory). */
static int mincore_errno;

static int failing_mincore(void *addr, size_t len, unsigned char *vec)
{
	(void)addr;
	(void)len;
	(void)vec;
	errno = mincore_errno;
	return -1;
}

/*
 * A mincore that fails otherwise than for want of memory (EAGAIN: the
 * kernel could not get a page for its work; ENOSYS, EPERM: a sandbox)
 * does not keep the pages: the run is released and counted as freed
 * whole, the old upper bound.
 */
TEST(scan_counts_whole_run_when_mincore_is_unavailable)
{
	static const int errs[] = { EAGAIN, ENOSYS, EPERM };
	struct tide__os_hooks hooks = tide__os_default_hooks;

	setup();
	hooks.mincore = failing_mincore;
	for (size_t e = 0; e < sizeof(errs) / sizeof(errs[0]); e++) {
		struct tide_arena *a =
			tide_arena_create("arena-nomincore", 8 * P);
		long vma_before, vma_after;
		char *p = tide_arena_alloc(a, 8 * P);

		CHECK(p);
		memset(p + 3 * P, 1, 2 * P);
		tide_arena_free(a, p);
		vma_before = vma_anon_kb(p);
		mincore_errno = errs[e];
		tide__os_set_hooks(&hooks);
		CHECK_UEQ(tide_shrinker_scan("arena-nomincore", 8), 8);
		tide__os_set_hooks(NULL);
		vma_after = vma_anon_kb(p);
		CHECK_PAGES(a, 0, 0, 8);
		CHECK_EQ(vma_before - vma_after, (long)(2 * P / 1024));
		CHECK_UEQ(resident_pages(p, 8), 0);
		tide_arena_destroy(a);
	}
}

struct conn_case {
	size_t written; /* bytes written at each buffer's start */
	unsigned long resident; /* pages that holds, computed */
};

/*
 * The trial's connection buffers: 256 buffers of 64 KiB, each with
 * @written bytes written at its start, all freed; then a priority-0 pass.
 * It takes all 4096 LRU pages (nr_scanned), returns the resident ones
 * only, and Anonymous falls by exactly that many pages.
 */
static void conn_buffers(size_t written)
{
	const size_t n = 256, bsize = 64 * 1024;
	struct tide_shrinker_info i0, i1;
	struct tide_arena *a;
	unsigned long freed, want = 0, lru;
	long before, after, vma_before, vma_after;
	char *b[256];
	size_t last = SIZE_MAX;

	a = tide_arena_create("arena-conns", n * bsize);
	CHECK(a);
	for (size_t i = 0; i < n; i++) {
		b[i] = tide_arena_alloc(a, bsize);
		CHECK(b[i]);
		memset(b[i], 1, written);
	}
	/* The pages the writes touched, from the layout (back to back). */
	for (size_t i = 0; i < n; i++) {
		size_t off = off_of(a, b[0], b[i]);

		CHECK_UEQ(off, i * bsize);
		for (size_t pg = off / P; pg <= (off + written - 1) / P; pg++)
			if (pg != last) {
				want++;
				last = pg;
			}
	}
	for (size_t i = 0; i < n; i++)
		tide_arena_free(a, b[i]);
	lru = n * bsize / P;
	CHECK_UEQ(stats(a).pages_lru, lru);
	i0 = shrinker_info("arena-conns");
	CHECK_UEQ(i0.count, lru); /* the upper bound */
	touch_stack();
	th_anon_kb();
	vma_before = vma_anon_kb(b[0]);
	before = th_anon_kb();
	freed = tide_shrink(0, 0);
	after = th_anon_kb();
	vma_after = vma_anon_kb(b[0]);
	i1 = shrinker_info("arena-conns");
	th_note("%zu B written per buffer: %lu LRU pages, %lu freed, "
		"anon %ld kB -> %ld kB (arena's mapping %ld -> %ld kB)",
		written, lru, freed, before, after, vma_before, vma_after);
	CHECK_UEQ(freed, want);
	CHECK_UEQ(i1.freed - i0.freed, want);
	CHECK_UEQ(i1.scanned - i0.scanned, lru);
	CHECK_PAGES(a, 0, 0, lru);
	CHECK_EQ(vma_before - vma_after, (long)(want * P / 1024));
	if (!th_sanitized() && !th_under_valgrind())
		CHECK_EQ(before - after, (long)(want * P / 1024));
	tide_arena_destroy(a);
}

TEST(scan_frees_only_the_written_pages_of_partly_used_buffers)
{
	setup();
	conn_buffers(1024);
	/* 1 KiB at a page-aligned start: one page per buffer. */
	CHECK_UEQ(64 * 1024 % P, 0);
}

TEST(scan_of_fully_written_buffers_frees_every_lru_page)
{
	setup();
	conn_buffers(64 * 1024);
}

/*
 * A long stretch of never-written LRU pages in front of written ones does
 * not end a drop: a scan that found nothing resident goes on down the
 * LRU, so tide_drop_caches() frees the 16 written pages behind 4096 that
 * never held memory, and the LRU ends empty.  (A scan that returned 0 for
 * its whole batch ended the shrinker's pass, and a pass that freed nothing
 * the drop: the 16 pages stayed resident.)
 */
TEST(drop_reaches_written_pages_behind_a_stretch_of_unwritten_ones)
{
	const size_t cold = 4096, hot = 16;
	struct tide_arena *a;
	char *x, *y;

	setup();
	a = tide_arena_create("arena-stretch", (cold + hot) * P);
	CHECK(a);
	x = tide_arena_alloc(a, cold * P);
	y = tide_arena_alloc(a, hot * P);
	CHECK(x && y);
	memset(y, 1, hot * P);
	tide_arena_free(a, x); /* the oldest: never written */
	tide_arena_free(a, y);
	CHECK_PAGES(a, 0, cold + hot, 0);
	CHECK_UEQ(tide_drop_caches(), hot);
	CHECK_PAGES(a, 0, 0, cold + hot);
	tide_arena_destroy(a);
}

/* ---- scan never waits for a busy arena --------------------------------- */

static sem_t hook_entered, hook_release;
static atomic_bool hook_armed;

static void *blocking_malloc(size_t size)
{
	if (atomic_exchange(&hook_armed, false)) {
		sem_post(&hook_entered);
		while (sem_wait(&hook_release))
			;
	}
	return malloc(size);
}

static void *alloc_thread(void *arg)
{
	return tide_arena_alloc(arg, 8);
}

TEST(scan_returns_stop_while_arena_is_busy)
{
	struct tide__os_hooks hooks = tide__os_default_hooks;
	struct tide_shrinker_info i0, i1;
	struct tide_arena *a;
	pthread_t t;
	void *x, *y, *r;

	setup();
	a = tide_arena_create("arena-busy", 16 * P);
	x = tide_arena_alloc(a, 4 * P);
	y = tide_arena_alloc(a, P);
	memset(x, 1, 4 * P);
	tide_arena_free(a, x); /* 4 LRU pages, no node to recycle */
	CHECK_PAGES(a, 1, 4, 11);

	sem_init(&hook_entered, 0, 0);
	sem_init(&hook_release, 0, 0);
	hooks.malloc = blocking_malloc;
	tide__os_set_hooks(&hooks);
	atomic_store(&hook_armed, true);
	CHECK(!pthread_create(&t, NULL, alloc_thread, a));
	while (sem_wait(&hook_entered))
		;
	/* The allocating thread holds the arena lock now. */
	i0 = shrinker_info("arena-busy");
	CHECK_UEQ(tide_shrinker_scan("arena-busy", 4), 0);
	CHECK_UEQ(tide_shrink(0, 0), 0);
	i1 = shrinker_info("arena-busy");
	CHECK_UEQ(i1.calls, i0.calls + 2); /* both scans ran and stopped */
	CHECK_UEQ(i1.freed, i0.freed);
	sem_post(&hook_release);
	CHECK(!pthread_join(t, &r));
	tide__os_set_hooks(NULL);
	CHECK_PTR_EQ(r, x);
	CHECK_PAGES(a, 2, 3, 11);
	CHECK_UEQ(tide_shrinker_scan("arena-busy", 4), 3);
	tide_arena_free(a, y);
	tide_arena_free(a, r);
	tide_arena_destroy(a);
}

/* ---- sanitizer poisoning ----------------------------------------------- */

#ifdef TIDE__ASAN
#include <sanitizer/asan_interface.h>

static void read_after_free(void *arg)
{
	volatile char *p = arg;

	printf("value %d\n", p[0]);
}
#endif

TEST(asan_poisons_freed_buffers_and_rounding_slack)
{
#ifdef TIDE__ASAN
	struct tide_arena *a;
	char out[4096], *p, *q;
	int st;

	setup();
	a = tide_arena_create("t", 4 * P);
	p = tide_arena_alloc(a, 13);
	q = tide_arena_alloc(a, 100);
	CHECK(p && q);
	CHECK(!__asan_address_is_poisoned(p + 12));
	CHECK(__asan_address_is_poisoned(p + 13));
	CHECK(__asan_address_is_poisoned(p + 15));
	CHECK(!__asan_address_is_poisoned(q));
	tide_arena_free(a, p);
	CHECK(__asan_address_is_poisoned(p));
	CHECK(!__asan_address_is_poisoned(q));
	st = th_fork(read_after_free, p, out, sizeof(out));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) != 0);
	CHECK(strstr(out, "use-after-poison"));
	CHECK(!strstr(out, "value"));
	CHECK_PTR_EQ(tide_arena_alloc(a, 16), p);
	CHECK(!__asan_address_is_poisoned(p + 15));
	tide_arena_destroy(a);
#else
	SKIP("not an AddressSanitizer build (make asan runs it)");
#endif
}

/* ---- the OOM loop ------------------------------------------------------ */

static int oom_body(void *arg)
{
	struct tide_arena_stats before, after;
	struct tide_arena *a;
	char *p, *q, *r;

	(void)arg;
	errno = 0;
	a = tide_arena_create("arena-oom", 16 * P);
	if (!a) {
		CHECK_EQ(errno, ENOMEM);
		return -ENOMEM;
	}
	p = tide_arena_alloc(a, 3 * P);
	if (!p) {
		CHECK_EQ(errno, ENOMEM);
		CHECK_UEQ(stats(a).used_bytes, 0);
		tide_arena_destroy(a);
		return -ENOMEM;
	}
	q = tide_arena_alloc(a, 100);
	if (!q) {
		CHECK_EQ(errno, ENOMEM);
		CHECK_UEQ(stats(a).used_bytes, 3 * P);
		tide_arena_destroy(a);
		return -ENOMEM;
	}
	tide_arena_free(a, p);
	before = stats(a);
	r = tide_arena_alloc(a, P);
	if (!r) {
		/* p's node was not recycled (q stays live after it). */
		CHECK_EQ(errno, ENOMEM);
		after = stats(a);
		CHECK(!memcmp(&before, &after, sizeof(before)));
		tide_arena_destroy(a);
		return -ENOMEM;
	}
	CHECK_PTR_EQ(r, p);
	tide_arena_free(a, q);
	tide_arena_free(a, r);
	CHECK_UEQ(stats(a).used_bytes, 0);
	tide_arena_destroy(a);
	return 0;
}

TEST(totals_sum_every_live_arena)
{
	struct tide_arena_totals t;
	struct tide_arena *a, *b;
	void *p, *q;

	setup();
	tide_arena_totals(&t);
	CHECK_UEQ(t.arenas, 0); /* each test is a fresh fork of the runner */
	CHECK_UEQ(t.size + t.used_bytes + t.pages_used + t.pages_lru, 0);
	a = tide_arena_create("tot-a", 8 * P);
	b = tide_arena_create("tot-b", 4 * P + 1); /* rounds to 5 pages */
	CHECK(a && b);
	p = tide_arena_alloc(a, 3 * P);
	CHECK(p);
	tide_arena_free(a, p);
	p = tide_arena_alloc(a, 2 * P); /* 2 pages off the LRU, 1 stays */
	q = tide_arena_alloc(b, 100); /* rounds to 104, 1 page */
	CHECK(p && q);
	CHECK(tide_arena_alloc(b, P)); /* pages 0 and 1 */
	tide_arena_totals(&t);
	CHECK_UEQ(t.arenas, 2);
	CHECK_UEQ(t.size, 13 * P);
	CHECK_UEQ(t.used_bytes, 2 * P + 104 + P);
	CHECK_UEQ(t.pages_used, 2 + 2);
	CHECK_UEQ(t.pages_lru, 1);
	CHECK_UEQ(t.pages_unmapped, 5 + 3);
	CHECK_UEQ(t.page_faults_avoided, 2);
	/* The sums are the sums of the arenas' own figures. */
	CHECK_UEQ(t.used_bytes, stats(a).used_bytes + stats(b).used_bytes);
	tide_arena_destroy(a);
	tide_arena_totals(&t);
	CHECK_UEQ(t.arenas, 1);
	CHECK_UEQ(t.size, 5 * P);
	CHECK_UEQ(t.used_bytes, 104 + P);
	CHECK_UEQ(t.pages_used, 2);
	CHECK_UEQ(t.pages_lru, 0);
	CHECK_UEQ(t.pages_unmapped, 3);
	CHECK_UEQ(t.page_faults_avoided, 0);
	tide_arena_destroy(b);
	tide_arena_totals(&t);
	CHECK_UEQ(t.arenas, 0);
	CHECK_UEQ(t.size + t.used_bytes + t.pages_used + t.pages_lru +
			  t.pages_unmapped + t.page_faults_avoided,
		  0);
	tide_arena_totals(NULL); /* does nothing */
}

struct totals_race {
	atomic_bool stop;
	unsigned long reads;
};

static void *totals_reader(void *arg)
{
	struct totals_race *r = arg;
	struct tide_arena_totals t;

	while (!atomic_load(&r->stop)) {
		tide_arena_totals(&t);
		if (t.pages_used + t.pages_lru + t.pages_unmapped != t.size / P)
			abort();
		r->reads++;
	}
	return NULL;
}

TEST(totals_race_with_create_and_destroy)
{
	struct totals_race r = { 0 };
	struct tide_arena_totals t;
	pthread_t th;

	setup();
	CHECK(!pthread_create(&th, NULL, totals_reader, &r));
	for (int i = 0; i < 300; i++) {
		struct tide_arena *a = tide_arena_create("race", 4 * P);

		CHECK(a);
		CHECK(tide_arena_alloc(a, 100));
		tide_arena_destroy(a);
	}
	atomic_store(&r.stop, true);
	CHECK(!pthread_join(th, NULL));
	tide_arena_totals(&t);
	CHECK_UEQ(t.arenas, 0);
	th_note("%lu concurrent reads", r.reads);
}

static void arena_totals_child(void *arg)
{
	struct tide_arena_totals t;

	tide_arena_totals(&t);
	CHECK_UEQ(t.arenas, 1);
	CHECK_UEQ(t.used_bytes, 64);
	tide_arena_destroy(arg);
	tide_arena_totals(&t);
	CHECK_UEQ(t.arenas, 0);
	printf("child ok\n");
}

TEST(totals_carry_into_a_forked_child)
{
	struct tide_arena_totals t;
	struct tide_arena *a;
	char out[4096];
	int st;

	setup();
	a = tide_arena_create("forked", 4 * P);
	CHECK(a && tide_arena_alloc(a, 64));
	st = th_fork(arena_totals_child, a, out, sizeof(out));
	th_note("%s", out);
	CHECK_EQ(st, 0);
	CHECK(strstr(out, "child ok"));
	tide_arena_totals(&t);
	CHECK_UEQ(t.arenas, 1); /* the child's destroy was its own */
	tide_arena_destroy(a);
}

/* ---- the allocation sensor ---------------------------------------------- */

/* A cache that counts the callbacks it gets. */
static atomic_ulong sensed_counts, sensed_scans;

static unsigned long sensed_count(void *priv, struct tide_shrink_control *sc)
{
	(void)priv;
	(void)sc;
	atomic_fetch_add(&sensed_counts, 1);
	return 1000;
}

static unsigned long sensed_scan(void *priv, struct tide_shrink_control *sc)
{
	(void)priv;
	atomic_fetch_add(&sensed_scans, 1);
	return sc->nr_to_scan;
}

static const struct tide_shrinker_ops sensed_ops = { sensed_count,
						     sensed_scan };

static void write_in(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	CHECK(f);
	fputs(text, f);
	CHECK_EQ(fclose(f), 0);
}

static void remove_in(const char *dir, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
}

static unsigned long long monitor_loops(struct tide_monitor *m)
{
	struct tide_monitor_stats st;

	tide_monitor_stats(m, &st);
	return st.loops;
}

/*
 * A limit watcher over its high watermark (a cgroup v2 directory the test
 * writes: memory.high 100 MiB gives a high watermark of 75 MiB, usage 90
 * MiB) arms the allocation sensor with its smallest step, 1 MiB.  The
 * arena's fresh pages count, but tide_arena_alloc() never runs reclaim:
 * 16 MiB of them make no shrinker call (a caller may hold a lock its own
 * shrinker takes).  A 128 KiB paged kv block, 132 KiB charged, is under
 * the step alone; after the arena's 16 MiB it measures and reclaims.
 */
TEST(alloc_counts_pages_for_the_sensor_but_never_reclaims)
{
	static const char *const files[] = { "memory.high", "memory.max",
					     "memory.current",
					     "memory.events" };
	struct tide_monitor_config cfg = {
		.size = sizeof(cfg),
		.sources = TIDE_SOURCE_CGROUP2,
		.flags = TIDE_MONITOR_NO_TRIM,
	};
	char dir[] = "/tmp/tide-arena-sensor-XXXXXX";
	struct tide_arena_stats st;
	struct tide_monitor *m = NULL;
	struct tide_shrinker *s;
	struct tide_arena *a;
	void *kv1, *kv2;

	setup();
	CHECK(mkdtemp(dir));
	write_in(dir, "memory.high", "104857600\n");
	write_in(dir, "memory.max", "max\n");
	write_in(dir, "memory.current", "94371840\n");
	write_in(dir, "memory.events",
		 "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n");
	cfg.cgroup2_dir = dir;
	CHECK_EQ(tide_monitor_new(&m, &cfg), 0);
	CHECK_EQ(tide_monitor_source(m), TIDE_SOURCE_CGROUP2);
	s = tide_shrinker_alloc("sensed");
	CHECK(s);
	tide_shrinker_register(s, &sensed_ops, NULL);

	kv1 = tide_kvmalloc(128 << 10, 0);
	CHECK(kv1 && tide_kv_is_paged(kv1));
	CHECK_UEQ(monitor_loops(m), 0); /* 132 KiB: under the step */

	a = tide_arena_create("sensor", 64 << 20);
	CHECK(a);
	for (int i = 0; i < 16; i++)
		CHECK(tide_arena_alloc(a, 1 << 20));
	tide_arena_stats(a, &st);
	CHECK_UEQ(st.pages_used, (16u << 20) / P);
	CHECK_UEQ(atomic_load(&sensed_counts), 0);
	CHECK_UEQ(atomic_load(&sensed_scans), 0);
	CHECK_UEQ(monitor_loops(m), 0);

	kv2 = tide_kvmalloc(128 << 10, 0);
	CHECK(kv2);
	CHECK_UEQ(monitor_loops(m), 1);
	CHECK_CMP(atomic_load(&sensed_scans), >, 0);

	tide_kvfree(kv1);
	tide_kvfree(kv2);
	tide_arena_destroy(a);
	tide_shrinker_free(s);
	tide_monitor_free(m);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		remove_in(dir, files[i]);
	CHECK_EQ(rmdir(dir), 0);
}

TEST(oom_loop_over_create_alloc_free_destroy)
{
	setup();
	CHECK_CMP(th_oom_loop("arena", oom_body, NULL), >=, 8);
}

RUN_TESTS(T(create_rounds_size_up_to_pages), T(create_rejects_bad_arguments),
	  T(create_of_maximum_size_commits_no_memory),
	  T(create_registers_shrinker_and_destroy_unregisters_it),
	  T(destroy_and_free_accept_null),
	  T(fresh_arena_lays_buffers_back_to_back), T(sizes_round_up_to_8),
	  T(best_fit_takes_smallest_hole_lowest_address_on_ties),
	  T(best_fit_is_exact_within_and_across_size_classes),
	  T(best_fit_matches_a_linear_model_over_random_traffic),
	  T(free_merges_with_both_neighbours), T(alloc_of_zero_bytes_is_einval),
	  T(alloc_larger_than_arena_is_enospc),
	  T(alloc_in_full_arena_is_enospc),
	  T(free_rejects_double_foreign_and_interior_pointers),
	  T(page_shared_with_live_neighbour_stays_used),
	  T(realloc_takes_pages_off_lru_without_fault),
	  T(high_water_is_one_past_highest_page_ever_used),
	  T(every_layout_and_free_order_keeps_exact_page_states),
	  T(shrinker_count_is_lru_pages),
	  T(scan_reclaims_oldest_lru_pages_first),
	  T(scan_madvises_each_contiguous_run_once),
	  T(shrink_pass_at_priority_0_empties_the_lru),
	  T(reclaim_lowers_rss_by_the_pages_freed),
	  T(reclaim_failure_keeps_pages_on_lru),
	  T(scan_counts_whole_run_when_mincore_is_unavailable),
	  T(scan_frees_only_the_written_pages_of_partly_used_buffers),
	  T(scan_of_fully_written_buffers_frees_every_lru_page),
	  T(drop_reaches_written_pages_behind_a_stretch_of_unwritten_ones),
	  T(scan_returns_stop_while_arena_is_busy),
	  T(asan_poisons_freed_buffers_and_rounding_slack),
	  T(totals_sum_every_live_arena),
	  T(totals_race_with_create_and_destroy),
	  T(totals_carry_into_a_forked_child),
	  T(alloc_counts_pages_for_the_sensor_but_never_reclaims),
	  T(oom_loop_over_create_alloc_free_destroy))
