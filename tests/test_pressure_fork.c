// SPDX-License-Identifier: MIT
/*
 * test_pressure_fork.c - fork() at the moments a monitor's lock matters
 * (the other fork cases are in test_pressure.c): a child forked while the
 * budget source swaps the descriptor of a replaced RSS file, and a signal
 * handler that forks while its own thread is inside an entry point that
 * holds the monitor's lock.  Both stop a thread at an exact point through
 * os.c's descriptor hooks, so neither depends on timing to hit its window.
 */
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include <tide.h>

#include "harness.h"

#define MiB (UINT64_C(1) << 20)

static char tmpdir[64];

static const char *tmp_path(const char *name)
{
	static char buf[4][PATH_MAX];
	static int i;
	char *p = buf[i++ % 4];

	snprintf(p, PATH_MAX, "%s/%s", tmpdir, name);
	return p;
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	CHECK(fd >= 0);
	CHECK_EQ(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- fork during the budget's descriptor swap ------------------------------ */

static struct tide__os_hooks hooks;
static atomic_int swap_fd = -1;
static atomic_bool in_swap, fork_done;

/*
 * The monitor's thread closes the replaced file's descriptor: that is the
 * middle of the swap (the new one is open).  Hold it there until the
 * fork has happened, or for 300 ms if the fork cannot happen meanwhile
 * (it waits for the monitor's lock, which is the fix).
 */
static int swap_close(int fd)
{
	int want = fd;

	if (atomic_compare_exchange_strong(&swap_fd, &want, -1)) {
		uint64_t t0 = now_ms();

		atomic_store(&in_swap, true);
		while (!atomic_load(&fork_done) && now_ms() - t0 < 300)
			usleep(1000);
	}
	return close(fd);
}

TEST(child_forked_during_the_rss_swap_closes_what_it_inherited)
{
	struct tide_monitor_config cfg = {
		.size = sizeof(cfg),
		.sources = TIDE_SOURCE_BUDGET,
		.high_watermark = 90 * MiB,
		.poll_interval_ms = 10,
		.flags = TIDE_MONITOR_NO_TRIM,
	};
	struct tide_monitor *m = NULL;
	char prefix[PATH_MAX];
	uint64_t t0;
	int st, old;
	pid_t pid;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/tide-swap-XXXXXX");
	CHECK(mkdtemp(tmpdir));
	snprintf(prefix, sizeof(prefix), "%s/", tmpdir);
	cfg.rss_path = tmp_path("smaps_rollup");
	write_file(cfg.rss_path, "Rss: 1024 kB\n");
	CHECK_EQ(tide_monitor_new(&m, &cfg), 0);
	th_fds_on(cfg.rss_path, false, &old);
	CHECK(old >= 0);
	CHECK_EQ(th_fds_on(prefix, true, NULL), 1);
	hooks = tide__os_default_hooks;
	hooks.close = swap_close;
	tide__os_set_hooks(&hooks);
	atomic_store(&swap_fd, old);
	write_file(tmp_path("next"), "Rss: 2048 kB\n");
	CHECK_EQ(rename(tmp_path("next"), cfg.rss_path), 0);
	CHECK_EQ(tide_monitor_start(m), 0);
	t0 = now_ms();
	while (!atomic_load(&in_swap) && now_ms() - t0 < 5000)
		usleep(1000);
	CHECK(atomic_load(&in_swap));
	pid = fork();
	CHECK(pid >= 0);
	if (!pid) {
		/* what the child holds of the two files once its copy of
		 * the monitor is freed: nothing */
		tide_monitor_free(m);
		_exit(th_fds_on(prefix, true, NULL));
	}
	atomic_store(&fork_done, true);
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	th_note("child kept %d descriptor(s) of the RSS files",
		WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	CHECK(WIFEXITED(st));
	CHECK_EQ(WEXITSTATUS(st), 0);
	tide_monitor_free(m);
	tide__os_set_hooks(NULL);
	CHECK_EQ(th_fds_on(prefix, true, NULL), 0);
	unlink(cfg.rss_path);
	rmdir(tmpdir);
}

/* ---- a signal handler forks inside an entry point ---------------------------- */

static atomic_bool raise_armed;
static atomic_int handled, handled_in_call;
static pid_t handler_child;

static void forking_handler(int sig)
{
	pid_t pid;

	(void)sig;
	pid = fork();
	if (!pid)
		_exit(7);
	handler_child = pid;
	atomic_fetch_add(&handled, 1);
}

/* The entry point reads the group's usage under the monitor's lock:
 * the signal comes right there, on the same thread. */
static ssize_t raising_pread(int fd, void *buf, size_t len, off_t off)
{
	if (atomic_exchange(&raise_armed, false)) {
		raise(SIGUSR1);
		atomic_store(&handled_in_call, atomic_load(&handled));
	}
	return pread(fd, buf, len, off);
}

TEST(signal_handler_forking_inside_an_entry_point_never_hangs)
{
	struct tide_monitor_config cfg = {
		.size = sizeof(cfg),
		.sources = TIDE_SOURCE_CGROUP2,
		.flags = TIDE_MONITOR_NO_TRIM,
	};
	struct sigaction sa = { .sa_handler = forking_handler };
	struct tide_monitor_limit l;
	struct tide_monitor *m = NULL;
	int st;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/tide-sigfork-XXXXXX");
	CHECK(mkdtemp(tmpdir));
	write_file(tmp_path("memory.current"), "31457280\n");
	write_file(tmp_path("memory.high"), "104857600\n");
	write_file(tmp_path("memory.max"), "max\n");
	cfg.cgroup2_dir = tmpdir;
	CHECK_EQ(tide_monitor_new(&m, &cfg), 0);
	sigemptyset(&sa.sa_mask);
	CHECK_EQ(sigaction(SIGUSR1, &sa, NULL), 0);
	hooks = tide__os_default_hooks;
	hooks.pread = raising_pread;
	tide__os_set_hooks(&hooks);
	/* a hang is a failure, not a stuck test run */
	alarm(20);
	atomic_store(&raise_armed, true);
	CHECK_EQ(tide_monitor_limit(m, &l), 0);
	alarm(0);
	tide__os_set_hooks(NULL);
	CHECK(!atomic_load(&raise_armed));
	/* held while the lock was, handled at once after it */
	CHECK_EQ(atomic_load(&handled_in_call), 0);
	CHECK_EQ(atomic_load(&handled), 1);
	CHECK_UEQ(l.working_set, 30 * MiB);
	CHECK_UEQ(l.high, 75 * MiB);
	CHECK_EQ(waitpid(handler_child, &st, 0), handler_child);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 7);
	/* the monitor's lock is free in the parent */
	CHECK_EQ(tide_monitor_limit(m, &l), 0);
	tide_monitor_free(m);
	unlink(tmp_path("memory.current"));
	unlink(tmp_path("memory.high"));
	unlink(tmp_path("memory.max"));
	rmdir(tmpdir);
}

RUN_TESTS(T(child_forked_during_the_rss_swap_closes_what_it_inherited),
	  T(signal_handler_forking_inside_an_entry_point_never_hangs))
