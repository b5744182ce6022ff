// SPDX-License-Identifier: MIT
/*
 * tide-run - run a program with libtide-preload.so (docs/preload.md,
 * man/tide-run.1).
 *
 *   tide-run [--limit SIZE] [--high SIZE] [--low SIZE] [--sources LIST]
 *            [--control] [--verbose] [--no-inherit] -- PROGRAM [ARGS...]
 *   tide-run --show [options]
 *   tide-run --version
 *
 * Checks every value as the shim will (preload/settings.c), sets the TIDE_*
 * variables, puts the shim first in $LD_PRELOAD and execs PROGRAM (searched
 * in PATH as execvp() does, but never handed to /bin/sh).  Exit status:
 * PROGRAM's; 2 for a usage error; 126 when PROGRAM is found but cannot be
 * executed; 127 when it (or the shim) is not found.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <tide/common.h>
#include <tide/pressure.h>

#include "settings.h"

#define SHIM "libtide-preload.so"

#ifndef TIDE_RUN_LIBDIR /* absolute install directory of the shim */
#define TIDE_RUN_LIBDIR "/usr/local/lib"
#endif
#ifndef TIDE_RUN_LIBDIR_REL /* the same, relative to the bin directory */
#define TIDE_RUN_LIBDIR_REL "../lib"
#endif

static void usage(FILE *f)
{
	fputs("usage: tide-run [OPTIONS] -- PROGRAM [ARGS...]\n"
	      "       tide-run --show [OPTIONS]\n"
	      "Run PROGRAM with libtide-preload.so: under memory pressure "
	      "its allocator\ngives free memory back to the kernel.\n\n"
	      "  --limit SIZE     memory limit to act on (TIDE_LIMIT)\n"
	      "  --high SIZE      start reclaiming at this usage (TIDE_HIGH)\n"
	      "  --low SIZE       stop reclaiming under this usage (TIDE_LOW)\n"
	      "  --sources LIST   pressure sources to try, comma separated:\n"
	      "                   watch,psi-cgroup,psi,cgroup2,cgroup1,budget,"
	      "none\n"
	      "  --control        let tidectl inspect and drive it "
	      "(TIDE_CONTROL=1)\n"
	      "  --verbose        one line on stderr: what the shim found\n"
	      "  --no-inherit     programs PROGRAM execs run without the shim\n"
	      "  --show           print the source and the effective limit "
	      "found here\n"
	      "  --help           this text\n"
	      "  --version        print the version\n\n"
	      "SIZE: bytes with an optional K, M, G or T suffix (1024-based), "
	      "or N% of the\neffective limit (of --limit for --high and --low "
	      "when given).\nExit status: PROGRAM's; 2 for a usage error; 126 "
	      "when PROGRAM cannot be\nexecuted; 127 when it or the shim is not found.\n",
	      f);
}

static int usage_error(const char *fmt, const char *arg)
{
	fputs("tide-run: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs("\nTry 'tide-run --help'.\n", stderr);
	return 2;
}

static bool is_file(const char *path)
{
	struct stat st;

	return !stat(path, &st) && S_ISREG(st.st_mode);
}

#define SHIM_DIRS 3

/*
 * The directories the shim is looked for in, in order, into @dirs: this
 * binary's (the build tree), the library directory relative to it (a
 * relocated install), the configured one.  Returns how many.
 */
static int shim_dirs(char dirs[SHIM_DIRS][PATH_MAX])
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;
	int k = 0;

	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			snprintf(dirs[k++], PATH_MAX, "%s", exe);
			if ((size_t)snprintf(dirs[k], PATH_MAX, "%s/%s", exe,
					     TIDE_RUN_LIBDIR_REL) < PATH_MAX)
				k++;
		}
	}
	snprintf(dirs[k++], PATH_MAX, "%s", TIDE_RUN_LIBDIR);
	return k;
}

/* The shim's path into @out, from the first of shim_dirs() that has it. */
static int find_shim(char *out, size_t size)
{
	char dirs[SHIM_DIRS][PATH_MAX];
	int n = shim_dirs(dirs);

	for (int i = 0; i < n; i++)
		if ((size_t)snprintf(out, size, "%s/%s", dirs[i], SHIM) <
			    size &&
		    is_file(out))
			return 0;
	return -ENOENT;
}

/* No shim in any of shim_dirs(): 127, after naming each one. */
static int shim_not_found(void)
{
	char dirs[SHIM_DIRS][PATH_MAX];
	int n = shim_dirs(dirs);

	fprintf(stderr, "tide-run: %s not found in ", SHIM);
	for (int i = 0; i < n; i++)
		fprintf(stderr, "%s%s%s", i ? (i < n - 1 ? ", " : " nor ") : "",
			dirs[i][0] ? dirs[i] : "/",
			i == 0 && n > 1 ? " (next to tide-run)" : "");
	fputc('\n', stderr);
	return 127;
}

/*
 * Output that did not reach its file (a full disk) is a failure, as in
 * tidectl: 1 after saying so; else @status.
 */
static int flushed(int status)
{
	if (fflush(stdout)) {
		fprintf(stderr, "tide-run: write error: %s\n", strerror(errno));
		return 1;
	}
	if (ferror(stdout)) {
		fputs("tide-run: write error\n", stderr);
		return 1;
	}
	return status;
}

static void print_size(const char *what, uint64_t v)
{
	printf("%-12s %llu", what, (unsigned long long)v);
	if (v >= 1u << 20)
		printf(" (%.1f MiB)", (double)v / (1u << 20));
	putchar('\n');
}

/* No monitor can be made of the settings: 1, after saying why. */
static int no_source(int r)
{
	fprintf(stderr, "tide-run: no pressure source: %s\n", strerror(-r));
	return 1;
}

/*
 * The same, before running @prog: the shim will turn itself off quietly
 * and @prog run unprotected.  A wrapper must not break what it wraps: one
 * line on stderr, and @prog runs all the same.
 */
static void warn_no_source(int r, const char *prog)
{
	fprintf(stderr,
		"tide-run: warning: no pressure source (%s): %s runs without "
		"tide; 'tide-run --show' with the same options tells more\n",
		strerror(-r), prog);
}

/* The size settings, and whether an option (not the environment) set it. */
static struct {
	const char *var, *opt;
	bool given;
} sizes[] = {
	{ "TIDE_LIMIT", "--limit", false },
	{ "TIDE_HIGH", "--high", false },
	{ "TIDE_LOW", "--low", false },
};

/*
 * @msg, in the shim's words (settings.h), in the words the user gave: a
 * size set by --limit, --high or --low is named so ("--limit 64G" for
 * "TIDE_LIMIT=64G", "--high" for "TIDE_HIGH"), one from the environment
 * keeps its variable's name.  Into @out; returns @out.
 */
static const char *own_words(const char *msg, char *out, size_t size)
{
	size_t n = 0;

	while (*msg && n + 1 < size) {
		size_t i, vl = 0;
		int w;

		for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			vl = strlen(sizes[i].var);
			if (sizes[i].given && !strncmp(msg, sizes[i].var, vl))
				break;
		}
		if (i == sizeof(sizes) / sizeof(sizes[0])) {
			out[n++] = *msg++;
			continue;
		}
		w = snprintf(out + n, size - n, "%s%s", sizes[i].opt,
			     msg[vl] == '=' ? " " : "");
		if (w < 0 || (size_t)w >= size - n) {
			n = size - 1;
			break;
		}
		n += (size_t)w;
		msg += vl + (msg[vl] == '=');
	}
	out[n] = '\0';
	return out;
}

/*
 * The settings as the shim will resolve them (settings.h), into @cfg.
 * Return: 0; 2 after a usage message for a bad or unresolvable setting;
 * 1 after a message when no monitor can be made of them (with @strict;
 * else 0, the error in *@ret_err: the shim turns itself off quietly, as
 * documented).  Settings the shim ignores are said on stderr, in the
 * user's words (own_words()).
 */
static int resolve(struct tide_monitor_config *cfg, bool strict, int *ret_err)
{
	struct tide__preload_settings s;
	char msg[512], own[640], said[TIDE__PRELOAD_SAID_SIZE];
	int r;

	if (tide__preload_settings_read(&s, msg, sizeof(msg)))
		return usage_error("%s", own_words(msg, own, sizeof(own)));
	r = tide__preload_resolve(&s, cfg, msg, sizeof(msg));
	if (r == -EINVAL && msg[0])
		return usage_error("%s", own_words(msg, own, sizeof(own)));
	/*
	 * What the shim ignores, said here in the user's words; the shim in
	 * PROGRAM, resolving the same line, finds it in TIDE_SAID and stays
	 * quiet, and so do the programs it runs (settings.h).
	 */
	if (!r && msg[0] &&
	    (strict || !tide__preload_was_said(getenv("TIDE_SAID"), msg)))
		fprintf(stderr, "tide-run: warning: %s\n",
			own_words(msg, own, sizeof(own)));
	if (!r && msg[0] && !strict) {
		tide__preload_said_value(msg, said, sizeof(said));
		setenv("TIDE_SAID", said, 1);
	}
	if (r && strict)
		return no_source(r);
	if (ret_err)
		*ret_err = r;
	return 0;
}

/* A monitor of @cfg made and freed at once, never started: 0, or why not. */
static int probe_with(const struct tide_monitor_config *cfg)
{
	struct tide_monitor *m;
	int r = tide_monitor_new(&m, cfg);

	if (!r)
		tide_monitor_free(m);
	return r;
}

/*
 * Would the shim get a monitor of @cfg (resolved without error)?  0, or
 * why not.  The sources other than the two PSI sources first: when one of
 * them opens, so does the shim's monitor, and neither PSI source wrote its
 * triggers (each one's close waits for an RCU grace period: tide-run took
 * 32-48 ms more before the program started).  $MEMORY_PRESSURE_WATCH stays in, as
 * a bad one fails the shim's monitor.  Otherwise the whole mask, whose
 * error is the one the shim's monitor would meet.  (Only running out of
 * descriptors or memory at the PSI sources could fail the shim's monitor
 * after this probe succeeded.)
 */
static int probe_monitor(const struct tide_monitor_config *cfg)
{
	struct tide_monitor_config quick = *cfg;

	quick.sources =
		(cfg->sources ? cfg->sources : TIDE_SOURCE_AUTO) &
		~(TIDE_SOURCE_PSI_CGROUP | TIDE_SOURCE_PSI | TIDE_SOURCE_NONE);
	if (quick.sources && !probe_with(&quick))
		return 0;
	return probe_with(cfg);
}

/*
 * --show: what the shim's monitor finds for this process.  The shim is
 * looked for as a run looks for it: without it nothing would find
 * anything (127, as a run's).
 */
static int show(void)
{
	struct tide_monitor_config cfg;
	struct tide_monitor_limit lim;
	struct tide_monitor *m;
	char names[128], shim[PATH_MAX];
	bool config_limit;
	unsigned allowed;
	bool watermarks, watcher;
	unsigned used;
	int r = resolve(&cfg, true, NULL);

	if (r)
		return r;
	if (find_shim(shim, sizeof(shim)))
		return shim_not_found();
	allowed = cfg.sources;
	r = tide_monitor_new(&m, &cfg);
	if (r)
		return no_source(r);
	tide_monitor_limit(m, &lim);
	config_limit = !strcmp(lim.file, "config");
	used = tide_monitor_source(m);
	/* Only a limit watcher reads a working set; only it and the budget
	 * use watermarks.  For other sources a 0 there would be false. */
	watcher = used & (TIDE_SOURCE_CGROUP1 | TIDE_SOURCE_CGROUP2);
	watermarks = watcher || used & TIDE_SOURCE_BUDGET;
	tide__preload_source_names(used, names, sizeof(names));
	printf("%-12s %s\n", "sources", names);
	tide__preload_source_names(allowed ? allowed : TIDE_SOURCE_AUTO, names,
				   sizeof(names));
	printf("%-12s %s\n", "allowed", names);
	print_size("limit", lim.limit);
	if (config_limit)
		printf("%-12s %s\n", "limit from", "--limit / TIDE_LIMIT");
	else
		printf("%-12s %s%s%s\n", "limit from", lim.dir,
		       lim.dir[0] && lim.file[0] ? "/" : "",
		       lim.file[0] ? lim.file : (lim.dir[0] ? "" : "none"));
	if (lim.version)
		printf("%-12s v%d\n", "cgroup", lim.version);
	if (watcher)
		print_size("working set", lim.working_set);
	else
		printf("%-12s %s\n", "working set", "- (no limit watched)");
	if (watermarks) {
		print_size("high", lim.high);
		print_size("low", lim.low);
	} else {
		printf("%-12s %s\n", "high", "- (no watermark source)");
		printf("%-12s %s\n", "low", "- (no watermark source)");
	}
	printf("%-12s %s\n", "allocator", tide_purge_allocator());
	tide_monitor_free(m);
	return 0;
}

/*
 * The loader this program was linked with (its PT_INTERP), run directly as
 * "ld.so PROGRAM": the loader has no PT_INTERP of its own yet reads
 * LD_PRELOAD for the program it loads.  NULL if not found.
 */
static int first_interp(struct dl_phdr_info *info, size_t size, void *data)
{
	const char **ret = data;

	for (unsigned i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_INTERP) {
			*ret = (const char *)(info->dlpi_addr +
					      info->dlpi_phdr[i].p_vaddr);
			break;
		}
	return 1; /* the first object is the program itself */
}

static bool is_own_loader(const struct stat *st)
{
	const char *interp = NULL;
	struct stat ls;

	dl_iterate_phdr(first_interp, &interp);
	return interp && !stat(interp, &ls) && ls.st_dev == st->st_dev &&
	       ls.st_ino == st->st_ino;
}

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ELF_NATIVE ELFDATA2LSB
#else
#define ELF_NATIVE ELFDATA2MSB
#endif

/*
 * Is @fd an ELF executable without PT_INTERP: statically linked (static
 * PIE too), so no loader runs and nothing reads LD_PRELOAD?  false for
 * anything else, and for what cannot be read or is not of this machine's
 * byte order (the kernel then decides).
 */
static bool elf_without_interp(int fd)
{
	union {
		Elf64_Ehdr e64;
		Elf32_Ehdr e32;
	} h;
	ssize_t n = pread(fd, &h, sizeof(h), 0);
	uint64_t off;
	size_t entsize;
	unsigned num, type;

	if (n < (ssize_t)sizeof(Elf32_Ehdr) ||
	    memcmp(h.e64.e_ident, ELFMAG, SELFMAG) ||
	    h.e64.e_ident[EI_DATA] != ELF_NATIVE)
		return false;
	if (h.e64.e_ident[EI_CLASS] == ELFCLASS64 &&
	    n >= (ssize_t)sizeof(Elf64_Ehdr)) {
		off = h.e64.e_phoff;
		num = h.e64.e_phnum;
		type = h.e64.e_type;
		entsize = h.e64.e_phentsize == sizeof(Elf64_Phdr) ?
				  sizeof(Elf64_Phdr) :
				  0;
	} else if (h.e64.e_ident[EI_CLASS] == ELFCLASS32) {
		off = h.e32.e_phoff;
		num = h.e32.e_phnum;
		type = h.e32.e_type;
		entsize = h.e32.e_phentsize == sizeof(Elf32_Phdr) ?
				  sizeof(Elf32_Phdr) :
				  0;
	} else {
		return false;
	}
	if ((type != ET_EXEC && type != ET_DYN) || !entsize || !num ||
	    num >= PN_XNUM || off > (uint64_t)INT64_MAX / 2)
		return false;
	for (unsigned i = 0; i < num; i++) {
		union {
			Elf64_Phdr p64;
			Elf32_Phdr p32;
		} ph;
		uint32_t pt;

		if (pread(fd, &ph, entsize, (off_t)(off + i * entsize)) !=
		    (ssize_t)entsize)
			return false;
		pt = entsize == sizeof(Elf64_Phdr) ? ph.p64.p_type :
						     ph.p32.p_type;
		if (pt == PT_INTERP)
			return false;
	}
	return true;
}

/*
 * Would exec of @path (@st) run in secure-execution mode, where the loader
 * ignores a preload path with a slash (ld.so(8)), as tide-run's always
 * is?  Set-user-ID to a user other than our real one, or set-group-ID to
 * another group, unless the file system (nosuid) or no_new_privs turns
 * those bits off.  The reason, or NULL.
 */
static const char *secure_exec(const char *path, const struct stat *st)
{
	bool suid = st->st_mode & S_ISUID && st->st_uid != getuid();
	bool sgid =
		(st->st_mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP) &&
		st->st_gid != getgid();
	struct statvfs vfs;

	if (!suid && !sgid)
		return NULL;
	if (!statvfs(path, &vfs) && vfs.f_flag & ST_NOSUID)
		return NULL;
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1)
		return NULL;
	return suid ? "set-user-ID" : "set-group-ID";
}

/*
 * @path (PROGRAM as given: @prog) is about to be executed: if the shim
 * cannot load into it, say so in one line.  It runs all the same.
 */
static void warn_unprotected(const char *path, const char *prog)
{
	struct stat st;
	const char *why;
	int fd;

	if (stat(path, &st) || !S_ISREG(st.st_mode) || access(path, X_OK))
		return;
	why = secure_exec(path, &st);
	if (why) {
		fprintf(stderr,
			"tide-run: warning: %s is %s: the loader ignores "
			"LD_PRELOAD; it runs without tide\n",
			prog, why);
		return;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (elf_without_interp(fd) && !is_own_loader(&st))
		fprintf(stderr,
			"tide-run: warning: %s is statically linked: the shim "
			"cannot load; it runs without tide\n",
			prog);
	close(fd);
}

/*
 * Execute @argv[0] as execvp() does, but never through /bin/sh: a name
 * with a slash is used as it is; else each entry of PATH (unset:
 * /bin:/usr/bin; an empty entry is the current directory) is tried in
 * turn, past files that are missing or that we may not execute (EACCES,
 * kept for the end).  A file the kernel cannot execute (ENOEXEC: no ELF
 * of this machine, no "#!" line) ends the search: execvp() would have
 * handed it to /bin/sh, with the shim loaded.  Each file is checked by
 * warn_unprotected() first.  Returns only on failure: the errno.
 */
static int exec_program(char *const argv[])
{
	const char *file = argv[0], *path = getenv("PATH"), *p, *end;
	char buf[PATH_MAX];
	bool eacces = false;
	int err = ENOENT;

	if (!*file)
		return ENOENT;
	if (strchr(file, '/')) {
		warn_unprotected(file, file);
		execv(file, argv);
		return errno;
	}
	if (!path)
		path = "/bin:/usr/bin";
	for (p = path;; p = end + 1) {
		int n;

		end = strchrnul(p, ':');
		n = end > p ? snprintf(buf, sizeof(buf), "%.*s/%s",
				       (int)(end - p), p, file) :
			      snprintf(buf, sizeof(buf), "%s", file);
		if (n < 0 || (size_t)n >= sizeof(buf)) {
			err = ENAMETOOLONG;
		} else {
			warn_unprotected(buf, file);
			execv(buf, argv);
			err = errno;
			switch (err) {
			case EACCES:
				eacces = true;
				break;
			case ENOENT:
			case ENOTDIR:
			case ESTALE:
			case ENODEV:
			case ETIMEDOUT:
				break;
			default:
				return err;
			}
		}
		if (!*end)
			break;
	}
	return eacces ? EACCES : err;
}

/* The long option whose value is @val. */
static const char *opt_name(const struct option *opts, int val)
{
	for (; opts->name; opts++)
		if (opts->val == val)
			return opts->name;
	return "?";
}

int main(int argc, char **argv)
{
	enum {
		O_LIMIT = 256,
		O_HIGH,
		O_LOW,
		O_SOURCES,
		O_CONTROL,
		O_VERBOSE,
		O_NO_INHERIT,
		O_SHOW,
		O_HELP,
		O_VERSION
	};
	static const struct option opts[] = {
		{ "limit", required_argument, NULL, O_LIMIT },
		{ "high", required_argument, NULL, O_HIGH },
		{ "low", required_argument, NULL, O_LOW },
		{ "sources", required_argument, NULL, O_SOURCES },
		{ "control", no_argument, NULL, O_CONTROL },
		{ "verbose", no_argument, NULL, O_VERBOSE },
		{ "no-inherit", no_argument, NULL, O_NO_INHERIT },
		{ "show", no_argument, NULL, O_SHOW },
		{ "help", no_argument, NULL, O_HELP },
		{ "version", no_argument, NULL, O_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	struct tide__preload_size sz, high = { 0 }, low = { 0 };
	char shim[PATH_MAX], *preload;
	const char *old;
	bool do_show = false;
	int only = 0; /* O_HELP or O_VERSION: the first given */
	unsigned mask;
	int c, err = 0;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
		const char *var = NULL;

		/* "--high -- prog": the value is missing, not "--" */
		if (optarg && optarg == argv[optind - 1] &&
		    !strncmp(optarg, "--", 2))
			return usage_error("--%s needs a value",
					   opt_name(opts, c));
		switch (c) {
		case O_LIMIT:
		case O_HIGH:
		case O_LOW:
			if (tide__preload_parse_size(optarg, &sz))
				return usage_error(
					"bad size '%s': N, NK, NM, NG, NT or "
					"N%% (N > 0, N%% at most 100%%)",
					optarg);
			sizes[c - O_LIMIT].given = true;
			var = sizes[c - O_LIMIT].var;
			if (c == O_HIGH)
				high = sz;
			else if (c == O_LOW)
				low = sz;
			setenv(var, optarg, 1);
			break;
		case O_SOURCES:
			if (tide__preload_parse_sources(optarg, &mask))
				return usage_error(
					"bad source list '%s': comma list of "
					"watch, psi-cgroup, psi, cgroup2, "
					"cgroup1, budget, none",
					optarg);
			setenv("TIDE_SOURCES", optarg, 1);
			break;
		case O_CONTROL:
			setenv("TIDE_CONTROL", "1", 1);
			break;
		case O_VERBOSE:
			setenv("TIDE_VERBOSE", "1", 1);
			break;
		case O_NO_INHERIT:
			setenv("TIDE_INHERIT", "0", 1);
			break;
		case O_SHOW:
			do_show = true;
			break;
		case O_HELP:
		case O_VERSION:
			if (!only)
				only = c;
			break;
		case ':':
			return usage_error("--%s needs a value",
					   opt_name(opts, optopt));
		default:
			/* "-xy": getopt stays inside the cluster, and
			 * argv[optind - 1] is the word before it */
			if (optopt > 0 && optopt < 256) {
				char o[3] = { '-', (char)optopt, 0 };

				return usage_error("unknown option '%s'", o);
			}
			/* "--show=1": a known option given a value */
			if (optopt >= O_LIMIT)
				return usage_error("--%s takes no value",
						   opt_name(opts, optopt));
			return usage_error("unknown option '%s'",
					   argv[optind - 1]);
		}
	}
	/* they run no program: a word after them was meant for something */
	if ((only || do_show) && optind < argc) {
		char why[PATH_MAX + 64];

		snprintf(why, sizeof(why),
			 "extra argument '%s': --%s runs no "
			 "program",
			 argv[optind], opt_name(opts, only ? only : O_SHOW));
		return usage_error("%s", why);
	}
	if (only == O_HELP) {
		usage(stdout);
		return flushed(0);
	}
	if (only == O_VERSION) {
		printf("tide-run (tide) %s\n", TIDE_VERSION_STRING);
		return flushed(0);
	}
	if (high.bytes && low.bytes && low.bytes > high.bytes)
		return usage_error("--low %s is above --high",
				   getenv("TIDE_LOW"));
	if (do_show)
		return flushed(show());
	if (optind >= argc)
		return usage_error("%s", "no program to run");
	/*
	 * What the shim would refuse (one line, then off): refuse it here.
	 * What leaves it without a monitor (off, quietly): say so, and run
	 * the program all the same.
	 */
	{
		struct tide_monitor_config cfg;
		int r = resolve(&cfg, false, &err);

		if (r)
			return r;
		if (!err)
			err = probe_monitor(&cfg);
		if (err)
			warn_no_source(err, argv[optind]);
	}

	if (find_shim(shim, sizeof(shim)))
		return shim_not_found();
	/* The loader splits LD_PRELOAD at spaces and colons: such a path
	 * would preload nothing, silently. */
	if (strpbrk(shim, " :")) {
		fprintf(stderr,
			"tide-run: the shim's path '%s' holds a space or a "
			"colon, which LD_PRELOAD cannot carry; install tide "
			"under a path without them\n",
			shim);
		return 127;
	}
	old = getenv("LD_PRELOAD");
	if (old && *old) {
		if (asprintf(&preload, "%s %s", shim, old) < 0) {
			perror("tide-run");
			return 127;
		}
		setenv("LD_PRELOAD", preload, 1);
		free(preload);
	} else {
		setenv("LD_PRELOAD", shim, 1);
	}
	/* PROGRAM is watched from its start, even when tide-run runs from
	 * under the shim (docs/preload.md, exec) */
	unsetenv("TIDE_NESTED");
	err = exec_program(argv + optind);
	if (err == ENOENT || err == ENOTDIR) {
		fprintf(stderr, "tide-run: cannot run %s: %s\n", argv[optind],
			strerror(err));
		return 127;
	}
	fprintf(stderr, "tide-run: %s: cannot execute: %s\n", argv[optind],
		strerror(err));
	return 126;
}
