// SPDX-License-Identifier: MIT
/*
 * ctl_proto.c - the control socket's protocol: the request parser and the
 * answers (docs/tidectl.md).  One request line per connection; the answer
 * is "ok\n", the body (key=value lines or tab-separated rows), "end\n", or
 * a single "err ENAME message\n" line.  The server that reads requests and
 * writes answers is ctl.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tide/arena.h>
#include <tide/ctl.h>
#include <tide/kv.h>
#include <tide/pressure.h>
#include <tide/shrinker.h>

#include "ctl_internal.h"
#include "internal.h"

/* ---- the request parser ------------------------------------------------ */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int tide__ctl_escape(const char *s, char *out, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c > ' ' && c <= '~' && c != '\\') {
			if (n + 1 >= size)
				return -ENOSPC;
			out[n++] = (char)c;
			continue;
		}
		if (n + 4 >= size)
			return -ENOSPC;
		out[n++] = '\\';
		out[n++] = 'x';
		out[n++] = hex[c >> 4];
		out[n++] = hex[c & 15];
	}
	if (n >= size)
		return -ENOSPC;
	out[n] = 0;
	return (int)n;
}

int tide__ctl_unescape(const char *s, size_t len, char *out, size_t size)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '\\') {
			int hi, lo;

			if (len - i < 4 || s[i + 1] != 'x')
				return -EINVAL;
			hi = hexval(s[i + 2]);
			lo = hexval(s[i + 3]);
			if (hi < 0 || lo < 0 || !(hi | lo))
				return -EINVAL;
			c = (char)(hi << 4 | lo);
			i += 3;
		} else if (c <= ' ' || c > '~') {
			return -EINVAL;
		}
		if (n + 1 >= size)
			return -EINVAL;
		out[n++] = c;
	}
	if (!n || n >= size)
		return -EINVAL;
	out[n] = 0;
	return 0;
}

/* A decimal number of 1..20 digits that fits an unsigned long. */
static int parse_ulong(const char *s, size_t len, unsigned long *ret)
{
	unsigned long v = 0;

	if (!len || len > 20)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		d = (unsigned)(s[i] - '0');
		if (v > (ULONG_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*ret = v;
	return 0;
}

static const struct {
	const char *word;
	enum tide__ctl_cmd cmd;
	unsigned args;
} commands[] = {
	{ "info", TIDE__CTL_INFO, 0 },
	{ "shrinkers", TIDE__CTL_SHRINKERS, 0 },
	{ "monitor", TIDE__CTL_MONITOR, 0 },
	{ "stats", TIDE__CTL_STATS, 0 },
	{ "scan", TIDE__CTL_SCAN, 2 },
	{ "shrink", TIDE__CTL_SHRINK, 1 },
	{ "drop", TIDE__CTL_DROP, 0 },
	{ "purge", TIDE__CTL_PURGE, 0 },
	{ "totals", TIDE__CTL_TOTALS, 0 },
	{ "yield", TIDE__CTL_YIELD, 0 },
	{ "watermarks", TIDE__CTL_WATERMARKS, 2 },
};

/*
 * "watermarks HIGH LOW": HIGH in bytes (with K, M, G or T) or N% of the
 * limit, LOW the same kind or 0 (7/8 of HIGH); or "default 0", the
 * limit's defaults.
 */
static int parse_tune(const char *const tok[], const size_t tlen[],
		      struct tide__tune *ret)
{
	struct tide__tune t = { 0 };
	char buf[2][TIDE__SIZE_WORD_MAX];

	for (int i = 0; i < 2; i++) {
		if (!tok[i + 1] || tlen[i + 1] >= sizeof(buf[i]))
			return -EINVAL;
		memcpy(buf[i], tok[i + 1], tlen[i + 1]);
		buf[i][tlen[i + 1]] = 0;
	}
	if (strcmp(buf[0], "default") &&
	    tide__parse_size(buf[0], &t.high, &t.high_pct))
		return -EINVAL;
	if (strcmp(buf[1], "0") && tide__parse_size(buf[1], &t.low, &t.low_pct))
		return -EINVAL;
	if (tide__tune_mixed(&t))
		return -EINVAL;
	*ret = t;
	return 0;
}

int tide__ctl_parse(const char *line, size_t len, struct tide__ctl_req *ret)
{
	struct tide__ctl_req req = { 0 };
	const char *tok[4] = { 0 };
	size_t tlen[4] = { 0 }, ntok = 0, i, start;
	unsigned c;

	if (!line || !ret)
		return -EINVAL;
	if (len >= TIDE__CTL_REQ_MAX)
		return -E2BIG;
	/* Tokens: printable ASCII separated by exactly one space. */
	for (i = 0, start = 0; i <= len; i++) {
		if (i < len && line[i] != ' ') {
			if (line[i] < '!' || line[i] > '~')
				return -EINVAL;
			continue;
		}
		if (i == start || ntok == 4)
			return -EINVAL;
		tok[ntok] = line + start;
		tlen[ntok++] = i - start;
		start = i + 1;
	}
	for (c = 0; c < sizeof(commands) / sizeof(commands[0]); c++)
		if (strlen(commands[c].word) == tlen[0] &&
		    !memcmp(commands[c].word, tok[0], tlen[0]))
			break;
	if (c == sizeof(commands) / sizeof(commands[0]) ||
	    ntok != commands[c].args + 1)
		return -EINVAL;
	req.cmd = commands[c].cmd;
	switch (req.cmd) {
	case TIDE__CTL_SCAN:
		if (tide__ctl_unescape(tok[1], tlen[1], req.name,
				       sizeof(req.name)) ||
		    parse_ulong(tok[2], tlen[2], &req.n))
			return -EINVAL;
		break;
	case TIDE__CTL_SHRINK:
		if (parse_ulong(tok[1], tlen[1], &req.n) ||
		    req.n > TIDE_DEF_PRIORITY)
			return -EINVAL;
		break;
	case TIDE__CTL_WATERMARKS:
		if (parse_tune(tok, tlen, &req.tune))
			return -EINVAL;
		break;
	default:
		break;
	}
	*ret = req;
	return 0;
}

/* ---- responses --------------------------------------------------------- */

static void out_add(struct tide__ctl_out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void out_vadd(struct tide__ctl_out *o, const char *fmt, va_list ap)
{
	for (;;) {
		size_t room = o->cap - o->len, cap;
		va_list aq;
		char *p;
		int n;

		va_copy(aq, ap);
		/* The analyzer loses a va_list passed by value: aq is copied. */
		// NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
		n = vsnprintf(o->buf ? o->buf + o->len : NULL, room, fmt, aq);
		va_end(aq);
		if (n < 0) {
			o->failed = true;
			return;
		}
		if ((size_t)n < room) {
			o->len += (size_t)n;
			return;
		}
		cap = TIDE__MAX(o->cap * 2, o->len + (size_t)n + 256);
		p = tide__os_realloc(o->buf, cap);
		if (!p) {
			o->failed = true;
			return;
		}
		o->buf = p;
		o->cap = cap;
	}
}

static void out_add(struct tide__ctl_out *o, const char *fmt, ...)
{
	va_list ap;

	if (o->failed)
		return;
	va_start(ap, fmt);
	out_vadd(o, fmt, ap);
	va_end(ap);
}

/* key=value with the value escaped as a field */
static void out_str(struct tide__ctl_out *o, const char *key, const char *val)
{
	char esc[4 * 512 + 1];

	if (tide__ctl_escape(val ? val : "", esc, sizeof(esc)) < 0) {
		o->failed = true;
		return;
	}
	out_add(o, "%s=%s\n", key, esc);
}

static void out_u64(struct tide__ctl_out *o, const char *key,
		    unsigned long long v)
{
	out_add(o, "%s=%llu\n", key, v);
}

static const char *level_name(enum tide_pressure_level l)
{
	static const char *const names[] = { "none", "low", "medium",
					     "critical" };

	return (unsigned)l < 4 ? names[l] : "unknown";
}

static void add_allow(struct tide__ctl_out *o, unsigned allow)
{
	static const char *const names[] = { "read", "scan",  "shrink",
					     "drop", "purge", "tune" };
	bool first = true;

	out_add(o, "allow=");
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(allow & (1u << i)))
			continue;
		out_add(o, "%s%s", first ? "" : ",", names[i]);
		first = false;
	}
	out_add(o, "\n");
}

/*
 * NULL, or the error line when /proc/self/comm could not be opened for
 * want of memory or descriptors (no /proc: comm is empty).  A review: the
 * answer said comm= as if the process had no name.
 */
static const char *do_info(struct ctl *c, struct tide__ctl_out *o)
{
	char comm[64] = "";
	int fd = tide__os_open("/proc/self/comm", O_RDONLY);

	if (fd == -ENOMEM)
		return "err ENOMEM out of memory\n";
	if (fd == -ENFILE)
		return "err ENFILE out of file descriptors (the system's)\n";
	if (fd == -EMFILE)
		return "err EMFILE out of file descriptors\n";
	if (fd >= 0) {
		ssize_t n = tide__os_read(fd, comm, sizeof(comm) - 1);

		comm[n > 0 ? n : 0] = 0;
		comm[strcspn(comm, "\n")] = 0;
		tide__os_close(fd);
	}
	out_u64(o, "pid", (unsigned long long)c->pid);
	/* now: a process may drop its privileges after it listened */
	out_u64(o, "uid", (unsigned long long)tide__os_geteuid());
	out_str(o, "comm", comm);
	out_str(o, "version", tide_version());
	add_allow(o, c->allow);
	out_u64(o, "timeout_ms", c->timeout_ms);
	out_u64(o, "monitor", c->monitor != NULL);
	return NULL;
}

static int add_shrinker(const struct tide_shrinker_info *si, void *arg)
{
	struct tide__ctl_out *o = arg;
	char esc[4 * TIDE__CTL_NAME_MAX + 1], cut[TIDE__CTL_NAME_MAX + 1];

	/*
	 * A name too long to look up is still listed, cut to the limit of
	 * a request's NAME.  Up to 0.2.27 only one whose escaped form
	 * overflowed was: 300 plain bytes were listed whole.
	 */
	snprintf(cut, sizeof(cut), "%s", si->name);
	tide__ctl_escape(cut, esc, sizeof(esc));
	out_add(o, "%s\t%lu\t%lu\t%llu\t%llu\t%llu\t%u\t%lu\n", esc, si->count,
		si->nr_deferred, si->calls, si->scanned, si->freed, si->seeks,
		si->batch);
	return 0;
}

static void do_monitor(struct ctl *c, struct tide__ctl_out *o)
{
	struct tide_monitor_stats st;
	struct tide_monitor_limit lim;
	char kind[32];
	unsigned mask;
	bool first = true;

	out_u64(o, "monitor", c->monitor != NULL);
	if (!c->monitor)
		return;
	mask = tide_monitor_source(c->monitor);
	out_add(o, "sources=");
	for (unsigned b = 1; b && b <= TIDE_SOURCE_AUTO; b <<= 1) {
		if (!(mask & b))
			continue;
		out_add(o, "%s%s", first ? "" : ",",
			tide_monitor_source_name(b));
		first = false;
	}
	out_add(o, "\n");
	for (unsigned b = 1; b && b <= TIDE_SOURCE_AUTO; b <<= 1) {
		struct tide_monitor_source_stats ss;
		const char *name = tide_monitor_source_name(b);

		/* NONE (no source) has no figures of its own */
		if (!(mask & b) || b == TIDE_SOURCE_NONE ||
		    tide_monitor_source_stats(c->monitor, b, &ss))
			continue;
		out_add(o, "%s.level=%s\n", name, level_name(ss.level));
		out_add(o, "%s.events=%llu\n", name, ss.events);
		out_add(o, "%s.loops=%llu\n", name, ss.loops);
		out_add(o, "%s.value=%llu\n", name,
			(unsigned long long)ss.value);
	}
	tide_monitor_stats(c->monitor, &st);
	out_str(o, "level", level_name(st.level));
	out_u64(o, "events", st.events);
	out_u64(o, "loops", st.loops);
	out_u64(o, "passes", st.passes);
	out_u64(o, "freed", st.freed);
	out_add(o, "last_priority=%d\n", st.last_priority);
	out_u64(o, "usage", st.usage);
	if (tide_monitor_limit(c->monitor, &lim))
		return;
	lim.dir[sizeof(lim.dir) - 1] = 0;
	lim.file[sizeof(lim.file) - 1] = 0;
	out_u64(o, "limit", lim.limit);
	out_add(o, "limit_version=%d\n", lim.version);
	out_str(o, "limit_dir", lim.dir);
	out_str(o, "limit_file", lim.file);
	out_u64(o, "working_set", lim.working_set);
	out_u64(o, "high", lim.high);
	out_u64(o, "low", lim.low);
	tide__monitor_watermarks_kind(c->monitor, kind, sizeof(kind));
	if (kind[0])
		out_str(o, "watermarks", kind);
}

static void add_purge_stats(struct tide__ctl_out *o)
{
	struct tide_purge_stats ps = { 0 };

	/* tide_purge_allocator() finds it on first use; the stats may not. */
	tide_purge_stats(&ps);
	out_str(o, "allocator", tide_purge_allocator());
	out_u64(o, "purge_calls", ps.calls);
	out_u64(o, "purge_pages", ps.pages);
	out_u64(o, "purge_last_before", ps.last_before);
	out_u64(o, "purge_last_after", ps.last_after);
}

static void do_totals(struct tide__ctl_out *o)
{
	struct tide_kv_stats kv;
	struct tide_arena_totals ar;

	tide_kv_stats(&kv);
	tide_arena_totals(&ar);
	out_u64(o, "kv_blocks", kv.blocks);
	out_u64(o, "kv_requested", kv.requested);
	out_u64(o, "kv_committed", kv.committed);
	out_u64(o, "arenas", ar.arenas);
	out_u64(o, "arena_size", ar.size);
	out_u64(o, "arena_used_bytes", ar.used_bytes);
	out_u64(o, "arena_pages_used", ar.pages_used);
	out_u64(o, "arena_pages_lru", ar.pages_lru);
	out_u64(o, "arena_pages_unmapped", ar.pages_unmapped);
	out_u64(o, "arena_faults_avoided", ar.page_faults_avoided);
}

static const unsigned cmd_allow[] = {
	[TIDE__CTL_INFO] = TIDE_CTL_READ,
	[TIDE__CTL_SHRINKERS] = TIDE_CTL_READ,
	[TIDE__CTL_MONITOR] = TIDE_CTL_READ,
	[TIDE__CTL_STATS] = TIDE_CTL_READ,
	[TIDE__CTL_SCAN] = TIDE_CTL_SCAN,
	[TIDE__CTL_SHRINK] = TIDE_CTL_SHRINK,
	[TIDE__CTL_DROP] = TIDE_CTL_DROP,
	[TIDE__CTL_PURGE] = TIDE_CTL_PURGE,
	[TIDE__CTL_TOTALS] = TIDE_CTL_READ,
	[TIDE__CTL_YIELD] = 0, /* answered by ctl.c, never here */
	[TIDE__CTL_WATERMARKS] = TIDE_CTL_TUNE,
};

/* The "watermarks" request (tide__monitor_tune()). */
static const char *do_watermarks(struct ctl *c, const struct tide__tune *t,
				 struct tide__ctl_out *o)
{
	uint64_t high, low;
	int r;

	if (!c->monitor)
		return "err ENODEV no monitor\n";
	r = tide__monitor_tune(c->monitor, t, &high, &low);
	switch (r) {
	case 0:
		break;
	case -EOPNOTSUPP:
		return "err EOPNOTSUPP the monitor runs no watermark source\n";
	case -ENODEV:
		return "err ENODEV no limit to take the percentage or "
		       "defaults of\n";
	case -EINVAL:
		return "err ERANGE low above high\n";
	case -ERANGE:
		return "err ERANGE a watermark under 1 MiB (usage is always "
		       "above it: reclaim would not end)\n";
	case -EFBIG:
		return "err ERANGE high at or above the limit (usage never "
		       "reaches it)\n";
	case -ENOMEM:
		return "err ENOMEM out of memory\n";
	case -EMFILE:
	case -ENFILE:
		return "err EMFILE out of file descriptors\n";
	default:
		return "err EIO the watermarks could not be set\n";
	}
	out_add(o, "ok\n");
	out_u64(o, "high", high);
	out_u64(o, "low", low);
	out_add(o, "end\n");
	return NULL;
}

/*
 * Answer @req into @o.  Returns NULL, or a static error line when the
 * request is refused (nothing was done).
 */
const char *tide__ctl_execute(struct ctl *c, const struct tide__ctl_req *req,
			      struct tide__ctl_out *o)
{
	unsigned long freed, pages;
	bool measured;

	if (!(c->allow & cmd_allow[req->cmd]))
		return "err EPERM request not allowed\n";
	if (req->cmd == TIDE__CTL_WATERMARKS)
		return do_watermarks(c, &req->tune, o);
	if (req->cmd == TIDE__CTL_SCAN) {
		errno = 0;
		freed = tide_shrinker_scan(req->name, req->n);
		if (!freed && errno == ENOENT)
			return "err ENOENT no such shrinker\n";
		out_add(o, "ok\n");
		out_u64(o, "freed", freed);
		out_add(o, "end\n");
		return NULL;
	}
	out_add(o, "ok\n");
	switch (req->cmd) {
	case TIDE__CTL_INFO: {
		const char *err = do_info(c, o);

		if (err)
			return err;
		break;
	}
	case TIDE__CTL_SHRINKERS:
		if (tide_shrinker_foreach(add_shrinker, o))
			o->failed = true;
		break;
	case TIDE__CTL_MONITOR:
		do_monitor(c, o);
		break;
	case TIDE__CTL_STATS:
		add_purge_stats(o);
		break;
	case TIDE__CTL_SHRINK:
		out_u64(o, "freed", tide_shrink((int)req->n, 0));
		break;
	case TIDE__CTL_DROP:
		/* objects, as the shrinkers count; then the pages the final
		 * purge gave back, and whether they could be measured */
		freed = tide__drop_caches(&pages, &measured);
		out_u64(o, "freed", freed);
		out_u64(o, "purged_pages", pages);
		out_u64(o, "measured", measured);
		break;
	case TIDE__CTL_PURGE:
		out_u64(o, "freed_pages", tide__purge(&measured));
		out_u64(o, "measured", measured);
		add_purge_stats(o);
		break;
	case TIDE__CTL_TOTALS:
		do_totals(o);
		break;
	default:
		break;
	}
	out_add(o, "end\n");
	return NULL;
}
