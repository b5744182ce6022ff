// SPDX-License-Identifier: MIT
/*
 * test_fork.c - a child of a process using tide can use the shrinker
 * registry and the purge (DESIGN.md conventions, issue 14 items 1-2): forks
 * under registry churn never hang, a fork during a scan leaves the child
 * free to unregister that shrinker, a fork from inside a callback, and the
 * child's passes and purges; forks under arena and paged kv churn.  Every
 * child runs under an alarm(): a hung child dies of SIGALRM and fails the
 * test.
 */
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>

#include <tide.h>

#include "harness.h"

#define WATCHDOG_S 20
#define LIBDIR "/usr/lib/x86_64-linux-gnu/"

/*
 * GCC 12's ASan allocator has no fork handlers: a child forked while
 * another thread is inside ASan's malloc hangs in its own first malloc
 * (glibc, jemalloc, mimalloc and tcmalloc all handle fork).  Under ASan the
 * churning threads therefore make their heap calls (alloc and free) under
 * a lock that the test's own fork handler takes, standing in for the fork
 * handling a real allocator has; their passes, which hold tide's registry
 * lock, stay unguarded.
 */
#if defined(__SANITIZE_ADDRESS__)
#define ALLOC_NOT_FORK_SAFE 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ALLOC_NOT_FORK_SAFE 1
#endif
#endif
#ifdef ALLOC_NOT_FORK_SAFE
static pthread_mutex_t heap_guard = PTHREAD_MUTEX_INITIALIZER;

static void guard_lock(void)
{
	pthread_mutex_lock(&heap_guard);
}

static void guard_unlock(void)
{
	pthread_mutex_unlock(&heap_guard);
}

static void guard_child(void)
{
	pthread_mutex_init(&heap_guard, NULL);
}

static void guard_install(void)
{
	pthread_atfork(guard_lock, guard_unlock, guard_child);
}
#else
static void guard_lock(void)
{
}

static void guard_unlock(void)
{
}

static void guard_install(void)
{
}
#endif

/* Wait for @pid; the child must have exited 0 (not hung, not crashed). */
static void reap(pid_t pid)
{
	int status;

	CHECK_EQ(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		FAIL("child %d killed by signal %d%s", (int)pid,
		     WTERMSIG(status),
		     WTERMSIG(status) == SIGALRM ? " (hung: watchdog)" : "");
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
}

/* A cache of plain counters. */
struct cache {
	atomic_ulong objects;
	atomic_ulong scans;
};

static unsigned long cache_count(void *priv, struct tide_shrink_control *sc)
{
	struct cache *c = priv;

	(void)sc;
	return atomic_load(&c->objects);
}

static unsigned long cache_scan(void *priv, struct tide_shrink_control *sc)
{
	struct cache *c = priv;
	unsigned long have = atomic_load(&c->objects);
	unsigned long n = TIDE__MIN(have, sc->nr_to_scan);

	atomic_fetch_add(&c->scans, 1);
	atomic_fetch_sub(&c->objects, n);
	return n;
}

static const struct tide_shrinker_ops cache_ops = { cache_count, cache_scan };

/* In a child: alloc, register, shrink, free a shrinker of its own. */
static int child_own_shrinker(void)
{
	static struct cache c;
	struct tide_shrinker *s;

	atomic_store(&c.objects, 300);
	s = tide_shrinker_alloc("child");
	if (!s)
		return 2;
	tide_shrinker_register(s, &cache_ops, &c);
	tide_shrink(0, 0);
	if (atomic_load(&c.objects) != 0)
		return 3;
	tide_shrinker_free(s);
	return 0;
}

static atomic_bool churn_stop;

static void *churn(void *arg)
{
	static struct cache c;

	(void)arg;
	while (!atomic_load(&churn_stop)) {
		struct tide_shrinker *s;

		guard_lock();
		s = tide_shrinker_alloc("churn");
		guard_unlock();
		if (!s)
			continue;
		atomic_store(&c.objects, 1000);
		tide_shrinker_register(s, &cache_ops, &c);
		tide_shrink(6, 0);
		guard_lock();
		tide_shrinker_free(s);
		guard_unlock();
	}
	return NULL;
}

TEST(forks_under_registry_churn_never_hang)
{
	pthread_t t[2];
	int forks = 150;

	/* tide's fork handlers first, so the guard's prepare runs first. */
	tide_shrinker_free(tide_shrinker_alloc("first"));
	guard_install();
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, churn, NULL), 0);
	for (int i = 0; i < forks; i++) {
		pid_t pid = fork();

		CHECK(pid >= 0);
		if (!pid) {
			alarm(WATCHDOG_S);
			_exit(child_own_shrinker());
		}
		reap(pid);
	}
	atomic_store(&churn_stop, true);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
}

/* A scan that blocks until released (the parent's thread is inside). */
static sem_t in_scan;
static atomic_bool release_scan;
static struct cache blocked_cache;

static unsigned long blocking_scan(void *priv, struct tide_shrink_control *sc)
{
	sem_post(&in_scan);
	while (!atomic_load(&release_scan))
		usleep(1000);
	return cache_scan(priv, sc);
}

static const struct tide_shrinker_ops blocking_ops = { cache_count,
						       blocking_scan };

static void *pass_thread(void *arg)
{
	(void)arg;
	tide_shrink(0, 0);
	return NULL;
}

TEST(child_frees_a_shrinker_that_was_mid_scan_in_the_parent)
{
	struct tide_shrinker *s = tide_shrinker_alloc("blocked");
	pthread_t t;
	pid_t pid;

	sem_init(&in_scan, 0, 0);
	atomic_store(&blocked_cache.objects, 100);
	tide_shrinker_register(s, &blocking_ops, &blocked_cache);
	CHECK_EQ(pthread_create(&t, NULL, pass_thread, NULL), 0);
	sem_wait(&in_scan);
	/* The parent's thread is inside the callback (its walk holds it). */
	pid = fork();
	CHECK(pid >= 0);
	if (!pid) {
		alarm(WATCHDOG_S);
		/* The scan running in the parent does not exist here. */
		tide_shrinker_free(s);
		/* The registry is usable: the freed one is gone. */
		_exit(child_own_shrinker());
	}
	reap(pid);
	atomic_store(&release_scan, true);
	pthread_join(t, NULL);
	CHECK_UEQ(atomic_load(&blocked_cache.objects), 0);
	tide_shrinker_free(s);
}

TEST(child_shrinks_purges_and_frees_inherited_shrinkers)
{
	static struct cache c;
	struct tide_shrinker *s = tide_shrinker_alloc("inherited");
	pid_t pid;

	atomic_store(&c.objects, 1000);
	tide_shrinker_register(s, &cache_ops, &c);
	pid = fork();
	CHECK(pid >= 0);
	if (!pid) {
		struct tide_purge_stats st;

		alarm(WATCHDOG_S);
		/* 1000 at priority 0: 7 x 128 + 104, then one that frees 0. */
		if (tide_shrink(0, 0) != 1000 || atomic_load(&c.scans) != 9)
			_exit(2);
		atomic_store(&c.objects, 500);
		if (tide_drop_caches() != 500)
			_exit(3);
		tide_purge();
		tide_purge_stats(&st);
		if (st.calls != 2) /* drop_caches' purge and ours */
			_exit(4);
		tide_shrinker_free(s);
		_exit(child_own_shrinker());
	}
	reap(pid);
	/* The child's passes changed its copy only. */
	CHECK_UEQ(atomic_load(&c.objects), 1000);
	CHECK_UEQ(atomic_load(&c.scans), 0);
	tide_shrinker_free(s);
}

/* Fork from inside a scan callback: the child goes on with the pass. */
static atomic_int forked_child_status = -1;

static unsigned long forking_scan(void *priv, struct tide_shrink_control *sc)
{
	pid_t pid;

	if (atomic_load(&((struct cache *)priv)->scans) == 0) {
		pid = fork();
		if (pid == 0) {
			alarm(WATCHDOG_S);
			/* Child: returns into the pass, see the test. */
			th_in_child = true;
		} else {
			int status = 0;

			waitpid(pid, &status, 0);
			atomic_store(&forked_child_status,
				     WIFEXITED(status) ?
					     WEXITSTATUS(status) :
					     100 + WTERMSIG(status));
		}
	}
	return cache_scan(priv, sc);
}

static const struct tide_shrinker_ops forking_ops = { cache_count,
						      forking_scan };

TEST(fork_inside_a_callback_leaves_a_working_child)
{
	static struct cache c;
	struct tide_shrinker *s = tide_shrinker_alloc("forking");
	static struct cache other;
	struct tide_shrinker *o = tide_shrinker_alloc("other");
	pid_t me = getpid();
	unsigned long freed;

	atomic_store(&c.objects, 300);
	atomic_store(&other.objects, 200);
	tide_shrinker_register(s, &forking_ops, &c);
	tide_shrinker_register(o, &cache_ops, &other);
	freed = tide_shrink(0, 0);
	if (getpid() != me) {
		/*
		 * The child finished the pass it was forked in (300: 128,
		 * 128, 44, 0; other 200: 128, 72, 0), its own callback
		 * count went back to 0 (free returns), the rest works.
		 */
		if (freed != 500)
			_exit(2);
		tide_shrinker_free(s);
		tide_shrinker_free(o);
		_exit(child_own_shrinker());
	}
	CHECK_UEQ(freed, 500);
	CHECK_EQ(atomic_load(&forked_child_status), 0);
	tide_shrinker_free(s);
	tide_shrinker_free(o);
}

/* A shrinker freed in the parent while another thread's walk held it. */
TEST(child_of_a_walk_in_progress_gets_a_consistent_registry)
{
	struct tide_shrinker *s = tide_shrinker_alloc("blocked2");
	struct tide_shrinker *f = tide_shrinker_alloc("freed-while-pinned");
	static struct cache fc;
	struct tide__os_stats parent;
	pthread_t t;
	pid_t pid;

	sem_init(&in_scan, 0, 0);
	atomic_store(&release_scan, false);
	atomic_store(&blocked_cache.objects, 100);
	tide_shrinker_register(s, &blocking_ops, &blocked_cache);
	tide_shrinker_register(f, &cache_ops, &fc);
	CHECK_EQ(pthread_create(&t, NULL, pass_thread, NULL), 0);
	sem_wait(&in_scan);
	/* The walker's batch holds f too: free leaves it to the walker. */
	tide_shrinker_free(f);
	tide__os_stats(&parent);
	pid = fork();
	CHECK(pid >= 0);
	if (!pid) {
		struct tide__os_stats st;

		alarm(WATCHDOG_S);
		tide__os_stats(&st);
		/* No walk holds f in the child: the fork handler freed it. */
		if (st.heap_live != parent.heap_live - 1)
			_exit(2);
		tide_shrinker_free(s);
		tide__os_stats(&st);
		/* s and the live-shrinker set, now empty, are freed (a
		 * registry this small keeps its array in static memory). */
		if (st.heap_live != parent.heap_live - 3)
			_exit(3);
		_exit(child_own_shrinker());
	}
	reap(pid);
	atomic_store(&release_scan, true);
	pthread_join(t, NULL);
	tide_shrinker_free(s);
}

/* ---- arenas ------------------------------------------------------------ */

#define ARENA_FORKS 200
#define ARENA_BATCH 32

static struct tide_arena *fork_arena;

/*
 * Allocate and free in the shared arena until told to stop.  A batch of 32
 * buffers of different sizes makes the arena call the C heap under its lock
 * (it keeps 16 spare nodes at most), so a fork finds a thread inside the
 * allocator with the arena's lock held as often as not.
 */
static void *arena_churn(void *arg)
{
	void *p[ARENA_BATCH];

	(void)arg;
	while (!atomic_load(&churn_stop)) {
		for (int i = 0; i < ARENA_BATCH; i++)
			p[i] = tide_arena_alloc(fork_arena,
						64 + 40 * (size_t)i);
		for (int i = 0; i < ARENA_BATCH; i++)
			tide_arena_free(fork_arena, p[i]);
	}
	return NULL;
}

/*
 * An allocator with fork handlers of its own, as jemalloc and tcmalloc
 * have: os.c's heap hooks call the C heap under a lock that its prepare
 * handler takes.  Its handlers are registered before the first arena is
 * created, as a replacement allocator's are when it initialises, so the
 * arenas' prepare handler must run first: a thread that holds an arena's
 * lock may be waiting for this one (registered the other way round, the
 * first fork that catches a thread there deadlocks).  Under ASan it also
 * keeps the arena's heap calls out of ASan's fork-unsafe allocator at
 * every fork (see above).
 */
static pthread_mutex_t sim_heap_lock = PTHREAD_MUTEX_INITIALIZER;

static void sim_prepare(void)
{
	pthread_mutex_lock(&sim_heap_lock);
}

static void sim_parent(void)
{
	pthread_mutex_unlock(&sim_heap_lock);
}

static void sim_child(void)
{
	pthread_mutex_init(&sim_heap_lock, NULL);
}

static void *sim_malloc(size_t n)
{
	void *p;

	pthread_mutex_lock(&sim_heap_lock);
	p = tide__os_default_hooks.malloc(n);
	pthread_mutex_unlock(&sim_heap_lock);
	return p;
}

static void *sim_calloc(size_t n, size_t size)
{
	void *p;

	pthread_mutex_lock(&sim_heap_lock);
	p = tide__os_default_hooks.calloc(n, size);
	pthread_mutex_unlock(&sim_heap_lock);
	return p;
}

static void *sim_realloc(void *p, size_t n)
{
	pthread_mutex_lock(&sim_heap_lock);
	p = tide__os_default_hooks.realloc(p, n);
	pthread_mutex_unlock(&sim_heap_lock);
	return p;
}

static void sim_free(void *p)
{
	pthread_mutex_lock(&sim_heap_lock);
	tide__os_default_hooks.free(p);
	pthread_mutex_unlock(&sim_heap_lock);
}

static void sim_allocator_install(void)
{
	static struct tide__os_hooks h;

	h = tide__os_default_hooks;
	h.malloc = sim_malloc;
	h.calloc = sim_calloc;
	h.realloc = sim_realloc;
	h.free = sim_free;
	pthread_atfork(sim_prepare, sim_parent, sim_child);
	tide__os_set_hooks(&h);
}

/* In a child: alloc, free, stats and totals on the inherited arena. */
static int child_uses_arena(void)
{
	struct tide_arena_stats before, st;
	struct tide_arena_totals t;
	struct tide_arena *own;
	void *p;

	tide_arena_stats(fork_arena, &before);
	p = tide_arena_alloc(fork_arena, 100);
	if (!p)
		return 2;
	memset(p, 1, 100);
	tide_arena_stats(fork_arena, &st);
	if (st.used_bytes != before.used_bytes + 104)
		return 3;
	tide_arena_free(fork_arena, p);
	tide_arena_stats(fork_arena, &st);
	if (st.used_bytes != before.used_bytes ||
	    st.pages_used + st.pages_lru + st.pages_unmapped != st.pages_total)
		return 4;
	tide_arena_totals(&t);
	if (t.arenas != 1 || t.used_bytes != before.used_bytes)
		return 5;
	own = tide_arena_create("child-arena", 1 << 16);
	if (!own)
		return 6;
	tide_arena_totals(&t);
	tide_arena_destroy(own);
	return t.arenas == 2 ? 0 : 7;
}

/*
 * ARENA_FORKS forks (fewer under valgrind) while two threads churn the arena; every child must
 * use it within the watchdog.  @sim: through sim_allocator_install().
 */
static void arena_forks(bool sim)
{
	/*
	 * A fork under valgrind copies valgrind too, which runs one thread
	 * at a time: 200 took 164 s alone and passed the watchdog on a
	 * loaded CI machine.  Fewer there.
	 */
	int forks = th_under_valgrind() ? ARENA_FORKS / 8 : ARENA_FORKS;
	pthread_t t[2];

	alarm(10 * WATCHDOG_S); /* the parent hung at a fork */
	if (sim)
		sim_allocator_install();
	fork_arena = tide_arena_create("forked", 1 << 20);
	CHECK(fork_arena);
	atomic_store(&churn_stop, false);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, arena_churn, NULL), 0);
	for (int i = 0; i < forks; i++) {
		pid_t pid = fork();

		CHECK(pid >= 0);
		if (!pid) {
			alarm(WATCHDOG_S);
			_exit(child_uses_arena());
		}
		reap(pid);
	}
	atomic_store(&churn_stop, true);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	tide_arena_destroy(fork_arena);
	if (sim)
		tide__os_set_hooks(NULL);
	alarm(0);
}

TEST(forks_while_threads_hold_arena_locks_never_hang)
{
	arena_forks(true);
}

/*
 * This program run again with TIDE_TEST_ARENA_FORKS=1 and LD_PRELOAD set:
 * the same forks with another allocator, whose fork handlers were
 * registered when it initialised (before the arenas' were).
 */
__attribute__((constructor)) static void arena_forks_child_mode(void)
{
	if (!getenv("TIDE_TEST_ARENA_FORKS"))
		return;
	th_in_child = true;
	arena_forks(false);
	fflush(stdout);
	_exit(0);
}

static void arena_forks_under(const char *lib, const char *pkg)
{
	char env[256];
	char *envp[3];

#if defined(ALLOC_NOT_FORK_SAFE) || defined(__SANITIZE_THREAD__)
	SKIP("malloc is replaced by a sanitizer");
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
	SKIP("malloc is replaced by a sanitizer");
#endif
#endif
	if (th_under_valgrind())
		SKIP("malloc is replaced by valgrind");
	if (access(lib, R_OK))
		SKIP("%s not installed (Debian package %s)", lib, pkg);
	snprintf(env, sizeof(env), "LD_PRELOAD=%s", lib);
	envp[0] = env;
	envp[1] = "TIDE_TEST_ARENA_FORKS=1";
	envp[2] = NULL;
	th_rerun_self(envp);
}

TEST(arena_forks_never_hang_under_jemalloc)
{
	arena_forks_under(LIBDIR "libjemalloc.so.2", "libjemalloc2");
}

TEST(arena_forks_never_hang_under_tcmalloc)
{
	arena_forks_under(LIBDIR "libtcmalloc_minimal.so.4",
			  "libtcmalloc-minimal4");
}

/* ---- paged kv blocks ----------------------------------------------------- */

#define MiB ((size_t)1 << 20)
#define KV_FORKS 25
#define KV_THREADS 3
/* The bytes before a paged block's data, in its mapping (kv.h). */
#define KV_HDR 64

static atomic_ulong kv_rounds[KV_THREADS];
static atomic_int kv_failed;
/* Set while a child runs: the threads wait, so it is not starved of CPU. */
static atomic_bool kv_pause;
/*
 * Under valgrind, which runs one thread at a time behind a lock that is
 * not fair, a thread that never sleeps keeps it: the test's own thread
 * waited 200 s for the threads' rounds (the CI's memcheck run).  There
 * each round ends with a sleep.
 */
static bool kv_nap;

/* A paged block's mapping length for @size bytes. */
static size_t kv_mapped(size_t size)
{
	return TIDE__ALIGN_UP(size + KV_HDR, tide__os_page_size());
}

/* Allocate 1 MiB, grow it to 3, free it, until told to stop. */
static void *kv_churn(void *arg)
{
	atomic_ulong *rounds = arg;

	while (!atomic_load(&churn_stop)) {
		char *p, *q;

		if (atomic_load(&kv_pause)) {
			usleep(100);
			continue;
		}
		p = tide_kvmalloc(1 * MiB, 0);

		if (!p || !tide_kv_is_paged(p)) {
			atomic_store(&kv_failed, 1);
			tide_kvfree(p);
			break;
		}
		p[0] = 1;
		q = tide_kvrealloc(p, 3 * MiB, 0);
		if (!q) {
			atomic_store(&kv_failed, 2);
			tide_kvfree(p);
			break;
		}
		q[3 * MiB - 1] = 1;
		tide_kvfree(q);
		atomic_fetch_add(rounds, 1);
		if (kv_nap)
			usleep(1000);
	}
	return NULL;
}

/* @st is @base plus @blocks paged blocks of @requested and @mapped bytes. */
static void check_kv_totals(const struct tide_kv_stats *st,
			    const struct tide_kv_stats *base, size_t blocks,
			    size_t requested, size_t mapped)
{
	CHECK_UEQ(st->blocks, base->blocks + blocks);
	CHECK_UEQ(st->requested, base->requested + requested);
	CHECK_UEQ(st->committed, base->committed + mapped);
}

/*
 * In a child: a paged block of its own, allocated, grown and freed, with
 * the totals moving by exactly that block (the inherited figures, the
 * blocks the parent's threads held at the fork, are the base).
 */
static void child_pages_a_block_of_its_own(void)
{
	struct tide_kv_stats base, st;
	char *p, *q;

	tide_kv_stats(&base);
	p = tide_kvmalloc(1 * MiB, 0);
	CHECK(p);
	CHECK(tide_kv_is_paged(p));
	memset(p, 0x5a, 1 * MiB);
	tide_kv_stats(&st);
	check_kv_totals(&st, &base, 1, 1 * MiB, kv_mapped(1 * MiB));
	CHECK_UEQ(tide_kvresident(p) + KV_HDR, kv_mapped(1 * MiB));
	q = tide_kvrealloc(p, 3 * MiB, 0);
	CHECK(q);
	CHECK_EQ(q[0], 0x5a);
	CHECK_EQ(q[1 * MiB - 1], 0x5a);
	memset(q + 1 * MiB, 0xa5, 2 * MiB);
	tide_kv_stats(&st);
	check_kv_totals(&st, &base, 1, 3 * MiB, kv_mapped(3 * MiB));
	CHECK_UEQ(tide_kvresident(q) + KV_HDR, kv_mapped(3 * MiB));
	tide_kvfree(q);
	tide_kv_stats(&st);
	check_kv_totals(&st, &base, 0, 0, 0);
}

/* Wait until every thread has ended two rounds since @seen: it churns. */
static void kv_wait_churning(const unsigned long *seen)
{
	for (int i = 0; i < KV_THREADS; i++)
		while (atomic_load(&kv_rounds[i]) <= seen[i] + 1 &&
		       !atomic_load(&kv_failed))
			usleep(50);
}

/*
 * KV_FORKS forks while KV_THREADS threads allocate, grow and free paged
 * kv blocks (publishing and clearing them in the page registry, whose
 * lock the child starts afresh): every child must page a block of its
 * own and exit 0 within the watchdog.  The threads are busy at each fork
 * (each ended two rounds since the last child did) and wait while a child
 * runs, which would otherwise share 2 CPUs with them.  Fewer forks under
 * valgrind and the sanitizers; the child starts no thread (TSan could
 * not).
 */
TEST(forks_under_paged_kv_churn_never_hang)
{
	int forks = th_under_valgrind() ? KV_FORKS / 8 :
		    th_sanitized()	? KV_FORKS / 4 :
					  KV_FORKS;
	struct tide_kv_stats base, st;
	pthread_t t[KV_THREADS];
	unsigned long rounds = 0;

	alarm(10 * WATCHDOG_S); /* the parent hung at a fork */
	kv_nap = th_under_valgrind();
	tide_kv_set_threshold(TIDE_KV_DEFAULT_THRESHOLD);
	tide_kv_stats(&base);
	atomic_store(&churn_stop, false);
	for (int i = 0; i < KV_THREADS; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, kv_churn, &kv_rounds[i]),
			 0);
	fflush(stdout);
	for (int i = 0; i < forks; i++) {
		unsigned long seen[KV_THREADS];
		pid_t pid;

		for (int k = 0; k < KV_THREADS; k++)
			seen[k] = atomic_load(&kv_rounds[k]);
		atomic_store(&kv_pause, false);
		kv_wait_churning(seen);
		pid = fork();
		CHECK(pid >= 0);
		if (!pid) {
			th_in_child = true;
			alarm(WATCHDOG_S);
			child_pages_a_block_of_its_own();
			_exit(0);
		}
		atomic_store(&kv_pause, true);
		reap(pid);
	}
	atomic_store(&churn_stop, true);
	for (int i = 0; i < KV_THREADS; i++) {
		pthread_join(t[i], NULL);
		rounds += atomic_load(&kv_rounds[i]);
	}
	CHECK_EQ(atomic_load(&kv_failed), 0);
	th_note("%d forks, %lu rounds of the threads", forks, rounds);
	/* every thread's blocks freed: the parent's totals are back */
	tide_kv_stats(&st);
	check_kv_totals(&st, &base, 0, 0, 0);
	alarm(0);
}

RUN_TESTS(T(forks_under_registry_churn_never_hang),
	  T(child_frees_a_shrinker_that_was_mid_scan_in_the_parent),
	  T(child_shrinks_purges_and_frees_inherited_shrinkers),
	  T(fork_inside_a_callback_leaves_a_working_child),
	  T(child_of_a_walk_in_progress_gets_a_consistent_registry),
	  T(forks_while_threads_hold_arena_locks_never_hang),
	  T(forks_under_paged_kv_churn_never_hang),
	  T(arena_forks_never_hang_under_jemalloc),
	  T(arena_forks_never_hang_under_tcmalloc))
