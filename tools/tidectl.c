// SPDX-License-Identifier: MIT
/*
 * tidectl - look into and drive the shrinkers of running tide processes,
 * as the kernel's debugfs shrinker files and drop_caches do for the kernel.
 *
 * It talks to the control socket a process opened with tide_ctl_listen()
 * (or TIDE_CONTROL=1 under the preload shim): one request per connection,
 * the protocol in docs/tidectl.md.  It never follows a socket path that is
 * a symlink or not a socket, and checks that the socket is served by the
 * pid it is named after (the search: tidectl_find.c).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "tidectl.h"
#include "../src/size.h"

#define REPLY_MAX (16u << 20)
#define NAME_MAX_BYTES 255 /* the protocol's longest NAME */
/*
 * watch waits this long for a socket back: past the preload shim's worst
 * case after a program closed its descriptors (docs/preload.md), up to 2 s
 * until its listener's check sees it (TIDE__CTL_GUARD_MS) and 2 s more
 * before it listens again (preload.c's GUARD_MS), with room for a loaded
 * machine.  Up to 0.2.27 it was 2 s: watch gave up before the shim was
 * back.
 */
#define WATCH_GRACE_MS 6000

bool json;
static const char *only_dir;
int timeout_ms = 5000;

/*
 * watch: a failed request returns to the watch loop (soft_fail) instead of
 * ending the program, with its message in soft_msg.  soft_away says the
 * process's socket went away (none there, nobody listens, closed without
 * a reply, no monitor attached): a reload's close and listen, which watch
 * waits out.  A request's descriptor and reply buffer are released there.
 */
static jmp_buf *soft_fail;
static char soft_msg[1024];
static bool soft_away;
static int req_fd = -1;
static char *req_buf;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: tidectl [OPTIONS]                  list processes that listen\n"
		"       tidectl [OPTIONS] PID              shrinkers, monitor, allocator, totals\n"
		"       tidectl [OPTIONS] PID scan NAME N  one scan of N objects of NAME\n"
		"       tidectl [OPTIONS] PID shrink PRIO  one reclaim pass (12 gentle .. 0 all)\n"
		"       tidectl [OPTIONS] PID drop         free what the caches give\n"
		"       tidectl [OPTIONS] PID purge        return the allocator's free memory\n"
		"       tidectl [OPTIONS] PID watch        print the level, counts and watermarks as they change\n"
		"       tidectl [OPTIONS] PID watermarks HIGH [LOW]\n"
		"                                          set the monitor's watermarks\n"
		"\n"
		"HIGH and LOW: bytes with an optional K, M, G or T suffix (1024-based),\n"
		"or N%% of the limit (followed when it changes); LOW 0 or left out is 7/8\n"
		"of HIGH.  HIGH \"default\" (no LOW) goes back to the limit's defaults.\n"
		"\n"
		"NAME is taken as tidectl shows it: \\xHH is the byte HH (\\x20 a space,\n"
		"\\x5c a backslash); a NAME not in that form is taken as it is.\n"
		"\n"
		"Options:\n"
		"  -j, --json           machine-readable output (one JSON document;\n"
		"                       watch prints one JSON object per line)\n"
		"  -d, --dir DIR        look for sockets only in DIR (also $TIDE_CTL_DIR)\n"
		"  -i, --interval MS    watch: poll every MS milliseconds, 1..3600000\n"
		"                       (default 200)\n"
		"  -n, --count N        watch: stop after N lines, N >= 1 (the first line,\n"
		"                       the current level, counts; default: never stop)\n"
		"  -t, --timeout MS     give up on a process after MS milliseconds,\n"
		"                       1..3600000 (default 5000)\n"
		"  -h, --help           this text\n"
		"  -V, --version        the version (tidectl (tide) X.Y.Z)\n"
		"\n"
		"Sockets are looked for in $XDG_RUNTIME_DIR/tide, /run/tide and\n"
		"/run/user/*/tide, and for a PID also in the $XDG_RUNTIME_DIR/tide\n"
		"its environment names.  Exit status: 0 ok, 1 refused or failed,\n"
		"2 usage.\n");
}

void die(int code, const char *fmt, ...)
{
	va_list ap;

	if (soft_fail && code == EXIT_FAIL) {
		jmp_buf *to = soft_fail;

		soft_fail = NULL;
		va_start(ap, fmt);
		vsnprintf(soft_msg, sizeof(soft_msg), fmt, ap);
		va_end(ap);
		longjmp(*to, 1);
	}
	fputs("tidectl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

/* ---- one request ----------------------------------------------------- */

/* A failure of a socket that went away (see soft_away). */
void die_away(const char *fmt, ...)
{
	char msg[sizeof(soft_msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	soft_away = true;
	die(EXIT_FAIL, "%s", msg);
}

void no_answer(pid_t pid)
{
	die(EXIT_FAIL, "%d: no answer within %d ms%s", (int)pid, timeout_ms,
	    pid_stopped(pid) ?
		    " (the process is stopped: SIGSTOP or a debugger)" :
		    "");
}

int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * A connection to @pid closed with no answer: when the process is no more,
 * exit saying so.  A zombie is said as when its socket refuses: a killed
 * process's other threads, or a child it forked, may hold the listener for
 * a moment after it became one.
 */
static void exit_if_gone(pid_t pid)
{
	int state = pid_state(pid);

	if (state == PID_ZOMBIE)
		die_exited(pid, state);
	if (state != PID_LIVE)
		die(EXIT_FAIL, "%d: the process exited before it answered",
		    (int)pid);
}

/*
 * Send @req to @pid and read the answer's body into @rep.  Failures end the
 * program, except an EINVAL answer to an @optional request (a server that
 * predates it): then @rep->buf is NULL and the result false.
 */
static bool request_ex(pid_t pid, const char *req, struct reply *rep,
		       bool optional)
{
	size_t cap = 4096, len = 0, reqlen = strlen(req), off = 0;
	int64_t deadline = now_ms() + timeout_ms;
	char *buf, *nl;
	int fd;

	fd = req_fd = connect_pid(pid, deadline);
	while (off < reqlen) {
		ssize_t n = send(fd, req + off, reqlen - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			no_answer(pid);
		/* the listener closed while we were in its backlog */
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET) &&
		    soft_fail)
			die_away("%d: closed without a reply", (int)pid);
		if (n <= 0) {
			exit_if_gone(pid);
			die(EXIT_FAIL,
			    "%d: permission denied (connection "
			    "closed: not the same user?)",
			    (int)pid);
		}
		off += (size_t)n;
	}
	shutdown(fd, SHUT_WR);
	buf = req_buf = malloc(cap);
	if (!buf)
		die(EXIT_FAIL, "out of memory");
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - now_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) == 0)
			no_answer(pid);
		n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		/* a server that closed with our request unread resets the
		 * connection after its one line: what came is the answer */
		if (n < 0 && errno == ECONNRESET)
			n = 0;
		if (n < 0)
			die(EXIT_FAIL, "%d: %s", (int)pid, strerror(errno));
		if (!n)
			break;
		len += (size_t)n;
		if (len + 1 == cap) {
			if (cap >= REPLY_MAX)
				die(EXIT_FAIL, "%d: reply too long", (int)pid);
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf)
				die(EXIT_FAIL, "out of memory");
			req_buf = buf;
		}
	}
	close(fd);
	req_fd = -1;
	buf[len] = 0;
	buf = req_buf = printable(buf, &len);
	if (!len) {
		/* A peer check refuses only users other than root and the
		 * process's own; for root the process went away or was
		 * ending (a trial's tidectl racing a SIGKILL said
		 * "permission denied"). */
		exit_if_gone(pid);
		/* watch had answers from it: its listener closed */
		if (soft_fail)
			die_away("%d: closed without a reply", (int)pid);
		if (!geteuid())
			die(EXIT_FAIL,
			    "%d: closed without a reply (the process is exiting, "
			    "or no tide of its own listens)",
			    (int)pid);
		die(EXIT_FAIL,
		    "%d: permission denied (closed without a reply: the "
		    "process serves only its own user and root)",
		    (int)pid);
	}
	if (!strncmp(buf, "err ", 4)) {
		char *name = buf + 4, *msg = strchr(name, ' ');

		buf[strcspn(buf, "\n")] = 0;
		if (msg)
			*msg++ = 0;
		if (optional && !strcmp(name, "EINVAL")) {
			free(buf);
			rep->buf = NULL;
			rep->len = 0;
			return false;
		}
		if (!strcmp(name, "EPERM"))
			die(EXIT_FAIL, "%d: refused: %s", (int)pid,
			    msg ? msg : name);
		die(EXIT_FAIL, "%d: %s (%s)", (int)pid, msg ? msg : "failed",
		    name);
	}
	nl = strstr(buf, "\nend\n");
	if (strncmp(buf, "ok\n", 3) || !nl || nl[5])
		die(EXIT_FAIL, "%d: malformed reply", (int)pid);
	nl[1] = 0;
	req_buf = NULL;
	rep->buf = buf;
	rep->len = (size_t)(nl + 1 - buf);
	memmove(buf, buf + 3, rep->len - 3 + 1);
	rep->len -= 3;
	return true;
}

static void request(pid_t pid, const char *req, struct reply *rep)
{
	request_ex(pid, req, rep, false);
}

/* ---- commands -------------------------------------------------------- */

static int cmd_show(pid_t pid)
{
	struct reply info, shr, mon, st, tot;
	bool has_tot;

	request(pid, "info\n", &info);
	request(pid, "shrinkers\n", &shr);
	request(pid, "monitor\n", &mon);
	request(pid, "stats\n", &st);
	/* kv and arena totals: servers before tide 0.2 do not know them. */
	has_tot = request_ex(pid, "totals\n", &tot, true);
	print_show(pid, &info, &shr, &mon, &st, has_tot ? &tot : NULL);
	free(info.buf);
	free(tot.buf);
	free(shr.buf);
	free(mon.buf);
	free(st.buf);
	return EXIT_OK;
}

/* An action's answer, under @title (or as one JSON object). */
static int print_answer(const char *title, struct reply *rep)
{
	if (json) {
		json_object(rep);
		printf("\n");
	} else {
		print_block(title, rep);
	}
	free(rep->buf);
	return EXIT_OK;
}

static int cmd_act(pid_t pid, const char *title, const char *req)
{
	struct reply rep;

	request(pid, req, &rep);
	return print_answer(title, &rep);
}

/*
 * "watermarks": a process whose tide predates the request (0.2.11) reads
 * it as malformed; tidectl checked its form, so that is what it means.
 */
static int cmd_tune(pid_t pid, const char *req)
{
	struct reply rep;

	if (!request_ex(pid, req, &rep, true))
		die(EXIT_FAIL,
		    "%d: the process does not know the watermarks request "
		    "(its tide is older than 0.2.11)",
		    (int)pid);
	return print_answer("watermarks", &rep);
}

/*
 * One "monitor" request for watch; false when it failed with the socket
 * away (soft_away) and @soft: the message is in soft_msg.
 */
static bool watch_request(pid_t pid, struct reply *rep, char *level,
			  size_t size, bool soft)
{
	jmp_buf env;

	soft_away = false;
	if (setjmp(env)) {
		if (req_fd >= 0)
			close(req_fd);
		free(req_buf);
		req_fd = -1;
		req_buf = NULL;
		/* one that exited meanwhile: watch_wait() says so */
		if (!soft_away && pid_alive(pid)) {
			fprintf(stderr, "tidectl: %s\n", soft_msg);
			exit(EXIT_FAIL);
		}
		return false;
	}
	soft_fail = soft ? &env : NULL;
	request(pid, "monitor\n", rep);
	if (!get(rep, "level", level, size)) {
		free(rep->buf);
		die_away("%d: no monitor attached", (int)pid);
	}
	soft_fail = NULL;
	return true;
}

/*
 * After an answer, a socket that goes away (a server's reload: close and
 * listen again, or a monitor set to NULL and back) is waited for up to
 * WATCH_GRACE_MS, with one line on stderr when it is back.  A process that
 * exits ends the watch at once.
 */
static void watch_wait(pid_t pid, int interval_ms, struct reply *rep,
		       char *level, size_t size)
{
	int64_t start = now_ms(), t;
	int state;

	for (;;) {
		state = pid_state(pid);
		if (state != PID_LIVE) {
			if (state == PID_ZOMBIE)
				die(EXIT_FAIL,
				    "%d: the process has exited (a zombie: "
				    "its parent has not reaped it yet)",
				    (int)pid);
			die(EXIT_FAIL, "%d: the process has exited", (int)pid);
		}
		t = now_ms() - start;
		if (t >= WATCH_GRACE_MS)
			die(EXIT_FAIL,
			    "%d: its control socket went away and is not back "
			    "after %d ms (%s)",
			    (int)pid, WATCH_GRACE_MS, soft_msg);
		usleep((useconds_t)(interval_ms < 50 ? interval_ms : 50) *
		       1000);
		if (watch_request(pid, rep, level, size, true))
			break;
	}
	fprintf(stderr,
		"tidectl: %d: reconnected (its control socket was away for "
		"%lld ms)\n",
		(int)pid, (long long)(now_ms() - start));
}

/*
 * A line at the start, then whenever the level changed, the monitor
 * counted an event or ran a loop, or the watermarks moved since the last
 * line: a watermark loop that comes and goes within one interval (the
 * level back to none) still shows, by its counts.
 */
static int cmd_watch(pid_t pid, int interval_ms, long count)
{
	char last[256] = "", now[256], level[64], ev[32], loops[32];
	char high[32], low[32];
	long lines = 0;
	bool answered = false;

	for (;;) {
		struct reply rep;

		if (!watch_request(pid, &rep, level, sizeof(level), answered))
			watch_wait(pid, interval_ms, &rep, level,
				   sizeof(level));
		answered = true;
		if (!get(&rep, "events", ev, sizeof(ev)))
			ev[0] = 0;
		if (!get(&rep, "loops", loops, sizeof(loops)))
			loops[0] = 0;
		/* the watermarks move with the limit and with "watermarks" */
		if (!get(&rep, "high", high, sizeof(high)))
			high[0] = 0;
		if (!get(&rep, "low", low, sizeof(low)))
			low[0] = 0;
		snprintf(now, sizeof(now), "%s %s %s %s %s", level, ev, loops,
			 high, low);
		if (strcmp(now, last)) {
			print_watch_line(&rep, level);
			if (fflush(stdout))
				die(EXIT_FAIL, "write error: %s",
				    strerror(errno));
			snprintf(last, sizeof(last), "%s", now);
			if (count > 0 && ++lines >= count) {
				free(rep.buf);
				return EXIT_OK;
			}
		}
		free(rep.buf);
		usleep((useconds_t)interval_ms * 1000);
	}
}

/*
 * @s as a decimal number of plain digits (no sign, no space) up to @max
 * into *@ret; false otherwise.
 */
bool digits(const char *s, unsigned long max, unsigned long *ret)
{
	unsigned long v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (d > 9 || v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*ret = v;
	return true;
}

/*
 * A number of plain digits in [@min, @max] (@min >= 0), or exit 2 naming
 * @what and the range.
 */
static long number(const char *s, long min, long max, const char *what)
{
	unsigned long v;

	if (!digits(s, (unsigned long)max, &v) || v < (unsigned long)min) {
		if (max == LONG_MAX)
			fprintf(stderr, "tidectl: bad %s: %s (at least %ld)\n",
				what, s, min);
		else
			fprintf(stderr, "tidectl: bad %s: %s (%ld..%ld)\n",
				what, s, min, max);
		exit(EXIT_USAGE);
	}
	return (long)v;
}

/*
 * A command's argument @s as a number in [@min, @max] (@min >= 0), or one
 * line naming the command, the argument and the range, and exit 2.
 */
static long cmd_number(const char *cmd, const char *arg, const char *s,
		       long min, long max)
{
	unsigned long v;

	if (!digits(s, (unsigned long)max, &v) || v < (unsigned long)min) {
		fprintf(stderr,
			"tidectl: %s: %s must be a number from %ld to %ld, "
			"not '%s'\n",
			cmd, arg, min, max, s);
		exit(EXIT_USAGE);
	}
	return (long)v;
}

/* Exit 2 unless @cmd got exactly @want arguments (named in @names). */
static void cmd_args(const char *cmd, int have, int want, char **args,
		     const char *names)
{
	if (have > want) {
		fprintf(stderr, "tidectl: %s: unexpected argument '%s'\n", cmd,
			args[want]);
		exit(EXIT_USAGE);
	}
	if (have < want) {
		/* "NAME and N" less the ones given */
		const char *missing = names;

		for (int i = 0; i < have; i++)
			missing = strstr(missing, " and ") + 5;
		fprintf(stderr, "tidectl: %s: missing %s\n", cmd, missing);
		exit(EXIT_USAGE);
	}
}

/*
 * getopt would take a negative number ("scan items -1") for options: such
 * an argument is hidden from it behind a mark, and unmarked after.
 */
static char *marked[64];
static int nmarked;

static void mark_negative_numbers(int argc, char **argv)
{
	for (int i = 1; i < argc && nmarked < 64; i++) {
		char *m;

		if (!strcmp(argv[i], "--"))
			return;
		if (argv[i][0] != '-' || !isdigit((unsigned char)argv[i][1]))
			continue;
		m = malloc(strlen(argv[i]) + 2);
		if (!m)
			die(EXIT_FAIL, "out of memory");
		m[0] = 'n';
		strcpy(m + 1, argv[i]);
		argv[i] = marked[nmarked++] = m;
	}
}

static char *unmark(char *s)
{
	for (int i = 0; i < nmarked; i++)
		if (s == marked[i])
			return s + 1;
	return s;
}

/* Whether @s is a field as the protocol escapes it (src/ctl_proto.c):
 * printable ASCII but space, each backslash starting \xHH with HH not 00.
 * If so, the bytes it stands for go to @out (NUL-terminated). */
static bool unescape_field(const char *s, char *out, size_t size)
{
	size_t n = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		unsigned v;

		if (c == '\\') {
			if (s[1] != 'x' || !isxdigit((unsigned char)s[2]) ||
			    !isxdigit((unsigned char)s[3]) ||
			    sscanf(s + 2, "%2x", &v) != 1 || !v)
				return false;
			c = (unsigned char)v;
			s += 3;
		} else if (c <= ' ' || c > '~') {
			return false;
		}
		if (n + 1 >= size)
			return false;
		out[n++] = (char)c;
	}
	out[n] = 0;
	return n > 0;
}

/*
 * A watermark as "watermarks" takes it, checked by the process's own rule
 * (src/size.h) and under its length limit: its kind in *@pct.  An answer
 * "malformed" to a word that passes here means the process's tide does
 * not know the request.
 */
static bool size_word(const char *s, bool *pct)
{
	uint64_t bytes;
	unsigned p;

	if (strlen(s) >= TIDE__SIZE_WORD_MAX || tide__parse_size(s, &bytes, &p))
		return false;
	*pct = p != 0;
	return true;
}

/* "watermarks HIGH [LOW]": the request line in @req, or exit 2. */
static void watermarks_request(int have, char **args, char *req, size_t size)
{
	const char *high = have > 0 ? args[0] : NULL;
	const char *low = have > 1 ? args[1] : "0";
	bool hpct = false, lpct = false;

	if (have < 1 || have > 2)
		cmd_args("watermarks", have, have < 1 ? 1 : 2, args, "HIGH");
	if (!strcmp(high, "default")) {
		if (have > 1) {
			fprintf(stderr, "tidectl: watermarks: \"default\" "
					"takes no LOW\n");
			exit(EXIT_USAGE);
		}
	} else if (!size_word(high, &hpct)) {
		fprintf(stderr,
			"tidectl: watermarks: bad HIGH '%s' (bytes with K, M, "
			"G or T, or N%% of the limit, or \"default\")\n",
			high);
		exit(EXIT_USAGE);
	}
	if (strcmp(low, "0") && !size_word(low, &lpct)) {
		fprintf(stderr,
			"tidectl: watermarks: bad LOW '%s' (bytes with K, M, "
			"G or T, or N%% of the limit, or 0)\n",
			low);
		exit(EXIT_USAGE);
	}
	if (strcmp(low, "0") && hpct != lpct) {
		fprintf(stderr, "tidectl: watermarks: HIGH and LOW must both "
				"be bytes or both percentages\n");
		exit(EXIT_USAGE);
	}
	snprintf(req, size, "watermarks %s %s\n", high, low);
}

/* Output that did not reach its file is a failure (a full disk). */
static void close_stdout(void)
{
	bool failed = ferror(stdout);

	if (fclose(stdout)) {
		fprintf(stderr, "tidectl: write error: %s\n", strerror(errno));
		_exit(EXIT_FAIL);
	}
	if (failed) {
		fputs("tidectl: write error\n", stderr);
		_exit(EXIT_FAIL);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "dir", required_argument, NULL, 'd' },
		{ "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	int interval = 200, c;
	long count = 0;
	pid_t pid;
	const char *cmd;
	char req[4200], esc[4096], raw[1100];
	char *slash = strrchr(argv[0], '/');

	atexit(close_stdout);
	/* getopt's messages name the program, not the path it ran by. */
	if (slash && slash[1])
		argv[0] = slash + 1;
	/* GNU getopt: options may come anywhere; "--" ends them. */
	mark_negative_numbers(argc, argv);
	while ((c = getopt_long(argc, argv, "jd:i:n:t:hV", opts, NULL)) != -1) {
		if (optarg)
			optarg = unmark(optarg);
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'd':
			only_dir = optarg;
			break;
		case 'i':
			interval = (int)number(optarg, 1, 3600000,
					       "interval (ms)");
			break;
		case 'n':
			count = number(optarg, 1, LONG_MAX, "count");
			break;
		case 't':
			timeout_ms =
				(int)number(optarg, 1, 3600000, "timeout (ms)");
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("tidectl (tide) %s\n", TIDECTL_VERSION);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	for (int i = optind; i < argc; i++)
		argv[i] = unmark(argv[i]);
	find_dirs(only_dir);
	if (optind == argc)
		return list_processes();
	pid = (pid_t)number(argv[optind++], 1, INT_MAX, "pid");
	if (optind == argc)
		return cmd_show(pid);
	cmd = argv[optind++];
	if (!strcmp(cmd, "scan")) {
		const char *name;

		cmd_args(cmd, argc - optind, 2, argv + optind, "NAME and N");
		name = argv[optind];
		/* The name as tidectl shows it (escaped) stands for its
		 * bytes; any other is taken as it is. */
		if (unescape_field(name, raw, sizeof(raw)))
			name = raw;
		/* No shrinker has an empty name: the process would only
		 * call the request malformed. */
		if (!*name) {
			fprintf(stderr, "tidectl: bad name: empty\n");
			exit(EXIT_USAGE);
		}
		if (strlen(name) > NAME_MAX_BYTES) {
			fprintf(stderr,
				"tidectl: bad name: longer than %d bytes\n",
				NAME_MAX_BYTES);
			exit(EXIT_USAGE);
		}
		/* It goes escaped: \xHH for spaces, controls, '\'. */
		escape_name(name, esc, sizeof(esc));
		snprintf(req, sizeof(req), "scan %s %ld\n", esc,
			 cmd_number(cmd, "N", argv[optind + 1], 1, LONG_MAX));
		return cmd_act(pid, "scan", req);
	}
	if (!strcmp(cmd, "shrink")) {
		cmd_args(cmd, argc - optind, 1, argv + optind, "PRIO");
		snprintf(req, sizeof(req), "shrink %ld\n",
			 cmd_number(cmd, "PRIO", argv[optind], 0, 12));
		return cmd_act(pid, "shrink", req);
	}
	if (!strcmp(cmd, "drop") || !strcmp(cmd, "purge")) {
		cmd_args(cmd, argc - optind, 0, argv + optind, "");
		snprintf(req, sizeof(req), "%s\n", cmd);
		return cmd_act(pid, cmd, req);
	}
	if (!strcmp(cmd, "watch")) {
		cmd_args(cmd, argc - optind, 0, argv + optind, "");
		return cmd_watch(pid, interval, count);
	}
	if (!strcmp(cmd, "watermarks")) {
		watermarks_request(argc - optind, argv + optind, req,
				   sizeof(req));
		return cmd_tune(pid, req);
	}
	fprintf(stderr, "tidectl: unknown command: %s\n", cmd);
	usage(stderr);
	return EXIT_USAGE;
}
