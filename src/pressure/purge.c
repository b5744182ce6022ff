// SPDX-License-Identifier: MIT
/*
 * purge.c - give the process allocator's free memory back to the kernel.
 *
 * Which allocator the process really uses is found once, at the first
 * purge: the library (or executable) that the global symbol "malloc"
 * resolves to, an LD_PRELOADed allocator included.  A purge entry point
 * counts only when it lives in that same object (same load base), so a
 * library that merely exports a name (a statically linked jemalloc inside
 * some plugin, a wrapper exporting mallctl) is never mistaken for the
 * process allocator.  Candidates, in order: jemalloc's mallctl (purge
 * "arena.<MALLCTL_ARENAS_ALL>.purge" after flushing the caller's thread
 * cache, again while another thread's purge is in the way), mimalloc's
 * mi_collect(true), tcmalloc's MallocExtension_ReleaseFreeMemory() and
 * glibc's malloc_trim(0).  When malloc belongs to none of them (ASan's or
 * valgrind's interceptors, an unknown allocator) the purge calls nothing:
 * "unknown".
 *
 * What a purge gave back is measured, not believed: resident anonymous
 * pages before and after, from /proc/self/statm (resident - shared, the
 * kernel's RssAnon counter).  statm reads counters in O(1); smaps_rollup
 * (the "Anonymous:" the tests use) walks every page table and costs more
 * than a purge of a small heap.  The counters agree with it to within the
 * kernel's per-CPU counter slack (a few hundred KiB).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <tide/pressure.h>

#include "internal.h"

/* jemalloc's MALLCTL_ARENAS_ALL (jemalloc.h, 5.x): every arena at once. */
#define JE_ARENAS_ALL "4096"
/* Another purge in the way: its pages left that make us wait (1 MiB of
 * 4 KiB pages), and for how long at most (je_purge()). */
#define JE_SLACK 256
#define JE_WAIT_MS 500

enum kind { K_UNKNOWN, K_GLIBC, K_JEMALLOC, K_MIMALLOC, K_TCMALLOC };

typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);
typedef void (*mi_collect_fn)(bool);
typedef void (*release_fn)(void);

static const struct candidate {
	const char *sym, *name;
	enum kind kind;
} candidates[] = {
	{ "mallctl", "jemalloc", K_JEMALLOC },
	{ "mi_collect", "mimalloc", K_MIMALLOC },
	{ "MallocExtension_ReleaseFreeMemory", "tcmalloc", K_TCMALLOC },
	{ "malloc_trim", "glibc", K_GLIBC },
};

static pthread_once_t detect_once = PTHREAD_ONCE_INIT;
static enum kind kind = K_UNKNOWN;
static void *purge_fn;
static const char *alloc_name = "unknown";

static pthread_mutex_t purge_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tide_purge_stats purge_st;

/* @sym as defined in the object loaded at @base, or NULL. */
static void *symbol_in(const char *sym, const Dl_info *owner)
{
	Dl_info si;
	void *f, *h;

	f = dlsym(RTLD_DEFAULT, sym);
	if (f && dladdr(f, &si) && si.dli_fbase == owner->dli_fbase)
		return f;
	/* Another object came first in the global scope: ask the owner. */
	if (!owner->dli_fname || !*owner->dli_fname)
		return NULL;
	h = dlopen(owner->dli_fname, RTLD_LAZY | RTLD_NOLOAD);
	if (!h)
		return NULL;
	f = dlsym(h, sym);
	if (f && !(dladdr(f, &si) && si.dli_fbase == owner->dli_fbase))
		f = NULL;
	/* NOLOAD: the object stays loaded (malloc lives in it). */
	dlclose(h);
	return f;
}

/*
 * A non-PIE executable that takes malloc's address (CPython does) makes
 * its own PLT entry the canonical address: dlsym() then names the
 * executable, whose symbol is undefined.  The definition that calls really
 * reach is the first one in the global scope, which is link-map order.
 */
static bool real_malloc(void *m, Dl_info *ret)
{
	const ElfW(Sym) *sym = NULL;
	struct link_map *lm = NULL;
	void *self;

	if (!dladdr1(m, ret, (void **)&sym, RTLD_DL_SYMENT))
		return false;
	if (!sym || sym->st_shndx != SHN_UNDEF)
		return true;
	self = dlopen(NULL, RTLD_LAZY | RTLD_NOLOAD);
	if (!self)
		return false;
	if (dlinfo(self, RTLD_DI_LINKMAP, &lm))
		lm = NULL;
	dlclose(self);
	for (lm = lm ? lm->l_next : NULL; lm; lm = lm->l_next) {
		Dl_info own;
		void *h, *f;
		bool found = false;

		/* dlsym() on a handle also searches the object's
		 * dependencies: count only a malloc defined in it. */
		if (!lm->l_name || !*lm->l_name || !dladdr(lm->l_ld, &own))
			continue;
		h = dlopen(lm->l_name, RTLD_LAZY | RTLD_NOLOAD);
		if (!h)
			continue;
		f = dlsym(h, "malloc");
		sym = NULL;
		if (f && dladdr1(f, ret, (void **)&sym, RTLD_DL_SYMENT) &&
		    sym && sym->st_shndx != SHN_UNDEF &&
		    ret->dli_fbase == own.dli_fbase)
			found = true;
		dlclose(h);
		if (found)
			return true;
	}
	return false;
}

static void detect(void)
{
	Dl_info mi;
	void *m = dlsym(RTLD_DEFAULT, "malloc");

	if (!m || !real_malloc(m, &mi))
		return;
	for (size_t i = 0; i < sizeof(candidates) / sizeof(*candidates); i++) {
		void *f = symbol_in(candidates[i].sym, &mi);

		if (f) {
			kind = candidates[i].kind;
			purge_fn = f;
			alloc_name = candidates[i].name;
			return;
		}
	}
}

static void child_reinit(void)
{
	/*
	 * Another thread of the parent may have held the lock at fork.  The
	 * prepare handler does not take it: a purge in progress waits for the
	 * allocator's locks, which the allocator's own prepare handler may
	 * hold by then.  The lock guards only counters, so the child starts
	 * it afresh.
	 */
	pthread_mutex_init(&purge_lock, NULL);
}

static void fork_setup(void)
{
	pthread_atfork(NULL, NULL, child_reinit);
}

/* Without detecting the allocator: one loaded later is still found. */
void tide__purge_fork_register(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, fork_setup);
}

static void detect_all(void)
{
	detect();
	tide__purge_fork_register();
}

static void ensure_detected(void)
{
	pthread_once(&detect_once, detect_all);
}

/* Resident anonymous bytes in *@ret; false if statm cannot be read. */
static bool resident_anon(uint64_t *ret)
{
	char buf[128], *p, *end;
	unsigned long long res, shared;
	ssize_t n;
	int fd;

	fd = tide__os_open("/proc/self/statm", O_RDONLY);
	if (fd < 0)
		return false;
	do
		n = tide__os_read(fd, buf, sizeof(buf) - 1);
	while (n == -EINTR);
	tide__os_close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	/* size resident shared text lib data dt, in pages */
	strtoull(buf, &p, 10);
	res = strtoull(p, &end, 10);
	if (end == p)
		return false;
	shared = strtoull(end, &p, 10);
	if (p == end || shared > res)
		return false;
	*ret = (uint64_t)(res - shared) * tide__os_page_size();
	return true;
}

/*
 * Pages jemalloc holds free but resident (dirty and muzzy, every arena) in
 * *@ret, its statistics refreshed first (one "epoch": jemalloc 5.x keeps
 * these counts with or without its statistics option); false when they
 * cannot be read (jemalloc 4.x has no "pmuzzy").
 */
static bool je_unpurged(mallctl_fn ctl, size_t *ret)
{
	uint64_t epoch = 1;
	size_t dirty = 0, muzzy = 0, esz = sizeof(epoch);
	size_t dsz = sizeof(dirty), msz = sizeof(muzzy);

	if (ctl("epoch", &epoch, &esz, &epoch, esz) ||
	    ctl("stats.arenas." JE_ARENAS_ALL ".pdirty", &dirty, &dsz, NULL,
		0) ||
	    ctl("stats.arenas." JE_ARENAS_ALL ".pmuzzy", &muzzy, &msz, NULL, 0))
		return false;
	*ret = dirty + muzzy;
	return true;
}

/*
 * A wait ran out with nothing given back: some arena's purge is held for
 * good, as in the child of a fork made while another thread purged it
 * (jemalloc marks the arena "purging" with its lock let go, and nothing
 * clears the mark in the child).  From then on one call, until a purge is
 * seen to work again.  purge_lock held.
 */
static bool je_no_wait;

/*
 * jemalloc's purge of an arena returns at once, purging nothing, while
 * another thread purges that arena: its background thread, which gives
 * the pages back a batch at a time over the decay time (10 s by default)
 * and leaves the rest dirty meanwhile, or a thread whose free set off a
 * decay.  A trial's redis under the shim gave back 1 page of 80000 in 3
 * of 10 "tidectl drop"s.  So when a purge left at least JE_SLACK pages
 * and at least half of those there were, it is tried again every
 * millisecond, for JE_WAIT_MS at most.  A program freeing as fast as the
 * purge gives back also leaves pages, but fewer than half: that ends it.
 * The counts are every arena's together: an arena held by another purge
 * that holds less than half of them is not waited for.  purge_lock held.
 */
static void je_purge(mallctl_fn ctl)
{
	uint64_t end = tide__os_now_ns() + JE_WAIT_MS * 1000000ull;
	size_t first = 0, before, left = 0;
	bool known;

	/* Freed small blocks sit in this thread's cache first. */
	ctl("thread.tcache.flush", NULL, NULL, NULL, 0);
	known = je_unpurged(ctl, &first);
	before = first;
	for (;;) {
		ctl("arena." JE_ARENAS_ALL ".purge", NULL, NULL, NULL, 0);
		if (!known || !je_unpurged(ctl, &left))
			return;
		if (left < JE_SLACK || left < before / 2) {
			je_no_wait = false;
			return;
		}
		if (je_no_wait)
			return;
		if (tide__os_now_ns() >= end) {
			je_no_wait = left >= first / 2;
			return;
		}
		tide__os_poll(NULL, 0, 1);
		before = left; /* one refresh a round */
	}
}

static void run_purge(void)
{
	tide__kv_registry_trim(); /* kv's own table first */
	switch (kind) {
	case K_GLIBC:
		tide__os_heap_trim();
		break;
	case K_JEMALLOC:
		je_purge((mallctl_fn)purge_fn);
		break;
	case K_MIMALLOC:
		((mi_collect_fn)purge_fn)(true);
		break;
	case K_TCMALLOC:
		((release_fn)purge_fn)();
		break;
	case K_UNKNOWN:
		break;
	}
}

unsigned long tide__purge(bool *ret_measured)
{
	uint64_t before = 0, after = 0;
	unsigned long pages;
	bool measured;

	ensure_detected();
	/*
	 * One purge at a time: two racing ones would each count the pages
	 * the other gave back.
	 */
	pthread_mutex_lock(&purge_lock);
	measured = resident_anon(&before);
	run_purge();
	measured = resident_anon(&after) && measured;
	/* Unmeasured (statm unreadable: out of memory or descriptors): the
	 * purge still ran, but it counts as nothing given back. */
	pages = measured && before > after ?
			(unsigned long)((before - after) /
					tide__os_page_size()) :
			0;
	purge_st.calls++;
	purge_st.pages += pages;
	if (measured) {
		purge_st.last_before = before;
		purge_st.last_after = after;
	}
	pthread_mutex_unlock(&purge_lock);
	if (ret_measured)
		*ret_measured = measured;
	return pages;
}

unsigned long tide_purge(void)
{
	return tide__purge(NULL);
}

const char *tide_purge_allocator(void)
{
	ensure_detected();
	return alloc_name;
}

void tide_purge_stats(struct tide_purge_stats *st)
{
	if (!st)
		return;
	ensure_detected();
	pthread_mutex_lock(&purge_lock);
	*st = purge_st;
	pthread_mutex_unlock(&purge_lock);
	st->allocator = alloc_name;
}
