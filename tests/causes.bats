#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# causes.bats: every cause code (docs/design.md "The record") from a REAL failure, not a
# synthetic one: real servers (resetd, small python servers), real clients
# (the C client, python http.client and raw sockets), and for the timeouts a
# private network namespace whose iptables rules drop packets. Each test
# asserts the record's cause.code, that the hint is non-empty and names the
# key next step, and the record fields that justify the diagnosis.
#
# The classifier's unit tests (tests/unit/cause_test.c) cover the rule table
# case by case; this file proves the rules meet reality: the counters,
# exchanges, EOF flags and TCP_INFO snapshots the shim really collects.
#
# The second half is the accuracy matrix of docs/record.md: real clients (curl,
# python http.client and requests, node http and fetch, wget, redis-cli,
# psql), real intermediaries (nginx, HAProxy) and real failure mechanisms
# (kill -9, idle timeouts with RST and FIN, request limits, slow requests,
# iptables REJECT and DROP, ss -K, TLS). Every record is also checked against
# tests/hint_fits.jq: no hint may contradict its own record's fields.

load lib

setup_file() {
    resolve_python
    H="$BATS_FILE_TMPDIR"
    export CAUSE_CLIENT="$BATS_TEST_DIRNAME/causes/client.py" CAUSE_SERVER="$BATS_TEST_DIRNAME/causes/server.py"
    export CAUSE_CERT_DIR="$H"
    if command -v openssl >/dev/null; then
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout "$H/key.pem" -out "$H/cert.pem" -days 2 -subj /CN=localhost >/dev/null 2>&1
    fi
}

setup() {
    rstwatch_setup
    need_shim
    NS=""
    PY_PIDS=()
}

teardown() {
    local p
    for p in "${PY_PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rstwatch_teardown
    if [ -n "$NS" ]; then ip netns del "$NS" 2>/dev/null || true; fi
}

# start_py_server MODE [shim]: starts causes/server.py (under the shim when
# the second argument is "shim"), waits for its port; sets PORT.
start_py_server() {
    local pf="$T/py.$1.port" pre=""
    [ "${2:-}" = shim ] && pre="$SHIM_PRELOAD"
    env ${pre:+LD_PRELOAD="$pre"} RSTWATCH_LOG="$LOG_DIR/server-%p.jsonl" \
        "$PYTHON" "$CAUSE_SERVER" "$1" "$pf" >"$T/py.$1.out" 2>&1 </dev/null 3>&- &
    PY_PIDS+=("$!")
    local i
    for ((i = 0; i < 250; i++)); do
        [ -s "$pf" ] && { PORT="$(<"$pf")"; return 0; }
        sleep 0.02
    done
    echo "causes/server.py $1 did not start" >&2
    cat "$T/py.$1.out" >&2
    return 1
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

# The scaffolding of a scenario: a server, then one client under the shim
# (status/output/stderr as run_shim sets them). SERVER is a resetd mode with
# its flags ("idle-close --delay-ms 300") or "causes/server.py MODE"; the
# server's port is in PORT, which is also exported to the client (and so to
# a CAUSE_HOOK written with '$PORT').

# start_scenario_server SERVER: starts SERVER; sets PORT.
start_scenario_server() {
    local -a words
    read -ra words <<<"$1"
    if [ "${words[0]}" = causes/server.py ]; then
        start_py_server "${words[1]}"
    else
        start_server "${words[@]}"
    fi
}

# c_scenario SERVER [client options...]: the C client (tests/helpers/client.c)
# against SERVER.
c_scenario() {
    start_scenario_server "$1"
    run_shim "$CLIENT" "${@:2}" 127.0.0.1 "$PORT"
}

# py_scenario SERVER MODE [ARGS...]: causes/client.py MODE PORT ARGS against SERVER.
py_scenario() {
    start_scenario_server "$1"
    run_shim "$PYTHON" "$CAUSE_CLIENT" "$2" "$PORT" "${@:3}"
}

# curl_scenario SERVER http|https: one curl GET against SERVER (the
# certificate is not checked).
curl_scenario() {
    need_preloadable curl
    start_scenario_server "$1"
    run_shim curl -sSk "$2://127.0.0.1:$PORT/"
}

# node_scenario SERVER SCRIPT: node -e SCRIPT with the server's URL as its
# argument, against SERVER.
node_scenario() {
    command -v node >/dev/null || skip "node is not installed"
    start_scenario_server "$1"
    run_shim node -e "$2" "http://127.0.0.1:$PORT/"
}

# server_side_scenario SERVER_MODE CLIENT_MODE: causes/server.py SERVER_MODE
# under the shim (it writes the record), causes/client.py CLIENT_MODE against
# it (also under the shim); waits until the server has ended.
server_side_scenario() {
    start_py_server "$1" shim
    local server_pid="${PY_PIDS[-1]}"
    run_shim "$PYTHON" "$CAUSE_CLIENT" "$2" "$PORT"
    wait "$server_pid" || true
}

# firewalled_hold USER_TIMEOUT_MS TARGET...: in a network namespace of its
# own, causes/client.py connects to a silent resetd; then an iptables rule
# "-j TARGET..." starts blocking the server's port, and the client sends a
# request and waits for the answer (with TCP_USER_TIMEOUT when not 0).
firewalled_hold() {
    local user_timeout="$1"
    shift
    need_netns
    start_server_in_ns silent
    CAUSE_HOOK="ip netns exec $NS iptables -A INPUT -p tcp --dport $PORT -j $*" \
        run_shim ip netns exec "$NS" "$PYTHON" "$CAUSE_CLIENT" hold "$PORT" "$user_timeout" before
}

@test "refused: connect to a port nothing listens on" {
    c_scenario refuse
    expect_cause 1 refused "check that the service is up and listening"
    assert_jq '.op == "connect" and .errno == "ECONNREFUSED" and .bytes_out == 0'
}

@test "refused: the python client sees it too" {
    py_scenario refuse connect
    expect_cause 1 refused "listening"
}

@test "reset_before_response: the server resets after reading the request" {
    c_scenario rst-after-request
    expect_cause 1 reset_before_response "check the server's logs"
    assert_jq '.op == "recv" and .errno == "ECONNRESET" and .bytes_out > 0 and .bytes_in == 0'
    assert_jq '.exchanges == 1 and .reused == false'
}

@test "reset_before_response: an unread-close server that never answers" {
    c_scenario unread-close --request 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n'
    expect_cause 1 reset_before_response "server's logs"
    assert_jq '.bytes_in == 0'
}

@test "reset_mid_stream: the server resets in the middle of the response body" {
    c_scenario rst-mid-response
    expect_cause 1 reset_mid_stream "check the peer's logs"
    assert_jq '.op == "recv" and .bytes_in > 1000 and .errno == "ECONNRESET"'
}

@test "client_abort (server role): the client aborts with SO_LINGER 0" {
    server_side_scenario read-request abort
    expect_cause 0 client_abort "check the client side"
    assert_jq '.role == "server" and .op == "recv" and .errno == "ECONNRESET" and .bytes_in > 0'
}

@test "client_abort (server role): the client gives up mid-download and closes" {
    server_side_scenario big-response read-some-close
    expect_cause 0 client_abort "check the client side"
    assert_jq '.role == "server" and (.op == "send" or .op == "sendto") and (.errno == "ECONNRESET" or .errno == "EPIPE")'
}

@test "not idle_reuse: a keep-alive connection still open after 2.2 s idle, reset by the server at its second request (no FIN came) -> reset_before_response" {
    py_scenario stale-keepalive keepalive 2.2
    # A peer closing at its idle timeout sends its FIN then; this one had
    # sent none (the snapshot as the request left: ESTABLISHED), so the idle
    # time names no timeout. On loopback there is no path to blame either.
    expect_cause 1 reset_before_response "request 2 on a reused connection"
    assert_jq '.reused == true and .exchanges == 2 and .idle_before_ms >= 2000 and .tcp.state == "ESTABLISHED"'
    assert_jq '.cause.hint | contains("idle timeout") | not'
}

@test "early_close: http.client reuses a keep-alive connection the server reset after only 300 ms idle (not an idle timeout)" {
    py_scenario "idle-close --delay-ms 300" keepalive 1.2
    assert_equal 1 "$status"
    [[ "$output" == *"first: 200"* ]] || { echo "first request failed: $output" >&2; false; }
    assert_record_count 1
    # the failing call is the send of the second request, on a socket the
    # server's RST has already closed
    assert_jq '.op == "send" and .errno == "ECONNRESET" and .tcp.state == "CLOSE"'
    assert_cause early_close "a restart, reload, admin kill or connection limit, not an idle timeout"
    assert_jq '.idle_before_ms < 2000 and (.cause.hint | test("closed after only 1\\.[0-9] s idle"))'
    assert_jq '.cause.hint | contains("idle timeout below") | not'
}

@test "write_after_peer_fin: the client writes again after reading the server's EOF" {
    py_scenario close-after-response eof-write 0
    [[ "$output" == eof* ]] || { echo "no EOF: $output" >&2; false; }
    expect_cause 1 write_after_peer_fin "Connection: close"
    assert_jq '(.op == "send") and (.errno == "EPIPE" or .errno == "ECONNRESET")'
    assert_jq '[.events[] | select(.op == "recv" and .ret == 0)] | length >= 1'
}

@test "write_after_peer_fin: EOF read, then a write 1.2 s later is still a write after FIN" {
    py_scenario close-after-response eof-write 1.2
    expect_cause 1 write_after_peer_fin "Connection: close"
}

@test "unread_data_close: the server answers an upload early and closes with the body unread" {
    py_scenario "causes/server.py early-answer" upload
    [[ "$output" == *"early answer: b'HTTP/1.1 413'"* ]] || { echo "$output" >&2; false; }
    expect_cause 1 unread_data_close "answered early"
    assert_jq '(.op == "send") and .errno == "ECONNRESET" and .bytes_in > 0 and .bytes_out > 16384'
}

@test "unknown: the server resets right after accept, before the client said anything" {
    py_scenario rst-on-accept recv-first
    expect_cause 1 unknown "compare the timeline with the peer's logs"
    assert_jq '.bytes_out == 0 and .bytes_in == 0 and .errno == "ECONNRESET"'
}

@test "local_abort: the socket is destroyed on this host (ss -K) while the client waits" {
    command -v ss >/dev/null || skip "ss (iproute2) is not installed"
    CAUSE_HOOK='ss -K dst 127.0.0.1 dport = :$PORT >/dev/null 2>&1 || true' \
        py_scenario silent hold 0 after
    if [[ "$output" != *ECONNABORTED* && "$output" != *" 103 "* ]]; then
        skip "ss -K did not abort the socket here (kernel without CONFIG_INET_DIAG_DESTROY?): $output"
    fi
    expect_cause 1 local_abort "check this host's logs"
    assert_jq '.errno == "ECONNABORTED" and .role == "client"'
}

@test "local_abort is not what accept() gives for a connection reset before accept (Linux)" {
    # The classic BSD source of ECONNABORTED: a client connects, aborts with
    # SO_LINGER 0, and only then the server accepts. Linux hands the dead
    # connection to accept() and the server's first recv fails with
    # ECONNRESET instead, which is a client abort.
    run_shim "$PYTHON" -c '
import socket, struct, sys, time
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(4)
c = socket.create_connection(l.getsockname())
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); c.close()
time.sleep(0.1)
try:
    s, _ = l.accept(); print("accepted"); s.recv(10); print("recv ok")
except OSError as e:
    print("error", e.errno); sys.exit(1)
'
    assert_equal 1 "$status"
    assert_equal "accepted
error 104" "$output" "python output (accept succeeds, recv gets ECONNRESET)"
    assert_record_count 1
    assert_jq '.op == "recv"'
    assert_jq '.errno == "ECONNRESET" and .role == "server"'
    assert_cause client_abort "check the client side"
}

@test "connect_timeout: SYNs dropped in a network namespace (tcp_syn_retries=1)" {
    need_netns
    in_ns sysctl -qw net.ipv4.tcp_syn_retries=1
    in_ns iptables -A INPUT -p tcp --syn --dport 9 -j DROP
    local t0=$SECONDS
    run_shim ip netns exec "$NS" "$CLIENT" 127.0.0.1 9
    assert_equal 1 "$status"
    [[ "$output" == *"timed out"* ]] || { echo "$output" >&2; false; }
    assert_cause connect_timeout "check firewalls, security groups and routing"
    assert_jq '.op == "connect" and .errno == "ETIMEDOUT" and .bytes_out == 0'
    [ $((SECONDS - t0)) -lt 10 ]
}

@test "connect_timeout: no route to the peer (ENETUNREACH) in a network namespace" {
    need_netns
    run_shim ip netns exec "$NS" "$PYTHON" "$CAUSE_CLIENT" connect 80 10.99.0.1
    expect_cause 1 connect_timeout "routing"
    assert_jq '.errno == "ENETUNREACH" and .op == "connect"'
}

@test "retransmit_timeout: an established connection whose packets start being dropped (TCP_USER_TIMEOUT)" {
    firewalled_hold 1500 DROP
    [[ "$output" == *TimeoutError* || "$output" == *" 110 "* ]] || { echo "$output" >&2; false; }
    expect_cause 1 retransmit_timeout "check the path"
    assert_jq '.errno == "ETIMEDOUT" and .op == "recv" and .bytes_out > 0'
    # the snapshot before the failing recv saw the retransmissions
    assert_jq '.tcp.total_retrans >= 1 and (.cause.hint | contains("retransmissions before the failure"))'
}

@test "retransmit_timeout: ICMP host-unreachable answers on an established connection (EHOSTUNREACH)" {
    firewalled_hold 1500 REJECT --reject-with icmp-host-unreachable
    expect_cause 1 retransmit_timeout "check the path"
    assert_jq '.errno == "EHOSTUNREACH" and .op == "recv"'
}

@test "a python client that ran a subprocess keeps its connection's timeline (vfork + close_range in the child)" {
    # subprocess vforks; the child closes inherited fds with close_range()
    # before exec. The child shares the parent's memory, so the shim must not
    # forget the parent's connections there: otherwise the later reset is
    # only "adopted" (no peer, no counters, no timeline) and misclassified.
    start_server rst-after-request
    run_shim "$PYTHON" -c '
import socket, subprocess, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
subprocess.run(["true"], check=True)
s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
try:
    s.recv(10)
except OSError as e:
    print("error", e.errno); sys.exit(1)
' "$PORT"
    assert_equal 1 "$status"
    assert_cause reset_before_response "server's logs"
    assert_jq '.peer == "127.0.0.1:\($p)"' --arg p "$PORT"
}

# ---- classification on real programs: the cases that used to be wrong --------------

need_tls() {
    [ -s "$BATS_FILE_TMPDIR/cert.pem" ] || skip "openssl could not make a test certificate"
}

@test "TLS: curl's fresh HTTPS request reset by the server is request 1, not a reused connection" {
    need_tls
    curl_scenario "causes/server.py tls-rst-after-request" https
    assert_equal 56 "$status" "curl exit status (recv failure)"
    assert_cause reset_before_response "check the server's logs"
    assert_jq '.exchanges == 1 and .reused == false and .errno == "ECONNRESET" and .bytes_out > 0'
}

@test "TLS with RSTWATCH_RETRY=idempotent: the reset's record is the only one; curl's close_notify on the dead socket adds no refusal" {
    need_tls
    RSTWATCH_RETRY=idempotent curl_scenario "causes/server.py tls-rst-after-request" https
    assert_equal 56 "$status" "curl exit status (recv failure)"
    # the response had begun (session tickets), so the reset was no replay
    # candidate; the app saw it, and what it writes afterwards is its clean-up
    assert_true "the reset, and nothing else" \
        'length == 1 and .[0].type == "reset" and .[0].errno == "ECONNRESET" and .[0].op == "recv"'
    assert_true "no record blames a write after the peer's FIN" \
        'all(.cause.code != "write_after_peer_fin")'
}

@test "TLS: a reset that answers the client's own close_notify is counted as tls_close_race, not recorded as a failed request" {
    need_tls
    start_py_server tls-rst-on-close-notify
    local client='
import socket, ssl, sys
ctx = ssl._create_unverified_context()
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))))
s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
print(s.recv(4096).split(b"\r\n")[0].decode())
try:
    s.unwrap()
    print("clean close")
except OSError as e:
    print("close:", type(e).__name__)'
    run_bare "$PYTHON" -c "$client" "$PORT"
    rm -f "$T/py.tls-rst-on-close-notify.port" # the server takes one client: a new one
    start_py_server tls-rst-on-close-notify
    unset RSTWATCH_RATE # counts live in the rate limiter's summary records
    run_shim "$PYTHON" -c "$client" "$PORT"
    assert_same_as_bare
    [[ "$shim_output" == "HTTP/1.1 200 OK"$'\n'"close: ConnectionResetError" ]] ||
        { echo "the client did not meet the reset where expected: $shim_output" >&2; false; }
    # the app was done with the connection: the one reset it met is only counted
    assert_true "no failure record, and a summary counting one tls_close_race" \
        '(map(select(.type != "summary")) | length == 0) and
         ([.[] | select(.type == "summary") | .counts[] | select(.cause == "tls_close_race") | .suppressed] | add) == 1'
}

@test "TLS: python's HTTPS request reset after it was read is reset_before_response, not mid-stream" {
    need_tls
    py_scenario "causes/server.py tls-rst-after-request" https-get
    expect_cause 1 reset_before_response "check the server's logs"
    assert_jq '.exchanges == 1 and .reused == false'
}

@test "TLS: a reset during the handshake gets the TLS hint, not 'the request was sent'" {
    need_tls
    curl_scenario "causes/server.py tls-rst-on-hello" https
    [ "$status" != 0 ]
    assert_cause reset_before_response "openssl s_client"
    assert_jq '.exchanges == 0 and (.cause.hint | contains("during the TLS handshake"))'
    assert_jq '.cause.hint | contains("request was sent") | not'
}

@test "wget: the server closes 20 ms after the 2nd request on a keep-alive connection: not idle_reuse" {
    need_preloadable wget
    command -v wget >/dev/null || skip "wget is not installed"
    start_server request-limit --every 1 --delay-ms 20
    run_shim wget -q -O /dev/null -t 1 "http://127.0.0.1:$PORT/a" "http://127.0.0.1:$PORT/b"
    assert_record_count 1
    assert_jq '.type == "eof" and .exchanges == 2 and .reused == true and .idle_before_ms < 500'
    assert_cause reset_before_response "per-connection request limit, e.g. nginx keepalive_requests"
    assert_jq '.cause.hint | contains("already closed") | not'
}

@test "a server that kills a running request 1.3 s in: reset_before_response naming the wait, not idle_reuse" {
    # Two requests on one connection, the second one killed by the server
    # (the mariadb KILL <id> story): EOF long after the request, nothing idle.
    py_scenario "request-limit --every 1 --delay-ms 1300" keepalive 0
    expect_cause 1 reset_before_response "closed the connection (EOF)"
    assert_jq '.exchanges == 2 and .idle_ms >= 1000 and (.cause.hint | test("it came 1\\.[0-9] s after the request"))'
}

@test "response_timeout: curl's request closed unanswered after 2 s (a server request timeout)" {
    curl_scenario "slow-close --delay-ms 2000" http
    assert_equal 52 "$status" "curl exit status (empty reply)"
    assert_cause response_timeout "raise that timeout"
    assert_jq '.type == "eof" and .exchanges == 1 and .bytes_in == 0 and .idle_ms >= 1900'
    assert_jq '.cause.hint | contains("configured to 2 s")'
}

@test "response_timeout: python's request reset unanswered after 2 s" {
    py_scenario "rst-after-request --delay-ms 2000" keepalive 0
    expect_cause 1 response_timeout "server's logs"
    assert_jq '.errno == "ECONNRESET" and .exchanges == 1 and .idle_ms >= 1900'
}

# node_pool_client URL: one request on a keep-alive pool (node's http.Agent
# or fetch), then 2.5 s idle with the pooled connection open.
NODE_HTTP_POOL='
const http = require("http");
const agent = new http.Agent({keepAlive: true});
http.get(process.argv[1], {agent}, r => {
    r.resume();
    r.on("end", () => { console.log("status", r.statusCode); setTimeout(() => {}, 2500); });
});'
NODE_FETCH_POOL='
fetch(process.argv[1]).then(r => r.text()).then(t => {
    console.log("body", t.trim()); setTimeout(() => {}, 2500);
});'

@test "idle_close: node fetch's pooled connection reset by the server after 1.5 s idle is only counted" {
    node_scenario "idle-close --delay-ms 1500" "$NODE_FETCH_POOL"
    assert_equal 0 "$status" "node exit status ($stderr)"
    assert_equal "body ok" "$output"
    assert_record_count 0
}

# shim_http_server RECORD: resetd's keep-alive HTTP server under the shim
# (RSTWATCH_RECORD=RECORD); sets PORT.
shim_http_server() {
    local pf="$T/shimhttp.$1.port"
    RSTWATCH_RECORD="$1" RSTWATCH_LOG="$LOG_DIR/server-%p.jsonl" LD_PRELOAD="$SHIM_PRELOAD" \
        "$RESETD" --mode http --port-file "$pf" --lifetime 30 >"$T/shimhttp.out" 2>&1 </dev/null 3>&- &
    SERVER_PIDS+=("$!")
    wait_file "$pf"
    PORT="$(<"$pf")"
}

# A pooled client connection the client (a proxy's pool) drops with a reset
# 1.2 s after its response: the server's read meets ECONNRESET with nothing
# outstanding.
POOL_DROP_PY='
import socket, struct, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
print(s.recv(4096).split(b"\r\n")[0].decode())
time.sleep(1.2)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
time.sleep(0.3)'

@test "idle_close (server role): a client's pool drops the kept-alive connection with a reset 1.2 s after its response: counted, not client_abort" {
    shim_http_server resets
    run "$PYTHON" -c "$POOL_DROP_PY" "$PORT"
    assert_equal "HTTP/1.1 200 OK" "$output"
    stop_servers
    assert_record_count 0
}

@test "idle_close (server role): with RSTWATCH_RECORD=errors the server's record says the client dropped an idle connection" {
    shim_http_server errors
    run "$PYTHON" -c "$POOL_DROP_PY" "$PORT"
    assert_equal "HTTP/1.1 200 OK" "$output"
    stop_servers
    expect_cause 0 idle_close "nothing failed"
    assert_jq '.role == "server" and .errno == "ECONNRESET" and .idle_ms >= 1000 and .bytes_out > 0'
    assert_jq '.cause.hint | contains("from the client") and contains("no request outstanding")'
}

@test "idle_close: with RSTWATCH_RECORD=errors node fetch's idle pooled connection gets its record" {
    RSTWATCH_RECORD=errors node_scenario "idle-close --delay-ms 1500" "$NODE_FETCH_POOL"
    expect_cause 0 idle_close "nothing failed"
    assert_jq '.errno == "ECONNRESET" and .idle_ms >= 1000 and .bytes_in > 0'
}

@test "idle_close: node http.Agent's pooled connection closed with FIN after 1.5 s idle (RECORD=errors)" {
    RSTWATCH_RECORD=errors node_scenario "idle-fin --delay-ms 1500" "$NODE_HTTP_POOL"
    expect_cause 0 idle_close "nothing failed"
    assert_jq '.type == "eof" and .idle_ms >= 1000 and (.cause.hint | contains("then FIN"))'
}

@test "a write after this program's own shutdown(SHUT_WR) is counted, not recorded (RECORD=errors records it)" {
    start_server silent
    local prog='
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"bye")
s.shutdown(socket.SHUT_WR)
try:
    s.send(b"more")
except BrokenPipeError:
    print("EPIPE")'
    run_shim "$PYTHON" -c "$prog" "$PORT"
    assert_equal "EPIPE" "$output"
    assert_record_count 0
    RSTWATCH_RECORD=errors run_shim "$PYTHON" -c "$prog" "$PORT"
    assert_cause local_abort "not a network failure"
}

@test "a non-HTTP protocol reset at its 2nd message gets no HTTP advice" {
    start_server stale-keepalive
    run_shim "$PYTHON" -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"hello one\n"); print(s.recv(100)[:12])
s.sendall(b"hello two\n"); s.recv(100)' "$PORT"
    assert_equal 1 "$status"
    assert_cause reset_before_response "per-connection request limit"
    assert_jq '.exchanges == 2 and (.cause.hint | test("keepalive_requests|nginx|HTTP") | not)'
}

# ---- the accuracy matrix: real clients, intermediaries and failure mechanisms --------

# kill_when_request_held PID: kill -9 PID once the hang server has the
# request (at most 10 s), so the kill lands while the request is outstanding.
kill_when_request_held() {
    local i
    exec 3>&-
    for ((i = 0; i < 500; i++)); do
        [ -e "$T/py.hang.port.got" ] && break
        sleep 0.02
    done
    kill -9 "$1"
}

@test "matrix: curl, server killed (kill -9) while it holds the request -> reset_before_response" {
    need_preloadable curl
    start_py_server hang
    local server_pid="${PY_PIDS[-1]}"
    kill_when_request_held "$server_pid" &
    run_shim curl -sS "http://127.0.0.1:$PORT/"
    assert_equal 52 "$status" "curl exit status (empty reply)"
    assert_cause reset_before_response "crashed or restarted"
    assert_jq '.type == "eof" and .exchanges == 1 and .bytes_in == 0'
}

@test "matrix: python requests, per-connection request limit hit by the 2nd request -> reset_before_response" {
    "$PYTHON" -c 'import requests' 2>/dev/null || skip "python3-requests is not installed"
    start_server request-limit --every 1 --delay-ms 20
    run_shim "$PYTHON" -c '
import requests, sys
s = requests.Session()
u = "http://127.0.0.1:%s/" % sys.argv[1]
print(s.get(u).status_code)
s.get(u)' "$PORT"
    assert_equal 1 "$status"
    assert_cause reset_before_response "per-connection request limit"
    assert_jq '.exchanges == 2 and .reused == true'
}

@test "matrix: node http client, request reset by the server -> reset_before_response" {
    node_scenario rst-after-request '
const http = require("http");
http.get(process.argv[1], r => r.resume()).on("error", e => { console.log(e.code); process.exit(1); });'
    assert_equal ECONNRESET "$output"
    expect_cause 1 reset_before_response "check the server's logs"
}

@test "matrix: redis-cli, redis-server's idle timeout (timeout 1) closed the connection before the 2nd PING -> idle_reuse" {
    command -v redis-server >/dev/null || skip "redis-server is not installed"
    command -v redis-cli >/dev/null || skip "redis-cli is not installed"
    local port
    port="$(free_port)"
    mkdir -p "$T/redis"
    start_bg "" redis redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$T/redis" --daemonize no --timeout 1 --logfile "$T/redis/redis.log"
    wait_for_port "$port"
    run_shim redis-cli -p "$port" -r 2 -i 3 PING
    [[ "$output" == PONG* ]] || { echo "$output" >&2; false; }
    assert_cause idle_reuse "set the client's idle timeout below"
    assert_jq '.type == "eof" and .exchanges == 2 and .idle_before_ms >= 2000'
    assert_jq '.cause.hint | contains("the peer had already closed it")'
}

@test "matrix: psql, startup message reset by the server -> reset_before_response" {
    need_preloadable psql
    command -v psql >/dev/null || skip "psql is not installed"
    start_server rst-after-request
    PGCONNECT_TIMEOUT=5 run_shim psql "host=127.0.0.1 port=$PORT user=x dbname=x sslmode=disable" -c 'select 1'
    assert_equal 2 "$status" "psql exit status"
    assert_cause reset_before_response "check the server's logs"
    assert_jq '.exchanges == 1 and .bytes_in == 0'
}

# nginx_proxy UPSTREAM_PORT: nginx (one process, under the shim) proxying
# /plain/ to the upstream with a new connection per request, and /ka/ over an
# upstream keep-alive pool. Sets PROXY_PORT.
nginx_proxy() {
    PROXY_PORT="$(free_port)"
    start_nginx nginx "$SHIM_PRELOAD" <<EOF
    upstream pool { server 127.0.0.1:$1; keepalive 4; }
    server {
        listen 127.0.0.1:$PROXY_PORT;
        location /plain/ { proxy_pass http://127.0.0.1:$1/; }
        location /ka/ {
            proxy_pass http://pool/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
EOF
    wait_for_port "$PROXY_PORT"
}

# through_proxy PROXY WAIT_S PATH UPSTREAM...: resetd UPSTREAM (a mode and its
# flags) behind PROXY (nginx_proxy or haproxy_proxy: under the shim, with the
# caller's RSTWATCH_* settings); one curl request for PATH through the proxy
# (output: the HTTP status; the body in $T/body); WAIT_S seconds for what the
# upstream does to the proxy's idle connection; then every server is
# stopped, so the proxy's records are complete.
through_proxy() {
    local proxy="$1" wait_s="$2" path="$3"
    shift 3
    start_server "$@"
    "$proxy" "$PORT"
    run curl -s -o "$T/body" -w '%{http_code}' "http://127.0.0.1:$PROXY_PORT$path"
    sleep "$wait_s"
    stop_servers
}

@test "matrix: nginx reverse proxy, no upstream keep-alive, upstream resets the request -> reset_before_response (nginx's record)" {
    through_proxy nginx_proxy 0 /plain/x rst-after-request
    assert_equal 502 "$output" "curl's HTTP status through nginx"
    assert_cause reset_before_response "check the server's logs"
    assert_jq '.role == "client" and .peer == "127.0.0.1:\($p)" and .exchanges == 1' --arg p "$PORT"
}

@test "matrix: nginx upstream keep-alive pool, upstream resets the idle connection after 1.5 s -> idle_close (RECORD=errors)" {
    RSTWATCH_RECORD=errors through_proxy nginx_proxy 2.5 /ka/x idle-close --delay-ms 1500
    assert_equal ok "$(<"$T/body")" "curl's body through nginx"
    assert_cause idle_close "nothing failed"
    assert_jq '.role == "client" and .idle_ms >= 1000'
}

@test "matrix: nginx upstream keep-alive pool, idle close under the default RECORD=resets -> counted, no record" {
    through_proxy nginx_proxy 2.5 /ka/x idle-close --delay-ms 1500
    assert_equal ok "$(<"$T/body")"
    assert_record_count 0
}

# haproxy_proxy UPSTREAM_PORT: HAProxy (under the shim) in front of the
# upstream, reusing idle server connections (http-reuse always). Sets PROXY_PORT.
haproxy_proxy() {
    command -v haproxy >/dev/null || skip "haproxy is not installed"
    PROXY_PORT="$(free_port)"
    cat >"$T/haproxy.cfg" <<EOF
global
    maxconn 64
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
    retries 0
    http-reuse always
frontend f
    bind 127.0.0.1:$PROXY_PORT
    default_backend b
backend b
    server s1 127.0.0.1:$1
EOF
    start_bg "$SHIM_PRELOAD" haproxy haproxy -db -f "$T/haproxy.cfg"
    wait_for_port "$PROXY_PORT"
}

@test "matrix: HAProxy's idle server connection reset by the upstream after 1.5 s -> idle_close (RECORD=errors)" {
    RSTWATCH_RECORD=errors through_proxy haproxy_proxy 2.5 /x idle-close --delay-ms 1500
    assert_equal ok "$(<"$T/body")" "curl's body through HAProxy"
    assert_cause idle_close "nothing failed"
    assert_jq '.role == "client" and .peer == "127.0.0.1:\($p)" and .idle_ms >= 1000' --arg p "$PORT"
}

@test "matrix: HAProxy in front of an upstream that resets the request -> reset_before_response (HAProxy's record)" {
    through_proxy haproxy_proxy 0 /x rst-after-request
    assert_equal 502 "$output" "curl's HTTP status through HAProxy"
    assert_cause reset_before_response "check the server's logs"
    assert_jq '.role == "client" and .peer == "127.0.0.1:\($p)"' --arg p "$PORT"
}

@test "matrix: python, a firewall rejects the request with a TCP reset (iptables REJECT tcp-reset) -> reset_before_response" {
    firewalled_hold 0 REJECT --reject-with tcp-reset
    expect_cause 1 reset_before_response "check the server's logs"
    assert_jq '.errno == "ECONNRESET" and .bytes_out > 0 and .bytes_in == 0'
}

# tls_nginx NAME LOCATION [HTTP]: nginx (one process, not under the shim)
# serving HTTPS with the test certificate on a free port, NGX_PORT, every
# path by the location body LOCATION; HTTP: more lines for http {}.
tls_nginx() {
    NGX_PORT="$(free_port)"
    start_nginx "$1" "" <<EOF
${3:-}
    server {
        listen 127.0.0.1:$NGX_PORT ssl;
        ssl_certificate $BATS_FILE_TMPDIR/cert.pem;
        ssl_certificate_key $BATS_FILE_TMPDIR/key.pem;
        location / { $2 }
    }
EOF
    wait_for_port "$NGX_PORT"
}

@test "matrix: curl over TLS to nginx, nginx killed (kill -9) during a fresh request -> reset_before_response, request 1" {
    # The TLS handshake used to count as an exchange: this record said
    # "reused" and idle_reuse although the server had crashed.
    need_tls
    need_preloadable curl
    start_py_server hang
    tls_nginx nginx-tls "proxy_pass http://127.0.0.1:$PORT/;"
    kill_when_request_held "$NGX_PID" &
    run_shim curl -sSk "https://127.0.0.1:$NGX_PORT/"
    [ "$status" != 0 ]
    assert_cause reset_before_response "server's logs"
    assert_jq '.exchanges == 1 and .reused == false and .bytes_out > 0'
}

@test "matrix: connect to a missing unix socket path under RECORD=all -> refused, not 'no pattern fits'" {
    RSTWATCH_RECORD=all run_shim "$PYTHON" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except FileNotFoundError:
    print("ENOENT")' "$T/no-such.sock"
    assert_equal ENOENT "$output"
    assert_record_count 1
    assert_jq '.errno == "ENOENT" and .cause.code == "refused" and (.cause.hint | contains("no socket exists at that path"))'
    assert_hint_fits
}

@test "matrix: python HTTPS reuses a connection nginx closed at keepalive_timeout (close_notify + FIN) -> idle_reuse" {
    # OpenSSL stops at the peer's close_notify and never reads the FIN: the
    # record comes when the app closes the connection.
    need_tls
    tls_nginx nginx-ka 'return 200 "ok\n";' "    keepalive_timeout 1s;"
    run_shim "$PYTHON" -c '
import http.client, ssl, sys, time
c = http.client.HTTPSConnection("127.0.0.1", int(sys.argv[1]), context=ssl._create_unverified_context())
c.request("GET", "/"); r = c.getresponse(); print(r.status, r.read())
time.sleep(2.5)
c.request("GET", "/"); c.getresponse()' "$NGX_PORT"
    assert_equal 1 "$status"
    [[ "$stderr" == *RemoteDisconnected* ]] || { echo "$stderr" >&2; false; }
    assert_cause idle_reuse "set the client's idle timeout below"
    assert_jq '.type == "eof" and .exchanges == 2 and .idle_before_ms >= 2000'
    assert_jq '.cause.hint | contains("the peer had already closed it") and contains("close_notify")'
    assert_jq '.local | startswith("127.0.0.1:")'
}

@test "TLS: a fresh request closed unanswered after 2 s, after session tickets: recorded, and unknown says why" {
    # Session tickets and a short response look alike from outside the TLS
    # stream, so the record must not pretend to know which it was.
    need_tls
    py_scenario "causes/server.py tls-slow-close" https-get
    expect_cause 1 unknown "session tickets or a short response"
    assert_jq '.type == "eof" and .exchanges == 1 and .idle_ms >= 1000 and (.cause.hint | test("^FIN [0-9.]+ s after the last bytes received"))'
}

@test "matrix: nginx as the server, its client aborts mid-request (SO_LINGER 0) -> client_abort (nginx's record)" {
    start_server http
    nginx_proxy "$PORT"
    run "$PYTHON" "$CAUSE_CLIENT" abort "$PROXY_PORT"
    assert_equal 0 "$status"
    sleep 0.3
    stop_servers
    assert_cause client_abort "check the client side"
    assert_jq '.role == "server" and .errno == "ECONNRESET" and .bytes_in > 0'
}
