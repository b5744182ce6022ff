/* SPDX-License-Identifier: MIT */
/*
 * tidectl.h - what tidectl's client and command line (tidectl.c) and its
 * output (tidectl_out.c: text tables, escaping, JSON) share.
 */
#ifndef TIDECTL_H
#define TIDECTL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2

/* An answer's body: its key=value or tab-separated lines, after "ok". */
struct reply {
	char *buf; /* NUL-terminated; lines of the body */
	size_t len;
};

/* tidectl.c */
extern bool json; /* -j: JSON output */
void die(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

/* tidectl_out.c */
char *printable(char *buf, size_t *len);
const char *get(const struct reply *rep, const char *key, char *out,
		size_t size);
void escape_name(const char *s, char *out, size_t size);
void json_raw(const char *raw);
void json_object(const struct reply *rep);
void print_block(const char *title, const struct reply *rep);
void print_show(pid_t pid, const struct reply *info, const struct reply *shr,
		const struct reply *mon, const struct reply *st,
		const struct reply *tot);
void print_watch_line(const struct reply *rep, const char *level);
void print_list_head(void);
void print_list_row(long pid, unsigned uid, const char *comm, const char *path,
		    bool first);
void print_list_end(void);

#endif /* TIDECTL_H */
