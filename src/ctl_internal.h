/* SPDX-License-Identifier: MIT */
/*
 * ctl_internal.h - what the control socket's listener (ctl.c: listen, take
 * over and yield, thread, fork, close; ctl_life.c: its descriptors and
 * socket file released), its request server (ctl_serve.c: connections
 * read, answered and written) and its protocol (ctl_proto.c: requests
 * parsed, answers built) share.  Private to those files;
 * the parser's entry points, which tidectl and the fuzzers use too, are in
 * internal.h.
 */
#ifndef TIDE_CTL_INTERNAL_H
#define TIDE_CTL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <tide/ctl.h>
#include <tide/pressure.h>

#include "internal.h"

#define CTL_MAX_CONN 32 /* open connections; the oldest is dropped */
#define CTL_ACCEPT_BATCH 64 /* accepts per dispatch, so a burst can't starve */
#define CTL_DEF_TIMEOUT_MS 1000
#define CTL_BACKLOG 128
#define CTL_PAUSE_NS 100000000u /* no accept for 100 ms after EMFILE */
#define CTL_RETRY_MS 100 /* the listener's poll failed: try again then */
/* A connection this young is not closed to make room for a new one. */
#define CTL_MIN_AGE_NS 100000000u

/* epoll data tags below the connection slots */
enum { TAG_LISTEN, TAG_TIMER, TAG_STOP, TAG_CONN };

struct ctl;
/* The epoll data of @c's entry @tag: @c's key above the tag. */
#define CTL_DATA(c, tag) ((uint64_t)(c)->key << 32 | (uint32_t)(tag))

struct conn {
	int fd;
	pid_t peer_pid; /* SO_PEERCRED: the client's process */
	bool writing;
	uint64_t born, deadline; /* CLOCK_MONOTONIC ns */
	size_t in_len;
	char *out; /* response; owned unless it is one of the static lines */
	bool out_owned;
	size_t out_len, out_off;
	char in[TIDE__CTL_REQ_MAX];
};

/*
 * A listener.  pid to flags are set before it is published and never
 * change (tide__ctl_execute() reads them without ctl_lock).  monitor is
 * set then too, and changed only under ctl_lock while no thread but the
 * changing one dispatches (tide_ctl_set_monitor(),
 * tide__ctl_monitor_gone()), so an answer reads it without the lock.  The rest is under ctl_lock (ctl.c, "Locking").
 */
struct ctl {
	pid_t pid; /* the process that listens; a forked child does not serve */
	uid_t uid;
	int lfd, epfd, tfd, sfd;
	unsigned allow, flags, timeout_ms;
	bool weak; /* the preload shim's: gives way to another copy's */
	struct tide_monitor *monitor;
	bool thread_running;
	bool busy; /* a thread dispatches it (only it touches the connections) */
	bool orphan; /* a fork child's, freed when the dispatch ends */
	struct ctl *serving_up; /* that thread's enclosing dispatch */
	uint64_t paused_until; /* out of descriptors: accept again then */
	bool paused_full; /* paused for a free slot: one frees it earlier */
	uint64_t relisten_at; /* yielded: listen again then if nobody does */
	unsigned relisten_waits; /* checks that found another's file */
	/* the socket file we bound (all 0: unknown); its ctime too, as a
	 * file made after ours was removed may get its inode number */
	dev_t ldev;
	ino_t lino;
	struct timespec lctime;
	atomic_bool stop;
	/* the epoll descriptor failed (the program closed it behind our
	 * back): the thread stops, and every number is forgotten, never
	 * closed or used again (ctl_life.c) */
	atomic_bool lost;
	atomic_bool ended; /* its thread returned (or is about to) */
	/* the high half of every epoll entry's data (the low half is the
	 * tag): an event without it is not from this listener's epoll */
	uint32_t key;
	bool keyed; /* the stop entry is in the epoll set */
	uint64_t guard_checked_ns; /* ctl_thread()'s last check in /proc */
	pthread_t thread;
	char *path; /* the socket's path */
	struct conn *conns[CTL_MAX_CONN];
};

/* An answer being built; failed once an allocation failed. */
struct tide__ctl_out {
	char *buf;
	size_t len, cap;
	bool failed;
};

/*
 * ctl.c: guards the listener and its connections (ctl.c, "Locking",
 * where it is called ctl_lock).
 */
extern pthread_mutex_t tide__ctl_lock;

/* ctl.c: answer "yield" from @k's peer; a static line.  ctl_lock held. */
const char *tide__ctl_yield(struct ctl *c, const struct conn *k);

/*
 * ctl_life.c: free @c, ctl_lock held: the process that made it closes its
 * connections and descriptors and unlinks its socket; any other, or one
 * that lost @c, releases its copies (tide__ctl_drop_copies()).
 */
void tide__ctl_free(struct ctl *c);
/* ctl_life.c: close this process's copies of @c's descriptors and
 * connections, nothing shared touched; only forget them when @c is lost */
void tide__ctl_drop_copies(struct ctl *c);
/* ctl_life.c: mark @c lost when its descriptors are no longer what it
 * made (the program closed them behind the library's back) */
void tide__ctl_check_lost(struct ctl *c);
/*
 * ctl_life.c: does @c's epoll number hold @c's own epoll (its keyed stop
 * entry)?  1 yes, 0 no, -errno when /proc cannot tell.
 */
int tide__ctl_epoll_own(const struct ctl *c);
/*
 * ctl_life.c, the guard (tide__ctl_guard()): a weak listener's thread
 * waits at most TIDE__CTL_GUARD_MS and, when a check is due
 * (tide__guard_due()), checks that its epoll is its own (true also when
 * /proc cannot tell); lost, it calls tide__ctl_guard_fn() as it ends.
 */
#define TIDE__CTL_GUARD_MS 2000
bool tide__ctl_guard_own(struct ctl *c);
void (*tide__ctl_guard_fn(void))(void);
/* ctl_life.c: record @c's socket path for tide__ctl_exit() to unlink at
 * exit, and withdraw it (the socket is gone or not this process's) */
void tide__ctl_exit_publish(const struct ctl *c);
void tide__ctl_exit_withdraw(void);

/* ctl_dir.c: make @dir 0700 or check the one there; 0 or -errno. */
int tide__ctl_check_dir(const char *dir);
/* ctl_dir.c: remove the stale sockets in @dir (nobody listens, 1 s old);
 * -EEXIST: @self's PID.sock there is no socket; -EADDRINUSE: another
 * process listens on it (see there). */
int tide__ctl_clean_dir(const char *dir, pid_t self);
/* ctl_dir.c: @dir's PID.sock for @pid into @buf of @size bytes; 0 or
 * -ENAMETOOLONG (longer than PATH_MAX, as the system calls take). */
int tide__ctl_sock_path(const char *dir, pid_t pid, char *buf, size_t size);

/* ctl.c: the yielded weak listener's check, at c->relisten_at (see there). */
void tide__ctl_relisten(struct ctl *c);

/*
 * ctl_serve.c: serve what is ready on @c (accept, read, answer, write,
 * expire) without waiting; ctl_lock held, c->busy set by this thread.  An
 * answer drops ctl_lock while it runs (callbacks); in the child of a fork
 * from one it returns with @c an orphan, serving nothing more.
 */
void tide__ctl_dispatch_locked(struct ctl *c);

/* ctl_serve.c: close every connection of @c, a listener of this process. */
void tide__ctl_conn_close_all(struct ctl *c);

/* ctl_proto.c: answer a request (see there). */
const char *tide__ctl_execute(struct ctl *c, const struct tide__ctl_req *req,
			      struct tide__ctl_out *o);

#endif /* TIDE_CTL_INTERNAL_H */
