// SPDX-License-Identifier: MIT
/*
 * settings.c - parse libtide-preload's environment settings (settings.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tide/pressure.h>

#include "internal.h"
#include "pressure/cgroup.h"
#include "pressure/defaults.h"

#include "settings.h"

int tide__preload_parse_size(const char *s, struct tide__preload_size *ret)
{
	uint64_t bytes;
	unsigned pct;

	if (tide__parse_size(s, &bytes, &pct))
		return -EINVAL;
	ret->bytes = bytes;
	ret->pct = pct;
	return 0;
}

/* The TIDE_SOURCE_* bit called @name (@len bytes), or 0. */
static unsigned source_bit(const char *name, size_t len)
{
	for (unsigned b = 1; b <= TIDE_SOURCE_NONE; b <<= 1) {
		const char *n = tide_monitor_source_name(b);

		if (strlen(n) == len && !memcmp(n, name, len))
			return b;
	}
	return 0;
}

int tide__preload_parse_sources(const char *s, unsigned *ret)
{
	unsigned mask = 0;

	if (!s || !*s)
		return -EINVAL;
	for (;;) {
		const char *end = strchr(s, ',');
		size_t len = end ? (size_t)(end - s) : strlen(s);
		unsigned b = source_bit(s, len);

		if (!b)
			return -EINVAL;
		mask |= b;
		if (!end)
			break;
		s = end + 1;
	}
	*ret = mask;
	return 0;
}

void tide__preload_source_names(unsigned mask, char *buf, size_t size)
{
	size_t n = 0;

	if (size)
		buf[0] = '\0';
	for (unsigned b = 1; b <= TIDE_SOURCE_NONE && n < size; b <<= 1) {
		int w;

		if (!(mask & b))
			continue;
		w = snprintf(buf + n, size - n, "%s%s", n ? "," : "",
			     tide_monitor_source_name(b));
		if (w < 0)
			break;
		n += (size_t)w;
	}
}

int tide__preload_parse_bool(const char *s, bool *ret)
{
	if (!s || (strcmp(s, "0") && strcmp(s, "1")))
		return -EINVAL;
	*ret = s[0] == '1';
	return 0;
}

int tide__preload_size_resolve(const struct tide__preload_size *s,
			       uint64_t limit, uint64_t *ret)
{
	if (!s->pct) {
		*ret = s->bytes;
		return 0;
	}
	if (!limit)
		return -ENOENT;
	*ret = tide__pct_of(limit, s->pct);
	return 0;
}

static bool is_set(const struct tide__preload_size *s)
{
	return s->bytes || s->pct;
}

/* Add one warning to @msg: "; " after one already there. */
__attribute__((format(printf, 3, 4))) static void warn(char *msg, size_t size,
						       const char *fmt, ...)
{
	size_t n = strlen(msg);
	va_list ap;

	if (n && n + 2 < size) {
		memcpy(msg + n, "; ", 3);
		n += 2;
	}
	if (n + 1 >= size)
		return;
	va_start(ap, fmt);
	vsnprintf(msg + n, size - n, fmt, ap);
	va_end(ap);
}

#define UNDER_FLOOR "under 1 MiB, usage is always above it"
#define LIMIT_FOUND "(the limit found from the cgroups, if any, is used)"

/* This machine's memory (MemTotal), or 0 if /proc/meminfo says nothing. */
static uint64_t machine_memory(void)
{
	uint64_t total = 0, avail;

	if (tide__meminfo_read(NULL, &total, &avail))
		return 0;
	return total;
}

/*
 * A TIDE_LIMIT whose high watermark is at or above @ceiling (0: none
 * known), this machine's memory or the limit the cgroups set: the machine
 * runs out, or the group's OOM killer comes, before usage gets near it
 * (the monitor takes a cgroup limit at or above MemTotal as none for the
 * same reason).  The watermark is TIDE_HIGH's (in bytes, or its
 * percentage of this limit; not one under the floor, which is dropped)
 * when that is below @ceiling, else the default 3/4 of the limit.
 * Ignored, as if not given; true then.
 */
static bool limit_past(const struct tide__preload_settings *s,
		       struct tide_monitor_config *cfg, uint64_t ceiling,
		       const char *what, char *msg, size_t size)
{
	uint64_t high = tide__default_high(cfg->limit), given = 0;

	if (s->high.pct)
		given = tide__pct_of(cfg->limit, s->high.pct);
	else if (s->high.bytes)
		given = s->high.bytes;
	if (given < TIDE__PRELOAD_FLOOR)
		given = 0;
	if (!ceiling || high < ceiling || (given && given < ceiling))
		return false;
	if (given)
		warn(msg, size,
		     "TIDE_LIMIT=%s ignored: its high watermark (TIDE_HIGH, "
		     "%llu bytes, and the default 3/4 of the limit, %llu "
		     "bytes) is at or above %s (%llu bytes), usage never "
		     "reaches it %s",
		     s->limit.text ? s->limit.text : "?",
		     (unsigned long long)given, (unsigned long long)high, what,
		     (unsigned long long)ceiling, LIMIT_FOUND);
	else
		warn(msg, size,
		     "TIDE_LIMIT=%s ignored: its default high watermark (3/4 "
		     "of it, %llu bytes) is at or above %s (%llu bytes), "
		     "usage never reaches it %s",
		     s->limit.text ? s->limit.text : "?",
		     (unsigned long long)high, what,
		     (unsigned long long)ceiling, LIMIT_FOUND);
	cfg->limit = 0;
	return true;
}

/*
 * TIDE_HIGH or TIDE_LOW as a percentage (@set) of a TIDE_LIMIT that was
 * ignored, where no other limit is found: ignored with it (a percentage
 * of no limit is otherwise a bad setting, but the limit was the user's).
 */
static void pct_of_ignored(const char *name, struct tide__preload_size *set,
			   char *msg, size_t size)
{
	if (!set->pct)
		return;
	warn(msg, size,
	     "%s=%s ignored too: a percentage of that limit, and no other is "
	     "found",
	     name, set->text ? set->text : "?");
	memset(set, 0, sizeof(*set));
}

/*
 * The watermarks TIDE_HIGH (@hs) and TIDE_LOW (@ls) give against the limit
 * @base (0: none found), as tide__preload_resolve() takes them: those that
 * would do nothing are dropped with a warning in @msg (0 in *@ret_high or
 * *@ret_low: the monitor's default).  @ignored: a TIDE_LIMIT was ignored;
 * a percentage of it is then dropped too where @base is 0 (@hs and @ls are
 * cleared).  @total: the machine's memory, 0 if unknown.  Return: 0; or
 * -EINVAL with the reason appended to @msg.
 */
static int resolve_pair(const struct tide__preload_settings *s,
			struct tide__preload_size *hs,
			struct tide__preload_size *ls, uint64_t base,
			uint64_t total, bool ignored, uint64_t *ret_high,
			uint64_t *ret_low, char *msg, size_t size)
{
	bool high_ignored = false;
	uint64_t high, low;

	if (ignored && !base) {
		pct_of_ignored("TIDE_HIGH", hs, msg, size);
		pct_of_ignored("TIDE_LOW", ls, msg, size);
	}
	if (tide__preload_size_resolve(hs, base, &high) ||
	    tide__preload_size_resolve(ls, base, &low)) {
		warn(msg, size, "TIDE_%s=%u%%: no effective limit found",
		     hs->pct ? "HIGH" : "LOW", hs->pct ? hs->pct : ls->pct);
		return -EINVAL;
	}
	/* errors append: a line saying why TIDE_LIMIT was ignored stays */
	if (high && low > high) {
		warn(msg, size,
		     "TIDE_LOW (%llu bytes) is above TIDE_HIGH (%llu bytes)",
		     (unsigned long long)low, (unsigned long long)high);
		return -EINVAL;
	}
	/*
	 * Usage never gets under TIDE__PRELOAD_FLOOR: reclaim would start
	 * and never end (settings.h).  The default is used.
	 */
	if (high && high < TIDE__PRELOAD_FLOOR) {
		if (base)
			warn(msg, size,
			     "TIDE_HIGH=%s ignored: " UNDER_FLOOR
			     " (the default, 3/4 of the limit, is used: %llu "
			     "bytes)",
			     s->high.text ? s->high.text : "?",
			     (unsigned long long)tide__default_high(base));
		else
			warn(msg, size,
			     "TIDE_HIGH=%s ignored: " UNDER_FLOOR
			     " (no limit found: no high watermark is used)",
			     s->high.text ? s->high.text : "?");
		high = 0;
		high_ignored = base != 0;
	}
	if (low && low < TIDE__PRELOAD_FLOOR) {
		warn(msg, size,
		     "TIDE_LOW=%s ignored: " UNDER_FLOOR
		     " (the default is used)",
		     s->low.text ? s->low.text : "?");
		low = 0;
	}
	/*
	 * Usage never passes the limit, nor the machine's memory under a
	 * limit that is taken (the limit's default is below that memory: a
	 * cgroup limit is, and so is a TIDE_LIMIT limit_past() kept):
	 * a high watermark there never fires (nor the budget source it
	 * would add).  The default is used.
	 */
	if (high && base && (high >= base || (total && high >= total))) {
		bool past_limit = high >= base;

		warn(msg, size,
		     "TIDE_HIGH=%s ignored: %s (%llu bytes), usage never "
		     "reaches it (the default, 3/4 of the limit, is used: %llu "
		     "bytes)",
		     s->high.text ? s->high.text : "?",
		     past_limit ? "not below the limit" :
				  "at or above this machine's memory",
		     (unsigned long long)(past_limit ? base : total),
		     (unsigned long long)tide__default_high(base));
		high = 0;
		high_ignored = true;
	}
	if (high_ignored && low && low > tide__default_high(base)) {
		warn(msg, size,
		     "TIDE_LOW=%s ignored too: above that default (the "
		     "default, 5/8 of the limit, is used: %llu bytes)",
		     s->low.text ? s->low.text : "?",
		     (unsigned long long)tide__default_low(base));
		low = 0;
	}
	/*
	 * No limit: the budget source compares the high watermark with the
	 * process's (or its cgroup's) resident memory, which never passes
	 * the machine's: a high watermark there never fires, and would
	 * only keep a source polling (a review: 7% of a CPU for a
	 * TIDE_HIGH of 16 EiB).
	 */
	if (high && !base && total && high >= total) {
		warn(msg, size,
		     "TIDE_HIGH=%s ignored: at or above this machine's memory "
		     "(%llu bytes), usage never reaches it (no limit found: no "
		     "high watermark is used)",
		     s->high.text ? s->high.text : "?",
		     (unsigned long long)total);
		high = 0;
	}
	/*
	 * A TIDE_HIGH without TIDE_LOW takes the low watermark 7/8 of it
	 * (tide_monitor_config): under TIDE__PRELOAD_FLOOR that keeps the
	 * monitor reclaiming as any watermark there does (ctl's "watermarks
	 * 1M" is refused for it).  The default is used.
	 */
	if (high && !low && tide__low_of_high(high) < TIDE__PRELOAD_FLOOR) {
		if (base)
			warn(msg, size,
			     "TIDE_HIGH=%s ignored: its low watermark (7/8 of "
			     "it, %llu bytes) is " UNDER_FLOOR " (the default, "
			     "3/4 of the limit, is used: %llu bytes)",
			     s->high.text ? s->high.text : "?",
			     (unsigned long long)(tide__low_of_high(high)),
			     (unsigned long long)tide__default_high(base));
		else
			warn(msg, size,
			     "TIDE_HIGH=%s ignored: its low watermark (7/8 of "
			     "it, %llu bytes) is " UNDER_FLOOR " (no limit "
			     "found: no high watermark is used)",
			     s->high.text ? s->high.text : "?",
			     (unsigned long long)(tide__low_of_high(high)));
		high = 0;
	}
	/* Nothing has a low watermark then: no limit watcher, no budget. */
	if (!high && low && !base) {
		warn(msg, size,
		     "TIDE_LOW=%s ignored: no limit found and no TIDE_HIGH, "
		     "so no source uses a low watermark",
		     s->low.text ? s->low.text : "?");
		low = 0;
	}
	/* the monitor's default high watermark (tide_monitor_config) */
	if (!high && low && base && low > tide__default_high(base)) {
		warn(msg, size,
		     "TIDE_LOW (%llu bytes) is above the default high "
		     "watermark (%llu bytes, 3/4 of the limit)",
		     (unsigned long long)low,
		     (unsigned long long)tide__default_high(base));
		return -EINVAL;
	}
	*ret_high = high;
	*ret_low = low;
	return 0;
}

/*
 * A limit (TIDE_LIMIT, in bytes or resolved) whose watermarks, as
 * resolve_pair() makes them with it and the monitor fills in the
 * defaults (3/4 and 5/8 of it; a low 7/8 of a high given alone), are
 * under TIDE__PRELOAD_FLOOR: usage is always above one, and reclaim runs
 * without end (a user trial: --limit 1M gave high 786432, low 655360).
 * One under the floor is always made from the limit: resolve_pair() drops
 * a TIDE_HIGH or TIDE_LOW under it, and a TIDE_HIGH whose own low is.
 * Settings the resolution refuses with @limit are checked with its
 * defaults (the caller's resolution then says why, or drops them).
 * Ignored, as if not given; true then.
 */
static bool limit_under_floor(const struct tide__preload_settings *s,
			      struct tide_monitor_config *cfg, uint64_t total,
			      char *msg, size_t size)
{
	struct tide__preload_size hs = s->high, ls = s->low;
	uint64_t limit = cfg->limit, high, low;
	char scratch[512] = "";

	/* refused with it (the caller's resolution says why): its defaults */
	if (resolve_pair(s, &hs, &ls, limit, total, false, &high, &low, scratch,
			 sizeof(scratch)))
		high = low = 0;
	if (!high) {
		high = tide__default_high(limit);
		if (!low)
			low = tide__default_low(limit);
	} else if (!low) {
		low = tide__low_of_high(high);
	}
	/* low <= high: a high under the floor has its low there too */
	if (low >= TIDE__PRELOAD_FLOOR)
		return false;
	warn(msg, size,
	     "TIDE_LIMIT=%s ignored: %s under 1 MiB (high %llu, low %llu "
	     "bytes), usage is always above %s %s",
	     s->limit.text ? s->limit.text : "?",
	     high < TIDE__PRELOAD_FLOOR ? "its watermarks are" :
					  "its low watermark is",
	     (unsigned long long)high, (unsigned long long)low,
	     high < TIDE__PRELOAD_FLOOR ? "them" : "it", LIMIT_FOUND);
	cfg->limit = 0;
	return true;
}

int tide__preload_resolve(const struct tide__preload_settings *s,
			  struct tide_monitor_config *cfg, char *msg,
			  size_t size)
{
	uint64_t base = 0, high, low, total = machine_memory();
	bool cgroup_limit = false, ignored;
	struct tide__preload_size hs = s->high, ls = s->low;
	int r;

	msg[0] = '\0';
	memset(cfg, 0, sizeof(*cfg));
	cfg->size = sizeof(*cfg);
	cfg->sources = s->sources;
	cfg->limit = s->limit.bytes;
	/*
	 * The monitor takes a limit of 1 EiB or more as none at all, and
	 * then not even the cgroup's counts: as if TIDE_LIMIT were unset.
	 */
	if (cfg->limit >= TIDE__NO_LIMIT) {
		warn(msg, size,
		     "TIDE_LIMIT=%s ignored: 1 EiB or more means no limit %s",
		     s->limit.text ? s->limit.text : "?", LIMIT_FOUND);
		cfg->limit = 0;
	}
	if (cfg->limit && cfg->limit < TIDE__PRELOAD_FLOOR) {
		warn(msg, size, "TIDE_LIMIT=%s ignored: " UNDER_FLOOR " %s",
		     s->limit.text ? s->limit.text : "?", LIMIT_FOUND);
		cfg->limit = 0;
	}
	if (cfg->limit)
		limit_past(s, cfg, total, "this machine's memory", msg, size);
	ignored = s->limit.bytes && !cfg->limit;
	/*
	 * Watermarks are checked against the limit: find it.  A TIDE_LIMIT
	 * in bytes is checked against the cgroups' own limit too.
	 */
	if (s->limit.pct || cfg->limit || is_set(&s->high) || is_set(&s->low)) {
		struct tide_monitor_config probe = *cfg;
		struct tide_monitor_limit lim;
		struct tide_monitor *m;

		probe.limit = 0; /* what the cgroups set */

		/*
		 * Without watermarks yet: a source that needs them (budget)
		 * cannot open, and "none" keeps the probe alive to report
		 * the cgroups' limit all the same.  Only the limit watchers
		 * answer what is asked here.  The level sources stay shut:
		 * each PSI trigger's close waits for an RCU grace period
		 * (11-27 ms), and this probe runs in every process that
		 * starts under the shim with TIDE_LIMIT, TIDE_HIGH or
		 * TIDE_LOW set, nested ones too (docs/preload.md, *exec*).
		 * A bad $MEMORY_PRESSURE_WATCH is the monitor's to report,
		 * as without these settings.
		 */
		probe.sources =
			(probe.sources ? probe.sources : TIDE_SOURCE_AUTO) &
			~(TIDE_SOURCE_WATCH | TIDE_SOURCE_PSI_CGROUP |
			  TIDE_SOURCE_PSI);
		probe.sources |= TIDE_SOURCE_NONE;
		r = tide_monitor_new(&m, &probe);

		if (r)
			return r;
		r = tide_monitor_limit(m, &lim);
		/* a limit watcher opened: it watches the watermarks */
		cgroup_limit = tide_monitor_source(m) &
			       (TIDE_SOURCE_CGROUP1 | TIDE_SOURCE_CGROUP2);
		tide_monitor_free(m);
		if (r)
			return r;
		base = lim.limit;
		if (cfg->limit &&
		    limit_past(s, cfg, base, "the limit the cgroups set", msg,
			       size))
			ignored = true;
		if (s->limit.pct &&
		    tide__preload_size_resolve(&s->limit, base, &cfg->limit)) {
			snprintf(msg, size,
				 "TIDE_LIMIT=%u%%: no effective limit found",
				 s->limit.pct);
			return -EINVAL;
		}
		if (s->limit.pct && cfg->limit < TIDE__PRELOAD_FLOOR) {
			warn(msg, size,
			     "TIDE_LIMIT=%s ignored: " UNDER_FLOOR " %s",
			     s->limit.text ? s->limit.text : "?", LIMIT_FOUND);
			cfg->limit = 0;
		}
	}
	if (cfg->limit && limit_under_floor(s, cfg, total, msg, size))
		ignored = true;
	if (cfg->limit)
		base = cfg->limit;
	r = resolve_pair(s, &hs, &ls, base, total, ignored, &high, &low, msg,
			 size);
	if (r)
		return r;
	cfg->high_watermark = high;
	cfg->low_watermark = low;
	/*
	 * A watermark for a limit the cgroups set: their limit watcher
	 * watches it.  The budget source a high watermark adds by default
	 * would measure the same against the process's own
	 * /proc/self/smaps_rollup every 100 ms, whose reading costs in
	 * proportion to the resident size (a trial: 27% of a CPU for an
	 * idle 2 GiB process).  TIDE_SOURCES=...,budget keeps it.
	 */
	if (!cfg->sources && cgroup_limit && high)
		cfg->sources = TIDE_SOURCE_AUTO & ~TIDE_SOURCE_BUDGET;
	return 0;
}

static int bad(char *msg, size_t size, const char *name, const char *val,
	       const char *why)
{
	snprintf(msg, size, "%s=%s: %s", name, val, why);
	return -EINVAL;
}

int tide__preload_settings_read(struct tide__preload_settings *ret, char *msg,
				size_t size)
{
	static const char size_why[] =
		"not a size (N, NK, NM, NG, NT or N% with N > 0)";
	static const struct {
		const char *name;
		size_t off;
	} sizes[] = {
		{ "TIDE_LIMIT",
		  offsetof(struct tide__preload_settings, limit) },
		{ "TIDE_HIGH", offsetof(struct tide__preload_settings, high) },
		{ "TIDE_LOW", offsetof(struct tide__preload_settings, low) },
	};
	static const struct {
		const char *name;
		size_t off;
	} bools[] = {
		{ "TIDE_CONTROL",
		  offsetof(struct tide__preload_settings, control) },
		{ "TIDE_VERBOSE",
		  offsetof(struct tide__preload_settings, verbose) },
		{ "TIDE_INHERIT",
		  offsetof(struct tide__preload_settings, inherit) },
	};
	const char *v;

	memset(ret, 0, sizeof(*ret));
	ret->inherit = true;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct tide__preload_size *sz =
			(struct tide__preload_size *)((char *)ret +
						      sizes[i].off);

		v = secure_getenv(sizes[i].name);
		if (v && tide__preload_parse_size(v, sz))
			return bad(msg, size, sizes[i].name, v, size_why);
		sz->text = v;
	}
	for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
		v = secure_getenv(bools[i].name);
		if (v && tide__preload_parse_bool(
				 v, (bool *)((char *)ret + bools[i].off)))
			return bad(msg, size, bools[i].name, v, "not 0 or 1");
	}
	v = secure_getenv("TIDE_SOURCES");
	if (v && tide__preload_parse_sources(v, &ret->sources))
		return bad(msg, size, "TIDE_SOURCES", v,
			   "not a comma list of watch, psi-cgroup, psi, "
			   "cgroup2, cgroup1, budget, none");
	if (!ret->high.pct && !ret->low.pct && ret->high.bytes &&
	    ret->low.bytes > ret->high.bytes)
		return bad(msg, size, "TIDE_LOW", secure_getenv("TIDE_LOW"),
			   "above TIDE_HIGH");
	return 0;
}

void tide__preload_said_value(const char *line, char *out, size_t size)
{
	/* FNV-1a, 64 bits: the same line gives the same value everywhere */
	uint64_t h = 0xcbf29ce484222325ull;

	for (const unsigned char *p = (const unsigned char *)line; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	snprintf(out, size, "%016llx", (unsigned long long)h);
}

bool tide__preload_was_said(const char *said, const char *line)
{
	char h[TIDE__PRELOAD_SAID_SIZE];

	tide__preload_said_value(line, h, sizeof(h));
	return said && !strcmp(said, h);
}
