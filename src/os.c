// SPDX-License-Identifier: MIT
/*
 * os.c - the one layer between tide and the operating system.
 *
 * Every mmap, mremap, munmap, madvise and C heap call of the library goes
 * through here, so that tests can observe them (hooks), fail the Nth one
 * (fault injection) and check that nothing leaked (accounting).  So does
 * every other system call (files, descriptors, sockets, the clock; the end
 * of this file), so that this one file holds what tide asks of the kernel;
 * the calls that make a descriptor take part in fault injection too.
 * The contract of each wrapper is written in internal.h.
 *
 * The hooks, the fault injection and the accounting exist only in test
 * builds (TIDE_TEST_HOOKS, the tide_test library the tests and fuzzers
 * link).  A release build pays nothing for them: no shared write, no flag
 * to load, no indirect call; its heap wrappers are inline in internal.h.
 * The price is that tests run the same source built a second time with the
 * hooks in, not the installed binary (see internal.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#ifdef TIDE__ASAN
#include <sanitizer/asan_interface.h>
#endif

/*
 * close(2) as the system call itself, never through the C library's
 * close() symbol, which a program or another preload library may define
 * (the library's own descriptors must close whatever that one does).
 */
#ifdef __SANITIZE_THREAD__
/*
 * ThreadSanitizer keeps its own table of descriptors, and a close it
 * does not see makes the next descriptor on that number look like a race.
 * Its interceptor is its runtime's own symbol, never the shim's close().
 */
extern int __interceptor_close(int fd);

static int raw_close(int fd)
{
	return __interceptor_close(fd);
}
#else
static int raw_close(int fd)
{
	return (int)syscall(SYS_close, fd);
}
#endif

#ifdef TIDE_TEST_HOOKS
static void *libc_mremap(void *old, size_t old_len, size_t new_len, int flags,
			 void *new_addr)
{
	return mremap(old, old_len, new_len, flags, new_addr);
}

const struct tide__os_hooks tide__os_default_hooks = {
	.mmap = mmap,
	.munmap = munmap,
	.mremap = libc_mremap,
	.madvise = madvise,
	.mincore = mincore,
	.malloc = malloc,
	.calloc = calloc,
	.realloc = realloc,
	.free = free,
	.memcpy = memcpy,
	.sysinfo = sysinfo,
	.close = raw_close,
	.pread = pread,
	.timerfd_settime = timerfd_settime,
	.send = send,
	.pthread_create = pthread_create,
	.poll = poll,
};

static _Atomic(const struct tide__os_hooks *) hooks = &tide__os_default_hooks;

static struct {
	atomic_long heap_live, maps_live, tables_live;
	atomic_llong map_bytes;
	atomic_ullong maps, unmaps, tail_unmaps, remaps, moves, advises;
	atomic_ullong copies, copied_bytes, failable_calls;
} os_acct;

static struct {
	atomic_ulong countdown; /* 0: off; 1: fail the next call */
	atomic_bool persistent;
	atomic_bool tripped;
	atomic_ulong hits;
} os_fault;

static inline const struct tide__os_hooks *H(void)
{
	return atomic_load_explicit(&hooks, memory_order_acquire);
}

const struct tide__os_hooks *tide__os_set_hooks(const struct tide__os_hooks *h)
{
	return atomic_exchange(&hooks, h ? h : &tide__os_default_hooks);
}

/* Should this failable call fail?  Counts it either way. */
static bool inject(void)
{
	unsigned long c;

	atomic_fetch_add_explicit(&os_acct.failable_calls, 1,
				  memory_order_relaxed);
	if (atomic_load_explicit(&os_fault.tripped, memory_order_relaxed) &&
	    atomic_load_explicit(&os_fault.persistent, memory_order_relaxed)) {
		atomic_fetch_add(&os_fault.hits, 1);
		return true;
	}
	c = atomic_load_explicit(&os_fault.countdown, memory_order_relaxed);
	while (c) {
		if (atomic_compare_exchange_weak(&os_fault.countdown, &c,
						 c - 1)) {
			if (c != 1)
				return false;
			atomic_store(&os_fault.tripped, true);
			atomic_fetch_add(&os_fault.hits, 1);
			return true;
		}
	}
	return false;
}

void tide__fault_set(unsigned long nth, bool persistent)
{
	atomic_store(&os_fault.tripped, false);
	atomic_store(&os_fault.persistent, persistent);
	atomic_store(&os_fault.hits, 0);
	atomic_store(&os_fault.countdown, nth);
}

void tide__fault_clear(void)
{
	atomic_store(&os_fault.countdown, 0);
	atomic_store(&os_fault.tripped, false);
	atomic_store(&os_fault.persistent, false);
}

unsigned long tide__fault_hits(void)
{
	return atomic_load(&os_fault.hits);
}

void tide__os_stats(struct tide__os_stats *st)
{
	st->heap_live = atomic_load(&os_acct.heap_live);
	st->maps_live = atomic_load(&os_acct.maps_live);
	st->tables_live = atomic_load(&os_acct.tables_live);
	st->map_bytes = atomic_load(&os_acct.map_bytes);
	st->maps = atomic_load(&os_acct.maps);
	st->unmaps = atomic_load(&os_acct.unmaps);
	st->tail_unmaps = atomic_load(&os_acct.tail_unmaps);
	st->remaps = atomic_load(&os_acct.remaps);
	st->moves = atomic_load(&os_acct.moves);
	st->advises = atomic_load(&os_acct.advises);
	st->copies = atomic_load(&os_acct.copies);
	st->copied_bytes = atomic_load(&os_acct.copied_bytes);
	st->failable_calls = atomic_load(&os_acct.failable_calls);
}

#define ACCT_ADD(field, n) atomic_fetch_add(&os_acct.field, (n))
#define ACCT_SUB(field, n) atomic_fetch_sub(&os_acct.field, (n))
#define CALL(fn) (H()->fn)
#else
static inline bool inject(void)
{
	return false;
}

static void *libc_mremap(void *old, size_t old_len, size_t new_len, int flags,
			 void *new_addr)
{
	return mremap(old, old_len, new_len, flags, new_addr);
}

#define ACCT_ADD(field, n) ((void)0)
#define ACCT_SUB(field, n) ((void)0)
#define CALL(fn) rel_##fn
#define rel_mmap mmap
#define rel_munmap munmap
#define rel_mremap libc_mremap
#define rel_madvise madvise
#define rel_mincore mincore
#define rel_sysinfo sysinfo
#define rel_close raw_close
#define rel_pread pread
#define rel_timerfd_settime timerfd_settime
#define rel_send send
#define rel_pthread_create pthread_create
#define rel_poll poll
#endif

size_t tide__os_page_size(void)
{
	static atomic_size_t cached;
	size_t ps = atomic_load_explicit(&cached, memory_order_relaxed);

	if (!ps) {
		long v = sysconf(_SC_PAGESIZE);

		ps = v > 0 ? (size_t)v : 4096;
		atomic_store_explicit(&cached, ps, memory_order_relaxed);
	}
	return ps;
}

#ifdef TIDE__ASAN
void tide__os_poison(const void *addr, size_t len)
{
	if (len)
		ASAN_POISON_MEMORY_REGION(addr, len);
}

void tide__os_unpoison(const void *addr, size_t len)
{
	if (len)
		ASAN_UNPOISON_MEMORY_REGION(addr, len);
}

/* Memory one page of shadow describes: a shadow byte per 8 bytes. */
#define SHADOW_SPAN ((uintptr_t)4096 * 8)

/*
 * Before pages go back to the kernel (unmapped, or moved away by mremap):
 * stale shadow would make a later mapping at the address look bad.  Only
 * the stretches, one shadow page each, that hold a poisoned byte: the
 * shadow of memory never poisoned reads as zero from pages the kernel
 * never populated, and clearing it again populated them, an eighth of
 * the bytes given back (a shrink of 64 blocks from 256 KiB to 16 KiB gave
 * back 88% of its tail pages instead of 93% or more, on a kernel whose
 * read faults on the shadow map the shared zero page).
 */
static void unpoison_released(const void *addr, size_t len)
{
	uintptr_t a = (uintptr_t)addr, end = a + len;

	while (a < end) {
		uintptr_t next = (a | (SHADOW_SPAN - 1)) + 1;
		size_t n = (size_t)((next < end ? next : end) - a);

		if (__asan_region_is_poisoned((void *)a, n))
			ASAN_UNPOISON_MEMORY_REGION((void *)a, n);
		a += n;
	}
}
#else
static inline void unpoison_released(const void *addr, size_t len)
{
	(void)addr;
	(void)len;
}
#endif

static int map_prot(size_t len, int prot, void **ret_addr)
{
	void *p;

	if (inject())
		return -ENOMEM;
	p = CALL(mmap)(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return errno ? -errno : -ENOMEM;
	ACCT_ADD(maps, 1);
	ACCT_ADD(maps_live, 1);
	ACCT_ADD(map_bytes, (long long)len);
	*ret_addr = p;
	return 0;
}

int tide__os_map(size_t len, void **ret_addr)
{
	return map_prot(len, PROT_READ | PROT_WRITE, ret_addr);
}

int tide__os_reserve(size_t len, void **ret_addr)
{
	return map_prot(len, PROT_NONE, ret_addr);
}

void tide__os_unmap(void *addr, size_t len)
{
	if (!addr || !len)
		return;
	unpoison_released(addr, len);
	CALL(munmap)(addr, len);
	ACCT_ADD(unmaps, 1);
	ACCT_SUB(maps_live, 1);
	ACCT_SUB(map_bytes, (long long)len);
}

/*
 * Room on each side of a table, never touched: no page table shared with
 * a neighbour.  MAP_NORESERVE also keeps the table's VMA from merging with
 * the blocks' (different flags).  One plain mapping, no mprotect().
 */
#define TABLE_GUARD ((size_t)2 << 20)

int tide__os_map_table(size_t len, void **ret_addr)
{
	char *p;

	if (inject())
		return -ENOMEM;
	p = CALL(mmap)(NULL, len + 2 * TABLE_GUARD, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return errno ? -errno : -ENOMEM;
	ACCT_ADD(tables_live, 1);
	*ret_addr = p + TABLE_GUARD;
	return 0;
}

void tide__os_unmap_table(void *addr, size_t len)
{
	CALL(munmap)((char *)addr - TABLE_GUARD, len + 2 * TABLE_GUARD);
	ACCT_SUB(tables_live, 1);
}

int tide__os_resident(const void *addr, size_t len, unsigned char *vec)
{
	if (inject())
		return -ENOMEM;
	if (CALL(mincore)((void *)addr, len, vec))
		return -errno;
	return 0;
}

bool tide__os_mapped(const void *addr)
{
	unsigned char v;
	void *page = (void *)((uintptr_t)addr & ~(uintptr_t)4095);

	return !CALL(mincore)(page, 4096, &v) || errno != ENOMEM;
}

void tide__os_trim(void *addr, size_t len)
{
	if (!addr || !len)
		return;
	unpoison_released(addr, len);
	CALL(munmap)(addr, len);
	ACCT_SUB(map_bytes, (long long)len);
}

int tide__os_unmap_tail(void *addr, size_t old_len, size_t new_len)
{
	char *tail = (char *)addr + new_len;

	if (new_len >= old_len)
		return 0;
	if (inject())
		return -ENOMEM;
	unpoison_released(tail, old_len - new_len);
	if (CALL(munmap)(tail, old_len - new_len))
		return errno ? -errno : -ENOMEM;
	ACCT_ADD(tail_unmaps, 1);
	ACCT_SUB(map_bytes, (long long)(old_len - new_len));
	return 0;
}

int tide__os_grow_inplace(void *addr, size_t old_len, size_t new_len)
{
	void *p;

	if (inject())
		return -ENOMEM;
	p = CALL(mremap)(addr, old_len, new_len, 0, NULL);
	if (p == MAP_FAILED)
		return errno ? -errno : -ENOMEM;
	ACCT_ADD(remaps, 1);
	ACCT_ADD(map_bytes, (long long)new_len - (long long)old_len);
	return 0;
}

int tide__os_remap(void *addr, size_t old_len, size_t new_len, void **ret_addr)
{
	void *p;

	if (inject())
		return -ENOMEM;
	unpoison_released(addr, old_len); /* the pages may move away */
	p = CALL(mremap)(addr, old_len, new_len, MREMAP_MAYMOVE, NULL);
	if (p == MAP_FAILED)
		return errno ? -errno : -ENOMEM;
	ACCT_ADD(remaps, 1);
	if (p != addr)
		ACCT_ADD(moves, 1);
	ACCT_ADD(map_bytes, (long long)new_len - (long long)old_len);
	*ret_addr = p;
	return 0;
}

/*
 * One line of /proc/self/maps: does it cover [lo, hi) as an anonymous
 * private PROT_NONE mapping ("start-end ---p 00000000 00:00 0")?
 */
static bool maps_line_covers(const char *l, uintptr_t lo, uintptr_t hi)
{
	char *end;
	unsigned long long start = strtoull(l, &end, 16), stop;

	if (*end != '-')
		return false;
	stop = strtoull(end + 1, &end, 16);
	if (start > lo || stop < hi)
		return false;
	return !strncmp(end, " ---p ", 6) && strstr(end, " 00:00 0") != NULL;
}

/*
 * Is [lo, hi) inside one anonymous PROT_NONE mapping, per /proc/self/maps?
 * false when it cannot be read.  Only for failure paths: it reads the
 * whole map.
 */
static bool one_reservation(uintptr_t lo, uintptr_t hi)
{
	char buf[4096], line[512];
	size_t used = 0;
	bool found = false, skip = false;
	ssize_t n;
	int fd = tide__os_open("/proc/self/maps", O_RDONLY);

	if (fd < 0)
		return false;
	while (!found && (n = tide__os_read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n && !found; i++) {
			if (buf[i] != '\n') {
				if (used + 1 < sizeof(line))
					line[used++] = buf[i];
				else
					skip = true; /* a long name: not ours */
				continue;
			}
			line[used] = '\0';
			found = !skip && maps_line_covers(line, lo, hi);
			used = 0;
			skip = false;
		}
	}
	tide__os_close(fd);
	return found;
}

/*
 * MREMAP_FIXED unmaps the destination before it can still fail (move_vma()
 * under memory pressure), and another thread's mmap() may take the hole at
 * once; it also fails before unmapping anything (the VMA-count and
 * address-space limits are checked first).  So after a failure the range
 * is claimed back with MAP_FIXED_NOREPLACE; where something is there, it
 * is the caller's reservation if one anonymous PROT_NONE mapping still runs
 * from @dst past @dst + @new_len (the caller's reservation goes on past it:
 * an unmapped destination would have split it there).  Otherwise it is
 * someone else's, and left alone.
 */
int tide__os_remap_fixed(void *addr, size_t old_len, size_t new_len, void *dst,
			 bool *dst_ours)
{
	void *p;
	int err;

	*dst_ours = true;
	if (inject())
		return -ENOMEM;
	unpoison_released(addr, old_len);
	p = CALL(mremap)(addr, old_len, new_len, MREMAP_MAYMOVE | MREMAP_FIXED,
			 dst);
	if (p == MAP_FAILED) {
		err = errno ? -errno : -ENOMEM;
		p = CALL(mmap)(dst, new_len, PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS |
				       MAP_FIXED_NOREPLACE,
			       -1, 0);
		if (p != dst) {
			/* A kernel before 4.17 treats it as a hint. */
			if (p != MAP_FAILED)
				CALL(munmap)(p, new_len);
			*dst_ours = one_reservation(
				(uintptr_t)dst, (uintptr_t)dst + new_len + 1);
		}
		if (!*dst_ours) {
			ACCT_SUB(maps_live, 1);
			ACCT_SUB(map_bytes, (long long)new_len);
		}
		return err;
	}
	ACCT_ADD(remaps, 1);
	ACCT_ADD(moves, 1);
	/* The pages now live at @dst, inside a reservation already counted. */
	ACCT_SUB(map_bytes, (long long)old_len);
	ACCT_SUB(maps_live, 1);
	return 0;
}

int tide__os_advise(void *addr, size_t len, int advice)
{
	if (inject())
		return -ENOMEM;
	if (CALL(madvise)(addr, len, advice))
		return errno ? -errno : -EINVAL;
	ACCT_ADD(advises, 1);
	return 0;
}

int tide__os_mem_total(uint64_t *ret_bytes)
{
	struct sysinfo si;
	uint64_t unit, ram, swap, total;

	if (CALL(sysinfo)(&si))
		return errno ? -errno : -EINVAL;
	unit = si.mem_unit ? si.mem_unit : 1;
	if (__builtin_mul_overflow((uint64_t)si.totalram, unit, &ram) ||
	    __builtin_mul_overflow((uint64_t)si.totalswap, unit, &swap) ||
	    __builtin_add_overflow(ram, swap, &total))
		total = UINT64_MAX;
	*ret_bytes = total;
	return 0;
}

#ifdef TIDE_TEST_HOOKS
void *tide__os_malloc(size_t size)
{
	void *p;

	if (inject()) {
		errno = ENOMEM;
		return NULL;
	}
	p = CALL(malloc)(size);
	if (p)
		ACCT_ADD(heap_live, 1);
	return p;
}

void *tide__os_calloc(size_t n, size_t size)
{
	void *p;

	if (inject()) {
		errno = ENOMEM;
		return NULL;
	}
	p = CALL(calloc)(n, size);
	if (p)
		ACCT_ADD(heap_live, 1);
	return p;
}

void *tide__os_realloc(void *old, size_t size)
{
	void *p;

	if (!old)
		return tide__os_malloc(size);
	if (inject()) {
		errno = ENOMEM;
		return NULL;
	}
	/* size 0 would free @old in glibc; tide never asks for that. */
	p = CALL(realloc)(old, size ? size : 1);
	return p;
}

void tide__os_free(void *p)
{
	if (!p)
		return;
	CALL(free)(p);
	ACCT_SUB(heap_live, 1);
}

#endif

size_t tide__os_usable_size(void *p)
{
	return p ? malloc_usable_size(p) : 0;
}

#ifdef TIDE_TEST_HOOKS
void tide__os_copy(void *dst, const void *src, size_t n)
{
	ACCT_ADD(copies, 1);
	ACCT_ADD(copied_bytes, n);
	CALL(memcpy)(dst, src, n);
}
#endif

bool tide__os_heap_trim(void)
{
	return malloc_trim(0) != 0;
}

/* ---- the library's descriptors ---------------------------------------- */

/* tide__os_fds_forget(): tide__os_close() forgets instead of closing. */
static _Thread_local bool fd_forgetting;

bool tide__os_fds_forget(bool on)
{
	bool was = fd_forgetting;

	fd_forgetting = on;
	return was;
}

static bool fd_is(int fd, const char *kind)
{
	char path[64], link[64];
	size_t kl = strlen(kind);
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link));
	if (n < 0)
		/* closed, unless there is no /proc to tell */
		return errno != ENOENT || access("/proc/self/fd", F_OK) != 0;
	return (size_t)n >= kl && !memcmp(link, kind, kl);
}

bool tide__os_fds_are(const struct tide__os_fd *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i].fd >= 0 && !fd_is(fds[i].fd, fds[i].kind))
			return false;
	return true;
}

/* One line of an epoll's fdinfo: is it the entry (@tfd, @data)? */
static bool fdinfo_entry_is(const char *line, int tfd, uint64_t data)
{
	unsigned long long d;
	unsigned ev;
	int t;

	return sscanf(line, "tfd: %d events: %x data: %llx", &t, &ev, &d) ==
		       3 &&
	       t == tfd && d == data;
}

int tide__os_epoll_holds(int epfd, int tfd, uint64_t data)
{
	char path[64], buf[1024];
	size_t used = 0;
	int fd, found = 0, err;

	if (inject())
		return -ENOMEM;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", epfd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		/* closed, unless there is no /proc to tell */
		if (err == ENOENT && !access("/proc/self/fdinfo", F_OK))
			return 0;
		return -err;
	}
	/*
	 * Line by line; a line longer than the buffer is no entry of ours.
	 * A program closing every descriptor meanwhile may close this one
	 * and reopen the number: after EBADF, or a first line that is not
	 * fdinfo's, the number is left alone (a leak beats closing the
	 * program's file) and the answer is "cannot tell".
	 */
	for (bool first = true;;) {
		ssize_t n = read(fd, buf + used, sizeof(buf) - 1 - used);
		char *line = buf, *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EBADF)
			return -EBADF;
		if (n <= 0)
			break;
		if (first && (n < 4 || memcmp(buf, "pos:", 4)))
			return -EBADF;
		first = false;
		used += (size_t)n;
		buf[used] = '\0';
		while ((nl = strchr(line, '\n'))) {
			*nl = '\0';
			found |= fdinfo_entry_is(line, tfd, data);
			line = nl + 1;
		}
		used -= (size_t)(line - buf);
		if (used == sizeof(buf) - 1)
			used = 0;
		memmove(buf, line, used);
	}
	CALL(close)(fd);
	return found;
}

bool tide__os_epoll_park(int fd)
{
	int ep = tide__os_epoll_create();
	bool done;

	if (ep < 0)
		return false;
	done = tide__os_dup3(ep, fd, O_CLOEXEC) == fd;
	tide__os_close(ep);
	return done;
}

/* ---- files, descriptors, sockets, the clock and the process ------------ */

/* A system call's result in the contract's form: -errno on failure. */
static inline long ret_n(long r)
{
	return r < 0 ? -errno : r;
}

/* For the calls that return 0 or -1. */
#define RET(expr) ((expr) < 0 ? -errno : 0)
#define RET_N(expr) ret_n(expr)

/*
 * A descriptor tide keeps never sits on 0, 1 or 2.  A program started
 * with stdin, stdout or stderr closed (or that closed them) would
 * otherwise get tide's file in their place: its write to "stdout" would
 * land on a monitor's eventfd (a review's program stopped its monitor so,
 * silently), and the /dev/null it opens there later would get another
 * number.  Such a descriptor moves to 3 or above; if it cannot, the call
 * fails with nothing left open.
 */
static int above_stdio(int fd)
{
	int nfd, err;

	if (fd < 0 || fd > 2)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	err = errno;
	CALL(close)(fd);
	return nfd < 0 ? -err : nfd;
}

int tide__os_open(const char *path, int flags)
{
	if (inject())
		return -ENOMEM;
	return above_stdio(RET_N(open(path, flags | O_CLOEXEC)));
}

int tide__os_close(int fd)
{
	if (fd_forgetting)
		return 0;
	/* gone even when close() failed (Linux) */
	return RET(CALL(close)(fd));
}

int tide__os_close_range(unsigned lo, unsigned hi, int flags)
{
	return RET(syscall(SYS_close_range, lo, hi, flags));
}

int tide__os_dup3(int old, int fd, int flags)
{
	return (int)RET_N(syscall(SYS_dup3, old, fd, flags));
}

ssize_t tide__os_read(int fd, void *buf, size_t len)
{
	return RET_N(read(fd, buf, len));
}

ssize_t tide__os_pread(int fd, void *buf, size_t len, off_t off)
{
	return RET_N(CALL(pread)(fd, buf, len, off));
}

ssize_t tide__os_write(int fd, const void *buf, size_t len)
{
	return RET_N(write(fd, buf, len));
}

int tide__os_fstat(int fd, struct stat *st)
{
	return RET(fstat(fd, st));
}

int tide__os_file_id(int fd, struct tide__file_id *ret)
{
	struct stat st;
	int r = tide__os_fstat(fd, &st);

	if (r)
		return r;
	ret->dev = (uint64_t)st.st_dev;
	ret->ino = (uint64_t)st.st_ino;
	return 0;
}

int tide__os_same_file(int fd, const struct tide__file_id *id)
{
	struct tide__file_id now;
	int r = tide__os_file_id(fd, &now);

	if (r)
		return r;
	return now.dev == id->dev && now.ino == id->ino ? 0 : -EBADF;
}

int tide__os_stat(const char *path, struct stat *st)
{
	return RET(stat(path, st));
}

int tide__os_lstat(const char *path, struct stat *st)
{
	return RET(lstat(path, st));
}

int tide__os_lstatat(int dirfd, const char *name, struct stat *st)
{
	return RET(fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW));
}

int tide__os_fstatfs(int fd, struct statfs *st)
{
	return RET(fstatfs(fd, st));
}

int tide__os_exists(const char *path)
{
	return RET(access(path, F_OK));
}

int tide__os_mkdir(const char *path, mode_t mode)
{
	return RET(mkdir(path, mode));
}

int tide__os_chmod(const char *path, mode_t mode)
{
	return RET(chmod(path, mode));
}

int tide__os_fchmod(int fd, mode_t mode)
{
	return RET(fchmod(fd, mode));
}

int tide__os_unlink(const char *path)
{
	return RET(unlink(path));
}

ssize_t tide__os_getdents(int fd, void *buf, size_t len)
{
	return RET_N((ssize_t)syscall(SYS_getdents64, fd, buf, len));
}

int tide__os_nread(int fd, int *n)
{
	return RET(ioctl(fd, FIONREAD, n));
}

int tide__os_poll(struct pollfd *fds, unsigned nfds, int timeout_ms)
{
	return RET_N(CALL(poll)(fds, (nfds_t)nfds, timeout_ms));
}

int tide__os_eventfd(void)
{
	if (inject())
		return -ENOMEM;
	return above_stdio(RET_N(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)));
}

void tide__os_event_signal(int fd)
{
	uint64_t one = 1;

	while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

bool tide__os_event_take(int fd)
{
	uint64_t v;

	return read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v);
}

int tide__os_timerfd(void)
{
	if (inject())
		return -ENOMEM;
	return above_stdio(RET_N(
		timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)));
}

int tide__os_timer_set(int fd, bool abs, const struct itimerspec *its)
{
	return RET(CALL(timerfd_settime)(fd, abs ? TFD_TIMER_ABSTIME : 0, its,
					 NULL));
}

int tide__os_epoll_create(void)
{
	if (inject())
		return -ENOMEM;
	return above_stdio(RET_N(epoll_create1(EPOLL_CLOEXEC)));
}

int tide__os_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	/* Only an add allocates in the kernel (and counts against
	 * max_user_watches): it is the one that can fail for want of
	 * memory, and the one the fault hook fails. */
	if (op == EPOLL_CTL_ADD && inject())
		return -ENOMEM;
	return RET(epoll_ctl(epfd, op, fd, ev));
}

int tide__os_epoll_wait(int epfd, struct epoll_event *evs, int n,
			int timeout_ms)
{
	return RET_N(epoll_wait(epfd, evs, n, timeout_ms));
}

int tide__os_unix_socket(bool nonblock)
{
	if (inject())
		return -ENOMEM;
	return above_stdio(RET_N(socket(AF_UNIX,
					SOCK_STREAM | SOCK_CLOEXEC |
						(nonblock ? SOCK_NONBLOCK : 0),
					0)));
}

int tide__os_connect(int fd, const struct sockaddr_un *sa)
{
	return RET(connect(fd, (const struct sockaddr *)sa, sizeof(*sa)));
}

int tide__os_bind(int fd, const struct sockaddr_un *sa)
{
	return RET(bind(fd, (const struct sockaddr *)sa, sizeof(*sa)));
}

int tide__os_listen(int fd, int backlog)
{
	return RET(listen(fd, backlog));
}

int tide__os_accept(int fd)
{
	if (inject())
		return -ENOMEM;
	return above_stdio(
		RET_N(accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)));
}

int tide__os_peer_cred(int fd, struct ucred *cr)
{
	socklen_t len = sizeof(*cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cr, &len))
		return -errno;
	return len == sizeof(*cr) ? 0 : -EPROTO;
}

ssize_t tide__os_recv(int fd, void *buf, size_t len)
{
	return RET_N(recv(fd, buf, len, MSG_DONTWAIT));
}

ssize_t tide__os_send(int fd, const void *buf, size_t len)
{
	return RET_N(CALL(send)(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT));
}

pid_t tide__os_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

pid_t tide__os_getpid(void)
{
	return getpid();
}

void tide__os_signals_block(sigset_t *old)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, old);
}

void tide__os_signals_restore(const sigset_t *old)
{
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* pthread_create() with @attr and every signal blocked around it. */
static int spawn(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *),
		 void *arg)
{
	sigset_t old;
	int r;

	/* pthread_create()'s error when the system lacks the resources. */
	if (inject())
		return -EAGAIN;
	tide__os_signals_block(&old);
	r = CALL(pthread_create)(t, attr, fn, arg);
	tide__os_signals_restore(&old);
	return -r;
}

int tide__os_thread_create(pthread_t *t, void *(*fn)(void *), void *arg)
{
	return spawn(t, NULL, fn, arg);
}

int tide__os_thread_create_detached(void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	pthread_t t;
	int r = pthread_attr_init(&attr);

	if (r)
		return -r;
	r = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = r ? -r : spawn(&t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return r;
}

uid_t tide__os_geteuid(void)
{
	return geteuid();
}

void tide__os_wall_time(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

uint64_t tide__os_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int tide__os_wrlock_wait(pthread_rwlock_t *lock, unsigned ms)
{
	struct timespec ts;
#if TIDE__WRLOCK_MONOTONIC
	const clockid_t clock = CLOCK_MONOTONIC;
#else
	const clockid_t clock = CLOCK_REALTIME;
#endif

	clock_gettime(clock, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
#if TIDE__WRLOCK_MONOTONIC
	return -pthread_rwlock_clockwrlock(lock, clock, &ts);
#else
	return -pthread_rwlock_timedwrlock(lock, &ts);
#endif
}

int tide__os_unlinkat(int dirfd, const char *name)
{
	return RET(unlinkat(dirfd, name, 0));
}
