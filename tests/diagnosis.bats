#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# diagnosis.bats: the causes that say where a failure came from when the
# peer closed for a reason other than an idle timeout or a crash (docs/record.md
# "Causes"): early_close (a short-idle close, a goodbye queued unread before
# the request), request_timeout (the server stopped waiting for our request),
# response_timeout as watchdogs fire, path_reset (a reset sooner than the
# peer could answer, across a wire with a real 10 ms round trip:
# tests/delaywire.py), path_state_lost and local_timeout (black holes after
# idle, met by ETIMEDOUT or by the program's own timeout) and fd_limit. Each
# test runs real programs (python, curl) against resetd or a small server,
# asserts the record's cause, the fields that justify it, and
# tests/hint_fits.jq on every record. The clients: tests/diagnosis_client.py.

load lib

setup_file() {
    resolve_python
    export DIAG_CLIENT="$RSTWATCH_ROOT/tests/diagnosis_client.py"
}

setup() {
    rstwatch_setup
    need_shim
    NS="" NS_FAR=""
    PY_PIDS=()
}

teardown() {
    local p
    for p in "${PY_PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rstwatch_teardown
    if [ -n "$NS" ]; then ip netns del "$NS" 2>/dev/null || true; fi
    if [ -n "$NS_FAR" ]; then ip netns del "$NS_FAR" 2>/dev/null || true; fi
}

# py_scenario SERVER MODE [ARGS...]: resetd SERVER (a mode and its flags),
# then diagnosis_client.py MODE PORT ARGS under the shim.
py_scenario() {
    local -a words
    read -ra words <<<"$1"
    start_server "${words[@]}"
    run_shim "$PYTHON" "$DIAG_CLIENT" "$2" "$PORT" "${@:3}"
}

# curl_scenario SERVER: resetd SERVER, then one curl GET under the shim.
curl_scenario() {
    need_preloadable curl
    local -a words
    read -ra words <<<"$1"
    start_server "${words[@]}"
    run_shim curl -sS "http://127.0.0.1:$PORT/"
}

# start_server_in_ns MODE [resetd args...]: start_server, with resetd running
# inside $NS (call need_netns first).
start_server_in_ns() {
    local real="$RESETD"
    RESETD="$T/resetd-in-ns"
    printf '#!/bin/sh\nexec ip netns exec %s %s "$@"\n' "$NS" "$real" >"$RESETD"
    chmod +x "$RESETD"
    start_server "$@"
    RESETD="$real"
}

# ---- early_close: the peer had closed, and not at an idle timeout -------------------

@test "idle_reuse: a connection the server reset after 2.5 s idle, reused 3 s in (a plausible idle timeout)" {
    py_scenario "idle-close --delay-ms 2500" keepalive 3
    assert_equal 1 "$status"
    assert_jq '.op == "send" and .errno == "ECONNRESET" and .tcp.state == "CLOSE"'
    assert_cause idle_reuse "set the client's idle timeout below"
    assert_jq '.idle_before_ms >= 3000 and (.cause.hint | contains("past the gunicorn keep-alive default, 2 s"))'
}

@test "early_close: the server closed with FIN 300 ms into the idle, the client's next request reads EOF" {
    py_scenario "idle-fin --delay-ms 300" keepalive 1.2
    assert_equal 1 "$status"
    assert_cause early_close "validate pooled connections"
    assert_jq '.type == "eof" and .tcp.state == "CLOSE_WAIT" and .exchanges == 2'
    assert_jq '.cause.hint | contains("its FIN was in")'
}

@test "early_close: a PostgreSQL FATAL 57P01 queued before the request is named, not taken for its response" {
    py_scenario goodbye-pg goodbye
    [[ "$output" == *"read 80 bytes, then EOF" ]] || { echo "$output" >&2; false; }
    expect_cause 1 early_close "57P01 (admin_shutdown"
    assert_jq '.type == "eof" and .reused and .tcp.unread == 80 and .tcp.state == "CLOSE_WAIT"'
    assert_jq '.cause.hint | contains("pg_terminate_backend") and contains("80 bytes")'
    assert_jq '.cause.hint | contains("before any response byte") | not'
}

@test "early_close: a MariaDB KILL's error packet queued before the request names 1927" {
    py_scenario goodbye-mysql goodbye
    expect_cause 1 early_close "admin kill"
    assert_jq '.cause.hint | contains("MySQL/MariaDB error 1927 (ER_CONNECTION_KILLED")'
}

@test "early_close: an HTTP 408 queued before the request is not its answer" {
    py_scenario goodbye-408 goodbye
    expect_cause 1 early_close "HTTP 408 (Request Timeout"
    assert_jq '.tcp.unread == 51 and .exchanges == 2'
}

@test "request_timeout: a slow upload the server stops waiting for (408, then close) is no write after EOF" {
    py_scenario "slow-408 --delay-ms 1000" slow-upload
    assert_equal 1 "$status"
    expect_cause 1 request_timeout "stopped waiting"
    assert_jq '(.op == "send") and (.errno == "EPIPE" or .errno == "ECONNRESET") and .calls_in == 0'
    assert_jq '.tcp.unread == 51 and (.cause.hint | contains("51 bytes the peer sent were never read"))'
    assert_jq '.cause.hint | contains("seen EOF") | not'
}

@test "request_timeout: after an interim 100 Continue the upload is still request 1" {
    py_scenario "slow-408 --delay-ms 1000" slow-upload expect
    [[ "$output" == "interim: HTTP/1.1 100 Continue"* ]] || { echo "$output" >&2; false; }
    expect_cause 1 request_timeout "client_body_timeout"
    assert_jq '.exchanges == 1 and .reused == false and .bytes_in == 25'
    assert_jq '.cause.hint | contains("keepalive_requests") | not'
}

@test "response_timeout: a watchdog that fires 0.5 s late (3.5 s after a 3 s timeout) is still a timeout" {
    curl_scenario "slow-close --delay-ms 3500"
    assert_equal 52 "$status" "curl exit status (empty reply)"
    assert_cause response_timeout "request_terminate_timeout"
    assert_jq '.idle_ms >= 3400 and (.cause.hint | contains("configured to 3 s"))'
}



@test "path_state_lost: a reused connection's request after 2.2 s idle is black-holed until ETIMEDOUT" {
    need_netns
    start_server_in_ns http
    CAUSE_HOOK="ip netns exec $NS iptables -A INPUT -p tcp --dport $PORT -j DROP" \
        run_shim ip netns exec "$NS" "$PYTHON" "$DIAG_CLIENT" ka-idle-hold "$PORT" 2.2 1500
    [[ "$output" == *TimeoutError* || "$output" == *" 110 "* ]] || { echo "$output" >&2; false; }
    expect_cause 1 path_state_lost "NAT or stateful firewall"
    assert_jq '.errno == "ETIMEDOUT" and .reused and .idle_before_ms >= 2200'
    # the snapshot was taken after the failure: its retransmissions are current
    assert_jq '.tcp.after == true and .tcp.total_retrans >= 1'
    assert_jq '.cause.hint | test("after 2\\.[0-9] s idle")'
}

@test "path_state_lost: the same black hole met by the program's own read timeout (it closes) is recorded" {
    need_netns
    start_server_in_ns http
    CAUSE_HOOK="ip netns exec $NS iptables -A INPUT -p tcp --dport $PORT -j DROP" \
        run_shim ip netns exec "$NS" "$PYTHON" "$DIAG_CLIENT" read-timeout "$PORT" 2.2 1.5
    assert_equal 0 "$status" "client exit status ($output)"
    assert_contains "$output" "read timed out"
    assert_cause path_state_lost "program's own timeout closed it"
    assert_jq '.type == "close" and .op == "close" and .errno == null and .reused'
    assert_jq '.tcp.unacked >= 1 and .tcp.total_retrans >= 1'
}

@test "local_timeout: a read timeout on a request nobody acknowledged is counted, and recorded with RECORD=errors" {
    need_netns
    start_server_in_ns http
    unset RSTWATCH_RATE # counts live in the rate limiter's summary records
    CAUSE_HOOK="ip netns exec $NS iptables -A INPUT -p tcp --dport $PORT -j DROP" \
        run_shim ip netns exec "$NS" "$PYTHON" "$DIAG_CLIENT" read-timeout "$PORT" -1 1
    assert_contains "$output" "read timed out"
    assert_true "no failure record, and a summary counting one local_timeout" \
        '(map(select(.type != "summary")) | length == 0) and
         ([.[] | select(.type == "summary") | .counts[] | select(.cause == "local_timeout") | .suppressed] | add) == 1'
    rm -rf "$LOG_DIR"
    in_ns iptables -F INPUT
    export RSTWATCH_RATE=off
    CAUSE_HOOK="ip netns exec $NS iptables -A INPUT -p tcp --dport $PORT -j DROP" \
        RSTWATCH_RECORD=errors run_shim ip netns exec "$NS" "$PYTHON" "$DIAG_CLIENT" read-timeout "$PORT" -1 1
    assert_cause local_timeout "client read timeout"
    assert_jq '.type == "close" and .exchanges == 1 and .tcp.unacked >= 1'
}

@test "local_timeout is not a slow server: a read timeout on an acknowledged request leaves no record (RECORD=errors)" {
    start_server silent
    RSTWATCH_RECORD=errors run_shim "$PYTHON" "$DIAG_CLIENT" read-timeout "$PORT" -1 0.5
    assert_contains "$output" "read timed out"
    assert_record_count 0
}

@test "fd_limit: a server whose accept() fails with EMFILE gets a record naming its listener" {
    local pf="$T/fd.port"
    # The clients (bare): 24 connections the server cannot all accept.
    "$PYTHON" -c '
import os, socket, sys, time
for i in range(500):
    if os.path.exists(sys.argv[1]): break
    time.sleep(0.01)
port = int(open(sys.argv[1]).read())
held = [socket.create_connection(("127.0.0.1", port)) for i in range(24)]
time.sleep(3)' "$pf" 3>&- &
    PY_PIDS+=("$!")
    run_shim "$PYTHON" -c '
import os, resource, socket, sys
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(64)
with open(sys.argv[1] + ".tmp", "w") as f: f.write(str(l.getsockname()[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
resource.setrlimit(resource.RLIMIT_NOFILE, (12, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
held = []
while True:
    try:
        held.append(l.accept()[0])
    except OSError as e:
        print("accept:", e.errno, "after", len(held)); break' "$pf"
    assert_equal 0 "$status" "server exit status ($stderr)"
    [[ "$output" == "accept: 24 after "* ]] || { echo "$output" >&2; false; }
    # Out of fds, the shim cannot open its log either, and takes no fd in
    # advance: the record waits (in the shim's static memory) until the
    # program closes a descriptor (here python's teardown), then goes to the
    # log; not to stderr, and with no warning.
    local rec
    rec="$(records)"
    [ "$(grep -c . <<<"$rec")" = 1 ] || { echo "$stderr" >&2; false; }
    [[ "$stderr" != *rstwatch:* ]] || { echo "$stderr" >&2; false; }
    jq -e --arg p "$(<"$pf")" '.type == "error" and .cause.code == "fd_limit" and .op == "accept"
        and .errno == "EMFILE" and .role == "server" and .local == "127.0.0.1:\($p)"
        and (has("conn") or has("peer") or has("events") | not)
        and (.cause.hint | contains("out of file descriptors") and contains("ulimit -n"))' <<<"$rec"
    jq -e "$(<"$RSTWATCH_ROOT/tests/hint_fits.jq")" <<<"$rec"
}

@test "records due while no descriptor is free wait in the shim and are written after the program closes one; what did not fit is counted in the log's summary and on stderr" {
    start_server rst-after-request
    # 40 connections, each reset after its request, read while every other
    # descriptor of the process is taken: the log cannot be opened. Two
    # closes later (the log's directory and file need one each) it can; a
    # fork child that frees descriptors first writes none of the parent's.
    run_shim "$PYTHON" -c '
import os, socket, sys, time
conns = []
for i in range(40):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    conns.append(s)
time.sleep(0.3)
fill = []
while True:
    try:
        fill.append(os.open("/dev/null", os.O_RDONLY))
    except OSError as e:
        print("open:", e.errno); break
failed = 0
for s in conns:
    try:
        s.recv(100)
    except ConnectionResetError:
        failed += 1
print("reset:", failed)
sys.stdout.flush()
pid = os.fork()
if pid == 0:  # the held records are the parent'"'"'s: the child writes none of them
    os.close(fill.pop()); os.close(fill.pop())
    os._exit(0)
os.waitpid(pid, 0)
os.close(fill.pop()); os.close(fill.pop())
print("closed")
sys.stdout.flush()
os._exit(0)' "$PORT"
    assert_equal 0 "$status" "python exit status ($stderr)"
    assert_equal "$(printf 'open: 24\nreset: 40\nclosed')" "$output"
    # Whole records in the log, in order, and the rest counted: none lost silently.
    local n dropped counted
    n="$(records | jq -c 'select(.type != "summary")' | grep -c .)"
    [ "$(records | jq -c 'select(.type == "reset" and .errno == "ECONNRESET")' | grep -c .)" = "$n" ]
    [ "$(records | jq -r .pid | sort -u | grep -c .)" = 1 ] || { echo "records from more than one process" >&2; false; }
    dropped="$(sed -n 's/^rstwatch: \([0-9]*\) records were dropped while the process had no file descriptor free for the log$/\1/p' <<<"$stderr")"
    [ -n "$dropped" ] || { echo "no count of dropped records on stderr: $stderr" >&2; false; }
    [ "$n" -ge 1 ] && [ "$dropped" -ge 1 ] && [ $((n + dropped)) = 40 ] || {
        echo "records $n, dropped $dropped: $stderr" >&2
        false
    }
    [ "$(grep -c '^rstwatch:' <<<"$stderr")" = 1 ] || { echo "$stderr" >&2; false; }
    # The log itself says so too, where stderr may be nobody's: its exit
    # summary counts them under their key, and rstwatch report adds them up.
    counted="$(records | jq -s '[.[] | select(.type == "summary") | .counts[] | .suppressed] | add')"
    [ "$counted" = "$dropped" ] || { echo "summary counts $counted, dropped $dropped" >&2; records | grep summary >&2; false; }
    run "$RSTWATCH" report "$LOG_DIR"
    [[ "${lines[0]}" == "rstwatch report: 40 incidents in 1 group, "* ]] || { echo "$output" >&2; false; }
}

# ---- the path: a reset sooner than the peer could have sent it ------------------------

# need_wire: the client's namespace NS (10.78.0.1) and a server's NS_FAR
# (10.78.0.2) joined by tests/delaywire.py, 5 ms each way: a path whose
# round-trip time is physical, not the CPU's. NS_FAR runs a server on port
# 8080 that reads a request and resets the connection (SO_LINGER 0).
need_wire() {
    need_netns
    NS_FAR="$NS-far"
    local out
    out="$(ip netns add "$NS_FAR" 2>&1)" || { NS_FAR=""; skip "cannot create a network namespace: $out"; }
    ip -n "$NS_FAR" link set lo up
    ip -n "$NS" tuntap add dev rwa mode tun
    ip -n "$NS_FAR" tuntap add dev rwb mode tun
    ip -n "$NS" addr add 10.78.0.1/24 dev rwa
    ip -n "$NS_FAR" addr add 10.78.0.2/24 dev rwb
    ip -n "$NS" link set rwa up
    ip -n "$NS_FAR" link set rwb up
    "$PYTHON" "$RSTWATCH_ROOT/tests/delaywire.py" "$NS" rwa "$NS_FAR" rwb 5 "$T/wire.ready" \
        >"$T/wire.out" 2>&1 3>&- &
    PY_PIDS+=("$!")
    ip netns exec "$NS_FAR" "$PYTHON" -c '
import socket, struct, threading
def serve(c):
    c.recv(4096)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
l = socket.socket(); l.bind(("10.78.0.2", 8080)); l.listen(16)
open("'"$T/far.ready"'", "w").close()
while True:
    threading.Thread(target=serve, args=(l.accept()[0],), daemon=True).start()' >"$T/far.out" 2>&1 3>&- &
    PY_PIDS+=("$!")
    local i
    for ((i = 0; i < 250; i++)); do
        [ -e "$T/wire.ready" ] && [ -e "$T/far.ready" ] && return 0
        sleep 0.02
    done
    cat "$T/wire.out" "$T/far.out" >&2
    return 1
}

@test "path_reset: this host's firewall rejects curl's request with a reset, 10 ms before the server could answer" {
    need_preloadable curl
    need_wire
    in_ns iptables -A OUTPUT -p tcp -d 10.78.0.2 --dport 8080 -m string --string "GET /blocked" \
        --algo bm -j REJECT --reject-with tcp-reset
    run_shim ip netns exec "$NS" curl -sS -m 10 "http://10.78.0.2:8080/blocked"
    expect_cause 56 path_reset "rstwatch capture"
    assert_jq '.tcp.min_rtt_us >= 9000 and .idle_ms * 1000 < .tcp.min_rtt_us / 4'
    assert_jq '.cause.hint | contains("less than a quarter") and contains("firewall")'
}

@test "path_reset is not the server's own reset: across the same 10 ms path it is reset_before_response" {
    need_preloadable curl
    need_wire
    run_shim ip netns exec "$NS" curl -sS -m 10 "http://10.78.0.2:8080/ok"
    expect_cause 56 reset_before_response "check the server's logs"
    assert_jq '.tcp.min_rtt_us >= 9000 and .idle_ms * 1000 >= .tcp.min_rtt_us / 4'
}
