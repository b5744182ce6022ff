// SPDX-License-Identifier: MIT
/*
 * tidectl_out.c - tidectl's output: what a process answered, as text
 * (aligned tables and blocks, every byte a terminal could take for a
 * control escaped) or as JSON (-j).  The client and the command line are
 * tidectl.c's.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdbool.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tidectl.h"

/*
 * @buf (@*len bytes) with every byte a terminal could take for a control,
 * but the lines' \n and the rows' \t, written \xHH.  A tide server
 * escapes its fields already; this is for a process that answers what it
 * likes (root may ask any user's process).  Frees @buf.
 */
char *printable(char *buf, size_t *len)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0, bad = 0;
	char *out;

	for (size_t i = 0; i < *len; i++) {
		unsigned char c = (unsigned char)buf[i];

		bad += (c < ' ' && c != '\n' && c != '\t') || c > '~';
	}
	if (!bad)
		return buf;
	out = malloc(*len + 3 * bad + 1);
	if (!out)
		die(EXIT_FAIL, "out of memory");
	for (size_t i = 0; i < *len; i++) {
		unsigned char c = (unsigned char)buf[i];

		if ((c < ' ' && c != '\n' && c != '\t') || c > '~') {
			out[n++] = '\\';
			out[n++] = 'x';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		} else {
			out[n++] = (char)c;
		}
	}
	out[n] = 0;
	free(buf);
	*len = n;
	return out;
}

/* The value of key=value line @key in @rep (escaped), or NULL. */
const char *get(const struct reply *rep, const char *key, char *out,
		size_t size)
{
	size_t klen = strlen(key);

	for (const char *p = rep->buf; p && *p;) {
		const char *e = strchr(p, '\n');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (l > klen && !strncmp(p, key, klen) && p[klen] == '=') {
			snprintf(out, size, "%.*s", (int)(l - klen - 1),
				 p + klen + 1);
			return out;
		}
		p = e ? e + 1 : NULL;
	}
	return NULL;
}

/* Undo the \xHH escapes of a field (for JSON; people see them escaped). */
static void unescape(const char *s, char *out, size_t size)
{
	size_t n = 0;

	for (; *s && n + 1 < size; s++) {
		unsigned v;

		if (s[0] == '\\' && s[1] == 'x' &&
		    isxdigit((unsigned char)s[2]) &&
		    isxdigit((unsigned char)s[3]) &&
		    sscanf(s + 2, "%2x", &v) == 1) {
			out[n++] = (char)v;
			s += 3;
		} else {
			out[n++] = *s;
		}
	}
	out[n] = 0;
}

/* Length of the well-formed UTF-8 sequence at @p of 2..4 bytes, or 0. */
static int utf8_len(const unsigned char *p)
{
	unsigned cp;
	int n;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1fu;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0fu;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07u;
	else
		return 0;
	for (int i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0; /* the string's NUL ends it here too */
		cp = cp << 6 | (p[i] & 0x3fu);
	}
	/* overlong, a surrogate, past U+10FFFF */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

/*
 * @raw as a JSON string: UTF-8 as it is, controls as \u00XX, each byte
 * that is not part of well-formed UTF-8 as U+FFFD (JSON holds text only).
 */
void json_raw(const char *raw)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)raw; *p; p++) {
		int n;

		if (*p == '"' || *p == '\\') {
			printf("\\%c", *p);
		} else if (*p < 0x20 || *p == 0x7f) {
			printf("\\u%04x", *p);
		} else if (*p < 0x80) {
			putchar(*p);
		} else if ((n = utf8_len(p))) {
			fwrite(p, 1, (size_t)n, stdout);
			p += n - 1;
		} else {
			fputs("\\ufffd", stdout);
		}
	}
	putchar('"');
}

/* A field as the protocol escapes it, as a JSON string of its bytes. */
static void json_str(const char *escaped)
{
	char raw[4096];

	unescape(escaped, raw, sizeof(raw));
	json_raw(raw);
}

static bool is_number(const char *s)
{
	if (*s == '-')
		s++;
	if (!*s || (s[0] == '0' && s[1]))
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

static void json_value(const char *v)
{
	if (is_number(v))
		fputs(v, stdout);
	else
		json_str(v);
}

/*
 * Is the @klen bytes of @key with value @v a byte count nobody has read?
 * The monitor answers 0 for its usage before a watermark source's first
 * reading and when it runs none, 0 for the working set when no limit is
 * watched, and 0 for the watermarks when no source has any
 * (tide_monitor_stats(), tide_monitor_limit()): unknown, not empty, so
 * shown "-" (JSON null), not as a false 0.
 */
static bool unknown(const char *key, size_t klen, const char *v)
{
	return (v[0] == '0' && (v[1] == 0 || v[1] == '\n')) &&
	       ((klen == 5 && !memcmp(key, "usage", 5)) ||
		(klen == 11 && !memcmp(key, "working_set", 11)) ||
		(klen == 4 && !memcmp(key, "high", 4)) ||
		(klen == 3 && !memcmp(key, "low", 3)));
}

/*
 * The pages a purge gave back (drop's purged_pages, purge's freed_pages)
 * in an answer that says "measured=0": /proc/self/statm could not be read
 * (a chroot without /proc), so they are unknown, not 0.
 */
static bool unmeasured(const char *buf, const char *key, size_t klen)
{
	return (!strncmp(buf, "measured=0\n", 11) ||
		strstr(buf, "\nmeasured=0\n")) &&
	       ((klen == 12 && !memcmp(key, "purged_pages", 12)) ||
		(klen == 11 && !memcmp(key, "freed_pages", 11)));
}

/* Every key=value line of @rep as one JSON object. */
void json_object(const struct reply *rep)
{
	bool first = true;
	/* before the loop below cuts the lines */
	bool no_measure = rep->buf && unmeasured(rep->buf, "freed_pages", 11);

	putchar('{');
	for (char *p = rep->buf; p && *p;) {
		char *e = strchr(p, '\n'), *eq;

		if (e)
			*e = 0;
		eq = strchr(p, '=');
		if (eq) {
			*eq = 0;
			fputs(first ? "" : ",", stdout);
			json_str(p);
			putchar(':');
			if (unknown(p, strlen(p), eq + 1) ||
			    (no_measure &&
			     unmeasured("measured=0\n", p, strlen(p))))
				fputs("null", stdout);
			else
				json_value(eq + 1);
			*eq = '=';
			first = false;
		}
		if (e)
			*e = '\n';
		p = e ? e + 1 : NULL;
	}
	putchar('}');
}

static const char *const shrinker_cols[] = { "name",  "count",	 "deferred",
					     "calls", "scanned", "freed",
					     "seeks", "batch" };
#define NCOLS 8

static int split_row(char *line, char **f)
{
	int n = 0;

	for (char *p = line; n < NCOLS;) {
		f[n++] = p;
		p = strchr(p, '\t');
		if (!p)
			break;
		*p++ = 0;
	}
	return n;
}

static void print_shrinkers(const struct reply *rep)
{
	size_t w[NCOLS];
	char *copy = strdup(rep->buf), *f[NCOLS];
	int rows = 0;

	if (!copy)
		die(EXIT_FAIL, "out of memory");
	if (json) {
		printf("[");
		for (char *p = strtok(copy, "\n"); p; p = strtok(NULL, "\n")) {
			if (split_row(p, f) != NCOLS)
				continue;
			printf("%s{", rows++ ? "," : "");
			for (int i = 0; i < NCOLS; i++) {
				printf("%s\"%s\":", i ? "," : "",
				       shrinker_cols[i]);
				if (i)
					json_value(f[i]);
				else
					json_str(f[i]);
			}
			printf("}");
		}
		printf("]");
		free(copy);
		return;
	}
	for (int i = 0; i < NCOLS; i++)
		w[i] = strlen(shrinker_cols[i]);
	for (char *p = strtok(copy, "\n"); p; p = strtok(NULL, "\n")) {
		if (split_row(p, f) != NCOLS)
			continue;
		for (int i = 0; i < NCOLS; i++)
			if (strlen(f[i]) > w[i])
				w[i] = strlen(f[i]);
	}
	free(copy);
	copy = strdup(rep->buf);
	if (!copy)
		die(EXIT_FAIL, "out of memory");
	printf("shrinkers:\n ");
	for (int i = 0; i < NCOLS; i++)
		printf(i ? " %*s" : " %-*s", (int)w[i], shrinker_cols[i]);
	printf("\n");
	for (char *p = strtok(copy, "\n"); p; p = strtok(NULL, "\n")) {
		if (split_row(p, f) != NCOLS)
			continue;
		printf(" ");
		for (int i = 0; i < NCOLS; i++)
			printf(i ? " %*s" : " %-*s", (int)w[i], f[i]);
		printf("\n");
		rows++;
	}
	if (!rows)
		printf("  (none registered)\n");
	free(copy);
}

/* key=value lines as an aligned two-column block, keys shown with spaces. */
void print_block(const char *title, const struct reply *rep)
{
	size_t w = 0;

	for (const char *p = rep->buf; *p;) {
		const char *eq = strchr(p, '='), *e = strchr(p, '\n');

		if (eq && e && eq < e && (size_t)(eq - p) > w)
			w = (size_t)(eq - p);
		p = e ? e + 1 : p + strlen(p);
	}
	printf("%s:\n", title);
	for (const char *p = rep->buf; *p;) {
		const char *eq = strchr(p, '='), *e = strchr(p, '\n');
		char key[128];

		if (!e)
			break;
		/* "monitor=1" says there is one: the block itself shows it. */
		if (eq && eq < e && strncmp(p, "monitor=", 8)) {
			snprintf(key, sizeof(key), "%.*s", (int)(eq - p), p);
			for (char *k = key; *k; k++)
				if (*k == '_')
					*k = ' ';
			if (unknown(p, (size_t)(eq - p), eq + 1) ||
			    unmeasured(rep->buf, p, (size_t)(eq - p)))
				printf("  %-*s  -\n", (int)w, key);
			else
				printf("  %-*s  %.*s\n", (int)w, key,
				       (int)(e - eq - 1), eq + 1);
		}
		p = e + 1;
	}
}

/* @s with every byte under @first, over '~', and backslash as \xHH. */
static void escape_from(const char *s, unsigned char first, char *out,
			size_t size)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)s;
	     *p && n + 5 < size; p++) {
		if (*p >= first && *p <= '~' && *p != '\\')
			out[n++] = (char)*p;
		else
			n += (size_t)snprintf(out + n, 5, "\\x%02x", *p);
	}
	out[n] = 0;
}

/* @s escaped as the protocol escapes names (src/ctl_proto.c). */
void escape_name(const char *s, char *out, size_t size)
{
	escape_from(s, '!', out, size);
}

void escape_path(const char *s, char *out, size_t size)
{
	escape_from(s, ' ', out, size);
}

void print_show(pid_t pid, const struct reply *info, const struct reply *shr,
		const struct reply *mon, const struct reply *st,
		const struct reply *tot)
{
	char comm[128], uid[32], ver[64], allow[128], v[64];

	if (json) {
		printf("{\"pid\":%d,\"info\":", (int)pid);
		json_object(info);
		printf(",\"shrinkers\":");
		print_shrinkers(shr);
		printf(",\"monitor\":");
		json_object(mon);
		printf(",\"allocator\":");
		json_object(st);
		if (tot) {
			printf(",\"totals\":");
			json_object(tot);
		}
		printf("}\n");
		return;
	}
	/*
	 * A process chrooted where there is no /proc answers an empty name
	 * (a user trial): the name /proc/PID/comm gives here instead.
	 */
	if (!get(info, "comm", comm, sizeof(comm)) || !comm[0]) {
		char raw[64];

		pid_comm(pid, raw, sizeof(raw));
		escape_name(raw, comm, sizeof(comm));
	}
	printf("process %d (%s), uid %s, tide %s, allows %s\n\n", (int)pid,
	       comm, get(info, "uid", uid, sizeof(uid)) ? uid : "?",
	       get(info, "version", ver, sizeof(ver)) ? ver : "?",
	       get(info, "allow", allow, sizeof(allow)) ? allow : "?");
	print_shrinkers(shr);
	printf("\n");
	if (get(mon, "monitor", v, sizeof(v)) && !strcmp(v, "0"))
		printf("monitor:\n  (none attached)\n");
	else
		print_block("monitor", mon);
	printf("\n");
	print_block("allocator", st);
	if (tot) {
		printf("\n");
		print_block("totals", tot);
	}
}

/* @key's value into @buf, or "-" when an older server's reply lacks it. */
static void watch_field(const struct reply *rep, const char *key, char *buf,
			size_t size)
{
	if (!get(rep, key, buf, size) || unknown(key, strlen(key), buf))
		snprintf(buf, size, "-");
}

/* One value of a watch line in JSON: "-" (not answered) is null. */
static void json_watch_value(const char *key, const char *v)
{
	printf(",\"%s\":", key);
	if (!strcmp(v, "-"))
		fputs("null", stdout);
	else
		json_value(v);
}

void print_watch_line(const struct reply *rep, const char *level)
{
	char ev[32], loops[32], freed[32], usage[32], high[32], low[32],
		when[32];
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	/* a missing count is unknown, not 0; so is an unread usage */
	watch_field(rep, "events", ev, sizeof(ev));
	watch_field(rep, "loops", loops, sizeof(loops));
	watch_field(rep, "freed", freed, sizeof(freed));
	watch_field(rep, "usage", usage, sizeof(usage));
	watch_field(rep, "high", high, sizeof(high));
	watch_field(rep, "low", low, sizeof(low));
	if (json) {
		printf("{\"time\":\"%s.%03ld\",\"level\":", when,
		       ts.tv_nsec / 1000000);
		json_str(level);
		json_watch_value("events", ev);
		json_watch_value("loops", loops);
		json_watch_value("freed", freed);
		json_watch_value("usage", usage);
		json_watch_value("high", high);
		json_watch_value("low", low);
		fputs("}\n", stdout);
	} else {
		printf("%s.%03ld  level %-8s  events %s  loops %s  freed %s  "
		       "usage %s  high %s  low %s\n",
		       when, ts.tv_nsec / 1000000, level, ev, loops, freed,
		       usage, high, low);
	}
}

void print_list_head(void)
{
	if (json)
		printf("[");
	else
		printf("%7s %6s  %-16s %s\n", "PID", "UID", "COMMAND",
		       "SOCKET");
}

void print_list_row(long pid, unsigned uid, const char *comm, const char *path,
		    bool first)
{
	char esc[4 * 64];

	/* The command name is anything the process set (PR_SET_NAME):
	 * shown escaped like every name. */
	if (json) {
		printf("%s{\"pid\":%ld,\"uid\":%u,\"command\":",
		       first ? "" : ",", pid, uid);
		json_raw(comm);
		printf(",\"socket\":");
		json_raw(path);
		printf("}");
	} else {
		char epath[4 * PATH_MAX + 1];

		escape_name(comm, esc, sizeof(esc));
		/* a path as it is but for control bytes, backslash and
		 * non-ASCII (spaces stay): whatever a directory name holds
		 * never reaches the terminal raw */
		escape_from(path, ' ', epath, sizeof(epath));
		printf("%7ld %6u  %-16s %s\n", pid, uid, esc, epath);
	}
}

void print_list_end(void)
{
	if (json)
		printf("]\n");
}
