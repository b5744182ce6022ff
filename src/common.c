// SPDX-License-Identifier: MIT
/*
 * common.c - version, error strings, the misuse handler, and sizes as
 * operators write them (TIDE_LIMIT=512M, tidectl's "watermarks 50%").
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

int tide__parse_size(const char *s, uint64_t *ret_bytes, unsigned *ret_pct)
{
	uint64_t v = 0;
	unsigned shift = 0;
	const char *p = s;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	if (!v)
		return -EINVAL;
	if (p[0] == '%' && !p[1]) {
		if (!ret_pct || v > 100)
			return -EINVAL;
		*ret_bytes = 0;
		*ret_pct = (unsigned)v;
		return 0;
	}
	switch (*p) {
	case '\0':
		break;
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	case 't':
	case 'T':
		shift = 40;
		break;
	default:
		return -EINVAL;
	}
	if ((shift && p[1]) || v > UINT64_MAX >> shift)
		return -EINVAL;
	*ret_bytes = v << shift;
	if (ret_pct)
		*ret_pct = 0;
	return 0;
}

uint64_t tide__pct_of(uint64_t v, unsigned pct)
{
	return v / 100 * pct + v % 100 * pct / 100;
}
