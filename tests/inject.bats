#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# inject.bats: fault injection with RSTWATCH_INJECT (syntax in the header
# comment of shim/inject.c): reset, refuse and delay against real servers on
# loopback, the matching keys (port, after, count, prob, seed),
# determinism of the random choice, and malformed specs.

load lib

setup_file() { resolve_python; }

setup() {
    rstwatch_setup
    need_shim
}

teardown() {
    rstwatch_teardown
}

warnings() {
    printf '%s\n' "$shim_stderr" | grep '^rstwatch:' || true
}

# start_pyserver: starts clients.py keepalive-server in the background (tracked like resetd
# servers, so teardown stops it); sets PORT and PYLOG.
start_pyserver() {
    _server_seq=$((_server_seq + 1))
    local base="$T/pyserver.$_server_seq"
    PYLOG="$base.log"
    : >"$PYLOG"
    "$PYTHON" "$CLIENTS_PY" keepalive-server "$base.port" "$PYLOG" >"$base.out" 2>"$base.err" </dev/null 3>&- &
    SERVER_PIDS+=("$!")
    local i
    for ((i = 0; i < 250; i++)); do
        [ -s "$base.port" ] && PORT="$(<"$base.port")" && return 0
        sleep 0.02
    done
    echo "keepalive-server did not start: $(cat "$base.err")" >&2
    return 1
}

# strip_ms: the output of clients.py gets without the timing column.
strip_ms() {
    sed -E 's/^([0-9]+ [0-9]+ [0-9]+) [0-9]+$/\1/'
}

@test "reset after 1 request: the second read fails with ECONNRESET, a record says so, the server sees a RST" {
    start_server http --count-file "$T/count"
    run_bare "$PYTHON" "$CLIENTS_PY" gets 127.0.0.1 "$PORT" 3
    assert_equal "1 200 3
2 200 3
3 200 3" "$(strip_ms <<<"$bare_output")" "output without injection"

    RSTWATCH_INJECT="reset:port=$PORT,after=1" run_shim "$PYTHON" "$CLIENTS_PY" gets 127.0.0.1 "$PORT" 3
    assert_equal 0 "$shim_status"
    assert_equal "" "$shim_stderr" "stderr (a valid spec: no warning)"
    # request 2 fails; request 3 goes out on a new connection, which has
    # completed no request yet, so it is not reset
    assert_equal "1 200 3
2 error ConnectionResetError 104
3 200 3" "$(strip_ms <<<"$shim_output")" "output with injection"
    assert_equal 1 "$(count_type inject)" "inject records"
    assert_true "the inject record" \
        'map(select(.type == "inject"))[0] | .action == "reset" and .errno == "ECONNRESET" and .peer == $p and .exchanges == 2' \
        --arg p "127.0.0.1:$PORT"
    # the failure the app saw is recorded as a reset on the same connection
    assert_true "the reset record" \
        'map(select(.type == "reset")) | length == 1 and .[0].errno == "ECONNRESET" and .[0].op == "recv"'
    assert_true "one connection" 'map(.conn) | unique | length == 1'

    # The reset is real: the server's side of the connection gets
    # ECONNRESET, not a clean EOF (a python server logs how each ended).
    rm -rf "$LOG_DIR"
    start_pyserver
    RSTWATCH_INJECT="reset:port=$PORT,after=1" run_shim "$PYTHON" "$CLIENTS_PY" gets 127.0.0.1 "$PORT" 3 "$PYLOG"
    assert_equal "1 200 3
2 error ConnectionResetError 104
server: conn 1 ConnectionResetError
3 200 3" "$(strip_ms <<<"$shim_output")" "output against keepalive-server"
    local i
    for ((i = 0; i < 100; i++)); do
        grep -q '^conn 1 [A-Z]' "$PYLOG" && grep -q '^conn 2 eof' "$PYLOG" && break
        sleep 0.02
    done
    grep -qx 'conn 1 ConnectionResetError' "$PYLOG" || { echo "server log:" >&2; cat "$PYLOG" >&2; false; }
    # the second connection ended normally
    grep -qx 'conn 2 eof' "$PYLOG" || { echo "server log:" >&2; cat "$PYLOG" >&2; false; }
}

@test "an injected reset: the inject and reset records name the connection's local address" {
    start_server http
    RSTWATCH_INJECT="reset:port=$PORT,after=1" run_shim "$PYTHON" "$CLIENTS_PY" gets 127.0.0.1 "$PORT" 2
    assert_equal 2 "$(record_count)" "records (inject, reset)"
    # not "unknown", and not 0.0.0.0 (the socket is unbound once disconnected)
    assert_true "local addresses" \
        'all(.local | test("^127\\.0\\.0\\.1:[0-9]+$")) and (map(.local) | unique | length == 1)'
}

@test "reset only matches its port" {
    start_server http
    local other="$PORT"
    start_server http
    RSTWATCH_INJECT="reset:port=$PORT" run_shim "$PYTHON" "$CLIENTS_PY" gets 127.0.0.1 "$other" 2
    assert_equal "1 200 3
2 200 3" "$(strip_ms <<<"$shim_output")" "other port: no injection"
    [ ! -e "$LOG_DIR" ] || { records >&2; false; }
    RSTWATCH_INJECT="reset:port=$PORT" run_shim "$PYTHON" "$CLIENTS_PY" gets 127.0.0.1 "$PORT" 2
    assert_equal "1 error ConnectionResetError 104
2 error ConnectionResetError 104" "$(strip_ms <<<"$shim_output")" "matching port, after=0: every connection"
    assert_equal 2 "$(count_type inject)"
}

@test "refuse with count=2: without retry two connects fail, the third succeeds" {
    start_server http
    RSTWATCH_INJECT="refuse:port=$PORT,count=2" run_shim "$PYTHON" "$CLIENTS_PY" connects "$PORT" 3
    assert_equal "1 ConnectionRefusedError
2 ConnectionRefusedError
3 connected" "$shim_output"
    assert_equal 2 "$(count_type inject)" "inject records"
    assert_true "refusals recorded" 'all(.type == "inject" and .action == "refuse" and .errno == "ECONNREFUSED" and .op == "connect")'
}

@test "refuse with count=2 and RSTWATCH_RETRY=connect: the connect succeeds on the 3rd attempt" {
    start_server http
    RSTWATCH_INJECT="refuse:port=$PORT,count=2" RSTWATCH_RETRY=connect RSTWATCH_RETRY_BASE_MS=10 \
        run_shim "$PYTHON" "$CLIENTS_PY" connects "$PORT"
    assert_equal "1 connected" "$shim_output" "the app's one connect (stderr: $shim_stderr)"
    assert_equal 0 "$shim_status"
    assert_equal 2 "$(count_type inject)" "inject records"
    assert_true "injected refusals" 'map(select(.type == "inject")) | all(.action == "refuse")'
    assert_true "the third attempt succeeded" \
        'map(select(.type == "retry")) | length == 2 and .[-1].attempt == 3 and .[-1].outcome == "ok" and .[-1].action == "reconnect"'
    assert_equal 0 "$(count_type reset)" "reset records"
}

@test "delay_ms=300 makes each request on the port take at least 300 ms, and only there" {
    start_server http
    local other="$PORT"
    start_server http
    RSTWATCH_INJECT="delay:port=$PORT,delay_ms=300" run_shim "$PYTHON" "$CLIENTS_PY" gets 127.0.0.1 "$PORT" 2
    assert_equal 0 "$shim_status"
    assert_equal "1 200 3
2 200 3" "$(strip_ms <<<"$shim_output")"
    local ms
    for ms in $(awk '{ print $4 }' <<<"$shim_output"); do
        [ "$ms" -ge 300 ] || { echo "a request took $ms ms: $shim_output" >&2; false; }
    done
    assert_equal 2 "$(count_type inject)" "one delay record per request"
    assert_true "delay records" 'all(.type == "inject" and .action == "delay")'

    rm -rf "$LOG_DIR"
    RSTWATCH_INJECT="delay:port=$PORT,delay_ms=300" run_shim "$PYTHON" "$CLIENTS_PY" gets 127.0.0.1 "$other" 2
    for ms in $(awk '{ print $4 }' <<<"$shim_output"); do
        [ "$ms" -lt 300 ] || { echo "an undelayed request took $ms ms: $shim_output" >&2; false; }
    done
    [ ! -e "$LOG_DIR" ] || { records >&2; false; }
}

@test "prob=0.5,seed=7: the same connections are reset in two runs" {
    start_server http
    local spec="reset:port=$PORT,prob=0.5,seed=7" first
    RSTWATCH_INJECT="$spec" run_shim "$PYTHON" "$CLIENTS_PY" conns "$PORT" 10
    first="$shim_output"
    local resets
    resets="$(grep -c ConnectionResetError <<<"$first" || true)"
    echo "# run 1: $(tr '\n' ' ' <<<"$first")" >&2
    assert_equal 10 "$(grep -c . <<<"$first")" "lines"
    # a coin, not all or nothing
    [ "$resets" -ge 1 ]
    [ "$resets" -le 9 ]
    assert_equal "$resets" "$(count_type inject)" "inject records = resets the app saw"
    rm -rf "$LOG_DIR"
    RSTWATCH_INJECT="$spec" run_shim "$PYTHON" "$CLIENTS_PY" conns "$PORT" 10
    assert_equal "$first" "$shim_output" "second run with the same seed"
    assert_equal "$resets" "$(count_type inject)" "inject records, second run"
}

@test "a malformed spec warns once and injects nothing" {
    start_server http
    run_bare "$PYTHON" "$CLIENTS_PY" gets 127.0.0.1 "$PORT" 3
    local spec
    for spec in "reset:port=abc" "explode:port=$PORT" "reset:after" "reset:port=$PORT,prob=2" \
        "reset:port=$PORT,bogus=1" "delay:port=$PORT,delay_ms=-5" "reset:port=$PORT;nonsense" \
        "reset:port=$PORT,after=1x" "refuse:port=99999"; do
        echo "# RSTWATCH_INJECT=$spec" >&2
        rm -rf "$LOG_DIR"
        RSTWATCH_INJECT="$spec" run_shim "$PYTHON" "$CLIENTS_PY" gets 127.0.0.1 "$PORT" 3
        assert_equal 0 "$shim_status" "exit status with $spec"
        assert_equal "$(strip_ms <<<"$bare_output")" "$(strip_ms <<<"$shim_output")" "output with $spec"
        assert_equal "" "$(shim_stderr_without_warnings)" "stderr besides the warning"
        assert_equal 1 "$(warnings | grep -c .)" "warning lines for $spec"
        warnings | grep -q RSTWATCH_INJECT || { echo "warning does not name RSTWATCH_INJECT: $(warnings)" >&2; false; }
        [ ! -e "$LOG_DIR" ] || { echo "records with $spec:" >&2; records >&2; false; }
    done
}
