// SPDX-License-Identifier: MIT
/*
 * bench_vec - a registry workload like binder's all_procs, on tide_vec and
 * its peers, all in one process (they share one malloc).
 *
 * One run: CYCLES spike/fall cycles on a vector of u64.  Spike: push until
 * the vector holds N elements, with a removal at a random index (swap
 * remove) after every 256th push.  Fall: pop until it holds N/100, with a
 * push after every 256th pop.  The operation sequence is the same for every
 * implementation.  After each fall the resident anonymous memory (Anonymous
 * in /proc/self/smaps_rollup, less what the process had before the run) is
 * read outside the timed region.
 *
 * Implementations: tide_vec without and with TIDE_VEC_AUTOTRIM through the
 * typed inline helpers (tide_vec_push_val/tide_vec_pop_val), and without it
 * through tide_vec_push()/tide_vec_pop() called directly, as a program
 * calls them (vec.h compiles them inline; TIDE_NO_INLINE would make them
 * calls); std::vector without and with
 * shrink_to_fit (called on binder's trigger, size < capacity / 4, after each
 * removal); GLib GArray; a plain realloc-doubling C vector.
 *
 * Environment: BENCH_VEC_REPS (default 3), BENCH_VEC_N (default 10000000),
 * BENCH_VEC_CYCLES (default 10), BENCH_VEC_LOAD (CPU-spinning processes
 * beside the run), BENCH_VEC_ONLY (comma-separated name parts: only those
 * implementations, only their verdicts, no small-vector section).  Output:
 * a Markdown section on stdout.  Then the small-vector section (10000
 * vectors of 1..16 or 1..1000 u64, churned or kept, against the realloc
 * vector inline and with out-of-line functions; BENCH_VEC_SMALL=only runs
 * just that, BENCH_VEC_SMALL_REPS passes, default 7; BENCH_VEC_SMALL_ONLY
 * runs one implementation, for profiling).  scripts/bench-vec-loaded.sh
 * runs the AUTOTRIM comparison five times beside a load.
 */
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <malloc.h>
#include <signal.h>
#include <string>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>
#include <vector>

#include <tide.h>

#include "bench.h"

#ifdef TIDE_HAVE_GLIB
#include <glib.h>
#endif

namespace
{

[[noreturn]] void die(const char *what, int err)
{
	fprintf(stderr, "bench_vec: %s: %s\n", what, strerror(err));
	exit(1);
}

/* ---- the implementations ------------------------------------------- */

template <unsigned Flags, bool Fast> struct TideVec {
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, Flags);

	~TideVec()
	{
		tide_vec_destroy(&v);
	}
	size_t len() const
	{
		return v.len;
	}
	void push(uint64_t x)
	{
		/* called directly: the macros of vec.h, as in programs */
		int r = Fast ? tide_vec_push_val(&v, uint64_t, x) :
			       tide_vec_push(&v, &x);
		if (r)
			die("tide_vec_push", -r);
	}
	uint64_t pop()
	{
		uint64_t x;
		int r = Fast ? tide_vec_pop_val(&v, uint64_t, &x) :
			       tide_vec_pop(&v, &x);
		if (r)
			die("tide_vec_pop", -r);
		return x;
	}
	uint64_t swap_remove(size_t i)
	{
		uint64_t x;
		int r = tide_vec_swap_remove(&v, i, &x);
		if (r)
			die("tide_vec_swap_remove", -r);
		return x;
	}
};

template <bool Shrink> struct StdVec {
	std::vector<uint64_t> v;

	size_t len() const
	{
		return v.size();
	}
	void push(uint64_t x)
	{
		v.push_back(x);
	}
	void removed()
	{
		if (Shrink && v.size() < v.capacity() / 4)
			v.shrink_to_fit();
	}
	uint64_t pop()
	{
		uint64_t x = v.back();

		v.pop_back();
		removed();
		return x;
	}
	uint64_t swap_remove(size_t i)
	{
		uint64_t x = v[i];

		v[i] = v.back();
		v.pop_back();
		removed();
		return x;
	}
};

#ifdef TIDE_HAVE_GLIB
struct GArrayVec {
	GArray *a = g_array_new(FALSE, FALSE, sizeof(uint64_t));

	~GArrayVec()
	{
		g_array_free(a, TRUE);
	}
	size_t len() const
	{
		return a->len;
	}
	void push(uint64_t x)
	{
		g_array_append_val(a, x);
	}
	uint64_t pop()
	{
		uint64_t x = g_array_index(a, uint64_t, a->len - 1);

		g_array_set_size(a, a->len - 1);
		return x;
	}
	uint64_t swap_remove(size_t i)
	{
		uint64_t x = g_array_index(a, uint64_t, i);

		g_array_remove_index_fast(a, (guint)i);
		return x;
	}
};
#endif

/* The C vector everybody writes: realloc doubling, never shrinks. */
struct ReallocVec {
	uint64_t *data = nullptr;
	size_t n = 0, cap = 0;

	~ReallocVec()
	{
		free(data);
	}
	size_t len() const
	{
		return n;
	}
	void push(uint64_t x)
	{
		if (n == cap) {
			size_t nc = cap ? 2 * cap : 4;
			void *p = realloc(data, nc * sizeof(*data));

			if (!p)
				die("realloc", ENOMEM);
			data = static_cast<uint64_t *>(p);
			cap = nc;
		}
		data[n++] = x;
	}
	uint64_t pop()
	{
		return data[--n];
	}
	uint64_t swap_remove(size_t i)
	{
		uint64_t x = data[i];

		data[i] = data[--n];
		return x;
	}
};

/*
 * The same vector with push and pop as out-of-line functions of tide's
 * signatures (element by pointer, errno result): what a call costs an
 * inline vector, the reference for tide's function versions.
 */
#if defined(__GNUC__) && !defined(__clang__)
#define BENCH_NOINLINE __attribute__((noipa))
#else
#define BENCH_NOINLINE __attribute__((noinline))
#endif

struct rvec {
	uint64_t *data;
	size_t n, cap;
};

BENCH_NOINLINE int rvec_push(struct rvec *v, const void *elem)
{
	if (v->n == v->cap) {
		size_t nc = v->cap ? 2 * v->cap : 4;
		void *p = realloc(v->data, nc * sizeof(*v->data));

		if (!p)
			return -ENOMEM;
		v->data = static_cast<uint64_t *>(p);
		v->cap = nc;
	}
	memcpy(&v->data[v->n++], elem, sizeof(*v->data));
	return 0;
}

BENCH_NOINLINE int rvec_pop(struct rvec *v, void *out)
{
	if (!v->n)
		return -ENOENT;
	memcpy(out, &v->data[--v->n], sizeof(*v->data));
	return 0;
}

struct ReallocFnVec {
	struct rvec v = { nullptr, 0, 0 };

	~ReallocFnVec()
	{
		free(v.data);
	}
	size_t len() const
	{
		return v.n;
	}
	void push(uint64_t x)
	{
		int r = rvec_push(&v, &x);
		if (r)
			die("rvec_push", -r);
	}
	uint64_t pop()
	{
		uint64_t x;
		int r = rvec_pop(&v, &x);
		if (r)
			die("rvec_pop", -r);
		return x;
	}
};

/* ---- the workload -------------------------------------------------- */

struct Config {
	size_t n, low;
	int cycles, reps;
};

struct Run {
	double secs;
	unsigned long long ops;
	std::vector<long> rss_kb; /* after each fall, over the baseline */
	long trimmed_kb; /* after the last fall and malloc_trim(0) */
	uint64_t sum;
};

inline uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

template <class V> Run run(const Config &c)
{
	Run r{};
	uint64_t rng = 0x9e3779b97f4a7c15ULL, next = 0;
	double t, paused = 0;
	long base;

	malloc_trim(0);
	base = bench_anon_kb();
	t = bench_now();
	{
		V v;

		for (int cyc = 0; cyc < c.cycles; cyc++) {
			double p;

			while (v.len() < c.n) {
				v.push(next++);
				r.ops++;
				if (!(next & 255)) {
					r.sum += v.swap_remove(xorshift(&rng) %
							       v.len());
					r.ops++;
				}
			}
			while (v.len() > c.low) {
				r.sum += v.pop();
				r.ops++;
				if (!(r.ops & 255)) {
					v.push(next++);
					r.ops++;
				}
			}
			p = bench_now();
			r.rss_kb.push_back(bench_anon_kb() - base);
			/*
			 * After the last fall only (no later cycle pays for
			 * it): the same with the allocator's free memory
			 * handed back, so that what stays is what the
			 * implementation holds.
			 */
			if (cyc == c.cycles - 1) {
				malloc_trim(0);
				r.trimmed_kb = bench_anon_kb() - base;
			}
			paused += bench_now() - p;
		}
	}
	r.secs = bench_now() - t - paused;
	return r;
}

struct Impl {
	const char *name;
	Run (*fn)(const Config &);
	bool peer; /* a peer (not tide) */
	std::vector<double> secs;
	std::vector<long> rss_kb; /* every fall of every repetition */
	unsigned long long ops;
	uint64_t sum;
	std::vector<long> trimmed_kb; /* the last fall of each, trimmed */
};

double median(std::vector<double> v)
{
	std::sort(v.begin(), v.end());
	size_t n = v.size();
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double median_l(const std::vector<long> &v)
{
	return median(std::vector<double>(v.begin(), v.end()));
}

const Impl *find(const std::vector<Impl> &impls, const char *name)
{
	for (const Impl &im : impls)
		if (!strcmp(im.name, name))
			return &im;
	return nullptr;
}

long env_num(const char *name, long def)
{
	const char *s = getenv(name);
	long v = s ? strtol(s, nullptr, 10) : 0;

	return v > 0 ? v : def;
}

/* ---- small vectors: many short-lived or many kept ------------------- */

/*
 * One pass: NVEC vectors, vector i gets 1 + hash(i) % maxn elements.
 * churn: each vector is created, filled, emptied by pops and destroyed
 * before the next; keep: all are filled first (alive together), then each
 * is emptied and destroyed.  Returns ns per element operation (push or
 * pop).  The implementations are the ones above; the realloc vector is the
 * reference.
 *
 * The loops work through a local pointer to the vector and add into a
 * local sum, as a program would.  Until 0.2.14 they went through vs[i] and
 * *sum: once a loop holds any call, even one never taken (tide's
 * fallbacks), GCC reloads vs[i] after it and must assume a store through
 * sum may change the vector's length, so every pop reloaded the length
 * and added to memory; the realloc vector's loops have no call and kept
 * both in registers.  That measured the benchmark's aliasing, not the
 * vectors (docs/benchmarks.md, "vec: small vectors").
 */
template <class V, int Copy>
double small_pass(size_t maxn, bool keep, uint64_t *sum)
{
	enum { NVEC = 10000 };
	static V *vs[NVEC];
	unsigned long long ops = 0;
	uint64_t acc = 0;
	double t = bench_now();

	while (ops < 4000000) {
		for (size_t i = 0; i < NVEC; i++) {
			size_t k = 1 + (i * 2654435761u >> 7) % maxn;
			V *v = new V;

			vs[i] = v;
			for (size_t j = 0; j < k; j++)
				v->push(j);
			ops += k;
			if (!keep) {
				while (v->len())
					acc += v->pop();
				ops += k;
				delete v;
			}
		}
		if (keep) {
			for (size_t i = 0; i < NVEC; i++) {
				V *v = vs[i];

				ops += v->len();
				while (v->len())
					acc += v->pop();
				delete v;
			}
		}
	}
	*sum += acc;
	return (bench_now() - t) * 1e9 / (double)ops;
}

/*
 * An experiment, not an API: tide_vec with the inline helpers, but pops
 * read the last element with no check, as the realloc vector's do (valid
 * here: the loops pop only non-empty vectors without AUTOTRIM).  What is
 * left between it and "tide_vec (inline helpers)" is the price of the
 * checked pop: two more compares (pop_floor, and the AUTOTRIM flag), and
 * the buffer pointer loaded again in each pop, as the fallback call's path
 * joins the loop.
 */
struct TideVecUncheckedPop : TideVec<0, true> {
	uint64_t pop()
	{
		return static_cast<uint64_t *>(v.data)[--v.len];
	}
};

/*
 * Where a loop of a nanosecond per element lies moves its time by tens of
 * percent here (alignment and branch-predictor effects): every
 * implementation exists in NCOPY copies at different code addresses, round
 * r runs copy r % NCOPY of each, and the realloc vector has a second set of
 * copies, the control: the same code against itself.
 */
enum { NCOPY = 4 };

struct SmallImpl {
	const char *name;
	double (*fn[NCOPY])(size_t, bool, uint64_t *);
};

#define SMALL_COPIES(V, base)                                            \
	{                                                                \
		small_pass<V, base>, small_pass<V, base + 1>,            \
			small_pass<V, base + 2>, small_pass<V, base + 3> \
	}

using TideInl = TideVec<0, true>;
using TideFn = TideVec<0, false>;
using StdPlain = StdVec<false>;

void small_section(int reps)
{
	const SmallImpl impls[] = {
		{ "tide_vec (inline helpers)", SMALL_COPIES(TideInl, 0) },
		{ "tide_vec (functions)", SMALL_COPIES(TideFn, 0) },
		{ "realloc vector", SMALL_COPIES(ReallocVec, 0) },
		{ "realloc vector (functions)", SMALL_COPIES(ReallocFnVec, 0) },
		{ "std::vector", SMALL_COPIES(StdPlain, 0) },
		{ "realloc vector (control)", SMALL_COPIES(ReallocVec, 4) },
		{ "tide_vec (inline, unchecked pops)",
		  SMALL_COPIES(TideVecUncheckedPop, 0) },
	};
	enum { INL, FN, RV, RVFN, STD, CTL, UNCH, NIMPL };
	const size_t maxns[] = { 16, 1000 };
	double worst = 0, worst_fn = 0;
	uint64_t sum = 0;
	/* A profiling aid: run only the implementations whose name has it. */
	const char *only = getenv("BENCH_VEC_SMALL_ONLY");

	printf("\n## vec: small vectors\n\n");
	printf("10000 vectors of u64, vector i holding 1 + hash(i) %% N "
	       "elements (N = 16 or 1000). *churn*: each is created, filled by "
	       "pushes, emptied by pops and destroyed before the next; *keep*: "
	       "all are filled first and live together, then emptied and "
	       "destroyed; a pass repeats that until it made at least 4 M "
	       "operations. ns per push or pop, median of %d passes; the "
	       "implementations run one pass each in turn (rotating order) in "
	       "one process, and a ratio is the median over the rounds of "
	       "that round's ratio, so that a load that comes and goes "
	       "cancels out. Each loop reaches its vector through a local "
	       "pointer and sums the pops into a local, as a program would. "
	       "Reference: the plain realloc-doubling C vector "
	       "(inline). *tide functions*: tide_vec_push()/tide_vec_pop() "
	       "called directly, as a program calls them (vec.h compiles them "
	       "inline unless TIDE_NO_INLINE); *realloc functions*: the realloc "
	       "vector with push and pop as out-of-line functions of tide's "
	       "signatures (the price of an out-of-line call). Every "
	       "implementation exists in %d copies at different code "
	       "addresses, round r runs copy r mod %d of each; *control*: a "
	       "second set of copies of the realloc vector against the first "
	       "(the same code: how far placement alone moves a ratio). "
	       "Command: `BENCH_VEC_SMALL=only build-bench/bench/bench_vec` "
	       "(BENCH_VEC_SMALL_REPS).\n\n",
	       reps, (int)NCOPY, (int)NCOPY);
	printf("| case | tide inline | tide functions | realloc vector | "
	       "realloc functions | std::vector | control | tide inline, "
	       "unchecked pops |\n"
	       "|---|---:|---:|---:|---:|---:|---:|---:|\n");
	for (size_t m = 0; m < 2; m++) {
		for (int keep = 0; keep < 2; keep++) {
			std::vector<double> t[NIMPL], r_inl, r_fn, r_call,
				r_ctl, r_unch;
			double med[NIMPL];

			for (int r = 0; r < reps; r++) {
				double now[NIMPL];

				for (size_t k = 0; k < NIMPL; k++) {
					size_t i = (k + (size_t)r) % NIMPL;

					now[i] = only && !strstr(impls[i].name,
								 only) ?
							 1 :
							 impls[i].fn[r % NCOPY](
								 maxns[m], keep,
								 &sum);
					t[i].push_back(now[i]);
				}
				r_inl.push_back(now[INL] / now[RV]);
				r_fn.push_back(now[FN] / now[RV]);
				r_call.push_back(now[FN] / now[RVFN]);
				r_ctl.push_back(now[CTL] / now[RV]);
				r_unch.push_back(now[UNCH] / now[RV]);
			}
			for (size_t i = 0; i < NIMPL; i++)
				med[i] = median(t[i]);
			printf("| 1..%zu, %s | %.3f (%.3f×) | %.3f (%.3f×; "
			       "%.3f× of realloc functions) | %.3f | %.3f | "
			       "%.3f | %.3f× | %.3f (%.3f×) |\n",
			       maxns[m], keep ? "keep" : "churn", med[INL],
			       median(r_inl), med[FN], median(r_fn),
			       median(r_call), med[RV], med[RVFN], med[STD],
			       median(r_ctl), med[UNCH], median(r_unch));
			worst = std::max(worst, median(r_inl));
			worst = std::max(worst, median(r_fn));
			worst_fn = std::max(worst_fn, median(r_call));
		}
	}
	printf("\nGoal: tide_vec within 1.05× of the realloc vector in every "
	       "case, inline helpers and functions: worst %.3f× — **%s**.\n",
	       worst, worst <= 1.05 ? "met" : "not met");
	printf("\nAgainst the realloc vector with out-of-line functions "
	       "(the same call on both sides), tide's functions are at worst "
	       "%.3f×.\n",
	       worst_fn);
	if (sum == 42)
		printf("\n");
	fflush(stdout);
}

/*
 * BENCH_VEC_LOAD=N: N child processes spin on the CPU for the whole run (a
 * stress-like load in the same process tree, so "on a loaded machine" is
 * reproducible); they die with the parent.
 */
std::vector<pid_t> start_load(int n)
{
	std::vector<pid_t> kids;

	for (int i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid == 0) {
			volatile unsigned long x = 0;

			prctl(PR_SET_PDEATHSIG, SIGKILL);
			for (;;)
				x = x + 1;
		}
		if (pid > 0)
			kids.push_back(pid);
	}
	return kids;
}

void stop_load(const std::vector<pid_t> &kids)
{
	for (pid_t pid : kids) {
		kill(pid, SIGKILL);
		waitpid(pid, nullptr, 0);
	}
}

} // namespace

int main()
{
	Config c;

	const char *sm = getenv("BENCH_VEC_SMALL");

	if (sm && !strcmp(sm, "only")) {
		small_section((int)env_num("BENCH_VEC_SMALL_REPS", 7));
		return 0;
	}
	std::vector<Impl> impls = {
		{ "tide_vec", run<TideVec<0, true>>, false, {}, {}, 0, 0 },
		{ "tide_vec + AUTOTRIM",
		  run<TideVec<TIDE_VEC_AUTOTRIM, true>>,
		  false,
		  {},
		  {},
		  0,
		  0 },
		{ "tide_vec (function calls)",
		  run<TideVec<0, false>>,
		  false,
		  {},
		  {},
		  0,
		  0 },
		{ "std::vector", run<StdVec<false>>, true, {}, {}, 0, 0 },
		{ "std::vector + shrink_to_fit",
		  run<StdVec<true>>,
		  true,
		  {},
		  {},
		  0,
		  0 },
#ifdef TIDE_HAVE_GLIB
		{ "GArray", run<GArrayVec>, true, {}, {}, 0, 0 },
#endif
		{ "realloc vector", run<ReallocVec>, true, {}, {}, 0, 0 },
	};

	int load = getenv("BENCH_VEC_LOAD") ?
			   (int)env_num("BENCH_VEC_LOAD", 0) :
			   0;
	std::vector<pid_t> kids = start_load(load);

	c.n = (size_t)env_num("BENCH_VEC_N", 10000000);
	c.low = c.n / 100;
	c.cycles = (int)env_num("BENCH_VEC_CYCLES", 10);
	c.reps = (int)env_num("BENCH_VEC_REPS", 3);

	/* BENCH_VEC_ONLY: names containing one of its comma-separated parts. */
	if (const char *only = getenv("BENCH_VEC_ONLY")) {
		std::vector<Impl> keep;
		std::string list(only);

		for (const Impl &im : impls) {
			size_t at = 0;

			while (at <= list.size()) {
				size_t end = list.find(',', at);
				std::string part = list.substr(
					at, end == std::string::npos ?
						    std::string::npos :
						    end - at);

				if (!part.empty() &&
				    strstr(im.name, part.c_str())) {
					keep.push_back(im);
					break;
				}
				if (end == std::string::npos)
					break;
				at = end + 1;
			}
		}
		impls = keep;
	}
	for (int rep = 0; rep < c.reps; rep++) {
		/* Rotate the order so no implementation always runs first. */
		for (size_t k = 0; k < impls.size(); k++) {
			Impl &im = impls[(k + rep) % impls.size()];
			Run r = im.fn(c);

			if (im.ops && (im.ops != r.ops || im.sum != r.sum)) {
				fprintf(stderr, "bench_vec: %s diverged\n",
					im.name);
				return 1;
			}
			im.ops = r.ops;
			im.sum = r.sum;
			im.secs.push_back(r.secs);
			im.rss_kb.insert(im.rss_kb.end(), r.rss_kb.begin(),
					 r.rss_kb.end());
			im.trimmed_kb.push_back(r.trimmed_kb);
			fprintf(stderr, "bench_vec: rep %d %-38s %.3f s\n", rep,
				im.name, r.secs);
		}
	}

	stop_load(kids);

	const double live = (double)c.low * sizeof(uint64_t);
	double fastest_peer = 1e300, std_shrink = 0;
	const Impl *fastest = nullptr;

	for (const Impl &im : impls) {
		double m = median(im.secs);

		if (im.peer && m < fastest_peer) {
			fastest_peer = m;
			fastest = &im;
		}
		if (!strcmp(im.name, "std::vector + shrink_to_fit"))
			std_shrink = m;
	}

	char load_cmd[64] = "", loadavg[64] = "unknown";
	if (load)
		snprintf(load_cmd, sizeof(load_cmd), "BENCH_VEC_LOAD=%d ",
			 load);
	if (FILE *f = fopen("/proc/loadavg", "re")) {
		if (fscanf(f, "%63s", loadavg) != 1)
			snprintf(loadavg, sizeof(loadavg), "unknown");
		fclose(f);
	}

	printf("## vec: spike/fall registry workload (binder all_procs)\n\n");
	printf("%d cycles: push to %zu u64 (a random swap-remove every 256 "
	       "pushes), pop to %zu (a push every 256 pops); %llu operations "
	       "per run, the same sequence for every implementation, all in "
	       "one process.  Median of %d runs; RSS is the resident "
	       "anonymous memory after each fall (smaps_rollup), over the "
	       "process's before the run, median over %d falls per "
	       "implementation; *after malloc_trim*: after the last fall "
	       "of each run and malloc_trim(0), median over the runs.  Live "
	       "data after a fall: %.2f MiB.  "
	       "`std::vector + shrink_to_fit` calls `shrink_to_fit()` after a "
	       "removal when size < capacity / 4 (binder's trigger).  "
	       "Command: `%sbuild-bench/bench/bench_vec` (BENCH_VEC_REPS, "
	       "BENCH_VEC_N, BENCH_VEC_CYCLES; BENCH_VEC_LOAD=N runs N "
	       "CPU-spinning processes beside it).  Load average at the end: "
	       "%s.\n\n",
	       c.cycles, c.n, c.low, impls[0].ops, c.reps, c.reps * c.cycles,
	       live / 1048576, load_cmd, loadavg);
	printf("| implementation | time (s) | Mops/s | time / fastest peer | "
	       "RSS after fall (MiB) | RSS / live | after malloc_trim "
	       "(MiB) |\n");
	printf("|---|---:|---:|---:|---:|---:|---:|\n");
	for (const Impl &im : impls) {
		double m = median(im.secs), rss = median_l(im.rss_kb) * 1024;

		printf("| %s | %.3f | %.1f | %.2f | %.2f | %.2f | %.2f |\n",
		       im.name, m, im.ops / m / 1e6, m / fastest_peer,
		       rss / 1048576, rss / live,
		       median_l(im.trimmed_kb) / 1024);
	}

	/*
	 * With a subset (BENCH_VEC_ONLY) only the verdicts whose
	 * implementations ran are printed, and no small-vector section.
	 */
	const Impl *plain = find(impls, "tide_vec");
	const Impl *aut = find(impls, "tide_vec + AUTOTRIM");
	const bool all = !getenv("BENCH_VEC_ONLY");

	printf("\nGoals:\n\n");
	if (plain && fastest) {
		double t_plain = median(plain->secs);

		printf("- tide_vec without AUTOTRIM within 5%% of the fastest "
		       "peer (%s, %.3f s): %.3f s, %+.1f%% — **%s**.\n",
		       fastest->name, fastest_peer, t_plain,
		       (t_plain / fastest_peer - 1) * 100,
		       t_plain <= 1.05 * fastest_peer ? "met" : "not met");
	}
	if (aut && std_shrink) {
		double t_auto = median(aut->secs);

		printf("- tide_vec + AUTOTRIM at least 5× faster than "
		       "std::vector + shrink_to_fit: %.3f s vs %.3f s, %.2f× — "
		       "**%s**.\n",
		       t_auto, std_shrink, std_shrink / t_auto,
		       std_shrink >= 5 * t_auto ? "met" : "not met");
	}
	if (aut) {
		double rss_auto_max = 0, trim_max = 0;
		for (long kb : aut->rss_kb)
			rss_auto_max = std::max(rss_auto_max, kb * 1024.0);
		for (long kb : aut->trimmed_kb)
			trim_max = std::max(trim_max, kb * 1024.0);
		double rss_auto = median_l(aut->rss_kb) * 1024;
		double bound = 2 * live + 4096;

		printf("- tide_vec + AUTOTRIM RSS after a fall ≤ 2 × live + one "
		       "page (%.2f MiB), with malloc's free memory handed back "
		       "(malloc_trim after the last fall of each run): worst "
		       "%.2f MiB (%.2f × live) — **%s**.  Without the trim "
		       "(every fall; includes up to 64 KiB that glibc keeps "
		       "from the vector's heap-sized start): median %.2f MiB, "
		       "worst %.2f MiB (%.2f × live).\n",
		       bound / 1048576, trim_max / 1048576, trim_max / live,
		       trim_max <= bound ? "met" : "not met",
		       rss_auto / 1048576, rss_auto_max / 1048576,
		       rss_auto_max / live);
	}
	if (all)
		small_section((int)env_num("BENCH_VEC_SMALL_REPS", 7));
	return 0;
}
