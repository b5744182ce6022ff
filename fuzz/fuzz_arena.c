// SPDX-License-Identifier: MIT
/*
 * fuzz_arena.c - arena alloc/free/reclaim sequences against a model of
 * buffer offsets and page states.
 *
 * The model knows the contract: sizes round up to 8, best fit among the
 * free gaps (smallest, lowest address on ties), the buffer takes the front
 * of its gap; a page is used while a live buffer overlaps it, joins the LRU
 * tail (in ascending order) when the last one goes, comes off it when a
 * buffer lands on it again, and the shrinker reclaims from the LRU head.
 * After every operation the arena's buffer addresses, page states, stats
 * and buffer contents must match.  Input: one header byte (arena pages),
 * then operations of four bytes (op, fault, 16-bit argument).
 */
#include <errno.h>
#include <sys/mman.h>
#include <tide.h>

#include "fuzz.h"

#define PAGE 4096u
#define MAXBUF 64
#define MAXPAGES 64

size_t tide__arena_page_states(struct tide_arena *a, unsigned char *out,
			       size_t n);

enum { P_UNMAPPED, P_LRU, P_USED };

struct model {
	size_t size, npages;
	struct {
		size_t off, len, req; /* len: req rounded up to 8 */
		unsigned char tag;
	} buf[MAXBUF];
	int nbuf;
	int ref[MAXPAGES];
	unsigned char state[MAXPAGES];
	unsigned lru[MAXPAGES]; /* oldest first */
	int nlru;
	unsigned long long avoided;
};

static int reports;

static void on_report(const char *what, const void *ptr, void *arg)
{
	(void)what;
	(void)ptr;
	(void)arg;
	reports++;
}

static void lru_del(struct model *m, unsigned pg)
{
	for (int i = 0; i < m->nlru; i++)
		if (m->lru[i] == pg) {
			memmove(&m->lru[i], &m->lru[i + 1],
				(size_t)(m->nlru - i - 1) * sizeof(m->lru[0]));
			m->nlru--;
			return;
		}
	FZ_CHECK(0);
}

static void pages_get(struct model *m, size_t off, size_t len)
{
	for (size_t pg = off / PAGE; pg <= (off + len - 1) / PAGE; pg++) {
		if (m->ref[pg]++)
			continue;
		if (m->state[pg] == P_LRU) {
			lru_del(m, (unsigned)pg);
			m->avoided++;
		}
		m->state[pg] = P_USED;
	}
}

static void pages_put(struct model *m, size_t off, size_t len)
{
	for (size_t pg = off / PAGE; pg <= (off + len - 1) / PAGE; pg++) {
		if (--m->ref[pg])
			continue;
		m->state[pg] = P_LRU;
		m->lru[m->nlru++] = (unsigned)pg;
	}
}

/* Best fit over the gaps between live buffers (kept sorted by offset). */
static bool model_fit(const struct model *m, size_t len, size_t *ret)
{
	size_t best = SIZE_MAX, best_len = SIZE_MAX, prev = 0;

	for (int i = 0; i <= m->nbuf; i++) {
		size_t end = i < m->nbuf ? m->buf[i].off : m->size;
		size_t gap = end - prev;

		if (gap >= len && gap < best_len) {
			best = prev;
			best_len = gap;
		}
		if (i < m->nbuf)
			prev = m->buf[i].off + m->buf[i].len;
	}
	*ret = best;
	return best != SIZE_MAX;
}

static void check_same(struct tide_arena *a, const struct model *m,
		       unsigned char *base)
{
	unsigned char st[MAXPAGES];
	struct tide_arena_stats s;
	size_t used = 0, lru = 0, unmapped = 0, bytes = 0;

	FZ_CHECK(tide__arena_page_states(a, st, m->npages) == m->npages);
	if (memcmp(st, m->state, m->npages)) {
		for (size_t i = 0; i < m->npages; i++)
			fprintf(stderr, "%d%d ", st[i], m->state[i]);
		fprintf(stderr, "\nlru:");
		for (int i = 0; i < m->nlru; i++)
			fprintf(stderr, " %u", m->lru[i]);
		fprintf(stderr, "\nbufs:");
		for (int i = 0; i < m->nbuf; i++)
			fprintf(stderr, " %zu+%zu", m->buf[i].off,
				m->buf[i].len);
		fprintf(stderr, "\n");
	}
	for (size_t i = 0; i < m->npages; i++) {
		FZ_CHECK(st[i] == m->state[i]);
		used += m->state[i] == P_USED;
		lru += m->state[i] == P_LRU;
		unmapped += m->state[i] == P_UNMAPPED;
	}
	for (int i = 0; i < m->nbuf; i++) {
		const unsigned char *p = base + m->buf[i].off;

		bytes += m->buf[i].len;
		/* Only the requested bytes: ASan poisons the rounding. */
		FZ_CHECK(p[0] == m->buf[i].tag &&
			 p[m->buf[i].req - 1] == m->buf[i].tag);
	}
	tide_arena_stats(a, &s);
	FZ_CHECK(s.size == m->size && s.pages_total == m->npages);
	FZ_CHECK(s.used_bytes == bytes && s.free_bytes == m->size - bytes);
	FZ_CHECK(s.pages_used == used && s.pages_lru == lru &&
		 s.pages_unmapped == unmapped);
	FZ_CHECK(s.page_faults_avoided == m->avoided);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	struct model *m = calloc(1, sizeof(*m));
	unsigned char tag = 1, *base;
	struct tide_arena *a;

	FZ_CHECK(m);
	m->npages = 1 + fz_u8(&f) % MAXPAGES;
	m->size = m->npages * PAGE;
	tide_set_error_handler(on_report, NULL);
	a = tide_arena_create("fuzz-arena", m->size);
	FZ_CHECK(a);
	/* The first buffer of a fresh arena sits at its first byte. */
	base = tide_arena_alloc(a, 8);
	FZ_CHECK(base);
	tide_arena_free(a, base);
	m->state[0] = P_LRU;
	m->lru[m->nlru++] = 0;
	while (f.n) {
		uint8_t op = fz_u8(&f), fault = fz_u8(&f);
		uint16_t arg = fz_u16(&f);
		int i = m->nbuf ? arg % m->nbuf : 0, before = reports;
		size_t len, off;
		void *p;

		if (getenv("FUZZ_TRACE"))
			fprintf(stderr, "op %d fault %#x arg %u\n", op % 6,
				fault, arg);
		switch (op % 6) {
		case 0:
		case 1:
		case 2: {
			/* Mostly small, sometimes several pages, or huge. */
			size_t want = op & 0x80 ? arg % (3 * PAGE) : arg % 600;

			if ((op & 0xc0) == 0xc0)
				want = m->size + arg % 16;
			len = TIDE__ALIGN_UP(want, 8);
			if (m->nbuf == MAXBUF)
				break;
			errno = 0;
			fz_arm(fault);
			p = tide_arena_alloc(a, want);
			tide__fault_clear();
			if (!want) {
				FZ_CHECK(!p && errno == EINVAL);
				break;
			}
			if (!model_fit(m, len, &off)) {
				FZ_CHECK(!p && errno == ENOSPC);
				break;
			}
			if (!p) {
				FZ_CHECK(errno == ENOMEM && (fault & 0x0f));
				break;
			}
			FZ_CHECK(p == base + off);
			for (i = 0; i < m->nbuf && m->buf[i].off < off; i++)
				;
			memmove(&m->buf[i + 1], &m->buf[i],
				(size_t)(m->nbuf - i) * sizeof(m->buf[0]));
			m->buf[i].off = off;
			m->buf[i].len = len;
			m->buf[i].req = want;
			m->buf[i].tag = tag++;
			m->nbuf++;
			pages_get(m, off, len);
			memset(p, m->buf[i].tag, want);
			break;
		}
		case 3:
			if (!m->nbuf)
				break;
			tide_arena_free(a, base + m->buf[i].off);
			pages_put(m, m->buf[i].off, m->buf[i].len);
			memmove(&m->buf[i], &m->buf[i + 1],
				(size_t)(m->nbuf - i - 1) * sizeof(m->buf[0]));
			m->nbuf--;
			break;
		case 4: {
			/*
			 * Reclaim: the oldest LRU pages go, unless mincore or
			 * madvise fails; only the resident ones count as
			 * freed.  A batch of nr that held nothing resident
			 * is followed by the next (the scan goes on down
			 * the LRU until it frees something).
			 */
			unsigned long nr = 1 + arg % 16, freed, want = 0;
			unsigned char st[MAXPAGES], res[MAXPAGES];
			int lru_before = m->nlru, kept = 0, reach = 0;

			for (int k = 0; k < m->nlru; k++) {
				unsigned char v = 0;

				FZ_CHECK(!mincore(base + (size_t)m->lru[k] *
								  PAGE,
						  PAGE, &v));
				res[k] = v & 1;
			}
			/* what a fault-free scan takes: the model's loop */
			while (reach < m->nlru && (!want || !reach)) {
				int end = TIDE__MIN(m->nlru, reach + (int)nr);

				for (; reach < end; reach++)
					want += res[reach];
			}
			fz_arm(fault);
			freed = tide_shrinker_scan("fuzz-arena", nr);
			tide__fault_clear();
			tide__arena_page_states(a, st, m->npages);
			for (int k = 0; k < m->nlru; k++) {
				unsigned pg = m->lru[k];

				if (st[pg] == P_UNMAPPED) {
					FZ_CHECK(k < reach);
					m->state[pg] = P_UNMAPPED;
				} else {
					m->lru[kept++] = pg;
				}
			}
			m->nlru = kept;
			if (!(fault & 0x0f)) {
				FZ_CHECK(lru_before - kept == reach);
				FZ_CHECK(freed == want);
			}
			FZ_CHECK(freed <= want);
			break;
		}
		case 5:
			/* Misuse: interior, stale or foreign pointers. */
			if (m->nbuf && m->buf[i].req > 8)
				p = base + m->buf[i].off + 8;
			else if (!m->nbuf)
				p = base;
			else
				p = &f;
			tide_arena_free(a, p);
			FZ_CHECK(reports == before + 1);
			break;
		}
		check_same(a, m, base);
	}
	tide_arena_destroy(a);
	tide_set_error_handler(NULL, NULL);
	free(m);
	return 0;
}
