# SPDX-License-Identifier: BSD-2-Clause
# Cross-compiling rasio for 64-bit Windows with mingw-w64 from Linux (Debian's
# gcc-mingw-w64-x86-64), running the test suites under Wine:
#
#   cmake -S . -B build-windows -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64.cmake
#   cmake --build build-windows && ctest --test-dir build-windows --output-on-failure
#
# (`make check-windows` does exactly this.) CMAKE_CROSSCOMPILING_EMULATOR makes ctest run
# each test executable through Wine, so the Windows build runs the very same test list as
# the native ones. Overridable on the command line: -DRASIO_MINGW_PREFIX=i686-w64-mingw32,
# -DCMAKE_CROSSCOMPILING_EMULATOR=/opt/wine-devel/bin/wine (or "" to build without running).

set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(RASIO_MINGW_PREFIX "x86_64-w64-mingw32" CACHE STRING "mingw-w64 target triplet")

find_program(RASIO_MINGW_CC NAMES ${RASIO_MINGW_PREFIX}-gcc ${RASIO_MINGW_PREFIX}-gcc-win32
             ${RASIO_MINGW_PREFIX}-gcc-posix)
if(NOT RASIO_MINGW_CC)
  message(FATAL_ERROR "mingw-w64: ${RASIO_MINGW_PREFIX}-gcc not found "
                      "(Debian/Ubuntu: apt-get install gcc-mingw-w64-x86-64)")
endif()
set(CMAKE_C_COMPILER ${RASIO_MINGW_CC})
find_program(CMAKE_RC_COMPILER NAMES ${RASIO_MINGW_PREFIX}-windres)

# Headers and libraries from the target's sysroot only; programs (the emulator) from the host.
set(CMAKE_FIND_ROOT_PATH /usr/${RASIO_MINGW_PREFIX})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Fully static executables: libgcc and winpthreads (which only the test programs use) are
# linked in, so Wine or a bare Windows machine runs them without hunting for mingw DLLs.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")

# ctest runs every test executable through this. Wine's own noise (WINEDEBUG) and slowness
# (RASIO_TEST_TIMEOUT_SCALE) are handled where the tests are declared, in CMakeLists.txt.
if(NOT DEFINED CMAKE_CROSSCOMPILING_EMULATOR)
  find_program(RASIO_WINE NAMES wine wine64 wine-stable)
  if(RASIO_WINE)
    set(CMAKE_CROSSCOMPILING_EMULATOR ${RASIO_WINE} CACHE STRING
        "Runs the Windows test executables on this host")
  else()
    message(WARNING "mingw-w64: wine not found; the tests build but ctest cannot run them")
  endif()
endif()
