// SPDX-License-Identifier: MIT
/*
 * fuzz_shrinker.c - shrinker alloc/register/free/scan sequences against a
 * model of the registry and of do_shrink_slab().
 *
 * Up to eight shrinkers, each with its own cache (a count), seeks, batch and
 * a behaviour: well-behaved (frees min(nr_to_scan, count)), STOP, reporting
 * fewer scanned, or misbehaving (count STOP or above TIDE_COUNT_MAX, scan
 * EMPTY).  The model replays the design's arithmetic (nr_deferred, delta,
 * total, batches) and every pass must free exactly what it predicts; the
 * registry seen by tide_shrinker_foreach() must be the model's, in order.
 * Input: operations of four bytes (op, shrinker, 16-bit argument).
 */
#include <errno.h>
#include <tide.h>

#include "fuzz.h"

#define N 8

typedef unsigned __int128 wide;

enum behave { GOOD, STOPS, HALF_SCANNED, ZERO_SCANNED, BAD_COUNT, BAD_SCAN };

struct cache {
	struct tide_shrinker *s;
	bool registered;
	char name[8];
	unsigned long objects, nr_deferred;
	unsigned seeks;
	unsigned long batch;
	enum behave behave;
	int order; /* registration sequence number */
};

static struct cache c[N];
static int reports;

static void on_report(const char *what, const void *ptr, void *arg)
{
	(void)what;
	(void)ptr;
	(void)arg;
	reports++;
}

/* count as reclaim sees it: STOP from count_objects is taken as 0. */
static unsigned long m_count(const struct cache *x)
{
	return x->behave == BAD_COUNT ? 0 : x->objects;
}

static unsigned long count_cb(void *priv, struct tide_shrink_control *sc)
{
	struct cache *x = priv;

	(void)sc;
	if (x->behave == BAD_COUNT)
		return TIDE_SHRINK_STOP;
	return x->objects ? x->objects : TIDE_SHRINK_EMPTY;
}

/* What one scan call does; shared by the callback and the model. */
static unsigned long scan_step(struct cache *x, unsigned long nr,
			       unsigned long *scanned)
{
	unsigned long n;

	*scanned = nr;
	switch (x->behave) {
	case STOPS:
		*scanned = 0;
		return TIDE_SHRINK_STOP;
	case BAD_SCAN:
		return TIDE_SHRINK_EMPTY;
	case HALF_SCANNED:
		*scanned = nr / 2;
		break;
	case ZERO_SCANNED:
		*scanned = 0;
		break;
	default:
		break;
	}
	n = TIDE__MIN(*scanned, x->objects);
	x->objects -= n;
	return n;
}

static unsigned long scan_cb(void *priv, struct tide_shrink_control *sc)
{
	unsigned long scanned, r = scan_step(priv, sc->nr_to_scan, &scanned);

	if (r != TIDE_SHRINK_STOP)
		sc->nr_scanned = scanned;
	return r;
}

static const struct tide_shrinker_ops ops = { count_cb, scan_cb };

/*
 * The design's do_shrink_slab on the model, with the bounds that make every
 * pass end: at most total / batch + 1 scan calls; a call that looked at
 * nothing, freed nothing of a full batch, or freed at least the count or
 * twice what it was asked (a whole-cache scan) ends this shrinker's loop;
 * freeing past what it was asked counts as that much work.  Returns the
 * objects freed.
 */
static unsigned long model_shrink(struct cache *x, int prio)
{
	unsigned long freeable = m_count(x), nr, batch, freed = 0;
	wide delta, total, scanned = 0, next, calls, work;

	if (!freeable)
		return 0;
	nr = x->nr_deferred;
	x->nr_deferred = 0;
	batch = x->batch ? x->batch : TIDE_SHRINK_BATCH;
	delta = x->seeks ? (wide)(freeable >> prio) * 4 / x->seeks :
			   freeable / 2;
	total = TIDE__MIN((wide)(nr >> prio) + delta, 2 * (wide)freeable);
	calls = total / batch + 1;
	while (total && (total >= batch || total >= freeable)) {
		unsigned long s, n = (unsigned long)TIDE__MIN(batch, total);
		unsigned long r = scan_step(x, n, &s);

		if (r == TIDE_SHRINK_STOP)
			break;
		if (r == TIDE_SHRINK_EMPTY)
			r = 0;
		freed += r;
		s = TIDE__MIN(s, n);
		work = r > n ? r : s;
		total = work < total ? total - work : 0;
		scanned += work;
		if (!s || (!r && s == n) || r >= freeable ||
		    (r > n && r - n >= n))
			break;
		if (!--calls)
			break;
	}
	next = nr + delta > scanned ? nr + delta - scanned : 0;
	x->nr_deferred += (unsigned long)TIDE__MIN(next, 2 * (wide)freeable);
	return freed;
}

struct seen {
	int n;
	const struct cache *order[N];
	bool ok;
};

static int see(const struct tide_shrinker_info *info, void *arg)
{
	struct seen *w = arg;
	const struct cache *x;

	if (w->n >= N) {
		w->ok = false;
		return 1;
	}
	x = w->order[w->n++];
	if (!x || strcmp(info->name, x->name) || info->seeks != x->seeks ||
	    info->batch != (x->batch ? x->batch : TIDE_SHRINK_BATCH) ||
	    info->count != m_count(x) || info->nr_deferred != x->nr_deferred)
		w->ok = false;
	return 0;
}

static int by_order(const void *a, const void *b)
{
	const struct cache *x = *(const struct cache *const *)a;
	const struct cache *y = *(const struct cache *const *)b;

	return x->order - y->order;
}

static void check_registry(void)
{
	struct seen w = { .ok = true };
	const struct cache *order[N];
	int n = 0;

	for (int i = 0; i < N; i++)
		if (c[i].registered)
			order[n++] = &c[i];
	qsort(order, (size_t)n, sizeof(order[0]), by_order);
	memcpy(w.order, order, sizeof(order));
	FZ_CHECK(tide_shrinker_foreach(see, &w) == 0);
	FZ_CHECK(w.ok && w.n == n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	int seq = 0;

	memset(c, 0, sizeof(c));
	reports = 0;
	tide_set_error_handler(on_report, NULL);
	while (f.n) {
		uint8_t op = fz_u8(&f);
		struct cache *x = &c[fz_u8(&f) % N];
		uint16_t arg = fz_u16(&f);
		unsigned long want = 0, got;
		struct cache mc[N];
		int prio, before = reports;

		switch (op % 8) {
		case 0: /* alloc + register */
			if (x->s)
				break;
			snprintf(x->name, sizeof(x->name), "s%d", (int)(x - c));
			if (op & 0x10)
				tide__fault_set(1, false);
			x->s = tide_shrinker_alloc(x->name);
			tide__fault_clear();
			if (!x->s) {
				FZ_CHECK(errno == ENOMEM);
				break;
			}
			x->seeks = arg % 5;
			x->batch = (arg >> 3) % 4 ? (arg >> 3) % 300 : 0;
			x->behave = (enum behave)((arg >> 12) % 6);
			x->objects = (unsigned long)arg * ((op >> 3) % 7 + 1);
			x->nr_deferred = 0;
			tide_shrinker_set_seeks(x->s, x->seeks);
			tide_shrinker_set_batch(x->s, x->batch);
			if (op & 8)
				break; /* allocated, not registered */
			tide_shrinker_register(x->s, &ops, x);
			x->registered = true;
			x->order = seq++;
			break;
		case 1: /* free (registered or not) */
			tide_shrinker_free(x->s);
			x->s = NULL;
			x->registered = false;
			break;
		case 2:
		case 3: /* one pass: exactly the model's arithmetic */
			prio = (int)(arg % 16) - 2;
			memcpy(mc, c, sizeof(c));
			for (int k = 0; k < seq; k++)
				for (int i = 0; i < N; i++)
					if (mc[i].registered &&
					    mc[i].order == k)
						want += model_shrink(
							&mc[i],
							TIDE__MAX(
								0,
								TIDE__MIN(prio,
									  12)));
			got = tide_shrink(prio, 0);
			FZ_CHECK(got == want);
			for (int i = 0; i < N; i++) {
				FZ_CHECK(c[i].objects == mc[i].objects);
				c[i].nr_deferred = mc[i].nr_deferred;
			}
			break;
		case 4: /* direct scan by name */
			errno = 0;
			if (!x->registered) {
				FZ_CHECK(tide_shrinker_scan(x->name, arg) == 0);
				FZ_CHECK(!arg || errno == ENOENT);
				break;
			}
			memcpy(mc, c, sizeof(c));
			want = arg ? scan_step(&mc[x - c], arg, &got) : 0;
			if (want == TIDE_SHRINK_STOP ||
			    want == TIDE_SHRINK_EMPTY)
				want = 0;
			FZ_CHECK(tide_shrinker_scan(x->name, arg) == want);
			FZ_CHECK(x->objects == mc[x - c].objects);
			break;
		case 5: /* misuse: register twice, or a NULL shrinker */
			if (x->registered)
				tide_shrinker_register(x->s, &ops, x);
			else
				tide_shrinker_register(NULL, &ops, x);
			FZ_CHECK(reports == before + 1);
			break;
		case 6: /* grow a cache */
			x->objects += arg;
			break;
		case 7:
			FZ_CHECK(tide_shrinker_foreach(NULL, NULL) == -EINVAL);
			break;
		}
		check_registry();
	}
	for (int i = 0; i < N; i++)
		tide_shrinker_free(c[i].s);
	tide_set_error_handler(NULL, NULL);
	return 0;
}
