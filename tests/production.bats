#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# production.bats: what an operator needs to leave the shim loaded for months:
# bounded log volume with exact counts (rate limit, suppressed, summary
# records), the host on every record, TCP state on server-side records, log
# rotation, daemons that drop privileges, systemd's directory layouts, and the
# syslog and journald destinations — each against the real component.

load lib

setup() {
    rstwatch_setup
    unset RSTWATCH_RATE # the default limits, as in production
}
teardown() {
    local p
    for p in ${EXTRA_PIDS:-}; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rstwatch_teardown
}

FLOOD="$BUILD_DIR/helpers/flood"

# flood_run N [SECONDS]: the flood server under the shim (environment from the
# caller) takes N clients that abort; sets flood_out (its summary line) and
# flood_pid.
flood_run() {
    local n="$1" secs="${2:-}"
    rm -f "$T/flood.port"
    env LD_PRELOAD="$SHIM_PRELOAD" "$FLOOD" serve "$T/flood.port" "$n" >"$T/flood.out" 2>"$T/flood.err" 3>&- &
    flood_pid=$!
    local i
    for ((i = 0; i < 250; i++)); do
        [ -s "$T/flood.port" ] && break
        sleep 0.02
    done
    "$FLOOD" abort "$(<"$T/flood.port")" "$n" $secs
    wait "$flood_pid"
    flood_out="$(<"$T/flood.out")"
}

# summary_total FIELD: the sum of FIELD over every summary entry logged.
summary_total() {
    jq_records "[.[] | select(.type == \"summary\") | .counts[].$1] | add // 0"
}

# py_resets N [then]: python3 under the shim makes N requests that the server
# resets; then = "exec" (exec true afterwards), "fork" (the resets happen in
# a forked child that exits normally) or "" (plain exit).
py_resets() {
    run_shim /usr/bin/python3 -c '
import os, socket, sys
n, port, then = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def resets():
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        try:
            s.recv(100)
        except ConnectionResetError:
            pass
        s.close()
if then == "fork":
    pid = os.fork()
    if pid == 0:
        resets()
        sys.exit(0)
    os.waitpid(pid, 0)
else:
    resets()
if then == "exec":
    os.execv("/bin/true", ["true"])
' "$1" "$PORT" "${2:-}"
}

@test "rate limit: 300 aborting clients give a burst of records and a summary that counts all 300" {
    flood_run 300
    [[ "$flood_out" == "conns=300 resets=300 "* ]]
    local n
    n="$(jq_records '[.[] | select(.type == "reset")] | length')"
    [ "$n" -ge 10 ] && [ "$n" -le 25 ] || { echo "reset records: $n" >&2; false; }
    assert_equal 300 "$(summary_total n)" "summary n"
    # every due record is counted once: written ones with their "suppressed", plus the summary's
    assert_equal 300 "$(jq_records '[.[] | select(.type == "reset") | 1 + (.suppressed // 0)] + [.[] | select(.type == "summary") | .counts[].suppressed] | add')" "exact count"
    assert_equal exit "$(jq_records '[.[] | select(.type == "summary")][-1].reason')"
    # report's totals include what the rate limit left out
    run "$RSTWATCH" report "$LOG_DIR"
    [[ "$output" == *"rstwatch report: 300 incidents"* ]] || { echo "$output" >&2; false; }
}

@test "rate limit: the next record of a key says how many were left out before it" {
    RSTWATCH_RATE="burst=2,interval=300ms" flood_run 60 1.5
    local sup
    sup="$(jq_records '[.[] | select(.type == "reset") | .suppressed // 0] | add')"
    [ "$sup" -ge 1 ] || { records >&2; false; }
    assert_equal 60 "$(jq_records '[.[] | select(.type == "reset") | 1 + (.suppressed // 0)] + [.[] | select(.type == "summary") | .counts[].suppressed] | add')"
}

@test "RSTWATCH_RATE=off writes every record and no summary" {
    RSTWATCH_RATE=off flood_run 120
    assert_equal 120 "$(jq_records '[.[] | select(.type == "reset")] | length')"
    assert_equal 0 "$(jq_records '[.[] | select(.type == "summary")] | length')"
}

@test "a malformed RSTWATCH_RATE warns once and keeps the default limits" {
    start_server rst-after-request
    RSTWATCH_RATE="burst=lots" py_resets 30
    assert_equal 0 "$shim_status"
    assert_equal 1 "$(printf '%s\n' "$shim_stderr" | grep -c '^rstwatch: ignoring RSTWATCH_RATE=burst=lots')"
    assert_equal 10 "$(jq_records '[.[] | select(.type == "reset")] | length')"
    assert_equal 30 "$(summary_total n)"
}

@test "the rules file sets the rate limit with \"rate\"" {
    start_server rst-after-request
    printf '{"rate": "burst=3,interval=1h"}\n' >"$T/rules.json"
    RSTWATCH_CONFIG="$T/rules.json" py_resets 12
    assert_equal 3 "$(jq_records '[.[] | select(.type == "reset")] | length')"
    assert_equal 12 "$(summary_total n)"
    assert_equal 9 "$(summary_total suppressed)"
}

@test "a summary is written before exec and by a fork child at its exit" {
    start_server rst-after-request
    py_resets 15 exec
    assert_equal 0 "$shim_status"
    assert_equal exec "$(jq_records '[.[] | select(.type == "summary")][0].reason')"
    assert_equal 15 "$(summary_total n)"
    rm -rf "$LOG_DIR"
    py_resets 15 fork
    assert_equal 0 "$shim_status"
    # the child's records and summary carry the child's pid, not the parent's
    local child
    child="$(jq_records '[.[] | select(.type == "summary")][0].pid')"
    [ "$child" != "$shim_pid" ] && [ "$child" -gt 0 ]
    assert_equal 15 "$(summary_total n)"
}

@test "a summary is written every period while something happens, not only at exit" {
    RSTWATCH_RATE="summary=1s" flood_run 300 2.5
    local reasons
    reasons="$(jq_records '[.[] | select(.type == "summary") | .reason] | unique | join(",")')"
    [[ "$reasons" == *interval* ]] || { echo "reasons: $reasons" >&2; false; }
    assert_equal 300 "$(summary_total n)"
}

@test "every record carries the host name, and a server-side record the TCP state taken after the failure" {
    RSTWATCH_RATE=off flood_run 3
    assert_equal "$(uname -n)" "$(jq_records '[.[].host] | unique | join(",")')"
    assert_equal server "$(jq_records '.[0].role')"
    assert_equal true "$(jq_records '.[0].tcp.after')"
    [ "$(jq_records '.[0].tcp.state')" != null ]
}
