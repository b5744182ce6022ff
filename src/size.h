/* SPDX-License-Identifier: MIT */
/*
 * size.h - a size as operators write it (TIDE_LIMIT=512M, tidectl's
 * "watermarks 50%"), for the library, the preload shim and tidectl, which
 * checks what it sends with the rule the process applies.  Header only:
 * tidectl links nothing of tide.
 */
#ifndef TIDE_SIZE_H
#define TIDE_SIZE_H

#include <errno.h>
#include <stdint.h>

/* ctl's "watermarks" takes words shorter than this (tidectl checks it) */
#define TIDE__SIZE_WORD_MAX 64

/*
 * Decimal bytes (not 0) with an optional K, M, G or T (1024-based), or,
 * when @ret_pct is not NULL, N% for N in 1..100 (*@ret_bytes 0 then;
 * *@ret_pct 0 for bytes).  Return: 0, or -EINVAL with nothing set.
 */
static inline int tide__parse_size(const char *s, uint64_t *ret_bytes,
				   unsigned *ret_pct)
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

#endif /* TIDE_SIZE_H */
