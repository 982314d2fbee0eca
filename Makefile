# SPDX-License-Identifier: BSD-2-Clause
# A thin front for CMake and ctest; the build itself is described in CMakeLists.txt.
#
#   make            configure and build into build/
#   make check      build, then run every suite (ctest); then check-windows, when the
#                   cross compiler and Wine are installed (else it says why it skipped it)
#   make check-windows  cross-compile for Windows with mingw-w64 into build-windows/ and run
#                   the same suites under Wine (cmake/mingw-w64.cmake)
#   make sanitize   ASan+UBSan build in build-asan/ (clang if present), then run the suites
#   make tsan       TSan build in build-tsan/, then run the suites
#   make valgrind   Debug build in build-valgrind/, every test child under valgrind memcheck
#   make fuzz       the model-checked operation fuzzer (test/fuzz/) in the ASan+UBSan tree
#                   (build-asan/): a campaign of FUZZ_TIME seconds (default 300) over seeds
#                   FUZZ_START.. (default 1); FUZZ_ARGS adds options (--backend=, --disable=);
#                   make fuzz-tsan: the same in the TSan tree (build-tsan/). A failure prints
#                   its seed: ./build-asan/rasio-fuzz --seed=N replays it
#   make demo       build, then run the verified echo swarm (tools/rasio-swarm.c);
#                   extra flags in ARGS, e.g. make demo ARGS="--executor mailbox"
#   make bench-callgrind  user-space instructions per message of echo rows under callgrind
#   make bench      Release build with the benchmarks into build-bench/, then bench/run.sh
#                   quick (rasio vs libuv, libevent, libev and a raw epoll floor; a few
#                   minutes); make bench-full: the same with >= 5 runs per row (see run.sh)
#   make install    build, then install the header, both libraries, rasio.pc and the CMake
#                   package into PREFIX (default /usr/local; DESTDIR is honoured)
#   make consumer-check  install into a temporary prefix, then build and run a program
#                   against it with pkg-config, find_package and add_subdirectory, shared
#                   and static (test/consumer/run.sh)
#   make clean      remove the build directories
#
# Environment the suites read: RASIO_REQUIRE=epoll makes an unavailable backend a failure
# instead of a skip (naming afd or psn also makes a missing cross compiler or Wine a failure
# of make check); RASIO_TEST_TIMEOUT_SCALE stretches every per-test timeout (default 3 under
# Wine).

CMAKE ?= cmake
CTEST ?= ctest
JOBS ?= 2
BUILD_TYPE ?= RelWithDebInfo
# Sanitizer builds: clang when installed, else gcc; override with SAN_CC=gcc.
SAN_CC ?= $(shell command -v clang >/dev/null 2>&1 && echo clang || echo gcc)
VALGRIND ?= valgrind --error-exitcode=99 --leak-check=full -q
# The Windows suite: this cross compiler, and Wine to run what it builds.
MINGW_CC ?= x86_64-w64-mingw32-gcc
WINE ?= wine

CTEST_RUN = $(CTEST) --test-dir $(1) --output-on-failure

# Sanitizer reports must fail the test that produced them, never scroll by.
SAN_ENV = ASAN_OPTIONS=halt_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
          TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"

# Why check-windows cannot run here (empty: it can), and whether RASIO_REQUIRE insists it must.
WINDOWS_MISSING = $(strip $(if $(shell command -v $(MINGW_CC)),,$(MINGW_CC) not found) \
                          $(if $(shell command -v $(WINE)),,$(WINE) not found))
comma := ,
WINDOWS_REQUIRED = $(filter afd psn psn-model,$(subst $(comma), ,$(RASIO_REQUIRE)))

# ctest shows no output of a skipped test: after a run, each suite's skip reasons, counted.
SKIP_SUMMARY = grep -h '^skipped: ' $(1)/Testing/Temporary/LastTest.log 2>/dev/null | \
               sed -E 's|^skipped: ([^/]*)/[^:]*: |\1: |' | sort | uniq -c | sort -rn | \
               sed 's/^/  skip /'

# cmake --build runs make underneath; its directory chatter buries the compiler's messages.
MAKEFLAGS += --no-print-directory

# The demo's defaults: at least 64 connections and 100k verified messages; ARGS come later
# on the command line, so they override these.
DEMO_ARGS ?= --connections 64 --messages 2000
ARGS ?=

PREFIX ?= /usr/local

.PHONY: all build check check-windows sanitize tsan valgrind demo clean fuzz fuzz-tsan \
        install consumer-check bench-callgrind

all: build

build:
	$(CMAKE) -S . -B build -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)
	$(CMAKE) --build build -j$(JOBS)

check: build
	$(call CTEST_RUN,build)
ifeq ($(WINDOWS_MISSING),)
	$(MAKE) check-windows
else ifneq ($(WINDOWS_REQUIRED),)
	@echo "check-windows skipped: $(WINDOWS_MISSING); RASIO_REQUIRE=$(RASIO_REQUIRE) requires it" >&2
	@exit 1
else
	@echo "check-windows skipped: $(WINDOWS_MISSING) (Debian: apt-get install gcc-mingw-w64-x86-64 wine)"
endif

# The cross build runs every test executable through Wine (CMAKE_CROSSCOMPILING_EMULATOR), so
# ctest runs the same list as natively: unit, conformance.psn (which Wine cannot run: skipped,
# unless RASIO_REQUIRE names psn) and conformance.afd.
check-windows:
	@test -z "$(WINDOWS_MISSING)" || \
	  { echo "check-windows: $(WINDOWS_MISSING) (Debian: apt-get install gcc-mingw-w64-x86-64 wine)" >&2; exit 1; }
	$(CMAKE) -S . -B build-windows -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64.cmake \
	  -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DRASIO_MINGW_CC=$(shell command -v $(MINGW_CC)) \
	  -DCMAKE_CROSSCOMPILING_EMULATOR=$(shell command -v $(WINE)) \
	  -DRASIO_EMULATOR_TIMEOUT_SCALE=$${RASIO_TEST_TIMEOUT_SCALE:-3}
	$(CMAKE) --build build-windows -j$(JOBS)
	@rc=0; $(call CTEST_RUN,build-windows) || rc=$$?; \
	  echo "check-windows: skips by reason (RASIO_REQUIRE=$${RASIO_REQUIRE:-}):"; \
	  $(call SKIP_SUMMARY,build-windows); \
	  exit $$rc

sanitize:
	$(CMAKE) -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=$(SAN_CC) \
	  -DRASIO_SANITIZE=address,undefined
	$(CMAKE) --build build-asan -j$(JOBS)
	$(SAN_ENV) $(call CTEST_RUN,build-asan)

tsan:
	$(CMAKE) -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=$(SAN_CC) \
	  -DRASIO_SANITIZE=thread
	$(CMAKE) --build build-tsan -j$(JOBS)
	$(SAN_ENV) $(call CTEST_RUN,build-tsan)

# The fuzzer's campaigns: seeds from FUZZ_START until FUZZ_TIME seconds have passed (the
# seed count only bounds it). Every failing seed is listed at the end, and the exit status
# says whether there was one.
FUZZ_TIME ?= 300
FUZZ_START ?= 1
FUZZ_ARGS ?=
FUZZ_RUN = $(SAN_ENV) ./$(1)/rasio-fuzz --seeds=100000000 --start=$(FUZZ_START) \
           --time=$(FUZZ_TIME) $(FUZZ_ARGS)

fuzz:
	$(CMAKE) -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=$(SAN_CC) \
	  -DRASIO_SANITIZE=address,undefined
	$(CMAKE) --build build-asan -j$(JOBS) --target rasio-fuzz
	$(call FUZZ_RUN,build-asan)

fuzz-tsan:
	$(CMAKE) -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=$(SAN_CC) \
	  -DRASIO_SANITIZE=thread
	$(CMAKE) --build build-tsan -j$(JOBS) --target rasio-fuzz
	$(call FUZZ_RUN,build-tsan)

# The runner prefixes RASIO_TEST_WRAPPER to each test child, so valgrind sees exactly one
# test per process; timeouts are stretched for its ~20x slowdown. DWARF 4, because
# Debian 12's valgrind 3.19 cannot read clang 14's DWARF 5 and gives up on the binary.
valgrind:
	$(CMAKE) -S . -B build-valgrind -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS=-gdwarf-4
	$(CMAKE) --build build-valgrind -j$(JOBS)
	RASIO_TEST_WRAPPER="$(VALGRIND)" RASIO_TEST_TIMEOUT_SCALE=$${RASIO_TEST_TIMEOUT_SCALE:-10} \
	  $(call CTEST_RUN,build-valgrind)

# cmake --install reads DESTDIR from the environment, as make's own install rules do.
install: build
	$(CMAKE) --install build --prefix $(PREFIX)

consumer-check:
	test/consumer/run.sh

demo: build
	./build/rasio-swarm $(DEMO_ARGS) $(ARGS)

clean:
	rm -rf build build-asan build-tsan build-valgrind build-windows build-bench

# The benchmarks build in their own Release tree; run.sh refuses to run, naming the Debian
# packages, if a program is missing, and writes bench/results/<UTC time>-<quick|full>.*
.PHONY: bench bench-full
bench:
	$(CMAKE) -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DRASIO_BENCH=ON
	$(CMAKE) --build build-bench -j$(JOBS)
	BENCH_BUILD=$(CURDIR)/build-bench bench/run.sh quick

bench-full:
	$(CMAKE) -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DRASIO_BENCH=ON
	$(CMAKE) --build build-bench -j$(JOBS)
	BENCH_BUILD=$(CURDIR)/build-bench bench/run.sh full

# ROWS: server rows by name (empty: bench/callgrind.sh's default seven).
ROWS ?=
bench-callgrind:
	$(CMAKE) -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DRASIO_BENCH=ON
	$(CMAKE) --build build-bench -j$(JOBS)
	BENCH_BUILD=$(CURDIR)/build-bench bench/callgrind.sh $(ROWS)

# The documentation: make docs generates the API reference from include/rasio.h's contract
# comments with Doxygen (docs/Doxyfile) into build/docs/ (html/index.html). make docs-check
# also fails on a public symbol without a comment (docs/check-api-docs.py), a dead relative
# link or anchor in the Markdown files (docs/check-links.py) and a documented program that
# does not compile (docs/check-examples.py). Debian: apt-get install doxygen python3.
DOXYGEN ?= doxygen
PYTHON ?= python3
DOCS_OUT ?= build/docs
RASIO_VERSION_STRING = $(shell sed -n 's/^\#define RASIO_VERSION_[A-Z]* \([0-9]*\).*/\1/p' \
                         include/rasio.h | paste -sd. -)

.PHONY: docs docs-check
docs:
	@command -v $(DOXYGEN) >/dev/null || \
	  { echo "docs: $(DOXYGEN) not found (Debian: apt-get install doxygen)" >&2; exit 1; }
	rm -rf $(DOCS_OUT) && mkdir -p $(DOCS_OUT)
	RASIO_DOCS_OUT=$(DOCS_OUT) RASIO_VERSION=$(RASIO_VERSION_STRING) $(DOXYGEN) docs/Doxyfile
	@echo "docs: $(DOCS_OUT)/html/index.html"

docs-check: docs
	$(PYTHON) docs/check-api-docs.py include/rasio.h $(DOCS_OUT)
	$(PYTHON) docs/check-links.py
	$(PYTHON) docs/check-examples.py
