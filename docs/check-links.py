#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Fails on a dead relative link in the repository's Markdown files. No network.

Usage: check-links.py [FILE.md ...]; without arguments, every *.md file of the repository
(outside .git and build directories).

Checked, for each [text](target), ![alt](target) and [label]: target outside code:
- a relative path (to the Markdown file's directory; a leading / means the repository's
  root) must name a file or directory that exists;
- an #anchor into a Markdown file (or into the same file) must match one of its headings,
  with GitHub's rule for heading anchors (lower case, punctuation dropped except - and _,
  spaces to -, a repeated heading gets -1, -2, ...), or an explicit <a name="..."> / id;
- #L12 or #L12-L20 into any other file must name lines it has.
Links with a scheme (https:, mailto:, ...) are not fetched: they are counted and skipped.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"|\sid=\"([^\"]+)\"")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def markdown_files():
    for d, dirs, files in os.walk(ROOT):
        dirs[:] = [x for x in dirs if x != ".git" and not x.startswith("build")]
        for f in sorted(files):
            if f.endswith(".md"):
                yield os.path.join(d, f)


def prose_lines(path):
    """(line number, line, line with its code spans blanked) outside fenced code."""
    fenced = False
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if FENCE.match(line):
                fenced = not fenced
                continue
            if not fenced:
                yield n, line, CODE_SPAN.sub(lambda m: " " * len(m.group(0)), line)


def slug(heading):
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)  # code spans keep their text
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links keep their text
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


_anchors = {}


def anchors(path):
    if path not in _anchors:
        found, seen = set(), {}
        for _, line, _ in prose_lines(path):
            m = HEADING.match(line)
            if m:
                base = slug(m.group(2))
                count = seen.get(base, 0)
                seen[base] = count + 1
                found.add(base if count == 0 else f"{base}-{count}")
            for a in HTML_ANCHOR.finditer(line):
                found.add(a.group(1) or a.group(2))
        _anchors[path] = found
    return _anchors[path]


def line_count(path):
    with open(path, "rb") as f:
        return f.read().count(b"\n") + 1


def check_target(src, target):
    """None if target resolves, else the reason it does not."""
    path, _, anchor = target.partition("#")
    if path:
        base = ROOT if path.startswith("/") else os.path.dirname(src)
        dest = os.path.normpath(os.path.join(base, path.lstrip("/")))
        if not os.path.exists(dest):
            return f"{os.path.relpath(dest, ROOT)} does not exist"
    else:
        dest = src
    if not anchor:
        return None
    if os.path.isdir(dest):
        return f"#{anchor} points into a directory"
    if dest.endswith(".md"):
        if anchor not in anchors(dest):
            return f"no heading or anchor #{anchor} in {os.path.relpath(dest, ROOT)}"
        return None
    m = re.fullmatch(r"L(\d+)(?:-L(\d+))?", anchor)
    if m is None:
        return f"#{anchor}: only #L<line> anchors can be checked in {os.path.relpath(dest, ROOT)}"
    if max(int(x) for x in m.groups() if x) > line_count(dest):
        return f"#{anchor} is past the end of {os.path.relpath(dest, ROOT)}"
    return None


def links(path):
    for n, _, line in prose_lines(path):
        for m in INLINE_LINK.finditer(line):
            yield n, m.group(1)
        m = REF_DEF.match(line)
        if m:
            yield n, m.group(1)


def main(argv):
    files = [os.path.abspath(f) for f in argv] or list(markdown_files())
    checked = external = 0
    dead = []
    for path in files:
        for n, target in links(path):
            if not target or SCHEME.match(target):
                external += 1
                continue
            checked += 1
            reason = check_target(path, target)
            if reason:
                dead.append(f"{os.path.relpath(path, ROOT)}:{n}: ({target}) {reason}")
    for d in dead:
        print(d)
    print(f"check-links: {len(files)} files, {checked} relative links checked, "
          f"{len(dead)} dead; {external} external links not fetched")
    return 1 if dead else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
