// SPDX-License-Identifier: MIT
/*
 * test_purge.c - the allocator purge: the allocator found, what really goes
 * back from a fragmented heap under glibc and (re-executing this program
 * with LD_PRELOAD) Debian's jemalloc, mimalloc and tcmalloc, reclaim that
 * ends, purges racing passes, the OOM loop.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include <tide.h>

#include "harness.h"

#define LIBDIR "/usr/lib/x86_64-linux-gnu/"
#define HEAP_BYTES (200UL << 20)
#define BLOCK 200
#define NBLOCKS (HEAP_BYTES / BLOCK)

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif
#ifndef UNDER_SANITIZER
#define UNDER_SANITIZER 0
#endif

/* The sanitizers and valgrind replace malloc: there is nothing to purge. */
static bool malloc_replaced(void)
{
	return UNDER_SANITIZER || th_under_valgrind();
}

struct frag {
	long anon0, anon_freed; /* KiB: before the heap, after free() */
	void **ptrs;
	void *last;
};

/*
 * 200 MiB in 200-byte blocks, all freed but one allocated last (it pins
 * the top of the heap, so free() alone gives nothing back).  The pointer
 * array is a mapping of its own, unmapped before the measurement.
 */
static void fragment(struct frag *f)
{
	size_t len = NBLOCKS * sizeof(void *);

	f->ptrs = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(f->ptrs != MAP_FAILED);
	memset(f->ptrs, 0, len);
	f->anon0 = th_anon_kb();
	for (size_t i = 0; i < NBLOCKS; i++) {
		f->ptrs[i] = malloc(BLOCK);
		CHECK(f->ptrs[i]);
		memset(f->ptrs[i], 0x5a, BLOCK);
	}
	f->last = malloc(BLOCK);
	CHECK(f->last);
	for (size_t i = 0; i < NBLOCKS; i++)
		free(f->ptrs[i]);
	munmap(f->ptrs, len);
	f->ptrs = NULL;
	f->anon_freed = th_anon_kb();
	/* The array was counted in anon0 and is gone now. */
	f->anon0 -= (long)(len >> 10);
}

/* Check that @after gives back >= 80% of what free() left resident. */
static void check_given_back(const struct frag *f, long after, const char *what)
{
	long left = f->anon_freed - f->anon0, back = f->anon_freed - after;

	th_note("%s: Anonymous %ld KiB before the heap, %ld after free(), "
		"%ld after (%ld of %ld KiB back, %.0f%%)",
		what, f->anon0, f->anon_freed, after, back, left,
		left > 0 ? 100.0 * (double)back / (double)left : 0.0);
	/* jemalloc's decay may have purged part already on free(). */
	CHECK_CMP(left, >, (long)(HEAP_BYTES >> 10) / 5);
	CHECK_CMP(back * 10, >=, left * 8);
}

TEST(allocator_found_is_the_one_malloc_resolves_to)
{
	struct tide_purge_stats st;

	/*
	 * ASan and TSan define malloc in their own runtime: "unknown".
	 * valgrind redirects glibc's malloc in place, so the symbol still
	 * lives in libc: "glibc".
	 */
	CHECK_STR(tide_purge_allocator(),
		  UNDER_SANITIZER ? "unknown" : "glibc");
	tide_purge_stats(&st);
	CHECK_STR(st.allocator, tide_purge_allocator());
	CHECK_UEQ(st.calls, 0);
	CHECK_UEQ(st.pages, 0);
}

TEST(purge_reports_what_really_went_back)
{
	struct tide_purge_stats st;
	unsigned long pages, second;
	struct frag f = { 0 };

	if (malloc_replaced())
		SKIP("malloc is replaced by a sanitizer or valgrind");
	fragment(&f);
	pages = tide_purge();
	check_given_back(&f, th_anon_kb(), "tide_purge (glibc)");
	tide_purge_stats(&st);
	CHECK_UEQ(st.calls, 1);
	CHECK_UEQ(st.pages, pages);
	/* The pages counted are the statm difference of this very call. */
	CHECK_UEQ(pages, (st.last_before - st.last_after) / 4096);
	CHECK_CMP(pages * 4, >=, (f.anon_freed - f.anon0) * 8 / 10);
	/* Nothing left to give: a second purge reports (almost) nothing. */
	second = tide_purge();
	CHECK_CMP(second, <, 256);
	tide_purge_stats(&st);
	CHECK_UEQ(st.calls, 2);
	CHECK_UEQ(st.pages, pages + second);
	free(f.last);
}

/* A cache that lies: reports everything freed, keeps its count. */
static unsigned long liar_count(void *priv, struct tide_shrink_control *sc)
{
	(void)priv;
	(void)sc;
	return 1000;
}

static unsigned long liar_scan(void *priv, struct tide_shrink_control *sc)
{
	atomic_ulong *calls = priv;

	atomic_fetch_add(calls, 1);
	return sc->nr_to_scan;
}

TEST(drop_caches_with_a_monitor_and_a_fragmented_heap_returns)
{
	static const struct tide_shrinker_ops ops = { liar_count, liar_scan };
	struct tide_monitor_config cfg = { .size = sizeof(cfg) };
	struct tide_shrinker *s = tide_shrinker_alloc("liar");
	struct tide_monitor *m = NULL;
	struct tide_purge_stats st;
	static atomic_ulong calls;
	int r;
	struct frag f = { 0 };

	tide_shrinker_register(s, &ops, &calls);
	r = tide_monitor_new(&m, &cfg);
	if (r)
		th_note("no monitor (%s): monitor-less run", tide_strerror(r));
	if (!malloc_replaced())
		fragment(&f);
	/* The liar "frees" 1920 per pass: 16 passes, then the purge. */
	/* (+ the pages of a monitor's own trim shrinker, if it has one) */
	CHECK_CMP(tide_drop_caches(), >=, 1920 * 16);
	CHECK_UEQ(atomic_load(&calls), 15 * 16);
	tide_purge_stats(&st);
	CHECK_CMP(st.calls, >=, 1);
	if (!malloc_replaced())
		check_given_back(&f, th_anon_kb(), "tide_drop_caches (glibc)");
	free(f.last);
	if (m)
		tide_monitor_free(m);
	tide_shrinker_free(s);
}

TEST(an_exported_purge_symbol_of_another_library_is_not_used)
{
	void *h;

	if (malloc_replaced())
		SKIP("malloc is replaced by a sanitizer or valgrind");
	/*
	 * tcmalloc loaded into the global scope, but malloc still resolves
	 * to libc: its MallocExtension_ReleaseFreeMemory is found by
	 * dlsym(RTLD_DEFAULT) and must not be taken for the process
	 * allocator's purge.  (jemalloc cannot be dlopened: static TLS.)
	 */
	h = dlopen(LIBDIR "libtcmalloc_minimal.so.4", RTLD_NOW | RTLD_GLOBAL);
	if (!h)
		SKIP("libtcmalloc_minimal.so.4 not loadable (%s)", dlerror());
	CHECK(dlsym(RTLD_DEFAULT, "MallocExtension_ReleaseFreeMemory"));
	CHECK_STR(tide_purge_allocator(), "glibc");
}

/* ---- the same under LD_PRELOAD, in a re-executed child ---------------- */

/*
 * ---- jemalloc: a purge that another thread's purge is in the way of ----
 *
 * jemalloc 5.x lets one thread purge an arena at a time; another purge of
 * it meanwhile returns at once.  Its background thread purges a batch at
 * a time, so a tide_purge() that met one used to leave the rest of the
 * arena's free pages resident (a trial's redis: "purged pages 1").  To
 * make that certain here, the test's own arena gets extent hooks (the
 * jemalloc 5.x ABI, declared below) whose forced purge blocks the first
 * time: a thread purging the arena (standing in for the background
 * thread) holds it in "purging" with the first 32 MiB, while 32 MiB more
 * are freed into it.  The hook lets go only once tide_purge() has found
 * those left and refreshed jemalloc's statistics again ("epoch" moved on
 * by 3): so tide_purge() must wait for the other purge and then purge
 * again.  Before 0.2.20 it returned with the 32 MiB still resident.
 */
struct je_hooks;
struct je_hooks {
	void *(*alloc)(struct je_hooks *, void *, size_t, size_t, bool *,
		       bool *, unsigned);
	bool (*dalloc)(struct je_hooks *, void *, size_t, bool, unsigned);
	void (*destroy)(struct je_hooks *, void *, size_t, bool, unsigned);
	bool (*commit)(struct je_hooks *, void *, size_t, size_t, size_t,
		       unsigned);
	bool (*decommit)(struct je_hooks *, void *, size_t, size_t, size_t,
			 unsigned);
	bool (*purge_lazy)(struct je_hooks *, void *, size_t, size_t, size_t,
			   unsigned);
	bool (*purge_forced)(struct je_hooks *, void *, size_t, size_t, size_t,
			     unsigned);
	bool (*split)(struct je_hooks *, void *, size_t, size_t, size_t, bool,
		      unsigned);
	bool (*merge)(struct je_hooks *, void *, size_t, void *, size_t, bool,
		      unsigned);
};

typedef int (*je_ctl_fn)(const char *, void *, size_t *, void *, size_t);
static je_ctl_fn je_ctl;
static atomic_int je_hold; /* 1: the next forced purge blocks; 2: blocked */
static atomic_bool je_release;

static void *je_alloc(struct je_hooks *h, void *want, size_t size, size_t align,
		      bool *zero, bool *commit, unsigned ind)
{
	size_t len = size + align;
	char *p, *q;

	(void)h;
	(void)ind;
	if (want)
		return NULL; /* no growing in place */
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	q = (char *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
	if (q > p)
		munmap(p, (size_t)(q - p));
	if ((size_t)(q - p) < align)
		munmap(q + size, align - (size_t)(q - p));
	*zero = true;
	*commit = true;
	return q;
}

static bool je_keep(struct je_hooks *h, void *a, size_t size, bool c,
		    unsigned ind)
{
	(void)h, (void)a, (void)size, (void)c, (void)ind;
	return true; /* opt out: jemalloc keeps the range for reuse */
}

static void je_destroy(struct je_hooks *h, void *a, size_t size, bool c,
		       unsigned ind)
{
	(void)h, (void)c, (void)ind;
	munmap(a, size);
}

static bool je_commit(struct je_hooks *h, void *a, size_t size, size_t off,
		      size_t len, unsigned ind)
{
	(void)h, (void)a, (void)size, (void)off, (void)len, (void)ind;
	return false; /* always committed */
}

static bool je_no(struct je_hooks *h, void *a, size_t size, size_t off,
		  size_t len, unsigned ind)
{
	(void)h, (void)a, (void)size, (void)off, (void)len, (void)ind;
	return true; /* not done: no decommit */
}

static bool je_purge_forced(struct je_hooks *h, void *a, size_t size,
			    size_t off, size_t len, unsigned ind)
{
	int one = 1;

	(void)h, (void)size, (void)ind;
	if (atomic_compare_exchange_strong(&je_hold, &one, 2))
		while (!atomic_load(&je_release))
			sched_yield();
	return madvise((char *)a + off, len, MADV_DONTNEED) != 0;
}

static bool je_split(struct je_hooks *h, void *a, size_t size, size_t sa,
		     size_t sb, bool c, unsigned ind)
{
	(void)h, (void)a, (void)size, (void)sa, (void)sb, (void)c, (void)ind;
	return false;
}

static bool je_merge(struct je_hooks *h, void *a, size_t sa, void *b, size_t sb,
		     bool c, unsigned ind)
{
	(void)h, (void)a, (void)sa, (void)b, (void)sb, (void)c, (void)ind;
	return false;
}

static struct je_hooks je_test_hooks = {
	je_alloc, je_keep,	   je_destroy, je_commit, je_no,
	NULL,	  je_purge_forced, je_split,   je_merge,
};

static uint64_t je_epoch(void)
{
	uint64_t e = 0;
	size_t sz = sizeof(e);

	CHECK_EQ(je_ctl("epoch", &e, &sz, NULL, 0), 0);
	return e;
}

static size_t je_dirty(unsigned arena)
{
	char name[64];
	size_t d = 0, sz = sizeof(d);
	uint64_t e = 1;

	CHECK_EQ(je_ctl("epoch", &e, &(size_t){ sizeof(e) }, &e, sizeof(e)), 0);
	snprintf(name, sizeof(name), "stats.arenas.%u.pdirty", arena);
	CHECK_EQ(je_ctl(name, &d, &sz, NULL, 0), 0);
	return d;
}

/* 32 MiB in 1 MiB blocks of this thread's arena, touched, then freed. */
static void je_churn(void)
{
	void *p[32];

	for (int i = 0; i < 32; i++) {
		p[i] = malloc(1 << 20);
		CHECK(p[i]);
		memset(p[i], 0x5a, 1 << 20);
	}
	for (int i = 0; i < 32; i++)
		free(p[i]);
}

static unsigned je_arena;

static void *je_other_purge(void *arg)
{
	char name[64];

	(void)arg;
	snprintf(name, sizeof(name), "arena.%u.purge", je_arena);
	je_ctl(name, NULL, NULL, NULL, 0);
	return NULL;
}

struct je_watch {
	uint64_t epoch0;
};

static void *je_releaser(void *arg)
{
	const struct je_watch *w = arg;

	/*
	 * tide_purge() read the statistics before and after its first
	 * purge, which met the held one.  (A tide_purge() that returned
	 * at once lets go itself: the test fails, it does not hang.)
	 */
	while (je_epoch() < w->epoch0 + 2 && !atomic_load(&je_release))
		sched_yield();
	atomic_store(&je_release, true);
	return NULL;
}

/* Until the other purge is held in the hook; 10 s at most. */
static void je_wait_held(void)
{
	for (int i = 0; atomic_load(&je_hold) != 2; i++) {
		CHECK_CMP(i, <, 10000);
		usleep(1000);
	}
}

/*
 * The child of a fork made while another thread purged the arena: the
 * arena stays "purging" in it for good.  The first tide_purge() waits its
 * 500 ms for nothing; from then on one round (two statistics refreshes),
 * not 500 ms per purge.  @e: "epoch" writes of the two calls.
 */
static void je_fork_child(void)
{
	uint64_t e0, e1, e2;

	je_churn();
	e0 = je_epoch();
	tide_purge();
	e1 = je_epoch();
	/* jemalloc cannot purge that arena in this process any more */
	CHECK_CMP(je_dirty(je_arena), >=, 8192);
	e1++; /* je_dirty()'s own */
	tide_purge();
	e2 = je_epoch();
	th_note("jemalloc fork child: epoch writes %llu then %llu",
		(unsigned long long)(e1 - 1 - e0),
		(unsigned long long)(e2 - e1));
	CHECK_CMP(e1 - 1 - e0, >, 2);
	CHECK_UEQ(e2 - e1, 2);
}

static void je_race_child(void)
{
	struct je_hooks *hp = &je_test_hooks;
	size_t sz = sizeof(je_arena);
	ssize_t never = -1;
	bool off = false;
	char name[64];
	pthread_t other, rel;
	struct je_watch w;
	long anon0, anon_freed, anon_after;
	unsigned long pages;
	pid_t child;
	int status;

	alarm(60); /* a hang is a failure */
	je_ctl = (je_ctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
	CHECK(je_ctl);
	CHECK_EQ(je_ctl("arenas.create", &je_arena, &sz, &hp, sizeof(hp)), 0);
	/* only explicit purges: no decay, no thread cache */
	snprintf(name, sizeof(name), "arena.%u.dirty_decay_ms", je_arena);
	CHECK_EQ(je_ctl(name, NULL, NULL, &never, sizeof(never)), 0);
	snprintf(name, sizeof(name), "arena.%u.muzzy_decay_ms", je_arena);
	CHECK_EQ(je_ctl(name, NULL, NULL, &never, sizeof(never)), 0);
	CHECK_EQ(je_ctl("thread.tcache.enabled", NULL, NULL, &off, sizeof(off)),
		 0);
	CHECK_EQ(
		je_ctl("thread.arena", NULL, NULL, &je_arena, sizeof(je_arena)),
		0);
	tide_purge(); /* detection, and nothing else to purge */
	anon0 = th_anon_kb();
	je_churn();
	CHECK_CMP(je_dirty(je_arena), >=, 8192);
	atomic_store(&je_hold, 1);
	CHECK_EQ(pthread_create(&other, NULL, je_other_purge, NULL), 0);
	je_wait_held();
	/* the other purge holds the first 32 MiB; 32 more come free */
	je_churn();
	anon_freed = th_anon_kb();
	CHECK_CMP(je_dirty(je_arena), >=, 8192);
	w.epoch0 = je_epoch();
	CHECK_EQ(pthread_create(&rel, NULL, je_releaser, &w), 0);
	pages = tide_purge();
	atomic_store(&je_release, true); /* when it returned too soon */
	anon_after = th_anon_kb();
	th_note("jemalloc race: Anonymous %ld KiB before, %ld with 64 MiB "
		"freed, %ld after tide_purge() (%lu pages), %zu dirty",
		anon0, anon_freed, anon_after, pages, je_dirty(je_arena));
	pthread_join(other, NULL);
	pthread_join(rel, NULL);
	/*
	 * The second 32 MiB went back, and the other purge's 32 too.  What
	 * may be left dirty is this thread's own small blocks since (the
	 * threads' ends free theirs into it): a page or two.
	 */
	CHECK_CMP(je_dirty(je_arena), <, 16);
	CHECK_CMP(anon_freed - anon_after, >=, 60 * 1024);
	CHECK_CMP(pages, >=, 8192);

	/* Again, and a fork while the other purge is held. */
	je_churn();
	atomic_store(&je_release, false);
	atomic_store(&je_hold, 1);
	CHECK_EQ(pthread_create(&other, NULL, je_other_purge, NULL), 0);
	je_wait_held();
	child = fork();
	CHECK(child >= 0);
	if (!child) {
		je_fork_child();
		fflush(stdout);
		_exit(0);
	}
	CHECK_EQ(waitpid(child, &status, 0), child);
	atomic_store(&je_release, true);
	pthread_join(other, NULL);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
}

/*
 * Child mode: this program run again with TIDE_PURGE_EXPECT=<name> and
 * LD_PRELOAD set.  Exit 0 when the allocator is named right and one
 * tide_purge() gave back >= 80% (CHECK exits 1 otherwise).
 */
__attribute__((constructor)) static void purge_child(void)
{
	const char *want = getenv("TIDE_PURGE_EXPECT");
	struct frag f = { 0 };

	if (!want)
		return;
	unsetenv("LD_PRELOAD");
	th_in_child = true;
	CHECK_STR(tide_purge_allocator(), want);
	if (getenv("TIDE_PURGE_RACE")) {
		je_race_child();
		fflush(stdout);
		_exit(0);
	}
	fragment(&f);
	tide_purge();
	check_given_back(&f, th_anon_kb(), want);
	free(f.last);
	fflush(stdout);
	_exit(0);
}

static void preloaded_ex(const char *lib, const char *name, const char *pkg,
			 char *extra)
{
	char env1[256], env2[64];
	char *envp[5];

	if (malloc_replaced())
		SKIP("malloc is replaced by a sanitizer or valgrind");
	if (access(lib, R_OK))
		SKIP("%s not installed (Debian package %s)", lib, pkg);
	snprintf(env1, sizeof(env1), "LD_PRELOAD=%s", lib);
	snprintf(env2, sizeof(env2), "TIDE_PURGE_EXPECT=%s", name);
	envp[0] = env1;
	envp[1] = env2;
	envp[2] = "TIDE_TEST_NOFORK=1";
	envp[3] = extra;
	envp[4] = NULL;
	th_rerun_self(envp);
}

static void preloaded(const char *lib, const char *name, const char *pkg)
{
	preloaded_ex(lib, name, pkg, NULL);
}

TEST(jemalloc_preloaded_is_found_and_purged)
{
	preloaded(LIBDIR "libjemalloc.so.2", "jemalloc", "libjemalloc2");
}

TEST(jemalloc_purge_waits_for_another_threads_purge)
{
	preloaded_ex(LIBDIR "libjemalloc.so.2", "jemalloc", "libjemalloc2",
		     "TIDE_PURGE_RACE=1");
}

TEST(mimalloc_preloaded_is_found_and_purged)
{
	preloaded(LIBDIR "libmimalloc.so.2", "mimalloc", "libmimalloc2.0");
}

TEST(tcmalloc_preloaded_is_found_and_purged)
{
	preloaded(LIBDIR "libtcmalloc.so.4", "tcmalloc",
		  "libgoogle-perftools4");
}

/* ---- concurrency, fork, OOM ------------------------------------------- */

static atomic_bool stop;

static void *purger(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		void *p = malloc(4096);

		free(p);
		tide_purge();
	}
	return NULL;
}

static unsigned long small_count(void *priv, struct tide_shrink_control *sc)
{
	(void)sc;
	return atomic_load((atomic_ulong *)priv);
}

static unsigned long small_scan(void *priv, struct tide_shrink_control *sc)
{
	atomic_fetch_add((atomic_ulong *)priv, 1);
	return sc->nr_to_scan;
}

TEST(purges_racing_passes_and_drops)
{
	static const struct tide_shrinker_ops ops = { small_count, small_scan };
	static atomic_ulong objects = 100;
	struct tide_shrinker *s = tide_shrinker_alloc("race");
	struct tide_purge_stats st;
	pthread_t t[2];
	unsigned long drops = 0;

	tide_shrinker_register(s, &ops, &objects);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, purger, NULL), 0);
	for (int i = 0; i < 200; i++) {
		tide_shrink(i % 13, 0);
		if (i % 10 == 0) {
			tide_drop_caches();
			drops++;
		}
	}
	atomic_store(&stop, true);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	tide_purge_stats(&st);
	CHECK_CMP(st.calls, >=, drops);
	tide_shrinker_free(s);
}

TEST(child_purges_and_drops_caches)
{
	pid_t pid;
	int status;

	tide_purge();
	pid = fork();
	CHECK(pid >= 0);
	if (!pid) {
		struct tide_purge_stats st;

		tide_purge();
		tide_drop_caches();
		tide_purge_stats(&st);
		_exit(st.calls == 3 ? 0 : 1);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
}

static int purge_body(void *arg)
{
	(void)arg;
	tide_purge_stats(NULL);
	tide_purge();
	tide_drop_caches();
	return 0;
}

TEST(oom_loop_over_purge_and_drop_caches)
{
	static const struct th_oom_case c = { .body = purge_body };

	/* Warm up detection first: dlopen's own allocations are libc's. */
	tide_purge();
	th_oom_loop_ex("tide_purge + tide_drop_caches", &c, NULL);
}

/*
 * A purge measures resident memory in /proc/self/statm before and after.
 * When a reading cannot be made (the open fails: out of memory or
 * descriptors) the purge still runs but counts as nothing given back, and
 * the last figures stay those of the last measured purge; a missing
 * "after" must not count every resident page as given back.
 */
/*
 * A purge with the @nth failable call from now on failing (@persistent:
 * and every later one) must give back nothing and change only the count
 * of calls (the @round-th after @st0) in the statistics.
 */
static void unmeasured_purge(unsigned long long nth, bool persistent,
			     const struct tide_purge_stats *st0, unsigned round)
{
	struct tide_purge_stats st;
	unsigned long pages;

	tide__fault_set(nth, persistent);
	pages = tide_purge();
	CHECK_CMP(tide__fault_hits(), >=, 1);
	tide__fault_clear();
	tide_purge_stats(&st);
	CHECK_UEQ(pages, 0);
	CHECK_UEQ(st.calls, st0->calls + round);
	CHECK_UEQ(st.pages, st0->pages);
	CHECK_UEQ(st.last_before, st0->last_before);
	CHECK_UEQ(st.last_after, st0->last_after);
}

TEST(unmeasured_purge_counts_nothing)
{
	struct tide_purge_stats st0;
	struct tide__os_stats a, b;
	unsigned long long n;

	tide_purge(); /* detection and a measured purge */
	tide__os_stats(&a);
	tide_purge();
	tide__os_stats(&b);
	n = b.failable_calls - a.failable_calls; /* the last: statm "after" */
	CHECK_CMP(n, >=, 2);
	tide_purge_stats(&st0);
	CHECK_CMP(st0.last_before, >, 0);
	unmeasured_purge(n, false, &st0, 1); /* only the "after" reading */
	unmeasured_purge(1, true, &st0, 2); /* both readings */
}

RUN_TESTS(T(allocator_found_is_the_one_malloc_resolves_to),
	  T(purge_reports_what_really_went_back),
	  T(drop_caches_with_a_monitor_and_a_fragmented_heap_returns),
	  T(an_exported_purge_symbol_of_another_library_is_not_used),
	  T(jemalloc_preloaded_is_found_and_purged),
	  T(jemalloc_purge_waits_for_another_threads_purge),
	  T(mimalloc_preloaded_is_found_and_purged),
	  T(tcmalloc_preloaded_is_found_and_purged),
	  T(purges_racing_passes_and_drops), T(child_purges_and_drops_caches),
	  T(oom_loop_over_purge_and_drop_caches),
	  T(unmeasured_purge_counts_nothing))
