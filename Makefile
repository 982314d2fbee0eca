# A thin front for CMake and ctest; the build itself is described in CMakeLists.txt.
#
#   make            configure and build into build/
#   make check      build, then run every suite (ctest)
#   make sanitize   ASan+UBSan build in build-asan/ (clang if present), then run the suites
#   make tsan       TSan build in build-tsan/, then run the suites
#   make valgrind   Debug build in build-valgrind/, every test child under valgrind memcheck
#   make demo       build, then run the verified echo swarm (tools/rasio-swarm.c);
#                   extra flags in ARGS, e.g. make demo ARGS="--executor mailbox"
#   make clean      remove the build directories
#
# Environment the suites read: RASIO_REQUIRE=epoll makes an unavailable backend a failure
# instead of a skip; RASIO_TEST_TIMEOUT_SCALE stretches every per-test timeout.

CMAKE ?= cmake
CTEST ?= ctest
JOBS ?= 2
BUILD_TYPE ?= RelWithDebInfo
# Sanitizer builds: clang when installed, else gcc; override with SAN_CC=gcc.
SAN_CC ?= $(shell command -v clang >/dev/null 2>&1 && echo clang || echo gcc)
VALGRIND ?= valgrind --error-exitcode=99 --leak-check=full -q

CTEST_RUN = $(CTEST) --test-dir $(1) --output-on-failure

# Sanitizer reports must fail the test that produced them, never scroll by.
SAN_ENV = ASAN_OPTIONS=halt_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
          TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"

# cmake --build runs make underneath; its directory chatter buries the compiler's messages.
MAKEFLAGS += --no-print-directory

# The demo's defaults: at least 64 connections and 100k verified messages; ARGS come later
# on the command line, so they override these.
DEMO_ARGS ?= --connections 64 --messages 2000
ARGS ?=

.PHONY: all build check sanitize tsan valgrind demo clean

all: build

build:
	$(CMAKE) -S . -B build -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)
	$(CMAKE) --build build -j$(JOBS)

check: build
	$(call CTEST_RUN,build)

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

# The runner prefixes RASIO_TEST_WRAPPER to each test child, so valgrind sees exactly one
# test per process; timeouts are stretched for its ~20x slowdown. DWARF 4, because
# Debian 12's valgrind 3.19 cannot read clang 14's DWARF 5 and gives up on the binary.
valgrind:
	$(CMAKE) -S . -B build-valgrind -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS=-gdwarf-4
	$(CMAKE) --build build-valgrind -j$(JOBS)
	RASIO_TEST_WRAPPER="$(VALGRIND)" RASIO_TEST_TIMEOUT_SCALE=$${RASIO_TEST_TIMEOUT_SCALE:-10} \
	  $(call CTEST_RUN,build-valgrind)

demo: build
	./build/rasio-swarm $(DEMO_ARGS) $(ARGS)

clean:
	rm -rf build build-asan build-tsan build-valgrind
