// SPDX-License-Identifier: MIT
/*
 * common.c - version, error strings, the misuse handler, percentages of
 * sizes, and the frees a fork child handler holds back (a list, not an OS
 * call: os.c frees them).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

const char *tide_version(void)
{
	return TIDE_VERSION_STRING;
}

/*
 * Standard errnos read as the C library words them ("No such file or
 * directory", "No space left on device"), which is what users search for.
 * Only EOVERFLOW has a tide wording: tide returns it for one documented
 * meaning, a size computation that overflows, which libc's "Value too
 * large for defined data type" does not convey.
 */
const char *tide_strerror(int err)
{
	const char *s;

	/* -INT_MIN overflows; it is no errno anyway. */
	if (err == INT_MIN)
		return "Unknown error";
	if (err < 0)
		err = -err;
	if (err == 0)
		return "Success";
	if (err == EOVERFLOW)
		return "Size computation overflows";
	/* strerrordesc_np() is thread-safe and never formats into a buffer. */
	s = strerrordesc_np(err);
	return s ? s : "Unknown error";
}

/*
 * The handler and its argument are published as one pair: a set writes
 * them into a slot that is not the current one, under the slot's sequence
 * count (odd while it writes: a seqlock), then makes that slot current.  A
 * report copies the current slot's pair and keeps the copy only when the
 * count was even and unchanged around it; otherwise the slot was rewritten
 * meanwhile (it stopped being current first) and the report takes the new
 * current one.  So a report never calls one handler with another's
 * argument (a review: the two slots of 0.2.15 and before, rewritten by two
 * sets during one report, paired them, 134 to 283 times in 20 million sets
 * beside two reporting threads), and it never waits for a set: a misuse
 * report comes from any thread at any time, a signal handler interrupting
 * a set included.  A slot a fork left half written (its writer was another
 * thread) stays odd and is skipped.  Sets racing each other both finish;
 * either pair may end up current.
 */
#define HANDLER_SLOTS 4

static struct {
	atomic_uint seq;
	_Atomic(tide_error_fn) fn;
	_Atomic(void *) arg;
} handler_slots[HANDLER_SLOTS];
static atomic_uint handler_cur, handler_next;

void tide_set_error_handler(tide_error_fn fn, void *arg)
{
	for (;;) {
		unsigned i = atomic_fetch_add_explicit(&handler_next, 1,
						       memory_order_relaxed) %
			     HANDLER_SLOTS;
		unsigned s = atomic_load_explicit(&handler_slots[i].seq,
						  memory_order_relaxed);

		if (i == atomic_load_explicit(&handler_cur,
					      memory_order_relaxed) ||
		    (s & 1) ||
		    !atomic_compare_exchange_strong_explicit(
			    &handler_slots[i].seq, &s, s + 1,
			    memory_order_acquire, memory_order_relaxed))
			continue;
		atomic_thread_fence(memory_order_release);
		atomic_store_explicit(&handler_slots[i].fn, fn,
				      memory_order_relaxed);
		atomic_store_explicit(&handler_slots[i].arg, fn ? arg : NULL,
				      memory_order_relaxed);
		atomic_store_explicit(&handler_slots[i].seq, s + 2,
				      memory_order_release);
		atomic_store_explicit(&handler_cur, i, memory_order_release);
		return;
	}
}

void tide__report(const char *what, const void *ptr)
{
	for (;;) {
		unsigned i = atomic_load_explicit(&handler_cur,
						  memory_order_acquire);
		unsigned s = atomic_load_explicit(&handler_slots[i].seq,
						  memory_order_acquire);
		tide_error_fn fn;
		void *arg;

		if (s & 1)
			continue;
		fn = atomic_load_explicit(&handler_slots[i].fn,
					  memory_order_relaxed);
		arg = atomic_load_explicit(&handler_slots[i].arg,
					   memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&handler_slots[i].seq,
					 memory_order_relaxed) != s)
			continue;
		if (fn)
			fn(what, ptr, arg);
		return;
	}
}

_Noreturn void tide__misuse(const char *what, const void *ptr)
{
	tide__report(what, ptr);
	abort();
}

uint64_t tide__pct_of(uint64_t v, unsigned pct)
{
	return v / 100 * pct + v % 100 * pct / 100;
}

_Thread_local bool tide__fork_wrapped;
/* the child's only thread: no lock (see tide__child_free()) */
static void *child_frees[TIDE__CHILD_FREES];
static unsigned child_nfrees;

void tide__child_free(void *p)
{
	if (!p)
		return;
	if (tide__fork_wrapped && child_nfrees < TIDE__CHILD_FREES)
		child_frees[child_nfrees++] = p;
	else
		tide__os_free(p);
}

void tide__child_frees(void)
{
	unsigned n = child_nfrees;

	child_nfrees = 0;
	for (unsigned i = 0; i < n; i++)
		tide__os_free(child_frees[i]);
}
