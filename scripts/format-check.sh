#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# format-check.sh: every C file matches .clang-format. Prints the offenders and
# exits 1 when one does not.
set -u
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "format-check: clang-format not installed" >&2; exit 1; }
bad=0
for f in $(git ls-files '*.c' '*.h'); do
  if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
    echo "format-check: $f is not clang-formatted (run: make format)"
    bad=1
  fi
done
exit $bad
