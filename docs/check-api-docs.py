#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Fails when a public symbol of include/rasio.h has no documentation comment.

Usage: check-api-docs.py HEADER DOCS_OUT, after Doxygen wrote DOCS_OUT (docs/Doxyfile).

Two independent checks, so neither Doxygen's silence nor a parse it got wrong can pass a
symbol without a comment:
1. Doxygen's own warnings (DOCS_OUT/warnings.log) must be empty: it warns about every
   undocumented function, typedef, enum, macro, struct and struct member, and about
   malformed documentation.
2. Doxygen's XML (DOCS_OUT/xml) must hold a documented function for every RASIO_API line of
   the header (read from the header itself, as CMakeLists.txt reads them for the sweep), and
   every struct, struct member, typedef, enum, enum value and macro it lists must carry a
   description. Names starting with RASIO__ are internal, and RASIO_API / RASIO_H are the
   build's business; Doxygen skips them (EXCLUDE_SYMBOLS) and so does this check.
"""
import glob
import os
import re
import sys
import xml.etree.ElementTree as ET

SKIP = re.compile(r"^(RASIO__\w*|RASIO_API|RASIO_H)$")
KINDS = {"function", "typedef", "enum", "enumvalue", "define", "variable"}


def text(node):
    return "".join(node.itertext()).strip() if node is not None else ""


def documented(node):
    return bool(text(node.find("briefdescription")) or text(node.find("detaileddescription")))


def api_names(header):
    names = []
    with open(header, encoding="utf-8") as f:
        for line in f:
            if line.startswith("RASIO_API "):
                m = re.search(r"[ *](rasio_[a-z0-9_]+)\(", line)
                if m is None:
                    sys.exit(f"{header}: no function name on this RASIO_API line: {line.strip()}")
                names.append(m.group(1))
    return names


def scan_xml(xml_dir):
    """Documented functions, and a list of (what, name) left without a description."""
    functions, missing = set(), []
    for path in sorted(glob.glob(os.path.join(xml_dir, "*.xml"))):
        root = ET.parse(path).getroot()
        for compound in root.iter("compounddef"):
            cname = compound.findtext("compoundname")
            if compound.get("kind") in ("struct", "union") and not documented(compound):
                if not SKIP.match(cname):
                    missing.append((compound.get("kind"), cname))
            for m in compound.iter("memberdef"):
                kind, name = m.get("kind"), m.findtext("name")
                if kind not in KINDS or SKIP.match(name):
                    continue
                if kind == "function" and documented(m):
                    functions.add(name)
                # An anonymous enum is only a way to declare constants: what must be
                # documented is each value, by its own comment or by the enum's.
                if not documented(m) and not (kind == "enum" and name.startswith("@")):
                    missing.append((kind, f"{cname}::{name}"))
                for value in m.iter("enumvalue"):
                    vname = value.findtext("name")
                    if not (documented(value) or documented(m) or SKIP.match(vname)):
                        missing.append(("enum value", vname))
    return functions, sorted(set(missing))


def main():
    header, out = sys.argv[1], sys.argv[2]
    failures = []
    log = os.path.join(out, "warnings.log")
    if not os.path.exists(log):
        sys.exit(f"{log} is missing: run doxygen first (make docs)")
    with open(log, encoding="utf-8") as f:
        warnings = [l.rstrip() for l in f if l.strip()]
    failures += [f"doxygen: {w}" for w in warnings]
    functions, missing = scan_xml(os.path.join(out, "xml"))
    failures += [f"no description: {what} {name}" for what, name in missing]
    names = api_names(header)
    failures += [f"RASIO_API {n}: no documented function in the reference" for n in names
                 if n not in functions]
    for f in failures:
        print(f)
    if failures:
        print(f"check-api-docs: {len(failures)} problem(s); every public symbol of {header} "
              "needs a comment (see docs/doxygen-filter.py for what counts as one)")
        return 1
    print(f"check-api-docs: {len(names)} RASIO_API functions and every public type, enum, "
          "macro and member documented")
    return 0


if __name__ == "__main__":
    sys.exit(main())
