// SPDX-License-Identifier: MIT
/*
 * test_arena_threads.c - an arena shared by threads: from the first
 * allocation by a second thread on, each allocating thread keeps the
 * buffers it frees in a cache of its own (arena.h's DOC; docs/arena.md,
 * "Threads"; arena.c).
 * Exact: which buffer a cache hands back, its limits, the flush before
 * every snapshot and scan, misuse through the cache, thread exit, destroy,
 * fork, and the OOM loop.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>

#include <tide.h>

#include "harness.h"

unsigned tide__arena_caches(struct tide_arena *a, size_t *bytes);
unsigned tide__arena_orphans(void);
size_t tide__arena_page_states(struct tide_arena *a, unsigned char *out,
			       size_t n);

#ifdef TIDE__ASAN
#include <sanitizer/asan_interface.h>
#endif

static size_t P;

static struct tide_arena_stats stats(struct tide_arena *a)
{
	struct tide_arena_stats st;

	tide_arena_stats(a, &st);
	return st;
}

static unsigned caches(struct tide_arena *a, size_t *bytes)
{
	size_t b;

	return tide__arena_caches(a, bytes ? bytes : &b);
}

static void on_thread(void *(*fn)(void *), void *arg)
{
	pthread_t t;

	CHECK(!pthread_create(&t, NULL, fn, arg));
	CHECK(!pthread_join(t, NULL));
}

/* One allocation by the calling thread (and its free). */
static void touch(struct tide_arena *a)
{
	void *p = tide_arena_alloc(a, P);

	CHECK(p);
	tide_arena_free(a, p);
}

static void *touch_thread(void *arg)
{
	touch(arg);
	return NULL;
}

/*
 * A fresh arena that another thread allocated from first: the calling
 * thread's next allocation shares it.
 */
static struct tide_arena *shared_arena(const char *name, size_t pages)
{
	struct tide_arena *a;

	P = tide__os_page_size();
	a = tide_arena_create(name, pages * P);
	CHECK(a);
	on_thread(touch_thread, a);
	CHECK_UEQ(caches(a, NULL), 0);
	return a;
}

/* ---- one thread ---------------------------------------------------------- */

TEST(one_thread_never_makes_a_cache)
{
	struct tide_arena *a;
	char *x, *y;

	P = tide__os_page_size();
	a = tide_arena_create("t", 64 * P);

	/* the same thread again and again: no cache, exact best fit */
	x = tide_arena_alloc(a, 3000);
	y = tide_arena_alloc(a, 3000);
	CHECK(x && y);
	CHECK_PTR_EQ(y, x + 3000);
	tide_arena_free(a, x);
	CHECK_UEQ(caches(a, NULL), 0);
	CHECK_UEQ(stats(a).used_bytes, 3000);
	tide_arena_free(a, y);
	CHECK_UEQ(stats(a).used_bytes, 0);
	CHECK_UEQ(caches(a, NULL), 0);
	/* a second thread shares it; its cache ends with it */
	on_thread(touch_thread, a);
	CHECK_UEQ(caches(a, NULL), 0);
	CHECK_UEQ(stats(a).used_bytes, 0);
	tide_arena_destroy(a);
}

/* ---- what a cache hands back ----------------------------------------------- */

TEST(a_shared_arena_gives_a_thread_back_what_it_freed)
{
	struct tide_arena *a;
	struct tide_arena_stats st;
	char *x, *y, *z, *w;
	size_t bytes;

	a = shared_arena("t", 64);
	x = tide_arena_alloc(a, 3000); /* the first one of this thread */
	CHECK(x);
	CHECK_UEQ(caches(a, &bytes), 1);
	CHECK_UEQ(bytes, 0);
	tide_arena_free(a, x);
	CHECK_UEQ(caches(a, &bytes), 1);
	CHECK_UEQ(bytes, 3000);
	/* the same size: the same buffer, from the cache */
	y = tide_arena_alloc(a, 3000);
	CHECK_PTR_EQ(y, x);
	CHECK_UEQ(caches(a, &bytes), 1);
	CHECK_UEQ(bytes, 0);
	tide_arena_free(a, y);
	/* smaller, same class (2048 + 512 .. 3071): the 3000-byte buffer */
	z = tide_arena_alloc(a, 2600);
	CHECK_PTR_EQ(z, x);
#ifdef TIDE__ASAN
	CHECK(!__asan_address_is_poisoned(z + 2599));
	CHECK(__asan_address_is_poisoned(z + 2600));
	CHECK(__asan_address_is_poisoned(z + 2999));
#endif
	/* it counts whole while live */
	st = stats(a);
	CHECK_UEQ(st.used_bytes, 3000);
	tide_arena_free(a, z);
#ifdef TIDE__ASAN
	CHECK(__asan_address_is_poisoned(z));
#endif
	/* the class below (2048 .. 2559) takes from the class above */
	w = tide_arena_alloc(a, 2100);
	CHECK_PTR_EQ(w, x);
	tide_arena_free(a, w);
	/* two classes below: not from the cache (best fit after x) */
	w = tide_arena_alloc(a, 1500);
	CHECK_PTR_EQ(w, x + 3000);
	CHECK_UEQ(caches(a, &bytes), 1);
	CHECK_UEQ(bytes, 3000);
	tide_arena_free(a, w);
	CHECK_UEQ(caches(a, &bytes), 1);
	CHECK_UEQ(bytes, 4504);
	tide_arena_destroy(a);
}

TEST(a_snapshot_flushes_every_cache_first)
{
	struct tide_arena *a;
	struct tide_arena_stats st;
	unsigned char pg[8];
	char *x, *y;
	size_t bytes;

	a = shared_arena("t", 64);
	x = tide_arena_alloc(a, 2 * P + 8);
	y = tide_arena_alloc(a, 100);
	CHECK(x && y);
	memset(x, 1, 2 * P + 8);
	tide_arena_free(a, x);
	CHECK_UEQ(caches(a, &bytes), 1);
	CHECK_UEQ(bytes, 2 * P + 8);
	/* the cached buffer is free in the snapshot, its pages are idle */
	st = stats(a);
	CHECK_UEQ(st.used_bytes, 104);
	CHECK_UEQ(st.pages_used, 1); /* y's page, x's third too */
	CHECK_UEQ(st.pages_lru, 2);
	CHECK_UEQ(st.pages_used + st.pages_lru + st.pages_unmapped,
		  st.pages_total);
	CHECK_UEQ(caches(a, &bytes), 1);
	CHECK_UEQ(bytes, 0);
	CHECK_UEQ(tide__arena_page_states(a, pg, 4), 4);
	CHECK_EQ(pg[0], 1);
	CHECK_EQ(pg[1], 1);
	CHECK_EQ(pg[2], 2);
	CHECK_EQ(pg[3], 0);
	/* flushed for real: merged, so best fit starts at 0 again */
	CHECK_PTR_EQ(tide_arena_alloc(a, 16), x);
	tide_arena_destroy(a);
}

TEST(a_cache_holds_four_per_class_and_a_sixteenth_of_the_arena)
{
	struct tide_arena *a;
	char *p[5];
	size_t bytes;

	a = shared_arena("t", 256); /* limit: 16 pages */
	for (int i = 0; i < 5; i++)
		CHECK((p[i] = tide_arena_alloc(a, 1000)));
	for (int i = 0; i < 5; i++)
		tide_arena_free(a, p[i]);
	CHECK_UEQ(caches(a, &bytes), 1);
	CHECK_UEQ(bytes, 4000); /* the fifth was freed for real */
	CHECK_UEQ(stats(a).used_bytes, 0);
	/* bytes: three of 4.5 pages fit in 16 pages, a fourth does not */
	for (int i = 0; i < 4; i++)
		CHECK((p[i] = tide_arena_alloc(a, 4 * P + P / 2)));
	for (int i = 0; i < 4; i++)
		tide_arena_free(a, p[i]);
	CHECK_UEQ(caches(a, &bytes), 1);
	CHECK_UEQ(bytes, 3 * (4 * P + P / 2));
	/* larger than the limit: never cached */
	CHECK((p[0] = tide_arena_alloc(a, 17 * P)));
	tide_arena_free(a, p[0]);
	CHECK_UEQ(caches(a, &bytes), 1);
	CHECK_UEQ(bytes, 3 * (4 * P + P / 2)); /* over the limit with it */
	tide_arena_destroy(a);
}

TEST(a_thread_may_hold_more_buffers_than_its_cache_tracks)
{
	struct tide_arena *a = shared_arena("t", 64);
	static char *p[1200];
	size_t bytes;

	/* 1200 live at once: the cache tracks 256, the rest are untracked */
	for (int i = 0; i < 1200; i++)
		CHECK((p[i] = tide_arena_alloc(a, 16)));
	CHECK_UEQ(stats(a).used_bytes, 1200 * 16);
	for (int i = 0; i < 1200; i++)
		tide_arena_free(a, p[i]);
	/* four of the tracked ones wait; every other free was real */
	CHECK_UEQ(caches(a, &bytes), 1);
	CHECK_UEQ(bytes, 4 * 16);
	CHECK_UEQ(stats(a).used_bytes, 0);
	/* and again, with the four coming back first */
	for (int i = 0; i < 1200; i++)
		CHECK((p[i] = tide_arena_alloc(a, 16)));
	for (int i = 0; i < 1200; i++)
		tide_arena_free(a, p[i]);
	CHECK_UEQ(stats(a).used_bytes, 0);
	CHECK(tide_arena_alloc(a, 64 * P)); /* one free block again */
	tide_arena_destroy(a);
}

/* ---- room, reclaim ------------------------------------------------------ */

TEST(no_room_flushes_every_cache_before_enospc)
{
	struct tide_arena *a = shared_arena("t", 64);
	char *x, *all;
	size_t bytes;

	x = tide_arena_alloc(a, 4 * P);
	CHECK(x);
	tide_arena_free(a, x);
	CHECK_UEQ(caches(a, &bytes), 1);
	CHECK_UEQ(bytes, 4 * P);
	/* the whole arena: only there once the cache is flushed */
	all = tide_arena_alloc(a, 64 * P);
	CHECK_PTR_EQ(all, x);
	CHECK_UEQ(caches(a, &bytes), 1);
	CHECK_UEQ(bytes, 0);
	errno = 0;
	CHECK(!tide_arena_alloc(a, 8));
	CHECK_EQ(errno, ENOSPC);
	tide_arena_free(a, all);
	tide_arena_destroy(a);
}

/* A second thread's allocation of 8 bytes, failing the Nth failable call
 * when fail_nth is not 0: its result and errno. */
struct second_arg {
	struct tide_arena *a;
	unsigned long fail_nth;
	void *p;
	int err;
	unsigned long hits;
};

static void *second_thread(void *arg)
{
	struct second_arg *s = arg;

	if (s->fail_nth)
		tide__fault_set(s->fail_nth, false);
	errno = 0;
	s->p = tide_arena_alloc(s->a, 8);
	s->err = errno;
	s->hits = tide__fault_hits();
	tide__fault_clear();
	return NULL;
}

/*
 * @a, @big at offset 0 held by the calling thread (the only one that
 * allocated), had a second thread's allocation fail with @err: the arena
 * is not shared, so the calling thread's frees take no cache and best fit
 * lays its buffers out from offset 0.
 */
static void check_still_solo(struct tide_arena *a, char *big,
			     struct second_arg *s, int err)
{
	char *x, *y;

	on_thread(second_thread, s);
	CHECK(!s->p);
	CHECK_EQ(s->err, err);
	CHECK_UEQ(s->hits, err == ENOMEM ? 1 : 0);
	CHECK_UEQ(caches(a, NULL), 0);
	tide_arena_free(a, big);
	x = tide_arena_alloc(a, 1000);
	CHECK_PTR_EQ(x, big);
	tide_arena_free(a, x);
	CHECK_UEQ(caches(a, NULL), 0);
	y = tide_arena_alloc(a, 2000);
	CHECK_PTR_EQ(y, big);
	tide_arena_free(a, y);
	CHECK_UEQ(caches(a, NULL), 0);
	CHECK_UEQ(stats(a).used_bytes, 0);
}

TEST(a_second_threads_failed_allocation_does_not_share_the_arena)
{
	struct second_arg s = { 0 };
	struct tide_arena *a;
	size_t bytes;
	char *big, *x, *y;

	P = tide__os_page_size();
	/* ENOSPC: no room for the second thread's 8 bytes */
	a = tide_arena_create("t", 16 * P);
	big = tide_arena_alloc(a, 16 * P);
	CHECK(big);
	s.a = a;
	check_still_solo(a, big, &s, ENOSPC);
	tide_arena_destroy(a);

	/* ENOMEM: the node for the rest of the block split (a fresh arena:
	 * no spare node) is its first failable call */
	a = tide_arena_create("t", 16 * P);
	big = tide_arena_alloc(a, 16 * P - 16);
	CHECK(big);
	s.a = a;
	s.fail_nth = 1;
	check_still_solo(a, big, &s, ENOMEM);

	/* and the same call that succeeds shares it: the calling thread's
	 * free waits in its cache, so best fit goes past it */
	s.fail_nth = 0;
	on_thread(second_thread, &s);
	CHECK_PTR_EQ(s.p, big);
	tide_arena_free(a, s.p);
	x = tide_arena_alloc(a, 1000);
	CHECK_PTR_EQ(x, big);
	tide_arena_free(a, x);
	CHECK_UEQ(caches(a, &bytes), 1);
	CHECK_UEQ(bytes, 1000);
	y = tide_arena_alloc(a, 2000);
	CHECK_PTR_EQ(y, big + 1000);
	tide_arena_free(a, y);
	tide_arena_destroy(a);
}

/*
 * A shared arena with no room but for x's 1000-byte block, which waits in
 * this thread's cache: x (cached, still live) and 31 buffers fill it, so
 * one more live buffer needs a larger live table before the flush (and
 * not after it, when x has left the table).
 */
static struct tide_arena *no_room_but_a_cached_block(char **x, char *fill[31])
{
	struct tide_arena *a = shared_arena("t", 64);
	size_t bytes;

	*x = tide_arena_alloc(a, 1000);
	CHECK(*x);
	tide_arena_free(a, *x);
	CHECK_UEQ(caches(a, &bytes), 1);
	CHECK_UEQ(bytes, 1000);
	for (int i = 0; i < 31; i++) {
		fill[i] = tide_arena_alloc(a, i < 30 ? P : 34 * P - 1000);
		CHECK_PTR_EQ(fill[i], *x + 1000 + (size_t)i * P);
	}
	return a;
}

static void free_no_room(struct tide_arena *a, char *r, char *fill[31])
{
	if (r)
		tide_arena_free(a, r);
	for (int i = 0; i < 31; i++)
		tide_arena_free(a, fill[i]);
	CHECK_UEQ(stats(a).used_bytes, 0);
	tide_arena_destroy(a);
}

struct exact_fit {
	struct tide_arena *a;
	char *r;
	unsigned long hits;
};

/*
 * The calls that fail in exact_fit_thread: its cache's table (so its
 * buffers take the locked path) and the live table's growth before the
 * flush.
 */
#define EXACT_FIT_HITS 2

static void *exact_fit_thread(void *arg)
{
	struct exact_fit *e = arg;

	tide__fault_set(1, true);
	e->r = tide_arena_alloc(e->a, 1000);
	e->hits = tide__fault_hits();
	tide__fault_clear();
	return NULL;
}

/*
 * No room until the caches are flushed, and memory short.  What the call
 * may need (room in the live table, a node for the rest of x's block) is
 * allocated before the flush, so that an ENOMEM leaves every cache as it
 * was (up to 0.2.23 the flush came first).  When that fails, the flush goes
 * ahead all the same: a call that needs nothing after it (an exact fit)
 * succeeds and one that finds no block is ENOSPC, as with memory to spare
 * (a first version of the 0.2.24 fix made both ENOMEM); only a call that
 * fails after the flush too is ENOMEM, the caches flushed.
 */
TEST(no_room_with_memory_short_fails_only_where_memory_is_needed)
{
	unsigned long n, hits, points = 0;
	struct tide_arena *a;
	char *x, *fill[31], *r;
	size_t bytes;

	/* one failure at a time, each of the two points: the flush goes
	 * ahead, the call tries again after it and gets x's block */
	for (n = 1;; n++) {
		a = no_room_but_a_cached_block(&x, fill);
		tide__fault_set(n, false);
		r = tide_arena_alloc(a, 504);
		hits = tide__fault_hits();
		tide__fault_clear();
		CHECK_PTR_EQ(r, x);
		CHECK_UEQ(caches(a, &bytes), 1);
		CHECK_UEQ(bytes, 0);
		CHECK_UEQ(stats(a).used_bytes, 64 * P - 1000 + 504);
		free_no_room(a, r, fill);
		if (!hits)
			break;
		points++;
	}
	CHECK_UEQ(points, 2);

	/* every allocation fails: x's block fits another thread's 1000
	 * bytes exactly, which needs nothing after the flush (this thread's
	 * own call would take x from its cache, lock-free) */
	a = no_room_but_a_cached_block(&x, fill);
	{
		struct exact_fit e = { .a = a };

		on_thread(exact_fit_thread, &e);
		CHECK_PTR_EQ(e.r, x);
		CHECK_UEQ(e.hits, EXACT_FIT_HITS);
		r = e.r;
	}
	CHECK_UEQ(caches(a, &bytes), 1);
	CHECK_UEQ(bytes, 0);
	CHECK_UEQ(stats(a).used_bytes, 64 * P);
	free_no_room(a, r, fill);

	/* every allocation fails and no block is large enough: ENOSPC */
	a = no_room_but_a_cached_block(&x, fill);
	tide__fault_set(1, true);
	errno = 0;
	r = tide_arena_alloc(a, 2000);
	tide__fault_clear();
	CHECK(!r);
	CHECK_EQ(errno, ENOSPC);
	CHECK_UEQ(caches(a, &bytes), 1);
	CHECK_UEQ(bytes, 0);
	free_no_room(a, NULL, fill);

	/* every allocation fails and x's block must be split: ENOMEM, after
	 * the flush; the same call then succeeds */
	a = no_room_but_a_cached_block(&x, fill);
	tide__fault_set(1, true);
	errno = 0;
	r = tide_arena_alloc(a, 504);
	tide__fault_clear();
	CHECK(!r);
	CHECK_EQ(errno, ENOMEM);
	CHECK_UEQ(caches(a, &bytes), 1);
	CHECK_UEQ(bytes, 0);
	CHECK_UEQ(stats(a).used_bytes, 64 * P - 1000);
	r = tide_arena_alloc(a, 504);
	CHECK_PTR_EQ(r, x);
	free_no_room(a, r, fill);
}

static int find_count(const struct tide_shrinker_info *info, void *arg)
{
	unsigned long *count = arg;

	if (strcmp(info->name, "arena-threads-scan"))
		return 0;
	*count = info->count;
	return 1;
}

TEST(the_shrinker_counts_and_frees_cached_pages)
{
	struct tide_arena *a = shared_arena("arena-threads-scan", 64);
	unsigned long count = 0;
	char *x;
	size_t bytes;

	x = tide_arena_alloc(a, 4 * P);
	CHECK(x);
	memset(x, 7, 4 * P);
	tide_arena_free(a, x);
	CHECK_UEQ(caches(a, &bytes), 1);
	CHECK_UEQ(bytes, 4 * P);
	/* touch_thread's page was never written: it is x's first page */
	tide_shrinker_foreach(find_count, &count);
	CHECK_UEQ(count, 4);
	CHECK_UEQ(tide_shrinker_scan("arena-threads-scan", 100), 4);
	CHECK_UEQ(caches(a, &bytes), 1);
	CHECK_UEQ(bytes, 0);
	count = 99;
	tide_shrinker_foreach(find_count, &count);
	CHECK_UEQ(count, 0);
	CHECK_UEQ(stats(a).pages_unmapped, 64);
	tide_arena_destroy(a);
}

static void *free_fillers(void *arg)
{
	void **f = arg;

	for (int i = 0; i < 4; i++)
		tide_arena_free(f[4], f[i]); /* another thread's: locked path */
	return NULL;
}

/*
 * The count is an upper bound of what a scan frees (arena.md): a cached
 * buffer counts every page it touches.  Four 1 KiB buffers, each alone on
 * its page once another thread freed the 3 KiB beside it, are 1 page of
 * bytes and free 4 pages; up to 0.2.27 the count said 1, and a
 * priority-0 pass freed 2 of the 4 (a reviewer's trial).
 */
TEST(the_shrinker_counts_every_page_a_cached_buffer_touches)
{
	struct tide_arena *a = shared_arena("arena-threads-scan", 64);
	unsigned long count = 0;
	void *small[4], *fill[5];
	size_t bytes;

	for (int i = 0; i < 4; i++) {
		small[i] = tide_arena_alloc(a, 1024);
		fill[i] = tide_arena_alloc(a, 3072);
		CHECK(small[i] && fill[i]);
		memset(small[i], 1, 1024);
		memset(fill[i], 2, 3072);
		CHECK_UEQ(((char *)small[i] - (char *)small[0]) % P, 0);
	}
	fill[4] = a;
	on_thread(free_fillers, fill);
	for (int i = 0; i < 4; i++)
		tide_arena_free(a, small[i]); /* into this thread's cache */
	CHECK_UEQ(caches(a, &bytes), 1);
	CHECK_UEQ(bytes, 4 * 1024);
	tide_shrinker_foreach(find_count, &count);
	CHECK_UEQ(count, 4);
	/* one priority-0 pass asks for twice the count: all 4 come back */
	CHECK_UEQ(tide_shrink(0, 0), 4);
	CHECK_UEQ(stats(a).pages_lru, 0);
	count = 99;
	tide_shrinker_foreach(find_count, &count);
	CHECK_UEQ(count, 0);
	tide_arena_destroy(a);
}

static sem_t hook_entered, hook_release;
static atomic_bool hook_armed;

/* The first calloc after arming waits: its caller holds the arena lock. */
static void *blocking_calloc(size_t n, size_t size)
{
	if (atomic_exchange(&hook_armed, false)) {
		sem_post(&hook_entered);
		while (sem_wait(&hook_release))
			;
	}
	return calloc(n, size);
}

static void *first_alloc_thread(void *arg)
{
	return tide_arena_alloc(arg, 8);
}

static void *cache_two_pages_and_end(void *arg)
{
	char *p = tide_arena_alloc(arg, 2 * P);

	CHECK(p);
	memset(p, 3, 2 * P);
	tide_arena_free(arg, p); /* cached; to the LRU when the thread ends */
	return NULL;
}

TEST(a_busy_arena_counts_its_cached_pages_exactly)
{
	struct tide__os_hooks hooks = tide__os_default_hooks;
	struct tide_arena *a = shared_arena("arena-threads-scan", 64);
	unsigned long count = 0;
	pthread_t t;
	void *x, *r;

	/* 4 pages in main's cache, never counted yet */
	x = tide_arena_alloc(a, 4 * P);
	CHECK(x);
	memset(x, 7, 4 * P);
	tide_arena_free(a, x);
	/* 2 written pages cached by a thread that ends: on the LRU now */
	on_thread(cache_two_pages_and_end, a);
	sem_init(&hook_entered, 0, 0);
	sem_init(&hook_release, 0, 0);
	hooks.calloc = blocking_calloc;
	tide__os_set_hooks(&hooks);
	atomic_store(&hook_armed, true);
	/* a new thread's first allocation makes its cache under the lock */
	CHECK(!pthread_create(&t, NULL, first_alloc_thread, a));
	while (sem_wait(&hook_entered))
		;
	/* its 8 bytes took the first LRU page (best fit): 4 cached + 1 */
	tide_shrinker_foreach(find_count, &count);
	CHECK_UEQ(count, 4 + 1);
	CHECK_UEQ(tide_shrinker_scan("arena-threads-scan", 100), 0); /* STOP */
	sem_post(&hook_release);
	CHECK(!pthread_join(t, &r));
	tide__os_set_hooks(NULL);
	CHECK_PTR_EQ(r, (char *)x + 4 * P);
	/* the scan flushes and frees the 5 written pages; 0 counted after */
	CHECK_UEQ(tide_shrinker_scan("arena-threads-scan", 100), 5);
	count = 99;
	tide_shrinker_foreach(find_count, &count);
	CHECK_UEQ(count, 0);
	tide_arena_free(a, r);
	sem_destroy(&hook_entered);
	sem_destroy(&hook_release);
	tide_arena_destroy(a);
}

/* ---- misuse ------------------------------------------------------------- */

TEST(misuse_through_a_cache_is_reported_and_changes_nothing)
{
	struct th_reports r = { 0 };
	struct tide_arena *a = shared_arena("t", 64);
	char *x, *y;
	size_t bytes;

	tide_set_error_handler(th_on_report, &r);
	x = tide_arena_alloc(a, 100);
	y = tide_arena_alloc(a, 200);
	CHECK(x && y);
	tide_arena_free(a, x);
	/* a double free of a cached buffer */
	tide_arena_free(a, x);
	CHECK_EQ(r.n, 1);
	CHECK_PTR_EQ(r.ptr, x);
	CHECK_STR(r.what, "tide_arena_free: not a live buffer (double free?)");
	CHECK_UEQ(caches(a, &bytes), 1);
	CHECK_UEQ(bytes, 104);
	/* a pointer into a buffer the cache tracks */
	tide_arena_free(a, y + 8);
	CHECK_EQ(r.n, 2);
	CHECK_STR(r.what, "tide_arena_free: pointer inside a buffer");
	/* the cache still holds x once: it comes back once */
	CHECK_PTR_EQ(tide_arena_alloc(a, 100), x);
	CHECK_PTR_EQ(tide_arena_alloc(a, 100), y + 200);
	CHECK_UEQ(stats(a).used_bytes, 104 + 200 + 104);
	tide_set_error_handler(NULL, NULL);
	tide_arena_destroy(a);
}

struct cross {
	struct tide_arena *a;
	sem_t allocated, freed;
	char *x;
	struct th_reports r;
};

static void *cross_owner(void *arg)
{
	struct cross *c = arg;
	size_t bytes;

	c->x = tide_arena_alloc(c->a, 500);
	CHECK(c->x);
	CHECK(!sem_post(&c->allocated));
	while (sem_wait(&c->freed))
		;
	/* freed by main already: the cache no longer tracks it */
	tide_arena_free(c->a, c->x);
	CHECK_EQ(c->r.n, 1);
	CHECK_PTR_EQ(c->r.ptr, c->x);
	CHECK_UEQ(caches(c->a, &bytes), 2);
	CHECK_UEQ(bytes, P); /* what main's touch() left in main's */
	return NULL;
}

TEST(a_buffer_freed_by_another_thread_leaves_its_cache)
{
	struct cross c = { 0 };
	pthread_t t;

	c.a = shared_arena("t", 64);
	touch(c.a); /* main shares it too: a cache of its own */
	CHECK_UEQ(caches(c.a, NULL), 1);
	CHECK(!sem_init(&c.allocated, 0, 0) && !sem_init(&c.freed, 0, 0));
	tide_set_error_handler(th_on_report, &c.r);
	CHECK(!pthread_create(&t, NULL, cross_owner, &c));
	while (sem_wait(&c.allocated))
		;
	tide_arena_free(c.a, c.x); /* not in main's cache: the locked path */
	CHECK_EQ(c.r.n, 0);
	CHECK(!sem_post(&c.freed));
	CHECK(!pthread_join(t, NULL));
	tide_set_error_handler(NULL, NULL);
	CHECK_UEQ(stats(c.a).used_bytes, 0);
	sem_destroy(&c.allocated);
	sem_destroy(&c.freed);
	tide_arena_destroy(c.a);
}

/* ---- lifetimes ---------------------------------------------------------- */

static void *cache_and_leave(void *arg)
{
	struct tide_arena *a = arg;
	char *x = tide_arena_alloc(a, 700), *y = tide_arena_alloc(a, 900);

	CHECK(x && y);
	tide_arena_free(a, x);
	/* y stays live, tracked, when the thread ends */
	return y;
}

TEST(a_thread_that_ends_takes_its_cache_along)
{
	struct tide_arena *a = shared_arena("t", 64);
	pthread_t t;
	void *y;
	size_t bytes;

	CHECK(!pthread_create(&t, NULL, cache_and_leave, a));
	CHECK(!pthread_join(t, &y));
	/* gone at the join, x freed for real, y live and untracked */
	CHECK_UEQ(caches(a, &bytes), 0);
	CHECK_UEQ(bytes, 0);
	CHECK_UEQ(stats(a).used_bytes, 904);
	/* this thread frees y through the locked path */
	tide_arena_free(a, y);
	CHECK_UEQ(stats(a).used_bytes, 0);
	CHECK_UEQ(caches(a, NULL), 0); /* main has none: it never allocated */
	tide_arena_destroy(a);
}

static pthread_key_t late_key;
static struct tide_arena *late_arena;
static atomic_int late_rounds;

/*
 * Another library's key destructor (its key made after tide's, so it runs
 * after tide's in every round): allocates and frees, and sets its key
 * again, so that it runs in every round there is.
 */
static void late_destructor(void *v)
{
	void *p = tide_arena_alloc(late_arena, 100);

	CHECK(p);
	tide_arena_free(late_arena, p);
	atomic_fetch_add(&late_rounds, 1);
	CHECK(!pthread_setspecific(late_key, v));
}

static void *late_thread(void *arg)
{
	touch(late_arena); /* a cache: tide's key is set too */
	CHECK(!pthread_setspecific(late_key, arg));
	return NULL;
}

TEST(a_key_destructor_that_allocates_after_the_caches_end_makes_none)
{
	struct tide_arena *a;
	size_t bytes;

	/* TSan ends its thread state in the last round: any call then,
	 * malloc or a mutex, faults inside its runtime */
	if (th_tsan())
		SKIP("ThreadSanitizer faults in the last destructor round");
	a = shared_arena("t", 64);
	late_arena = a;
	CHECK(!pthread_key_create(&late_key, late_destructor));
	touch(a); /* main's cache, which stays */
	CHECK_UEQ(caches(a, &bytes), 1);
	CHECK_UEQ(bytes, P);
	on_thread(late_thread, a);
	/* up to the last round, after which nothing would free a cache */
	CHECK_EQ(atomic_load(&late_rounds), PTHREAD_DESTRUCTOR_ITERATIONS);
	CHECK_UEQ(caches(a, &bytes), 1);
	CHECK_UEQ(bytes, P);
	CHECK_UEQ(stats(a).used_bytes, 0);
	CHECK(!pthread_key_delete(late_key));
	tide_arena_destroy(a);
}

struct keeper {
	struct tide_arena *a;
	sem_t go, done;
	bool quit;
	char *got;
};

/* Allocates and frees 1000 bytes on its arena, each time it is told. */
static void *keeper(void *arg)
{
	struct keeper *k = arg;

	for (;;) {
		while (sem_wait(&k->go))
			;
		if (k->quit)
			return NULL;
		k->got = tide_arena_alloc(k->a, 1000);
		CHECK(k->got);
		tide_arena_free(k->a, k->got);
		CHECK(!sem_post(&k->done));
	}
}

static void keeper_round(struct keeper *k)
{
	CHECK(!sem_post(&k->go));
	while (sem_wait(&k->done))
		;
}

TEST(destroy_orphans_the_caches_of_live_threads)
{
	struct keeper k = { 0 };
	struct tide_arena *arenas[10];
	pthread_t t;
	size_t bytes;

	CHECK(!sem_init(&k.go, 0, 0) && !sem_init(&k.done, 0, 0));
	CHECK(!pthread_create(&t, NULL, keeper, &k));
	for (int round = 0; round < 3; round++) {
		k.a = shared_arena("t", 64);
		keeper_round(&k);
		CHECK_UEQ(caches(k.a, &bytes), 1);
		CHECK_UEQ(bytes, 1000);
		keeper_round(&k); /* the cached one came back */
		CHECK_UEQ(caches(k.a, &bytes), 1);
		CHECK_UEQ(bytes, 1000);
		/* the keeper is idle; its cache is orphaned, then freed */
		tide_arena_destroy(k.a);
	}
	/* eight arenas get a cache each, a ninth none (all stay live) */
	for (int i = 0; i < 9; i++) {
		k.a = arenas[i] = shared_arena("t", 64);
		keeper_round(&k);
		CHECK_UEQ(caches(k.a, &bytes), i < 8 ? 1 : 0);
		CHECK_UEQ(bytes, i < 8 ? 1000 : 0);
	}
	/* one destroyed: its slot goes to the next arena */
	tide_arena_destroy(arenas[3]);
	k.a = arenas[9] = shared_arena("t", 64);
	keeper_round(&k);
	CHECK_UEQ(caches(k.a, &bytes), 1);
	CHECK_UEQ(bytes, 1000);
	k.quit = true;
	CHECK(!sem_post(&k.go));
	CHECK(!pthread_join(t, NULL));
	for (int i = 0; i < 10; i++) {
		if (i == 3)
			continue;
		CHECK_UEQ(caches(arenas[i], NULL), 0);
		CHECK_UEQ(stats(arenas[i]).used_bytes, 0);
		tide_arena_destroy(arenas[i]);
	}
	sem_destroy(&k.go);
	sem_destroy(&k.done);
}

/* ---- fork --------------------------------------------------------------- */

static void fork_child(void *arg)
{
	struct keeper *k = arg;
	size_t bytes;
	char *x;

	/* the keeper's cache is there, dead, until the first flush */
	if (caches(k->a, &bytes) != 1 || bytes != 1000)
		_exit(10);
	if (stats(k->a).used_bytes != 0)
		_exit(11);
	if (caches(k->a, &bytes) != 0 || bytes != 0)
		_exit(12);
	/* the child's own thread shares the arena as the parent did */
	x = tide_arena_alloc(k->a, 300);
	if (!x)
		_exit(13);
	tide_arena_free(k->a, x);
	if (caches(k->a, &bytes) != 1 || bytes != 304)
		_exit(14);
	if (tide_arena_alloc(k->a, 300) != x)
		_exit(15);
	_exit(0);
}

TEST(a_forked_child_frees_the_caches_of_threads_it_lacks)
{
	struct keeper k = { 0 };
	char out[256], *before;
	pthread_t t;
	size_t bytes;
	int st;

	CHECK(!sem_init(&k.go, 0, 0) && !sem_init(&k.done, 0, 0));
	CHECK(!pthread_create(&t, NULL, keeper, &k));
	k.a = shared_arena("t", 64);
	keeper_round(&k);
	before = k.got;
	CHECK_UEQ(caches(k.a, &bytes), 1);
	CHECK_UEQ(bytes, 1000);
	st = th_fork(fork_child, &k, out, sizeof(out));
	CHECK(WIFEXITED(st));
	CHECK_EQ(WEXITSTATUS(st), 0);
	/* the parent's cache is untouched */
	CHECK_UEQ(caches(k.a, &bytes), 1);
	CHECK_UEQ(bytes, 1000);
	keeper_round(&k);
	CHECK_PTR_EQ(k.got, before); /* from its cache */
	k.quit = true;
	CHECK(!sem_post(&k.go));
	CHECK(!pthread_join(t, NULL));
	CHECK_UEQ(caches(k.a, NULL), 0);
	tide_arena_destroy(k.a);
	sem_destroy(&k.go);
	sem_destroy(&k.done);
}

struct orphan_run {
	struct tide_arena *other; /* an arena whose flush reaps */
	sem_t go, done;
	struct tide_arena *a;
	bool quit;
};

/* In the child: a thread of the child's own, idle between rounds. */
static void *child_keeper(void *arg)
{
	struct orphan_run *o = arg;

	for (;;) {
		while (sem_wait(&o->go))
			;
		if (o->quit)
			return NULL;
		touch(o->a);
		CHECK(!sem_post(&o->done));
	}
}

static void child_round(struct orphan_run *o)
{
	CHECK(!sem_post(&o->go));
	while (sem_wait(&o->done))
		;
}

static void *flush_thread(void *arg)
{
	struct orphan_run *o = arg;

	(void)stats(o->other);
	return NULL;
}

/*
 * The child: the keeper's orphaned cache and its table, which only the
 * keeper (absent here) could reach, are freed at the first arena call,
 * whichever thread makes it; the forking thread's own orphan is left to
 * it, and so is the orphan of a thread the child starts.
 */
static void orphan_child(void *arg)
{
	struct orphan_run *o = arg;
	struct tide__os_stats s0, s1;
	bool threads = !th_sanitized(); /* see below */
	pthread_t t;

	if (tide__arena_orphans() != 2) /* main's and the keeper's */
		_exit(10);
	tide__os_stats(&s0);
	/*
	 * The first arena call here, from a thread the child started (a
	 * review: the first version freed every orphan but the calling
	 * thread's, so main's own, which it then used: SIGSEGV).  The
	 * sanitizers cannot start a thread in the child of a threaded
	 * process: there main makes the call.
	 */
	if (threads)
		on_thread(flush_thread, o);
	else
		(void)stats(o->other);
	tide__os_stats(&s1);
	if (tide__arena_orphans() != 1)
		_exit(11);
	/* the keeper's cache and table, which held only it */
	if (s1.heap_live != s0.heap_live - 2)
		_exit(12);
	if (!threads)
		_exit(0);
	/* main frees its own orphan when it next makes a cache */
	o->a = shared_arena("c", 64);
	touch(o->a);
	if (tide__arena_orphans() != 0 || caches(o->a, NULL) != 1)
		_exit(13);
	/* a child's thread's orphan is its own: never reaped */
	o->quit = false;
	if (sem_init(&o->go, 0, 0) || sem_init(&o->done, 0, 0) ||
	    pthread_create(&t, NULL, child_keeper, o))
		_exit(14);
	child_round(o);
	if (caches(o->a, NULL) != 2)
		_exit(15);
	tide_arena_destroy(o->a);
	if (tide__arena_orphans() != 2) /* main's and its thread's */
		_exit(16);
	o->a = tide_arena_create("d", 16 * P);
	(void)stats(o->other);
	if (tide__arena_orphans() != 2)
		_exit(17);
	/* both owners free theirs at their next cache (of a shared arena) */
	on_thread(touch_thread, o->a);
	touch(o->a);
	child_round(o);
	if (tide__arena_orphans() != 0)
		_exit(18);
	o->quit = true;
	CHECK(!sem_post(&o->go));
	CHECK(!pthread_join(t, NULL));
	tide_arena_destroy(o->a);
	_exit(0);
}

/*
 * A destroy orphans an idle thread's cache (its thread frees it when it
 * next makes one, or when it ends).  A forked child lacks that thread:
 * the cache and its table leaked there, about 6.5 KiB per such cache and
 * child.  The child now frees them at its first arena call; the parent's
 * orphan is left to its thread.
 */
TEST(a_forked_child_frees_the_orphans_of_threads_it_lacks)
{
	struct orphan_run o;
	struct keeper k = { 0 };
	char out[256];
	pthread_t t;
	int st;

	memset(&o, 0, sizeof(o));
	P = tide__os_page_size();
	o.other = tide_arena_create("other", 16 * P);
	CHECK(o.other);
	CHECK(!sem_init(&k.go, 0, 0) && !sem_init(&k.done, 0, 0));
	CHECK(!pthread_create(&t, NULL, keeper, &k));
	k.a = shared_arena("t", 64);
	keeper_round(&k);
	touch(k.a); /* main's cache too */
	CHECK_UEQ(caches(k.a, NULL), 2);
	tide_arena_destroy(k.a);
	CHECK_UEQ(tide__arena_orphans(), 2);
	st = th_fork(orphan_child, &o, out, sizeof(out));
	th_note("%s", out);
	CHECK(WIFEXITED(st));
	CHECK_EQ(WEXITSTATUS(st), 0);
	/* the parent's orphans wait for their threads, and a flush here
	 * does not touch them */
	CHECK_UEQ(stats(o.other).used_bytes, 0);
	CHECK_UEQ(tide__arena_orphans(), 2);
	k.a = shared_arena("t", 64);
	keeper_round(&k);
	touch(k.a);
	CHECK_UEQ(tide__arena_orphans(), 0);
	k.quit = true;
	CHECK(!sem_post(&k.go));
	CHECK(!pthread_join(t, NULL));
	tide_arena_destroy(k.a);
	tide_arena_destroy(o.other);
	sem_destroy(&k.go);
	sem_destroy(&k.done);
}

struct two {
	struct tide_arena *older, *newer;
	sem_t done, quit;
};

/* A cache of the newer arena, then one of the older, then it waits. */
static void *two_arenas(void *arg)
{
	struct two *w = arg;
	void *p;

	CHECK((p = tide_arena_alloc(w->newer, 100)));
	tide_arena_free(w->newer, p);
	CHECK((p = tide_arena_alloc(w->older, 100)));
	tide_arena_free(w->older, p);
	CHECK(!sem_post(&w->done));
	while (sem_wait(&w->quit))
		;
	return NULL;
}

static void exit_child(void *arg)
{
	(void)arg;
}

/*
 * fork()'s prepare handler takes the newer arena's lock, its caches'
 * locks, then the older arena's lock.  A thread that makes a cache of the
 * older arena holds that arena's lock: it must take no lock of its cache
 * of the newer one (ThreadSanitizer reports the inversion; with the wrong
 * timing it is a deadlock at fork()).
 */
TEST(a_thread_with_caches_of_two_arenas_and_a_fork)
{
	struct two w = { 0 };
	pthread_t t;
	size_t bytes;
	int st;

	CHECK(!sem_init(&w.done, 0, 0) && !sem_init(&w.quit, 0, 0));
	w.older = shared_arena("t-older", 64);
	w.newer = shared_arena("t-newer", 64);
	/* shared for good, whichever thread's memory the next one reuses */
	touch(w.older);
	touch(w.newer);
	CHECK(!pthread_create(&t, NULL, two_arenas, &w));
	while (sem_wait(&w.done))
		;
	CHECK_UEQ(caches(w.older, &bytes), 2);
	CHECK_UEQ(caches(w.newer, &bytes), 2);
	st = th_fork(exit_child, NULL, NULL, 0);
	CHECK(WIFEXITED(st) && !WEXITSTATUS(st));
	CHECK(!sem_post(&w.quit));
	CHECK(!pthread_join(t, NULL));
	CHECK_UEQ(caches(w.older, &bytes), 1);
	CHECK_UEQ(caches(w.newer, &bytes), 1);
	tide_arena_destroy(w.newer);
	tide_arena_destroy(w.older);
	sem_destroy(&w.done);
	sem_destroy(&w.quit);
}

/* ---- many threads ------------------------------------------------------- */

#define PIPE_SLOTS 64

/*
 * Producers allocate, write and hand buffers to consumers, which check and
 * free them (binder's pattern: the sender allocates, the receiver frees),
 * while each also allocates and frees its own: the locked path untracks
 * what the cache fast path tracks, on every thread at once.
 */
struct pipe {
	struct tide_arena *a;
	pthread_mutex_t lock;
	char *slot[PIPE_SLOTS];
	size_t size[PIPE_SLOTS];
	unsigned head, tail;
	atomic_int producers;
	atomic_int bad;
};

static bool pipe_put(struct pipe *q, char *p, size_t size)
{
	bool ok;

	pthread_mutex_lock(&q->lock);
	ok = q->head - q->tail < PIPE_SLOTS;
	if (ok) {
		q->slot[q->head % PIPE_SLOTS] = p;
		q->size[q->head % PIPE_SLOTS] = size;
		q->head++;
	}
	pthread_mutex_unlock(&q->lock);
	return ok;
}

static char *pipe_get(struct pipe *q, size_t *size)
{
	char *p = NULL;

	pthread_mutex_lock(&q->lock);
	if (q->head != q->tail) {
		p = q->slot[q->tail % PIPE_SLOTS];
		*size = q->size[q->tail % PIPE_SLOTS];
		q->tail++;
	}
	pthread_mutex_unlock(&q->lock);
	return p;
}

static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void own_cycle(struct pipe *q, uint32_t *seed)
{
	size_t size = 1 + rnd(seed) % (16 * 1024);
	unsigned char *p = tide_arena_alloc(q->a, size);

	if (!p) {
		if (errno != ENOSPC)
			atomic_fetch_add(&q->bad, 1);
		return;
	}
	memset(p, 0x5a, size);
	if (p[size - 1] != 0x5a)
		atomic_fetch_add(&q->bad, 1);
	tide_arena_free(q->a, p);
}

static unsigned long pipe_rounds;

static void *producer(void *arg)
{
	struct pipe *q = arg;
	uint32_t seed = (uint32_t)(uintptr_t)&seed | 1;

	for (unsigned long n = 0; n < pipe_rounds; n++) {
		size_t size = 1 + rnd(&seed) % (8 * 1024);
		char *p = tide_arena_alloc(q->a, size);

		own_cycle(q, &seed);
		if (!p)
			continue;
		memset(p, (int)(size & 0xff), size);
		while (!pipe_put(q, p, size))
			own_cycle(q, &seed);
	}
	atomic_fetch_sub(&q->producers, 1);
	return NULL;
}

static void *consumer(void *arg)
{
	struct pipe *q = arg;
	uint32_t seed = (uint32_t)(uintptr_t)&seed | 1;

	for (;;) {
		size_t size;
		unsigned char *p = (unsigned char *)pipe_get(q, &size);

		if (!p) {
			if (!atomic_load(&q->producers))
				break;
			own_cycle(q, &seed);
			continue;
		}
		if (p[0] != (size & 0xff) || p[size - 1] != (size & 0xff))
			atomic_fetch_add(&q->bad, 1);
		tide_arena_free(q->a, p);
	}
	return NULL;
}

static void *stats_reader(void *arg)
{
	struct pipe *q = arg;

	while (atomic_load(&q->producers)) {
		struct tide_arena_stats st = stats(q->a);

		if (st.pages_used + st.pages_lru + st.pages_unmapped !=
		    st.pages_total)
			atomic_fetch_add(&q->bad, 1);
		tide_shrinker_scan("arena-threads-pipe", 16);
		sched_yield();
	}
	return NULL;
}

TEST(producers_and_consumers_share_one_arena)
{
	struct pipe q = { 0 };
	pthread_t th[5];
	struct tide_arena_stats st;

	pipe_rounds = th_under_valgrind() ? 100 : th_sanitized() ? 3000 : 50000;
	P = tide__os_page_size();
	q.a = tide_arena_create("arena-threads-pipe", 256 * P);
	CHECK(q.a);
	pthread_mutex_init(&q.lock, NULL);
	atomic_store(&q.producers, 2);
	for (int i = 0; i < 2; i++)
		CHECK(!pthread_create(&th[i], NULL, producer, &q));
	for (int i = 2; i < 4; i++)
		CHECK(!pthread_create(&th[i], NULL, consumer, &q));
	CHECK(!pthread_create(&th[4], NULL, stats_reader, &q));
	for (int i = 0; i < 5; i++)
		CHECK(!pthread_join(th[i], NULL));
	CHECK_EQ(atomic_load(&q.bad), 0);
	CHECK_UEQ(caches(q.a, NULL), 0);
	st = stats(q.a);
	CHECK_UEQ(st.used_bytes, 0);
	CHECK_UEQ(st.pages_used, 0);
	CHECK(tide_arena_alloc(q.a, 256 * P)); /* one free block again */
	pthread_mutex_destroy(&q.lock);
	tide_arena_destroy(q.a);
}

/* ---- unloading ------------------------------------------------------------ */

struct dl_api {
	struct tide_arena *(*create)(const char *, size_t);
	void *(*alloc)(struct tide_arena *, size_t);
	void (*free)(struct tide_arena *, void *);
	void (*destroy)(struct tide_arena *);
	struct tide_arena *a;
	sem_t cached, unloaded;
};

/* Caches a buffer in the loaded library's arena, then outlives it. */
static void *dl_thread(void *arg)
{
	struct dl_api *d = arg;
	void *p = d->alloc(d->a, 5000);

	CHECK(p);
	d->free(d->a, p);
	CHECK(!sem_post(&d->cached));
	while (sem_wait(&d->unloaded))
		;
	return NULL; /* the thread ends: no destructor of the library runs */
}

TEST(a_thread_with_a_cache_outlives_an_unloaded_library)
{
	struct dl_api d = { 0 };
	pthread_t t;
	void *h, *p;

	if (th_under_valgrind())
		SKIP("valgrind keeps dlclose()d code mapped");
	h = dlopen(TIDE_SO, RTLD_NOW | RTLD_LOCAL);
	CHECK(h);
	*(void **)&d.create = dlsym(h, "tide_arena_create");
	*(void **)&d.alloc = dlsym(h, "tide_arena_alloc");
	*(void **)&d.free = dlsym(h, "tide_arena_free");
	*(void **)&d.destroy = dlsym(h, "tide_arena_destroy");
	CHECK(d.create && d.alloc && d.free && d.destroy);
	CHECK(!sem_init(&d.cached, 0, 0) && !sem_init(&d.unloaded, 0, 0));
	d.a = d.create("arena-dl", 64 * 4096);
	CHECK(d.a);
	p = d.alloc(d.a, 8); /* main first: the thread's allocation shares */
	CHECK(p);
	d.free(d.a, p);
	CHECK(!pthread_create(&t, NULL, dl_thread, &d));
	while (sem_wait(&d.cached))
		;
	d.destroy(d.a);
	CHECK(!dlclose(h));
	/* really gone, or the test proves nothing */
	CHECK(!dlopen(TIDE_SO, RTLD_NOW | RTLD_NOLOAD));
	CHECK(!sem_post(&d.unloaded));
	CHECK(!pthread_join(t, NULL));
	sem_destroy(&d.cached);
	sem_destroy(&d.unloaded);
}

/* ---- the OOM loop ------------------------------------------------------- */

struct oom_arg {
	struct tide_arena *a;
	int err;
};

/* In a thread of its own, so that its table and caches go when it ends. */
static void *oom_thread(void *arg)
{
	struct oom_arg *o = arg;
	char *x, *y;

	o->err = 0;
	x = tide_arena_alloc(o->a, 1000);
	if (!x) {
		CHECK_EQ(errno, ENOMEM);
		CHECK_UEQ(stats(o->a).used_bytes, 0);
		o->err = -ENOMEM;
		return NULL;
	}
	tide_arena_free(o->a, x);
	y = tide_arena_alloc(o->a, 1000);
	if (!y) {
		CHECK_EQ(errno, ENOMEM);
		CHECK_UEQ(stats(o->a).used_bytes, 0);
		o->err = -ENOMEM;
		return NULL;
	}
	/* from the cache when there is one, best fit (x again) when not */
	CHECK_PTR_EQ(y, x);
	tide_arena_free(o->a, y);
	CHECK_UEQ(stats(o->a).used_bytes, 0);
	return NULL;
}

static int oom_body(void *arg)
{
	struct oom_arg o = { 0 };
	void *p;

	(void)arg;
	o.a = tide_arena_create("arena-threads-oom", 16 * P);
	if (!o.a)
		return -ENOMEM;
	p = tide_arena_alloc(o.a, 8); /* main first: a second thread shares */
	if (!p) {
		tide_arena_destroy(o.a);
		return -ENOMEM;
	}
	tide_arena_free(o.a, p);
	on_thread(oom_thread, &o);
	tide_arena_destroy(o.a);
	return o.err;
}

TEST(oom_loop_over_a_shared_arena)
{
	P = tide__os_page_size();
	th_warm_up_threads();
	CHECK_CMP(th_oom_loop("arena threads", oom_body, NULL), >=, 6);
}

RUN_TESTS(T(one_thread_never_makes_a_cache),
	  T(a_shared_arena_gives_a_thread_back_what_it_freed),
	  T(a_snapshot_flushes_every_cache_first),
	  T(a_cache_holds_four_per_class_and_a_sixteenth_of_the_arena),
	  T(a_thread_may_hold_more_buffers_than_its_cache_tracks),
	  T(no_room_flushes_every_cache_before_enospc),
	  T(a_second_threads_failed_allocation_does_not_share_the_arena),
	  T(no_room_with_memory_short_fails_only_where_memory_is_needed),
	  T(the_shrinker_counts_and_frees_cached_pages),
	  T(the_shrinker_counts_every_page_a_cached_buffer_touches),
	  T(a_busy_arena_counts_its_cached_pages_exactly),
	  T(misuse_through_a_cache_is_reported_and_changes_nothing),
	  T(a_buffer_freed_by_another_thread_leaves_its_cache),
	  T(a_thread_that_ends_takes_its_cache_along),
	  T(a_key_destructor_that_allocates_after_the_caches_end_makes_none),
	  T(destroy_orphans_the_caches_of_live_threads),
	  T(a_forked_child_frees_the_caches_of_threads_it_lacks),
	  T(a_forked_child_frees_the_orphans_of_threads_it_lacks),
	  T(a_thread_with_caches_of_two_arenas_and_a_fork),
	  T(producers_and_consumers_share_one_arena),
	  T(a_thread_with_a_cache_outlives_an_unloaded_library),
	  T(oom_loop_over_a_shared_arena))
