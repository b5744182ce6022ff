// SPDX-License-Identifier: MIT
/*
 * fuzz_parsers.c - the parsers of untrusted text: tide__b64_decode()
 * ($MEMORY_PRESSURE_WRITE), tide__cg_parse_self() (/proc/self/cgroup),
 * tide__mount_parse() (a /proc/self/mountinfo line), tide__cg_stat_value()
 * (memory.stat), tide__parse_u64() (a cgroup number) and tide__kb_value()
 * (a /proc/meminfo or smaps_rollup "Key: N kB" line).
 *
 * Input: byte 0 picks the parser (and for memory.stat the key), byte 1 arms
 * fault injection for the allocating parsers, the rest is the text.  Each
 * result is checked against a property written independently of the parser:
 * base64 against a reference validator, the decoded length rule and a
 * re-encoding; the other parsers' fields against the text they came from.
 * No crash, no leak (the heap accounting of os.c must balance), no write
 * outside the input.
 */
#include <errno.h>
#include <inttypes.h>

#include "fuzz.h"
#include "pressure/cgroup.h"

static const char b64_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static bool b64_char(char c)
{
	return c && strchr(b64_chars, c);
}

static bool b64_space(char c)
{
	return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

/* RFC 4648 with padding: ([c]{4})*([c]{2}==|[c]{3}=)? once spaces go. */
static bool b64_valid(const char *s, char *stripped, size_t *ret_n)
{
	size_t n = 0, pad = 0;

	for (; *s; s++)
		if (!b64_space(*s))
			stripped[n++] = *s;
	stripped[n] = 0;
	*ret_n = n;
	if (n % 4)
		return false;
	while (pad < n && stripped[n - 1 - pad] == '=')
		pad++;
	if (pad > 2)
		return false;
	for (size_t i = 0; i < n - pad; i++)
		if (!b64_char(stripped[i]))
			return false;
	return true;
}

static void check_b64(const char *s, bool armed)
{
	size_t sl = strlen(s), n, len = 99, pad;
	unsigned char *out = (unsigned char *)1;
	char *stripped = malloc(sl + 1), *enc;
	bool valid = b64_valid(s, stripped, &n);
	int r = tide__b64_decode(s, &out, &len);

	if (r) {
		FZ_CHECK(r == -EINVAL || (armed && r == -ENOMEM));
		FZ_CHECK(r == -ENOMEM || !valid);
		/* Nothing written on failure. */
		FZ_CHECK(out == (unsigned char *)1 && len == 99);
		free(stripped);
		return;
	}
	FZ_CHECK(valid);
	pad = n && stripped[n - 1] == '=' ? (stripped[n - 2] == '=' ? 2 : 1) :
					    0;
	FZ_CHECK(len == n / 4 * 3 - pad);
	FZ_CHECK(!len == !out);
	/* Re-encoded, the text is the input's but for the unused low bits
	 * of the last symbol before the padding. */
	enc = malloc(n + 1);
	for (size_t i = 0, o = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)out[i] << 16;
		size_t k = len - i;

		if (k > 1)
			v |= (uint32_t)out[i + 1] << 8;
		if (k > 2)
			v |= out[i + 2];
		enc[o++] = b64_chars[v >> 18 & 63];
		enc[o++] = b64_chars[v >> 12 & 63];
		enc[o++] = k > 1 ? b64_chars[v >> 6 & 63] : '=';
		enc[o++] = k > 2 ? b64_chars[v & 63] : '=';
	}
	enc[n] = 0;
	for (size_t i = 0; i < n; i++) {
		if (pad && i == n - 1 - pad) {
			/* That symbol with its unused bits cleared. */
			int mask = pad == 2 ? 0x30 : 0x3c;
			int a = (int)(strchr(b64_chars, enc[i]) - b64_chars);
			int b = (int)(strchr(b64_chars, stripped[i]) -
				      b64_chars);

			FZ_CHECK(a == (b & mask));
		} else {
			FZ_CHECK(enc[i] == stripped[i]);
		}
	}
	free(enc);
	free(stripped);
	tide__os_free(out);
}

/* @p ends a line of @text and follows ':': a whole line suffix. */
static bool line_suffix(const char *text, const char *path)
{
	size_t pl = strlen(path);

	for (const char *q = strstr(text, path); q; q = strstr(q + 1, path))
		if (q > text && q[-1] == ':' && (!q[pl] || q[pl] == '\n'))
			return true;
	return false;
}

/* Reference: the first "0::/..." line's path, by another route. */
static const char *ref_v2(const char *text, size_t *len)
{
	for (const char *l = text; *l;) {
		const char *eol = strchr(l, '\n');

		if (!eol)
			eol = l + strlen(l);
		if (eol - l >= 4 && !strncmp(l, "0::/", 4)) {
			*len = (size_t)(eol - l - 3);
			return l + 3;
		}
		l = *eol ? eol + 1 : eol;
	}
	return NULL;
}

static void check_parse_self(const char *text, bool armed)
{
	char *v1 = (char *)1, *v2 = (char *)2;
	const char *rv2;
	size_t rl = 0;
	int r = tide__cg_parse_self(text, &v1, &v2);

	rv2 = ref_v2(text, &rl);
	if (r) {
		FZ_CHECK(r == -ENODEV || (armed && r == -ENOMEM));
		FZ_CHECK(v1 == (char *)1 && v2 == (char *)2);
		FZ_CHECK(r == -ENOMEM || !rv2);
		return;
	}
	FZ_CHECK(v1 || v2);
	FZ_CHECK(!rv2 == !v2);
	if (v2)
		FZ_CHECK(strlen(v2) == rl && !memcmp(v2, rv2, rl));
	if (v1) {
		FZ_CHECK(v1[0] == '/' && !strchr(v1, '\n'));
		FZ_CHECK(line_suffix(text, v1));
		FZ_CHECK(strstr(text, "memory"));
	}
	tide__os_free(v1);
	tide__os_free(v2);
}

static void check_mount(const char *text)
{
	size_t n = strlen(text);
	char *line = malloc(n + 1);
	struct tide__mount m = { 0 };
	int r;

	memcpy(line, text, n + 1);
	r = tide__mount_parse(line, &m);
	if (r) {
		FZ_CHECK(r == -EINVAL);
		FZ_CHECK(!m.root && !m.point && !m.fstype && !m.super_opts);
		free(line);
		return;
	}
	{
		char *f[4] = { m.root, m.point, m.fstype, m.super_opts };

		for (int i = 0; i < 4; i++) {
			FZ_CHECK(f[i] >= line && f[i] < line + n);
			FZ_CHECK(f[i] + strlen(f[i]) <= line + n);
			/* Without escapes every field is the input's. */
			if (!strchr(text, '\\')) {
				FZ_CHECK(!strchr(f[i], ' '));
				FZ_CHECK(!strchr(f[i], '\n'));
				FZ_CHECK(strstr(text, f[i]));
			}
		}
		FZ_CHECK(*m.root && *m.point && *m.fstype);
		FZ_CHECK(m.root < m.point && m.point < m.fstype &&
			 m.fstype < m.super_opts);
		/* The fstype follows the lone "-" field. */
		FZ_CHECK(m.fstype >= line + 3 && m.fstype[-1] == 0 &&
			 m.fstype[-2] == '-' && m.fstype[-3] == 0);
	}
	free(line);
}

static void check_stat(const char *text, const char *key)
{
	size_t kl = strlen(key);
	const char *l, *val = NULL;
	uint64_t v = 12345;
	int r = tide__cg_stat_value(text, key, &v);

	/* Reference: the first line that starts with "KEY ". */
	for (l = text; *l && !val;) {
		const char *eol = strchr(l, '\n');

		if (!strncmp(l, key, kl) && l[kl] == ' ')
			val = l + kl + 1;
		l = eol ? eol + 1 : l + strlen(l);
	}
	if (!val) {
		FZ_CHECK(r == -ENOENT && v == 12345);
		return;
	}
	{
		size_t vl = strcspn(val, "\n"), z = 0;
		char buf[32];

		if (r) {
			FZ_CHECK(r == -EINVAL && v == 12345);
			/* Only if not all digits or longer than 2^64 - 1. */
			if (vl && strspn(val, "0123456789") >= vl) {
				while (z + 1 < vl && val[z] == '0')
					z++;
				FZ_CHECK(vl - z >= 20);
			}
			return;
		}
		FZ_CHECK(vl && strspn(val, "0123456789") >= vl);
		while (z + 1 < vl && val[z] == '0')
			z++;
		snprintf(buf, sizeof(buf), "%" PRIu64, v);
		FZ_CHECK(strlen(buf) == vl - z &&
			 !memcmp(buf, val + z, vl - z));
	}
}

/* Reference: decimal digits that fit 64 bits (leading zeros aside), as
 * a number; false when they do not fit. */
static bool ref_digits(const char *s, size_t n, uint64_t *ret)
{
	char buf[32];
	size_t z = 0;

	while (z + 1 < n && s[z] == '0')
		z++;
	if (n - z > 20)
		return false;
	memcpy(buf, s + z, n - z);
	buf[n - z] = 0;
	if (n - z == 20 && strcmp(buf, "18446744073709551615") > 0)
		return false;
	*ret = 0;
	for (size_t i = 0; buf[i]; i++)
		*ret = *ret * 10 + (uint64_t)(buf[i] - '0');
	return true;
}

static void check_u64(const char *text)
{
	uint64_t v = 7, want = 0;
	int r = tide__parse_u64(text, &v);
	const char *s = text + strspn(text, " \t"), *t;
	size_t dl = strspn(s, "0123456789");
	bool ok;

	/* Reference: blanks, "max" or digits that fit, blanks, at most one
	 * newline, the end. */
	if (!strncmp(s, "max", 3)) {
		want = UINT64_MAX;
		t = s + 3;
		ok = true;
	} else {
		t = s + dl;
		ok = dl && ref_digits(s, dl, &want);
	}
	t += strspn(t, " \t");
	if (*t == '\n')
		t++;
	ok = ok && !*t;
	if (!ok) {
		FZ_CHECK(r == -EINVAL && v == 7);
		return;
	}
	FZ_CHECK(!r && v == want);
}

/* tide__kb_value(): the first line "KEY:", blanks, digits, " kB", then the
 * line's end; the value times 1024, saturated. */
static void check_kb(const char *text, const char *key)
{
	size_t kl = strlen(key), dl;
	const char *l, *val = NULL;
	uint64_t v = 12345, want;
	int r = tide__kb_value(text, key, &v);

	for (l = text; *l && !val;) {
		const char *eol = strchr(l, '\n');

		if (!strncmp(l, key, kl) && l[kl] == ':')
			val = l + kl + 1;
		l = eol ? eol + 1 : l + strlen(l);
	}
	if (!val) {
		FZ_CHECK(r == -ENOENT && v == 12345);
		return;
	}
	val += strspn(val, " \t");
	dl = strspn(val, "0123456789");
	if (!dl || !ref_digits(val, dl, &want) || strncmp(val + dl, " kB", 3) ||
	    (val[dl + 3] && val[dl + 3] != '\n')) {
		FZ_CHECK(r == -EINVAL && v == 12345);
		return;
	}
	want = want > UINT64_MAX / 1024 ? UINT64_MAX : want * 1024;
	FZ_CHECK(!r && v == want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[] = { "inactive_file",
					    "total_inactive_file", "anon",
					    "file", "a" };
	static const char *const kb_keys[] = { "MemTotal", "MemAvailable",
					       "Rss", "LazyFree", "M" };
	struct tide__os_stats before, after;
	struct fz f = { data, size };
	uint8_t pick = fz_u8(&f), arm = fz_u8(&f);
	char *text = malloc(f.n + 1);
	bool armed = false;

	memcpy(text, f.p, f.n);
	text[f.n] = 0;
	tide__os_stats(&before);
	switch (pick % 5) {
	case 0:
		fz_arm(arm);
		armed = arm & 0x0f;
		check_b64(text, armed);
		break;
	case 1:
		fz_arm(arm);
		armed = arm & 0x0f;
		check_parse_self(text, armed);
		break;
	case 2:
		check_mount(text);
		break;
	case 3:
		check_stat(text, keys[(pick / 5) % 5]);
		break;
	default:
		/* 4, 14, 24...: a cgroup number; 9, 19, 29...: a kB line */
		if ((pick / 5) % 2)
			check_kb(text, kb_keys[(pick / 10) % 5]);
		else
			check_u64(text);
		break;
	}
	tide__fault_clear();
	tide__os_stats(&after);
	FZ_CHECK(after.heap_live == before.heap_live);
	free(text);
	return 0;
}
