// SPDX-License-Identifier: MIT
/*
 * ctl_life.c - the end of a listener's life: its descriptors released
 * (by the process that made it, by a forked child that holds copies, or
 * only forgotten once the program took them: "lost") and its socket file
 * removed, also at process exit.  The listener itself (listen, take over
 * and yield, thread, fork, close) is ctl.c's.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "internal.h"
#include "ctl_internal.h"

/*
 * The listening socket's path and the pid it belongs to (0: none), for
 * tide__ctl_exit(), which takes no lock: published after the path is
 * written, withdrawn when the socket goes (close, yield, fork child:
 * tide__ctl_exit_withdraw()).
 */
static char exit_path[PATH_MAX];
static atomic_int exit_pid;

/* ---- the socket file at exit ------------------------------------------ */

void tide__ctl_exit_publish(const struct ctl *c)
{
	if (c->path && strlen(c->path) < sizeof(exit_path)) {
		memcpy(exit_path, c->path, strlen(c->path) + 1);
		atomic_store_explicit(&exit_pid, (int)c->pid,
				      memory_order_release);
	}
}

void tide__ctl_exit_withdraw(void)
{
	atomic_store(&exit_pid, 0);
}

/*
 * At process exit (ctl_at_exit() below, and the preload shim's
 * destructor): remove this process's socket path
 * and touch nothing else.  The program may have closed our descriptors
 * (closerange() in daemons) and reused the numbers: a stop signal could
 * land in its pipe, and a join wait for a thread nothing wakes.  The
 * threads end with the process.  No lock: the path was saved when the
 * socket was made.
 */
void tide__ctl_exit(void)
{
	if (atomic_load_explicit(&exit_pid, memory_order_acquire) ==
	    (int)tide__os_getpid())
		tide__os_unlink(exit_path);
}

/*
 * A process that exits (exit(), a return from main(), its last thread
 * ending) without tide_ctl_close() left its socket file behind (240 of
 * 240 in a trial's pre-fork server) for the next listener in the
 * directory to clean.  A destructor runs then, after the program's
 * atexit() handlers (which may still close), and at dlclose() of a shared
 * libtide; it unlinks only while this process owns the path (exit_pid: a
 * forked child, and a process after its close or yield, own none), so
 * any other process's exit costs one load.  Not atexit(): nothing to
 * register or fail, and TSan's atexit() wrapper crashes when a forked
 * child's only thread (a listener's, returning from a callback that
 * forked) ends the process.
 */
__attribute__((destructor)) static void ctl_at_exit(void)
{
	tide__ctl_exit();
}

/* ---- lost descriptors, and the release ---------------------------------- */

/* The shim's callback for a lost weak listener (tide__ctl_guard()). */
static void (*_Atomic guard_lost)(void);

void tide__ctl_guard(void (*on_lost)(void))
{
	atomic_store(&guard_lost, on_lost);
}

void (*tide__ctl_guard_fn(void))(void)
{
	return atomic_load(&guard_lost);
}

int tide__ctl_epoll_own(const struct ctl *c)
{
	return tide__os_epoll_holds(c->epfd, c->sfd, CTL_DATA(c, TAG_STOP));
}

/* As a guarded monitor's check (still_own() in monitor_run.c). */
bool tide__ctl_guard_own(struct ctl *c)
{
	return !tide__guard_due(&c->guard_checked_ns) ||
	       tide__ctl_epoll_own(c) != 0;
}

/*
 * Before a free or a fork child's release: are @c's descriptors still
 * what it made?  A program that closed them behind the library's back (a
 * close_range(2)) may have its own files on the numbers now, and the
 * thread, asleep in a poll() of the closed epoll, never noticed.  Then @c
 * is lost.
 */
void tide__ctl_check_lost(struct ctl *c)
{
	const struct tide__os_fd fds[] = {
		{ c->epfd, TIDE__FD_EPOLL },
		{ c->tfd, TIDE__FD_TIMER },
		{ c->sfd, TIDE__FD_EVENT },
		{ c->lfd, TIDE__FD_SOCKET }, /* -1 once yielded */
	};

	/* the epoll also by its keyed stop entry (not another epoll) */
	if (!atomic_load(&c->lost) &&
	    (!tide__os_fds_are(fds, sizeof(fds) / sizeof(fds[0])) ||
	     (c->keyed && c->epfd >= 0 && c->sfd >= 0 &&
	      !tide__ctl_epoll_own(c))))
		atomic_store(&c->lost, true);
}

/*
 * Release this process's copies of @c's descriptors and connections when
 * @c is another process's listener: close() only, nothing shared touched.
 * Also @c lost in this process: then the numbers are only forgotten.
 */
void tide__ctl_drop_copies(struct ctl *c)
{
	int *fds[] = { &c->lfd, &c->epfd, &c->tfd, &c->sfd };
	bool forgetting;

	/* lost: the numbers may be the program's, only forget them */
	tide__ctl_check_lost(c);
	forgetting = atomic_load(&c->lost) && !tide__os_fds_forget(true);

	for (unsigned i = 0; i < CTL_MAX_CONN; i++) {
		struct conn *k = c->conns[i];

		if (!k)
			continue;
		tide__os_close(k->fd);
		if (k->out_owned)
			tide__child_free(k->out);
		tide__child_free(k);
		c->conns[i] = NULL;
	}
	for (unsigned i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			tide__os_close(*fds[i]);
		*fds[i] = -1;
	}
	if (forgetting)
		tide__os_fds_forget(false);
}

/*
 * Free @c, ctl_lock held.  Only the process that made it removes its
 * connections from the epoll set and unlinks its socket; any other just
 * closes its copies (tide__ctl_drop_copies()).
 */
void tide__ctl_free(struct ctl *c)
{
	tide__ctl_check_lost(c);
	if (c->pid != tide__os_getpid() || atomic_load(&c->lost)) {
		/* a lost one's path is still ours: its socket is dead */
		if (c->pid == tide__os_getpid() && c->lfd >= 0 && c->path)
			tide__os_unlink(c->path);
		tide__ctl_drop_copies(c);
	} else {
		tide__ctl_conn_close_all(c);
		if (c->lfd >= 0) {
			tide__os_close(c->lfd);
			if (c->path)
				tide__os_unlink(c->path);
		}
		if (c->epfd >= 0)
			tide__os_close(c->epfd);
		if (c->tfd >= 0)
			tide__os_close(c->tfd);
		if (c->sfd >= 0)
			tide__os_close(c->sfd);
	}
	tide__os_free(c->path);
	tide__os_free(c);
}
