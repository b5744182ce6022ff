// SPDX-License-Identifier: MIT
/*
 * kv.c - hybrid heap/paged allocation with honest shrinking.
 *
 * Every block starts with a tag right before the pointer handed out: the
 * requested size and a check word (the pointer xor a per-backend key).  The
 * tag tells kvfree/kvrealloc the backend in O(1), without a global table or
 * lock, and lets them catch pointers tide never handed out.
 *
 *   heap block:  [tag 16][data ...]                  one malloc() block
 *   paged block: [hdr 48][tag 16][data ...][slack]   one mapping of its own
 *
 * A paged block's committed length (map_len) is a multiple of its unit (the
 * page, or 2 MiB with TIDE_HUGE); the bytes between the requested end and
 * map_len are the slack: poisoned in ASan builds, zero when TIDE_ZERO is
 * used consistently.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <tide/kv.h>
#include <tide/shrinker.h>

#include "internal.h"

#define HEAP_KEY ((uintptr_t)0x74696465ab5e6170ULL)
#define PAGED_KEY ((uintptr_t)0x74696465ba9ed000ULL)

struct tag {
	size_t size; /* requested bytes */
	uintptr_t check; /* (uintptr_t)ptr ^ key */
};

struct paged_hdr {
	size_t map_len; /* committed bytes from the header on */
	size_t unit; /* page size or 2 MiB */
	unsigned flags; /* TIDE_HUGE when the block was made huge */
	unsigned pad;
	char reserved[24];
	struct tag tag;
};

#define HEAP_HDR sizeof(struct tag)
#define PAGED_HDR sizeof(struct paged_hdr)

_Static_assert(sizeof(struct tag) == 16, "heap header is at most 16 bytes");
_Static_assert(sizeof(struct paged_hdr) == 64, "paged header is 64 bytes");
_Static_assert(HEAP_HDR % alignof(max_align_t) == 0, "alignment");
_Static_assert(PAGED_HDR % alignof(max_align_t) == 0, "alignment");

/* Largest request we try: leaves room for headers and rounding. */
#define KV_MAX_SIZE ((size_t)PTRDIFF_MAX - 2 * TIDE__HUGE_SIZE)

enum kind { KIND_HEAP, KIND_PAGED };

/* ---- threshold ------------------------------------------------------ */

static atomic_size_t kv_threshold = TIDE_KV_DEFAULT_THRESHOLD;
static pthread_once_t threshold_once = PTHREAD_ONCE_INIT;

static bool parse_size(const char *s, size_t *ret)
{
	unsigned long long v;
	char *end;
	unsigned shift = 0;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return false;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		end++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		end++;
		break;
	}
	if (*end || (shift && v > (SIZE_MAX >> shift)))
		return false;
	*ret = (size_t)(v << shift);
	return true;
}

static void threshold_from_env(void)
{
	size_t v;

	if (parse_size(getenv("TIDE_KV_THRESHOLD"), &v))
		atomic_store(&kv_threshold, v);
}

size_t tide_kv_threshold(void)
{
	pthread_once(&threshold_once, threshold_from_env);
	return atomic_load_explicit(&kv_threshold, memory_order_relaxed);
}

void tide_kv_set_threshold(size_t bytes)
{
	pthread_once(&threshold_once, threshold_from_env);
	atomic_store(&kv_threshold, bytes);
}

/* ---- tags ----------------------------------------------------------- */

static inline struct tag *tag_of(const void *p)
{
	return (struct tag *)p - 1;
}

static inline struct paged_hdr *hdr_of(const void *p)
{
	return (struct paged_hdr *)((char *)p - PAGED_HDR);
}

static void set_tag(void *p, size_t size, uintptr_t key)
{
	struct tag *t = tag_of(p);

	t->size = size;
	t->check = (uintptr_t)p ^ key;
}

static enum kind kind_of(const void *p, const char *what)
{
	const struct tag *t;

	if ((uintptr_t)p % alignof(max_align_t) || (uintptr_t)p < 4096)
		tide__misuse(what, p);
	t = tag_of(p);
	if (t->check == ((uintptr_t)p ^ HEAP_KEY))
		return KIND_HEAP;
	if (t->check == ((uintptr_t)p ^ PAGED_KEY))
		return KIND_PAGED;
	tide__misuse(what, p);
}

/* ---- direct reclaim ------------------------------------------------- */

/*
 * After an attempt failed: run one more reclaim pass (priority 12 down to
 * 0) and say whether to try again.  errno is the attempt's on a final no.
 */
static bool reclaim_and_retry(int *prio, unsigned flags)
{
	int err = errno;

	if (err != ENOMEM || (flags & TIDE_NORECLAIM) || *prio < 0 ||
	    tide__in_reclaim())
		return false;
	tide__direct_reclaim((*prio)--, flags);
	errno = err;
	return true;
}

/* ---- paged backend -------------------------------------------------- */

static size_t unit_for(unsigned flags)
{
	return (flags & TIDE_HUGE) ? TIDE__HUGE_SIZE : tide__os_page_size();
}

static size_t committed_len(size_t size, size_t unit)
{
	return TIDE__ALIGN_UP(PAGED_HDR + size, unit);
}

static void poison_slack(void *p, size_t size)
{
	struct paged_hdr *h = hdr_of(p);

	tide__os_poison((char *)p + size, h->map_len - PAGED_HDR - size);
}

/* Map @len bytes aligned to 2 MiB: over-map, then trim both ends. */
static int map_huge(size_t len, void **ret)
{
	char *raw, *aligned;
	int r;

	r = tide__os_map(len + TIDE__HUGE_SIZE, (void **)&raw);
	if (r)
		return r;
	aligned = (char *)TIDE__ALIGN_UP((uintptr_t)raw, TIDE__HUGE_SIZE);
	tide__os_trim(raw, (size_t)(aligned - raw));
	tide__os_trim(aligned + len, (size_t)(raw + TIDE__HUGE_SIZE - aligned));
	*ret = aligned;
	return 0;
}

static void *paged_alloc_once(size_t size, unsigned flags)
{
	size_t unit = unit_for(flags), len = committed_len(size, unit);
	struct paged_hdr *h;
	void *base, *p;
	int r;

	r = (flags & TIDE_HUGE) ? map_huge(len, &base) :
				  tide__os_map(len, &base);
	if (r) {
		errno = -r;
		return NULL;
	}
	if (flags & TIDE_HUGE)
		tide__os_advise(base, len, MADV_HUGEPAGE); /* only advice */
	h = base;
	h->map_len = len;
	h->unit = unit;
	h->flags = flags & TIDE_HUGE;
	p = (char *)base + PAGED_HDR;
	set_tag(p, size, PAGED_KEY);
	/* Fresh anonymous pages read as zero: TIDE_ZERO costs nothing here. */
	poison_slack(p, size);
	return p;
}

static void *paged_alloc(size_t size, unsigned flags)
{
	int prio = TIDE_DEF_PRIORITY;
	void *p;

	do
		p = paged_alloc_once(size, flags);
	while (!p && reclaim_and_retry(&prio, flags));
	if (p)
		tide__sensor_charge(hdr_of(p)->map_len, flags);
	return p;
}

#ifndef TIDE_PORTABLE_REMAP
/* Move a huge block to a fresh 2 MiB aligned place of @len bytes. */
static int move_huge(struct paged_hdr *h, size_t len, void **ret)
{
	char *raw, *aligned;
	int r;

	r = tide__os_reserve(len + TIDE__HUGE_SIZE, (void **)&raw);
	if (r)
		return r;
	aligned = (char *)TIDE__ALIGN_UP((uintptr_t)raw, TIDE__HUGE_SIZE);
	r = tide__os_remap_fixed(h, h->map_len, len, aligned);
	if (r) {
		tide__os_unmap(raw, len + TIDE__HUGE_SIZE);
		return r;
	}
	tide__os_trim(raw, (size_t)(aligned - raw));
	tide__os_trim(aligned + len, (size_t)(raw + TIDE__HUGE_SIZE - aligned));
	tide__os_advise(aligned, len, MADV_HUGEPAGE);
	*ret = aligned;
	return 0;
}
#endif

/* Give the block @len committed bytes; the header may move.  0 or -errno. */
static int paged_extend(struct paged_hdr **hp, size_t len)
{
	struct paged_hdr *h = *hp;
	void *nb;
	int r;

#ifndef TIDE_PORTABLE_REMAP
	if (!tide__os_grow_inplace(h, h->map_len, len)) {
		h->map_len = len;
		return 0;
	}
	if (h->flags & TIDE_HUGE)
		r = move_huge(h, len, &nb);
	else
		r = tide__os_remap(h, h->map_len, len, &nb);
	if (r)
		return r;
#else
	/* Portable fallback: map, copy what is in use, unmap. */
	size_t used = PAGED_HDR + h->tag.size;

	r = (h->flags & TIDE_HUGE) ? map_huge(len, &nb) :
				     tide__os_map(len, &nb);
	if (r)
		return r;
	tide__os_unpoison(h, h->map_len);
	tide__os_copy(nb, h, used);
	tide__os_unmap(h, h->map_len);
#endif
	h = nb;
	h->map_len = len;
	*hp = h;
	return 0;
}

static void *paged_resize(void *p, size_t size, unsigned flags)
{
	struct paged_hdr *h = hdr_of(p);
	size_t old = h->tag.size, len, keep;
	int prio = TIDE_DEF_PRIORITY;
	int r;

	len = committed_len(size, h->unit);
	if (size <= old) {
		/* Shrinking is an optimization: keep the pages on failure. */
		if (len < h->map_len &&
		    !tide__os_unmap_tail(h, h->map_len, len))
			h->map_len = len;
		/*
		 * The shrink lesson: bytes that stay committed past the new
		 * end must read as zero if the block grows back in place,
		 * including whole pages a failed unmap kept.
		 */
		keep = h->map_len - PAGED_HDR;
		if ((flags & TIDE_ZERO) && keep > size)
			memset((char *)p + size, 0,
			       TIDE__MIN(old, keep) - size);
		h->tag.size = size;
		poison_slack(p, size);
		return p;
	}
	if (len > h->map_len) {
		size_t added = len - h->map_len;

		do
			r = paged_extend(&h, len);
		while (r && (errno = -r, reclaim_and_retry(&prio, flags)));
		if (r) {
			poison_slack(p, old); /* a failed move unpoisons */
			errno = -r;
			return NULL;
		}
		p = (char *)h + PAGED_HDR;
		set_tag(p, old, PAGED_KEY);
		tide__sensor_charge(added, flags);
	}
	/* The grow lesson: fresh pages and zeroed slack need no memset. */
	tide__os_unpoison(p, size);
	h->tag.size = size;
	poison_slack(p, size);
	return p;
}

static void paged_free(void *p)
{
	struct paged_hdr *h = hdr_of(p);

	h->tag.check = 0;
	tide__os_unmap(h, h->map_len);
}

/* ---- heap backend --------------------------------------------------- */

static void *heap_alloc(size_t size, unsigned flags)
{
	int prio = TIDE_DEF_PRIORITY;
	char *base;
	void *p;

	do
		base = (flags & TIDE_ZERO) ?
			       tide__os_calloc(1, HEAP_HDR + size) :
			       tide__os_malloc(HEAP_HDR + size);
	while (!base && reclaim_and_retry(&prio, flags));
	if (!base)
		return NULL;
	p = base + HEAP_HDR;
	set_tag(p, size, HEAP_KEY);
	return p;
}

static void heap_free(void *p)
{
	tag_of(p)->check = 0;
	tide__os_free(tag_of(p));
}

static void *heap_resize(void *p, size_t size, unsigned flags)
{
	size_t old = tag_of(p)->size;
	int prio = TIDE_DEF_PRIORITY;
	char *base;
	void *q;

	if (size > old && size >= tide_kv_threshold()) {
		/* Promotion to a paged block: the one copy kv ever makes. */
		q = paged_alloc(size, flags);
		if (!q)
			return NULL;
		tide__os_copy(q, p, old);
		heap_free(p);
		return q;
	}
	do
		base = tide__os_realloc(tag_of(p), HEAP_HDR + size);
	while (!base && reclaim_and_retry(&prio, flags));
	if (!base)
		return NULL;
	q = base + HEAP_HDR;
	set_tag(q, size, HEAP_KEY);
	if ((flags & TIDE_ZERO) && size > old)
		memset((char *)q + old, 0, size - old);
	return q;
}

/* ---- public API ----------------------------------------------------- */

static bool flags_ok(unsigned flags)
{
	if (flags & ~(TIDE_FLAGS_KV | TIDE_FLAGS_PRIVATE)) {
		errno = EINVAL;
		return false;
	}
	return true;
}

void *tide_kvmalloc(size_t size, unsigned flags)
{
	if (!flags_ok(flags))
		return NULL;
	if (size > KV_MAX_SIZE) {
		errno = ENOMEM;
		return NULL;
	}
	if (size >= tide_kv_threshold())
		return paged_alloc(size, flags);
	return heap_alloc(size, flags);
}

void *tide_kvcalloc(size_t n, size_t size, unsigned flags)
{
	size_t bytes;

	if (__builtin_mul_overflow(n, size, &bytes)) {
		errno = EOVERFLOW;
		return NULL;
	}
	return tide_kvmalloc(bytes, flags | TIDE_ZERO);
}

void *tide_kvrealloc(void *p, size_t size, unsigned flags)
{
	enum kind k;

	if (!p)
		return tide_kvmalloc(size, flags);
	k = kind_of(p, "tide_kvrealloc: invalid pointer");
	if (!flags_ok(flags))
		return NULL;
	if (!size) {
		tide_kvfree(p);
		return NULL;
	}
	if (size > KV_MAX_SIZE) {
		errno = ENOMEM;
		return NULL;
	}
	if (k == KIND_PAGED)
		return paged_resize(p, size, flags);
	return heap_resize(p, size, flags);
}

void tide_kvfree(void *p)
{
	if (!p)
		return;
	if (kind_of(p, "tide_kvfree: invalid pointer") == KIND_PAGED)
		paged_free(p);
	else
		heap_free(p);
}

size_t tide_kvsize(const void *p)
{
	if (!p)
		return 0;
	kind_of(p, "tide_kvsize: invalid pointer");
	return tag_of(p)->size;
}

size_t tide_kvresident(const void *p)
{
	if (!p)
		return 0;
	if (kind_of(p, "tide_kvresident: invalid pointer") == KIND_PAGED)
		return hdr_of(p)->map_len - PAGED_HDR;
	return tide__os_usable_size(tag_of(p)) - HEAP_HDR;
}

bool tide_kv_is_paged(const void *p)
{
	if (!p)
		return false;
	return kind_of(p, "tide_kv_is_paged: invalid pointer") == KIND_PAGED;
}

size_t tide__kv_committed_for(const void *p, size_t size)
{
	if (kind_of(p, "tide_kv: invalid pointer") == KIND_HEAP)
		return size;
	return TIDE__MIN(committed_len(size, hdr_of(p)->unit),
			 hdr_of(p)->map_len);
}

size_t tide__kv_committed(const void *p)
{
	if (kind_of(p, "tide_kv: invalid pointer") == KIND_HEAP)
		return tag_of(p)->size;
	return hdr_of(p)->map_len;
}

size_t tide__kv_unit(const void *p)
{
	if (!p || kind_of(p, "tide_kv: invalid pointer") == KIND_HEAP)
		return 0;
	return hdr_of(p)->unit;
}
