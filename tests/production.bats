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
    for p in ${EXTRA_DIRS:-}; do rm -rf "$p"; done
    for p in ${NETNS:-}; do ip netns del "$p" 2>/dev/null || true; done
    rstwatch_teardown
}

FLOOD="$BUILD_DIR/helpers/flood"

# RESET_ONCE_PY: the start of the python programs below (python3, which
# unlike Debian's curl also runs with the ASan runtime preloaded): defines
# reset_once(port), one HTTP request to 127.0.0.1:port, true when the server
# reset it.
RESET_ONCE_PY='
import socket
def reset_once(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    try:
        s.recv(100)
    except ConnectionResetError:
        return True
    finally:
        s.close()
    return False
'

# py_get PORT: one HTTP request; exits 56 (as curl) on a reset.
PY_GET=(/usr/bin/python3 -c "$RESET_ONCE_PY"'
import sys
sys.exit(56 if reset_once(int(sys.argv[1])) else 0)
')

# flood_run N [SECONDS]: the flood server under the shim (environment from the
# caller) takes N clients that abort; sets flood_out (its summary line) and
# flood_pid.
flood_run() {
    local n="$1" secs="${2:-}"
    rm -f "$T/flood.port"
    env LD_PRELOAD="$SHIM_PRELOAD" "$FLOOD" serve "$T/flood.port" "$n" >"$T/flood.out" 2>"$T/flood.err" 3>&- &
    flood_pid=$!
    wait_file "$T/flood.port"
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
    run_shim /usr/bin/python3 -c "$RESET_ONCE_PY"'
import os, sys
n, port, then = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def resets():
    for _ in range(n):
        reset_once(port)
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

# strace_flood OUT N [env...]: the flood server (bare, or preloaded when
# LD_PRELOAD is among the env) under strace -f -c, N aborting clients; its
# system call counts go to OUT as "name calls" lines.
strace_flood() {
    local out="$1" n="$2"
    shift 2
    rm -f "$T/sflood.port"
    env "$@" strace -f -c -o "$T/sflood.strace" "$FLOOD" serve "$T/sflood.port" "$n" >"$T/sflood.out" 2>&1 3>&- &
    local pid=$!
    wait_file "$T/sflood.port"
    "$FLOOD" abort "$(<"$T/sflood.port")" "$n"
    wait "$pid"
    [[ "$(<"$T/sflood.out")" == "conns=$n resets=$n "* ]] || { cat "$T/sflood.out" >&2; false; }
    awk '(NF == 5 || NF == 6) && $4 ~ /^[0-9]+$/ && $NF != "total" { print $NF, $4 }' "$T/sflood.strace" >"$out"
}

@test "an abort flood under the rate limit: two system calls per aborted connection (fstat at accept, getpid at close), and the local address exact" {
    command -v strace >/dev/null || skip "strace is not installed"
    local n=400
    strace_flood "$T/bare.calls" "$n"
    # a burst of 5 records and no more, however long strace makes the flood
    strace_flood "$T/shim.calls" "$n" LD_PRELOAD="$SHIM_PRELOAD" RSTWATCH_RATE="burst=5,interval=1h"
    # shim - bare per system call; the ones made at least once per two
    # connections are the per-connection cost (the few written records' own
    # calls, the load's and the summary's are not)
    local extra
    extra="$(awk 'NR == FNR { bare[$1] = $2; next } { d = $2 - bare[$1]; if (2 * d >= n) print $1, d }' n="$n" "$T/bare.calls" "$T/shim.calls" | sort)"
    # the identity check of each written record adds a few fstat calls
    local fstat getpid
    fstat="$(awk '$1 == "newfstatat" || $1 == "fstat" { s += $2 } END { print s + 0 }' <<<"$extra")"
    getpid="$(awk '$1 == "getpid" { print $2 }' <<<"$extra")"
    [ "$(wc -l <<<"$extra")" -le 2 ] && [ "$fstat" -ge "$n" ] && [ "$fstat" -le $((n + 40)) ] &&
        [ "$getpid" -ge "$n" ] && [ "$getpid" -le $((n + 5)) ] ||
        { printf 'per-connection extra calls (%s connections):\n%s\n' "$n" "$extra" >&2; false; }
    # every record and the summary name the listener's address
    local port
    port="$(<"$T/sflood.port")"
    assert_true "reset records and summary counts name 127.0.0.1:$port as the local address" \
        '([.[] | select(.type == "reset") | .local] | unique) == [$l] and ([.[] | select(.type == "summary") | .counts[].local] | unique) == [$l]' \
        --arg l "127.0.0.1:$port"
    assert_equal "$n" "$(summary_total n)" "summary n"
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

# py_phases PHASES: python3 under the shim (in the background, pid in
# py_pid) makes one reset per phase; before phase i > 1 it waits for the
# file $T/go.i. The file $T/done.i appears after each phase.
py_phases() {
    env LD_PRELOAD="$SHIM_PRELOAD" /usr/bin/python3 -c "$RESET_ONCE_PY"'
import os, sys, time
phases, port, d = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
for i in range(1, phases + 1):
    if i > 1:
        deadline = time.time() + 30
        while not os.path.exists(f"{d}/go.{i}") and time.time() < deadline:
            time.sleep(0.02)
    reset_once(port)
    open(f"{d}/done.{i}", "w").close()
' "$1" "$PORT" "$T" 3>&- &
    py_pid=$!
    EXTRA_PIDS="${EXTRA_PIDS:-} $py_pid"
}

# rotate_with MODE: logrotate (the real one) rotates $T/rot/app.jsonl between
# two resets of one long-lived process, with "create" or "copytruncate".
rotate_with() {
    command -v logrotate >/dev/null || skip "logrotate not installed"
    start_server rst-after-request
    export RSTWATCH_LOG="$T/rot/app.jsonl"
    py_phases 2
    wait_file "$T/done.1"
    printf '%s {\n    rotate 3\n    %s\n    missingok\n}\n' "$T/rot/app.jsonl" "$1" >"$T/logrotate.conf"
    run logrotate -f -s "$T/logrotate.state" "$T/logrotate.conf"
    [ "$status" -eq 0 ] || { echo "$output" >&2; false; }
    [ -f "$T/rot/app.jsonl.1" ]
    touch "$T/go.2"
    wait_file "$T/done.2"
    wait "$py_pid"
}

@test "logrotate create: the record after the rotation goes to the new file" {
    rotate_with "create 0600 $(id -un) $(id -gn)"
    assert_equal 1 "$(jq -s length "$T/rot/app.jsonl.1")" "records in the rotated file"
    assert_equal 1 "$(jq -s length "$T/rot/app.jsonl")" "records in the new file"
    assert_equal 1 "$(jq -s '[.[] | select(.type == "reset")] | length' "$T/rot/app.jsonl")"
    # both are found again by report, one directory for both
    run "$RSTWATCH" report "$T/rot"
    [[ "$output" == *"2 incidents"* ]] || { echo "$output" >&2; false; }
}

@test "logrotate copytruncate: the record after the rotation lands at the start of the truncated file" {
    rotate_with copytruncate
    assert_equal 1 "$(jq -s length "$T/rot/app.jsonl.1")" "records in the copy"
    assert_equal 1 "$(jq -s length "$T/rot/app.jsonl")" "records in the truncated file"
    # O_APPEND: no hole of NUL bytes where the old content was
    assert_equal 0 "$(tr -cd '\000' <"$T/rot/app.jsonl" | wc -c)" "NUL bytes"
}

@test "report and export read rotated .gz files, syslog files and directory trees" {
    start_server rst-after-request
    py_resets 2
    mkdir -p "$T/tree/a/b"
    cat "$LOG_DIR"/*.jsonl | gzip >"$T/tree/a/b/app.jsonl.2.gz"
    cat "$LOG_DIR"/*.jsonl | sed 's/^/Dec  2 13:00:00 web1 rstwatch[42]: /' >"$T/tree/a/syslog"
    printf 'Dec  2 13:00:01 web1 sshd[7]: Accepted publickey for ops\n' >>"$T/tree/a/syslog"
    run "$RSTWATCH" report "$T/tree"
    [ "$status" -eq 0 ] || { echo "$output" >&2; false; }
    [[ "$output" == *"4 incidents"*"in 2 files"* ]] || { echo "$output" >&2; false; }
    run "$RSTWATCH" export --format chrome -o "$T/trace.json" "$T/tree/a/b/app.jsonl.2.gz"
    [ "$status" -eq 0 ]
    jq -e . "$T/trace.json" >/dev/null
}

@test "the systemd drop-in passes systemd-analyze verify and keeps one logs directory per service" {
    command -v systemd-analyze >/dev/null || skip "systemd-analyze not installed (package systemd)"
    local u="$T/units"
    mkdir -p "$u/demo.service.d"
    printf '[Unit]\nDescription=rstwatch drop-in check\n[Service]\nExecStart=/bin/true\n' >"$u/demo.service"
    cp "$RSTWATCH_ROOT/examples/systemd-dropin.conf" "$u/demo.service.d/rstwatch.conf"
    run env SYSTEMD_UNIT_PATH="$u:" timeout 60 systemd-analyze verify "$u/demo.service"
    if [[ "$output" == *"Failed to"*"bus"* || "$output" == *"No such file or directory"*"/run/systemd"* ]]; then
        skip "systemd-analyze cannot run in this container: $output"
    fi
    [ "$status" -eq 0 ] || { echo "$output" >&2; false; }
    [[ "$output" != *rstwatch.conf* ]] || { echo "$output" >&2; false; }
    grep -qx 'LogsDirectory=rstwatch/%N' "$u/demo.service.d/rstwatch.conf"
    grep -qx 'Environment=RSTWATCH_LOG=/var/log/rstwatch/%N/%%p.jsonl' "$u/demo.service.d/rstwatch.conf"
    # the check can fail: a broken copy is reported
    echo 'LogsDirectory=../escape' >>"$u/demo.service.d/rstwatch.conf"
    run env SYSTEMD_UNIT_PATH="$u:" timeout 60 systemd-analyze verify "$u/demo.service"
    [[ "$output" == *"rstwatch.conf"* ]] || { echo "broken drop-in not reported: $output" >&2; false; }
}

# ---- daemons that drop privileges, systemd's directory layouts -----------------------------

NOBODY_UID="$(id -u nobody 2>/dev/null || echo 65534)"
OTHER_UID=54329 # not foundation.bats's 54321: suites may run at the same time

need_root() {
    [ "$(id -u)" = 0 ] || skip "needs root to switch users"
    command -v setpriv >/dev/null || skip "setpriv not available"
}

# a directory every user can traverse (bats' own temporary directories are private)
open_dir() {
    PUB="$(mktemp -d /tmp/rstwatch-prodtest.XXXXXX)"
    chmod 0755 "$PUB"
    EXTRA_DIRS="${EXTRA_DIRS:-} $PUB"
}

# as_user UID CMD...: runs CMD as UID (and gid UID) under the shim
as_user() {
    local uid="$1"
    shift
    timeout 30 setpriv --reuid="$uid" --regid="$uid" --clear-groups \
        env LD_PRELOAD="$SHIM_PRELOAD" "$@"
}

@test "nginx as root with 'user nobody nogroup': the workers' records reach root's log directory" {
    need_root
    start_server rst-after-request
    local port
    port="$(free_port)"
    # temporary files in /tmp: the workers (nobody) cannot enter the test's directory
    NGX_TMP=/tmp start_nginx nginx "$SHIM_PRELOAD" "master_process on;
worker_processes 2;
user nobody nogroup;" <<EOF2
    server {
        listen 127.0.0.1:$port;
        location / { proxy_pass http://127.0.0.1:$PORT; }
    }
EOF2
    local master=$NGX_PID
    wait_for_port "$port"
    run curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/"
    assert_equal 502 "$output" "nginx's answer when the upstream resets"
    sleep 0.3
    # the worker (not the master) wrote it, as nobody, into root's directory
    assert_equal 1 "$(jq_records '[.[] | select(.type == "reset")] | length')"
    assert_equal "nginx client 127.0.0.1:$PORT" "$(jq_records '.[0] | "\(.prog) \(.role) \(.peer)"')"
    [ "$(jq_records '.[0].pid')" != "$master" ]
    assert_equal "$NOBODY_UID" "$(stat -c %u "/proc/$(jq_records '.[0].pid')")" "the worker's user"
    assert_equal "700 0" "$(stat -c '%a %u' "$LOG_DIR")"
    # nothing fell back to nginx's error log
    if grep -q '"v":1' "$NGX/error.log" "$T/nginx.out" "$T/nginx.err"; then cat "$NGX/error.log" >&2; false; fi
    run "$RSTWATCH" report "$LOG_DIR"
    [[ "$output" == *"127.0.0.1:$PORT"* ]] || { echo "$output" >&2; false; }
}

@test "a program started as another user writes to that user's default directory, and root's report finds it" {
    need_root
    start_server rst-after-request
    rm -rf "/tmp/rstwatch-$OTHER_UID"
    EXTRA_DIRS="${EXTRA_DIRS:-} /tmp/rstwatch-$OTHER_UID"
    run as_user "$OTHER_UID" env -u RSTWATCH_LOG "${PY_GET[@]}" "$PORT"
    assert_equal 56 "$status"
    assert_equal "700 $OTHER_UID" "$(stat -c '%a %u' "/tmp/rstwatch-$OTHER_UID")"
    run "$RSTWATCH" report --json
    assert_equal 1 "$(jq -r --arg p "127.0.0.1:$PORT" '[.groups[] | select(.peer == $p)] | length' <<<"$output")"
}

@test "systemd User= with LogsDirectory=: the service user's own directory" {
    need_root
    open_dir
    start_server rst-after-request
    mkdir -m 0755 -p "$PUB/log"
    mkdir -m 0700 "$PUB/log/rstwatch"
    chown "$NOBODY_UID" "$PUB/log/rstwatch"
    run as_user "$NOBODY_UID" env RSTWATCH_LOG="$PUB/log/rstwatch/%p.jsonl" "${PY_GET[@]}" "$PORT"
    assert_equal 56 "$status"
    [[ "$output" != *rstwatch:* ]] || { echo "$output" >&2; false; }
    assert_equal 1 "$(cat "$PUB"/log/rstwatch/*.jsonl | jq -s length)"
}

@test "systemd DynamicUser=: a root-owned symlink into private/ is followed" {
    need_root
    open_dir
    start_server rst-after-request
    # /var/log/NAME -> private/NAME, the directory owned by the dynamic user
    mkdir -m 0755 -p "$PUB/log/private"
    mkdir -m 0700 "$PUB/log/private/rstwatch"
    chown "$NOBODY_UID" "$PUB/log/private/rstwatch"
    ln -s private/rstwatch "$PUB/log/rstwatch"
    run as_user "$NOBODY_UID" env RSTWATCH_LOG="$PUB/log/rstwatch/%p.jsonl" "${PY_GET[@]}" "$PORT"
    assert_equal 56 "$status"
    [[ "$output" != *"Not a directory"* && "$output" != *rstwatch:* ]] || { echo "$output" >&2; false; }
    assert_equal 1 "$(cat "$PUB"/log/private/rstwatch/*.jsonl | jq -s length)"
    # the same link owned by another user is refused, and says it is a symlink
    rm -f "$PUB"/log/private/rstwatch/*.jsonl
    chown -h "$OTHER_UID" "$PUB/log/rstwatch"
    run as_user "$NOBODY_UID" env RSTWATCH_LOG="$PUB/log/rstwatch/%p.jsonl" "${PY_GET[@]}" "$PORT"
    [[ "$output" == *"rstwatch: refusing log directory"*"symlink"* ]] || { echo "$output" >&2; false; }
    [ -z "$(ls -A "$PUB/log/private/rstwatch")" ]
}

@test "two services with different users share LogsDirectory=rstwatch/%N, and one report reads both" {
    need_root
    open_dir
    start_server rst-after-request
    mkdir -m 0755 -p "$PUB/log/rstwatch"
    mkdir -m 0700 "$PUB/log/rstwatch/svc-a" "$PUB/log/rstwatch/svc-b"
    chown "$NOBODY_UID" "$PUB/log/rstwatch/svc-a"
    chown "$OTHER_UID" "$PUB/log/rstwatch/svc-b"
    run as_user "$NOBODY_UID" env RSTWATCH_LOG="$PUB/log/rstwatch/svc-a/%p.jsonl" "${PY_GET[@]}" "$PORT"
    assert_equal 56 "$status"
    run as_user "$OTHER_UID" env RSTWATCH_LOG="$PUB/log/rstwatch/svc-b/%p.jsonl" "${PY_GET[@]}" "$PORT"
    assert_equal 56 "$status"
    run "$RSTWATCH" report "$PUB/log/rstwatch"
    [[ "$output" == *"2 incidents"*"from 2 records in 2 files"* ]] || { echo "$output" >&2; false; }
}

# ---- syslog and journald ---------------------------------------------------------------------

# rsyslog_conf DIR <<EOF ... EOF: DIR/rsyslog.conf for a private rsyslogd:
# its work directory DIR/work, its log socket DIR/log.sock, then the lines
# on stdin (more inputs, and where messages go).
rsyslog_conf() {
    mkdir -p "$1/work"
    {
        printf 'global(workDirectory="%s/work")\n' "$1"
        printf 'module(load="imuxsock" SysSock.Use="off")\n'
        printf 'input(type="imuxsock" Socket="%s/log.sock")\n' "$1"
        cat
    } >"$1/rsyslog.conf"
}

# rsyslog_start DIR: a private rsyslogd: socket DIR/log.sock, everything into
# DIR/syslog.out.
rsyslog_start() {
    command -v rsyslogd >/dev/null || skip "rsyslogd not installed (package rsyslog)"
    local d="$1"
    rsyslog_conf "$d" <<EOF2
*.* action(type="omfile" file="$d/syslog.out")
EOF2
    rsyslogd -n -f "$d/rsyslog.conf" -i "$d/rsyslog.pid" >"$d/rsyslogd.out" 2>&1 </dev/null 3>&- &
    EXTRA_PIDS="${EXTRA_PIDS:-} $!"
    wait_file "$d/log.sock"
}

# echo_then_reset_server: a bare python server that echoes N one-byte
# exchanges and then resets the connection; port in ECHO_PORT.
echo_then_reset_server() {
    /usr/bin/python3 -c '
import socket, struct, sys
n, portfile = int(sys.argv[1]), sys.argv[2]
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(8)
open(portfile + ".tmp", "w").write(str(l.getsockname()[1]))
import os; os.rename(portfile + ".tmp", portfile)
c, _ = l.accept()
for _ in range(n):
    c.sendall(c.recv(1))
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close()
' "$1" "$T/echo.port" 3>&- &
    EXTRA_PIDS="${EXTRA_PIDS:-} $!"
    wait_file "$T/echo.port"
    ECHO_PORT="$(<"$T/echo.port")"
}

# EXCHANGES_PY N PORT: python that makes N one-byte exchanges with the echo
# server on PORT, then reads until its reset ("reset").
EXCHANGES_PY='
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
for _ in range(int(sys.argv[1])):
    s.sendall(b"x"); s.recv(1)
try:
    s.recv(1)
except ConnectionResetError:
    print("reset")
'

# client_exchanges N: EXCHANGES_PY under the shim against the echo server.
client_exchanges() {
    run_shim /usr/bin/python3 -c "$EXCHANGES_PY" "$1" "$ECHO_PORT"
}

@test "syslog: a record too long for syslog drops its oldest events and stays one valid JSON line" {
    rsyslog_start "$T/rs"
    echo_then_reset_server 300
    RSTWATCH_LOG="syslog:$T/rs/log.sock" RSTWATCH_EVENTS=1024 client_exchanges 300
    assert_equal reset "$shim_output"
    local i
    for ((i = 0; i < 250; i++)); do
        grep -q 'rstwatch\[' "$T/rs/syslog.out" 2>/dev/null && break
        sleep 0.02
    done
    local line
    line="$(grep 'rstwatch\[' "$T/rs/syslog.out")"
    [ "$(grep -c . <<<"$line")" = 1 ] || { echo "$line" >&2; false; }
    # rsyslog kept it whole: the JSON after the prefix parses
    local json="{${line#*: \{}"
    assert_equal reset "$(jq -r .type <<<"$json")"
    [ "$(jq -r .events_dropped <<<"$json")" -gt 0 ]
    [ "$(jq -r '.events | length' <<<"$json")" -gt 10 ]
    assert_equal ECONNRESET "$(jq -r '.events[-1].errno' <<<"$json")" "the failing call is kept"
    [ "${#line}" -le 8192 ]
    # report reads the syslog file: prefix stripped, other lines ignored
    logger -u "$T/rs/log.sock" "an unrelated message"
    sleep 0.2
    run "$RSTWATCH" report "$T/rs/syslog.out"
    [ "$status" -eq 0 ] || { echo "$output" >&2; false; }
    [[ "$output" == *"1 incident"* ]] || { echo "$output" >&2; false; }
}

@test "journal: records reach a real systemd-journald with structured fields; a large one as a memfd" {
    local jd=/lib/systemd/systemd-journald
    [ -x "$jd" ] || skip "systemd-journald not installed (package systemd)"
    need_root
    command -v unshare >/dev/null || skip "unshare not available"
    echo_then_reset_server 3
    local small_port=$ECHO_PORT
    rm -f "$T/echo.port"
    echo_then_reset_server 3000
    local big_port=$ECHO_PORT
    printf '%s\n' "$EXCHANGES_PY" >"$T/exchanges.py"
    # a private journald: its own /run (socket) and journal directories, in a
    # mount namespace of its own, so the host's journal is never touched
    cat >"$T/journal.sh" <<EOF2
set -e
mount -t tmpfs tmpfs /run
mkdir -p /run/systemd/journal /run/log/journal
if [ -d /var/log/journal ]; then mount -t tmpfs tmpfs /var/log/journal; fi
$jd >"$T/journald.out" 2>&1 &
jpid=\$!
for i in \$(seq 100); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
client() {
    env LD_PRELOAD="$SHIM_PRELOAD" RSTWATCH_LOG=journal "\$@" /usr/bin/python3 "$T/exchanges.py" "\$N" "\$P"
}
N=3 P=$small_port client
N=3000 P=$big_port client RSTWATCH_EVENTS=4096
sleep 0.5
journalctl --all -o json --no-pager -t rstwatch >"$T/journal.json"
kill \$jpid
EOF2
    run timeout 60 unshare -m --propagation private bash "$T/journal.sh"
    if [[ "$output" == *"unshare failed"* || "$output" == *"Operation not permitted"* ]]; then
        skip "cannot make a mount namespace here: $output"
    fi
    [ "$status" -eq 0 ] || { echo "$output" >&2; cat "$T/journald.out" >&2; false; }
    assert_equal "reset
reset" "$output"
    assert_equal 2 "$(grep -c . "$T/journal.json")" "rstwatch entries in the journal"
    local e
    e="$(head -1 "$T/journal.json")"
    assert_equal "reset ECONNRESET 127.0.0.1:$small_port 4 rstwatch" \
        "$(jq -r '"\(.RSTWATCH_TYPE) \(.RSTWATCH_ERRNO) \(.RSTWATCH_PEER) \(.PRIORITY) \(.SYSLOG_IDENTIFIER)"' <<<"$e")"
    [ -n "$(jq -r .RSTWATCH_CAUSE <<<"$e")" ]
    [[ "$(jq -r .MESSAGE <<<"$e")" == "reset to 127.0.0.1:$small_port (ECONNRESET)"* ]]
    assert_equal "127.0.0.1:$small_port" "$(jq -r '.RSTWATCH_JSON | fromjson | .peer' <<<"$e")"
    # the large record (4096 events, far over a datagram) arrived whole
    e="$(sed -n 2p "$T/journal.json")"
    [ "$(jq -r '.RSTWATCH_JSON | length' <<<"$e")" -gt 100000 ]
    assert_equal 4096 "$(jq -r '.RSTWATCH_JSON | fromjson | .events | length' <<<"$e")"
    # and report reads journalctl's JSON
    run "$RSTWATCH" report "$T/journal.json"
    [[ "$output" == *"2 incidents"* ]] || { echo "$output" >&2; false; }
}

@test "two hosts: records forwarded by rsyslog from one network namespace to a collector in another keep their hosts apart" {
    need_root
    command -v rsyslogd >/dev/null || skip "rsyslogd not installed (package rsyslog)"
    command -v ip >/dev/null && command -v unshare >/dev/null || skip "needs ip and unshare"
    local a="rstwa$$" b="rstwb$$"
    ip netns add "$a" 2>/dev/null || skip "cannot create network namespaces here"
    NETNS="$a $b"
    ip netns add "$b"
    ip link add "va$$" type veth peer name "vb$$"
    ip link set "va$$" netns "$a"
    ip link set "vb$$" netns "$b"
    ip -n "$a" addr add 10.213.7.1/24 dev "va$$"
    ip -n "$b" addr add 10.213.7.2/24 dev "vb$$"
    local n
    for n in "$a" "$b"; do
        ip -n "$n" link set lo up
    done
    ip -n "$a" link set "va$$" up
    ip -n "$b" link set "vb$$" up
    mkdir -p "$T/a" "$T/b"
    printf '%s\n' "${PY_GET[2]}" >"$T/get.py"
    # host-b: the collector (TCP syslog on 10.213.7.2:5140) and a program of its own
    rsyslog_conf "$T/b" <<EOF2
module(load="imtcp")
input(type="imtcp" port="5140" address="10.213.7.2")
*.* action(type="omfile" file="$T/b/collected.log")
EOF2
    cat >"$T/b/run.sh" <<EOF2
hostname host-b
rsyslogd -n -f $T/b/rsyslog.conf -i $T/b/rsyslog.pid >$T/b/rsyslogd.out 2>&1 &
$RESETD --mode rst-after-request --port 8080 --lifetime 60 >/dev/null 2>&1 &
while [ ! -e $T/b/go ]; do sleep 0.05; done
env LD_PRELOAD="$SHIM_PRELOAD" RSTWATCH_LOG=syslog:$T/b/log.sock /usr/bin/python3 $T/get.py 8080
sleep 0.5
touch $T/b/done
while [ ! -e $T/b/stop ]; do sleep 0.05; done
kill %1 %2
EOF2
    # host-a: a program whose records rsyslog forwards to host-b
    rsyslog_conf "$T/a" <<EOF2
*.* action(type="omfwd" target="10.213.7.2" port="5140" protocol="tcp")
EOF2
    cat >"$T/a/run.sh" <<EOF2
hostname host-a
rsyslogd -n -f $T/a/rsyslog.conf -i $T/a/rsyslog.pid >$T/a/rsyslogd.out 2>&1 &
$RESETD --mode rst-after-request --port 8080 --lifetime 60 >/dev/null 2>&1 &
for i in \$(seq 100); do [ -S $T/a/log.sock ] && break; sleep 0.05; done
sleep 0.3
env LD_PRELOAD="$SHIM_PRELOAD" RSTWATCH_LOG=syslog:$T/a/log.sock /usr/bin/python3 $T/get.py 8080
sleep 1
kill %1 %2
EOF2
    ip netns exec "$b" unshare --uts bash "$T/b/run.sh" 3>&- &
    EXTRA_PIDS="${EXTRA_PIDS:-} $!"
    wait_file "$T/b/log.sock"
    sleep 0.3
    run timeout 30 ip netns exec "$a" unshare --uts bash "$T/a/run.sh"
    touch "$T/b/go"
    wait_file "$T/b/done"
    local i
    for ((i = 0; i < 100; i++)); do
        [ "$(grep -c 'rstwatch\[' "$T/b/collected.log" 2>/dev/null)" = 2 ] && break
        sleep 0.05
    done
    touch "$T/b/stop"
    # rsyslog's own hostname and the record's host agree, line by line
    grep 'rstwatch\[' "$T/b/collected.log" >"$T/two-hosts.log" || true
    assert_equal 2 "$(grep -c . "$T/two-hosts.log")" "records collected"
    grep -q ' host-a rstwatch\[.*"host":"host-a"' "$T/two-hosts.log"
    grep -q ' host-b rstwatch\[.*"host":"host-b"' "$T/two-hosts.log"
    # the same peer on two hosts: report reads both, each with its host
    run "$RSTWATCH" report --json "$T/b/collected.log"
    assert_equal 2 "$(jq -r .summary.incidents <<<"$output")"
    run "$RSTWATCH" export --format chrome -o "$T/trace.json" "$T/b/collected.log"
    [ "$status" -eq 0 ]
}

# exact_count: every due record counted once, from the records and the summaries
exact_count() {
    jq_records "[.[] | select(.type == \"$1\") | 1 + (.suppressed // 0)] + [.[] | select(.type == \"summary\") | .counts[] | select(.type == \"$1\") | .suppressed] | add // 0"
}

@test "rate limit inside signal handlers: a 1 ms timer doing HTTP while the main thread is reset; no deadlock, exact counts" {
    run_sigstorm 60
    local resets=$SIGSTORM_RESETS
    [ "$resets" -ge 5 ] || { echo "too little happened: $shim_output" >&2; false; } # see hardening.bats
    [ "$(jq_records '[.[] | select(.type == "reset")] | length')" -lt "$resets" ] # the limit acted
    assert_equal "$resets" "$(exact_count reset)" "resets counted"
    assert_equal "$resets" "$(summary_total n)" "summary n"
}

@test "8 threads, then 2 fork children that end with _exit(): every reset is accounted for, and each child writes its own burst" {
    start_server rst-after-request
    run_shim /usr/bin/python3 -c "$RESET_ONCE_PY"'
import os, sys, threading
port, seen = int(sys.argv[1]), []
def resets(n):
    seen.append(sum(1 for _ in range(n) if reset_once(port)))
threads = [threading.Thread(target=resets, args=(15,)) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
for child in range(2):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        resets(15)
        os.write(w, b"%d %d" % (os.getpid(), seen[-1]))
        os._exit(0)  # no atexit, no destructors
    os.close(w)
    child_pid, child_seen = os.read(r, 100).split()
    os.waitpid(pid, 0)
    print("child", child_pid.decode())
    seen.append(int(child_seen))
print("seen", sum(seen))' "$PORT"
    assert_equal 0 "$shim_status" "exit status (stderr: $shim_stderr)"
    local seen children c
    seen="$(sed -n 's/^seen //p' <<<"$shim_output")"
    assert_equal 150 "$seen" "resets the program saw"
    assert_equal "$seen" "$(exact_count reset)" "resets accounted for in records and summaries"
    assert_equal "$seen" "$(summary_total n)" "summary n"
    children="$(sed -n 's/^child //p' <<<"$shim_output")"
    for c in $children; do
        # a new process's burst (10), not the parent's spent one
        assert_equal 10 "$(jq_records '[.[] | select(.type == "reset" and .pid == ($p | tonumber))] | length' --arg p "$c")" "reset records of child $c"
        assert_equal 15 "$(jq_records '[.[] | select(.type == "summary" and .pid == ($p | tonumber)) | .counts[].n] | add' --arg p "$c")" "child $c's summary n"
    done
}

@test "a summary period that ends while nothing fails is written at the next close, before exit" {
    start_server rst-after-request
    local rst=$PORT
    start_server http
    RSTWATCH_RATE="summary=1s" run_shim /usr/bin/python3 -c "$RESET_ONCE_PY"'
import os, socket, sys, time
rst, ok, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
for _ in range(30):
    reset_once(rst)
time.sleep(1.3)
s = socket.create_connection(("127.0.0.1", ok))  # a clean exchange: no record due
s.sendall(b"GET / HTTP/1.0\r\n\r\n")
while s.recv(4096):
    pass
s.close()
path = log.replace("%p", str(os.getpid()))
print(sum(1 for line in open(path) if "\"type\":\"summary\"" in line))
' "$rst" "$PORT" "$RSTWATCH_LOG"
    assert_equal 0 "$shim_status"
    assert_equal 1 "$shim_output" "summaries in the log before exit"
    assert_equal interval "$(jq_records '[.[] | select(.type == "summary")][0].reason')"
    assert_equal 30 "$(exact_count reset)"
}

@test "nginx's record of a client that aborted mid-request carries the TCP state, taken after the failure" {
    local port
    port="$(free_port)"
    start_nginx nginx2 "$SHIM_PRELOAD" "master_process on;
worker_processes 1;
$([ "$(id -u)" = 0 ] && echo "user root;")" <<EOF2
    server {
        listen 127.0.0.1:$port;
        location / { return 200 "ok\n"; }
    }
EOF2
    wait_for_port "$port"
    # half a request, then an abort: nginx's next read fails with ECONNRESET
    /usr/bin/python3 -c '
import socket, struct, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
time.sleep(0.05)  # well under the idle gap after which a call first takes a snapshot
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
time.sleep(0.3)
' "$port"
    assert_equal 1 "$(jq_records '[.[] | select(.prog == "nginx" and .role == "server" and .type == "reset")] | length')"
    local r
    r="$(jq_records '.[] | select(.prog == "nginx" and .type == "reset")')"
    [ "$(jq -r '.tcp | type' <<<"$r")" = object ] || { echo "$r" >&2; false; }
    assert_equal true "$(jq -r .tcp.after <<<"$r")"
    [ "$(jq -r .tcp.rtt_us <<<"$r")" -ge 0 ]
}
