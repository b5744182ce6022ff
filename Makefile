# tide - thin driver over CMake.  Every target installs the Debian packages it
# needs when run as root (scripts/deps.sh) and names them otherwise.

BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
WERROR ?= $(if $(CI),ON,OFF)
CONFIGURE = cmake -S . -DTIDE_WERROR=$(WERROR) $(CMAKE_FLAGS)
# Tests at once: JOBS, but one per GiB of the memory the tests may use
# (the cgroups' limit or MemTotal; scripts/test-jobs.sh).  Run in a build
# directory, whose tide-run finds the limit.
TEST_JOBS = $$(sh $(CURDIR)/scripts/test-jobs.sh preload/tide-run $(JOBS))
CTEST = ctest --output-on-failure -j $(TEST_JOBS)
# CMake's generated Makefiles are sub-makes: no Entering/Leaving lines.
MAKEFLAGS += --no-print-directory

.PHONY: all build check demo bench docs asan tsan portable valgrind fuzz \
	format lint install clean deps test-deps package check-deps

all: build

# What building needs (make, make install); the test suite's optional
# packages are test-deps' (make check and the other test runs).
deps:
	@scripts/deps.sh build

test-deps: deps
	@scripts/deps.sh test || echo "deps: optional test packages missing; those tests skip"

build: deps
	$(CONFIGURE) -B $(BUILD) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# The test packages and the event-loop examples' -dev packages first, so
# the build finds them (libsqlite3-dev, GLib, libuv, sd-event).
check-deps: test-deps
	@scripts/deps.sh examples || echo "check: no GLib/libuv/sd-event -dev packages; their examples are skipped"

check: check-deps build
	cd $(BUILD) && $(CTEST)

demo: build
	@scripts/deps.sh demo || echo "demo: gnuplot or python3 unavailable; the table is printed all the same (story 4 needs python3)"
	$(BUILD)/tools/tide-demo --out $(BUILD)/demo

# docs/api.md and man/man3/ from the kernel-doc comments in include/tide/*.h
# (the ctest tests api_doc_current and man_pages_current fail when stale).
docs:
	python3 scripts/gen-api-doc.py
	python3 scripts/gen-man.py

bench:
	@scripts/deps.sh build
	@scripts/deps.sh bench || echo "bench: some peers could not be installed; they are skipped"
	$(CONFIGURE) -DCMAKE_BUILD_TYPE=Release -B $(BUILD)-bench >/dev/null
	cmake --build $(BUILD)-bench -j $(JOBS)
	bench/run.sh $(BUILD)-bench

# ASan + UBSan build running every test.
asan: test-deps
	$(CONFIGURE) -DTIDE_SANITIZE=address -DTIDE_BUILD_BENCH=OFF -B $(BUILD)-asan >/dev/null
	cmake --build $(BUILD)-asan -j $(JOBS)
	cd $(BUILD)-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 $(CTEST)

# ThreadSanitizer build running every test.
tsan: test-deps
	$(CONFIGURE) -DTIDE_SANITIZE=thread -DTIDE_BUILD_BENCH=OFF -B $(BUILD)-tsan >/dev/null
	cmake --build $(BUILD)-tsan -j $(JOBS)
	cd $(BUILD)-tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 $(CTEST)

# The portable map+copy+unmap growth path instead of mremap, every test but
# the preload shim's (python3 under the shim grows no kv block: the shim's
# tests run in check, asan, tsan and valgrind; 45 s of CI); then the library
# and its tests built for 32-bit x86 (-m32: warnings are errors under CI)
# and the self-contained tests run (40 s of building and 25 s of tests on
# 2 cores: 55 s more than the library alone).  Not run there: the preload
# shim's tests and test_purge, whose allocators and python3 are the host's
# 64-bit ones, and the host-pressure tests (real cgroups and PSI, 50 s
# more), which check and the sanitizer builds run.  A kernel without
# 32-bit support (CONFIG_IA32_EMULATION) gets the build only.
PORTABLE_NOT_RUN = ^(test_preload|test_preload_cgroup|test_ctl_preload)$$
M32_NOT_RUN = ^(test_preload|test_preload_cgroup|test_ctl_preload|test_purge|test_pressure|test_pressure_cgroup|test_pressure_move)$$
portable: test-deps
	$(CONFIGURE) -DTIDE_PORTABLE_REMAP=ON -DTIDE_BUILD_BENCH=OFF -DTIDE_BUILD_TOOLS=OFF -B $(BUILD)-portable >/dev/null
	cmake --build $(BUILD)-portable -j $(JOBS)
	cd $(BUILD)-portable && $(CTEST) -E '$(PORTABLE_NOT_RUN)'
	@scripts/deps.sh m32
	CFLAGS="-m32 -Wno-psabi" $(CONFIGURE) -DBUILD_TESTING=ON -DTIDE_BUILD_BENCH=OFF -DTIDE_BUILD_TOOLS=OFF -DTIDE_BUILD_EXAMPLES=OFF -B $(BUILD)-m32 >/dev/null
	cmake --build $(BUILD)-m32 -j $(JOBS)
	cd $(BUILD)-m32 && rc=0; bash -c './test_common none' >/dev/null 2>&1 || rc=$$?; \
	if [ $$rc -eq 126 ]; then \
		echo "portable: this kernel runs no 32-bit programs (exec format error): -m32 built, not run"; \
	else $(CTEST) -E '$(M32_NOT_RUN)'; fi

# The whole test suite under memcheck: any error or definite/indirect leak
# makes valgrind exit 99, which fails the test.  Tests that measure RSS or
# need a sanitizer see TIDE_UNDER_VALGRIND=1 and skip only the measurement.
VALGRIND_OPTS = --error-exitcode=99 --leak-check=full \
	--errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
	--track-fds=no --num-callers=30 \
	--suppressions=$(CURDIR)/tests/valgrind.supp
valgrind: test-deps build
	@scripts/deps.sh valgrind
	cd $(BUILD) && TIDE_UNDER_VALGRIND=1 \
		TIDE_STRESS_MS=2000 ctest --output-on-failure -j $(TEST_JOBS) \
		-E install_consumer -T memcheck \
		--overwrite MemoryCheckCommand=$$(command -v valgrind) \
		--overwrite MemoryCheckCommandOptions="$(VALGRIND_OPTS)"

# libFuzzer targets (clang, ASan + UBSan), each run for FUZZ_SECONDS from
# its seed corpus in fuzz/corpus/.
FUZZ_SECONDS ?= 60
fuzz:
	@scripts/deps.sh fuzz
	fuzz/build.sh $(CURDIR)/$(BUILD)-fuzz
	fuzz/run.sh $(CURDIR)/$(BUILD)-fuzz $(FUZZ_SECONDS)

install: build
	cmake --install $(BUILD) $(if $(PREFIX),--prefix $(PREFIX))

format:
	@scripts/deps.sh lint
	clang-format -i $$(git ls-files '*.c' '*.h' '*.cc')

# clang-tidy runs two files at a time (xargs fails if any run fails).
lint:
	@scripts/deps.sh lint
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h' '*.cc')
	$(CONFIGURE) -B $(BUILD) >/dev/null
	git ls-files 'src/*.c' | xargs -P2 -n4 clang-tidy -p $(BUILD) --quiet 2>/dev/null

# Debian packages (debian/), unpacked into a scratch root where a consumer
# is built with pkg-config and with CMake and run (scripts/package-test.sh).
package:
	@scripts/deps.sh package
	scripts/package-test.sh $(CURDIR)/$(BUILD)-package

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-tsan $(BUILD)-bench $(BUILD)-portable $(BUILD)-m32 \
		$(BUILD)-fuzz $(BUILD)-package
