#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""doclinks.py: every relative link of the given Markdown files resolves.

    tests/doclinks.py FILE.md...

A link is [text](target) or ![alt](target) outside code blocks and inline
code. http(s), mailto and other URL schemes are left alone. A relative
target must name an existing file or directory (relative to the linking
file), and its #anchor, when it has one and names a Markdown file, must be
one of that file's headings as GitHub spells them: lower case, punctuation
other than '-' and '_' dropped, spaces made '-', a repeated heading given
'-1', '-2'. Prints one line per broken link; exit status 1 if any.
"""
import os
import re
import sys

LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^\s*(```|~~~)")


def prose_lines(path):
    """(line number, text) of the lines outside fenced code blocks."""
    fence = None
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            m = FENCE.match(line)
            if m:
                if fence is None:
                    fence = m.group(1)
                elif m.group(1) == fence:
                    fence = None
                continue
            if fence is None:
                yield n, line.rstrip("\n")


def slug(title):
    title = re.sub(r"`|\*\*|\[([^\]]*)\]\([^)]*\)", r"\1", title.strip()).lower()
    title = "".join(c for c in title if c.isalnum() or c in " -_")
    return title.replace(" ", "-")


_anchors = {}


def anchors(path):
    if path not in _anchors:
        seen, out = {}, set()
        for _, line in prose_lines(path):
            m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
            if not m:
                continue
            s = slug(m.group(1))
            n = seen.get(s, 0)
            seen[s] = n + 1
            out.add(s if n == 0 else f"{s}-{n}")
        _anchors[path] = out
    return _anchors[path]


def check(path):
    bad = []
    for n, line in prose_lines(path):
        line = re.sub(r"`[^`]*`", "", line)  # inline code is not a link
        for target in LINK.findall(line):
            if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):
                continue
            file_part, _, anchor = target.partition("#")
            dest = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
            if not os.path.exists(dest):
                bad.append(f"{path}:{n}: {target}: no such file {dest}")
            elif anchor and dest.endswith(".md") and anchor not in anchors(dest):
                bad.append(f"{path}:{n}: {target}: {dest} has no heading #{anchor}")
    return bad


def main(argv):
    if len(argv) < 2:
        print("usage: doclinks.py FILE.md...", file=sys.stderr)
        return 2
    bad = [b for p in argv[1:] for b in check(p)]
    for b in bad:
        print(b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
