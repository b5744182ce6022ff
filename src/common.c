// SPDX-License-Identifier: MIT
/*
 * common.c - version, error strings, the misuse handler, and percentages
 * of sizes.
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

struct handler {
	tide_error_fn fn;
	void *arg;
};

static _Atomic(struct handler *) cur_handler;
static struct handler handler_slots[2];
static atomic_uint handler_gen;

void tide_set_error_handler(tide_error_fn fn, void *arg)
{
	struct handler *h;

	if (!fn) {
		atomic_store(&cur_handler, NULL);
		return;
	}
	/*
	 * Two slots so that a concurrent reader never sees a half-written
	 * pair; handlers are set rarely (at start-up), never in a race with
	 * themselves in sane programs.
	 */
	h = &handler_slots[atomic_fetch_add(&handler_gen, 1) & 1];
	h->fn = fn;
	h->arg = arg;
	atomic_store(&cur_handler, h);
}

void tide__report(const char *what, const void *ptr)
{
	struct handler *h = atomic_load(&cur_handler);

	if (h && h->fn)
		h->fn(what, ptr, h->arg);
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
