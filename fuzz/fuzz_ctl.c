// SPDX-License-Identifier: MIT
/*
 * fuzz_ctl.c - the control socket's request parser and field escaping.
 *
 * Any input: tide__ctl_parse() either refuses it or returns a request whose
 * fields are in range, and the request written back in canonical form
 * (tide__ctl_escape() for the name, plain decimal) parses to the same
 * request (a watermarks request's sizes as plain bytes or N%).  A parsed
 * request was printable ASCII under 4 KiB.  Separately,
 * the input up to its first NUL, as a name, survives escape + unescape.
 */
#include <errno.h>
#include <limits.h>
#include <tide.h>

#include "fuzz.h"

static const char *const words[] = {
	[TIDE__CTL_INFO] = "info",
	[TIDE__CTL_SHRINKERS] = "shrinkers",
	[TIDE__CTL_MONITOR] = "monitor",
	[TIDE__CTL_STATS] = "stats",
	[TIDE__CTL_SCAN] = "scan",
	[TIDE__CTL_SHRINK] = "shrink",
	[TIDE__CTL_DROP] = "drop",
	[TIDE__CTL_PURGE] = "purge",
	[TIDE__CTL_TOTALS] = "totals",
	[TIDE__CTL_YIELD] = "yield",
	[TIDE__CTL_WATERMARKS] = "watermarks",
};

/* A watermarks request's side in canonical form: bytes, N%, or 0. */
static void tune_word(char *out, size_t size, uint64_t bytes, unsigned pct)
{
	if (pct)
		snprintf(out, size, "%u%%", pct);
	else
		snprintf(out, size, "%llu", (unsigned long long)bytes);
}

static void check_request(const uint8_t *data, size_t size)
{
	struct tide__ctl_req req, again;
	char line[TIDE__CTL_REQ_MAX + 64], esc[4 * TIDE__CTL_NAME_MAX + 1];
	int r, n;

	memset(&req, 0xa5, sizeof(req));
	r = tide__ctl_parse((const char *)data, size, &req);
	if (r) {
		FZ_CHECK(r == -EINVAL || r == -E2BIG);
		FZ_CHECK(r != -E2BIG || size >= TIDE__CTL_REQ_MAX);
		return;
	}
	FZ_CHECK(size < TIDE__CTL_REQ_MAX);
	for (size_t i = 0; i < size; i++)
		FZ_CHECK(data[i] >= ' ' && data[i] <= '~');
	FZ_CHECK(req.cmd >= TIDE__CTL_INFO && req.cmd <= TIDE__CTL_WATERMARKS);
	switch (req.cmd) {
	case TIDE__CTL_SCAN:
		FZ_CHECK(req.name[0]);
		FZ_CHECK(strlen(req.name) <= TIDE__CTL_NAME_MAX);
		FZ_CHECK(tide__ctl_escape(req.name, esc, sizeof(esc)) > 0);
		n = snprintf(line, sizeof(line), "scan %s %lu", esc, req.n);
		break;
	case TIDE__CTL_SHRINK:
		FZ_CHECK(req.n <= TIDE_DEF_PRIORITY);
		n = snprintf(line, sizeof(line), "shrink %lu", req.n);
		break;
	case TIDE__CTL_WATERMARKS: {
		const struct tide__tune *t = &req.tune;
		char hi[32] = "default", lo[32];

		/* one kind for both, percentages in 1..100, "default" alone */
		FZ_CHECK(t->high_pct <= 100 && t->low_pct <= 100);
		FZ_CHECK(!(t->high && t->high_pct) && !(t->low && t->low_pct));
		FZ_CHECK(t->high_pct ? !t->low : !t->low_pct);
		FZ_CHECK(t->high || t->high_pct || (!t->low && !t->low_pct));
		if (t->high || t->high_pct)
			tune_word(hi, sizeof(hi), t->high, t->high_pct);
		tune_word(lo, sizeof(lo), t->low, t->low_pct);
		n = snprintf(line, sizeof(line), "watermarks %s %s", hi, lo);
		break;
	}
	default:
		n = snprintf(line, sizeof(line), "%s", words[req.cmd]);
		break;
	}
	FZ_CHECK(n > 0 && (size_t)n < sizeof(line));
	memset(&again, 0x5a, sizeof(again));
	FZ_CHECK(!tide__ctl_parse(line, (size_t)n, &again));
	FZ_CHECK(again.cmd == req.cmd);
	if (req.cmd == TIDE__CTL_SCAN || req.cmd == TIDE__CTL_SHRINK)
		FZ_CHECK(again.n == req.n);
	if (req.cmd == TIDE__CTL_SCAN)
		FZ_CHECK(!strcmp(again.name, req.name));
	if (req.cmd == TIDE__CTL_WATERMARKS)
		FZ_CHECK(!memcmp(&again.tune, &req.tune, sizeof(req.tune)));
}

static void check_escape(const uint8_t *data, size_t size)
{
	char name[TIDE__CTL_NAME_MAX + 1], esc[4 * TIDE__CTL_NAME_MAX + 1];
	char back[TIDE__CTL_NAME_MAX + 1];
	size_t n = 0;
	int len;

	while (n < size && n < TIDE__CTL_NAME_MAX && data[n])
		n++;
	memcpy(name, data, n);
	name[n] = 0;
	len = tide__ctl_escape(name, esc, sizeof(esc));
	FZ_CHECK(len >= 0 && (size_t)len == strlen(esc));
	for (int i = 0; i < len; i++)
		FZ_CHECK(esc[i] > ' ' && esc[i] <= '~');
	if (!n) {
		FZ_CHECK(tide__ctl_unescape(esc, 0, back, sizeof(back)) ==
			 -EINVAL);
		return;
	}
	FZ_CHECK(!tide__ctl_unescape(esc, (size_t)len, back, sizeof(back)));
	FZ_CHECK(!strcmp(back, name));
	/* Too small an output buffer is refused, never overrun. */
	FZ_CHECK(tide__ctl_escape(name, esc, (size_t)len) == -ENOSPC);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_request(data, size);
	check_escape(data, size);
	return 0;
}
