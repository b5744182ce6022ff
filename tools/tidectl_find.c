// SPDX-License-Identifier: MIT
/*
 * tidectl_find.c - tidectl's search for a process's control socket: the
 * directories to look in, the process's state, and each PID.sock tried in
 * turn until one served by that pid takes a connection, with what was
 * skipped on the way (tidectl.c sends the request); and the list of every
 * process that serves a socket (tidectl with no PID).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "tidectl.h"

char **dirs;
int ndirs;
static int dirs_cap;
bool dirs_given; /* --dir or $TIDE_CTL_DIR */
/* "--dir" or "$TIDE_CTL_DIR", the one that gave dirs[0] when dirs_given */
static const char *dirs_from;

/* ---- where to look ---------------------------------------------------- */

/* As many as there are: a list that stopped at a fixed count let any
 * user hide later listeners behind decoy processes (a review). */
static void add_dir(const char *d)
{
	for (int i = 0; i < ndirs; i++)
		if (!strcmp(dirs[i], d))
			return;
	if (ndirs == dirs_cap) {
		int cap = dirs_cap ? 2 * dirs_cap : 16;
		char **n = realloc(dirs, (size_t)cap * sizeof(*n));

		if (!n)
			die(EXIT_FAIL, "out of memory");
		dirs = n;
		dirs_cap = cap;
	}
	dirs[ndirs] = strdup(d);
	if (!dirs[ndirs])
		die(EXIT_FAIL, "out of memory");
	ndirs++;
}

void find_dirs(const char *only_dir)
{
	const char *env = getenv("TIDE_CTL_DIR");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	char buf[PATH_MAX];
	glob_t g;

	if (only_dir || (env && *env)) {
		add_dir(only_dir ? only_dir : env);
		dirs_given = true;
		dirs_from = only_dir ? "--dir" : "$TIDE_CTL_DIR";
		return;
	}
	if (xdg && xdg[0] == '/' &&
	    (size_t)snprintf(buf, sizeof(buf), "%s/tide", xdg) < sizeof(buf))
		add_dir(buf);
	add_dir("/run/tide");
	if (!glob("/run/user/*/tide", GLOB_NOSORT, NULL, &g)) {
		for (size_t i = 0; i < g.gl_pathc; i++)
			add_dir(g.gl_pathv[i]);
		globfree(&g);
	}
}

/*
 * The directory @pid listens in when its environment names one:
 * $XDG_RUNTIME_DIR/tide, as tide_ctl_listen() and the preload shim choose
 * it (a service with systemd's RuntimeDirectory=, a user's session).
 * /proc/PID/environ is the environment the program started with, readable
 * by its own user and root; anything else finds nothing here.  The socket
 * found there is checked as every other is (try_socket()).
 */
static char *env;
static size_t env_cap;

/*
 * /proc/PID/environ into env (NUL-separated), whole: an environment may
 * hold megabytes (up to 0.2.24 only its first 128 KiB were read, and a
 * XDG_RUNTIME_DIR after them was not found).  Its length, or -1 when it
 * cannot be read (another user's process, a process gone, no memory).
 */
static long read_environ(pid_t pid)
{
	char path[64];
	size_t len = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	for (;;) {
		if (env_cap - len < 2) {
			size_t cap = env_cap ? env_cap * 2 : 128 * 1024;
			char *n = realloc(env, cap);

			if (!n) {
				fclose(f);
				return -1;
			}
			env = n;
			env_cap = cap;
		}
		len += fread(env + len, 1, env_cap - 1 - len, f);
		if (len < env_cap - 1)
			break; /* the end, or an error: what was read */
	}
	fclose(f);
	env[len] = 0;
	return (long)len;
}

/* The value of @key ("NAME=") in env's first @len bytes, or NULL. */
static const char *env_find(long len, const char *key)
{
	size_t kl = strlen(key);

	for (long i = 0; i < len; i += (long)strlen(env + i) + 1)
		if (!strncmp(env + i, key, kl))
			return env + i + kl;
	return NULL;
}

static void add_process_dir(pid_t pid)
{
	char path[PATH_MAX];
	struct stat st;
	const char *v = env_find(read_environ(pid), "XDG_RUNTIME_DIR=");

	if (!v || v[0] != '/')
		return;
	/* Another user's value: no control bytes (they would reach the
	 * terminal in a path), and only a directory that is there (or one
	 * we may not search) takes a place. */
	for (const char *c = v; *c; c++)
		if ((unsigned char)*c < ' ' || *c == 0x7f)
			return;
	if ((size_t)snprintf(path, sizeof(path), "%s/tide", v) < sizeof(path) &&
	    (stat(path, &st) ? errno == EACCES : S_ISDIR(st.st_mode)))
		add_dir(path); /* one we may not search: said later */
}

/*
 * For the list of all processes: the directory of every process whose
 * environment names one (add_process_dir()), as far as this user may
 * read it (root: all; a user: the user's own processes).
 */
void add_process_dirs(void)
{
	struct dirent *de;
	DIR *d;

	if (dirs_given)
		return;
	d = opendir("/proc");
	if (!d)
		return;
	while ((de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (de->d_name[0] >= '1' && de->d_name[0] <= '9' && !*end &&
		    pid > 0 && pid <= INT_MAX)
			add_process_dir((pid_t)pid);
	}
	closedir(d);
}

/* ---- the process ------------------------------------------------------ */

/* @pid's state letter in /proc/PID/stat, 0 when it cannot be read. */
static char state_letter(pid_t pid)
{
	char path[64], buf[512], *p;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* "PID (COMM) S ...": COMM may hold ')' and spaces */
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

bool pid_stopped(pid_t pid)
{
	char s = state_letter(pid);

	return s == 'T' || s == 't';
}

void pid_comm(pid_t pid, char *buf, size_t size)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	snprintf(buf, size, "?");
	f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(buf, (int)size, f))
		buf[strcspn(buf, "\n")] = 0;
	fclose(f);
}

/*
 * Is @pid running, gone, or a zombie (exited, not yet reaped by its
 * parent: kill() still finds it, /proc/PID/stat says Z or X)?  Without
 * /proc, kill() said it exists: running.
 */
int pid_state(pid_t pid)
{
	char s;

	if (kill(pid, 0) && errno == ESRCH)
		return PID_GONE;
	s = state_letter(pid);
	return s == 'Z' || s == 'X' ? PID_ZOMBIE : PID_LIVE;
}

bool pid_alive(pid_t pid)
{
	return pid_state(pid) == PID_LIVE;
}

/* The message for a process that is no more (@state not PID_LIVE). */
void die_exited(pid_t pid, int state)
{
	if (state == PID_ZOMBIE)
		die(EXIT_FAIL,
		    "process %d has exited (a zombie: its parent has not "
		    "reaped it yet)",
		    (int)pid);
	die(EXIT_FAIL, "no process %d", (int)pid);
}

/* ---- its socket ------------------------------------------------------- */

/* What connect_pid() skipped, for its error ("A; B"). */
static char skipped[2048];
static int nskipped;
static bool skipped_timeouts_only = true;
static bool skipped_refused_only = true; /* all ECONNREFUSED */

static void skip(bool timeout, const char *fmt, ...)
{
	size_t len = strlen(skipped);
	va_list ap;

	if (len && len + 2 < sizeof(skipped)) {
		memcpy(skipped + len, "; ", 3);
		len += 2;
	}
	va_start(ap, fmt);
	vsnprintf(skipped + len, sizeof(skipped) - len, fmt, ap);
	va_end(ap);
	nskipped++;
	skipped_refused_only = false;
	if (!timeout)
		skipped_timeouts_only = false;
}

static void skip_refused(const char *path, pid_t pid)
{
	int state = pid_state(pid);
	bool only = skipped_refused_only;

	skip(false, "%s: nobody listens (stale socket%s)", path,
	     state == PID_LIVE ? "" :
	     state == PID_GONE ? ", the process is gone" :
				 ", the process has exited");
	skipped_refused_only = only;
}

/*
 * The directories in the order to try them for @pid: those owned by the
 * uid that owns /proc/PID (the process's) first, the rest as found.
 */
static int order_dirs(pid_t pid, int *order)
{
	char proc[32];
	struct stat st, ds;
	bool known;
	int n = 0;

	snprintf(proc, sizeof(proc), "/proc/%d", (int)pid);
	known = !stat(proc, &st);
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < ndirs; i++) {
			bool mine = known && !stat(dirs[i], &ds) &&
				    ds.st_uid == st.st_uid;

			if (mine == !pass)
				order[n++] = i;
		}
	return n;
}

/*
 * connect(2) @fd to the socket file at @path: 0, or -1 with errno.  A path
 * sun_path cannot hold (107 bytes and a NUL) is reached through an O_PATH
 * descriptor of the file itself, as /proc/self/fd/N (O_NOFOLLOW: the
 * callers have lstat()ed it a socket; a symlink put there since is
 * opened as itself, and the connect refused); without /proc that is
 * ENAMETOOLONG.
 */
static int connect_path(int fd, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int pfd = -1, r, err;

	if (strlen(path) < sizeof(sa.sun_path)) {
		memcpy(sa.sun_path, path, strlen(path) + 1);
	} else {
		pfd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (pfd < 0)
			return -1;
		snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d",
			 pfd);
	}
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	err = errno;
	if (pfd >= 0) {
		if (r && err == ENOENT && access("/proc/self/fd", F_OK))
			err = ENAMETOOLONG;
		close(pfd);
	}
	errno = err;
	return r;
}

/*
 * Connect to the socket at @path served by @pid: the descriptor, or -1
 * with the reason noted (skip()).  connect() and send() wait for a server
 * whose listen backlog is full (a stuck process) until the timeout, not
 * forever: then they fail with EAGAIN.
 */
static int try_socket(pid_t pid, const char *path, int64_t deadline)
{
	struct timeval tv = { .tv_sec = timeout_ms / 1000,
			      .tv_usec = timeout_ms % 1000 * 1000 };
	struct ucred cr = { 0 };
	socklen_t crlen = sizeof(cr);
	struct stat st;
	int fd;

	if (lstat(path, &st))
		return -1; /* ENOENT, EACCES: the caller's business */
	if (S_ISLNK(st.st_mode)) {
		skip(false, "%s is a symlink: not followed", path);
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		skip(false, "%s is not a socket: refused", path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die(EXIT_FAIL, "socket: %s", strerror(errno));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		die(EXIT_FAIL, "setsockopt: %s", strerror(errno));
	while (connect_path(fd, path)) {
		if (errno == EINTR && now_ms() < deadline)
			continue;
		if (errno == EAGAIN || errno == EINTR)
			skip(true, "%s: no answer within %d ms", path,
			     timeout_ms);
		else if (errno == EACCES || errno == EPERM)
			skip(false, "%s: permission denied", path);
		else if (errno == ECONNREFUSED)
			skip_refused(path, pid);
		else
			skip(false, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) ||
	    cr.pid != pid) {
		skip(false, "%s is served by pid %d, not %d: refused", path,
		     (int)cr.pid, (int)pid);
		close(fd);
		return -1;
	}
	return fd;
}

/* Does /proc/PID/maps name a file whose name holds @what? */
static bool maps_name(pid_t pid, const char *what)
{
	char path[64], line[1024];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, what) != NULL;
	fclose(f);
	return found;
}

/*
 * The last of the @n numbers (1 or 2) after @key ("Tgid", "Uid") in
 * /proc/@pid/status, or -1 when it cannot be read.
 */
static long long status_num(pid_t pid, const char *key, int n)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *p = line + klen + 1, *end;

		if (strncmp(line, key, klen) || line[klen] != ':')
			continue;
		for (int i = 0; i < n; i++, p = end) {
			errno = 0;
			v = strtoll(p, &end, 10);
			if (end == p || errno) {
				v = -1;
				break;
			}
		}
		break;
	}
	fclose(f);
	return v;
}

/*
 * The process @pid belongs to: @pid itself for a process, another for one
 * of its threads (/proc/PID is there for a thread id too, and kill() finds
 * it); -1 when it cannot be read.
 */
static long long pid_tgid(pid_t pid)
{
	return status_num(pid, "Tgid", 1);
}

/* @pid's effective uid (the second on the Uid line), or -1. */
static long long pid_euid(pid_t pid)
{
	return status_num(pid, "Uid", 2);
}

/*
 * The directory the shim of a process whose environment (env, @len bytes)
 * asks for a socket puts it in, as tide_ctl_listen() chooses it:
 * $XDG_RUNTIME_DIR/tide unless that directory is another user's than
 * @euid, else /run/tide.  Into @buf; true when it is $XDG_RUNTIME_DIR's.
 */
static bool shim_dir(long len, long long euid, char *buf, size_t size)
{
	const char *xdg = env_find(len, "XDG_RUNTIME_DIR=");
	struct stat st;

	if (xdg && xdg[0] == '/' &&
	    (stat(xdg, &st) || (long long)st.st_uid == euid) &&
	    (size_t)snprintf(buf, size, "%s/tide", xdg) < size)
		return true;
	snprintf(buf, size, "/run/tide");
	return false;
}

/* Was @dir one of the directories searched? */
static bool searched(const char *dir)
{
	for (int i = 0; i < ndirs; i++)
		if (!strcmp(dirs[i], dir))
			return true;
	return false;
}

/*
 * @pid has no socket in the directories searched: why, where /proc tells
 * (the preload shim is loaded, so the operator meant it to have one), into
 * @buf; "" when it does not.  A user trial: memcached -u memcache and a
 * chrooted daemon under tide-run --control were said to run "without
 * TIDE_CONTROL=1"; the shim said why only with TIDE_VERBOSE=1, on a
 * stderr the daemon had closed.  A process whose environment asks for a
 * socket (TIDE_CONTROL=1) is said to, with the directory its shim makes
 * it in where that was not searched (a review: tidectl -d /tmp PID for a
 * process serving /run/tide/PID.sock said it might run without
 * TIDE_CONTROL=1, and to try --dir).  The hint at --dir is left out when
 * --dir (or $TIDE_CTL_DIR) was given: the caller says so.
 */
static void why_no_socket(pid_t pid, char *buf, size_t size)
{
	char path[64], root[PATH_MAX], sdir[PATH_MAX + 8];
	char esc[4 * sizeof(sdir) + 1];
	const char *dir, *lp;
	const char *hint = dirs_given ? "" :
					"; a socket in another directory: "
					"tidectl --dir DIR";
	bool own_xdg = false, asked = false;
	long long euid;
	struct stat st;
	ssize_t n;
	long len;

	buf[0] = 0;
	if (!maps_name(pid, "libtide-preload"))
		return;
	snprintf(path, sizeof(path), "/proc/%d/root", (int)pid);
	n = readlink(path, root, sizeof(root) - 1);
	if (n > 0) {
		root[n] = 0;
		if (strcmp(root, "/")) {
			/* a directory name is anyone's choice: no control
			 * bytes to the terminal (escape_path()) */
			escape_path(root, esc, sizeof(esc));
			snprintf(
				buf, size,
				"its preload shim is loaded, but it is chrooted "
				"to %s: a socket it could make there is under "
				"that directory (tidectl --dir %s/run/tide)",
				esc, esc);
			return;
		}
	}
	/*
	 * Its environment as it started, where it can be read and still
	 * holds the shim's LD_PRELOAD (nginx writes its process title over
	 * it): whether it asked for a socket, and whether it has a runtime
	 * directory of its own.
	 */
	len = read_environ(pid);
	lp = env_find(len, "LD_PRELOAD=");
	euid = pid_euid(pid);
	if (lp && strstr(lp, "libtide-preload")) {
		const char *ctl = env_find(len, "TIDE_CONTROL=");

		if (!ctl || strcmp(ctl, "1")) {
			snprintf(buf, size,
				 "its preload shim is loaded, but it runs "
				 "without TIDE_CONTROL=1");
			return;
		}
		asked = true;
		own_xdg = shim_dir(len, euid, sdir, sizeof(sdir));
		/* another user's value: no control bytes to the terminal */
		escape_path(sdir, esc, sizeof(esc));
	}
	/* no runtime directory of its own: /run/tide, made in /run when it
	 * is not there */
	dir = "/run/tide";
	if (stat(dir, &st))
		dir = "/run";
	if (!own_xdg && euid > 0 && !stat(dir, &st) && st.st_uid != euid) {
		snprintf(buf, size,
			 "its preload shim is loaded, but it runs as uid %lld, "
			 "which cannot make its socket in /run/tide (%s is uid "
			 "%u's) unless it has an XDG_RUNTIME_DIR of its own "
			 "(docs/preload.md)%s",
			 euid, dir, (unsigned)st.st_uid, hint);
		return;
	}
	/* one not there holds no socket to find: it could not make one */
	if (asked && !searched(sdir) && !stat(sdir, &st) &&
	    S_ISDIR(st.st_mode)) {
		/* the command only where it can be pasted as printed */
		bool plain = !sdir[strspn(sdir, "abcdefghijklmnopqrstuvwxyz"
						"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
						"0123456789/._-+,:@")];

		snprintf(buf, size,
			 "its preload shim is loaded and was asked for a "
			 "socket (TIDE_CONTROL=1 in its environment), which "
			 "it makes in %s%s%s%s",
			 esc, plain ? " (tidectl --dir " : "", plain ? esc : "",
			 plain ? ")" : "");
		return;
	}
	if (asked) {
		snprintf(buf, size,
			 "its preload shim is loaded and was asked for a "
			 "socket (TIDE_CONTROL=1 in its environment), but "
			 "made none in %s: it could not (TIDE_VERBOSE=1 says "
			 "why)",
			 esc);
		return;
	}
	snprintf(buf, size,
		 "its preload shim is loaded, but made no socket here: it "
		 "runs without TIDE_CONTROL=1, or could not make one "
		 "(TIDE_VERBOSE=1 says why)%s",
		 hint);
}

/*
 * A connection to @pid's control socket, or an exit.  Each directory's
 * PID.sock in turn (order_dirs()): one that is a symlink, not a socket,
 * that nobody listens on, that does not answer or that is served by
 * another pid is skipped (another user may have put it there: anybody
 * can make /run/user/UID/tide/PID.sock); the first served by @pid is
 * taken.  None: exit, saying what was skipped.
 */
int connect_pid(pid_t pid, int64_t deadline)
{
	char path[PATH_MAX], denied[PATH_MAX] = "", why[9 * PATH_MAX + 256];
	struct stat st;
	int *order, n, state;
	long long tgid = pid_tgid(pid);

	/* A thread serves nothing of its own: its process may (a review:
	 * the shim's monitor thread was said to have no socket). */
	if (tgid > 0 && tgid != pid)
		die(EXIT_FAIL, "%d is a thread of process %lld", (int)pid,
		    tgid);
	if (!dirs_given)
		add_process_dir(pid);
	order = malloc(((size_t)ndirs + 1) * sizeof(*order));
	if (!order)
		die(EXIT_FAIL, "out of memory");
	n = order_dirs(pid, order);
	skipped[0] = 0;
	nskipped = 0;
	skipped_timeouts_only = skipped_refused_only = true;
	for (int i = 0; i < n; i++) {
		int fd;

		if ((size_t)snprintf(path, sizeof(path), "%s/%d.sock",
				     dirs[order[i]], (int)pid) >= sizeof(path))
			continue;
		/* A directory we may not search: the socket may be there,
		 * or not (another directory may have it). */
		if (lstat(path, &st) && errno == EACCES && !denied[0])
			snprintf(denied, sizeof(denied), "%s", path);
		fd = try_socket(pid, path, deadline);
		if (fd >= 0) {
			free(order);
			return fd;
		}
	}
	free(order);
	if (nskipped == 1 && skipped_timeouts_only)
		no_answer(pid);
	/* A process that has exited serves nothing: say so, not why each
	 * socket it left failed (a killed worker's zombie). */
	state = pid_state(pid);
	if (state == PID_ZOMBIE)
		die_exited(pid, state);
	if (nskipped && skipped_refused_only && state == PID_LIVE)
		die_away("%s", skipped);
	if (nskipped)
		die(EXIT_FAIL, "%s", skipped);
	/* The pid first: a directory we may not search hides the sockets
	 * of processes that do not exist too. */
	if (state != PID_LIVE)
		die_exited(pid, state);
	if (denied[0])
		die(EXIT_FAIL,
		    "%s: permission denied (the socket directory belongs to "
		    "another user)",
		    denied);
	/* --dir given and not there: a typo, not the process's doing */
	for (int i = 0; dirs_given && i < ndirs; i++)
		if (stat(dirs[i], &st) || !S_ISDIR(st.st_mode))
			die(EXIT_FAIL, "%s: %s", dirs[i],
			    strerror(stat(dirs[i], &st) ? errno : ENOTDIR));
	why_no_socket(pid, why, sizeof(why));
	/*
	 * Only the directory asked for was searched: say so first (a
	 * trial: "runs without TIDE_CONTROL=1" for a process serving
	 * /run/tide/PID.sock, asked with -d /tmp), then why the process
	 * made no socket anywhere, where /proc tells.
	 */
	if (dirs_given)
		die_away("process %d has no control socket in %s (given by "
			 "%s, the only directory searched; without it, tidectl "
			 "searches $XDG_RUNTIME_DIR/tide, /run/tide, "
			 "/run/user/*/tide and the process's own runtime "
			 "directory)%s%s",
			 (int)pid, dirs[0], dirs_from, why[0] ? "; also: " : "",
			 why);
	if (why[0])
		die_away("process %d has no control socket: %s", (int)pid, why);
	die_away("process %d has no control socket (it did not call "
		 "tide_ctl_listen(), or runs without TIDE_CONTROL=1; a socket "
		 "in another directory: tidectl --dir DIR)",
		 (int)pid);
}

/* ---- the list of all processes ------------------------------------ */

/* "123.sock" -> 123, the name tide_ctl_listen() gives; 0 for any other. */
static pid_t sock_name_pid(const char *name)
{
	const char *dot = strchr(name, '.');
	unsigned long v;
	char num[16];

	if (!dot || strcmp(dot, ".sock") || name[0] == '0' ||
	    (size_t)(dot - name) >= sizeof(num))
		return 0;
	memcpy(num, name, (size_t)(dot - name));
	num[dot - name] = 0;
	return digits(num, INT_MAX, &v) ? (pid_t)v : 0;
}

static int by_pid(const struct dirent **a, const struct dirent **b)
{
	pid_t x = sock_name_pid((*a)->d_name), y = sock_name_pid((*b)->d_name);

	return (x > y) - (x < y);
}

static int pid_named(const struct dirent *de)
{
	return sock_name_pid(de->d_name) != 0;
}

/*
 * Is the socket at @path served by @pid?  One non-blocking connect, so a
 * busy server does not hold the list up, and SO_PEERCRED's pid compared
 * with the one in the name: any user can name a socket after any live
 * process.  Not listed: ECONNREFUSED (nobody listens: a process that
 * exec'd a program without tide, one that closed its listener and died
 * before removing the file, one between bind() and listen()), ENOENT
 * (just removed), another pid, and what cannot be checked: a full
 * backlog or no permission to connect, said on stderr.  A connection
 * made is closed at once: the server sees an empty request and answers
 * nothing anyone reads.
 */
static bool served_by(const char *path, pid_t pid)
{
	struct ucred cr = { 0 };
	socklen_t crlen = sizeof(cr);
	int fd, r;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die(EXIT_FAIL, "socket: %s", strerror(errno));
	do
		r = connect_path(fd, path);
	while (r && errno == EINTR);
	if (r)
		r = errno;
	else if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen))
		r = errno;
	close(fd);
	if (r == EAGAIN)
		fprintf(stderr,
			"tidectl: %s: busy (its backlog is full): not "
			"listed\n",
			path);
	else if (r == EACCES || r == EPERM)
		fprintf(stderr, "tidectl: %s: permission denied: not listed\n",
			path);
	return !r && cr.pid == pid;
}

/*
 * tidectl with no PID: each directory's processes in pid order, those that
 * serve their socket.  Returns the exit status.
 */
int list_processes(void)
{
	int n = 0;

	add_process_dirs();
	if (!dirs_given)
		print_list_head();
	for (int i = 0; i < ndirs; i++) {
		struct dirent **de;
		int k = scandir(dirs[i], &de, pid_named, by_pid);
		int err = k < 0 ? errno : 0;

		/* A directory that is not there holds no socket; one that
		 * cannot be read may: the list is not complete, say so. */
		if (err == EACCES)
			fprintf(stderr,
				"tidectl: %s: permission denied: its "
				"processes (another user's) are not listed\n",
				dirs[i]);
		else if (err && (err != ENOENT || dirs_given))
			fprintf(stderr, "tidectl: %s: %s\n", dirs[i],
				strerror(err));
		/*
		 * The one directory asked for cannot be read (not there: a
		 * typo; another user's): nothing is listed, not even an
		 * empty table (or "[]"), which would read as a directory
		 * without processes; and it fails, also for another user's,
		 * so that a script reading the output (empty, no JSON) is
		 * told.
		 */
		if (err && dirs_given)
			return EXIT_FAIL;
		if (dirs_given)
			print_list_head();
		for (int j = 0; j < k; j++) {
			char path[PATH_MAX], comm[64];
			struct stat st;
			long pid = sock_name_pid(de[j]->d_name);

			snprintf(path, sizeof(path), "%s/%s", dirs[i],
				 de[j]->d_name);
			free(de[j]);
			if (lstat(path, &st) || !S_ISSOCK(st.st_mode) ||
			    !pid_alive((pid_t)pid) ||
			    !served_by(path, (pid_t)pid))
				continue;
			pid_comm((pid_t)pid, comm, sizeof(comm));
			print_list_row(pid, (unsigned)st.st_uid, comm, path,
				       !n);
			n++;
		}
		if (k >= 0)
			free(de);
	}
	print_list_end();
	return EXIT_OK;
}
