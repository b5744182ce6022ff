/* SPDX-License-Identifier: MIT */
/*
 * tide/ctl.h - the control socket: the kernel's debugfs shrinker files and
 * drop_caches, for a running process, from outside (tidectl).
 *
 * Opt-in: nothing listens until the program calls tide_ctl_listen().  The
 * socket is an AF_UNIX stream socket, mode 0600, named PID.sock in a 0700
 * directory ($XDG_RUNTIME_DIR/tide/, else /run/tide/).  Every peer is checked
 * with SO_PEERCRED (same effective uid or root, else closed with no reply);
 * each connection carries one request line of at most 4 KiB and gets one
 * response; the protocol is in docs/tidectl.md.
 */
#ifndef TIDE_CTL_H
#define TIDE_CTL_H

#include <stddef.h>

#include <tide/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct tide_monitor;

/* tide_ctl_config.allow: which requests are served */
#define TIDE_CTL_READ (1u << 0) /* info, shrinkers, monitor, stats, totals */
#define TIDE_CTL_SCAN (1u << 1) /* scan NAME N */
#define TIDE_CTL_SHRINK (1u << 2) /* shrink PRIORITY */
#define TIDE_CTL_DROP (1u << 3) /* drop (tide_drop_caches) */
#define TIDE_CTL_PURGE (1u << 4) /* purge (tide_purge) */
#define TIDE_CTL_TUNE (1u << 5) /* watermarks HIGH LOW (the monitor's) */
#define TIDE_CTL_ACT                                                        \
	(TIDE_CTL_SCAN | TIDE_CTL_SHRINK | TIDE_CTL_DROP | TIDE_CTL_PURGE | \
	 TIDE_CTL_TUNE)
#define TIDE_CTL_ALL (TIDE_CTL_READ | TIDE_CTL_ACT)

/* tide_ctl_config.flags */
#define TIDE_CTL_DISPATCH (1u << 0) /* no thread: the caller dispatches */

/**
 * struct tide_ctl_config - how the control socket listens.
 * @size: sizeof(struct tide_ctl_config) as the caller knows it.  The library
 *	reads min(@size, its own size); bytes of a larger caller struct past
 *	its own must be zero (else -E2BIG), so old and new callers both work.
 * @dir: directory of the socket, an absolute path (else -EINVAL); NULL
 *	means $XDG_RUNTIME_DIR/tide when $XDG_RUNTIME_DIR is an absolute
 *	path and not a directory of another user (and not in a setuid
 *	program: secure_getenv()), else /run/tide.  Created with
 *	mode 0700 when missing (its parent must exist); refused when it is a
 *	symlink, not a directory, not owned by the effective uid or not
 *	exactly mode 0700.
 * @monitor: the monitor the "monitor" request reports on; NULL: none.
 *	One made by another process (a forked child's copy of its
 *	parent's, inert there) is refused, -ECHILD.  It should outlive its
 *	use by the listener: call tide_ctl_close(), or tide_ctl_set_monitor()
 *	with another monitor or NULL, before tide_monitor_free().  Freed
 *	first, it is let go: tide_monitor_free() reports the misuse (see
 *	tide_set_error_handler()), waits for a request under way on another
 *	thread, and the listener answers from then on as one without a
 *	monitor.
 * @allow: mask of TIDE_CTL_* requests served; 0 means %TIDE_CTL_ALL.  A
 *	request not allowed gets "err EPERM" and changes nothing.
 * @flags: %TIDE_CTL_DISPATCH: start no thread; the caller polls
 *	tide_ctl_fd() and calls tide_ctl_dispatch() when it is readable.
 * @timeout_ms: how long one connection may take to send its request and
 *	read the response; 0 means 1000.  A slower client is dropped.  The
 *	time spent running requests, its own included, does not count.
 *
 * A zeroed configuration (with @size set) is the same as passing NULL.
 * @dir is copied by tide_ctl_listen().
 */
struct tide_ctl_config {
	size_t size;
	const char *dir;
	struct tide_monitor *monitor;
	unsigned allow;
	unsigned flags;
	unsigned timeout_ms;
};

/**
 * tide_ctl_listen() - start serving the control socket of this process.
 * @cfg: configuration, or NULL for the defaults.
 *
 * Creates the directory if needed, removes stale sockets (N.sock that
 * nobody listens on and that is at least a second old, whatever N: a pid
 * means nothing in another pid namespace sharing the directory; only
 * sockets, never symlinks or other files), binds PID.sock (an existing
 * PID.sock that is not a socket, or that another process listens on, is
 * left alone and the call fails) and starts serving: in its own thread with
 * every signal blocked, or through tide_ctl_fd() / tide_ctl_dispatch() with
 * %TIDE_CTL_DISPATCH.  One listener per process, also across copies of
 * tide in it: when the preload shim (TIDE_CONTROL=1) listens already, this
 * call takes the socket over (the shim's listener closes its socket; this
 * one binds PID.sock with @cfg's monitor); a live PID.sock of any other
 * copy makes it -EBUSY.  A process that calls exit() or returns from
 * main() without tide_ctl_close() has PID.sock removed by the library's
 * destructor (after the program's atexit() handlers; it removes the path
 * only while this process owns it, so a forked child's exit() leaves its
 * parent's alone); one killed or ending with _exit() leaves the file for
 * the next listener in the directory to remove (stale, above).  A child forked from a
 * listening process does not serve its parent's socket (fork() closes the
 * child's copies of the listener's descriptors, touching nothing the parent
 * uses); it may call tide_ctl_listen() to get its own.  With
 * %TIDE_CTL_DISPATCH the number tide_ctl_fd() gave stays open in the child
 * as an empty epoll instance of its own, which never becomes readable, so
 * that a loop the child keeps running may go on polling it; it is the
 * child's from then on, to close() once its loop lets go of it (the
 * library never closes it; without a descriptor to spare, EMFILE, fork()
 * closes it as before 0.2.9).
 *
 * Context: any thread; not async-signal-safe.  From a shrinker callback
 * run by a request it is -EBUSY (the listener is there, or being closed
 * by a tide_ctl_close() that waits for that callback).  May wait up to a
 * second for another copy of tide's listener to answer.
 * Return: 0; -EBUSY when already listening (see above); -E2BIG (see @cfg->size),
 * -EINVAL (bad @cfg, a relative @cfg->dir), -ECHILD (@cfg->monitor was made
 * by another process: a forked child passing its parent's),
 * -ENAMETOOLONG (PID.sock's path longer than PATH_MAX; or longer than a
 * socket address holds, 107 bytes, with no /proc mounted: such a path is
 * bound and reached through /proc/self/fd),
 * -ENOTDIR (the directory is a symlink or not a directory), -EPERM (it has
 * the wrong owner or mode), -EEXIST (PID.sock exists and is not a socket),
 * -EADDRINUSE (another process listens on PID.sock: one of another pid
 * namespace sharing the directory, whose pid there is ours),
 * -ENOMEM, -EMFILE or -ENFILE (out of file descriptors), -EAGAIN (without
 * %TIDE_CTL_DISPATCH: the listener's thread cannot be created), or another
 * -errno from the system calls.  On failure nothing is left behind.
 */
TIDE_API int tide_ctl_listen(const struct tide_ctl_config *cfg);

/**
 * tide_ctl_set_monitor() - point the listener at another monitor.
 * @m: the monitor the "monitor" request reports on from now on; NULL: none.
 *
 * For a program that replaces its monitor (a reload): the socket stays
 * and so do its clients.  When this returns, no request uses the previous
 * monitor any more: a request under way on another thread (the listener's
 * own, or a tide_ctl_dispatch()) is waited for, and every answer after it
 * reports on @m.  So the previous monitor may then be freed:
 * tide_ctl_set_monitor(new) then tide_monitor_free(old); or
 * tide_ctl_set_monitor(NULL), tide_monitor_free(old), tide_monitor_new(),
 * tide_ctl_set_monitor(new), answered meanwhile as without a monitor.
 *
 * Context: any thread holding no lock a request waits for (a shrinker's,
 * a monitor's: as for tide_monitor_free()); not async-signal-safe.  From a
 * shrinker callback run by a request it is -EBUSY, and changes nothing:
 * it would wait for itself.
 * Return: 0; -ECHILD when @m was made by another process (a forked
 * child's copy of its parent's monitor, inert there); -ENOTCONN when not
 * listening (or in a forked child of the listener); -EBUSY from a
 * callback run by a request.
 */
TIDE_API int tide_ctl_set_monitor(struct tide_monitor *m);

/**
 * tide_ctl_fd() - the descriptor to poll when the caller dispatches.
 *
 * Context: any thread.
 * Return: a descriptor that becomes readable (POLLIN) when a connection or
 * a timeout needs tide_ctl_dispatch(); -ENOTCONN when not listening (or in
 * a forked child of the listener).  Without %TIDE_CTL_DISPATCH it is the
 * descriptor the listener's own thread waits on: do not poll it.
 * tide_ctl_dispatch() then serves nothing (the thread does), and the
 * descriptor stays readable for as long as the thread takes to serve a
 * request, so a loop that polls it spins (a user trial counted 87 000
 * wake-ups during one 0.2 s tidectl drop).
 */
TIDE_API int tide_ctl_fd(void);

/**
 * tide_ctl_dispatch() - serve what is ready, without blocking.
 *
 * Accepts new connections, reads the requests that arrived, answers the
 * complete ones (running shrinkers or the purge for acting requests) and
 * drops connections past their deadline.  Never waits for a client.
 *
 * Context: the caller's event loop; runs shrinker callbacks (acting
 * requests, and the count callbacks for "shrinkers"), holding no lock of
 * the listener's while they run: a callback may fork(), and in the child
 * this call returns 0 with nothing of the parent's listener left there.  A
 * call while another is under way (on another thread, or from a callback)
 * has nothing to do and returns 0, as it does with the listener's own
 * thread running.
 * Return: 0, or -ENOTCONN when not listening (or in a forked child).
 */
TIDE_API int tide_ctl_dispatch(void);

/**
 * tide_ctl_close() - stop serving and remove the socket.
 *
 * Stops the thread (waiting for a request it is answering) or waits for a
 * tide_ctl_dispatch() under way on another thread, closes every connection
 * and unlinks PID.sock.  Does nothing when not listening, and so in a
 * forked child of a listener: fork() released the child's copies there and
 * the parent's socket and connections are left alone (the empty epoll that
 * fork() left at a dispatch-mode listener's tide_ctl_fd() number, see
 * tide_ctl_listen(), is the child's to close).  A callback that forks while this call
 * waits for it does not hold it up.
 *
 * Context: any thread holding no lock a request waits for (a shrinker's
 * lock that a scan, shrink or drop takes: it would wait for the request,
 * which waits for the lock), but not from a shrinker callback run by a
 * request of this listener: that would wait for itself, and is reported
 * (see tide_set_error_handler()) and aborts.
 * Return: nothing.
 */
TIDE_API void tide_ctl_close(void);

#ifdef __cplusplus
}
#endif

#endif /* TIDE_CTL_H */
