#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tsan.sh: ThreadSanitizer over the threaded programs, as TAP. The shim built
# with -fsanitize=thread (make tsan-build, build-tsan/) runs inside threaded
# clients and servers: C helpers built with TSan too, and python3 with the
# TSan runtime preloaded before the shim. A test passes when TSan reports no
# race and no signal-unsafe call in a handler, and the program saw what it
# should (its exit status, its resets, the records written).
#
# What TSan is not shown: a socket used by two threads at the same instant
# (one blocked in recv() while another closes the fd, or full-duplex use)
# races on that connection's timeline by design. The timeline is written
# without locks, an orphaned completion is caught by its connection id, and
# the memory is never freed (docs/design.md "State", "Never hurt the host"),
# so the worst case is a lost event; TSan would report every such access. The
# fuzzer below therefore leaves out its blocked-reader thread; host.bats and
# valgrind.sh cover that case.
set -u
cd "$(dirname "$0")/.."
B=build-tsan
P=${BUILD:-build} # the plain build: its resetd serves the C clients
[ -x "$P/helpers/resetd" ] || P=$B # run alone after make tsan-build only
T=$(mktemp -d /tmp/rstwatch-tsan.XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$T"' EXIT

TSAN_RT="$(${CC:-gcc} -print-file-name=libtsan.so)"
export TSAN_OPTIONS="halt_on_error=0 exitcode=66 report_signal_unsafe=1 log_path=$T/tsan"
shim=(env "LD_PRELOAD=$PWD/$B/librstwatch.so")
# The shim first: its calls to the real functions then go through TSan's
# interceptors, which must see every open and close of an fd.
pyshim=(env "LD_PRELOAD=$PWD/$B/librstwatch.so $TSAN_RT")
PY=/usr/bin/python3 # the system's, not a wrapper script that would run under TSan too
[ -x "$PY" ] || PY=python3

echo "1..8"
# TSan maps its shadow memory at fixed addresses; some kernels' mmap
# randomisation leaves it no room ("unexpected memory mapping"). Then run
# without address randomisation, as TSan's own documentation advises.
prefix=()
if ! "$B/helpers/stress_pingpong" 1 1 1 >"$T/probe" 2>&1; then
    if setarch "$(uname -m)" -R "$B/helpers/stress_pingpong" 1 1 1 >"$T/probe" 2>&1; then
        prefix=(setarch "$(uname -m)" -R)
    else
        for i in $(seq 8); do echo "ok $i # skip ThreadSanitizer cannot start here: $(head -c 200 "$T/probe" | tr '\n' ' ')"; done
        exit 0
    fi
fi

start() { # start NAME MODE: resetd in the background; sets port_NAME
    local name=$1 mode=$2
    "$P/helpers/resetd" --mode "$mode" --port 0 --port-file "$T/$name.port" >/dev/null 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do [ -s "$T/$name.port" ] && break; sleep 0.05; done
    printf -v "port_$name" '%s' "$(cat "$T/$name.port")"
}

n=0
# check NAME WANT_REGEX LOG CMD...: runs CMD (its output must match WANT_REGEX,
# its status must be $want_status, 0 unless set) with the shim's records going
# to LOG (and LOG.N after renames); passes when TSan reported nothing and the
# logs hold valid records: $want_resets reset records when that is set.
want_status=0 want_resets=
check() {
    local name=$1 want=$2 log=$3
    shift 3
    n=$((n + 1))
    rm -f "$T"/tsan.* "$log"*
    # SIGKILL: TSan defers a signal to the program's next intercepted call.
    RSTWATCH_LOG="$log" timeout -s KILL 300 "${prefix[@]}" "$@" >"$T/out" 2>"$T/err" </dev/null
    local st=$? why=""
    if ls "$T"/tsan.* >/dev/null 2>&1 || [ $st = 66 ]; then
        why="ThreadSanitizer: $(grep -h -m3 '^SUMMARY\|^WARNING' "$T"/tsan.* 2>/dev/null | tr '\n' ' ')"
    elif [ $st != "$want_status" ]; then
        why="exit status $st, want $want_status"
    elif ! grep -Eq "$want" "$T/out"; then
        why="output $(head -c 200 "$T/out") does not match $want"
    elif ! cat "$log"* 2>/dev/null | jq -se 'length > 0' >/dev/null 2>&1; then
        why="no valid records in $log"
    elif [ -n "$want_resets" ] &&
        [ "$(cat "$log"* | jq -s 'map(select(.type == "reset")) | length')" != "$want_resets" ]; then
        why="$(cat "$log"* | jq -s 'map(select(.type == "reset")) | length') reset records, want $want_resets"
    fi
    if [ -z "$why" ]; then
        echo "ok $n - tsan: $name"
    else
        echo "not ok $n - tsan: $name"
        echo "# $why"
        cat "$T"/tsan.* "$T/err" 2>/dev/null | head -60 | sed 's/^/#   /'
    fi
}

L=$T/rec.jsonl
check "8 threads x 50 connections, each ending in a reset (defaults)" '^conns=400 resets=400 errors=0$' "$L" \
    "${shim[@]}" "$B/helpers/stress_pingpong" 8 50 5
check "the same with every record written (RSTWATCH_RATE=off, RECORD=all)" '^conns=400 resets=400' "$L" \
    "${shim[@]}" RSTWATCH_RATE=off RSTWATCH_RECORD=all "$B/helpers/stress_pingpong" 8 50 5
check "the same with retry on (RSTWATCH_RETRY=idempotent)" '^conns=400 resets=400' "$L" \
    "${shim[@]}" RSTWATCH_RETRY=idempotent RSTWATCH_RECORD=all "$B/helpers/stress_pingpong" 8 50 5

start rst rst-after-request
check "4 client threads x 25 connections against a resetting server" '' "$L" \
    "${shim[@]}" "$B/helpers/client" --threads 4 --conns 25 127.0.0.1 "$port_rst"
want_status=1 # every connect is refused
check "4 client threads, connect retry against a closed port" 'errors=40' "$L" \
    "${shim[@]}" RSTWATCH_RETRY=connect RSTWATCH_RETRY_BASE_MS=1 RSTWATCH_RETRY_CAP_MS=2 \
    "$B/helpers/client" --threads 4 --conns 10 127.0.0.1 9
want_status=0

check "python3: a server thread and 4 client threads, 200 resets" '^resets=200 of 200$' "$L" \
    "${pyshim[@]}" "$PY" tests/tsan_threads.py 4 50
want_resets=200 # none lost across the renames
check "python3: every record written while the log is renamed 5 times (the sink reopens)" \
    '^resets=200 of 200$' "$L" \
    "${pyshim[@]}" RSTWATCH_RATE=off "$PY" tests/tsan_threads.py 4 50 "$L" 5
want_resets=

# The differential fuzzer's executor, built with TSan too: fork, signal
# handlers doing socket calls, every I/O variant, retry and replay. (hostcases'
# 0.5 ms SIGALRM storm is not run here: TSan delivers a signal only at its
# next interception point, and at that rate the program never gets past its
# first loop.)
n=$((n + 1))
rm -f "$T"/tsan.*
BUILD=$B timeout -s KILL 600 python3 tests/fuzzdiff/fuzzdiff.py --first 1 --count 500 --skip thread \
    --modes defaults,all,connect,idempotent --known >"$T/out" 2>&1
st=$?
if [ $st = 0 ] && ! ls "$T"/tsan.* >/dev/null 2>&1 && grep -q ' 0 unexplained' "$T/out"; then
    echo "ok $n - tsan: the differential fuzzer, 500 seeds x 4 modes (no blocked-reader thread)"
else
    echo "not ok $n - tsan: the differential fuzzer, 500 seeds x 4 modes (no blocked-reader thread)"
    cat "$T"/tsan.* 2>/dev/null | head -60 | sed 's/^/#   /'
    grep -v "timing noise" "$T/out" | tail -20 | sed "s/^/#   /"
fi
