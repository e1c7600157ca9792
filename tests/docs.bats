#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# docs.bats: the documentation a newcomer reads. README.md stays short (what
# it is, what to type, the common uses) and links the reference in docs/, one
# topic per file; every relative link of README.md and docs/*.md resolves to
# an existing file and heading (tests/doclinks.py).

load lib

setup() {
    rstwatch_setup
    cd "$RSTWATCH_ROOT"
}

teardown() {
    rstwatch_teardown
}

@test "README.md is at most 250 lines, and its first screen says what to type" {
    local n
    n="$(wc -l <README.md)"
    [ "$n" -le 250 ] || { echo "README.md has $n lines (at most 250)" >&2; false; }
    head -n 60 README.md | grep -qF 'make demo' || { echo "make demo is not on README's first screen" >&2; false; }
    head -n 60 README.md | grep -qF 'make test' || { echo "make test is not on README's first screen" >&2; false; }
}

@test "README.md links every page of docs/" {
    local f missing=""
    for f in docs/*.md; do
        grep -qF "]($f" README.md || missing+="$f "
    done
    assert_equal "" "$missing" "docs pages README.md does not link"
}

@test "every relative link of README.md and docs/*.md names an existing file and heading" {
    run python3 tests/doclinks.py README.md docs/*.md
    [ "$status" -eq 0 ] || { echo "$output" >&2; false; }
}

@test "doclinks.py finds a missing file and a missing heading, and accepts good ones" {
    mkdir -p "$T/d/sub"
    printf '# Top\n\n## The record (schema v1, one JSON object per line)\n\n## What cannot be intercepted — and how to tell\n\n## Top\n' >"$T/d/sub/page.md"
    cat >"$T/d/index.md" <<'EOF'
[ok](sub/page.md) [ok](sub/page.md#the-record-schema-v1-one-json-object-per-line)
[ok](sub/page.md#what-cannot-be-intercepted--and-how-to-tell) [ok](sub/page.md#top-1)
[ok](https://example.org/nowhere.md) `[code](nowhere.md)`
```
[in a code block](nowhere.md)
```
[bad file](sub/nowhere.md) and ![bad image](img/none.png)
[bad heading](sub/page.md#no-such-heading)
EOF
    run python3 tests/doclinks.py "$T/d/index.md"
    [ "$status" -eq 1 ] || { echo "$output" >&2; false; }
    assert_equal 3 "${#lines[@]}" "broken links reported: $output"
    [[ "${lines[0]}" == *":7: sub/nowhere.md: no such file"* ]] || { echo "$output" >&2; false; }
    [[ "${lines[1]}" == *":7: img/none.png: no such file"* ]] || { echo "$output" >&2; false; }
    [[ "${lines[2]}" == *":8: sub/page.md#no-such-heading: "*"has no heading"* ]] || { echo "$output" >&2; false; }
}

@test "scripts/screenshot.sh records a real stale keep-alive reset and draws README's picture of it" {
    need_cli
    need_preloadable python3
    [ -x "$RESETD" ] || { echo "$RESETD is missing (run make check-helpers)" >&2; false; }
    run env BUILD="$BUILD_DIR" scripts/screenshot.sh "$T/shot.png"
    [ "$status" -eq 0 ] || { echo "$output" >&2; false; }
    assert_equal "$T/shot.png: 1000x1000, from 2 records" "$output" "screenshot.sh's line"
    run python3 tests/browser/pngcheck.py "$T/shot.png" 1000 1000 50
    [ "$status" -eq 0 ] || { echo "$output" >&2; false; }
    # The picture README shows is one the script made.
    grep -qF '](docs/img/incident.png)' README.md
    run python3 tests/browser/pngcheck.py docs/img/incident.png 1000 1000 50
    [ "$status" -eq 0 ] || { echo "$output" >&2; false; }
}
