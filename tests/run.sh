#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run.sh: the suite runner behind `make test`. Runs every unit test program in
# $BUILD/unit/, every tests/*.bats file with `bats --tap` and the extra phases,
# several side by side, shows their TAP output, and ends with exactly one
# summary line:
#
#     N passed, N failed[, N skipped]
#
# Exit status: 0 when nothing failed, 1 otherwise.
#
# Unit programs: a program whose output contains TAP result lines ("ok N",
# "not ok N") is counted per TAP line (and a nonzero exit without any "not ok"
# adds one failure); any other program counts as one test, passed when it
# exits 0. A bats file counts per TAP line; a file that times out, crashes or
# reports fewer results than its plan "1..N" adds the missing ones as failures.
#
# Environment:
#   BUILD          build directory (default: build)
#   SAN_RUNTIME    libasan.so path for sanitized builds (passed to the tests)
#   TESTS          subset, e.g. TESTS="foundation report": names of bats files
#                  (without .bats) and/or unit programs; "unit" = all units
#   FILE_TIMEOUT   seconds allowed per bats file or unit program (default 600:
#                  phases side by side take longer than one alone)
#   SKIP_EXTRA     1: leave out the valgrind, format and sanitizer phases
#   JOBS           phases run side by side (default 3): most phases spend
#                  their time waiting on servers, timeouts and child
#                  processes, so 3 keep 2 cores busy; output is still shown
#                  in queue order
set -u

cd "$(dirname "$0")/.." || exit 2
export BUILD="${BUILD:-build}"
export SAN_RUNTIME="${SAN_RUNTIME:-}"
FILE_TIMEOUT="${FILE_TIMEOUT:-600}"

PASSED=0
FAILED=0
SKIPPED=0
FAILED_NAMES=()

# tap_count NAME FILE [EXIT_STATUS]: adds the TAP results in FILE to the
# totals. Lines "ok N ... # skip ..." count as skipped, "not ok N ... # TODO"
# is ignored (TAP semantics), other "ok"/"not ok" lines pass/fail. When the
# plan promises more results than were seen, or EXIT_STATUS is nonzero
# without any failure reported, the difference counts as failed.
tap_count() {
    local name="$1" file="$2" rc="${3:-0}"
    local line plan=-1 seen=0 failed_here=0 detail=-1 kept=0 after_inner=0
    while IFS= read -r line || [ -n "$line" ]; do
        # keep what a failure's diagnostics say for the summary at the end,
        # which is what survives when a long log is cut in the middle: the
        # first lines, and every nested "not ok" with the line after it
        if [ "$detail" -ge 0 ] && [[ "$line" == "#"* ]]; then
            if [ "$kept" -lt 4 ] || [[ "$line" == *"not ok"* ]] || [ "$after_inner" = 1 ]; then
                after_inner=0
                [[ "$line" == *"not ok"* ]] && after_inner=1
                if [ "$kept" -lt 24 ]; then
                    FAILED_NAMES[detail]+=$'\n#     '"${line:0:300}"
                    kept=$((kept + 1))
                fi
            fi
            continue
        fi
        detail=-1
        case "$line" in
        [0-9]*..[0-9]*)
            if [[ "$line" =~ ^1\.\.([0-9]+) ]]; then plan="${BASH_REMATCH[1]}"; fi
            ;;
        "not ok "*)
            seen=$((seen + 1))
            if [[ "$line" =~ \#[[:space:]]*[Tt][Oo][Dd][Oo] ]]; then continue; fi
            FAILED=$((FAILED + 1))
            failed_here=$((failed_here + 1))
            FAILED_NAMES+=("$name: ${line#not ok }")
            detail=$((${#FAILED_NAMES[@]} - 1)) kept=0 after_inner=0
            ;;
        "ok "*)
            seen=$((seen + 1))
            if [[ "$line" =~ \#[[:space:]]*[Ss][Kk][Ii][Pp] ]]; then
                SKIPPED=$((SKIPPED + 1))
            else
                PASSED=$((PASSED + 1))
            fi
            ;;
        esac
    done <"$file"
    if [ "$plan" -gt "$seen" ]; then
        FAILED=$((FAILED + plan - seen))
        failed_here=$((failed_here + plan - seen))
        FAILED_NAMES+=("$name: $((plan - seen)) planned test(s) never reported (exit status $rc)")
    fi
    if [ "$rc" != 0 ] && [ "$failed_here" = 0 ]; then
        FAILED=$((FAILED + 1))
        FAILED_NAMES+=("$name: exited with status $rc without reporting a failure")
    fi
}

# has_tap FILE: true when FILE holds TAP result lines.
has_tap() {
    grep -qE '^(not )?ok [0-9]+' "$1"
}

# Phases run side by side (JOBS at a time, default 3) and are shown and
# counted afterwards in the order they were queued, so the log reads the same
# whatever finished first. A phase is a name and a command; its output, exit
# status and wall time go to files under $PHASE_DIR.
#
# queue_phase NAME [after=N] CMD...: appends a phase; "after=N" makes it wait
# until phase N (an index printed by `phase_count`) has finished (a build the
# phase needs). Longer phases should be queued first.
JOBS="${JOBS:-3}"
PHASE_DIR="$(mktemp -d "${TMPDIR:-/tmp}/rstwatch-run.XXXXXX")"
trap 'rm -rf "$PHASE_DIR"' EXIT
PHASE_NAMES=()
PHASE_AFTER=()
PHASE_TIMEOUT=()
queue_phase() {
    local i=${#PHASE_NAMES[@]} after=-1
    PHASE_NAMES[i]="$1"
    shift
    if [[ "$1" == after=* ]]; then
        after="${1#after=}"
        shift
    fi
    PHASE_AFTER[i]="$after"
    PHASE_TIMEOUT[i]="$FILE_TIMEOUT"
    # the command and the environment it runs with, for the worker
    {
        printf 'export BUILD=%q SAN_RUNTIME=%q\n' "$BUILD" "$SAN_RUNTIME"
        printf '%q ' "$@"
        echo
    } >"$PHASE_DIR/$i.cmd"
}

# phase_count: the index the next queued phase gets.
phase_count() {
    echo "${#PHASE_NAMES[@]}"
}

# start_phase I: runs phase I in the background, bounded by its timeout.
start_phase() {
    local i=$1
    (
        started=$SECONDS
        timeout -k 10 "${PHASE_TIMEOUT[i]}" bash "$PHASE_DIR/$i.cmd" >"$PHASE_DIR/$i.out" 2>&1 </dev/null
        rc=$?
        echo $((SECONDS - started)) >"$PHASE_DIR/$i.secs"
        echo "$rc" >"$PHASE_DIR/$i.rc.tmp" && mv "$PHASE_DIR/$i.rc.tmp" "$PHASE_DIR/$i.rc"
    ) &
}

# run_phases: starts every queued phase, at most JOBS at a time, each once
# the phase it waits for has finished; returns when all have finished.
run_phases() {
    local n=${#PHASE_NAMES[@]} i next_free running started=() done_count=0 a
    for ((i = 0; i < n; i++)); do started[i]=0; done
    while [ "$done_count" -lt "$n" ]; do
        running=0 done_count=0
        for ((i = 0; i < n; i++)); do
            if [ -e "$PHASE_DIR/$i.rc" ]; then
                done_count=$((done_count + 1))
            elif [ "${started[i]}" = 1 ]; then
                running=$((running + 1))
            fi
        done
        for ((i = 0; i < n && running < JOBS; i++)); do
            [ "${started[i]}" = 0 ] || continue
            a=${PHASE_AFTER[i]}
            if [ "$a" -ge 0 ] && [ ! -e "$PHASE_DIR/$a.rc" ]; then continue; fi
            start_phase "$i"
            started[i]=1
            running=$((running + 1))
        done
        [ "$done_count" -lt "$n" ] && sleep 0.5
    done
    wait
}

# report_phases: shows each phase's output in queue order and counts it as
# TAP; output without TAP lines counts as one test, passed when the phase
# exited 0.
report_phases() {
    local n=${#PHASE_NAMES[@]} i name rc out
    for ((i = 0; i < n; i++)); do
        name="${PHASE_NAMES[i]}" out="$PHASE_DIR/$i.out" rc="$(cat "$PHASE_DIR/$i.rc")"
        echo "# --- $name ($(cat "$PHASE_DIR/$i.secs") s)"
        sed 's/^/    /' "$out" | sed -E 's/^    ((not )?ok [0-9]+|1\.\.[0-9]+)/\1/'
        if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
            echo "# $name: timed out after ${PHASE_TIMEOUT[i]}s"
        fi
        if has_tap "$out"; then
            tap_count "$name" "$out" "$rc"
        elif [ "$rc" = 0 ]; then
            echo "ok - $name"
            PASSED=$((PASSED + 1))
        else
            echo "not ok - $name (exit status $rc)"
            FAILED=$((FAILED + 1))
            FAILED_NAMES+=("$name: exit status $rc")
        fi
    done
}

# print_summary: the failure list, then the one summary line. Returns 1 when
# anything failed.
print_summary() {
    local n
    if [ "${#FAILED_NAMES[@]}" -gt 0 ]; then
        echo "# failures:"
        for n in "${FAILED_NAMES[@]}"; do echo "#   $n"; done
    fi
    if [ "$SKIPPED" -gt 0 ]; then
        echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
    else
        echo "$PASSED passed, $FAILED failed"
    fi
    [ "$FAILED" = 0 ]
}

# design_refs: every citation of a section of docs/design.md in the tree
# (the path, an optional comma, then the section title in double quotes,
# escaped or not) names a heading that exists, so renaming a section cannot leave code pointing
# nowhere. Prints TAP, one line per distinct citation.
design_refs() {
    local refs title n=0 bad=0
    local where=(shim cli tests scripts examples docs README.md Makefile)
    refs="$(grep -rIohE --exclude=design.md 'docs/design\.md,? \\?"[^"\\]+\\?"' "${where[@]}" |
        sed -E 's/^docs\/design\.md,? \\?"//; s/\\?"$//' | sort -u)"
    echo "1..$(printf '%s\n' "$refs" | grep -c .)"
    while IFS= read -r title; do
        [ -n "$title" ] || continue
        n=$((n + 1))
        if grep -qxF "## $title" docs/design.md || grep -qxF "### $title" docs/design.md; then
            echo "ok $n docs/design.md has the section \"$title\""
        else
            echo "not ok $n docs/design.md has no section \"$title\" (cited in: $(grep -rIlF --exclude=design.md "$title" "${where[@]}" | tr '\n' ' '))"
            bad=1
        fi
    done <<<"$refs"
    return "$bad"
}

# selected NAME [GROUP]: true when TESTS is unset or names NAME (or GROUP).
selected() {
    [ -z "${TESTS:-}" ] && return 0
    local t
    for t in $TESTS; do
        if [ "$t" = "$1" ] || { [ -n "${2:-}" ] && [ "$t" = "$2" ]; }; then return 0; fi
    done
    return 1
}

# The checks that catch what a plain run cannot (leaks and invalid accesses
# that do not crash, formatting drift, citations of the design document that
# point nowhere, a peer's test suite that disagrees with a bare run, data
# races): each is part of `make test`, so a regression there fails the suite
# like any test, and each is counted like one. TESTS selects them by name
# ("valgrind", "cpython", "format", "design-refs", "sanitize", "tsan", or
# "extra" for all); SKIP_EXTRA=1 leaves them out (quick local runs). They are
# queued first because they are the longest; the plain suites fill the other
# slots.
extras=0
if [ "${SKIP_EXTRA:-0}" != 1 ] && [ -z "$SAN_RUNTIME" ]; then
    extras=1
fi
if [ "$extras" = 1 ] && selected sanitize extra; then
    # The same suite against the ASan+UBSan build (build-san/), curl excepted
    # (Debian's curl cannot start with libasan preloaded; see tests/lib.bash).
    san_build_phase=$(phase_count)
    FILE_TIMEOUT=1200 queue_phase "sanitize: build with -fsanitize=address,undefined" \
        make --no-print-directory sanitize-build
    san_build=build-san # where `make sanitize-build` puts it
    san_rt="$(${CC:-gcc} -print-file-name=libasan.so)"
    # CPython's socket tests against the sanitized shim (test_asyncio is left
    # to the plain phase: ten minutes under ASan)
    BUILD="$san_build" SAN_RUNTIME="$san_rt" FILE_TIMEOUT=1200 \
        queue_phase "sanitize: cpython" after="$san_build_phase" \
        /usr/bin/python3 tests/cpython/differential.py \
        --modules test_socket,test_socketserver,test_selectors --modes default,retry-idempotent
fi
if [ "$extras" = 1 ] && selected cpython extra; then
    # CPython's own socket/asyncio tests bare and under the shim in three
    # modes, compared per test case. About 4 CPU minutes in all: 4.6 minutes
    # of wall time on 2 cores with load ~5, 13 with load ~15 (hence the bound).
    FILE_TIMEOUT=1200 queue_phase "cpython: a peer's test suite, bare vs under the shim" \
        /usr/bin/python3 tests/cpython/differential.py
fi
if [ "$extras" = 1 ] && selected tsan extra; then
    # ThreadSanitizer over the threaded programs (build-tsan/, see tests/tsan.sh).
    tsan_build_phase=$(phase_count)
    FILE_TIMEOUT=1200 queue_phase "tsan: build with -fsanitize=thread" make --no-print-directory tsan-build
    queue_phase "tsan: threaded programs" after="$tsan_build_phase" tests/tsan.sh
fi
if [ "$extras" = 1 ] && selected valgrind extra && command -v valgrind >/dev/null 2>&1; then
    queue_phase "valgrind" tests/valgrind.sh
fi

# bats suites, one phase per file (so a hung file costs only itself).
if ! command -v bats >/dev/null 2>&1; then
    echo "not ok - bats is not installed (run scripts/install-deps.sh)"
    FAILED=$((FAILED + 1))
else
    for file in tests/*.bats; do
        [ -f "$file" ] || continue
        name="$(basename "$file" .bats)"
        selected "$name" || continue
        queue_phase "$name" bats --tap "$file"
    done
fi

# Unit test programs.
for prog in "$BUILD"/unit/*; do
    [ -f "$prog" ] && [ -x "$prog" ] || continue
    name="$(basename "$prog")"
    selected "$name" unit || continue
    queue_phase "unit/$name" "$prog"
done

if [ "$extras" = 1 ] && selected sanitize extra; then
    # The sanitized unit programs and bats files, once their build is done.
    for src in tests/unit/*.c; do
        name="$(basename "$src" .c)"
        queue_phase "sanitize: unit/$name" after="$san_build_phase" "$san_build/unit/$name"
    done
    for file in tests/*.bats; do
        [ -f "$file" ] || continue
        # A file that tests no shim code of its own (the package build,
        # a peer's own test suite already run three ways) says so with a
        # "# sanitize: skip" line and its reason, and is not run twice.
        grep -q '^# sanitize: skip' "$file" && continue
        BUILD="$san_build" SAN_RUNTIME="$san_rt" \
            queue_phase "sanitize: $(basename "$file" .bats)" after="$san_build_phase" bats --tap "$file"
    done
fi
if [ "$extras" = 1 ] && selected format extra; then
    queue_phase "format-check" scripts/format-check.sh
fi
if [ "$extras" = 1 ] && selected design-refs extra; then
    queue_phase "design-refs" bash -c "$(declare -f design_refs); design_refs"
fi

run_phases
report_phases
print_summary
