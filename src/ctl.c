// SPDX-License-Identifier: MIT
/*
 * ctl.c - the control socket: tidectl's server side.
 *
 * One listener per process.  Its state is an epoll descriptor holding the
 * listening socket, a timerfd armed at the earliest connection deadline, a
 * stop eventfd and one entry per open connection.  Everything is
 * non-blocking: dispatching accepts, reads what arrived, answers complete
 * requests, writes what the peer will take and drops connections past their
 * deadline, and never waits for a client.  The listener's own thread only
 * polls the epoll descriptor and dispatches; a caller with its own event
 * loop does the same through tide_ctl_fd() and tide_ctl_dispatch().
 *
 * Protocol (docs/tidectl.md): one request line per connection; the answer
 * is "ok\n", the body (key=value lines or tab-separated rows), "end\n", or a
 * single "err ENAME message\n" line; then the server closes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <tide/arena.h>
#include <tide/ctl.h>
#include <tide/kv.h>
#include <tide/pressure.h>
#include <tide/shrinker.h>

#include "internal.h"

#define CTL_MAX_CONN 32 /* open connections; the oldest is dropped */
#define CTL_ACCEPT_BATCH 64 /* accepts per dispatch, so a burst can't starve */
#define CTL_DEF_TIMEOUT_MS 1000
#define CTL_BACKLOG 128
#define CTL_PAUSE_NS 100000000u /* no accept for 100 ms after EMFILE */

/* epoll data tags below the connection slots */
enum { TAG_LISTEN, TAG_TIMER, TAG_STOP, TAG_CONN };

struct conn {
	int fd;
	bool writing;
	uint64_t deadline; /* CLOCK_MONOTONIC ns */
	size_t in_len;
	char *out; /* response; owned unless it is one of the static lines */
	bool out_owned;
	size_t out_len, out_off;
	char in[TIDE__CTL_REQ_MAX];
};

struct ctl {
	pid_t pid; /* the process that listens; a forked child does not serve */
	uid_t uid;
	int lfd, epfd, tfd, sfd;
	unsigned allow, flags, timeout_ms;
	struct tide_monitor *monitor;
	bool thread_running;
	uint64_t paused_until; /* out of descriptors: accept again then */
	atomic_bool stop;
	pthread_t thread;
	char *path; /* the socket's path */
	struct conn *conns[CTL_MAX_CONN];
};

static pthread_mutex_t ctl_lock = PTHREAD_MUTEX_INITIALIZER; /* dispatch */
static pthread_mutex_t ctl_op_lock =
	PTHREAD_MUTEX_INITIALIZER; /* listen/close */
static pthread_once_t ctl_once = PTHREAD_ONCE_INIT;
static struct ctl *ctl;

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
};

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
	default:
		break;
	}
	*ret = req;
	return 0;
}

/* ---- responses --------------------------------------------------------- */

struct out {
	char *buf;
	size_t len, cap;
	bool failed;
};

static void out_add(struct out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void out_vadd(struct out *o, const char *fmt, va_list ap)
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

static void out_add(struct out *o, const char *fmt, ...)
{
	va_list ap;

	if (o->failed)
		return;
	va_start(ap, fmt);
	out_vadd(o, fmt, ap);
	va_end(ap);
}

/* key=value with the value escaped as a field */
static void out_str(struct out *o, const char *key, const char *val)
{
	char esc[4 * 512 + 1];

	if (tide__ctl_escape(val ? val : "", esc, sizeof(esc)) < 0) {
		o->failed = true;
		return;
	}
	out_add(o, "%s=%s\n", key, esc);
}

static void out_u64(struct out *o, const char *key, unsigned long long v)
{
	out_add(o, "%s=%llu\n", key, v);
}

static const char *level_name(enum tide_pressure_level l)
{
	static const char *const names[] = { "none", "low", "medium",
					     "critical" };

	return (unsigned)l < 4 ? names[l] : "unknown";
}

static void add_allow(struct out *o, unsigned allow)
{
	static const char *const names[] = { "read", "scan", "shrink", "drop",
					     "purge" };
	bool first = true;

	out_add(o, "allow=");
	for (unsigned i = 0; i < 5; i++) {
		if (!(allow & (1u << i)))
			continue;
		out_add(o, "%s%s", first ? "" : ",", names[i]);
		first = false;
	}
	out_add(o, "\n");
}

static void do_info(struct ctl *c, struct out *o)
{
	char comm[64] = "";
	int fd = open("/proc/self/comm", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		ssize_t n = read(fd, comm, sizeof(comm) - 1);

		comm[n > 0 ? n : 0] = 0;
		comm[strcspn(comm, "\n")] = 0;
		close(fd);
	}
	out_u64(o, "pid", (unsigned long long)c->pid);
	out_u64(o, "uid", (unsigned long long)c->uid);
	out_str(o, "comm", comm);
	out_str(o, "version", tide_version());
	add_allow(o, c->allow);
	out_u64(o, "timeout_ms", c->timeout_ms);
	out_u64(o, "monitor", c->monitor != NULL);
}

static int add_shrinker(const struct tide_shrinker_info *si, void *arg)
{
	struct out *o = arg;
	char esc[4 * TIDE__CTL_NAME_MAX + 1];

	/* A name too long to look up is still listed, cut to its limit. */
	if (tide__ctl_escape(si->name, esc, sizeof(esc)) < 0) {
		char cut[TIDE__CTL_NAME_MAX + 1];

		snprintf(cut, sizeof(cut), "%s", si->name);
		tide__ctl_escape(cut, esc, sizeof(esc));
	}
	out_add(o, "%s\t%lu\t%lu\t%llu\t%llu\t%llu\t%u\t%lu\n", esc, si->count,
		si->nr_deferred, si->calls, si->scanned, si->freed, si->seeks,
		si->batch);
	return 0;
}

static void do_monitor(struct ctl *c, struct out *o)
{
	struct tide_monitor_stats st;
	struct tide_monitor_limit lim;
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

		if (!(mask & b) ||
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
}

static void add_purge_stats(struct out *o)
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

static void do_totals(struct out *o)
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
};

/*
 * Answer @req into @o.  Returns NULL, or a static error line when the
 * request is refused (nothing was done).
 */
static const char *execute(struct ctl *c, const struct tide__ctl_req *req,
			   struct out *o)
{
	unsigned long freed;

	if (!(c->allow & cmd_allow[req->cmd]))
		return "err EPERM request not allowed\n";
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
	case TIDE__CTL_INFO:
		do_info(c, o);
		break;
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
		out_u64(o, "freed", tide_drop_caches());
		break;
	case TIDE__CTL_PURGE:
		out_u64(o, "freed_pages", tide_purge());
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

/* ---- connections ------------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void conn_close(struct ctl *c, unsigned slot)
{
	struct conn *k = c->conns[slot];

	if (!k)
		return;
	epoll_ctl(c->epfd, EPOLL_CTL_DEL, k->fd, NULL);
	close(k->fd);
	if (k->out_owned)
		tide__os_free(k->out);
	tide__os_free(k);
	c->conns[slot] = NULL;
}

/* Arm the timer at the earliest deadline (or disarm it). */
static void arm_timer(struct ctl *c)
{
	struct itimerspec its = { 0 };
	uint64_t first = 0;

	for (unsigned i = 0; i < CTL_MAX_CONN; i++)
		if (c->conns[i] && (!first || c->conns[i]->deadline < first))
			first = c->conns[i]->deadline;
	if (c->paused_until && (!first || c->paused_until < first))
		first = c->paused_until;
	if (first) {
		its.it_value.tv_sec = (time_t)(first / 1000000000u);
		its.it_value.tv_nsec = (long)(first % 1000000000u);
	}
	timerfd_settime(c->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Write what the peer takes; true when the connection is finished. */
static bool conn_write(struct ctl *c, struct conn *k)
{
	while (k->out_off < k->out_len) {
		ssize_t n = send(k->fd, k->out + k->out_off,
				 k->out_len - k->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return false;
		if (n <= 0)
			return true;
		k->out_off += (size_t)n;
	}
	return true;
}

static void conn_respond_static(struct conn *k, const char *line)
{
	k->out = (char *)line;
	k->out_owned = false;
	k->out_len = strlen(line);
	k->out_off = 0;
}

/* The request line is complete (or can never be): answer it. */
static void conn_answer(struct ctl *c, struct conn *k, size_t line_len,
			bool complete)
{
	struct tide__ctl_req req;
	struct out o = { 0 };
	const char *err;
	int r;

	if (!complete) {
		conn_respond_static(k,
				    line_len >= TIDE__CTL_REQ_MAX ?
					    "err E2BIG request too long\n" :
					    "err EINVAL incomplete request\n");
	} else if ((r = tide__ctl_parse(k->in, line_len, &req))) {
		conn_respond_static(
			k, r == -E2BIG ? "err E2BIG request too long\n" :
					 "err EINVAL malformed request\n");
	} else if ((err = execute(c, &req, &o))) {
		conn_respond_static(k, err);
	} else if (o.failed) {
		/* o.buf is released below, as for every answer not sent from it */
		conn_respond_static(k, "err ENOMEM out of memory\n");
	} else {
		k->out = o.buf;
		k->out_owned = true;
		k->out_len = o.len;
		k->out_off = 0;
	}
	if (o.buf && !k->out_owned)
		tide__os_free(o.buf);
	k->writing = true;
}

static void conn_event(struct ctl *c, unsigned slot)
{
	struct conn *k = c->conns[slot];
	struct epoll_event ev = { .events = EPOLLOUT,
				  .data.u32 = TAG_CONN + slot };

	if (!k->writing) {
		for (;;) {
			char *nl;
			ssize_t n =
				recv(k->fd, k->in + k->in_len,
				     sizeof(k->in) - k->in_len, MSG_DONTWAIT);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return;
			if (n < 0) {
				conn_close(c, slot);
				return;
			}
			nl = memchr(k->in + k->in_len, '\n', (size_t)n);
			k->in_len += (size_t)n;
			if (nl) {
				conn_answer(c, k, (size_t)(nl - k->in), true);
				break;
			}
			if (!n || k->in_len == sizeof(k->in)) {
				conn_answer(c, k, k->in_len, false);
				break;
			}
		}
		epoll_ctl(c->epfd, EPOLL_CTL_MOD, k->fd, &ev);
	}
	if (conn_write(c, k))
		conn_close(c, slot);
}

static bool peer_allowed(struct ctl *c, int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) ||
	    len != sizeof(cr))
		return false;
	return cr.uid == 0 || cr.uid == c->uid;
}

static void accept_some(struct ctl *c)
{
	for (int i = 0; i < CTL_ACCEPT_BATCH; i++) {
		struct epoll_event ev = { .events = EPOLLIN };
		unsigned slot, oldest = 0;
		struct conn *k;
		int fd = accept4(c->lfd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				/* The listener stays readable: stop polling it
				 * for a while rather than spin. */
				struct epoll_event off = { .events = 0,
							   .data.u32 =
								   TAG_LISTEN };

				epoll_ctl(c->epfd, EPOLL_CTL_MOD, c->lfd, &off);
				c->paused_until = now_ns() + CTL_PAUSE_NS;
			}
			return;
		}
		if (!peer_allowed(c, fd)) {
			close(fd);
			continue;
		}
		for (slot = 0; slot < CTL_MAX_CONN && c->conns[slot]; slot++)
			if (c->conns[slot]->deadline <
			    c->conns[oldest]->deadline)
				oldest = slot;
		if (slot == CTL_MAX_CONN) {
			/* Full: a new client beats the slowest old one. */
			conn_close(c, oldest);
			slot = oldest;
		}
		k = tide__os_malloc(sizeof(*k));
		if (!k) {
			close(fd);
			continue;
		}
		memset(k, 0, offsetof(struct conn, in));
		k->fd = fd;
		k->deadline = now_ns() + (uint64_t)c->timeout_ms * 1000000u;
		ev.data.u32 = TAG_CONN + slot;
		if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev)) {
			close(fd);
			tide__os_free(k);
			continue;
		}
		c->conns[slot] = k;
	}
}

static void expire(struct ctl *c)
{
	uint64_t t = now_ns(), ticks;

	if (read(c->tfd, &ticks, sizeof(ticks)) < 0) {
		/* not expired yet, or nothing armed: check all the same */
	}
	for (unsigned i = 0; i < CTL_MAX_CONN; i++) {
		struct conn *k = c->conns[i];

		if (!k || k->deadline > t)
			continue;
		if (!k->writing) {
			/* One best-effort line; it never waits. */
			conn_respond_static(k,
					    "err ETIMEDOUT request too slow\n");
			k->writing = true;
			conn_write(c, k);
		}
		conn_close(c, i);
	}
}

static void dispatch_locked(struct ctl *c)
{
	struct epoll_event evs[16];
	int n = epoll_wait(c->epfd, evs, 16, 0);

	for (int i = 0; i < n; i++) {
		uint32_t tag = evs[i].data.u32;

		if (tag == TAG_LISTEN)
			accept_some(c);
		else if (tag >= TAG_CONN && tag - TAG_CONN < CTL_MAX_CONN &&
			 c->conns[tag - TAG_CONN])
			conn_event(c, tag - TAG_CONN);
	}
	expire(c);
	if (c->paused_until && c->paused_until <= now_ns()) {
		struct epoll_event on = { .events = EPOLLIN,
					  .data.u32 = TAG_LISTEN };

		epoll_ctl(c->epfd, EPOLL_CTL_MOD, c->lfd, &on);
		c->paused_until = 0;
	}
	arm_timer(c);
}

static void *ctl_thread(void *arg)
{
	struct ctl *c = arg;

	while (!atomic_load(&c->stop)) {
		struct pollfd p = { .fd = c->epfd, .events = POLLIN };

		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			break;
		if (atomic_load(&c->stop))
			break;
		pthread_mutex_lock(&ctl_lock);
		dispatch_locked(c);
		pthread_mutex_unlock(&ctl_lock);
	}
	return NULL;
}

/* ---- fork -------------------------------------------------------------- */

static void atfork_prepare(void)
{
	pthread_mutex_lock(&ctl_op_lock);
	pthread_mutex_lock(&ctl_lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&ctl_lock);
	pthread_mutex_unlock(&ctl_op_lock);
}

static void atfork_child(void)
{
	pthread_mutex_init(&ctl_lock, NULL);
	pthread_mutex_init(&ctl_op_lock, NULL);
	/* The thread did not come along. */
	if (ctl)
		ctl->thread_running = false;
}

static void ctl_register_atfork(void)
{
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* ---- listen and close -------------------------------------------------- */

/* Free @c; unlink its socket only in the process that made it. */
static void ctl_free(struct ctl *c)
{
	bool owner = c->pid == getpid();

	for (unsigned i = 0; i < CTL_MAX_CONN; i++)
		conn_close(c, i);
	if (c->lfd >= 0) {
		close(c->lfd);
		if (owner && c->path)
			unlink(c->path);
	}
	if (c->epfd >= 0)
		close(c->epfd);
	if (c->tfd >= 0)
		close(c->tfd);
	if (c->sfd >= 0)
		close(c->sfd);
	tide__os_free(c->path);
	tide__os_free(c);
}

/*
 * Read @cfg by the size rule into @ret (zeroed first); 0, -EINVAL or
 * -E2BIG.
 */
static int read_config(const struct tide_ctl_config *cfg,
		       struct tide_ctl_config *ret)
{
	size_t size;

	memset(ret, 0, sizeof(*ret));
	if (!cfg)
		return 0;
	size = cfg->size;
	if (size < sizeof(size_t))
		return -EINVAL;
	for (size_t i = sizeof(*ret); i < size; i++)
		if (((const unsigned char *)cfg)[i])
			return -E2BIG;
	memcpy(ret, cfg, TIDE__MIN(size, sizeof(*ret)));
	if (ret->allow & ~(unsigned)TIDE_CTL_ALL ||
	    ret->flags & ~(unsigned)TIDE_CTL_DISPATCH)
		return -EINVAL;
	return 0;
}

/* Create @dir 0700 or check the one that is there. */
static int check_dir(const char *dir)
{
	struct stat st;
	bool made = !mkdir(dir, 0700);

	if (!made && errno != EEXIST)
		return -errno;
	if (lstat(dir, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (st.st_uid != geteuid())
		return -EPERM;
	if ((st.st_mode & 07777) != 0700) {
		/* The umask may have taken bits off the one we made. */
		if (!made)
			return -EPERM;
		if (chmod(dir, 0700))
			return -errno;
	}
	return 0;
}

/* "123.sock" -> 123; 0 for every other name. */
static pid_t sock_pid(const char *name)
{
	unsigned long v = 0;
	const char *p = name;

	while (*p >= '0' && *p <= '9' && v <= INT_MAX / 10)
		v = v * 10 + (unsigned long)(*p++ - '0');
	if (p == name || strcmp(p, ".sock") || !v || v > INT_MAX)
		return 0;
	return (pid_t)v;
}

/*
 * Remove the sockets of dead processes and a stale one of our own pid.
 * getdents64 directly: opendir() would allocate outside os.c.
 */
static int clean_dir(const char *dir, pid_t self)
{
	char buf[4096];
	long n;
	int r = 0;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (dfd < 0)
		return -errno;
	while ((n = syscall(SYS_getdents64, dfd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n;) {
			unsigned short reclen;
			const char *name = buf + off + 19;
			pid_t pid = sock_pid(name);
			struct stat st;

			memcpy(&reclen, buf + off + 16, sizeof(reclen));
			off += reclen;
			if (!pid)
				continue;
			if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW))
				continue;
			if (pid == self) {
				if (!S_ISSOCK(st.st_mode)) {
					r = -EEXIST;
					continue;
				}
			} else if (!S_ISSOCK(st.st_mode) || !kill(pid, 0) ||
				   errno != ESRCH) {
				continue;
			}
			unlinkat(dfd, name, 0);
		}
	}
	close(dfd);
	return r;
}

static int epoll_add(int epfd, int fd, uint32_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = tag };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

static int ctl_open(struct ctl *c, const char *dir)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t need;
	int r;

	need = (size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%d.sock",
				dir, (int)c->pid);
	if (need >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	c->path = tide__os_malloc(need + 1);
	if (!c->path)
		return -ENOMEM;
	memcpy(c->path, sa.sun_path, need + 1);
	r = check_dir(dir);
	if (r)
		return r;
	r = clean_dir(dir, c->pid);
	if (r)
		return r;
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	c->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	c->sfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (c->epfd < 0 || c->tfd < 0 || c->sfd < 0)
		return -errno;
	c->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->lfd < 0)
		return -errno;
	/* The socket inode's mode, less the umask, becomes the file's. */
	if (fchmod(c->lfd, 0600) ||
	    bind(c->lfd, (struct sockaddr *)&sa, sizeof(sa))) {
		r = -errno;
		close(c->lfd);
		c->lfd = -1;
		return r;
	}
	if (chmod(c->path, 0600) || listen(c->lfd, CTL_BACKLOG))
		return -errno;
	r = epoll_add(c->epfd, c->lfd, TAG_LISTEN);
	if (!r)
		r = epoll_add(c->epfd, c->tfd, TAG_TIMER);
	if (!r)
		r = epoll_add(c->epfd, c->sfd, TAG_STOP);
	return r;
}

static int start_thread(struct ctl *c)
{
	sigset_t all, old;
	int r;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&c->thread, NULL, ctl_thread, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return -r;
	c->thread_running = true;
	return 0;
}

/* Called with ctl_op_lock held: take @c out of service and free it. */
static void ctl_stop(struct ctl *c)
{
	if (c->thread_running && c->pid == getpid()) {
		uint64_t one = 1;

		atomic_store(&c->stop, true);
		if (write(c->sfd, &one, sizeof(one)) < 0) {
			/* the counter cannot overflow from one write */
		}
		pthread_join(c->thread, NULL);
	}
	ctl_free(c);
}

int tide_ctl_listen(const struct tide_ctl_config *cfg)
{
	struct tide_ctl_config conf;
	const char *dir, *xdg;
	char def[PATH_MAX];
	struct ctl *c;
	int r;

	r = read_config(cfg, &conf);
	if (r)
		return r;
	pthread_once(&ctl_once, ctl_register_atfork);
	pthread_mutex_lock(&ctl_op_lock);
	if (ctl && ctl->pid != getpid()) {
		/* Inherited through fork(): drop our copies, keep theirs. */
		pthread_mutex_lock(&ctl_lock);
		c = ctl;
		ctl = NULL;
		pthread_mutex_unlock(&ctl_lock);
		ctl_free(c);
	}
	if (ctl) {
		r = -EBUSY;
		goto out;
	}
	dir = conf.dir;
	if (!dir) {
		xdg = getenv("XDG_RUNTIME_DIR");
		if (xdg && xdg[0] == '/' &&
		    (size_t)snprintf(def, sizeof(def), "%s/tide", xdg) <
			    sizeof(def))
			dir = def;
		else
			dir = "/run/tide";
	}
	if (!*dir) {
		r = -EINVAL;
		goto out;
	}
	c = tide__os_calloc(1, sizeof(*c));
	if (!c) {
		r = -ENOMEM;
		goto out;
	}
	c->pid = getpid();
	c->uid = geteuid();
	c->lfd = c->epfd = c->tfd = c->sfd = -1;
	c->allow = conf.allow ? conf.allow : TIDE_CTL_ALL;
	c->flags = conf.flags;
	c->timeout_ms = conf.timeout_ms ? conf.timeout_ms : CTL_DEF_TIMEOUT_MS;
	c->monitor = conf.monitor;
	r = ctl_open(c, dir);
	if (!r && !(c->flags & TIDE_CTL_DISPATCH))
		r = start_thread(c);
	if (r) {
		ctl_free(c);
		goto out;
	}
	pthread_mutex_lock(&ctl_lock);
	ctl = c;
	pthread_mutex_unlock(&ctl_lock);
out:
	pthread_mutex_unlock(&ctl_op_lock);
	return r;
}

int tide_ctl_fd(void)
{
	int fd = -ENOTCONN;

	pthread_mutex_lock(&ctl_lock);
	if (ctl && ctl->pid == getpid())
		fd = ctl->epfd;
	pthread_mutex_unlock(&ctl_lock);
	return fd;
}

int tide_ctl_dispatch(void)
{
	int r = 0;

	pthread_mutex_lock(&ctl_lock);
	if (!ctl || ctl->pid != getpid())
		r = -ENOTCONN;
	else if (!ctl->thread_running)
		dispatch_locked(ctl);
	pthread_mutex_unlock(&ctl_lock);
	return r;
}

void tide_ctl_close(void)
{
	struct ctl *c;

	pthread_mutex_lock(&ctl_op_lock);
	pthread_mutex_lock(&ctl_lock);
	c = ctl;
	ctl = NULL;
	pthread_mutex_unlock(&ctl_lock);
	if (c)
		ctl_stop(c);
	pthread_mutex_unlock(&ctl_op_lock);
}
