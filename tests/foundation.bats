#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# foundation.bats: end-to-end behaviour of the shim's foundation (the layers
# and state of docs/design.md, seen from outside): unmodified programs (curl, python, the C client) behave exactly as without
# the shim, and a reset-family failure leaves exactly one JSON record that
# names the connection, the failing call, the counters and the timeline.

load lib

ISO_UTC_RE='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$'
# The C client's default request: "GET / HTTP/1.1\r\nHost: x\r\n\r\n".
CLIENT_REQUEST_BYTES=27
# A uid no one uses, for the default-log-directory tests (/tmp/rstwatch-$UID).
OTHER_UID=54321

setup_file() { resolve_python; }

setup() {
    rstwatch_setup
    need_shim
}

teardown() {
    rstwatch_teardown
    if [ -n "${CLEAN_DEFAULT_DIR:-}" ]; then
        rm -rf "/tmp/rstwatch-$OTHER_UID" "/tmp/rstwatch-test-target-$OTHER_UID"
    fi
}

# field NAME: one field of the single record (jq path without the dot).
field() {
    jq_record ".$1"
}

# assert_field NAME EXPECTED
assert_field() {
    assert_equal "$2" "$(field "$1")" "record field $1"
}

@test "curl sees the same exit code and output, and one record names the peer" {
    need_preloadable curl
    start_server rst-after-request
    run_bare curl -sS "http://127.0.0.1:$PORT/"
    assert_equal 56 "$bare_status" "curl exit status without the shim"
    run_shim curl -sS "http://127.0.0.1:$PORT/"
    assert_same_as_bare
    assert_equal "$bare_stderr" "$shim_stderr" "stderr (no warnings expected)"

    assert_record_count 1
    [ -f "$LOG_DIR/$shim_pid.jsonl" ] || { ls -l "$LOG_DIR" >&2; false; }
    assert_field v 1
    assert_field type reset
    assert_field errno ECONNRESET
    assert_field errno_code 104
    assert_field op recv
    assert_field role client
    assert_field family inet
    assert_field peer "127.0.0.1:$PORT"
    assert_field prog curl
    assert_field pid "$shim_pid"
    assert_field bytes_in 0
    assert_field events_dropped 0
    assert_field reused false
    assert_jq '.bytes_out > 0 and .calls_out >= 1 and .exchanges >= 1'
    assert_jq '(.fd | type) == "number" and .fd >= 0 and (.conn | type) == "number"'
    assert_jq '(.tid | type) == "number" and .age_ms >= 0 and .idle_ms >= 0'
    assert_jq '.local | test("^127\\.0\\.0\\.1:[0-9]+$")'
    assert_jq '.time | test($re)' --arg re "$ISO_UTC_RE"
    assert_jq '.events[0].op == "connect" and (.events[0].ret == 0 or (.events[0].ret == -1 and .events[0].errno == "EINPROGRESS"))'
    assert_jq '.events[-1].errno == "ECONNRESET" and .events[-1].ret == -1'
    assert_jq '[.events[].t_ms] | . == sort'
    assert_jq '(.tcp | type) == "object" and (.tcp.state | type) == "string" and (.tcp.state | length) > 0'
    assert_jq '(.cause.code | type) == "string" and (.cause.code | length) > 0 and (.cause.hint | length) > 0'
}

@test "a python socket client fails identically and the record shows recv on the peer" {
    start_server rst-after-request
    run_bare "$PYTHON" "$CLIENTS_PY" socket 127.0.0.1 "$PORT"
    assert_equal 1 "$bare_status" "python exit status without the shim"
    [[ "$bare_stderr" == *ConnectionResetError* ]]
    run_shim "$PYTHON" "$CLIENTS_PY" socket 127.0.0.1 "$PORT"
    assert_same_as_bare
    assert_record_count 1
    assert_field type reset
    assert_field op recv
    assert_field errno ECONNRESET
    assert_field peer "127.0.0.1:$PORT"
    assert_field bytes_out "$CLIENT_REQUEST_BYTES"
    assert_field pid "$shim_pid"
}

@test "python http.client shows the same traceback, and the record shows recv on the peer" {
    start_server rst-after-request
    run_bare "$PYTHON" "$CLIENTS_PY" http 127.0.0.1 "$PORT"
    assert_equal 1 "$bare_status" "python exit status without the shim"
    [[ "$bare_stderr" == *ConnectionResetError* ]]
    run_shim "$PYTHON" "$CLIENTS_PY" http 127.0.0.1 "$PORT"
    assert_same_as_bare
    assert_record_count 1
    assert_field op recv
    assert_field errno ECONNRESET
    assert_field peer "127.0.0.1:$PORT"
    assert_jq '.bytes_out > 0 and .bytes_in == 0'
}

@test "a refused curl connect is recorded as ECONNREFUSED with the peer" {
    need_preloadable curl
    start_server refuse
    run_bare curl -sS "http://127.0.0.1:$PORT/"
    assert_equal 7 "$bare_status" "curl exit status without the shim"
    run_shim curl -sS "http://127.0.0.1:$PORT/"
    assert_same_as_bare
    assert_record_count 1
    assert_field errno ECONNREFUSED
    assert_field errno_code 111
    assert_field peer "127.0.0.1:$PORT"
    assert_field cause.code refused
    # curl connects non-blocking and learns the refusal from SO_ERROR.
    assert_jq '.op == "connect" or .op == "sockopt_error"'
    assert_jq '.bytes_out == 0 and .bytes_in == 0'
}

@test "a refused blocking connect is recorded with op connect" {
    start_server refuse
    run_bare "$CLIENT" 127.0.0.1 "$PORT"
    assert_equal "connect: Connection refused" "$bare_output"
    run_shim "$CLIENT" 127.0.0.1 "$PORT"
    assert_same_as_bare
    assert_record_count 1
    assert_field op connect
    assert_field errno ECONNREFUSED
    assert_field type reset
    assert_field peer "127.0.0.1:$PORT"
    assert_field cause.code refused
}

@test "each send variant that hits a reset is named in the record" {
    start_server rst-on-accept
    local io
    for io in send write writev sendmsg sendto; do
        echo "# --io $io" >&2
        rm -rf "$LOG_DIR"
        run_bare "$CLIENT" --io "$io" --pre-send-ms 100 127.0.0.1 "$PORT"
        assert_equal "fd=3
$io: Connection reset by peer" "$bare_output" "client output"
        run_shim "$CLIENT" --io "$io" --pre-send-ms 100 127.0.0.1 "$PORT"
        assert_same_as_bare
        assert_record_count 1
        assert_field op "$io"
        assert_field errno ECONNRESET
        assert_field fd 3
        assert_field bytes_out 0
    done
}

@test "each receive variant that hits a reset is named in the record (recv_chk as recv)" {
    start_server rst-after-request
    local rio op
    for rio in recv read readv recvmsg recvfrom recv_chk; do
        echo "# --rio $rio" >&2
        op="$rio"
        [ "$rio" != recv_chk ] || op=recv
        rm -rf "$LOG_DIR"
        run_bare "$CLIENT" --rio "$rio" 127.0.0.1 "$PORT"
        assert_equal "fd=3
$rio: Connection reset by peer" "$bare_output" "client output"
        run_shim "$CLIENT" --rio "$rio" 127.0.0.1 "$PORT"
        assert_same_as_bare
        assert_record_count 1
        assert_field op "$op"
        assert_field errno ECONNRESET
        assert_field bytes_out "$CLIENT_REQUEST_BYTES"
        assert_field bytes_in 0
    done
}

@test "a server closing with our request unread is recorded with nothing received" {
    start_server unread-close
    run_both "$CLIENT" 127.0.0.1 "$PORT"
    assert_equal "fd=3
recv: Connection reset by peer" "$shim_output"
    assert_record_count 1
    assert_field errno ECONNRESET
    assert_field bytes_in 0
    assert_field bytes_out "$CLIENT_REQUEST_BYTES"
}

@test "a reset in the middle of a response is recorded with the bytes received so far" {
    start_server rst-mid-response
    local head='HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n'
    local expected=$(($(printf "$head" | wc -c) + 1000))
    run_both "$CLIENT" 127.0.0.1 "$PORT"
    assert_equal "fd=3
recv: Connection reset by peer" "$shim_output"
    assert_record_count 1
    assert_field errno ECONNRESET
    assert_field bytes_in "$expected"
    assert_jq '.calls_in >= 1'
    # the timeline shows data arriving before the reset
    assert_jq '[.events[] | select(.op == "recv" and .ret > 0)] | length >= 1'
}

@test "a non-blocking client driven by poll gets a record" {
    start_server rst-after-request
    run_both "$CLIENT" --nonblock 127.0.0.1 "$PORT"
    assert_record_count 1
    assert_field op recv
    assert_field errno ECONNRESET
    assert_field peer "127.0.0.1:$PORT"
    assert_jq '.events[0].op == "connect"'
}

@test "a non-blocking client driven by epoll gets a record" {
    start_server rst-after-request
    run_both "$CLIENT" --epoll 127.0.0.1 "$PORT"
    assert_record_count 1
    assert_field op recv
    assert_field errno ECONNRESET
    assert_field fd 4
    assert_field peer "127.0.0.1:$PORT"
}

@test "a reused fd number gets a new connection id and only the new connection's counters" {
    start_server rst-after-request
    run_both "$CLIENT" --reuse-fd 127.0.0.1 "$PORT"
    assert_equal "first_fd=3
first: recv: Connection reset by peer
fd=3
recv: Connection reset by peer" "$shim_output"
    assert_record_count 2
    # both records are for fd 3, from different connections
    assert_equal "3 3" "$(jq_record .fd | xargs)" "fds"
    assert_equal true "$(jq_records '.[0].conn != .[1].conn')" "distinct conn ids"
    assert_equal "5 $CLIENT_REQUEST_BYTES" "$(jq_record .bytes_out | xargs)" "bytes_out of first and second"
    assert_equal "1 1" "$(jq_record .calls_out | xargs)" "calls_out of first and second"
    assert_equal "1 1" "$(jq_record '[.events[] | select(.op == "connect")] | length' | xargs)" "connect events"
}

@test "I/O on a dup'd fd after closing the original is recorded for the same connection" {
    start_server rst-after-request
    run_both "$CLIENT" --dup 127.0.0.1 "$PORT"
    assert_equal "fd=4
recv: Connection reset by peer" "$shim_output"
    assert_record_count 1
    assert_field fd 4
    assert_field peer "127.0.0.1:$PORT"
    assert_field bytes_out "$CLIENT_REQUEST_BYTES"
    # the connect happened on the original fd: same connection, same timeline
    assert_jq '.events[0].op == "connect"'
}

@test "I/O on a dup2'd fd is recorded under the new fd number" {
    start_server rst-after-request
    run_shim "$CLIENT" --dup2-onto 9 127.0.0.1 "$PORT"
    assert_equal "fd=9
recv: Connection reset by peer" "$shim_output"
    assert_record_count 1
    assert_field fd 9
    assert_field peer "127.0.0.1:$PORT"
    assert_jq '.events[0].op == "connect"'
}

@test "after fork the child's failure is recorded under the child's pid and the parent writes nothing" {
    start_server rst-after-request
    run_shim "$CLIENT" --fork 127.0.0.1 "$PORT"
    assert_equal 1 "$shim_status" "client exit status"
    local child
    child="$(printf '%s\n' "$shim_output" | sed -n 's/^child=//p')"
    [ -n "$child" ] && [ "$child" != "$shim_pid" ]
    assert_record_count 1
    [ -f "$LOG_DIR/$child.jsonl" ] || { ls -l "$LOG_DIR" >&2; false; }
    [ ! -e "$LOG_DIR/$shim_pid.jsonl" ]
    assert_field pid "$child"
    assert_field op recv
    # the connection was made by the parent: its timeline came along
    assert_jq '.events[0].op == "connect"'
}

@test "nothing is written when nothing fails: output identical and no log directory" {
    need_preloadable curl
    start_server http
    run_bare curl -sS -i "http://127.0.0.1:$PORT/"
    assert_equal 0 "$bare_status"
    run_shim curl -sS -i "http://127.0.0.1:$PORT/"
    assert_same_as_bare
    assert_equal "$bare_stderr" "$shim_stderr" "stderr"
    [[ "$shim_output" == *"200 OK"* ]]
    [ ! -e "$LOG_DIR" ] || { ls -lR "$LOG_DIR" >&2; false; }
}

@test "each malformed setting gives exactly one warning and the defaults still record" {
    need_preloadable curl
    start_server rst-after-request
    run_bare curl -sS "http://127.0.0.1:$PORT/"
    local setting name
    for setting in RSTWATCH_EVENTS=abc RSTWATCH_EVENTS=-5 RSTWATCH_EVENTS=99999999999999999999 \
        RSTWATCH_RECORD=bogus RSTWATCH_RETRY=maybe; do
        echo "# $setting" >&2
        name="${setting%%=*}"
        rm -rf "$LOG_DIR"
        export "$setting"
        run_shim curl -sS "http://127.0.0.1:$PORT/"
        unset "$name"
        assert_same_as_bare
        assert_equal 1 "$(printf '%s\n' "$shim_stderr" | grep -c '^rstwatch:')" "warning lines for $setting"
        printf '%s\n' "$shim_stderr" | grep '^rstwatch:' | grep -q "$name" ||
            { echo "warning does not name $name: $shim_stderr" >&2; false; }
        assert_record_count 1
        assert_field type reset
        assert_field errno ECONNRESET
    done
}

@test "two malformed settings give two warnings and the program is unchanged" {
    need_preloadable curl
    start_server rst-after-request
    run_bare curl -sS "http://127.0.0.1:$PORT/"
    RSTWATCH_EVENTS=x RSTWATCH_RECORD=nope run_shim curl -sS "http://127.0.0.1:$PORT/"
    assert_same_as_bare
    assert_equal 2 "$(printf '%s\n' "$shim_stderr" | grep -c '^rstwatch:')" "warning lines"
    assert_record_count 1
}

@test "RSTWATCH_LOG=stderr writes the JSON line to stderr" {
    need_preloadable curl
    start_server rst-after-request
    run_bare curl -sS "http://127.0.0.1:$PORT/"
    RSTWATCH_LOG=stderr run_shim curl -sS "http://127.0.0.1:$PORT/"
    assert_equal "$bare_status" "$shim_status"
    assert_equal "$bare_output" "$shim_output"
    assert_equal 1 "$(printf '%s\n' "$shim_stderr" | grep -c '^{')" "JSON lines on stderr"
    local line
    line="$(printf '%s\n' "$shim_stderr" | grep '^{')"
    assert_equal reset "$(printf '%s\n' "$line" | jq -r .type)"
    assert_equal "127.0.0.1:$PORT" "$(printf '%s\n' "$line" | jq -r .peer)"
    assert_equal "$bare_stderr" "$(printf '%s\n' "$shim_stderr" | grep -v '^{')" "the rest of stderr"
    [ ! -e "$LOG_DIR" ]
}

@test "RSTWATCH_LOG=fd:N writes the JSON line to that inherited descriptor" {
    need_preloadable curl
    start_server rst-after-request
    exec 7>"$T/fd7.out"
    KEEP_FDS=7 RSTWATCH_LOG=fd:7 run_shim curl -sS "http://127.0.0.1:$PORT/"
    exec 7>&-
    assert_equal 56 "$shim_status"
    assert_equal 1 "$(grep -c . "$T/fd7.out")" "lines written to fd 7"
    assert_equal "ECONNRESET 127.0.0.1:$PORT" "$(jq -r '"\(.errno) \(.peer)"' "$T/fd7.out")"
    [ ! -e "$LOG_DIR" ]
}

@test "the log path expands %p and %t" {
    need_preloadable curl
    start_server rst-after-request
    RSTWATCH_LOG="$T/logs/run-%p-%t.jsonl" run_shim curl -sS "http://127.0.0.1:$PORT/"
    local files
    files="$(cd "$LOG_DIR" && ls)"
    [[ "$files" =~ ^run-$shim_pid-[0-9]{9,}\.jsonl$ ]] || { echo "log files: $files" >&2; false; }
    assert_field pid "$shim_pid"
}

@test "a log directory the shim creates is 0700 and the log file 0600" {
    need_preloadable curl
    start_server rst-after-request
    RSTWATCH_LOG="$T/sub/%p.jsonl" run_shim curl -sS "http://127.0.0.1:$PORT/"
    assert_equal 700 "$(stat -c %a "$T/sub")" "directory mode"
    assert_equal 600 "$(stat -c %a "$T/sub/$shim_pid.jsonl")" "file mode"
    assert_equal 1 "$(grep -c . "$T/sub/$shim_pid.jsonl")"
}

@test "a symlinked log directory is refused with a warning and the record goes to stderr" {
    need_preloadable curl
    start_server rst-after-request
    mkdir "$T/real"
    ln -s "$T/real" "$T/link"
    # a link root or the user owns is followed (systemd's DynamicUser= layout); another's is not
    if [ "$(id -u)" = 0 ]; then chown -h "$OTHER_UID" "$T/link"; else skip "needs root to chown a symlink"; fi
    RSTWATCH_LOG="$T/link/%p.jsonl" run_shim curl -sS "http://127.0.0.1:$PORT/"
    assert_equal 56 "$shim_status"
    [ -z "$(ls -A "$T/real")" ] || { ls -l "$T/real" >&2; false; }
    assert_equal 1 "$(printf '%s\n' "$shim_stderr" | grep -c '^rstwatch:')" "warning lines"
    assert_equal 1 "$(printf '%s\n' "$shim_stderr" | grep -c '^{')" "JSON lines on stderr"
}

@test "a log directory owned by another user is refused with a warning and the record goes to stderr" {
    need_preloadable curl
    start_server rst-after-request
    mkdir -m 0777 "$T/foreign"
    chown "$OTHER_UID" "$T/foreign" 2>/dev/null || skip "cannot chown (not root)"
    RSTWATCH_LOG="$T/foreign/%p.jsonl" run_shim curl -sS "http://127.0.0.1:$PORT/"
    assert_equal 56 "$shim_status"
    [ -z "$(ls -A "$T/foreign")" ] || { ls -l "$T/foreign" >&2; false; }
    assert_equal 1 "$(printf '%s\n' "$shim_stderr" | grep -c '^rstwatch:')" "warning lines"
    assert_equal 1 "$(printf '%s\n' "$shim_stderr" | grep -c '^{')" "JSON lines on stderr"
}

# Runs curl as OTHER_UID with no RSTWATCH_LOG, so the default directory
# /tmp/rstwatch-$OTHER_UID is used; output in $output, status in $status.
run_curl_as_other_user() {
    need_preloadable curl
    command -v setpriv >/dev/null || skip "setpriv not available"
    [ "$(id -u)" = 0 ] || skip "needs root to switch uid"
    CLEAN_DEFAULT_DIR=1
    run timeout 30 setpriv --reuid="$OTHER_UID" --regid="$OTHER_UID" --clear-groups \
        env -u RSTWATCH_LOG LD_PRELOAD="$SHIM_PRELOAD" curl -sS "http://127.0.0.1:$PORT/"
}

@test "the default log directory /tmp/rstwatch-UID is created 0700 for the user" {
    start_server rst-after-request
    rm -rf "/tmp/rstwatch-$OTHER_UID"
    run_curl_as_other_user
    assert_equal 56 "$status" "curl exit status"
    local dir="/tmp/rstwatch-$OTHER_UID"
    [ -d "$dir" ] && [ ! -L "$dir" ]
    assert_equal "700 $OTHER_UID" "$(stat -c '%a %u' "$dir")" "mode and owner"
    assert_equal 1 "$(cat "$dir"/*.jsonl | grep -c .)" "records"
    assert_equal 600 "$(stat -c %a "$dir"/*.jsonl)" "file mode"
}

@test "a default log directory that is a symlink is refused and the record goes to stderr" {
    start_server rst-after-request
    # the target is writable by the user, so only the symlink check can stop it
    local target="/tmp/rstwatch-test-target-$OTHER_UID"
    CLEAN_DEFAULT_DIR=1
    rm -rf "/tmp/rstwatch-$OTHER_UID" "$target"
    mkdir -m 0700 "$target"
    chown "$OTHER_UID" "$target"
    ln -s "$target" "/tmp/rstwatch-$OTHER_UID"
    # owned by a third user: only links that root or the user own are followed
    chown -h "$((OTHER_UID + 1))" "/tmp/rstwatch-$OTHER_UID"
    run_curl_as_other_user
    assert_equal 56 "$status" "curl exit status"
    [ -z "$(ls -A "$target")" ] || { ls -l "$target" >&2; false; }
    assert_equal 1 "$(printf '%s\n' "$output" | grep -c '^rstwatch:')" "warning lines"
    assert_equal 1 "$(printf '%s\n' "$output" | grep -c '^{')" "JSON lines on stderr"
}

@test "a default log directory owned by someone else is refused and the record goes to stderr" {
    start_server rst-after-request
    rm -rf "/tmp/rstwatch-$OTHER_UID"
    mkdir -m 0777 "/tmp/rstwatch-$OTHER_UID"
    run_curl_as_other_user
    assert_equal 56 "$status" "curl exit status"
    [ -z "$(ls -A "/tmp/rstwatch-$OTHER_UID")" ]
    assert_equal 1 "$(printf '%s\n' "$output" | grep -c '^rstwatch:')" "warning lines"
    assert_equal 1 "$(printf '%s\n' "$output" | grep -c '^{')" "JSON lines on stderr"
}

@test "4 threads x 200 connections: one well-formed record per reset the program saw" {
    start_server every --every 10
    # every record is wanted here: no rate limit
    RSTWATCH_RATE=off RUN_TIMEOUT=120 run_shim "$CLIENT" --threads 4 --conns 200 127.0.0.1 "$PORT"
    assert_equal 0 "$shim_status" "client exit status"
    assert_equal "resets=80 ok=720 errors=0" "$shim_output"
    # every line parses on its own
    local lines parsed
    lines="$(records | wc -l)"
    parsed="$(records | jq -c . | wc -l)"
    assert_equal 80 "$lines" "record lines"
    assert_equal "$lines" "$parsed" "lines that parse as JSON"
    assert_equal 80 "$(jq_records '[.[] | select(.type == "reset" and .errno == "ECONNRESET")] | length')"
    assert_equal 80 "$(jq_records 'map(.conn) | unique | length')" "distinct connections"
    # the failing calls ran on worker threads, not the main thread
    assert_equal true "$(jq_records 'all(.[]; .tid != $pid and .pid == $pid)' --argjson pid "$shim_pid")" "tids"
}

@test "the library exports exactly the hooks listed in shim.map, all of them libc functions (and libseccomp's loader)" {
    local map="$RSTWATCH_ROOT/shim/shim.map"
    [ -f "$map" ] || { echo "$map is missing" >&2; false; }
    local listed exported libc
    # names between "global:" and "local:", comments removed
    listed="$(sed -e 's,/\*.*\*/,,g' -e 's/#.*//' "$map" | tr -s ' \t\n;' '\n' |
        sed -n '/global:/,/local:/p' | grep -E '^[A-Za-z_][A-Za-z0-9_]*$' | sort -u)"
    exported="$(nm -D --defined-only "$SHIM" | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' | sort -u)"
    [ -n "$listed" ] && [ -n "$exported" ]
    if [ "$listed" != "$exported" ]; then
        echo "exported but not in shim.map / in shim.map but not exported:" >&2
        diff <(echo "$listed") <(echo "$exported") >&2 || true
        false
    fi
    libc="$(ldd /bin/sh | awk '/libc\.so/ { print $3 }')"
    local name bad=""
    for name in $exported; do
        [ "$name" != seccomp_load ] || continue # libseccomp's, hooked to see a filter coming
        nm -D --defined-only "$libc" | awk '{ sub(/@.*/, "", $3); print $3 }' | grep -qx "$name" || bad="$bad $name"
    done
    assert_equal "" "$bad" "exported names that are not libc functions"
    # the hooks the design requires are there
    for name in socket connect accept accept4 close shutdown send sendto sendmsg recv recvfrom recvmsg \
        read write readv writev __read_chk __recv_chk dup dup2 dup3 fcntl getsockopt; do
        grep -qx "$name" <<<"$exported" || { echo "missing hook: $name" >&2; false; }
    done
}

@test "an IPv6 connection is recorded with family inet6 and a bracketed peer" {
    need_preloadable curl
    start_server rst-after-request --ipv6
    run_bare curl -sS -g "http://[::1]:$PORT/"
    assert_equal 56 "$bare_status"
    run_shim curl -sS -g "http://[::1]:$PORT/"
    assert_same_as_bare
    assert_record_count 1
    assert_field family inet6
    assert_field peer "[::1]:$PORT"
    assert_jq '.local | test("^\\[::1\\]:[0-9]+$")'
    assert_field errno ECONNRESET
}

@test "an AF_UNIX connection is recorded with family unix and the socket path" {
    local sock="$T/s.sock"
    start_server unread-close --unix "$sock"
    run_bare "$CLIENT" --unix "$sock"
    assert_equal "fd=3
recv: Connection reset by peer" "$bare_output"
    run_shim "$CLIENT" --unix "$sock"
    assert_same_as_bare
    assert_record_count 1
    assert_field family unix
    assert_field peer "unix:$sock"
    assert_field errno ECONNRESET
    assert_field role client
}

@test "rstwatch run keeps curl's exit status and prints one summary line when it recorded" {
    need_preloadable curl
    start_server rst-after-request
    run_bare curl -sS "http://127.0.0.1:$PORT/"
    _capture "" "$RSTWATCH" run --log "$LOG_DIR/%p.jsonl" -- curl -sS "http://127.0.0.1:$PORT/"
    assert_equal "$bare_status" "$status" "exit status"
    assert_equal "$bare_output" "$output" "stdout"
    assert_equal 1 "$(printf '%s\n' "$stderr" | grep -c '^rstwatch:')" "rstwatch lines on stderr"
    printf '%s\n' "$stderr" | grep -Eq '^rstwatch: 1 record .*written' ||
        { echo "no summary line in: $stderr" >&2; false; }
    assert_equal "$bare_stderr" "$(printf '%s\n' "$stderr" | grep -v '^rstwatch:')" "curl's stderr"
    assert_record_count 1
}

@test "rstwatch run prints nothing of its own when nothing was recorded" {
    need_preloadable curl
    start_server http
    run_bare curl -sS "http://127.0.0.1:$PORT/"
    _capture "" "$RSTWATCH" run --log "$LOG_DIR/%p.jsonl" -- curl -sS "http://127.0.0.1:$PORT/"
    assert_equal 0 "$status"
    assert_equal "$bare_output" "$output"
    assert_equal "$bare_stderr" "$stderr"
    [ ! -e "$LOG_DIR" ]
}

@test "rstwatch --version and --help exit 0" {
    run "$RSTWATCH" --version
    assert_equal 0 "$status" "--version status"
    [[ "$output" =~ [0-9]+\.[0-9]+\.[0-9]+ ]]
    run "$RSTWATCH" --help
    assert_equal 0 "$status" "--help status"
    [[ "$output" == *run* && "$output" == *report* && "$output" == *export* ]]
}
