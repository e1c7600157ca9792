#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The differential fuzzer's short run: a fixed range of generated socket-API
# sequences (sockets, every send/recv variant, sendfile/splice, dup*, fork,
# threads, signal handlers, fd reuse, HTTP/1.1 keep-alive, pipelining, resets)
# runs bare and under the shim; every call's result, the peer's bytes and the
# shim's records must agree (tests/fuzzdiff/fuzzdiff.py explains the rules).
# The fixed-seed cases in tests/fuzzdiff/regressions.txt are every divergence
# the fuzzer has found. `make fuzz-diff` is the long run.
#
# FUZZDIFF_COUNT (default 2000 seeds per mode) sizes the range; FUZZDIFF_ALLOW
# lists defect ids from regressions.txt that are reported but do not fail.

load lib

FUZZDIFF_PY="$RSTWATCH_ROOT/tests/fuzzdiff/fuzzdiff.py"

setup() {
    rstwatch_setup
    need_shim
    [ -x "$BUILD_DIR/helpers/fuzzdiff" ] || {
        echo "fuzzdiff helper missing (make check-helpers)" >&2
        return 1
    }
    COUNT="${FUZZDIFF_COUNT:-2000}"
    # The sanitized build runs every program several times slower.
    if [ -n "${SAN_RUNTIME:-}" ]; then COUNT=$((COUNT / 5)); fi
}

teardown() {
    rstwatch_teardown
}

fuzzdiff() {
    run timeout -k 5 170 env BUILD="$BUILD_DIR" python3 "$FUZZDIFF_PY" --allow "${FUZZDIFF_ALLOW:-}" "$@"
    echo "$output"
}

@test "the harness is deterministic: two bare runs of seeds 0..N make identical calls with identical results" {
    fuzzdiff --modes self --first 0 --count "$COUNT"
    [ "$status" -eq 0 ]
    [[ "$output" == *" 0 divergences"* ]]
}

@test "default settings: every call, the peer's bytes and one record per reset agree with the bare run" {
    fuzzdiff --modes defaults --first 0 --count "$COUNT"
    [ "$status" -eq 0 ]
}

@test "RSTWATCH_RECORD=all: same calls and bytes, and one close record per connection" {
    # D (documented in docs/limits.md, "What cannot be intercepted"): when several
    # dup'd fds of one socket are closed where no hook sees it, the close
    # record can name another of its fds, or come at the next reuse.
    FUZZDIFF_ALLOW="${FUZZDIFF_ALLOW:-D}" fuzzdiff --modes all --first 0 --count "$COUNT"
    [ "$status" -eq 0 ]
}

@test "RSTWATCH_RETRY=connect: same calls and bytes as bare" {
    fuzzdiff --modes connect --first 0 --count "$COUNT"
    [ "$status" -eq 0 ]
}

@test "RSTWATCH_RETRY=idempotent: the only difference is a replay of one complete idempotent request" {
    fuzzdiff --modes idempotent --first 0 --count "$COUNT"
    [ "$status" -eq 0 ]
}

@test "every divergence the fuzzer ever found (tests/fuzzdiff/regressions.txt) stays fixed" {
    fuzzdiff --regressions "$RSTWATCH_ROOT/tests/fuzzdiff/regressions.txt"
    [ "$status" -eq 0 ]
}
