#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Compiles every complete C program shown in the documentation, so none can drift from
the API.

Usage: check-examples.py [FILE.md ...]; without arguments README.md and docs/*.md.
A ```c block that defines main() is a complete program: it is compiled against
include/rasio.h with the project's warnings as errors ($CC, default cc). It is compiled,
not linked or run: the check needs no build of the library. Blocks without main() are
fragments and are left alone. Finding no program at all is a failure: the README's net
layer example must be there.
"""
import glob
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS = ["-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Wshadow", "-Wstrict-prototypes",
         "-Werror", "-O2", "-c", "-o", os.devnull]  # -O2: the warnings that need the optimiser


def programs(path):
    """(first line, code) of each ```c block of path that defines main()."""
    block, start = None, 0
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if block is None and re.match(r"^\s*```c\s*$", line):
                block, start = [], n + 1
            elif block is not None and re.match(r"^\s*```\s*$", line):
                code = "".join(block)
                if re.search(r"\bint\s+main\s*\(", code):
                    yield start, code
                block = None
            elif block is not None:
                block.append(line)


def main(argv):
    files = argv or [os.path.join(ROOT, "README.md")] + sorted(
        glob.glob(os.path.join(ROOT, "docs", "*.md")))
    cc = os.environ.get("CC", "cc")
    count, failed = 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        for path in files:
            for start, code in programs(path):
                count += 1
                name = os.path.relpath(path, ROOT)
                src = os.path.join(tmp, f"example{count}.c")
                with open(src, "w", encoding="utf-8") as f:
                    f.write(f'#line {start} "{name}"\n{code}')
                cmd = [cc, *FLAGS, "-I", os.path.join(ROOT, "include"), src]
                r = subprocess.run(cmd, capture_output=True, text=True)
                if r.returncode != 0:
                    failed += 1
                    print(f"{name}:{start}: the example does not compile:\n{r.stderr}")
    print(f"check-examples: {count} program(s) compiled with {cc}, {failed} failed")
    return 1 if failed or count == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
