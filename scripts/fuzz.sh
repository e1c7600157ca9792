#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# fuzz.sh: builds the libFuzzer targets in tests/fuzz/ with clang
# (-fsanitize=fuzzer,address,undefined) into build-fuzz/ and runs each one for
# a fixed number of executions, printing executions and crashes per target.
#
#   scripts/fuzz.sh                    every target, FUZZ_RUNS executions each
#   FUZZ_RUNS=100000 scripts/fuzz.sh   shorter
#   FUZZ_TARGETS="logread" scripts/fuzz.sh
#
# Environment: FUZZ_RUNS (default 1000000), FUZZ_TARGETS (names without the
# fuzz_ prefix; default all with a source list below), FUZZ_MAX_LEN (default
# 65536), FUZZ_JOBS (parallel fuzzing processes per target, default 1),
# CC (default clang). Seeds: tests/fuzz/corpus_NAME/ (read only; new inputs go
# to build-fuzz/corpus_NAME/); dictionary: tests/fuzz/NAME.dict if present.
# Crash reproducers land in build-fuzz/crashes/. Exit status: 0 when no
# target crashed, 1 otherwise, 2 when a target could not be built.
set -u
cd "$(dirname "$0")/.." || exit 2

CC="${CC:-clang}"
RUNS="${FUZZ_RUNS:-1000000}"
MAX_LEN="${FUZZ_MAX_LEN:-65536}"
JOBS="${FUZZ_JOBS:-1}"
OUT=build-fuzz
CFLAGS=(-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
        -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror -Icli -Ishim)

# sources_for NAME: the project sources a target links (besides tests/fuzz/fuzz_NAME.c).
sources_for() {
    case "$1" in
    logread)
        echo cli/logread.c cli/logfast.c cli/logfields.c cli/logtime.c cli/logscan.c \
            cli/incidents.c cli/counter.c cli/pairs.c cli/report_text.c \
            cli/report_json.c cli/chrome.c cli/html.c cli/html_overview.c cli/html_timeline.c \
            cli/util.c
        ;;
    config)
        echo shim/config.c shim/options.c shim/sink.c shim/strbuf.c shim/real.c
        ;;
    *) return 1 ;;
    esac
}

if [ -n "${FUZZ_TARGETS:-}" ]; then
    targets=($FUZZ_TARGETS)
else
    targets=()
    for f in tests/fuzz/fuzz_*.c; do
        [ -e "$f" ] || continue
        n="${f#tests/fuzz/fuzz_}"
        targets+=("${n%.c}")
    done
fi

mkdir -p "$OUT/crashes"
status=0
for name in "${targets[@]}"; do
    src="tests/fuzz/fuzz_$name.c"
    if ! srcs="$(sources_for "$name")" || [ ! -f "$src" ]; then
        echo "fuzz: $name: no target source or source list (see sources_for in $0)" >&2
        status=2
        continue
    fi
    bin="$OUT/fuzz_$name"
    # shellcheck disable=SC2086
    if ! "$CC" "${CFLAGS[@]}" -o "$bin" "$src" $srcs -ljansson -lm -ldl; then
        echo "fuzz: $name: build failed" >&2
        status=2
        continue
    fi
    corpus="$OUT/corpus_$name"
    mkdir -p "$corpus"
    args=(-runs="$RUNS" -max_len="$MAX_LEN" -artifact_prefix="$OUT/crashes/${name}-"
          -print_final_stats=1)
    [ -f "tests/fuzz/$name.dict" ] && args+=(-dict="tests/fuzz/$name.dict")
    [ "$JOBS" -gt 1 ] && args+=(-jobs="$JOBS" -workers="$JOBS")
    log="$OUT/fuzz_$name.log"
    start=$(date +%s)
    "$bin" "${args[@]}" "$corpus" "tests/fuzz/corpus_$name" >"$log" 2>&1
    rc=$?
    secs=$(($(date +%s) - start))
    execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' |
        awk '{s += $1} END {print s + 0}')"
    crashes="$(find "$OUT/crashes" -name "${name}-*" -newer "$bin" | wc -l)"
    echo "fuzz_$name: $execs executions in ${secs}s, $crashes crashes (exit $rc, log $log)"
    if [ "$rc" != 0 ] || [ "$crashes" != 0 ]; then
        grep -m5 -E 'ERROR: |SUMMARY: |runtime error' "$log" >&2 || tail -20 "$log" >&2
        status=1
    fi
done
exit "$status"
