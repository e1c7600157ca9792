#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The quiet stale keep-alive: the server (like nginx at keepalive_timeout)
# closed an idle keep-alive connection with a FIN; the client reuses it and
# reads EOF where the response was due ("Remote end closed connection without
# response"). No errno, but the same story as a reset: it gets an "eof"
# record, and under RSTWATCH_RETRY=idempotent the request is replayed.

load lib

setup() {
    rstwatch_setup
    need_shim
    CLIENT_PY="$T/keepalive.py"
    cat >"$CLIENT_PY" <<'PY'
import http.client, socket, sys, time
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
for i in range(2):
    c.request(sys.argv[2] if len(sys.argv) > 2 else "GET", "/x", body=b"p" if len(sys.argv) > 2 else None)
    r = c.getresponse()
    print(i, r.status, r.read().decode().strip())
    time.sleep(0.6)
    # ... and until the server's FIN is in (TCP_INFO state CLOSE_WAIT, 8),
    # however late a loaded machine runs the server's idle timer
    deadline = time.monotonic() + 10
    while c.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] != 8:
        assert time.monotonic() < deadline, "no FIN within 10 s"
        time.sleep(0.01)
PY
}

teardown() {
    rstwatch_teardown
}

@test "EOF on a reused keep-alive connection: same failure as bare, one eof record explaining early_close (closed 300 ms into the idle)" {
    start_server idle-fin --delay-ms 300
    run_bare python3 "$CLIENT_PY" "$PORT"
    [ "$status" = 1 ]
    [[ "$stderr" == *"RemoteDisconnected"* ]]
    run_shim python3 "$CLIENT_PY" "$PORT"
    assert_same_as_bare
    assert_record_count 1
    assert_jq '.type == "eof" and .op == "recv" and .errno == null and .reused == true and .exchanges == 2'
    assert_jq '.cause.code == "early_close" and (.cause.hint | test("not an idle timeout")) and .idle_before_ms >= 500'
    assert_jq '.events[-1].op == "recv" and .events[-1].ret == 0'
    run "$RSTWATCH" report "$LOG_DIR"
    [ "$status" = 0 ]
    [[ "$output" == *"got EOF: the peer closed where the response was due"* ]]
}

@test "EOF on a reused keep-alive connection: a GET is replayed under idempotent, a POST is not" {
    start_server idle-fin --delay-ms 300 --count-file "$T/count"
    RSTWATCH_RETRY=idempotent run_shim python3 "$CLIENT_PY" "$PORT"
    [ "$status" = 0 ] || { echo "$stderr"; false; }
    [[ "$output" == *"1 200 ok"* ]]
    [ "$(jq_record 'select(.type == "retry") | .action + " " + .outcome')" = "replay ok" ]
    [[ "$(jq_record 'select(.type == "retry") | .reason')" == *"EOF on a reused connection"* ]]

    rm -rf "$LOG_DIR"
    RSTWATCH_RETRY=idempotent run_shim python3 "$CLIENT_PY" "$PORT" POST
    # A POST's body may already meet the reset the headers provoked: EPIPE
    # instead of EOF. Either way the app gets the error and nothing is replayed.
    [ "$status" = 1 ]
    [[ "$stderr" =~ RemoteDisconnected|BrokenPipeError|ConnectionResetError ]]
    [ "$(jq_record 'select(.type == "retry") | .outcome')" = "refused" ]
    [[ "$(jq_record 'select(.type == "retry") | .reason')" == *"Idempotency-Key"* ]]
    [ "$(jq_record 'select(.type == "eof" or .type == "reset") | .cause.code')" = "early_close" ]
}

@test "a fresh connection of another protocol: a message answered by the peer's FIN is no failure (no eof record)" {
    # A client that sends one line and reads until the server closes (a
    # QUIT, a fire-and-forget command): nothing says a response was due.
    local server="$T/fin_server.py"
    cat >"$server" <<'PY'
import socket, sys
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(8)
open(sys.argv[1] + ".tmp", "w").write(str(ls.getsockname()[1]))
__import__("os").rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    c, _ = ls.accept()
    c.recv(100)
    c.close()
PY
    python3 "$server" "$T/fin.port" </dev/null >/dev/null 2>&1 3>&- &
    SERVER_PIDS+=("$!")
    local i
    for ((i = 0; i < 250; i++)); do [ -s "$T/fin.port" ] && break; sleep 0.02; done
    local client='
import socket, sys
for line in (b"QUIT\r\n", b"GET / HTTP/1.0\r\n\r\n"):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.sendall(line)
    print(repr(line[:4]), "read", repr(s.recv(100)))
    s.close()'
    run_bare python3 -c "$client" "$(<"$T/fin.port")"
    run_shim python3 -c "$client" "$(<"$T/fin.port")"
    assert_same_as_bare
    # the HTTP request's unanswered FIN stays a record ("Empty reply from server")
    assert_record_count 1
    assert_jq '.type == "eof" and .cause.code == "reset_before_response"'
}
