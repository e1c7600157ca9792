#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# retry.bats: connect retry and idempotent replay seen from the outside
# (docs/design.md, "Retry and replay"): real clients (python http.client,
# curl, an epoll event-loop client) against resetd on loopback. Each test
# checks what the user sees (exit status, output), what the server saw
# (resetd's request counts) and the JSON records the shim wrote.

load lib

# The C event-loop client (registers its socket with epoll once).
EVLOOP="$BUILD_DIR/helpers/evloop_client"

setup_file() { resolve_python; }

setup() {
    rstwatch_setup
    need_shim
}

teardown() {
    if [ -n "${NETNS_DEL:-}" ]; then ip netns del "$NETNS_DEL" 2>/dev/null || true; fi
    rstwatch_teardown
}

# start_counted MODE [args]: start_server with --count-file $T/count.N;
# sets COUNT to the count file's path.
start_counted() {
    local mode="$1"
    shift
    COUNT="$T/count.$((_server_seq + 1))"
    start_server "$mode" --count-file "$COUNT" "$@"
}

# answered / received: resetd's request counters (0 before any request).
answered() { cat "$COUNT" 2>/dev/null || echo 0; }
received() { cat "$COUNT.received" 2>/dev/null || echo 0; }

# retry_records: the records of type "retry", one compact JSON per line.
retry_records() {
    jq_record 'select(.type == "retry") | tojson'
}

# assert_between LO HI VALUE WHAT: LO <= VALUE <= HI (integers).
assert_between() {
    if ! [[ "$3" =~ ^[0-9]+$ ]] || [ "$3" -lt "$1" ] || [ "$3" -gt "$2" ]; then
        echo "${4:-value}: expected $1..$2, got '$3'" >&2
        return 1
    fi
}

# warnings: the "rstwatch:" lines of the last shim run's stderr.
warnings() {
    printf '%s\n' "$shim_stderr" | grep '^rstwatch:' || true
}

# ---- stale keep-alive: python, curl, epoll ------------------------------------------

@test "python GET, GET on a stale keep-alive: fails bare, replayed once under idempotent" {
    start_counted stale-keepalive
    run_bare "$PYTHON" "$CLIENTS_PY" methods 127.0.0.1 "$PORT" GET GET
    assert_equal 1 "$bare_status" "exit status without the shim"
    assert_equal "1 GET 200 3" "$bare_output" "output without the shim"
    [[ "$bare_stderr" == *ConnectionResetError* ]]
    assert_equal "1 2" "$(answered) $(received)" "answered/received without the shim"

    start_counted stale-keepalive
    RSTWATCH_RETRY=idempotent run_shim "$PYTHON" "$CLIENTS_PY" methods 127.0.0.1 "$PORT" GET GET
    assert_equal 0 "$shim_status" "exit status with replay (stderr: $shim_stderr)"
    assert_equal "1 GET 200 3
2 GET 200 3" "$shim_output"
    assert_equal "" "$shim_stderr" "stderr"
    # GET 1 answered, GET 2 received twice (reset, then replayed) and
    # answered once: stale-keepalive only answers a connection's first
    # request, so the answer came on the new connection.
    assert_equal "2 3" "$(answered) $(received)" "answered/received with replay"
    assert_equal "GET 2" "$(cat "$COUNT.methods")" "answered per method"
    assert_record_count 1
    assert_jq '.type == "retry" and .action == "replay" and .outcome == "ok" and .attempt == 1'
    assert_jq '.op == "recv" and .errno == "ECONNRESET" and .reused == true and .exchanges == 2'
    assert_jq '.peer == $p and .prog == "python3" and .pid == $pid' --arg p "127.0.0.1:$PORT" --argjson pid "$shim_pid"
    assert_jq '.events[-1].op == "replay" and .events[-2].errno == "ECONNRESET"'
}

@test "curl reusing a connection: its own retry bare; under idempotent the shim replays inside poll, before curl hears of the reset" {
    need_preloadable curl
    local urls fmt='%{http_code} %{num_connects}\n'
    start_counted stale-keepalive
    urls=("http://127.0.0.1:$PORT/a" "http://127.0.0.1:$PORT/b")
    # Bare, curl notices the dead reused connection and retries on a new
    # one itself: exit 0, but the second transfer needed a new connect.
    run_bare curl -sS -w "$fmt" "${urls[@]}"
    assert_equal 0 "$bare_status" "curl exit status without the shim"
    assert_equal "ok
200 1
ok
200 1" "$bare_output" "curl output without the shim"
    assert_equal "2 3" "$(answered) $(received)" "answered/received without the shim"

    # Without retry the shim changes nothing and records the reset curl saw.
    start_counted stale-keepalive
    urls=("http://127.0.0.1:$PORT/a" "http://127.0.0.1:$PORT/b")
    run_shim curl -sS -w "$fmt" "${urls[@]}"
    assert_equal "$bare_status $bare_output" "$shim_status $shim_output" "curl under the shim, retry off"
    assert_equal 0 "$(count_type retry)" "retry records with retry off"
    assert_equal 1 "$(count_type reset)" "reset records with retry off"
    rm -rf "$LOG_DIR"

    # With idempotent: curl waits in poll(), which reports the reset
    # (POLLERR|POLLHUP). The shim replays there, before the event reaches
    # curl (docs/design.md "Retry and replay"): curl reads the replay's
    # answer on what it takes for its reused connection, so its second
    # transfer needed no connect of its own.
    start_counted stale-keepalive
    urls=("http://127.0.0.1:$PORT/a" "http://127.0.0.1:$PORT/b")
    RSTWATCH_RETRY=idempotent run_shim curl -sS -w "$fmt" "${urls[@]}"
    assert_equal "0 ok
200 1
ok
200 0" "$shim_status $shim_output" "curl under the shim, idempotent"
    assert_equal "2 3" "$(answered) $(received)" "answered/received with idempotent"
    assert_record_count 1
    assert_jq '.type == "retry" and .action == "replay" and .outcome == "ok" and .op == "poll"'
    assert_jq '.prog == "curl" and .peer == $p and .reused == true and .errno == "ECONNRESET"' --arg p "127.0.0.1:$PORT"
}

@test "curl, a fresh connection reset before any response byte: bare it fails (56), under idempotent the replay inside poll answers it" {
    need_preloadable curl
    # every --every 2: the 2nd connection's request is aborted, the 1st and 3rd answered.
    start_counted every --every 2
    run curl -s -o /dev/null "http://127.0.0.1:$PORT/1"
    assert_equal 0 "$status" "the first connection is answered"
    run_bare curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/2"
    assert_equal "56 000" "$bare_status $bare_output" "curl without the shim"

    start_counted every --every 2
    run curl -s -o /dev/null "http://127.0.0.1:$PORT/1"
    RSTWATCH_RETRY=idempotent run_shim curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/2"
    assert_equal "0 200" "$shim_status $shim_output" "curl under the shim, idempotent (stderr: $shim_stderr)"
    assert_equal "2 3" "$(answered) $(received)" "answered/received"
    assert_record_count 1
    assert_jq '.type == "retry" and .action == "replay" and .outcome == "ok" and .op == "poll" and .reused == false'
    # Without retry the shim changes nothing: curl fails as bare.
    start_counted every --every 2
    run curl -s -o /dev/null "http://127.0.0.1:$PORT/1"
    run_shim curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/2"
    assert_equal "56 000" "$shim_status $shim_output" "curl under the shim, retry off"
}

# evloop_replays BARE_ERROR MODE [args]: evloop_client (level, then edge
# triggered) makes 3 requests to resetd MODE, which fails every reused
# connection; bare the loop ends with BARE_ERROR, under the shim with
# idempotent replay all three are answered, requests 2 and 3 each replayed
# once on fd 3 (a lost registration shows as "epoll_wait: timed out", a
# stale one as a foreign event).
evloop_replays() {
    local bare_error="$1" et
    shift
    for et in "" --et; do
        echo "# evloop_client ${et:-(level-triggered)}" >&2
        rm -rf "$LOG_DIR"
        start_counted "$@"
        run_bare "$EVLOOP" $et --requests 3 --timeout-ms 3000 127.0.0.1 "$PORT"
        assert_equal 1 "$bare_status" "exit status without the shim"
        assert_equal "fd=3
response 1: HTTP/1.1 200 OK body=3
$bare_error" "$bare_output"

        start_counted "$@"
        RSTWATCH_RETRY=idempotent run_shim "$EVLOOP" $et --requests 3 --timeout-ms 3000 127.0.0.1 "$PORT"
        assert_equal "fd=3
response 1: HTTP/1.1 200 OK body=3
response 2: HTTP/1.1 200 OK body=3
response 3: HTTP/1.1 200 OK body=3" "$shim_output" "evloop_client $et output with replay"
        assert_equal 0 "$shim_status" "exit status with replay"
        assert_equal "3 5" "$(answered) $(received)" "answered/received with replay"
        # (a reset seen in epoll_wait, or by a recv that met it first; an EOF by a recv)
        assert_true "two successful replays on fd 3" \
            'map(select(.type == "retry")) | length == 2 and all(.action == "replay" and .outcome == "ok" and .fd == 3 and (.op == "poll" or .op == "recv"))'
        assert_equal 2 "$(record_count)" "records in all"
    done
}

@test "an epoll event-loop client (level and edge triggered) whose reused connections are reset (EPOLLERR|EPOLLHUP): both requests replayed, the loop sees only answers" {
    evloop_replays "recv: Connection reset by peer" stale-keepalive
}

@test "an epoll event-loop client (level and edge triggered) survives the replay with its registration" {
    # The server closes (FIN) a reused connection on its next request: the
    # loop's epoll reports only EPOLLIN (no EPOLLERR/HUP, RDHUP not asked
    # for), so the app learns of the failure from recv() alone, where the
    # shim replays.
    evloop_replays "recv: unexpected end of stream" request-limit --every 1
}

# lighttpd_through PRELOAD MODE [args]: lighttpd (mod_proxy, under PRELOAD
# when given, with RSTWATCH_RETRY=idempotent) in front of resetd MODE; GETs
# /x through it ($LIGHTTPD_GETS times, default 1). Sets LT_RESULT to the
# last status, then resetd's answered and received counts (not printed: in a
# command substitution the server bookkeeping would stay in the subshell).
lighttpd_through() {
    local pre="$1" lport code i
    shift
    start_counted "$@"
    lport="$(free_port)"
    mkdir -p "$T/www"
    cat >"$T/lighttpd.conf" <<EOF
server.document-root = "$T/www"
server.bind = "127.0.0.1"
server.port = $lport
server.errorlog = "$T/lighttpd.err"
server.modules = ("mod_proxy")
proxy.server = ("" => (("host" => "127.0.0.1", "port" => $PORT)))
EOF
    RSTWATCH_RETRY=idempotent start_bg "$pre" lighttpd lighttpd -D -f "$T/lighttpd.conf"
    wait_for_port "$lport"
    for ((i = 0; i < ${LIGHTTPD_GETS:-1}; i++)); do
        code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$lport/x")"
    done
    stop_servers
    LT_RESULT="$code $(answered) $(received)"
}

@test "lighttpd (mod_proxy), a backend that resets every request: the replay inside epoll_wait is reset too, lighttpd answers 500 as bare, and the retry record says failed, never ok" {
    command -v lighttpd >/dev/null || { echo "lighttpd is not installed (scripts/install-deps.sh)" >&2; return 1; }
    lighttpd_through "" rst-after-request
    assert_equal "500 0 1" "$LT_RESULT" "status, answered, received (bare)"
    lighttpd_through "$SHIM_PRELOAD" rst-after-request
    assert_equal "500 0 2" "$LT_RESULT" \
        "status, answered, received (under the shim: the request and its one replay)"
    assert_true "one replay, failed" \
        'map(select(.type == "retry")) | length == 1 and .[0].action == "replay" and .[0].outcome == "failed"'
    run "$RSTWATCH" report "$LOG_DIR"
    [[ "$output" == *"1 incident"* && "$output" != *"replay ok"* ]] || { echo "$output" >&2; false; }
}

@test "lighttpd (mod_proxy), a backend connection reset before any response byte: bare 500, under idempotent the replay inside epoll_wait answers 200" {
    command -v lighttpd >/dev/null || { echo "lighttpd is not installed (scripts/install-deps.sh)" >&2; return 1; }
    # every --every 2: lighttpd's 2nd backend connection is aborted, its 1st and 3rd answered.
    LIGHTTPD_GETS=2
    lighttpd_through "" every --every 2
    assert_equal "500 1 2" "$LT_RESULT" "status, answered, received (bare)"
    lighttpd_through "$SHIM_PRELOAD" every --every 2
    assert_equal "200 2 3" "$LT_RESULT" \
        "status, answered, received (under the shim)"
    assert_true "one replay, ok, seen in epoll_wait, by lighttpd" \
        'map(select(.type == "retry")) | length == 1 and .[0].outcome == "ok" and .[0].op == "poll" and .[0].prog == "lighttpd"'
}

@test "a replay whose answer the app never read (it closed first): the retry record says failed, not ok" {
    start_counted idle-close --delay-ms 100
    RSTWATCH_RETRY=idempotent run_shim "$PYTHON" -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
req = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
s.sendall(req)
print(s.recv(1000).split(b"\r\n")[0].decode())
# the idle connection is reset (TCP_INFO state CLOSE, 7): the next write meets
# it and is replayed. Waiting for the state, not a fixed time, holds however
# late a loaded machine runs the server.
deadline = time.monotonic() + 10
while s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] != 7:
    assert time.monotonic() < deadline, "no reset within 10 s"
    time.sleep(0.01)
s.sendall(req)
s.close()  # before reading the replay'"'"'s answer
print("closed")' "$PORT"
    assert_equal 0 "$shim_status" "exit status (stderr: $shim_stderr)"
    assert_equal "HTTP/1.1 200 OK
closed" "$shim_output"
    assert_true "one replay, failed: the app closed before its answer" \
        'map(select(.type == "retry")) | length == 1 and .[0].action == "replay" and .[0].outcome == "failed" and (.[0].reason | test("closed the connection before"))'
}

@test "retry off (the default): the stale keep-alive failure is byte-for-byte unchanged" {
    start_counted stale-keepalive
    run_bare "$PYTHON" "$CLIENTS_PY" methods 127.0.0.1 "$PORT" GET GET
    local bare_counts="$(answered) $(received)"
    start_counted stale-keepalive
    run_shim "$PYTHON" "$CLIENTS_PY" methods 127.0.0.1 "$PORT" GET GET
    assert_same_as_bare
    assert_equal "$bare_stderr" "$shim_stderr" "stderr (no warnings expected)"
    assert_equal 1 "$shim_status"
    assert_equal "$bare_counts" "$(answered) $(received)" "server counts, bare vs shim"
    assert_record_count 1
    assert_jq '.type == "reset" and .errno == "ECONNRESET" and .op == "recv" and (has("action") | not)'
    # RSTWATCH_RETRY=off is the same as unset
    rm -rf "$LOG_DIR"
    start_counted stale-keepalive
    RSTWATCH_RETRY=off run_shim "$PYTHON" "$CLIENTS_PY" methods 127.0.0.1 "$PORT" GET GET
    assert_same_as_bare
    assert_equal "$bare_counts" "$(answered) $(received)" "server counts with RSTWATCH_RETRY=off"
    assert_equal 0 "$(count_type retry)" "retry records with RSTWATCH_RETRY=off"
}

@test "retry on and RECORD=all: a listener and a socket that never connected get no close record, as without retry" {
    start_server http
    local prog='
import socket, sys
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(1)  # a listener
unused = socket.socket()                                     # never connected
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"); print(c.recv(100)[:15])
for s in (ls, unused, c): s.close()'
    local mode
    for mode in off connect idempotent; do
        rm -rf "$LOG_DIR"
        RSTWATCH_RETRY=$mode RSTWATCH_RECORD=all run_shim "$PYTHON" -c "$prog" "$PORT"
        assert_equal "b'HTTP/1.1 200 OK'" "$shim_output" "output with RSTWATCH_RETRY=$mode"
        assert_equal "1 127.0.0.1:$PORT" \
            "$(records | jq -rs 'map(select(.type == "close")) | "\(length) \(.[0].peer)"')" \
            "close records with RSTWATCH_RETRY=$mode"
    done
}

@test "retry records name the connection's local address, the old one for a replay, the new one after it" {
    start_counted stale-keepalive
    # GET 2 is replayed on a new connection, where the POST is then refused
    RSTWATCH_RETRY=idempotent run_shim "$PYTHON" "$CLIENTS_PY" methods 127.0.0.1 "$PORT" GET GET POST
    assert_equal 1 "$shim_status"
    assert_equal 3 "$(record_count)" "records (replay, refusal, reset)"
    assert_true "every record has a local 127.0.0.1:port" 'all(.local | test("^127\\.0\\.0\\.1:[0-9]+$"))'
    assert_true "replay on the first connection, refusal and reset on the second" \
        '(.[0].action == "replay" and .[1].action == "none" and .[2].type == "reset") and
         .[0].local != .[1].local and .[1].local == .[2].local'
}

# ---- exactly-once: what is never replayed -------------------------------------------

@test "a POST without Idempotency-Key is never replayed: the server sees it once, the app gets the reset" {
    start_counted stale-keepalive
    run_bare "$PYTHON" "$CLIENTS_PY" methods 127.0.0.1 "$PORT" POST POST
    start_counted stale-keepalive
    RSTWATCH_RETRY=idempotent run_shim "$PYTHON" "$CLIENTS_PY" methods 127.0.0.1 "$PORT" POST POST
    assert_same_as_bare
    assert_equal 1 "$shim_status"
    assert_equal "1 POST 200 3" "$shim_output"
    [[ "$shim_stderr" == *ConnectionResetError* ]]
    # second POST received exactly once (and not answered: the reset)
    assert_equal "1 2" "$(answered) $(received)" "answered/received"
    assert_equal "POST 1" "$(cat "$COUNT.methods")"
    assert_equal 1 "$(count_type retry)" "retry records"
    assert_true "refused, naming Idempotency-Key" \
        'map(select(.type == "retry"))[0] | .action == "none" and .outcome == "refused" and .errno == "ECONNRESET" and (.reason | test("Idempotency-Key"))'
    # the app's failure is still recorded as a reset
    assert_equal 1 "$(count_type reset)" "reset records"
}

@test "a POST with an Idempotency-Key header is replayed" {
    start_counted stale-keepalive
    RSTWATCH_RETRY=idempotent run_shim "$PYTHON" "$CLIENTS_PY" methods 127.0.0.1 "$PORT" POST+key POST+key
    assert_equal 0 "$shim_status" "exit status (stderr: $shim_stderr)"
    assert_equal "1 POST 200 3
2 POST 200 3" "$shim_output"
    assert_equal "2 3" "$(answered) $(received)" "answered/received"
    assert_equal "POST 2" "$(cat "$COUNT.methods")"
    assert_record_count 1
    assert_jq '.type == "retry" and .action == "replay" and .outcome == "ok"'
}

@test "PUT, DELETE, HEAD, OPTIONS and TRACE are replayed" {
    start_counted stale-keepalive
    # GET opens the connection; each following request meets a reused
    # connection and is replayed: 3 replays = the budget floor.
    RSTWATCH_RETRY=idempotent run_shim "$PYTHON" "$CLIENTS_PY" methods 127.0.0.1 "$PORT" GET PUT DELETE HEAD
    assert_equal 0 "$shim_status" "exit status (stderr: $shim_stderr)"
    assert_equal "1 GET 200 3
2 PUT 200 3
3 DELETE 200 3
4 HEAD 200 0" "$shim_output"
    assert_equal "4 7" "$(answered) $(received)" "answered/received"
    assert_equal "GET 1
PUT 1
DELETE 1
HEAD 1" "$(cat "$COUNT.methods")"
    assert_equal 3 "$(count_type retry)"
    assert_true "three successful replays" 'all(.type == "retry" and .action == "replay" and .outcome == "ok")'
    rm -rf "$LOG_DIR"
    start_counted stale-keepalive
    RSTWATCH_RETRY=idempotent run_shim "$PYTHON" "$CLIENTS_PY" methods 127.0.0.1 "$PORT" GET OPTIONS TRACE
    assert_equal 0 "$shim_status" "exit status (stderr: $shim_stderr)"
    assert_equal "3 5" "$(answered) $(received)" "answered/received (OPTIONS, TRACE)"
    assert_equal 2 "$(count_type retry)"
    assert_true "two successful replays" 'all(.type == "retry" and .action == "replay" and .outcome == "ok")'
}

@test "at most one replay per request: a request reset again after its replay reaches the app" {
    # rst-after-request resets every request, the replayed one too.
    start_counted rst-after-request
    run_bare "$PYTHON" "$CLIENTS_PY" methods 127.0.0.1 "$PORT" GET
    start_counted rst-after-request
    RSTWATCH_RETRY=idempotent run_shim "$PYTHON" "$CLIENTS_PY" methods 127.0.0.1 "$PORT" GET
    assert_same_as_bare
    assert_equal 1 "$shim_status"
    [[ "$shim_stderr" == *ConnectionResetError* ]]
    # sent twice (the original and one replay), never a third time
    assert_equal "0 2" "$(answered) $(received)" "answered/received"
    assert_equal 2 "$(count_type retry)" "retry records"
    # the replay's record says "failed": the app never got its answer
    assert_true "a failed replay, then a refusal" \
        'map(select(.type == "retry")) | (.[0] | .action == "replay" and .outcome == "failed" and (.reason | test("failed too"))) and
         (.[1] | .action == "none" and .outcome == "refused" and (.reason | test("already replayed")))'
    assert_equal 1 "$(count_type reset)" "reset records"
}

@test "TLS bytes are never replayed, even when a later message looks like HTTP" {
    start_counted stale-keepalive
    run_bare "$PYTHON" "$CLIENTS_PY" tls-then-http "$PORT"
    assert_equal 1 "$bare_status"
    [[ "$bare_stderr" == *ConnectionResetError* ]]
    start_counted stale-keepalive
    RSTWATCH_RETRY=idempotent run_shim "$PYTHON" "$CLIENTS_PY" tls-then-http "$PORT"
    assert_same_as_bare
    [[ "$shim_output" == "first reply "*" bytes" ]]
    # the second message reached the server once and was never sent again
    assert_equal "1 2" "$(answered) $(received)" "answered/received"
    assert_equal 1 "$(count_type retry)" "retry records"
    assert_true "refused because of TLS" \
        'map(select(.type == "retry"))[0] | .action == "none" and .outcome == "refused" and (.reason | test("TLS"))'
}

@test "the replay budget: 3 replays (the floor), later ones refused naming the budget" {
    start_counted stale-keepalive
    # Every request after a connection's first is reset; the client goes on
    # after an error with a new connection (whose first request succeeds).
    RSTWATCH_RETRY=idempotent run_shim "$PYTHON" "$CLIENTS_PY" methods 127.0.0.1 "$PORT" --continue \
        GET GET GET GET GET GET GET GET GET GET
    assert_equal 0 "$shim_status" "exit status (stderr: $shim_stderr)"
    # requests 2-4 replayed (3 of 4 requests: the floor of 3 applies), then
    # 20% of 5..10 requests is below 3: every further reset reaches the app.
    assert_equal "1 GET 200 3
2 GET 200 3
3 GET 200 3
4 GET 200 3
5 GET error ConnectionResetError
6 GET 200 3
7 GET error ConnectionResetError
8 GET 200 3
9 GET error ConnectionResetError
10 GET 200 3" "$shim_output"
    assert_equal 3 "$(jq_records '[.[] | select(.type == "retry" and .action == "replay" and .outcome == "ok")] | length')" \
        "successful replays"
    assert_equal 3 "$(jq_records '[.[] | select(.type == "retry" and .action == "none" and .outcome == "refused")] | length')" \
        "refused replays"
    assert_true "refusals name the budget" \
        'map(select(.type == "retry" and .outcome == "refused")) | all(.reason | test("budget"))'
    # 10 requests answered; 3 replays and 3 resets on top of them
    assert_equal "7 13" "$(answered) $(received)" "answered/received"
}

@test "the budget and the replayable methods follow the rules file" {
    start_counted stale-keepalive
    # floor 1, 0%: a single replay for this peer
    printf '{"defaults": {"retry": "idempotent", "budget_min": 1, "budget_percent": 0}}\n' >"$T/budget.json"
    RSTWATCH_CONFIG="$T/budget.json" run_shim "$PYTHON" "$CLIENTS_PY" methods 127.0.0.1 "$PORT" --continue GET GET GET GET
    assert_equal "" "$(warnings)" "warnings"
    assert_equal "1 GET 200 3
2 GET 200 3
3 GET error ConnectionResetError
4 GET 200 3" "$shim_output"
    assert_equal 1 "$(jq_records '[.[] | select(.action == "replay")] | length')" "replays"

    # "methods" adds POST to the replayable methods
    rm -rf "$LOG_DIR"
    start_counted stale-keepalive
    printf '{"defaults": {"retry": "idempotent", "methods": ["POST"]}}\n' >"$T/methods.json"
    RSTWATCH_CONFIG="$T/methods.json" run_shim "$PYTHON" "$CLIENTS_PY" methods 127.0.0.1 "$PORT" POST POST
    assert_equal 0 "$shim_status" "exit status (stderr: $shim_stderr)"
    assert_equal "2 3" "$(answered) $(received)" "answered/received"
    assert_equal 1 "$(jq_records '[.[] | select(.action == "replay" and .outcome == "ok")] | length')" "replays"
}

@test "a request larger than RSTWATCH_REPLAY_MAX is not replayed" {
    start_counted stale-keepalive
    # http.client's GET is about 70 bytes
    RSTWATCH_RETRY=idempotent RSTWATCH_REPLAY_MAX=32 run_shim "$PYTHON" "$CLIENTS_PY" methods 127.0.0.1 "$PORT" GET GET
    assert_equal 1 "$shim_status"
    [[ "$shim_stderr" == *ConnectionResetError* ]]
    assert_equal "1 2" "$(answered) $(received)" "answered/received"
    assert_true "refused: not fully buffered" \
        'map(select(.type == "retry")) | length == 1 and .[0].outcome == "refused" and (.[0].reason | test("buffered"))'
    rm -rf "$LOG_DIR"
    start_counted stale-keepalive
    RSTWATCH_RETRY=idempotent RSTWATCH_REPLAY_MAX=0 run_shim "$PYTHON" "$CLIENTS_PY" methods 127.0.0.1 "$PORT" GET GET
    assert_equal 1 "$shim_status" "exit status with RSTWATCH_REPLAY_MAX=0"
    assert_equal "1 2" "$(answered) $(received)" "answered/received with RSTWATCH_REPLAY_MAX=0"
    assert_equal 0 "$(jq_records '[.[] | select(.action == "replay")] | length')" "replays with RSTWATCH_REPLAY_MAX=0"
}

# ---- connect retry ------------------------------------------------------------------

# Servers that bind at once and listen late. The bare runs use one that
# listens only after a minute (their connect is refused whenever the client
# gets to it). The retry runs use one that listens only once the client under
# the shim has written its first record to $LATE_LOG: that record is the
# retry of a connect the server refused, so the connect that succeeds is one
# of the retry's own, however late a loaded machine starts the client (a
# server listening after a fixed delay let a slow client connect at its first
# try). The server looks every 2 ms, well inside what the attempts left
# (18 of 20, the maximum) of rand(0, <= 300) ms backoff cover (~2.7 s on
# average).
NEVER_MS=60000

# start_late_server: an http server that listens once $LATE_LOG (the log of
# the next run_shim, given as RSTWATCH_LOG="$LATE_LOG") is not empty.
start_late_server() {
    LATE_LOG="$LOG_DIR/late.jsonl"
    start_server http --listen-when "$LATE_LOG"
}

# assert_reconnects OUTCOMES: the retry records are reconnects of ECONNREFUSED
# with attempts 2, 3, ... in order, and their outcomes are OUTCOMES (a jq
# filter over the array of outcomes).
assert_reconnects() {
    assert_true "reconnect records" \
        '[.[] | select(.type == "retry")] | length >= 1 and
         all(.action == "reconnect" and .errno == "ECONNREFUSED" and .op == "connect") and
         ([.[].attempt] == [range(2; length + 2)])'
    assert_true "reconnect outcomes" "[.[] | select(.type == \"retry\") | .outcome] | $1"
}

@test "connect retry: a blocking python connect to a server that listens late succeeds" {
    start_server http --listen-after-ms "$NEVER_MS"
    run_bare "$PYTHON" "$CLIENTS_PY" http 127.0.0.1 "$PORT"
    assert_equal 1 "$bare_status" "exit status without the shim"
    [[ "$bare_stderr" == *ConnectionRefusedError* ]]

    start_late_server
    RSTWATCH_LOG="$LATE_LOG" RSTWATCH_RETRY=connect RSTWATCH_RETRY_ATTEMPTS=20 RSTWATCH_RETRY_BASE_MS=200 RSTWATCH_RETRY_CAP_MS=300 \
        run_shim "$PYTHON" "$CLIENTS_PY" http 127.0.0.1 "$PORT"
    assert_equal 0 "$shim_status" "exit status with connect retry (stderr: $shim_stderr)"
    assert_equal "status 200, 3 bytes" "$shim_output"
    assert_equal "" "$shim_stderr"
    assert_reconnects '.[-1] == "ok" and (.[:-1] | all(. == "failed"))'
    assert_equal 0 "$(count_type reset)" "reset records"
    assert_true "one connection, the app's fd, the right peer" \
        '(map(.conn) | unique | length == 1) and (map(.fd) | unique | length == 1) and all(.peer == $p)' \
        --arg p "127.0.0.1:$PORT"
}

@test "connect retry: non-blocking curl to a server that listens late succeeds" {
    need_preloadable curl
    start_server http --listen-after-ms "$NEVER_MS"
    run_bare curl -sS "http://127.0.0.1:$PORT/"
    assert_equal 7 "$bare_status" "curl exit status without the shim"

    start_late_server
    RSTWATCH_LOG="$LATE_LOG" RSTWATCH_RETRY=connect RSTWATCH_RETRY_ATTEMPTS=20 RSTWATCH_RETRY_BASE_MS=200 RSTWATCH_RETRY_CAP_MS=300 \
        run_shim curl -sS "http://127.0.0.1:$PORT/"
    assert_equal 0 "$shim_status" "curl exit status with connect retry (stderr: $shim_stderr)"
    assert_equal "ok" "$shim_output"
    assert_equal "" "$shim_stderr"
    # a non-blocking reconnect is only "in progress" when recorded
    assert_reconnects 'all(. == "in_progress")'
    assert_equal 0 "$(count_type reset)" "reset records"
}

@test "connect retry inside poll/epoll_wait: poll and epoll (level, edge) clients connecting early succeed within their timeout" {
    # The reconnects happen inside the app's poll()/epoll_wait() (refusals
    # hidden, backoff slept there); the app's 3 s timeout must still be the
    # budget of the whole wait, while the server listens only after the
    # first reconnect (start_late_server).
    local variant expected
    for variant in poll epoll epoll-et; do
        echo "# $variant" >&2
        rm -rf "$LOG_DIR"
        local cmd=("$EVLOOP" --requests 1 --timeout-ms 3000)
        expected="fd=3
response 1: HTTP/1.1 200 OK body=3"
        case "$variant" in
        poll) cmd=("$CLIENT" --nonblock --timeout-ms 3000) ;; # same output format
        epoll-et) cmd+=(--et) ;;
        esac
        start_server http --listen-after-ms "$NEVER_MS"
        run_bare "${cmd[@]}" 127.0.0.1 "$PORT"
        assert_equal 1 "$bare_status" "$variant: exit status without the shim"
        [[ "$bare_output" == *"Connection refused"* ]]
        start_late_server
        RSTWATCH_LOG="$LATE_LOG" RSTWATCH_RETRY=connect RSTWATCH_RETRY_ATTEMPTS=20 RSTWATCH_RETRY_BASE_MS=200 RSTWATCH_RETRY_CAP_MS=300 \
            run_shim "${cmd[@]}" 127.0.0.1 "$PORT"
        # a lost registration or a shrunken timeout shows as a time-out
        assert_equal "$expected" "$shim_output" "$variant with connect retry"
        assert_equal 0 "$shim_status"
        assert_reconnects 'all(. == "in_progress")'
        assert_equal 0 "$(count_type reset)" "reset records"
    done
}

@test "connect retry exhausted: the app gets ECONNREFUSED unchanged and a reset record" {
    need_preloadable curl
    start_server refuse
    run_bare curl -sS "http://127.0.0.1:$PORT/"
    assert_equal 7 "$bare_status"
    RSTWATCH_RETRY=connect RSTWATCH_RETRY_ATTEMPTS=3 RSTWATCH_RETRY_BASE_MS=10 \
        run_shim curl -sS "http://127.0.0.1:$PORT/"
    assert_same_as_bare
    assert_equal 2 "$(count_type retry)" "reconnect records (attempts 2 and 3)"
    assert_reconnects 'length == 2'
    assert_equal 1 "$(count_type reset)" "reset records"
    assert_true "the reset record" \
        'map(select(.type == "reset"))[0] | .errno == "ECONNREFUSED" and .cause.code == "refused" and .peer == $p' \
        --arg p "127.0.0.1:$PORT"

    rm -rf "$LOG_DIR"
    run_bare "$PYTHON" "$CLIENTS_PY" connect-timed "$PORT"
    RSTWATCH_RETRY=connect RSTWATCH_RETRY_ATTEMPTS=3 RSTWATCH_RETRY_BASE_MS=10 \
        run_shim "$PYTHON" "$CLIENTS_PY" connect-timed "$PORT"
    assert_equal 1 "$shim_status"
    assert_equal "$bare_output" "$shim_output"
    [[ "$shim_stderr" == *ConnectionRefusedError* ]]
    assert_reconnects 'length == 2 and all(. == "failed")'
    assert_true "the reset record" \
        'map(select(.type == "reset")) | length == 1 and .[0].errno == "ECONNREFUSED" and .[0].op == "connect"'
}

@test "a non-blocking connect re-polled with connect() (POSIX): RSTWATCH_RETRY_ATTEMPTS holds and the app sees ECONNREFUSED" {
    start_server refuse
    run_bare "$PYTHON" "$CLIENTS_PY" connect-repoll "$PORT"
    assert_equal "connect: ECONNREFUSED" "$bare_output"
    RSTWATCH_RETRY=connect RSTWATCH_RETRY_ATTEMPTS=3 RSTWATCH_RETRY_BASE_MS=10 \
        run_shim "$PYTHON" "$CLIENTS_PY" connect-repoll "$PORT"
    assert_same_as_bare
    assert_reconnects 'length == 2'
    assert_true "attempts 2 and 3, one reset record" \
        '(map(select(.type == "retry") | .attempt) == [2, 3]) and (map(select(.type == "reset")) | length == 1)'
}

@test "retry on, a non-blocking connect from a fixed source port is refused: no replacement socket can be built, and the app still reads ECONNREFUSED from SO_ERROR" {
    start_server refuse
    local src
    src="$(free_port)"
    run_bare "$PYTHON" "$CLIENTS_PY" connect-poll-soerror "$PORT" "$src"
    assert_equal "connect: EINPROGRESS
poll: ready
SO_ERROR: ECONNREFUSED" "$bare_output"
    src="$(free_port)"
    RSTWATCH_RETRY=connect RSTWATCH_RETRY_BASE_MS=10 \
        run_shim "$PYTHON" "$CLIENTS_PY" connect-poll-soerror "$PORT" "$src"
    assert_same_as_bare
    assert_true "a reset record, and a retry record saying why there was no retry" \
        '(map(select(.type == "reset")) | length == 1 and .[0].errno == "ECONNREFUSED") and
         (map(select(.type == "retry")) | length == 1 and .[0].outcome == "refused" and (.[0].reason | test("replacement socket")))'
}

@test "retry on, a non-blocking connect fails with an error that is not retried (ICMP protocol unreachable): the app still reads it from SO_ERROR" {
    local ns="rstwatch-hr-$$-$BATS_TEST_NUMBER"
    ip netns add "$ns" || skip "cannot create a network namespace"
    NETNS_DEL="$ns"
    ip netns exec "$ns" ip link set lo up
    ip netns exec "$ns" iptables -A OUTPUT -p tcp --dport 4444 -j REJECT --reject-with icmp-proto-unreachable
    run_bare ip netns exec "$ns" "$PYTHON" "$CLIENTS_PY" connect-poll-soerror 4444
    assert_equal "connect: EINPROGRESS
poll: ready
SO_ERROR: ENOPROTOOPT" "$bare_output"
    RSTWATCH_RETRY=connect RSTWATCH_RECORD=errors \
        run_shim ip netns exec "$ns" "$PYTHON" "$CLIENTS_PY" connect-poll-soerror 4444
    assert_same_as_bare
    assert_true "an error record of the connect" \
        'map(select(.type == "error")) | length == 1 and .[0].errno == "ENOPROTOOPT" and .[0].op == "connect"'
}

# run_shim_sleeps CMD...: run_shim under strace, which writes the backoff
# sleeps the command asks for to $T/sleeps (glibc's nanosleep is
# clock_nanosleep). Their lengths, not the time they took, are what a
# loaded machine cannot change.
run_shim_sleeps() {
    run_shim strace -f -qq -o "$T/sleeps" -e trace=nanosleep,clock_nanosleep "$@"
}

# sleeps_ms: the lengths of the sleeps in $T/sleeps, in ms, one a line.
sleeps_ms() {
    sed -nE 's/.*nanosleep\(.*\{tv_sec=([0-9]+), tv_nsec=([0-9]+)\}.*/\1 \2/p' "$T/sleeps" |
        awk '{ printf "%d\n", $1 * 1000 + $2 / 1000000 }'
}

@test "backoff is bounded: base 100 ms, cap 150 ms, 3 attempts sleep twice, rand(0, 100) then rand(0, min(150, 200)) ms" {
    start_server refuse
    local sleeps
    RSTWATCH_RETRY=connect RSTWATCH_RETRY_ATTEMPTS=3 RSTWATCH_RETRY_BASE_MS=100 RSTWATCH_RETRY_CAP_MS=150 \
        run_shim_sleeps "$PYTHON" "$CLIENTS_PY" connect-timed "$PORT"
    assert_equal 1 "$shim_status"
    [[ "$shim_stderr" == *ConnectionRefusedError* ]]
    sleeps="$(sleeps_ms)"
    echo "# backoff sleeps (ms): $(tr '\n' ' ' <<<"$sleeps")" >&2
    assert_equal 2 "$(grep -c . <<<"$sleeps")" "backoff sleeps, 3 attempts (strace: $(<"$T/sleeps"))"
    assert_between 0 100 "$(sed -n 1p <<<"$sleeps")" "first sleep in ms (base)"
    assert_between 0 150 "$(sed -n 2p <<<"$sleeps")" "second sleep in ms (doubled base, capped)"
    assert_reconnects 'length == 2 and all(. == "failed")'
    assert_equal 1 "$(count_type reset)"
    # every attempt is on the timeline: three refused connects
    assert_true "three refused connects in the record's events" \
        'map(select(.type == "reset"))[0] | [.events[] | select(.op == "connect" and .errno == "ECONNREFUSED")] | length == 3'

    # The cap bounds the doubling and the sleeps really happen: 8 attempts
    # with base = cap = 100 ms sleep 7 x rand(0, 100) ms (without the cap
    # the 7th could be 6.4 s; all 7 within 100 ms by chance: 1 in 2^21).
    rm -rf "$LOG_DIR"
    RSTWATCH_RETRY=connect RSTWATCH_RETRY_ATTEMPTS=8 RSTWATCH_RETRY_BASE_MS=100 RSTWATCH_RETRY_CAP_MS=100 \
        run_shim_sleeps "$PYTHON" "$CLIENTS_PY" connect-timed "$PORT"
    sleeps="$(sleeps_ms)"
    echo "# 8 attempts, backoff sleeps (ms): $(tr '\n' ' ' <<<"$sleeps")" >&2
    assert_equal 7 "$(grep -c . <<<"$sleeps")" "backoff sleeps, 8 attempts"
    assert_equal 7 "$(awk '$1 >= 0 && $1 <= 100' <<<"$sleeps" | grep -c .)" "sleeps within the cap"
    assert_between 1 700 "$(awk '{ s += $1 } END { print s }' <<<"$sleeps")" "the sleeps' total in ms"
    assert_reconnects 'length == 7'
}

# ---- the rules file -----------------------------------------------------------------

@test "examples/rules.json is a valid rules file (loads without a warning)" {
    local rules="$RSTWATCH_ROOT/examples/rules.json"
    [ -f "$rules" ]
    jq -e . "$rules" >/dev/null
    start_server http
    RSTWATCH_CONFIG="$rules" run_shim "$PYTHON" "$CLIENTS_PY" http 127.0.0.1 "$PORT"
    assert_equal 0 "$shim_status"
    assert_equal "" "$shim_stderr" "stderr (no warning expected)"
    # and it does select retry for some peer (not a do-nothing example)
    assert_equal true "$(jq '[.rules[] | .retry] | any(. == "idempotent")' "$rules")"
}

@test "a rules file selecting idempotent for one port: replay there, not on another port" {
    start_counted stale-keepalive
    local port_a="$PORT" count_a="$COUNT"
    start_counted stale-keepalive
    local port_b="$PORT" count_b="$COUNT"
    # the shape of examples/rules.json, aimed at port A only
    jq --argjson p "$port_a" '.rules = [{"peer": "127.0.0.1", "ports": $p, "retry": "idempotent"}]' \
        "$RSTWATCH_ROOT/examples/rules.json" >"$T/rules.json"

    RSTWATCH_CONFIG="$T/rules.json" run_shim "$PYTHON" "$CLIENTS_PY" methods 127.0.0.1 "$port_a" GET GET
    assert_equal 0 "$shim_status" "port A (ruled) exit status (stderr: $shim_stderr)"
    assert_equal "" "$shim_stderr"
    assert_equal "2 3" "$(cat "$count_a") $(cat "$count_a.received")" "port A answered/received"
    assert_record_count 1
    assert_jq '.type == "retry" and .action == "replay" and .outcome == "ok" and .peer == $p' \
        --arg p "127.0.0.1:$port_a"

    rm -rf "$LOG_DIR"
    run_bare "$PYTHON" "$CLIENTS_PY" methods 127.0.0.1 "$port_b" GET GET
    RSTWATCH_CONFIG="$T/rules.json" run_shim "$PYTHON" "$CLIENTS_PY" methods 127.0.0.1 "$port_b" GET GET
    assert_same_as_bare
    assert_equal 1 "$shim_status" "port B (not ruled) exit status"
    # both runs: GET 1 answered, GET 2 reset, nothing replayed
    assert_equal "2 4" "$(cat "$count_b") $(cat "$count_b.received")" "port B answered/received"
    assert_record_count 1
    assert_jq '.type == "reset" and .peer == $p' --arg p "127.0.0.1:$port_b"
}

@test "an invalid rules file: one warning naming the file (and line/column), and no retry" {
    start_counted stale-keepalive
    run_bare "$PYTHON" "$CLIENTS_PY" methods 127.0.0.1 "$PORT" GET GET
    assert_equal 1 "$bare_status"
    printf '{\n  "defaults": {"retry": "idempotent"},\n  "rules": [{"ports": 80,}]\n}\n' >"$T/syntax.json"
    printf '{"defaults": {"retry": "idempotent", "atempts": 3}}\n' >"$T/unknown-key.json"
    printf '{"defaults": {"retry": "idempotent", "attempts": "3"}}\n' >"$T/wrong-type.json"
    printf '{"rules": [{"peer": "127.0.0.1", "retry": "idempotent", "ports": true}]}\n' >"$T/wrong-type2.json"
    printf '{"defaults": {"retry": "idempotent"}, "retires": []}\n' >"$T/unknown-top.json"
    local f expect
    for f in syntax unknown-key wrong-type wrong-type2 unknown-top missing; do
        case "$f" in
        syntax) expect='line 3, column [0-9]+' ;;
        unknown-key) expect='atempts' ;;
        unknown-top) expect='retires' ;;
        wrong-type) expect='defaults: bad value for "attempts"' ;;
        wrong-type2) expect='rules\[0\]: bad value for "ports"' ;;
        missing) expect='No such file' ;;
        esac
        echo "# $f.json" >&2
        rm -rf "$LOG_DIR"
        RSTWATCH_RETRY=idempotent RSTWATCH_CONFIG="$T/$f.json" \
            run_shim "$PYTHON" "$CLIENTS_PY" methods 127.0.0.1 "$PORT" GET GET
        assert_same_as_bare
        assert_equal 1 "$(warnings | grep -c .)" "warning lines for $f.json"
        warnings | grep -qF "$T/$f.json" || { echo "warning does not name the file: $(warnings)" >&2; false; }
        warnings | grep -Eq "$expect" || { echo "warning lacks /$expect/: $(warnings)" >&2; false; }
        assert_equal 0 "$(count_type retry)" "retry records for $f.json"
        assert_equal 1 "$(count_type reset)" "reset records for $f.json"
    done
}
