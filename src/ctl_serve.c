// SPDX-License-Identifier: MIT
/*
 * ctl_serve.c - the control socket's request server: accepting
 * connections, reading each one's request line, having it answered
 * (tide__ctl_execute(), ctl_proto.c), writing the answer and dropping
 * connections past their deadline.  Everything is non-blocking; nothing
 * here waits for a client.  The listener's lifecycle (socket, thread,
 * fork, close) is ctl.c's, and so is the locking this follows (ctl.c,
 * "Locking"): every function here runs with ctl_lock held and c->busy
 * set by the calling thread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

#include "internal.h"
#include "ctl_internal.h"

/* Close connection @slot of @c, a listener of this process. */
static void conn_close(struct ctl *c, unsigned slot)
{
	struct conn *k = c->conns[slot];

	if (!k)
		return;
	/*
	 * Explicitly: while another copy of the socket is open (a forked
	 * child's, until its fork handler closes it) our close() alone
	 * would leave it in the set.
	 */
	tide__os_epoll_ctl(c->epfd, EPOLL_CTL_DEL, k->fd, NULL);
	tide__os_close(k->fd);
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
	if (c->relisten_at && (!first || c->relisten_at < first))
		first = c->relisten_at;
	if (first) {
		its.it_value.tv_sec = (time_t)(first / 1000000000u);
		its.it_value.tv_nsec = (long)(first % 1000000000u);
	}
	tide__os_timer_set(c->tfd, true, &its);
}

/* Write what the peer takes; true when the connection is finished. */
static bool conn_write(struct ctl *c, struct conn *k)
{
	while (k->out_off < k->out_len) {
		ssize_t n = tide__os_send(k->fd, k->out + k->out_off,
					  k->out_len - k->out_off);

		if (n == -EINTR)
			continue;
		if (n == -EAGAIN || n == -EWOULDBLOCK)
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

/*
 * The time a request took to run (a slow shrink, drop or scan, a count
 * callback per shrinker) is the server's, not the clients': every
 * deadline moves by as much.  Until 0.2.11 a request sent on time but
 * still unread behind a slow one got "err ETIMEDOUT request too slow" and
 * a reset connection (a review: tidectl beside a long drop failed 9 of 10
 * times).  Until 0.2.26 the one that ran was left out: an answer larger
 * than the socket's send buffer, after a run longer than the timeout,
 * was cut at what the first write took, its connection closed at the
 * next look at the deadlines.
 */
static void postpone_all(struct ctl *c, uint64_t took)
{
	for (unsigned i = 0; i < CTL_MAX_CONN; i++)
		if (c->conns[i])
			c->conns[i]->deadline += took;
}

/*
 * The request line is complete (or can never be): answer it.  False when a
 * callback forked and this is the child (c->orphan): nothing of @c but its
 * memory is left here, @k is gone and the parent answers.
 */
static bool conn_answer(struct ctl *c, struct conn *k, size_t line_len,
			bool complete)
{
	struct tide__ctl_req req;
	struct tide__ctl_out o = { 0 };
	const char *err = NULL;
	int r;

	if (!complete) {
		err = line_len >= TIDE__CTL_REQ_MAX ?
			      "err E2BIG request too long\n" :
			      "err EINVAL incomplete request\n";
	} else if ((r = tide__ctl_parse(k->in, line_len, &req))) {
		err = r == -E2BIG ? "err E2BIG request too long\n" :
				    "err EINVAL malformed request\n";
	} else if (req.cmd == TIDE__CTL_YIELD) {
		err = tide__ctl_yield(c, k); /* static, "ok" included */
	} else {
		/*
		 * Without ctl_lock (ctl.c, Locking): the answer runs callbacks,
		 * which may fork, and takes other modules' locks.  @k stays
		 * ours: c->busy keeps other dispatchers and the close out.
		 */
		uint64_t t0 = tide__os_now_ns();

		pthread_mutex_unlock(&tide__ctl_lock);
		err = tide__ctl_execute(c, &req, &o);
		pthread_mutex_lock(&tide__ctl_lock);
		if (c->orphan) {
			tide__os_free(o.buf);
			return false;
		}
		postpone_all(c, tide__os_now_ns() - t0);
		if (!err && o.failed)
			err = "err ENOMEM out of memory\n";
	}
	if (err) {
		conn_respond_static(k, err);
		/* o.buf, if any, is not sent from */
		tide__os_free(o.buf);
	} else {
		k->out = o.buf;
		k->out_owned = true;
		k->out_len = o.len;
		k->out_off = 0;
	}
	k->writing = true;
	return true;
}

/* Serve connection @slot's event; false as for conn_answer(). */
static bool conn_event(struct ctl *c, unsigned slot)
{
	struct conn *k = c->conns[slot];
	struct epoll_event ev = { .events = EPOLLOUT,
				  .data.u64 = CTL_DATA(c, TAG_CONN + slot) };

	if (!k->writing) {
		bool ours = true;

		for (;;) {
			char *nl;
			ssize_t n = tide__os_recv(k->fd, k->in + k->in_len,
						  sizeof(k->in) - k->in_len);

			if (n == -EINTR)
				continue;
			if (n == -EAGAIN || n == -EWOULDBLOCK)
				return true;
			if (n < 0) {
				conn_close(c, slot);
				return true;
			}
			nl = memchr(k->in + k->in_len, '\n', (size_t)n);
			k->in_len += (size_t)n;
			if (nl) {
				ours = conn_answer(c, k, (size_t)(nl - k->in),
						   true);
				break;
			}
			if (!n || k->in_len == sizeof(k->in)) {
				ours = conn_answer(c, k, k->in_len, false);
				break;
			}
		}
		if (!ours)
			return false;
		tide__os_epoll_ctl(c->epfd, EPOLL_CTL_MOD, k->fd, &ev);
	}
	if (conn_write(c, k))
		conn_close(c, slot);
	return true;
}

static bool peer_allowed(struct ctl *c, int fd, pid_t *ret_pid)
{
	struct ucred cr;

	if (tide__os_peer_cred(fd, &cr))
		return false;
	*ret_pid = cr.pid;
	return cr.uid == 0 || cr.uid == c->uid;
}

/*
 * A connection the server has no room for (its memory, or epoll refused
 * it: ENOMEM, or ENOSPC at the user's epoll watch limit): one line, then
 * close.  A review: it closed with no reply, which the client cannot tell
 * from a listener that died.  Best effort: the socket is new, so its
 * buffer has room for the line.
 */
static void refuse_conn(int fd)
{
	static const char line[] = "err ENOMEM out of memory\n";

	tide__os_send(fd, line, sizeof(line) - 1);
	tide__os_close(fd);
}

/*
 * Stop polling the listener until @until (the timer wakes us); with @full,
 * also as soon as a connection slot is free.  The listener stays readable
 * meanwhile, so polling it would spin.
 */
static void pause_listener(struct ctl *c, uint64_t until, bool full)
{
	struct epoll_event off = { .events = 0,
				   .data.u64 = CTL_DATA(c, TAG_LISTEN) };

	tide__os_epoll_ctl(c->epfd, EPOLL_CTL_MOD, c->lfd, &off);
	c->paused_until = until;
	c->paused_full = full;
}

static void accept_some(struct ctl *c)
{
	for (int i = 0; c->lfd >= 0 && i < CTL_ACCEPT_BATCH; i++) {
		struct epoll_event ev = { .events = EPOLLIN };
		unsigned slot, oldest = 0;
		struct conn *k;
		uint64_t now = tide__os_now_ns();
		pid_t peer = 0;
		int fd;

		for (slot = 0; slot < CTL_MAX_CONN && c->conns[slot]; slot++)
			if (c->conns[slot]->born < c->conns[oldest]->born)
				oldest = slot;
		if (slot == CTL_MAX_CONN) {
			/*
			 * Full.  A new client beats the oldest one, but only
			 * once that one had the time to ask: a burst of
			 * clients waits in the backlog for a free slot
			 * instead of closing each other before they ask.
			 */
			uint64_t grown =
				c->conns[oldest]->born + CTL_MIN_AGE_NS;

			if (now < grown) {
				pause_listener(c, grown, true);
				return;
			}
		}
		fd = tide__os_accept(c->lfd);
		if (fd < 0) {
			if (fd == -EINTR || fd == -ECONNABORTED)
				continue;
			/*
			 * Out of descriptors or memory, or any error that
			 * may leave the connection queued: polling again at
			 * once would spin.  EAGAIN: nothing queued.
			 */
			if (fd != -EAGAIN)
				pause_listener(c, now + CTL_PAUSE_NS, false);
			return;
		}
		if (!peer_allowed(c, fd, &peer)) {
			tide__os_close(fd);
			continue;
		}
		k = tide__os_malloc(sizeof(*k));
		if (!k) {
			refuse_conn(fd);
			continue;
		}
		memset(k, 0, offsetof(struct conn, in));
		k->fd = fd;
		k->peer_pid = peer;
		k->born = now;
		k->deadline = now + (uint64_t)c->timeout_ms * 1000000u;
		/*
		 * Full: the new client takes the oldest one's slot, which is
		 * given up only once the new one is in (up to 0.2.27 it was
		 * closed first, for nothing when the new one was then
		 * refused).  Its events are taken after the close: this
		 * thread polls next.
		 */
		if (slot == CTL_MAX_CONN)
			slot = oldest;
		ev.data.u64 = CTL_DATA(c, TAG_CONN + slot);
		if (tide__os_epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev)) {
			refuse_conn(fd);
			tide__os_free(k);
			continue;
		}
		conn_close(c, slot); /* the oldest's, if full */
		c->conns[slot] = k;
	}
}

static void expire(struct ctl *c)
{
	uint64_t t = tide__os_now_ns();

	/* false if not expired yet, or nothing armed: check all the same */
	(void)tide__os_event_take(c->tfd);
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

static bool has_free_slot(const struct ctl *c)
{
	for (unsigned i = 0; i < CTL_MAX_CONN; i++)
		if (!c->conns[i])
			return true;
	return false;
}

void tide__ctl_dispatch_locked(struct ctl *c)
{
	struct epoll_event evs[16];
	int n;

	if (atomic_load(&c->lost))
		return;
	n = tide__os_epoll_wait(c->epfd, evs, 16, 0);
	if (n < 0 && n != -EINTR) {
		/*
		 * EBADF or EINVAL: the program closed the epoll descriptor
		 * behind the library's back (a close_range(2)) and may
		 * have reused the number; the timer's and the connections'
		 * may be its files too.  Touch none of them again.
		 */
		atomic_store(&c->lost, true);
		return;
	}
	for (int i = 0; i < n; i++) {
		uint32_t tag = (uint32_t)evs[i].data.u64;

		/*
		 * Not an entry of this listener's: the program closed the
		 * epoll behind the library's back and its own is on the
		 * number now (its data 0 would read as TAG_LISTEN).  Lost.
		 */
		if (evs[i].data.u64 >> 32 != c->key) {
			atomic_store(&c->lost, true);
			return;
		}
		if (tag == TAG_LISTEN)
			accept_some(c);
		else if (tag >= TAG_CONN && tag - TAG_CONN < CTL_MAX_CONN &&
			 c->conns[tag - TAG_CONN] &&
			 !conn_event(c, tag - TAG_CONN))
			return; /* a forked child: nothing more to do here */
	}
	expire(c);
	if (c->relisten_at && c->relisten_at <= tide__os_now_ns())
		tide__ctl_relisten(c);
	if (c->paused_until && c->lfd >= 0 &&
	    (c->paused_until <= tide__os_now_ns() ||
	     (c->paused_full && has_free_slot(c)))) {
		struct epoll_event on = { .events = EPOLLIN,
					  .data.u64 = CTL_DATA(c, TAG_LISTEN) };

		tide__os_epoll_ctl(c->epfd, EPOLL_CTL_MOD, c->lfd, &on);
		c->paused_until = 0;
		c->paused_full = false;
	}
	arm_timer(c);
}

void tide__ctl_conn_close_all(struct ctl *c)
{
	for (unsigned i = 0; i < CTL_MAX_CONN; i++)
		conn_close(c, i);
}
