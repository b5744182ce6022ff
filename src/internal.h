/* SPDX-License-Identifier: MIT */
/*
 * internal.h - tide__ internals shared between modules and with the tests.
 * Nothing here is exported from the shared library.
 */
#ifndef TIDE_INTERNAL_H
#define TIDE_INTERNAL_H

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>

#include <tide/common.h>

#include "size.h"

#define TIDE__MIN(a, b) ((a) < (b) ? (a) : (b))
#define TIDE__MAX(a, b) ((a) > (b) ? (a) : (b))
#define TIDE__ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((size_t)(a)-1))
#define TIDE__ALIGN_DOWN(x, a) ((x) & ~((size_t)(a)-1))
#define TIDE__HUGE_SIZE ((size_t)2 << 20)

#if defined(__SANITIZE_ADDRESS__)
#define TIDE__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TIDE__ASAN 1
#endif
#endif

/* ---------------------------------------------------------------------
 * os.c: the only place that calls mmap, mremap, munmap, madvise and the
 * C heap.  Contract of every wrapper:
 *  - lengths handed to the mapping calls are multiples of the page size;
 *  - mapping calls return 0 (or the address) on success and a negative
 *    errno on failure, the heap calls NULL with errno set;
 *  - a failure changes nothing (the kernel and libc promise that, and the
 *    fault injector fails before calling them).
 * Calls marked "failable" take part in fault injection; releasing a whole
 * mapping or a heap block never fails and is not counted.
 * ------------------------------------------------------------------- */

/*
 * The hooks: the raw primitives os.c calls.  Tests replace them (the way
 * jemalloc's tests replace hpa_hooks_t) to observe or alter what reaches the
 * kernel; the defaults are libc's.
 */
struct sysinfo;

struct itimerspec;

struct tide__os_hooks {
	void *(*mmap)(void *addr, size_t len, int prot, int flags, int fd,
		      off_t off);
	int (*munmap)(void *addr, size_t len);
	void *(*mremap)(void *old, size_t old_len, size_t new_len, int flags,
			void *new_addr);
	int (*madvise)(void *addr, size_t len, int advice);
	int (*mincore)(void *addr, size_t len, unsigned char *vec);
	void *(*malloc)(size_t size);
	void *(*calloc)(size_t n, size_t size);
	void *(*realloc)(void *p, size_t size);
	void (*free)(void *p);
	void *(*memcpy)(void *dst, const void *src, size_t n);
	int (*sysinfo)(struct sysinfo *info);
	/* descriptors: tests stop a thread at a given close or read */
	int (*close)(int fd);
	ssize_t (*pread)(int fd, void *buf, size_t len, off_t off);
	int (*timerfd_settime)(int fd, int flags, const struct itimerspec *its,
			       struct itimerspec *old);
	/* tests act between a socket's connect and the first send */
	ssize_t (*send)(int fd, const void *buf, size_t len, int flags);
	/* tests hold a library thread back before its first instruction */
	int (*pthread_create)(pthread_t *t, const pthread_attr_t *attr,
			      void *(*fn)(void *), void *arg);
	/* tests hold a monitor's thread at the edge of its sleep */
	int (*poll)(struct pollfd *fds, nfds_t nfds, int timeout);
};

/* Install @hooks (NULL: the defaults); returns the previous table.
 * Test builds (TIDE_TEST_HOOKS) only, as are tide__os_stats() and the
 * fault injection below. */
const struct tide__os_hooks *tide__os_set_hooks(const struct tide__os_hooks *h);
extern const struct tide__os_hooks tide__os_default_hooks;

size_t tide__os_page_size(void);

/* Failable: a fresh private anonymous read/write mapping; 0 or -errno. */
int tide__os_map(size_t len, void **ret_addr);
/* Failable: PROT_NONE reservation (for aligned placement). */
int tide__os_reserve(size_t len, void **ret_addr);
/* Never fails (a whole mapping or an unused part of a reservation). */
void tide__os_unmap(void *addr, size_t len);
/*
 * Failable: a zeroed read/write mapping for a library table (kv's paged
 * block registry), counted apart from the blocks' mappings (tables_live):
 * such tables live as long as the process, so leak checks look at
 * maps_live and heap_live only.  It sits between two untouched 2 MiB
 * margins of a MAP_NORESERVE mapping: it never merges with, nor shares a
 * page table with, the mappings it describes (on this project's VM, reading a table page that
 * shares a page table with a block made the block's munmap 20% dearer).
 */
int tide__os_map_table(size_t len, void **ret_addr);
/* Never fails: unmap a table from tide__os_map_table() nobody can reach. */
void tide__os_unmap_table(void *addr, size_t len);
/*
 * Failable: mincore(), one byte per page of [addr, addr+len), bit 0 =
 * resident; 0 or -errno (the fault injector's -ENOMEM included).
 */
int tide__os_resident(const void *addr, size_t len, unsigned char *vec);
/* Never fails: is the page holding @addr mapped (mincore() not ENOMEM)? */
bool tide__os_mapped(const void *addr);
/* Never fails: unmap [addr, addr+len) of a mapping that stays live
 * (trimming the slack of an aligned placement: no VMA is split). */
void tide__os_trim(void *addr, size_t len);
/* Failable: unmap the tail [addr+new_len, addr+old_len) of a mapping. */
int tide__os_unmap_tail(void *addr, size_t old_len, size_t new_len);
/* Failable: grow a mapping in place (no move); -ENOMEM if no room. */
int tide__os_grow_inplace(void *addr, size_t old_len, size_t new_len);
/* Failable: move/grow a mapping anywhere (MREMAP_MAYMOVE). */
int tide__os_remap(void *addr, size_t old_len, size_t new_len, void **ret_addr);
/*
 * Failable: move/grow a mapping to @dst, inside the caller's reservation.
 * On failure the mapping is unchanged and *@dst_ours says whether
 * [dst, dst + new_len) is still part of the reservation (false: leave that
 * range alone, it may be another mapping's now, and it is no longer
 * counted as tide's).
 */
int tide__os_remap_fixed(void *addr, size_t old_len, size_t new_len, void *dst,
			 bool *dst_ours);
/* Failable: madvise(); 0 or -errno. */
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14; older kernels: -EINVAL */
#endif
int tide__os_advise(void *addr, size_t len, int advice);
/*
 * The machine's total RAM plus total swap in bytes (sysinfo(2), saturated
 * at UINT64_MAX): the most memory reclaim could ever make room for.  0 or
 * -errno; not failable (no allocation, no descriptor), but the sysinfo
 * hook can fail it.
 */
int tide__os_mem_total(uint64_t *ret_bytes);

/*
 * Failable heap calls; NULL with errno ENOMEM on failure.
 *
 * Test hooks cost nothing in a release build: the library's objects are
 * compiled twice.  The shared and static libraries that are installed are
 * built without TIDE_TEST_HOOKS: the heap wrappers below are inline calls
 * of libc (no counter, no flag, no indirect call: kv's heap path is a tail
 * call of malloc/free), and os.c's mapping wrappers do no accounting.  The
 * tests and fuzzers link tide_test, built with -DTIDE_TEST_HOOKS, where
 * every wrapper goes through the hook table, takes part in fault injection
 * and is counted (process-wide atomics: fine for tests, 20x too slow for
 * two threads sharing a cache line in production, see issue 15).  The
 * trade-off: what the tests exercise is the same source with the hooks
 * compiled in, not the very binary users link; the hooks sit only in these
 * wrappers, so the code paths above them are the same.
 */
#ifdef TIDE_TEST_HOOKS
void *tide__os_malloc(size_t size);
void *tide__os_calloc(size_t n, size_t size);
void *tide__os_realloc(void *p, size_t size);
void tide__os_free(void *p);
#else
static inline void *tide__os_malloc(size_t size)
{
	return malloc(size);
}

static inline void *tide__os_calloc(size_t n, size_t size)
{
	return calloc(n, size);
}

static inline void *tide__os_realloc(void *p, size_t size)
{
	/* size 0 would free @p in glibc; tide never asks for that. */
	return realloc(p, size ? size : 1);
}

static inline void tide__os_free(void *p)
{
	free(p);
}
#endif
size_t tide__os_usable_size(void *p);
/*
 * Frees in a fork child handler.  Child handlers run in the order they
 * were registered, and a program may hold its allocator's lock across
 * fork() with a handler registered after tide's: a free() in tide's then
 * waits for it forever.  The preload shim's fork(), daemon() and forkpty() set
 * tide__fork_wrapped on their thread around libc's fork() and call
 * tide__child_frees() once it has returned in the child, after every
 * handler; tide__child_free() holds the blocks until then.  Anywhere
 * else (no wrapper: the library in a program, which orders its own
 * handlers) it frees at once.  At most TIDE__CHILD_FREES blocks are
 * held; more are freed at once.
 */
extern _Thread_local bool tide__fork_wrapped;
#define TIDE__CHILD_FREES 160
void tide__child_free(void *p); /* common.c */
void tide__child_frees(void);
/*
 * memcpy that is counted (test builds): kv copies bytes only through this.
 * A release build calls memcpy inline (a review: an out-of-line call).
 */
#ifdef TIDE_TEST_HOOKS
void tide__os_copy(void *dst, const void *src, size_t n);
#else
static inline void tide__os_copy(void *dst, const void *src, size_t n)
{
	memcpy(dst, src, n);
}
#endif
/* malloc_trim(0): returns true if memory was released. */
bool tide__os_heap_trim(void);

/*
 * ASan poisoning.  In other builds inline no-ops: the arena's cached alloc
 * and free paths call them, and an empty function called out of line was
 * two calls per cached allocation (a review).
 */
#ifdef TIDE__ASAN
void tide__os_poison(const void *addr, size_t len);
void tide__os_unpoison(const void *addr, size_t len);
#else
static inline void tide__os_poison(const void *addr, size_t len)
{
	(void)addr;
	(void)len;
}

static inline void tide__os_unpoison(const void *addr, size_t len)
{
	(void)addr;
	(void)len;
}
#endif

/* Accounting, for leak checks and for asserting what happened. */
struct tide__os_stats {
	long heap_live; /* live heap blocks */
	long maps_live; /* live mappings (map - whole unmaps) */
	long tables_live; /* live library tables (tide__os_map_table) */
	long long map_bytes; /* bytes currently mapped through os.c */
	unsigned long long maps, unmaps, tail_unmaps, remaps, moves, advises;
	unsigned long long copies, copied_bytes;
	unsigned long long failable_calls; /* calls that could be failed */
};
void tide__os_stats(struct tide__os_stats *st);

/*
 * Fault injection (SQLite's OOM loop): fail the @nth failable call from now
 * on (1 = the next one); with @persistent every later one fails too.
 * @nth 0 disables.  tide__fault_hits() says how many calls were failed.
 */
void tide__fault_set(unsigned long nth, bool persistent);
void tide__fault_clear(void);
unsigned long tide__fault_hits(void);

/* ---------------------------------------------------------------------
 * os.c, the rest of the system calls: files, descriptors, sockets, the
 * clock and the process.  Every one the library makes goes through here
 * too, so one file holds everything tide asks of the kernel.  Contract:
 *  - success returns what the system call returns (a descriptor, a byte
 *    count, 0); failure returns -errno and changes nothing;
 *  - nothing retries EINTR or EAGAIN (the callers' loops decide), except
 *    tide__os_event_signal(), which says so;
 *  - every descriptor is opened close-on-exec.
 * ------------------------------------------------------------------- */

struct stat;
struct statfs;
struct pollfd;
struct epoll_event;
struct sockaddr_un;
struct ucred;

/*
 * True for the errors that say the process ran out of something (memory,
 * descriptors: ENOMEM, EMFILE, ENFILE) rather than that a file or feature
 * is absent.  Code that falls back when something is absent fails on
 * these instead, so a call never quietly does less than it would have.
 */
static inline bool tide__os_exhausted(long err)
{
	return err == -ENOMEM || err == -EMFILE || err == -ENFILE;
}

/*
 * The calls that make a descriptor (open, eventfd, timerfd, epoll,
 * socket, accept) are failable like the heap calls: in test builds the
 * fault injector fails them with -ENOMEM (which the kernel returns too),
 * so the OOM loop covers every descriptor a function opens.
 */

/* open(2) with O_CLOEXEC added; no mode, so never with O_CREAT. */
int tide__os_open(const char *path, int flags);
/*
 * close(2), made as the system call itself (never through a close()
 * another library may define); a descriptor is gone afterwards
 * even on -EINTR (Linux).  Under tide__os_fds_forget() it only forgets
 * @fd: no system call.
 */
int tide__os_close(int fd);
/*
 * On this thread, while @on: tide__os_close() forgets the number instead
 * of closing it, for an object whose descriptors were taken from it (the
 * program closed them; the numbers may be its own by now).  Returns the
 * previous setting.
 */
bool tide__os_fds_forget(bool on);
/* A descriptor of the library's and the kind it was made as. */
struct tide__os_fd {
	int fd; /* < 0: none, not checked */
	const char *kind; /* one of TIDE__FD_* */
};
#define TIDE__FD_EPOLL "anon_inode:[eventpoll]"
#define TIDE__FD_EVENT "anon_inode:[eventfd]"
#define TIDE__FD_TIMER "anon_inode:[timerfd]"
#define TIDE__FD_SOCKET "socket:"
/*
 * Is each of the @n descriptors of @fds (those >= 0) still what the
 * library made, as far as /proc/self/fd tells: does its link start with
 * its kind?  True when there is no /proc to ask.  The lost check of the
 * frees and fork handlers of the objects with a thread on an epoll (a
 * monitor, the ctl listener): a program may have closed their descriptors
 * behind the library's back (a close_range(2)).  False means the
 * object is lost: its numbers may be the program's now.  It cannot tell
 * the program's own epoll or eventfd from the library's on the same
 * number.
 */
bool tide__os_fds_are(const struct tide__os_fd *fds, size_t n);
/*
 * Does number @epfd hold an epoll instance with an entry for number @tfd
 * whose data is @data (its /proc/self/fdinfo lists every entry)?  With a
 * key in @data that nobody else uses, "yes" tells the library's own epoll
 * from one the program put on the number.  Return: 1 yes; 0 no (closed,
 * no epoll, or another epoll); -errno when it cannot tell (no /proc, out
 * of descriptors or memory).
 */
int tide__os_epoll_holds(int epfd, int tfd, uint64_t data);
/*
 * Put an empty epoll instance of this process's own on number @fd, in
 * place of what it held (a forked child's copy of the parent's epoll,
 * which the child's loop may still poll).  True when done; false (out of
 * descriptors or memory) leaves @fd as it was.
 */
bool tide__os_epoll_park(int fd);
/*
 * close_range(2) and dup3(2), the system calls themselves: the preload
 * shim's fallbacks when the C library has no close_range(), closefrom()
 * or dup3() of its own.  Neither counts nor forgets a descriptor.
 */
int tide__os_close_range(unsigned lo, unsigned hi, int flags);
int tide__os_dup3(int old, int fd, int flags);
ssize_t tide__os_read(int fd, void *buf, size_t len);
ssize_t tide__os_pread(int fd, void *buf, size_t len, off_t off);
ssize_t tide__os_write(int fd, const void *buf, size_t len);
int tide__os_fstat(int fd, struct stat *st);
/* What a descriptor was opened on: its file's device and inode. */
struct tide__file_id {
	uint64_t dev, ino;
};
/* Note in *@ret what @fd is open on (fstat(2)); 0 or -errno. */
int tide__os_file_id(int fd, struct tide__file_id *ret);
/*
 * Is @fd still open on the file noted in @id?  0 yes; -EBADF when it holds
 * another file (the program's, on a number it closed and reused), or
 * fstat()'s -errno (closed: -EBADF too).
 */
int tide__os_same_file(int fd, const struct tide__file_id *id);
int tide__os_stat(const char *path, struct stat *st);
int tide__os_lstat(const char *path, struct stat *st);
/* fstatat(2) of @name in directory @dirfd, not following a symlink. */
int tide__os_lstatat(int dirfd, const char *name, struct stat *st);
int tide__os_fstatfs(int fd, struct statfs *st);
/* 0 if @path exists (access(F_OK)). */
int tide__os_exists(const char *path);
int tide__os_mkdir(const char *path, mode_t mode);
int tide__os_chmod(const char *path, mode_t mode);
int tide__os_fchmod(int fd, mode_t mode);
int tide__os_unlink(const char *path);
/* unlinkat(2) of @name in directory @dirfd (flags 0: not a directory). */
int tide__os_unlinkat(int dirfd, const char *name);
/* getdents64(2): directory entries without opendir()'s heap buffer. */
ssize_t tide__os_getdents(int fd, void *buf, size_t len);
/* Bytes waiting to be read on @fd (FIONREAD), in *@n. */
int tide__os_nread(int fd, int *n);
int tide__os_poll(struct pollfd *fds, unsigned nfds, int timeout_ms);

/* A non-blocking eventfd, counter 0. */
int tide__os_eventfd(void);
/* Add 1 to eventfd @fd (retries EINTR; a full counter stays signalled). */
void tide__os_event_signal(int fd);
/* Read and reset eventfd or timerfd @fd; true if it had fired. */
bool tide__os_event_take(int fd);
/* A non-blocking CLOCK_MONOTONIC timerfd. */
int tide__os_timerfd(void);
/* timerfd_settime(2); @abs: TFD_TIMER_ABSTIME. */
int tide__os_timer_set(int fd, bool abs, const struct itimerspec *its);
int tide__os_epoll_create(void);
int tide__os_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
int tide__os_epoll_wait(int epfd, struct epoll_event *evs, int n,
			int timeout_ms);

/* An AF_UNIX stream socket; @nonblock: SOCK_NONBLOCK. */
int tide__os_unix_socket(bool nonblock);
int tide__os_connect(int fd, const struct sockaddr_un *sa);
int tide__os_bind(int fd, const struct sockaddr_un *sa);
/*
 * sock_path.c: bind(2) or connect(2) @fd to the AF_UNIX socket path @path, of any
 * length: one sun_path cannot hold goes through /proc/self/fd, an O_PATH
 * descriptor of its directory (bind) or of the socket (connect), closed
 * again.  0 or -errno; -ENAMETOOLONG for such a path without /proc, or a
 * bind's final name of over 82 bytes.
 */
int tide__sock_bind_path(int fd, const char *path);
int tide__sock_connect_path(int fd, const char *path);
/*
 * connect(2) @fd to @name in directory @dir, open as @dirfd: through
 * /proc/self/fd/@dirfd/@name, the directory @dirfd holds whatever @dir
 * names now (no descriptor opened); without /proc through @dir/@name,
 * -ENAMETOOLONG when that does not fit sun_path.
 */
int tide__sock_connect_at(int fd, int dirfd, const char *dir, const char *name);
int tide__os_listen(int fd, int backlog);
/* accept4(2): a non-blocking close-on-exec connection, peer not asked. */
int tide__os_accept(int fd);
/* The peer's credentials (SO_PEERCRED). */
int tide__os_peer_cred(int fd, struct ucred *cr);
/* recv(2)/send(2) with MSG_DONTWAIT; send also MSG_NOSIGNAL. */
ssize_t tide__os_recv(int fd, void *buf, size_t len);
ssize_t tide__os_send(int fd, const void *buf, size_t len);

pid_t tide__os_getpid(void);
/* The calling thread's kernel id (gettid(2)). */
pid_t tide__os_gettid(void);
/* Block every signal the calling thread can block, saving its mask in
 * *@old; restore that mask. */
void tide__os_signals_block(sigset_t *old);
void tide__os_signals_restore(const sigset_t *old);
/*
 * pthread_create(3) with default attributes and every signal blocked
 * around it, so that the new thread starts with all of them blocked and
 * none meant for the program lands on it; the caller's mask is restored.
 * 0 or -errno.  Failable: in test builds the fault injector fails it with
 * -EAGAIN, the error pthread_create() gives when the system lacks the
 * resources for another thread.
 */
int tide__os_thread_create(pthread_t *t, void *(*fn)(void *), void *arg);
/* The same, the thread detached from its start (nobody joins it). */
int tide__os_thread_create_detached(void *(*fn)(void *), void *arg);
uid_t tide__os_geteuid(void);
/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t tide__os_now_ns(void);

/*
 * The monitor's and the listener's epoll entries carry a key of their
 * owner's in the high half of their data (the low half is the tag): 32
 * bits from @owner's address, @pid and the time, mixed, with the top one
 * set (the high half of a user-space pointer, which programs often put
 * there, has it clear).
 */
static inline uint32_t tide__epoll_key(const void *owner, pid_t pid)
{
	uint64_t x = (uint64_t)(uintptr_t)owner ^ tide__os_now_ns() ^
		     (uint64_t)pid << 40;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return (uint32_t)x | 0x80000000u;
}

/*
 * A guarded thread's check of its epoll in /proc (tide__monitor_guard(),
 * tide__ctl_guard()) is due at most every 100 ms: near a watermark the
 * monitor's thread wakes every few milliseconds, and a check costs tens
 * of microseconds.  Not before the first wait either: the thread starts
 * as the process does, when a daemon closes its descriptors, and the
 * check opens one of its own.  In between, an event from an epoll the
 * program put on the number has no key.  *@checked_ns: the last check.
 */
static inline bool tide__guard_due(uint64_t *checked_ns)
{
	uint64_t now = tide__os_now_ns();

	if (!*checked_ns) {
		*checked_ns = now;
		return false;
	}
	if (now - *checked_ns < 100 * 1000000ull)
		return false;
	*checked_ns = now;
	return true;
}
/*
 * glibc 2.30 has pthread_rwlock_clockwrlock(), whose deadline is on the
 * monotonic clock: a wall clock stepped back while a thread waits does
 * not stretch the wait.  ThreadSanitizer does not intercept it (it would
 * not see the lock taken), so those builds wait on the wall clock.
 */
#if defined(__SANITIZE_THREAD__)
#define TIDE__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TIDE__TSAN 1
#endif
#endif
#if defined(__GLIBC_PREREQ) && !defined(TIDE__TSAN)
#define TIDE__WRLOCK_MONOTONIC __GLIBC_PREREQ(2, 30)
#else
#define TIDE__WRLOCK_MONOTONIC 0
#endif
/* Take @lock for writing, waiting at most @ms milliseconds, on the
 * monotonic clock where TIDE__WRLOCK_MONOTONIC; 0, or -ETIMEDOUT. */
int tide__os_wrlock_wait(pthread_rwlock_t *lock, unsigned ms);
struct timespec;
/* CLOCK_REALTIME now, in *@ts: the clock of file times. */
void tide__os_wall_time(struct timespec *ts);

/* ---------------------------------------------------------------------
 * common.c
 * ------------------------------------------------------------------- */

/* Report misuse through the error handler, then abort(). */
_Noreturn void tide__misuse(const char *what, const void *ptr);
/* Report misuse through the error handler and return: the caller rejects
 * the call and leaves its state untouched (arena frees of foreign pointers). */
void tide__report(const char *what, const void *ptr);
/* tide__parse_size(): size.h */
/* @pct percent of @v, without overflow. */
uint64_t tide__pct_of(uint64_t v, unsigned pct);

/* ---------------------------------------------------------------------
 * kv.c
 * ------------------------------------------------------------------- */

/*
 * Bytes a kvrealloc of live block @p to @size would leave committed: for a
 * paged block the page-rounded mapping it would keep (shrinks never move),
 * for a heap block @size.  Lets vec decide whether a shrink frees a page.
 */
size_t tide__kv_committed_for(const void *p, size_t size);
/* Bytes committed for @p now, in the same measure. */
size_t tide__kv_committed(const void *p);
/* The page unit of a paged block (page size or 2 MiB); 0 for a heap one. */
size_t tide__kv_unit(const void *p);
/* Give back the registry's pages that hold no live block (tide_purge()). */
void tide__kv_registry_trim(void);
/* Resident bytes of the registry: its leaves, or all its nodes (tests). */
size_t tide__kv_registry_resident(bool leaves_only);
/*
 * False for every heap block but one in 256 and for NULL: a paged block's
 * data is 64 bytes into a page.  Lets vec skip the paged bookkeeping of a
 * heap buffer with one mask and compare (true means "ask kv").
 */
static inline bool tide__kv_maybe_paged(const void *p)
{
	return ((uintptr_t)p & 4095) == 64;
}

/* kv.c: what kv's fast paths compare sizes with (kv.h), and its load. */
TIDE_API extern size_t tide__kv_fast_limit;
static inline size_t tide__kv_fast_limit_now(void)
{
	return __atomic_load_n(&tide__kv_fast_limit, __ATOMIC_RELAXED);
}

/*
 * False when resizing a heap block to @bytes cannot make it paged: below
 * the fast limit, which is at most the threshold (0 when kv is on its
 * slow paths).  A tide_kv_set_threshold() racing with the resize may
 * still promote it.  One load and compare.
 */

static inline bool tide__kv_may_page(size_t bytes)
{
	return bytes >= tide__kv_fast_limit_now();
}

/* ---------------------------------------------------------------------
 * arena.c
 * ------------------------------------------------------------------- */

/*
 * Register the arena list's fork handlers (once; later calls do nothing).
 * A module that calls tide_arena_totals() under a lock of its own calls
 * this before registering its own fork handlers, so that its prepare
 * handler runs first (arena.c explains the order).
 */
void tide__arena_fork_register(void);

/* ---------------------------------------------------------------------
 * shrinker/pass.c: direct reclaim, called by allocators on ENOMEM.
 * ------------------------------------------------------------------- */

/*
 * Run one reclaim pass at @priority over every shrinker on behalf of an
 * allocation that failed with ENOMEM.  Returns the objects freed.  Returns 0
 * without doing anything when called from inside a shrinker callback (reclaim
 * never recurses).
 */
unsigned long tide__direct_reclaim(int priority, unsigned flags);

/* True while the calling thread runs a shrinker callback. */
bool tide__in_reclaim(void);

/*
 * One pass at @priority like tide_shrink(priority, flags), except that every
 * shrinker is asked to scan at least ceil(count / @share_div) objects in this
 * pass (@share_div 1: everything it counts; 0: no minimum, exactly
 * tide_shrink()).  A level source uses it so that small caches answer too
 * (MEDIUM: a quarter, CRITICAL: all).  Returns the objects freed.
 */
unsigned long tide__shrink_share(int priority, unsigned flags,
				 unsigned long share_div);

/*
 * One pass at @priority like tide_shrink(priority, flags) that stops
 * between two scan calls once @nr_to_reclaim objects are freed (kswapd's
 * sc->nr_to_reclaim: the gap to the target; 0: no bound).  The rest of the
 * shrinker's share stays deferred.  Returns the objects freed.
 */
unsigned long tide__shrink_to(int priority, unsigned flags,
			      unsigned long nr_to_reclaim);

/* ---------------------------------------------------------------------
 * pressure/: the monitor, its sources, the allocation sensor, the purge.
 * ------------------------------------------------------------------- */

/*
 * The allocation as a sensor (pressure/sensor.c).  kv calls it after a paged
 * allocation or growth committed @bytes of new address space, the arena after
 * a buffer took @bytes of pages that were not resident; both outside their own
 * locks, with the flags of the call.  While a limit watcher runs it counts the
 * bytes (in a counter of the calling thread, handed to the shared count in
 * batches of up to 64 KiB) and, each time the count passes a step, reads the
 * working set and, over the high watermark, runs direct reclaim on the
 * calling thread before returning (never with TIDE_NORECLAIM, never from
 * inside a shrinker).  With no watcher it is one relaxed load.
 */
void tide__sensor_charge(size_t bytes, unsigned flags);

/*
 * Heap-sized kv blocks never reach the sensor on the fast paths (a
 * malloc() behind a compare, inline in the caller).  While the working set
 * the sensor watches is at or over the low watermark, the sensor turns
 * the fast paths off (kv.c: tide__kv_fast_limit reads 0) so that every kv
 * allocation goes through the exported functions, which charge heap blocks
 * too; under low it turns them back on, unless nothing polls the
 * monitor (tide__sensor_watch()).  @on is the new state; kv.c.
 */
void tide__kv_watch(bool on);
bool tide__kv_watching(void);

/*
 * The monitor that armed the sensor read @value from its limit watcher:
 * heap blocks are watched (tide__kv_watch()) while it is at or over @low,
 * and always while nothing polls @m (not started, its descriptor never
 * taken: only charges read its working set then).  Another monitor's
 * reading does nothing.
 */
struct tide_monitor;
void tide__sensor_watch(struct tide_monitor *m, uint64_t value, uint64_t low);
/* Would @m's reading @value watch heap blocks (the rule above)? */
bool tide__sensor_heap_watched(const struct tide_monitor *m, uint64_t value,
			       uint64_t low);

/*
 * Backpressure while a loop owns the armed monitor's reclaim (its sensor
 * runs no shrinker in allocations, pressure/reclaim.c): when a charge
 * finds the working set over the high watermark and wakes the loop (no
 * hold in force), the monitor sets @over; until the loop's next dispatch
 * ends (or a reading under high), each hand-over of a thread that may
 * reclaim and is not a loop's (one that dispatched a monitor or asked for
 * its descriptor) waits for that dispatch, up to 20 ms, and none waits
 * again before a dispatch once a wait ran out.  Nothing is run on that
 * thread: it only gives the loop time, as thread mode's reclaim in the
 * allocation slows the allocating threads down.  tide__sensor_loop_ran():
 * a dispatch ended on this thread (or it asked for the descriptor: @ran
 * false).
 */
void tide__sensor_behind(struct tide_monitor *m, bool over);
void tide__sensor_loop_ran(bool ran);

#ifdef TIDE_TEST_HOOKS
/*
 * Test builds: the sensor's shared count (what the threads handed over
 * since the last measure or arming); a hook called by every thread about
 * to take the sensor's write lock, with what it takes it for ("arm",
 * "pass", "suspend", "disarm"; NULL: none); and how many threads wait for
 * that lock now (a thread that got it at once never counted).  Set the
 * hook before the threads that call it start.
 */
size_t tide__sensor_charged(void);
extern void (*tide__sensor_write_hook)(const char *what);
int tide__sensor_writers_waiting(void);
/* Test builds: hand-overs that waited for a loop (tide__sensor_behind()). */
unsigned long tide__sensor_throttled(void);
#endif

/*
 * Each module registers its pthread_atfork() handlers on first use; these
 * register them now (once).  Whoever registers a fork handler of its own
 * that uses tide in the child (the preload shim) calls them first, so that
 * tide's child handlers have run by the time its own runs.
 */
void tide__mon_fork_register(void); /* pressure/monitor_fork.c */
void tide__sensor_fork_register(void); /* pressure/sensor.c */
void tide__purge_fork_register(void); /* pressure/purge.c */
void tide__shrinker_fork_register(void); /* shrinker/fork.c */
void tide__kv_reg_fork_register(void); /* kv_registry.c */
void tide__ctl_fork_register(void); /* ctl.c */
/*
 * ctl.c, for the preload shim's fork() wrappers, around libc's call:
 * ctl_lock taken before any fork handler runs, so before a program's
 * handler takes its allocator's lock, which the listener may need while
 * it holds ctl_lock (it allocates there); ctl's prepare handler finds it
 * taken, and its parent or child handler lets it go.  The end lets it go
 * if no handler took it over.  Nothing when ctl's handlers are not
 * registered (no listener yet), or for a fork nested in one of this
 * thread's (a signal handler's).
 */
void tide__ctl_fork_gate(void);
void tide__ctl_fork_gate_end(void);

/*
 * ctl.c, called by tide_monitor_free() before it frees @m: a listener that
 * reports on @m lets go of it (once a request under way on another thread
 * has finished) and answers from then on as one without a monitor; that
 * misuse (the listener should have been closed first) is reported.
 * Takes ctl's request lock and nothing else, and no lock may be held by
 * the caller that a ctl request waits for.
 */
struct tide_monitor;
void tide__ctl_monitor_gone(const struct tide_monitor *m);

/*
 * pressure/monitor_run.c, for ctl.c: was @m made by another process (this is
 * a forked child holding its parent's monitor, inert here)?  Asks the
 * kernel for the pid (getpid()), as the monitor's entry points do.
 */
bool tide__mon_foreign(const struct tide_monitor *m);
/*
 * pressure/monitor_run.c, for the preload shim, before tide_monitor_start():
 * the monitor's thread wakes at least every @every_ms and, before each
 * wait, checks in /proc that the epoll on its number is still its own
 * (tide__os_epoll_holds() with a key of the monitor's: a guest's
 * descriptors may be closed by the program, and an epoll_wait() on an
 * epoll the program put on the number could take the program's events).
 * When it is not, or the wait fails, the monitor is lost: the thread
 * stops touching its numbers, calls @on_lost(@m) and ends.  @on_lost
 * runs on that thread, never while tide_monitor_free() stops it.
 */
void tide__monitor_guard(struct tide_monitor *m, unsigned every_ms,
			 void (*on_lost)(struct tide_monitor *m));
/*
 * pressure/move.c, for the preload shim (TIDE_LIMIT, TIDE_HIGH, TIDE_LOW
 * given as N%), right after tide_monitor_new(): when the effective limit
 * changes (or the process moves), the configured limit becomes
 * @limit_pct of the new one and the watermarks @high_pct and @low_pct of
 * that, before the sources re-open; 0 keeps that one as configured.
 * tide_monitor_set_watermarks() ends the watermarks' following.
 */
void tide__monitor_fractions(struct tide_monitor *m, unsigned limit_pct,
			     unsigned high_pct, unsigned low_pct);

/*
 * ctl's "watermarks" request (docs/tidectl.md): a pair in bytes (@low 0:
 * 7/8 of @high), or percentages of the effective limit (@low_pct 0: 7/8 of
 * the high), or with all four 0 the limit's defaults.
 */
struct tide__tune {
	uint64_t high, low;
	unsigned high_pct, low_pct;
};
/* @t mixes bytes and percentages, or gives the defaults a low. */
static inline bool tide__tune_mixed(const struct tide__tune *t)
{
	return (t->high_pct ? t->high || t->low : t->low_pct) ||
	       (!t->high && !t->high_pct && t->low);
}
/*
 * pressure/watermarks.c: set the watermarks @t describes as
 * tide_monitor_set_watermarks() does, the pair set in *@ret_high and
 * *@ret_low.  Percentages and the defaults are made again from the limit
 * when it changes, as the shim's are (tide__monitor_fractions()); bytes
 * stay.  Return: 0, the errors of tide_monitor_set_watermarks() (-EINVAL
 * also for bytes mixed with a percentage), -ERANGE for a watermark under
 * TIDE__WATERMARK_FLOOR (pressure/defaults.h), -EFBIG for a high at or
 * above the effective limit (never reached), or -ENODEV for a percentage
 * or the defaults without an effective limit.
 */
int tide__monitor_tune(struct tide_monitor *m, const struct tide__tune *t,
		       uint64_t *ret_high, uint64_t *ret_low);
/*
 * pressure/watermarks.c: the last tide__monitor_tune() of @m that
 * succeeded into *@ret; false if none did.  For the preload shim, whose
 * forked child's monitor takes the pair an operator set on the parent's.
 */
bool tide__monitor_tuned(struct tide_monitor *m, struct tide__tune *ret);
/*
 * pressure/watermarks.c: what the watermarks are made of, for ctl's
 * "monitor" answer: "N%" (of the limit, followed), "bytes" (as given), or
 * "default" (the limit's), then ",M%" for a low given as a percentage; ""
 * without a watermark source.
 */
void tide__monitor_watermarks_kind(struct tide_monitor *m, char *buf,
				   size_t size);

/*
 * For ctl's drop and purge answers.  pressure/purge.c: tide_purge(), and
 * in *@ret_measured (if not NULL) whether its result was measured (false:
 * /proc/self/statm could not be read, as in a chroot without /proc, and
 * the pages given back are unknown, counted 0).  shrinker/pass.c:
 * tide_drop_caches(), and what its final purge gave back the same way.
 */
unsigned long tide__purge(bool *ret_measured);
unsigned long tide__drop_caches(unsigned long *ret_purged, bool *ret_measured);

/*
 * ctl.c, for the preload shim: tide_ctl_listen(), but a listener that gives
 * way.  It does not start when this process already listens through
 * another copy of tide (-EBUSY), and it closes its socket when such a copy
 * (the program's own libtide) listens later (docs/tidectl.md, "One socket
 * per process").
 */
struct tide_ctl_config;
int tide__ctl_listen_weak(const struct tide_ctl_config *cfg);
void tide__ctl_exit(void); /* ctl_life.c: the shim at exit, see there */
/*
 * ctl.c, for the preload shim: weak listeners started from now on guard
 * their epoll as a guarded monitor does (tide__monitor_guard(): a check
 * in /proc before each wait, at least every 2 s); one that finds it taken
 * stops, touching none of its numbers, and its thread calls @on_lost()
 * as it ends (not when tide_ctl_close() stopped it).
 */
void tide__ctl_guard(void (*on_lost)(void));

/* ---------------------------------------------------------------------
 * ctl.c: the control socket's request parser (fuzzed by fuzz/fuzz_ctl.c).
 * ------------------------------------------------------------------- */

#define TIDE__CTL_REQ_MAX 4096 /* a request line with its '\n' */
#define TIDE__CTL_NAME_MAX 255 /* a shrinker name, unescaped */

enum tide__ctl_cmd {
	TIDE__CTL_INFO = 1,
	TIDE__CTL_SHRINKERS,
	TIDE__CTL_MONITOR,
	TIDE__CTL_STATS,
	TIDE__CTL_SCAN,
	TIDE__CTL_SHRINK,
	TIDE__CTL_DROP,
	TIDE__CTL_PURGE,
	TIDE__CTL_TOTALS,
	TIDE__CTL_YIELD, /* another copy of tide in this process listens */
	TIDE__CTL_WATERMARKS,
};

struct tide__ctl_req {
	enum tide__ctl_cmd cmd;
	unsigned long n; /* scan: objects; shrink: priority 0..12 */
	char name[TIDE__CTL_NAME_MAX + 1]; /* scan: the shrinker, unescaped */
	struct tide__tune tune; /* watermarks: bytes, N% or "default" */
};

/*
 * Parse one request line @line of @len bytes (without its '\n'): a command
 * and its arguments separated by single spaces, printable ASCII only, names
 * escaped as tide__ctl_escape() writes them, numbers in decimal.  0 and
 * *@ret filled, -E2BIG when @len cannot be a request, else -EINVAL; @ret
 * is written only on success.
 */
int tide__ctl_parse(const char *line, size_t len, struct tide__ctl_req *ret);

/*
 * Write the NUL-terminated @s into @out (@size bytes) as one protocol field:
 * every byte outside '!'..'~' and every backslash as \xHH.  The length
 * written (without the NUL), or -ENOSPC when @out is too small.
 */
int tide__ctl_escape(const char *s, char *out, size_t size);

/* Undo tide__ctl_escape(): the same rule as names in requests; 0 or -EINVAL. */
int tide__ctl_unescape(const char *s, size_t len, char *out, size_t size);

#endif /* TIDE_INTERNAL_H */
