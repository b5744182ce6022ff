/* SPDX-License-Identifier: MIT */
/*
 * tidectl.h - what tidectl's client and command line (tidectl.c), its
 * socket search (tidectl_find.c) and its output (tidectl_out.c: text
 * tables, escaping, JSON) share.
 */
#ifndef TIDECTL_H
#define TIDECTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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
extern int timeout_ms; /* -t: give up on a process after this */
void die(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
/* die() for a socket that went away, which watch waits out (soft_away) */
void die_away(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
/* die(): @pid did not answer within timeout_ms */
void no_answer(pid_t pid) __attribute__((noreturn));
int64_t now_ms(void); /* CLOCK_MONOTONIC */
/* @s as plain decimal digits up to @max into *@ret; false otherwise. */
bool digits(const char *s, unsigned long max, unsigned long *ret);

/* tidectl_find.c */
extern char **dirs; /* the socket directories, found by find_dirs() */
extern int ndirs;
extern bool dirs_given; /* --dir or $TIDE_CTL_DIR */
/* The directories to look in: @only_dir (--dir), else $TIDE_CTL_DIR, else
 * $XDG_RUNTIME_DIR/tide, /run/tide and each /run/user/UID/tide. */
void find_dirs(const char *only_dir);
/* The list: also each process's $XDG_RUNTIME_DIR/tide (unless --dir). */
void add_process_dirs(void);
int list_processes(void); /* tidectl with no PID: the exit status */
enum { PID_LIVE, PID_GONE, PID_ZOMBIE };
/* alive but stopped (SIGSTOP, a debugger): it cannot answer */
bool pid_stopped(pid_t pid);
int pid_state(pid_t pid); /* PID_*: see there */
bool pid_alive(pid_t pid);
/* Exit with the message for a process that is no more (@state not
 * PID_LIVE): "has exited (a zombie...)" or "no process". */
void die_exited(pid_t pid, int state) __attribute__((noreturn));
/* @pid's command name as /proc/PID/comm says, raw ("?" when unreadable). */
void pid_comm(pid_t pid, char *buf, size_t size);
/* A connection to @pid's control socket (see there), or an exit. */
int connect_pid(pid_t pid, int64_t deadline);

/* tidectl_out.c */
char *printable(char *buf, size_t *len);
const char *get(const struct reply *rep, const char *key, char *out,
		size_t size);
void escape_name(const char *s, char *out, size_t size);
/* @s with control bytes, backslash and non-ASCII as \xHH, spaces kept:
 * a path from another process's environment, for the terminal. */
void escape_path(const char *s, char *out, size_t size);
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
