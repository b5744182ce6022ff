// SPDX-License-Identifier: MIT
/*
 * kv_fortify.c - a block's usable size under _FORTIFY_SOURCE=3 (ctest
 * kv_usable_size_under_fortify): built at -O2 with -D_FORTIFY_SOURCE=3
 * against the release library, kv.h's inline paths on, as programs are.
 *
 * kv's allocating functions carry alloc_size, so the compiler bounds a
 * block by the size asked for.  The bytes tide_kvsize() reports past it
 * are the caller's once p = tide_kvrealloc(p, tide_kvsize(p), flags) has
 * told the compiler that size, and that call keeps the block where it is.
 *
 * Without an argument: blocks of every kind (inline, exported, kvcalloc,
 * malloc's own mapping, paged, TIDE_ZERO) take that step, keep their
 * address, and are written up to their last usable byte; exit 0.  With
 * "unchecked": a heap block is written to tide_kvsize() bytes without the
 * step, which _FORTIFY_SOURCE=3 stops ("buffer overflow detected",
 * SIGABRT): the ctest runs it to see that the checks are on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tide.h>

static int failed;

/* The sizes come from the command line's length: unknown at compile time. */
static size_t runtime(size_t n, int argc)
{
	return n * (size_t)argc;
}

/*
 * The step (through the exported function with @exported), then every
 * usable byte written through the returned pointer.
 */
static void use_all(const char *what, char *p, unsigned flags, int zeroed,
		    int exported)
{
	size_t n, i;
	char *q;

	if (!p) {
		printf("%s: allocation failed\n", what);
		failed = 1;
		return;
	}
	n = tide_kvsize(p);
	q = exported ? (tide_kvrealloc)(p, n, flags) :
		       tide_kvrealloc(p, n, flags);
	if (q != p || tide_kvsize(q) != n) {
		printf("%s: tide_kvrealloc(p, tide_kvsize(p) = %zu) gave %p "
		       "(size %zu), not p = %p\n",
		       what, n, (void *)q, q ? tide_kvsize(q) : 0, (void *)p);
		failed = 1;
		if (!q)
			q = p;
	}
	for (i = 0; zeroed && i < n; i++)
		if (q[i]) {
			printf("%s: byte %zu of %zu is not zero\n", what, i, n);
			failed = 1;
			break;
		}
	memset(q, 'x', n);
	if (q[n - 1] != 'x')
		failed = 1;
	printf("%s: %zu usable bytes written, %s\n", what, n,
	       tide_kv_is_paged(q) ? "paged" : "heap");
	tide_kvfree(q);
}

int main(int argc, char **argv)
{
	size_t ten = runtime(10, argc), t;
	char *p;

	(void)argv;
	if (argc > 1) { /* "unchecked": must abort */
		p = tide_kvmalloc(ten, 0);
		memset(p, 'x', tide_kvsize(p));
		printf("unchecked: %zu bytes of a %zu-byte block written\n",
		       tide_kvsize(p), ten);
		tide_kvfree(p);
		return 0;
	}
	t = tide_kv_threshold();
	use_all("inline kvmalloc", tide_kvmalloc(ten, 0), 0, 0, 0);
	use_all("exported kvmalloc", (tide_kvmalloc)(ten, 0), 0, 0, 1);
	use_all("kvcalloc", tide_kvcalloc(1, ten, 0), TIDE_ZERO, 1, 0);
	use_all("zeroed", tide_kvmalloc(runtime(100, argc), TIDE_ZERO),
		TIDE_ZERO, 1, 1);
	/* glibc: its own mapping, usable past the threshold */
	use_all("threshold - 1", tide_kvmalloc(runtime(t - 1, argc), 0), 0, 0,
		0);
	use_all("paged", tide_kvmalloc(runtime(3 * t, argc), 0), 0, 0, 0);
	use_all("paged zeroed", tide_kvmalloc(runtime(3 * t, argc), TIDE_ZERO),
		TIDE_ZERO, 1, 1);
	/* a raised threshold: heap blocks malloc maps on its own */
	tide_kv_set_threshold(64 * t);
	use_all("heap, threshold raised",
		tide_kvmalloc(runtime(4 * t + 1000, argc), 0), 0, 0, 0);
	use_all("heap, threshold raised, exported",
		(tide_kvmalloc)(runtime(8 * t + 1000, argc), 0), 0, 0, 1);
	return failed;
}
