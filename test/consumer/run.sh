#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# The consumer test (make consumer-check): rasio as a user gets it. Builds rasio (libraries
# only), installs it into a temporary prefix, then builds test/consumer/main.c out of tree
# against it, shared and static, three ways:
#   1. pkg-config (the static one with pkg-config --static and -static),
#   2. find_package(rasio CONFIG): rasio::rasio and rasio::rasio_static,
#   3. add_subdirectory of this source tree (what FetchContent does),
# runs every program (each must print "OK <backend>"), and checks what was linked: the
# shared programs need librasio.so.0 from the prefix, the static ones need no librasio; the
# installed shared library exports exactly the RASIO_API functions of include/rasio.h.
# Then, when mingw-w64 is installed, the same install for Windows: the DLL, its import
# library and the archive, the DLL's exports, and a consumer linked each way (run under
# Wine when it is installed, in a private WINEPREFIX).
#
# Environment: CC (default cc), JOBS (default 2), MINGW_CC (default x86_64-w64-mingw32-gcc),
# WINE (default wine), RASIO_CONSUMER_KEEP=1 keeps the temporary directory.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/test/consumer
jobs=${JOBS:-2}
cc=${CC:-cc}
mingw_cc=${MINGW_CC:-x86_64-w64-mingw32-gcc}
wine=${WINE:-wine}

work=$(mktemp -d "${TMPDIR:-/tmp}/rasio-consumer.XXXXXX")
if [ "${RASIO_CONSUMER_KEEP:-}" = 1 ]; then
  echo "consumer: keeping $work"
else
  trap 'rm -rf "$work"' EXIT
fi

say() { printf 'consumer: %s\n' "$*"; }
die() { printf 'consumer: FAILED: %s\n' "$*" >&2; exit 1; }

# The checks of what was linked read ELF (readelf, ldd, nm -D): Linux only for now.
if [ "$(uname -s)" != Linux ]; then
  say "skipped: the checks read ELF with readelf and ldd; this is $(uname -s)"
  exit 0
fi
for tool in cmake pkg-config "$cc" nm readelf ldd; do
  command -v "$tool" >/dev/null || die "$tool not found (Debian: apt-get install cmake pkg-config gcc binutils)"
done

# The public functions, as the build reads them (CMakeLists.txt): one per RASIO_API line.
sed -n 's/^RASIO_API .*[ *]\(rasio_[a-z0-9_]*\)(.*/\1/p' "$root/include/rasio.h" | sort \
  >"$work/api.txt"
[ -s "$work/api.txt" ] || die "no RASIO_API function found in include/rasio.h"

# run NAME COMMAND...: runs it, expects "OK <backend>".
run() {
  local name=$1 out
  shift
  out=$("$@") || die "$name: '$*' exited with $?"
  case $out in
    "OK "*) say "$name: $out" ;;
    *) die "$name: '$*' printed '$out', not 'OK <backend>'" ;;
  esac
}

# prints PATTERN COMMAND...: COMMAND's output has a line matching the extended regex PATTERN.
# (Not "COMMAND | grep -q": grep quits at the first match, and under pipefail the writer's
# SIGPIPE would fail the pipeline.)
prints() {
  local pattern=$1 out
  shift
  out=$("$@") || die "'$*' exited with $?"
  grep -Eq -- "$pattern" <<<"$out"
}

# needs_shared NAME PROGRAM LIBDIR: the program loads librasio.so.0 from LIBDIR.
needs_shared() {
  local name=$1 program=$2 libdir=$3 resolved
  prints 'NEEDED.*\[librasio\.so\.0\]' readelf -d "$program" ||
    die "$name: $program does not need librasio.so.0"
  resolved=$(LD_LIBRARY_PATH=$libdir ldd "$program" | awk '$1 == "librasio.so.0" { print $3 }')
  [ "$(readlink -f "$resolved")" = "$(readlink -f "$libdir/librasio.so.0")" ] ||
    die "$name: librasio.so.0 resolves to '$resolved', not the one in $libdir"
}

# needs_no_shared NAME PROGRAM: rasio is linked in (its functions are defined in the program).
needs_no_shared() {
  local name=$1 program=$2
  if prints 'NEEDED.*librasio' readelf -d "$program"; then
    die "$name: $program needs a shared librasio"
  fi
  prints ' T rasio_loop_new$' nm "$program" || die "$name: rasio_loop_new is not in $program"
}

# --- 1. build and install ---------------------------------------------------------------------

prefix=$work/prefix
say "building rasio (libraries only) and installing it into $prefix"
cmake -S "$root" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DRASIO_BUILD_TESTS=OFF \
  -DCMAKE_C_COMPILER="$cc" >"$work/configure.log" || { cat "$work/configure.log"; die "configure"; }
cmake --build "$work/build" -j"$jobs" >"$work/build.log" 2>&1 || { cat "$work/build.log"; die "build"; }
if grep -qi 'warning' "$work/build.log"; then
  cat "$work/build.log"; die "the library build printed a warning"
fi
[ ! -e "$work/build/rasio-unit" ] || die "RASIO_BUILD_TESTS=OFF still built the tests"
cmake --install "$work/build" --prefix "$prefix" >"$work/install.log"

for file in include/rasio.h lib/librasio.a lib/librasio.so lib/librasio.so.0 \
            lib/pkgconfig/rasio.pc lib/cmake/rasio/rasioConfig.cmake \
            lib/cmake/rasio/rasioConfigVersion.cmake share/doc/rasio/LICENSE; do
  [ -e "$prefix/$file" ] || die "not installed: $file"
done
soname=$(readelf -d "$prefix/lib/librasio.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = librasio.so.0 ] || die "the shared library's soname is '$soname', not librasio.so.0"

# Exactly the public functions: nothing internal leaks, and nothing public is missing.
nm -D --defined-only "$prefix/lib/librasio.so" | awk '{ print $NF }' | sort >"$work/exported.txt"
if ! diff -u "$work/api.txt" "$work/exported.txt" >"$work/exports.diff"; then
  cat "$work/exports.diff"
  die "librasio.so exports differ from rasio.h's RASIO_API functions (- missing, + extra)"
fi
say "librasio.so ($soname) exports the $(wc -l <"$work/api.txt") RASIO_API functions, nothing else"

# --- 2. pkg-config ----------------------------------------------------------------------------

# PKG_CONFIG_LIBDIR, not _PATH: only the prefix's rasio.pc, never a system-wide one.
export PKG_CONFIG_LIBDIR=$prefix/lib/pkgconfig
cflags=(-std=c11 -Wall -Wextra -Wpedantic -Werror)
[ "$(pkg-config --modversion rasio)" = "$(sed -n 's/^project(rasio VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")" ] ||
  die "pkg-config --modversion rasio disagrees with CMakeLists.txt"

mkdir -p "$work/pc"
# shellcheck disable=SC2046 # pkg-config's output is a list of words
"$cc" "${cflags[@]}" -o "$work/pc/shared" "$here/main.c" $(pkg-config --cflags --libs rasio)
needs_shared "pkg-config shared" "$work/pc/shared" "$prefix/lib"
run "pkg-config shared" env LD_LIBRARY_PATH="$prefix/lib" "$work/pc/shared"

# With both libraries in one directory the linker prefers librasio.so; -static makes it take
# the archive, and pkg-config --static adds what the archive needs (Libs.private).
# shellcheck disable=SC2046
"$cc" "${cflags[@]}" -static -o "$work/pc/static" "$here/main.c" \
  $(pkg-config --static --cflags --libs rasio) 2>"$work/pc/static.log" ||
  { cat "$work/pc/static.log"; die "pkg-config static: link failed"; }
needs_no_shared "pkg-config static" "$work/pc/static"
run "pkg-config static" "$work/pc/static"

# --- 3. find_package --------------------------------------------------------------------------

say "find_package(rasio CONFIG) with CMAKE_PREFIX_PATH=$prefix"
cmake -S "$here" -B "$work/package" -DRASIO_CONSUMER_MODE=package \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" >"$work/package.log" ||
  { cat "$work/package.log"; die "find_package: configure"; }
cmake --build "$work/package" -j"$jobs" >>"$work/package.log" 2>&1 ||
  { cat "$work/package.log"; die "find_package: build"; }
needs_shared "find_package rasio::rasio" "$work/package/consumer-shared" "$prefix/lib"
run "find_package rasio::rasio" env LD_LIBRARY_PATH="$prefix/lib" "$work/package/consumer-shared"
needs_no_shared "find_package rasio::rasio_static" "$work/package/consumer-static"
run "find_package rasio::rasio_static" "$work/package/consumer-static"

# --- 4. add_subdirectory ----------------------------------------------------------------------

say "add_subdirectory($root)"
cmake -S "$here" -B "$work/subdir" -DRASIO_CONSUMER_MODE=subdir -DRASIO_SOURCE_DIR="$root" \
  -DCMAKE_EXPORT_COMPILE_COMMANDS=ON -DCMAKE_C_COMPILER="$cc" >"$work/subdir.log" ||
  { cat "$work/subdir.log"; die "add_subdirectory: configure"; }
cmake --build "$work/subdir" -j"$jobs" >>"$work/subdir.log" 2>&1 ||
  { cat "$work/subdir.log"; die "add_subdirectory: build"; }
# As a subproject rasio builds its libraries only, leaves the parent's build type alone and
# keeps its warning flags to itself (and off: -Werror only at the top level).
if prints 'rasio-(unit|conformance|fuzz|swarm)' cmake --build "$work/subdir" --target help; then
  die "add_subdirectory: rasio's tests or tools are targets of the parent"
fi
grep -q '^CMAKE_BUILD_TYPE:STRING=$' "$work/subdir/CMakeCache.txt" ||
  die "add_subdirectory: rasio set the parent's CMAKE_BUILD_TYPE"
grep -q '"file": ".*/test/consumer/main.c"' "$work/subdir/compile_commands.json" ||
  die "add_subdirectory: main.c is not in compile_commands.json"
if prints '-Werror|-Wpedantic|-Wshadow' \
     grep -B2 '"file": ".*/test/consumer/main.c"' "$work/subdir/compile_commands.json"; then
  die "add_subdirectory: rasio's warning flags reached the consumer's main.c"
fi
if grep -q -- '-Werror' "$work/subdir/compile_commands.json"; then
  die "add_subdirectory: rasio built with -Werror inside a parent project"
fi
needs_shared "add_subdirectory rasio::rasio" "$work/subdir/consumer-shared" "$work/subdir/rasio"
run "add_subdirectory rasio::rasio" "$work/subdir/consumer-shared"
needs_no_shared "add_subdirectory rasio::rasio_static" "$work/subdir/consumer-static"
run "add_subdirectory rasio::rasio_static" "$work/subdir/consumer-static"

# --- 5. Windows (mingw-w64), when installed ---------------------------------------------------

if ! command -v "$mingw_cc" >/dev/null; then
  say "Windows part skipped: $mingw_cc not found (Debian: apt-get install gcc-mingw-w64-x86-64)"
  say "all native consumer builds passed"
  exit 0
fi
mingw_prefix=${mingw_cc%-gcc}
objdump=$mingw_prefix-objdump
command -v "$objdump" >/dev/null || die "$objdump not found"

winprefix=$work/winprefix
say "cross-building rasio for Windows ($mingw_cc) and installing it into $winprefix"
cmake -S "$root" -B "$work/win" -DCMAKE_TOOLCHAIN_FILE="$root/cmake/mingw-w64.cmake" \
  -DCMAKE_BUILD_TYPE=Release -DRASIO_BUILD_TESTS=OFF -DRASIO_MINGW_CC="$(command -v "$mingw_cc")" \
  >"$work/win-configure.log" ||
  { cat "$work/win-configure.log"; die "Windows: configure"; }
cmake --build "$work/win" -j"$jobs" >"$work/win-build.log" 2>&1 ||
  { cat "$work/win-build.log"; die "Windows: build"; }
if grep -qi 'warning' "$work/win-build.log"; then
  cat "$work/win-build.log"; die "Windows: the library build printed a warning"
fi
cmake --install "$work/win" --prefix "$winprefix" >"$work/win-install.log"
for file in bin/librasio.dll lib/librasio.dll.a lib/librasio.a lib/pkgconfig/rasio.pc \
            lib/cmake/rasio/rasioConfig.cmake include/rasio.h; do
  [ -e "$winprefix/$file" ] || die "Windows: not installed: $file"
done

# The DLL's export table: the lines after "[Ordinal/Name Pointer] Table", "[ n] name".
"$objdump" -p "$winprefix/bin/librasio.dll" |
  sed -n '/\[Ordinal\/Name Pointer\] Table/,/^$/p' | sed -n 's/^\s*\[ *[0-9]*\] \(.*\)$/\1/p' |
  sort >"$work/win-exported.txt"
if ! diff -u "$work/api.txt" "$work/win-exported.txt" >"$work/win-exports.diff"; then
  cat "$work/win-exports.diff"
  die "librasio.dll exports differ from rasio.h's RASIO_API functions (- missing, + extra)"
fi
# Only system DLLs: a Windows machine has them (no libgcc or winpthread DLL to ship along).
"$objdump" -p "$winprefix/bin/librasio.dll" | sed -n 's/^\s*DLL Name: //p' >"$work/win-deps.txt"
if grep -viE '^(kernel32|ntdll|ws2_32|mswsock|msvcrt|ucrtbase|api-ms-win-.*)\.dll$' \
     "$work/win-deps.txt"; then
  die "librasio.dll needs a DLL besides the system's (listed above)"
fi
say "librasio.dll exports the $(wc -l <"$work/api.txt") RASIO_API functions, nothing else;" \
    "needs $(tr '\n' ' ' <"$work/win-deps.txt")"

# The consumer: against the DLL's import library (with RASIO_DLL: dllimport) and against the
# archive (pkg-config --static adds the Winsock libraries).
export PKG_CONFIG_LIBDIR=$winprefix/lib/pkgconfig
mkdir -p "$work/winpc"
# shellcheck disable=SC2046
"$mingw_cc" "${cflags[@]}" -DRASIO_DLL -o "$work/winpc/shared.exe" "$here/main.c" \
  $(pkg-config --cflags --libs rasio)
# shellcheck disable=SC2046
"$mingw_cc" "${cflags[@]}" -static -o "$work/winpc/static.exe" "$here/main.c" \
  $(pkg-config --static --cflags --libs rasio)
prints 'DLL Name: librasio\.dll' "$objdump" -p "$work/winpc/shared.exe" ||
  die "Windows: shared.exe does not import librasio.dll"
if prints 'DLL Name: librasio' "$objdump" -p "$work/winpc/static.exe"; then
  die "Windows: static.exe imports librasio"
fi
cp "$winprefix/bin/librasio.dll" "$work/winpc/" # Windows finds a DLL next to the program

if ! command -v "$wine" >/dev/null; then
  say "Windows programs built, not run: $wine not found"
else
  # A private prefix unless the caller gave one; its first use creates it, noisily.
  export WINEPREFIX=${WINEPREFIX:-$work/wineprefix} WINEDEBUG=-all
  "$wine" cmd /c exit >/dev/null 2>&1 || true
  run "Windows pkg-config shared (Wine)" "$wine" "$work/winpc/shared.exe"
  run "Windows pkg-config static (Wine)" "$wine" "$work/winpc/static.exe"
  "${wine}server" -k 2>/dev/null || true
fi
say "all consumer builds passed"
