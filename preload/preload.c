// SPDX-License-Identifier: MIT
/*
 * preload.c - libtide-preload.so: tide's pressure monitor for programs that
 * cannot be changed (docs/preload.md).
 *
 * A constructor reads the TIDE_* settings, creates a monitor with the
 * defaults (or the few settings given) and starts its thread; the monitor's
 * reclaim purges the allocator the program really uses.  Nothing the
 * program allocates is touched and no allocation function is interposed:
 * the shim exports nothing of tide's (preload.map).
 *
 * Rules for a guest in someone else's process: never abort, never print but
 * one line for a bad or ignored setting (or the TIDE_VERBOSE line), and
 * when anything goes wrong turn off and let the program run as if the shim
 * were not there.
 *
 * A few libc calls are interposed.  unshare() and setns(), only to step
 * aside: the kernel allows some of them only to a process with a single
 * thread, which the shim's own threads would otherwise make impossible
 * (one_thread_call()).  chroot(), the set*id() calls, setgroups() and
 * initgroups(), only to make a forked child's monitor first when it was
 * still to come, before the process loses /proc and /sys or the right to
 * open what the monitor needs (before_drop()).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <pty.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tide/common.h>
#include <tide/ctl.h>
#include <tide/pressure.h>

#include "internal.h" /* the library's os.c: its one door to the OS */
#include "settings.h"

static struct tide_monitor *mon; /* the running monitor, or NULL */
static pid_t mon_pid; /* the process that owns @mon */
/*
 * @mon and @mon_pid change in the constructor, in the fork child handler
 * and on a lost monitor's thread (monitor_lost()): under this lock, which
 * the fork handlers hold across fork() (never while creating a monitor).
 * @mon_pid is also written atomically: the destructor reads it without
 * the lock (preload_fini()).
 */
static pthread_mutex_t mon_lock = PTHREAD_MUTEX_INITIALIZER;
/*
 * Monitors being made, or taken down, after the constructor
 * (making_begin() to making_end()), under mon_lock: a fork waits for
 * them in its prepare handler.  A child forked while one was half made
 * (or half freed) would inherit its descriptors (and armed PSI triggers)
 * with nothing that owns them: not @mon, so its fork handler could not
 * free it (a review: 12 forks in 20 made in the window kept 8
 * descriptors for good).  The wait takes what making a monitor takes, a
 * millisecond or so.  Every signal is blocked on the thread meanwhile:
 * a handler there that forked would wait for itself (a review's
 * program hung 3 times in 80), and one that called a set*id() function
 * would wait for child_lock.  Nothing a monitor's making calls
 * registers fork handlers (fork_handlers_first() registered them all),
 * so a glibc that holds its lock for them across the prepare handlers
 * (older versions did) cannot deadlock on it either.
 */
static unsigned making;
static pthread_cond_t made = PTHREAD_COND_INITIALIZER;
/*
 * The shim's fork()s past their wait (fork_gate()) and not yet returned:
 * a monitor's making waits for them, so their prepare handlers find none
 * being made; and the threads waiting so, which new forks let go first.
 */
static unsigned forks, makers_waiting;
/* the shim's fork()s this thread is inside (a signal handler's nests) */
static _Thread_local unsigned gate_depth;

/* @old: the signal mask to give back to making_end()'s caller. */
static void making_begin(sigset_t *old)
{
	tide__os_signals_block(old);
	pthread_mutex_lock(&mon_lock);
	makers_waiting++;
	/* not for a fork of this very thread's (a signal handler's call
	 * inside it): that one would never return */
	while (forks && !gate_depth)
		pthread_cond_wait(&made, &mon_lock);
	makers_waiting--;
	making++;
	pthread_mutex_unlock(&mon_lock);
}

/*
 * Returns with mon_lock held: the caller publishes the monitor in it,
 * then unlocks and restores the signal mask making_begin() saved.
 */
static void making_end(void)
{
	pthread_mutex_lock(&mon_lock);
	if (!--making)
		pthread_cond_broadcast(&made);
}
static struct tide_monitor_config cfg; /* resolved at start, kept for fork */
static bool use_cfg; /* pass &cfg, not NULL (the defaults) */
/* TIDE_LIMIT, TIDE_HIGH, TIDE_LOW given as N% of a limit the cgroups set:
 * made again from a new limit (tide__monitor_fractions()); 0: bytes */
static unsigned limit_pct, high_pct, low_pct;
static bool verbose;
static bool control; /* TIDE_CONTROL=1 */

/* One line on stderr, written at once so it never interleaves. */
__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
	static const char prefix[] = "tide-preload: ";
	char buf[640];
	va_list ap;
	int n;

	memcpy(buf, prefix, sizeof(prefix) - 1);
	va_start(ap, fmt);
	n = vsnprintf(buf + sizeof(prefix) - 1, sizeof(buf) - sizeof(prefix),
		      fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	n += (int)sizeof(prefix) - 1;
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	while (tide__os_write(STDERR_FILENO, buf, (size_t)n) == -EINTR)
		;
}

/* Is @tok (@len bytes) of $LD_PRELOAD this shim? */
static bool is_self(const char *tok, size_t len, const char *self)
{
	static const char name[] = "libtide-preload.so";
	size_t nl = sizeof(name) - 1;
	const char *base = tok;

	if (self && strlen(self) == len && !memcmp(tok, self, len))
		return true;
	for (size_t i = 0; i < len; i++)
		if (tok[i] == '/')
			base = tok + i + 1;
	return (size_t)(tok + len - base) == nl && !memcmp(base, name, nl);
}

/* Take @slot's entry out of environ (the rest moves down one). */
static void environ_remove(char **slot)
{
	do
		slot[0] = slot[1];
	while (*++slot);
}

/*
 * TIDE_INHERIT=0: take this shim out of $LD_PRELOAD so that programs this
 * one execs start without it.  Runs in the constructor, before main(), when
 * changing the environment is still safe.  It edits environ itself, not
 * through getenv()/setenv(): a host that defines those (bash does) has not
 * set up its variables yet, and its setenv() would leave the environment
 * it passes to exec untouched.  Every LD_PRELOAD entry is edited (a
 * launcher that appends to environ may leave two: the loader reads the
 * first, the exec'd program's loader too).  A new entry is never freed
 * (environ keeps it).
 */
static void drop_from_ld_preload(void)
{
	static const char key[] = "LD_PRELOAD=";
	const size_t kl = sizeof(key) - 1;
	const char *self = NULL;
	Dl_info di;

	if (dladdr((void *)drop_from_ld_preload, &di) && di.dli_fname)
		self = di.dli_fname;
	for (char **slot = environ; slot && *slot;) {
		const char *lp = *slot + kl;
		size_t n = kl;
		char *out;

		if (strncmp(*slot, key, kl)) {
			slot++;
			continue;
		}
		out = tide__os_malloc(kl + strlen(lp) + 1);
		if (!out)
			return;
		memcpy(out, key, kl);
		for (const char *p = lp; *p;) {
			size_t len = strcspn(p, " :");

			if (len && !is_self(p, len, self)) {
				if (n > kl)
					out[n++] = ' ';
				memcpy(out + n, p, len);
				n += len;
			}
			p += len;
			if (*p)
				p++;
		}
		out[n] = '\0';
		if (n > kl) {
			*slot++ = out;
			continue;
		}
		/* nothing else was preloaded: the entry goes */
		tide__os_free(out);
		environ_remove(slot);
	}
}

/*
 * TIDE_INHERIT=0, once the settings are read: take them out of the
 * environment too, so that programs this one runs start as if tide-run
 * had never been there (a tide-run among them, given no options, used
 * the outer one's sizes, and its PROGRAM's children lost the shim to the
 * outer TIDE_INHERIT=0: a review).  The strings stay where they are (the
 * settings read point into them); only environ's slots go.
 */
static void drop_settings(void)
{
	static const char *const names[] = {
		"TIDE_LIMIT=",	 "TIDE_HIGH=",	  "TIDE_LOW=",
		"TIDE_SOURCES=", "TIDE_CONTROL=", "TIDE_VERBOSE=",
		"TIDE_INHERIT=", "TIDE_SAID=",	  "TIDE_NESTED=",
	};

	for (char **slot = environ; slot && *slot;) {
		bool ours = false;

		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			ours |= !strncmp(*slot, names[i], strlen(names[i]));
		if (ours)
			environ_remove(slot);
		else
			slot++;
	}
}

/*
 * Put @entry ("NAME=value", static storage) in environ for the programs
 * this one runs.  In the constructor, as drop_from_ld_preload() (and for
 * the same reason, by hand): an inherited NAME's slot now points to
 * @entry; else @entry goes at the end of environ, which becomes a copy
 * with room for one more entry (the shim puts in two at most) unless it
 * is already that copy with room left.  The copy is never freed (environ
 * keeps it, as setenv() does; @environ_copy too, which LeakSanitizer
 * counts: libc's environ it does not).  Without memory the programs this
 * one runs go without @entry.
 */
static char **environ_copy;
static size_t environ_room; /* the entries @environ_copy has room for */

static void environ_put(char *entry)
{
	const size_t kl = (size_t)(strchr(entry, '=') - entry) + 1;
	size_t n = 0;
	char **env;

	for (; environ && environ[n]; n++) {
		if (!strncmp(environ[n], entry, kl)) {
			environ[n] = entry;
			return;
		}
	}
	if (environ && environ == environ_copy && n < environ_room) {
		environ[n] = entry;
		environ[n + 1] = NULL;
		return;
	}
	env = tide__os_malloc((n + 3) * sizeof(*env));
	if (!env)
		return;
	if (n)
		memcpy(env, environ, n * sizeof(*env));
	env[n] = entry;
	env[n + 1] = NULL;
	environ = environ_copy = env;
	environ_room = n + 2;
}

/*
 * Record in environ that @line was said (TIDE_SAID, settings.h), for the
 * programs this one runs (environ_put()).  Without memory they say the
 * line again: nothing worse.
 */
static void remember_said(const char *line)
{
	static const char key[] = "TIDE_SAID=";
	static char entry[sizeof(key) - 1 + TIDE__PRELOAD_SAID_SIZE];
	const size_t kl = sizeof(key) - 1;

	memcpy(entry, key, kl);
	tide__preload_said_value(line, entry + kl, sizeof(entry) - kl);
	environ_put(entry);
}

/*
 * A line about the settings (why they turn the shim off, or which it
 * ignores), once per process tree: not when @said (the inherited
 * TIDE_SAID) says this line was said already (the same settings resolving
 * the same way in a program an earlier one ran, or in the program tide-run
 * ran after saying it), and recorded for the programs this one runs
 * unless they start without the shim (TIDE_INHERIT=0: the settings went
 * too).  A program that changes a setting, or that resolves it
 * differently (another cgroup), says its own line.
 */
static void say_settings(const char *said, const char *msg, bool off,
			 bool inherit)
{
	if (tide__preload_was_said(said, msg))
		return;
	say(off ? "%s; off" : "%s", msg);
	if (inherit)
		remember_said(msg);
}

/*
 * Turn the settings into @cfg (settings.h); @use_cfg when any was given.
 * Percentages of a limit the cgroups set follow it when it changes: of
 * TIDE_LIMIT N% (of the group's), and of TIDE_HIGH/TIDE_LOW N% when
 * TIDE_LIMIT is unset, ignored, or N% too (of a TIDE_LIMIT in bytes that
 * is taken they stay).
 */
static int resolve(const struct tide__preload_settings *s, char *msg,
		   size_t size)
{
	int r = tide__preload_resolve(s, &cfg, msg, size);
	bool following = !cfg.limit || s->limit.pct;

	use_cfg = cfg.sources || cfg.limit || cfg.high_watermark ||
		  cfg.low_watermark;
	limit_pct = cfg.limit ? s->limit.pct : 0;
	high_pct = following && cfg.high_watermark ? s->high.pct : 0;
	low_pct = following && cfg.low_watermark ? s->low.pct : 0;
	return r;
}

/*
 * The program may close the monitor's descriptors (daemons close every
 * descriptor they did not open, often right at start-up, before any
 * spike).  Its thread checks at least every GUARD_MS that its epoll is
 * still its own (tide__monitor_guard()) and, when it is not, stops and
 * calls monitor_lost(), which starts a new monitor on new descriptors:
 * up to MAX_RESTARTS times in a process (a program that keeps closing
 * them gets no monitor that keeps starting).  The lost ones are kept,
 * never freed (their numbers may be the program's; their threads ended).
 */
#define GUARD_MS 2000
#define MAX_RESTARTS 8
static struct tide_monitor *lost[MAX_RESTARTS]; /* reachable */
static unsigned restarts; /* this process's */
/* @mon is lost and was not replaced: the listener reports no monitor */
static bool mon_dead;
/* monitor_lost() is replacing @mon (its thread waits GUARD_MS first) */
static bool mon_replacing;

static void monitor_lost(struct tide_monitor *old);

/* A new monitor from the resolved @cfg, running, in *@ret. */
static int new_monitor(struct tide_monitor **ret)
{
	struct tide_monitor *m;
	int r = tide_monitor_new(&m, use_cfg ? &cfg : NULL);

	if (r)
		return r;
	if (limit_pct || high_pct || low_pct)
		tide__monitor_fractions(m, limit_pct, high_pct, low_pct);
	tide__monitor_guard(m, GUARD_MS, monitor_lost);
	r = tide_monitor_start(m);
	if (r) {
		tide_monitor_free(m);
		return r;
	}
	*ret = m;
	return 0;
}

/*
 * A monitor that replaces another (a forked child's new one, one made
 * after unshare/setns or after the program closed the old one's
 * descriptors) takes the watermarks an operator set on the old one, as
 * given (bytes, percentages of the limit, or the limit's defaults): a
 * prefork server retuned with tidectl forks its next workers with the new
 * pair, not with TIDE_HIGH/TIDE_LOW.  If @m refuses them (no watermark
 * source there, no limit for a percentage, EFBIG), it keeps the
 * settings' pair.  @when names the occasion for the verbose line.
 */
static void carry_tune(struct tide_monitor *m, const struct tide__tune *t,
		       const char *when)
{
	uint64_t high, low;
	int r = tide__monitor_tune(m, t, &high, &low);

	if (r && verbose)
		say("pid %d: the operator's watermarks do not apply after %s "
		    "(%s); the settings' are kept",
		    (int)tide__os_getpid(), when, strerror(-r));
}

/*
 * A new monitor in @mon, made as a fork waits for (making_begin()), with
 * the watermarks @tune (or none) an operator set on the one it follows;
 * @mon_dead when it cannot be made.  @when names the occasion for the
 * verbose line.  Return: 0 or new_monitor()'s error.
 */
static int install_monitor(const struct tide__tune *tune, const char *when)
{
	struct tide_monitor *m = NULL;
	sigset_t old;
	int r;

	making_begin(&old);
	r = new_monitor(&m);
	if (!r && tune)
		carry_tune(m, tune, when);
	making_end();
	if (!r)
		mon = m;
	else
		mon_dead = true;
	pthread_mutex_unlock(&mon_lock);
	tide__os_signals_restore(&old);
	return r;
}

/* Create and start this process's monitor (constructor, fork child). */
static int start_monitor(void)
{
	struct tide_monitor *m;
	int r = new_monitor(&m);

	if (r)
		return r;
	mon = m;
	__atomic_store_n(&mon_pid, tide__os_getpid(), __ATOMIC_RELEASE);
	return 0;
}

/*
 * On the thread of @old, which found its epoll number taken (closed, or
 * another file on it) and touches none of its numbers again: start a new
 * monitor in its place, GUARD_MS later.  A program that closes
 * everything at start-up is still at it when the old thread finds out
 * (at once, from an EBADF): it reopens its own files on the low numbers
 * first (some count on getting 3 back) and is done closing by then.  If
 * not, the next check finds out again.
 */
static void monitor_lost(struct tide_monitor *old)
{
	pid_t self = tide__os_getpid();
	struct tide_monitor *m = NULL;
	struct tide__tune tune;
	sigset_t mask;
	bool again;
	int r;

	/* nobody joins this thread: the monitor is never freed here */
	pthread_detach(pthread_self());
	pthread_mutex_lock(&mon_lock);
	again = old == mon && mon_pid == self && restarts < MAX_RESTARTS;
	if (again) {
		lost[restarts++] = old;
		mon_replacing = true;
	} else if (old == mon) {
		mon_dead = true;
	}
	pthread_mutex_unlock(&mon_lock);
	if (!again) {
		if (old == mon && control)
			tide_ctl_set_monitor(NULL);
		if (old == mon && verbose)
			say("pid %d: the program closed the monitor's "
			    "descriptors again; off",
			    (int)self);
		return;
	}
	tide__os_poll(NULL, 0, GUARD_MS);
	making_begin(&mask); /* (this thread blocks every signal anyway) */
	r = new_monitor(&m);
	if (!r && tide__monitor_tuned(old, &tune))
		carry_tune(m, &tune, "the program closed the descriptors");
	making_end();
	mon_replacing = false;
	if (r)
		mon_dead = true;
	else if (mon == old)
		mon = m;
	else
		r = -ECANCELED; /* not ours to replace any more */
	pthread_mutex_unlock(&mon_lock);
	tide__os_signals_restore(&mask);
	if (r == -ECANCELED) {
		tide_monitor_free(m);
		return;
	}
	/* the listener reports it (one listening again meanwhile asks too,
	 * control_again()) */
	if (control)
		tide_ctl_set_monitor(r ? NULL : m);
	if (verbose && r)
		say("pid %d: the program closed the monitor's descriptors; "
		    "no new monitor (%s); off",
		    (int)self, strerror(-r));
	else if (verbose)
		say("pid %d: the program closed the monitor's descriptors; "
		    "a new monitor runs",
		    (int)self);
}

/*
 * TIDE_CONTROL=1: serve tidectl for this process (docs/tidectl.md).  A
 * listener that gives way: a program with tide of its own that listens
 * itself takes the socket over (its shrinkers are in its copy of tide,
 * not in the shim's), and one that listens already keeps it.
 * Return: 0 or tide_ctl_listen()'s error.
 */
static void control_lost(void);

static int start_control(void)
{
	struct tide_ctl_config cc = { .size = sizeof(cc) };
	sigset_t old;
	int r;

	/*
	 * As a monitor is made (making_begin()): the listen holds ctl's
	 * lock while it starts its thread, which allocates, and ctl's
	 * prepare handler takes that lock after the program's own took its
	 * allocator's (a child forking grandchildren at its 200 ms hung 1
	 * time in 3 under TIDE_CONTROL=1).  The shim's fork() waits for it.
	 */
	making_begin(&old);
	pthread_mutex_lock(&mon_lock);
	cc.monitor = mon_dead ? NULL : mon;
	pthread_mutex_unlock(&mon_lock);
	tide__ctl_guard(control_lost);
	r = tide__ctl_listen_weak(&cc);
	making_end();
	pthread_mutex_unlock(&mon_lock);
	tide__os_signals_restore(&old);
	return r;
}

/*
 * The listener found its epoll number taken, as a monitor may
 * (monitor_lost()): GUARD_MS later, on a thread of its own (the
 * listener's would join itself), close it (its path goes: the socket
 * behind it is dead) and listen again, up to MAX_RESTARTS times in a
 * process.
 */
static unsigned ctl_restarts; /* this process's */

static void *control_again(void *arg)
{
	pid_t self = tide__os_getpid();
	int r;

	(void)arg;
	tide__os_poll(NULL, 0, GUARD_MS);
	tide_ctl_close();
	r = start_control();
	/* a monitor replaced meanwhile could not reach the new listener */
	if (!r) {
		struct tide_monitor *m;

		pthread_mutex_lock(&mon_lock);
		m = mon_dead ? NULL : mon;
		pthread_mutex_unlock(&mon_lock);
		tide_ctl_set_monitor(m);
	}
	if (verbose && r)
		say("pid %d: the program closed the control socket's "
		    "descriptors; no control socket (%s)",
		    (int)self, strerror(-r));
	else if (verbose)
		say("pid %d: the program closed the control socket's "
		    "descriptors; listening again",
		    (int)self);
	return NULL;
}

static void control_lost(void)
{
	pthread_attr_t attr;
	pthread_t t;

	if (ctl_restarts >= MAX_RESTARTS) {
		if (verbose)
			say("pid %d: the program closed the control socket's "
			    "descriptors again; no control socket",
			    (int)tide__os_getpid());
		return;
	}
	ctl_restarts++;
	/* on the listener's thread, every signal blocked: so is this one */
	if (pthread_attr_init(&attr))
		return;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_create(&t, &attr, control_again, NULL);
	pthread_attr_destroy(&attr);
}

/*
 * A forked child's own monitor, and with TIDE_CONTROL=1 its control
 * socket, start CHILD_DELAY_MS after the fork, on a thread that waits
 * for it (child_start()).  Most children of a shell, a supervisor,
 * system() or a server that forks per connection exec or exit within a
 * few milliseconds of the fork (a few tens on a loaded machine); a
 * monitor made in the fork handler was set up for nothing there, and
 * took most of what such a fork costs: discovery's files, the sources'
 * descriptors, a thread, and the page faults of all that (a fork that
 * exits at once took 3.0 ms instead of 1.0 under the shim; 1.5 ms with
 * only the waiting thread).  The exec ends the waiting thread, so such a
 * child never makes a monitor, nor a socket that would stay on disk
 * under a live pid that nobody serves (the program it execs may not load
 * the shim again: TIDE_INHERIT=0, a static or setuid program).  200 ms
 * is far above a fork-to-exec time, short for an operator (tidectl lists
 * a child that goes on running a fifth of a second after its fork), and
 * short beside what a monitor waits for: a child that lives on is
 * watched from then on.
 */
#define CHILD_DELAY_MS 200

/*
 * one_thread_call() calls the wait off, waits until the waiting thread is
 * done and starts what it would have started itself after its call, as
 * unshare()/setns() need a process with one thread, and fork-then-unshare
 * is how container tools start.  The thread is detached (its stack goes
 * back when it ends; up to 0.2.17 it was joinable, and a process that
 * never called them kept the ended thread's stack until it exited or
 * exec'd): under child_lock it says when it is done (@child_started
 * false, @child_began whether it began), and after that it only
 * returns.  @child_tune: the watermarks an operator set on the parent,
 * for the child's monitor (carry_tune()).
 */
static bool child_started; /* a child_start() thread runs, under child_lock */
static bool child_began; /* and began (not called off), under child_lock */
static pid_t child_tid; /* its kernel id, under child_lock */
static pthread_mutex_t child_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t child_cond = PTHREAD_COND_INITIALIZER;
static bool child_called_off; /* under child_lock */
/* the monitor is still to come: written under child_lock, read first
 * without it (child_monitor()) */
static bool child_due;
static bool child_tuned;
static struct tide__tune child_tune;
/* the wait follows a program's start (start_late()), which says its
 * report() then, not a fork */
static bool child_late;
#define CHILD_WHEN (child_late ? "start" : "fork") /* verbose lines */

/*
 * A forked child's monitor (or a late-started program's), if it is still
 * to come: once, by whichever asks first (the waiting thread,
 * before_drop(), one_thread_call()); the others wait for it under
 * child_lock.  @call: the call it is made before (verbose line), or NULL.
 */
static void child_monitor(const char *call)
{
	pid_t self = tide__os_getpid();
	sigset_t old;
	int r;

	/*
	 * set*id() may be called from a signal handler (POSIX allows it):
	 * once made, no lock; while making, no handler on this thread.  Due
	 * until made: a caller on another thread meanwhile waits for it on
	 * child_lock (up to 0.2.17 it went on while the monitor was made).
	 */
	if (!__atomic_load_n(&child_due, __ATOMIC_ACQUIRE))
		return;
	tide__os_signals_block(&old);
	pthread_mutex_lock(&child_lock);
	if (!__atomic_load_n(&child_due, __ATOMIC_RELAXED)) {
		pthread_mutex_unlock(&child_lock);
		tide__os_signals_restore(&old);
		return;
	}
	r = install_monitor(child_tuned ? &child_tune : NULL, CHILD_WHEN);
	__atomic_store_n(&child_due, false, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&child_lock);
	tide__os_signals_restore(&old);
	/* as the constructor: settings the monitor refused, even quietly */
	if (r && (verbose || r == -EINVAL))
		say("pid %d: no monitor after %s%s%s (%s); off", (int)self,
		    CHILD_WHEN, call ? ", before " : "", call ? call : "",
		    strerror(-r));
}

static void report(struct tide_monitor *m, int ctl_err);

/*
 * A forked child's monitor (unless made already) and, if it runs, control
 * socket; a late-started program's too, and then its TIDE_VERBOSE report.
 */
static void child_begin(void)
{
	bool start = child_late;
	struct tide_monitor *m;
	int r = 0;

	child_monitor(NULL);
	/* never freed while this runs: one_thread_call() waits for it */
	pthread_mutex_lock(&mon_lock);
	m = mon_dead ? NULL : mon;
	pthread_mutex_unlock(&mon_lock);
	/* no monitor, no socket, as in the constructor (up to 0.2.17 a
	 * child served tidectl a socket with no monitor behind it) */
	if (!m)
		return;
	if (control && (r = start_control()) && verbose && !start)
		say("pid %d: no control socket (%s)", (int)tide__os_getpid(),
		    strerror(-r));
	if (start && verbose)
		report(m, r);
}

/* Begins (child_begin()) after the delay unless called off first. */
static void *child_start(void *arg)
{
	uint64_t end = tide__os_now_ns() + (uint64_t)CHILD_DELAY_MS * 1000000u;
	struct timespec ts = { (time_t)(end / 1000000000u),
			       (long)(end % 1000000000u) };
	bool off;

	(void)arg;
	pthread_mutex_lock(&child_lock);
	child_tid = tide__os_gettid();
	pthread_mutex_unlock(&child_lock);
	/*
	 * The whole delay, wake-ups or not: glibc's setuid()/setgid()
	 * signal every thread (a signal no mask blocks), and a child
	 * dropping its privileges made its socket at once, between
	 * setgid() and setuid(), owned by root (a user trial: nginx's
	 * workers).
	 */
	pthread_mutex_lock(&child_lock);
	while (!child_called_off &&
	       pthread_cond_clockwait(&child_cond, &child_lock, CLOCK_MONOTONIC,
				      &ts) != ETIMEDOUT)
		;
	off = child_called_off;
	pthread_mutex_unlock(&child_lock);
	if (!off)
		child_begin();
	pthread_mutex_lock(&child_lock);
	child_began = !off;
	child_started = false;
	pthread_cond_broadcast(&child_cond);
	pthread_mutex_unlock(&child_lock);
	return NULL;
}

/* Start the waiting thread; without one, begin at once. */
static void child_wait(void)
{
	child_started = true; /* before the thread, which reads it */
	child_began = false;
	if (!tide__os_thread_create_detached(child_start, NULL))
		return;
	child_started = false;
	child_begin();
}

/*
 * Wait, up to 100 ms, until thread @tid of this process is gone from the
 * kernel's thread group: a detached thread that said it was done still
 * has its exit to run, and until the kernel releases it, unshare() and
 * setns() that need one thread fail with EINVAL (7 of 10 forked children
 * that unshared at once, without this wait).  Its /proc/self/task entry
 * goes when it is released; without /proc, no wait.
 */
static void task_wait_gone(pid_t tid)
{
	char path[48];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/self/task/%d", (int)tid);
	for (int i = 0; i < 100 && !tide__os_stat(path, &st); i++)
		tide__os_poll(NULL, 0, 1);
}

/*
 * The waiting thread, if this process has one: call it off and wait
 * until it is done and gone.  Returns true when it had not begun (its
 * start is the caller's to make: one caller's, two threads may unshare
 * at once); *@waited when there was a thread to wait for.  Signals are
 * blocked while child_lock is held: a handler's set*id() takes it too
 * (before_drop()).
 */
static bool child_call_off(bool *waited)
{
	sigset_t old;
	bool first;
	pid_t tid;

	tide__os_signals_block(&old);
	pthread_mutex_lock(&child_lock);
	*waited = child_started;
	first = !child_called_off;
	child_called_off = true;
	pthread_cond_broadcast(&child_cond);
	while (child_started)
		pthread_cond_wait(&child_cond, &child_lock);
	first = first && *waited && !child_began;
	tid = child_tid;
	pthread_mutex_unlock(&child_lock);
	tide__os_signals_restore(&old);
	if (*waited)
		task_wait_gone(tid);
	return first;
}

/*
 * fork(): the parent's monitor thread does not exist in the child.  The
 * child takes the shim's state over (atfork_child()), frees its copy of
 * the parent's monitor (which closes only the child's copies of the
 * descriptors: the parent's monitor goes on) and starts the thread that
 * starts a monitor of its own after the delay (child_start()): in the
 * shim's fork() and daemon(), after libc's returned, so after the
 * program's fork handlers too (fork_child_rest()), or in the handler for
 * a fork that did not come through them.  tide's fork handlers ran before
 * the shim's (fork_handlers_first()), so every lock and list of tide's is
 * the child's own by then.  Failure turns the shim off in the child only.
 */

/* atfork_prepare() and the others are registered (never undone) */
static bool handlers_on;
/*
 * The child's copies of monitors to free in fork_child_rest(): its
 * parent's, and one more for a fork from a signal handler run before the
 * rest (its child has both to free).
 */
static struct tide_monitor *child_inherited[2];
static bool child_rest_due;

/*
 * Signals are blocked from the shim's prepare handler to its parent or
 * child handler, while mon_lock is held (tide's handlers, registered
 * before the shim's, run inside that, the program's outside): a handler
 * that forked there took mon_lock again on its own thread (a review's
 * program that forked from a SIGALRM handler hung 10 of 10, 0.2.18 too).
 */
static _Thread_local sigset_t fork_mask;

/* mon_lock, once no monitor is being made (see @making) */
static void atfork_prepare(void)
{
	tide__os_signals_block(&fork_mask);
	pthread_mutex_lock(&mon_lock);
	while (making)
		pthread_cond_wait(&made, &mon_lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&mon_lock);
	tide__os_signals_restore(&fork_mask);
}

/*
 * The part of the child's handling that frees and allocates, once every
 * lock and flag of the shim's is the child's own (atfork_child()).
 * Signals are blocked meanwhile: a handler's fork would find it half done.
 */
static void fork_child_rest(void)
{
	sigset_t old;

	if (!child_rest_due)
		return;
	tide__os_signals_block(&old);
	child_rest_due = false;
	tide__child_frees(); /* tide's own handlers' (ctl's) */
	for (unsigned i = 0; i < 2; i++) {
		tide_monitor_free(child_inherited[i]);
		child_inherited[i] = NULL;
	}
	/*
	 * A handler registered after the shim's, or a signal handler, that
	 * called unshare()/setns() called the wait off before it began:
	 * what it was to start starts now.  Otherwise the waiting thread.
	 */
	if (child_called_off)
		child_begin();
	else
		child_wait();
	tide__os_signals_restore(&old);
}

static void atfork_child(void)
{
	struct tide_monitor *inherited = mon;
	pid_t self = tide__os_getpid();
	/* a late-started program that forks (daemonizes) before its start:
	 * the child is that program now, and says its line too */
	bool start =
		__atomic_load_n(&child_due, __ATOMIC_RELAXED) && child_late;

	pthread_mutex_unlock(&mon_lock); /* this thread took it */
	pthread_cond_init(&made, NULL); /* making is 0: the prepare waited */
	forks = makers_waiting = 0;
	/* the waiting thread, if any, is not here: its lock may be held */
	pthread_mutex_init(&child_lock, NULL);
	pthread_cond_init(&child_cond, NULL);
	child_called_off = child_started = child_began = false;
	child_late = start;
	__atomic_store_n(&child_due, true, __ATOMIC_RELAXED);
	restarts = ctl_restarts = 0;
	mon_dead = mon_replacing = false;
	mon = NULL;
	__atomic_store_n(&mon_pid, self, __ATOMIC_RELEASE);
	/* watermarks an operator set on the parent (tidectl watermarks), or
	 * those a parent whose own start was still to come was to carry (a
	 * lock and a copy: nothing allocated) */
	if (inherited) {
		child_tuned = tide__monitor_tuned(inherited, &child_tune);
		child_inherited[child_inherited[0] ? 1 : 0] = inherited;
	}
	child_rest_due = true;
	tide__os_signals_restore(&fork_mask);
	if (!tide__fork_wrapped)
		fork_child_rest();
}

/*
 * Child handlers run in the order they were registered: register every
 * one of tide's (each module registers its own on first use, which in
 * this process may come after ours) before atfork_child(), which uses
 * them all in the child.  Called after the first monitor exists, so after
 * the allocator's own handlers too.
 */
static void fork_handlers_first(void)
{
	tide__kv_reg_fork_register();
	tide__arena_fork_register();
	tide__shrinker_fork_register();
	tide__purge_fork_register();
	tide__sensor_fork_register();
	tide__mon_fork_register();
	tide__ctl_fork_register();
}

/*
 * The TIDE_VERBOSE line of the monitor @m, once everything is on: the
 * control socket as it turned out (@ctl_err: start_control()'s result),
 * not as asked for.
 */
static void report(struct tide_monitor *m, int ctl_err)
{
	struct tide_monitor_limit lim;
	char where[600] = "", names[128], ctl[160] = "", marks[64];
	unsigned used = tide_monitor_source(m);

	if (tide_monitor_limit(m, &lim))
		memset(&lim, 0, sizeof(lim));
	if (!strcmp(lim.file, "config"))
		snprintf(where, sizeof(where), " (TIDE_LIMIT)");
	else if (lim.dir[0] || lim.file[0])
		snprintf(where, sizeof(where), " (%s%s%s)", lim.dir,
			 lim.dir[0] ? "/" : "", lim.file);
	tide__preload_source_names(used, names, sizeof(names));
	/* as tide-run --show: only these use watermarks; a 0 would be false */
	if (used &
	    (TIDE_SOURCE_CGROUP1 | TIDE_SOURCE_CGROUP2 | TIDE_SOURCE_BUDGET))
		snprintf(marks, sizeof(marks), "high %llu, low %llu",
			 (unsigned long long)lim.high,
			 (unsigned long long)lim.low);
	else
		snprintf(marks, sizeof(marks),
			 "high -, low - (no watermark source)");
	if (control && ctl_err)
		snprintf(ctl, sizeof(ctl), ", no control socket (%s)",
			 strerror(-ctl_err));
	else if (control)
		snprintf(ctl, sizeof(ctl), ", control socket on");
	say("pid %d: sources %s, limit %llu%s, %s, allocator %s%s",
	    (int)tide__os_getpid(), names, (unsigned long long)lim.limit, where,
	    marks, tide_purge_allocator(), ctl);
}

/*
 * A program that a process under the shim ran starts its monitor late.
 * The process that the shim finds no TIDE_NESTED in (the one tide-run,
 * or the user's LD_PRELOAD, started) puts TIDE_NESTED=PID, its own pid,
 * in the environment it passes on (unless TIDE_INHERIT=0); a program
 * that finds it there with another pid was run by a shell, a build, a
 * supervisor or a server under the shim, and most such programs end
 * within milliseconds.  (With its own pid it is that first process,
 * which exec'd in place: `sh -c 'exec server'`, `env VAR=1 server`.  It
 * starts at once, as before.)  A monitor made in their constructor was
 * not only set up for nothing: on Linux, closing a PSI trigger waits for
 * an RCU grace period (psi_trigger_destroy()), 11-27 ms on the 2-CPU
 * reference machine, and a monitor holds up to three, closed one after
 * the other when the process exits: /bin/true under the shim took 41 ms
 * instead of 2, and a fork and exec of it from a process under the shim
 * 42 ms instead of 2.0 (bench/bench_fork.sh).  Such a program's monitor
 * and control socket therefore come CHILD_DELAY_MS after its start, on
 * the waiting thread a forked child uses (child_start()), with the same
 * calls that make them early (before_drop(), one_thread_call()), and its
 * TIDE_VERBOSE line comes then.  The marker passes on unchanged.
 * Return: 0, or a negative errno (the shim is off).
 */
static char nested_entry[sizeof("TIDE_NESTED=") + 12] = "TIDE_NESTED=";

/*
 * Is @nested (TIDE_NESTED's value, or NULL) another process's pid?  A
 * value that is not a pid as the shim writes one (decimal, no sign or
 * leading zero, 1 to INT_MAX: "", "0", "12x", a stray export) is no
 * marker: the program starts at once and passes its own pid on.
 */
static bool nested_here(const char *nested)
{
	long long v = 0;

	if (!nested || *nested < '1' || *nested > '9')
		return false;
	for (const char *c = nested; *c; c++) {
		if (*c < '0' || *c > '9')
			return false;
		v = v * 10 + (*c - '0');
		if (v > INT_MAX)
			return false;
	}
	return v != (long long)tide__os_getpid();
}

static int start_late(void)
{
	int r;

	/*
	 * The allocator's fork handlers before the shim's, as when a monitor
	 * is made first (fork_handlers_first()): jemalloc and tcmalloc
	 * register theirs at their first allocation.  The allocator's name
	 * is found here too, not on the waiting thread, where its dlopen()
	 * could meet the program's exit (a review: ASan's runtime started
	 * again and failed, 3 and 5 of 60 exits at 200 ms).
	 */
	tide__os_free(tide__os_malloc(1));
	(void)tide_purge_allocator();
	fork_handlers_first();
	r = pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
	if (r)
		return -r;
	__atomic_store_n(&handlers_on, true, __ATOMIC_RELEASE);
	child_late = true;
	__atomic_store_n(&child_due, true, __ATOMIC_RELAXED);
	__atomic_store_n(&mon_pid, tide__os_getpid(), __ATOMIC_RELEASE);
	child_wait();
	return 0;
}

static void wrapped_resolve(void);

__attribute__((constructor)) static void preload_init(void)
{
	struct tide__preload_settings s;
	const char *inherit = secure_getenv("TIDE_INHERIT");
	bool no_inherit = inherit && !strcmp(inherit, "0");
	/* read before drop_settings() takes them out of environ */
	const char *said = secure_getenv("TIDE_SAID");
	const char *nested = secure_getenv("TIDE_NESTED");
	bool late;
	char msg[512];
	int r;

	wrapped_resolve();
	/* Honoured on its own, even when another setting is bad. */
	if (no_inherit)
		drop_from_ld_preload();
	r = tide__preload_settings_read(&s, msg, sizeof(msg));
	if (no_inherit)
		drop_settings();
	if (r) {
		say_settings(said, msg, true, !no_inherit);
		return;
	}
	verbose = s.verbose;
	control = s.control; /* tide_ctl_listen() once the monitor runs */
	msg[0] = '\0';
	r = resolve(&s, msg, sizeof(msg));
	if (r == -EINVAL && msg[0]) {
		say_settings(said, msg, true, !no_inherit);
		return;
	}
	/* settings that would do nothing, ignored: say which and why */
	if (!r && msg[0])
		say_settings(said, msg, false, !no_inherit);
	late = nested_here(nested);
	if (!r && !no_inherit && !late) {
		snprintf(nested_entry + strlen("TIDE_NESTED="),
			 sizeof(nested_entry) - strlen("TIDE_NESTED="), "%d",
			 (int)tide__os_getpid());
		environ_put(nested_entry);
	}
	if (!r && late) {
		r = start_late();
		if (r && verbose)
			say("pid %d: pthread_atfork failed (%s); off",
			    (int)tide__os_getpid(), strerror(-r));
		return;
	}
	if (!r)
		r = start_monitor();
	if (r) {
		if (verbose || r == -EINVAL) /* settings it refused */
			say("pid %d: no monitor (%s); off",
			    (int)tide__os_getpid(), strerror(-r));
		return;
	}
	fork_handlers_first();
	r = pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
	if (r) {
		tide_monitor_free(mon);
		mon = NULL;
		__atomic_store_n(&mon_pid, 0, __ATOMIC_RELEASE);
		if (verbose)
			say("pid %d: pthread_atfork failed (%s); off",
			    (int)tide__os_getpid(), strerror(r));
		return;
	}
	__atomic_store_n(&handlers_on, true, __ATOMIC_RELEASE);
	if (control)
		r = start_control();
	if (verbose)
		report(mon, r);
}

/*
 * unshare() of a user namespace or of what threads share (CLONE_THREAD,
 * CLONE_SIGHAND, CLONE_VM), and setns() into a user or mount namespace,
 * are refused with EINVAL in a process with more than one thread: `unshare
 * -U`, `unshare -r`, `nsenter -m` and container tools failed under the
 * shim (a review).  (CLONE_NEWNS and CLONE_FS work with threads: the
 * kernel copies the shared filesystem context.)  For such a call the shim
 * stops its threads (a forked child's waiting thread: called off and
 * reaped, and what it was to start starts after the call; the control
 * listener; the monitor: joined), makes the call, and starts them again,
 * in the new namespaces; the program's errno is that of the call.  Only
 * in the process that owns them: a vfork() child shares the parent's
 * memory, and its call goes straight through.  A monitor being
 * replaced after the program closed its descriptors (monitor_lost()) is
 * left alone; its waiting thread makes the kernel refuse, as any thread
 * of the program's own does.
 */
#define ONE_THREAD_UNSHARE \
	(CLONE_NEWUSER | CLONE_THREAD | CLONE_SIGHAND | CLONE_VM)

/* This process's threads as the kernel counts them (the links of
 * /proc/self/task: two plus one per thread), 0 without /proc. */
static unsigned long threads_now(void)
{
	struct stat st;

	if (tide__os_stat("/proc/self/task", &st) || st.st_nlink < 3)
		return 0;
	return (unsigned long)st.st_nlink - 2;
}

static int one_thread_call(int (*call)(int, int), int a, int b)
{
	pid_t self = tide__os_getpid();
	struct tide_monitor *m = NULL;
	struct tide__tune tune;
	bool listening, ours, tuned, pending, waited;
	sigset_t mask;
	int r, err, s;

	if (__atomic_load_n(&mon_pid, __ATOMIC_ACQUIRE) != self)
		return call(a, b);
	/* a forked child's or late program's start still to come: after
	 * the call, here */
	pending = child_call_off(&waited);
	/* no handler in there: its set*id() may make a monitor, which
	 * takes mon_lock (install_monitor()) */
	tide__os_signals_block(&mask);
	pthread_mutex_lock(&mon_lock);
	ours = mon_pid == self;
	pthread_mutex_unlock(&mon_lock);
	tide__os_signals_restore(&mask);
	if (!ours)
		return call(a, b);
	/* the listener first: it uses the monitor */
	listening = control && tide_ctl_fd() >= 0;
	if (listening)
		tide_ctl_close();
	/* taken down as it is made: a fork meanwhile waits (making) */
	making_begin(&mask);
	pthread_mutex_lock(&mon_lock);
	if (mon && !mon_dead && !mon_replacing) {
		m = mon;
		mon = NULL;
	}
	pthread_mutex_unlock(&mon_lock);
	tuned = m && tide__monitor_tuned(m, &tune);
	tide_monitor_free(m);
	making_end();
	pthread_mutex_unlock(&mon_lock);
	tide__os_signals_restore(&mask);
	r = call(a, b);
	err = errno;
	/*
	 * A thread stopped above stays in the kernel's thread group (and
	 * shares the memory) a little longer than pthread_join() waits,
	 * until the kernel releases it: on a loaded machine the call could
	 * find it there and fail with EINVAL (2 of 40 forked children that
	 * unshared at once, with 0.2.17's joined waiting thread; the
	 * waiting thread is now waited for until it is gone,
	 * task_wait_gone(), but the monitor's and the listener's are
	 * joined).  Tried again every millisecond while the kernel counts
	 * other threads, for up to 100 ms, and once more when it counts
	 * none: that answer stands (a thread of the program's own keeps the
	 * EINVAL).
	 */
	for (unsigned i = 0;
	     r == -1 && err == EINVAL && (waited || m || listening) && i < 100;
	     i++) {
		unsigned long n = threads_now();

		if (n != 1)
			tide__os_poll(NULL, 0, 1);
		r = call(a, b);
		err = errno;
		if (n == 1)
			break;
	}
	/* a monitor only where there was one, made outside the lock (which
	 * fork holds) as monitor_lost() makes it */
	if (m) {
		s = install_monitor(tuned ? &tune : NULL, "unshare/setns");
		if (s && verbose)
			say("pid %d: no monitor after unshare/setns (%s); off",
			    (int)self, strerror(-s));
	}
	if (listening && (s = start_control()) && verbose)
		say("pid %d: no control socket after unshare/setns (%s)",
		    (int)self, strerror(-s));
	if (pending)
		child_begin();
	errno = err;
	return r;
}

/* The next definition of @name (libc's), looked up once. */
static void *next_fn(void **slot, const char *name)
{
	void *fn = __atomic_load_n(slot, __ATOMIC_ACQUIRE);

	if (!fn) {
		fn = dlsym(RTLD_NEXT, name);
		__atomic_store_n(slot, fn, __ATOMIC_RELEASE);
	}
	return fn;
}

static void *next_unshare, *next_setns;

static int real_unshare(int flags, int unused)
{
	int (*fn)(int) = (int (*)(int))next_fn(&next_unshare, "unshare");

	(void)unused;
	if (!fn) {
		errno = ENOSYS;
		return -1;
	}
	return fn(flags);
}

static int real_setns(int fd, int nstype)
{
	int (*fn)(int, int) = (int (*)(int, int))next_fn(&next_setns, "setns");

	if (!fn) {
		errno = ENOSYS;
		return -1;
	}
	return fn(fd, nstype);
}

__attribute__((visibility("default"))) int unshare(int flags)
{
	if (!(flags & ONE_THREAD_UNSHARE))
		return real_unshare(flags, 0);
	return one_thread_call(real_unshare, flags, 0);
}

/* nstype 0: whatever namespace @fd is (a pidfd: several) */
__attribute__((visibility("default"))) int setns(int fd, int nstype)
{
	if (nstype && !(nstype & (CLONE_NEWUSER | CLONE_NEWNS)))
		return real_setns(fd, nstype);
	return one_thread_call(real_setns, fd, nstype);
}

/*
 * fork(), daemon() and forkpty(), to run the child's handling that frees
 * and allocates after every fork handler, the program's too, not in the
 * shim's child handler.  Child handlers run in the order they were
 * registered, and a program that holds its own allocator's lock across
 * fork() (a malloc of its own, or one linked in, with a pthread_atfork()
 * handler registered after the shim's: main() and the program's own
 * constructors run after the shim's) has it still held in the shim's
 * handler (and in tide's, registered before it): freeing the child's copy
 * of the parent's monitor there waited for it forever, in every child (a
 * review's program, 10 of 10).  So the handlers only take the state over
 * (tide__fork_wrapped set: the frees are held, tide__child_free()),
 * and fork_child_rest() runs when libc's call has returned in the child.
 * The same goes for the wait for a monitor being made: prepare handlers
 * run last-registered first, so the program's lock was taken before the
 * shim's atfork_prepare() waited, and the thread making the monitor could
 * need it.  Here the wait comes before libc runs any handler
 * (fork_gate()), and no making starts until the fork has returned, so
 * atfork_prepare() never waits for one.  mon_lock is not held meanwhile:
 * it is still taken after the program's lock, in atfork_prepare(), as in
 * a fork that does not come here.  daemon() and forkpty() fork inside
 * libc, where no interposition reaches: they are wrapped the same way
 * (the child is the process that returns with another pid).  A fork by
 * another name (glibc's __fork, _Fork, which runs no handlers, or a raw
 * clone()) does not come here: the handlers do all of it, as before.
 */
static void *next_fork, *next_daemon, *next_forkpty;

/*
 * Before libc's call: wait for any making, and hold new ones off.
 * Return: the caller's pid, or 0 when the shim's handlers are not
 * registered (the call goes straight through).
 */
static pid_t fork_gate(void)
{
	sigset_t old;

	if (!__atomic_load_n(&handlers_on, __ATOMIC_ACQUIRE))
		return 0;
	tide__os_signals_block(&old);
	pthread_mutex_lock(&mon_lock);
	/*
	 * A fork nested in this thread's own (from a signal handler) goes
	 * on: nothing is being made while the outer one is counted, and a
	 * maker waiting for the outer one would wait for it in turn.
	 */
	while (!gate_depth && (making || makers_waiting))
		pthread_cond_wait(&made, &mon_lock);
	forks++;
	gate_depth++;
	pthread_mutex_unlock(&mon_lock);
	/*
	 * And ctl's lock, until its handlers have run: the control listener
	 * allocates and frees holding it, and ctl's prepare handler would
	 * take it after the program's handler took its allocator's lock
	 * (with TIDE_CONTROL=1, a review's program that forked in a loop
	 * while tidectl asked hung 4 runs of 4).  No making is under way, so
	 * no listen holds it for long.  Signals still blocked: a handler's
	 * fork between the lock and its flag would take it again.
	 */
	tide__ctl_fork_gate();
	tide__os_signals_restore(&old);
	tide__fork_wrapped = true;
	return tide__os_getpid();
}

/* After it, with fork_gate()'s @self: the child's rest, or the parent's
 * end of the gate; errno as libc's call left it. */
static void fork_gate_end(pid_t self)
{
	int err = errno;
	sigset_t old;

	if (!self)
		return;
	tide__ctl_fork_gate_end();
	gate_depth--;
	/* still inside an outer one (this was a signal handler's) */
	tide__fork_wrapped = gate_depth != 0;
	if (tide__os_getpid() != self) {
		fork_child_rest(); /* atfork_child() reset the gate */
	} else {
		tide__os_signals_block(&old);
		pthread_mutex_lock(&mon_lock);
		if (forks && !--forks)
			pthread_cond_broadcast(&made);
		pthread_mutex_unlock(&mon_lock);
		tide__os_signals_restore(&old);
	}
	errno = err;
}

__attribute__((visibility("default"))) pid_t fork(void)
{
	pid_t (*fn)(void) = (pid_t(*)(void))next_fn(&next_fork, "fork");
	pid_t self, pid;

	if (!fn) {
		errno = ENOSYS;
		return -1;
	}
	self = fork_gate();
	pid = fn();
	fork_gate_end(self);
	return pid;
}

__attribute__((visibility("default"))) int daemon(int nochdir, int noclose)
{
	int (*fn)(int, int) =
		(int (*)(int, int))next_fn(&next_daemon, "daemon");
	pid_t self;
	int r;

	if (!fn) {
		errno = ENOSYS;
		return -1;
	}
	self = fork_gate();
	/* the parent, if it forked, exits inside; the child returns, even
	 * when its setsid() failed */
	r = fn(nochdir, noclose);
	fork_gate_end(self);
	return r;
}

__attribute__((visibility("default"))) pid_t
forkpty(int *amaster, char *name, const struct termios *termp,
	const struct winsize *winp)
{
	pid_t (*fn)(int *, char *, const struct termios *,
		    const struct winsize *) =
		(pid_t(*)(int *, char *, const struct termios *,
			  const struct winsize *))next_fn(&next_forkpty,
							  "forkpty");
	pid_t self, pid;

	if (!fn) {
		errno = ENOSYS;
		return -1;
	}
	self = fork_gate();
	pid = fn(amaster, name, termp, winp);
	fork_gate_end(self);
	return pid;
}

/*
 * Calls that take away what a monitor needs, in a forked child whose
 * monitor is still to come (the 200 ms after its fork), or in a program
 * started late (start_late(), the 200 ms after its start): the monitor is
 * made first, and then the call goes through unchanged.  chroot() takes
 * /proc and /sys: made inside, a monitor finds neither a cgroup nor a PSI
 * file (sshd's privilege separation chroots right after its fork).  The
 * set*id() calls and setgroups() take the right to open the group's
 * memory.pressure for a trigger, its cgroup.event_control for the v1
 * thresholds, a root-only watch file: made after them, the monitor of
 * nginx's, Apache's and php-fpm's workers, which drop their privileges
 * right after the fork, had fewer sources than the master's.  initgroups()
 * calls setgroups() inside libc, where no interposition reaches.
 * Anywhere else (a process whose monitor the constructor made, a child
 * past its delay, a vfork() child) the call goes straight through.  The control socket
 * still comes after the delay, made as what the process became.
 */
static void before_drop(const char *call)
{
	int err = errno;

	if (__atomic_load_n(&mon_pid, __ATOMIC_ACQUIRE) == tide__os_getpid())
		child_monitor(call);
	errno = err;
}

/*
 * The calls wrapped, each with libc's definition (the next one after the
 * shim's), looked up in the constructor (wrapped_resolve()): dlsym() is
 * not safe in a signal handler, where set*id() may be called.
 */
#define WRAPPED(X)                                             \
	X(chroot, (const char *path), (path))                  \
	X(setuid, (uid_t uid), (uid))                          \
	X(setgid, (gid_t gid), (gid))                          \
	X(seteuid, (uid_t uid), (uid))                         \
	X(setegid, (gid_t gid), (gid))                         \
	X(setreuid, (uid_t r, uid_t e), (r, e))                \
	X(setregid, (gid_t r, gid_t e), (r, e))                \
	X(setresuid, (uid_t r, uid_t e, uid_t s), (r, e, s))   \
	X(setresgid, (gid_t r, gid_t e, gid_t s), (r, e, s))   \
	X(setgroups, (size_t n, const gid_t *list), (n, list)) \
	X(initgroups, (const char *user, gid_t group), (user, group))

#define WRAPPED_SLOT(name, params, args) static void *next_##name;
WRAPPED(WRAPPED_SLOT)

#define WRAPPED_RESOLVE(name, params, args) next_fn(&next_##name, #name);
static void wrapped_resolve(void)
{
	next_fn(&next_unshare, "unshare");
	next_fn(&next_setns, "setns");
	next_fn(&next_fork, "fork");
	next_fn(&next_daemon, "daemon");
	next_fn(&next_forkpty, "forkpty");
	WRAPPED(WRAPPED_RESOLVE);
}

/* int name(params): before_drop(), then libc's name(args). */
#define DROP_WRAPPER(name, params, args)                                       \
	__attribute__((visibility("default"))) int name params                 \
	{                                                                      \
		int(*fn) params = (int(*) params)next_fn(&next_##name, #name); \
                                                                               \
		if (!fn) {                                                     \
			errno = ENOSYS;                                        \
			return -1;                                             \
		}                                                              \
		before_drop(#name "()");                                       \
		return fn args;                                                \
	}
WRAPPED(DROP_WRAPPER)

/*
 * At exit the process's threads end with it: the monitor and the control
 * listener are left running, never stopped, joined or freed.  The program
 * may have closed the descriptors they sleep on and reused the numbers
 * (daemons call closerange()): a stop signal written there would land in
 * the program's own pipe and the join would wait forever (a trial's python
 * host hung at exit).  Only the control socket's path is removed.  A
 * monitor inherited without our fork handler (clone, vfork children that
 * exit) belongs to another process: its path is not ours either.
 */
__attribute__((destructor)) static void preload_fini(void)
{
	/*
	 * Without mon_lock: exit() may run on a thread that holds it, from
	 * a signal handler run between our fork handlers (the lock is held
	 * across fork(); a review's program hung 4 of 30 times).  Only the
	 * pid matters here, written atomically wherever it changes.
	 */
	if (control &&
	    __atomic_load_n(&mon_pid, __ATOMIC_ACQUIRE) == tide__os_getpid())
		tide__ctl_exit();
}
