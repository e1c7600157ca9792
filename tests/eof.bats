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
import http.client, sys, time
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
for i in range(2):
    c.request(sys.argv[2] if len(sys.argv) > 2 else "GET", "/x", body=b"p" if len(sys.argv) > 2 else None)
    r = c.getresponse()
    print(i, r.status, r.read().decode().strip())
    time.sleep(0.6)
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
