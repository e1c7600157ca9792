#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# hardening.bats: the shim never hurts its host and never loses a record
# (docs/design.md, "Never hurt the host"). Concurrency and process life (threads, several processes on one
# log, fork with busy threads, vfork/posix_spawn, exec, daemon, close_range,
# dup2, high fds, 10,000 connections), signals (handlers doing socket I/O,
# EINTR, SIGPIPE in every disposition), bad input (every RSTWATCH_* variable,
# rules files) and hostile log destinations, and set-uid programs.
# docs/hardening.md has the table of cases and which test pins each down.

load lib

HOSTILE="$BUILD_DIR/helpers/hostile_proc"
PINGPONG="$BUILD_DIR/helpers/stress_pingpong"
RESET_LINE="recv: Connection reset by peer"

setup() {
    rstwatch_setup
    need_shim
}

teardown() {
    rstwatch_teardown
    if [ -n "${SYSLIB_COPY:-}" ]; then rm -f "$SYSLIB_COPY"; fi
}

# warning_count: "rstwatch:" lines on the shim run's stderr.
warning_count() {
    printf '%s\n' "$shim_stderr" | grep -c '^rstwatch:' || true
}

# assert_one_warning [WORD]: exactly one warning line (naming WORD if given).
assert_one_warning() {
    local n
    n="$(warning_count)"
    if [ "$n" != 1 ]; then
        printf 'expected 1 warning line, got %s; stderr:\n%s\n' "$n" "$shim_stderr" >&2
        return 1
    fi
    if [ -n "${1:-}" ] && ! printf '%s\n' "$shim_stderr" | grep '^rstwatch:' | grep -qF -- "$1"; then
        printf 'the warning does not name %s:\n%s\n' "$1" "$shim_stderr" >&2
        return 1
    fi
}

# assert_host_unchanged: exit status and stdout as bare; stderr as bare once
# the shim's own lines ("rstwatch:" warnings, JSON records that fell back to
# stderr) are taken out.
assert_host_unchanged() {
    assert_equal "$bare_status" "$shim_status" "exit status" || return 1
    assert_equal "$bare_output" "$shim_output" "stdout" || return 1
    local s
    s="$(printf '%s\n' "$shim_stderr" | grep -v -e '^rstwatch:' -e '^{"v":1,' || true)"
    assert_equal "$bare_stderr" "$s" "stderr without the shim's lines"
}

# json_on_stderr: number of record lines that fell back to stderr.
json_on_stderr() {
    printf '%s\n' "$shim_stderr" | grep -c '^{"v":1,' || true
}

# all_lines_parse FILE: every line of FILE is one complete JSON object.
all_lines_parse() {
    local bad
    bad="$(jq -R 'fromjson? // "TORN" | select(. == "TORN")' "$1" | wc -l)"
    assert_equal 0 "$bad" "torn or interleaved lines in $1"
}

# ---- threads and several processes on one log -------------------------------------

@test "4 processes x 8 threads x 600 connections on one log file: every reset recorded once, none torn" {
    start_server every --every 7
    local log="$T/shared.jsonl" i pids=()
    for i in 1 2 3 4; do
        RSTWATCH_LOG="$log" LD_PRELOAD="$SHIM_PRELOAD" timeout 60 "$CLIENT" --threads 8 --conns 600 \
            127.0.0.1 "$PORT" >"$T/client.$i.out" 2>"$T/client.$i.err" 3>&- &
        pids+=($!)
    done
    local total=0 st=0
    for i in 0 1 2 3; do wait "${pids[$i]}" || st=$?; done
    assert_equal 0 "$st" "client exit statuses"
    declare -A seen
    for i in 1 2 3 4; do
        local line
        line="$(<"$T/client.$i.out")"
        [[ "$line" =~ ^resets=([0-9]+)\ ok=([0-9]+)\ errors=0$ ]] || { echo "client $i: $line" >&2; false; }
        total=$((total + BASH_REMATCH[1]))
    done
    # the server resets every 7th of the 19200 connections it accepted
    assert_equal $((4 * 8 * 600 / 7)) "$total" "resets the clients saw"
    all_lines_parse "$log"
    assert_equal "$total" "$(grep -c . "$log")" "record lines (lost or duplicated?)"
    assert_equal "$total" "$(jq -s 'map("\(.pid)/\(.conn)") | unique | length' "$log")" "distinct (pid, conn)"
    assert_equal 4 "$(jq -s 'map(.pid) | unique | length' "$log")" "processes in the log"
    assert_equal true "$(jq -s 'all(.[]; .type == "reset" and .errno == "ECONNRESET" and .op == "recv")' "$log")"
    echo "# connections=19200 threads=32 processes=4 resets=$total records=$(grep -c . "$log") lost=0" >&3
}

@test "records of over 10 KiB from 4 processes x 4 threads into one file are never torn or interleaved" {
    local log="$T/big.jsonl" i pids=() st=0
    for i in 1 2 3 4; do
        RSTWATCH_EVENTS=1024 RSTWATCH_LOG="$log" LD_PRELOAD="$SHIM_PRELOAD" timeout 60 \
            "$PINGPONG" 4 50 150 >"$T/pp.$i.out" 2>&1 3>&- &
        pids+=($!)
    done
    for i in 0 1 2 3; do wait "${pids[$i]}" || st=$?; done
    assert_equal 0 "$st" "stress_pingpong exit statuses"
    for i in 1 2 3 4; do assert_equal "conns=200 resets=200 errors=0" "$(<"$T/pp.$i.out")"; done
    all_lines_parse "$log"
    assert_equal 800 "$(grep -c . "$log")" "record lines"
    assert_equal 800 "$(jq -s 'map("\(.pid)/\(.conn)") | unique | length' "$log")" "distinct (pid, conn)"
    # 2 events per exchange + connect + the failing recv: 302 events in every record
    assert_equal true "$(jq -s 'all(.[]; (.events | length) == 302 and .events_dropped == 0)' "$log")" "events"
    local shortest
    shortest="$(awk '{ print length($0) }' "$log" | sort -n | head -1)"
    [ "$shortest" -gt 10240 ] || { echo "shortest line $shortest bytes" >&2; false; }
}

# ---- fork, vfork, posix_spawn, exec, daemon ---------------------------------------

@test "fork while 4 threads are inside socket calls: no deadlock, each child records under its own pid" {
    start_server every --every 5
    local every=$PORT
    start_server rst-after-request
    RUN_TIMEOUT=40 run_shim "$HOSTILE" forkstorm 127.0.0.1 "$every" "$PORT" 4 40
    assert_equal 0 "$shim_status" "exit status (124 = deadlock)"
    [[ "$shim_output" =~ forks=40\ child_resets=40\ thread_resets=([0-9]+) ]] || { echo "$shim_output" >&2; false; }
    local thread_resets="${BASH_REMATCH[1]}" children
    children="$(printf '%s\n' "$shim_output" | sed -n 's/^child //p' | sort -n | tr '\n' ' ')"
    # each child: one record, its own pid, its own file (%p), the resetting peer
    assert_equal "$children" "$(jq_record "select(.peer == \"127.0.0.1:$PORT\") | .pid" | sort -n | tr '\n' ' ')" "child pids in records"
    local pid
    for pid in $children; do
        assert_equal "$pid" "$(jq -r .pid "$LOG_DIR/$pid.jsonl")" "pid in $pid.jsonl"
    done
    # the parent's threads: one record per reset they saw, none from the children
    assert_equal "$thread_resets" "$(jq -s 'length' "$LOG_DIR/$shim_pid.jsonl")" "parent records"
}

@test "a child started by vfork+exec or posix_spawn records under its own pid, and so does the parent" {
    start_server rst-after-request
    local how
    for how in vfork spawn; do
        rm -rf "$LOG_DIR"
        run_shim "$HOSTILE" "$how" 127.0.0.1 "$PORT" "$CLIENT" 127.0.0.1 "$PORT"
        assert_equal 0 "$shim_status" "$how exit status"
        [[ "$shim_output" =~ child=([0-9]+)\ status=1 ]] || { echo "$shim_output" >&2; false; }
        local child="${BASH_REMATCH[1]}"
        [[ "$shim_output" == *"parent: $RESET_LINE"* ]]
        assert_record_count 2
        assert_equal "client" "$(jq -r .prog "$LOG_DIR/$child.jsonl")" "$how: child's record"
        assert_equal "hostile_proc" "$(jq -r .prog "$LOG_DIR/$shim_pid.jsonl")" "$how: parent's record"
    done
}

# A raw clone() without CLONE_VM (vsftpd's per-connection child) runs no fork
# handler, and in a new PID namespace its getpid() is 1: the shim must not
# take it for a vfork child (which would ignore its dup2 of the socket and
# leave the record with no peer), and it records under its own pid.
@test "a child made by a raw clone() (no fork handler; also with CLONE_NEWPID) tracks its dup2 of the socket and records under its own pid" {
    start_server rst-after-request
    local how
    for how in plain newpid; do
        rm -rf "$LOG_DIR"
        run_bare "$HOSTILE" rawclone 127.0.0.1 "$PORT" "$how"
        run_shim "$HOSTILE" rawclone 127.0.0.1 "$PORT" "$how"
        assert_equal 0 "$shim_status" "$how: exit status"
        local line cpid
        line="$(sed -n 's/^child getpid=//p' <<<"$shim_output")"
        cpid="${line%% *}"
        assert_equal "$RESET_LINE" "${line#* }" "$how: the child's result"
        [[ "$shim_output" == *"parent: $RESET_LINE"* ]] || { echo "$shim_output" >&2; false; }
        if [ "$how" = newpid ]; then assert_equal 1 "$cpid" "getpid() in the new PID namespace"; fi
        assert_equal "$(sed 's/getpid=[0-9]*//' <<<"$bare_output" | grep -v '^child=')" \
            "$(sed 's/getpid=[0-9]*//' <<<"$shim_output" | grep -v '^child=')" "$how: output as bare"
        assert_record_count 2
        assert_equal "client 10 127.0.0.1:$PORT hostile_proc" \
            "$(jq -r '"\(.role) \(.fd) \(.peer) \(.prog)"' "$LOG_DIR/$cpid.jsonl")" "$how: the child's record"
        assert_equal "client 127.0.0.1:$PORT" \
            "$(jq -r '"\(.role) \(.peer)"' "$LOG_DIR/$shim_pid.jsonl")" "$how: the parent's record"
    done
}

@test "exec leaves no descriptor of the shim open in the new image" {
    start_server rst-after-request
    run_bare "$HOSTILE" execfds 127.0.0.1 "$PORT" "$HOSTILE"
    run_shim "$HOSTILE" execfds 127.0.0.1 "$PORT" "$HOSTILE"
    assert_host_unchanged
    assert_equal "before exec: $RESET_LINE
fds:" "$shim_output"
    # the record was written before the exec: the log file was open at exec time
    assert_record_count 1
    assert_equal "$shim_pid" "$(jq_record .pid)"
}

@test "a daemon()ized process records under the daemon's pid" {
    start_server rst-after-request
    run_shim "$HOSTILE" daemon 127.0.0.1 "$PORT" "$T/daemon.pid"
    assert_equal 0 "$shim_status"
    local i
    for ((i = 0; i < 200; i++)); do
        [ -s "$T/daemon.pid" ] && break
        sleep 0.05
    done
    local dpid
    dpid="$(head -1 "$T/daemon.pid")"
    assert_equal "$RESET_LINE" "$(sed -n 2p "$T/daemon.pid")" "the daemon's result"
    [ "$dpid" != "$shim_pid" ]
    assert_record_count 1
    assert_equal "$dpid reset" "$(jq_record '"\(.pid) \(.type)"')"
    [ -f "$LOG_DIR/$dpid.jsonl" ]
}

# ---- fd plumbing ------------------------------------------------------------------

@test "close_range and closefrom end each closed connection with a close on its own fd; the reused fd is a new connection" {
    start_server http
    local http=$PORT
    start_server rst-after-request
    local how
    for how in close_range closefrom; do
        rm -rf "$LOG_DIR"
        run_bare "$HOSTILE" closerange 127.0.0.1 "$http" "$PORT" "$how"
        RSTWATCH_RECORD=all run_shim "$HOSTILE" closerange 127.0.0.1 "$http" "$PORT" "$how"
        assert_host_unchanged
        assert_equal "fds=3,4,5
reset fd=3: $RESET_LINE" "$shim_output"
        assert_record_count 4
        assert_equal "3 4 5" "$(jq_record "select(.type == \"close\" and .peer == \"127.0.0.1:$http\") | .fd" | sort -n | tr '\n' ' ' | sed 's/ $//')" "$how: close records"
        assert_equal true "$(jq_records 'map(select(.type == "close")) | all(.[]; .events[-1].op == "close")')"
        # the new connection on fd 3 carries none of the old one's history
        assert_equal "3 127.0.0.1:$PORT connect,send,recv 0" \
            "$(jq_record 'select(.type == "reset") | "\(.fd) \(.peer) \([.events[].op] | join(",")) \(.bytes_in)"')" "$how: reset record"
    done
}

@test "close_range with CLOSE_RANGE_CLOEXEC closes nothing: the connections go on and close normally" {
    start_server http
    local http=$PORT
    start_server rst-after-request
    run_bare "$HOSTILE" closerange 127.0.0.1 "$http" "$PORT" cloexec
    RSTWATCH_RECORD=all run_shim "$HOSTILE" closerange 127.0.0.1 "$http" "$PORT" cloexec
    assert_host_unchanged
    assert_record_count 4
    assert_equal "3:2 4:2 5:2" "$(jq_record 'select(.type == "close") | "\(.fd):\(.exchanges)"' | sort | tr '\n' ' ' | sed 's/ $//')" "close records (fd:exchanges)"
}

@test "dup2 onto a tracked fd ends the old connection there and records the new one under that fd" {
    start_server http
    local http=$PORT
    start_server rst-after-request
    run_bare "$HOSTILE" dup2onto 127.0.0.1 "$http" "$PORT"
    RSTWATCH_RECORD=all run_shim "$HOSTILE" dup2onto 127.0.0.1 "$http" "$PORT"
    assert_host_unchanged
    assert_equal "fd=3: $RESET_LINE" "$shim_output"
    assert_record_count 2
    assert_equal "close 3 127.0.0.1:$http 1" "$(jq_record 'select(.type == "close") | "\(.type) \(.fd) \(.peer) \(.exchanges)"')"
    assert_equal "reset 3 127.0.0.1:$PORT 0" "$(jq_record 'select(.type == "reset") | "\(.type) \(.fd) \(.peer) \(.bytes_in)"')"
}

@test "a socket at the highest fd the limit allows is tracked like any other" {
    start_server rst-after-request
    local hard fd
    hard="$(ulimit -Hn)"
    [ "$hard" != unlimited ] || hard=1048576
    fd=$((hard - 1))
    run_bare "$HOSTILE" highfd 127.0.0.1 "$PORT" "$fd"
    run_shim "$HOSTILE" highfd 127.0.0.1 "$PORT" "$fd"
    assert_host_unchanged
    assert_equal "fd=$fd: $RESET_LINE" "$shim_output"
    assert_record_count 1
    assert_equal "$fd reset" "$(jq_record '"\(.fd) \(.type)"')"
}

@test "a socket at fd 70000 (above 65535) and at fd 1048575 (the kernel's last) is tracked" {
    start_server rst-after-request
    local fd
    for fd in 70000 1048575; do
        rm -rf "$LOG_DIR"
        run_shim "$HOSTILE" highfd 127.0.0.1 "$PORT" "$fd"
        if [ "$shim_status" = 77 ]; then
            skip "RLIMIT_NOFILE cannot be raised to $((fd + 1)) here (no CAP_SYS_RESOURCE; hard limit $(ulimit -Hn)): $shim_output"
        fi
        assert_equal "fd=$fd: $RESET_LINE" "$shim_output"
        assert_equal "$fd" "$(jq_record .fd)"
    done
}

@test "10,000 simultaneous connections all reset: 10,000 records, one per connection" {
    RUN_TIMEOUT=60 run_shim "$HOSTILE" manyconns 10000
    [ "$shim_status" != 77 ] || skip "$shim_output"
    assert_equal 0 "$shim_status"
    assert_equal "conns=10000 open_at_once=10000 resets=10000" "$shim_output"
    local log="$LOG_DIR/$shim_pid.jsonl"
    all_lines_parse "$log"
    assert_equal "10000 10000 true" "$(jq -s '"\(length) \(map(.conn) | unique | length) \(all(.[]; .errno == "ECONNRESET" and .role == "client"))"' -r "$log")"
    # the server ends (in the forked child) aborted; they record nothing
    assert_equal 1 "$(ls "$LOG_DIR" | wc -l)" "log files"
}

# ---- signals ----------------------------------------------------------------------

@test "a signal handler doing socket I/O during a blocking recv gets its reset recorded; the main call is unchanged" {
    start_server silent
    local silent=$PORT
    start_server rst-after-request
    run_bare "$HOSTILE" sigio 127.0.0.1 "$silent" "$PORT"
    run_shim "$HOSTILE" sigio 127.0.0.1 "$silent" "$PORT"
    assert_host_unchanged
    assert_equal "handler: $RESET_LINE
main: recv: Interrupted system call" "$shim_output"
    assert_record_count 1
    # written from the handler, on the main thread, for the handler's connection
    assert_equal "127.0.0.1:$PORT recv ECONNRESET $shim_pid" "$(jq_record '"\(.peer) \(.op) \(.errno) \(.tid)"')"
}

@test "EINTR is passed through unchanged and is not recorded, even with RSTWATCH_RECORD=errors" {
    start_server silent
    run_bare "$HOSTILE" eintr 127.0.0.1 "$PORT"
    RSTWATCH_RECORD=errors run_shim "$HOSTILE" eintr 127.0.0.1 "$PORT"
    assert_host_unchanged
    assert_equal "recv: Interrupted system call
alarms=1" "$shim_output"
    assert_record_count 0
}

@test "a 1 ms timer whose handler runs HTTP exchanges while the main thread makes connections: no deadlock, every reset recorded" {
    run_sigstorm 30
    local resets=$SIGSTORM_RESETS every=$SIGSTORM_EVERY_PORT
    # enough to have raced the handler (a busy CI machine gave 15 resets in 1.5 s, an idle one 1,000+)
    [ "$resets" -ge 5 ] && [ "$SIGSTORM_HANDLER_OK" -ge 50 ] || { echo "too little happened: $shim_output" >&2; false; }
    assert_record_count "$resets"
    assert_equal true "$(jq_records "all(.[]; .peer == \"127.0.0.1:$every\" and .errno == \"ECONNRESET\")")"
}

@test "killed by SIGPIPE bare means killed by SIGPIPE under the shim (status 141), and the record is written first" {
    start_server http
    local io
    for io in send write writev sendmsg; do
        rm -rf "$LOG_DIR"
        run_bare "$HOSTILE" sigpipe 127.0.0.1 "$PORT" default "$io"
        # A write after the program's own shutdown is only counted by
        # default; RECORD=errors records it, which must happen before the signal.
        RSTWATCH_RECORD=errors run_shim "$HOSTILE" sigpipe 127.0.0.1 "$PORT" default "$io"
        assert_equal 141 "$bare_status" "$io: bare exit status"
        assert_host_unchanged
        assert_record_count 1
        assert_equal "reset EPIPE $io" "$(jq_record '"\(.type) \(.errno) \(.op)"')" "$io record"
    done
}

@test "with SIGPIPE ignored, handled, blocked or MSG_NOSIGNAL the program sees EPIPE exactly as bare" {
    start_server http
    local disp io
    for disp in ignore handler blocked nosignal; do
        for io in send write; do
            [ "$disp:$io" != nosignal:write ] || io=sendmsg
            rm -rf "$LOG_DIR"
            run_bare "$HOSTILE" sigpipe 127.0.0.1 "$PORT" "$disp" "$io"
            RSTWATCH_RECORD=errors run_shim "$HOSTILE" sigpipe 127.0.0.1 "$PORT" "$disp" "$io"
            assert_host_unchanged
            [[ "$shim_output" == *"$io: Broken pipe"* ]] || { echo "$disp/$io: $shim_output" >&2; false; }
            assert_record_count 1
        done
    done
    # handler ran exactly once, blocked signal stays pending: as bare
    run_shim "$HOSTILE" sigpipe 127.0.0.1 "$PORT" handler send
    [[ "$shim_output" == *"sigpipe handled=1 pending=0"* ]]
    run_shim "$HOSTILE" sigpipe 127.0.0.1 "$PORT" blocked send
    [[ "$shim_output" == *"sigpipe handled=0 pending=1"* ]]
}

@test "a log on a broken pipe (stderr or fd:N whose reader is gone) never kills the host with SIGPIPE" {
    start_server rst-after-request
    # fd 2 and fd 7: the write end of a pipe whose read end is already closed
    local bare dest
    bare="$(python3 "$CLIENTS_PY" broken-pipe-run "$HOSTILE" probe 127.0.0.1 "$PORT" | grep -v '^shim=')"
    assert_equal "status=0
$RESET_LINE" "$bare"
    for dest in stderr fd:7 "$T/afile/x.jsonl"; do
        [ "$dest" != "$T/afile/x.jsonl" ] || touch "$T/afile"
        assert_equal "$bare" "$(RSTWATCH_LOG="$dest" python3 "$CLIENTS_PY" broken-pipe-run env LD_PRELOAD="$SHIM_PRELOAD" \
            "$HOSTILE" probe 127.0.0.1 "$PORT" | grep -v '^shim=')" "RSTWATCH_LOG=$dest"
    done
}

# ---- bad environment ----------------------------------------------------------------

# check_bad_env NAME VALUE...: for each VALUE, the C client against the
# resetting server behaves as bare, exactly one warning names NAME, and the
# defaults still write the one record.
check_bad_env() {
    local name="$1" value
    shift
    for value in "$@"; do
        rm -rf "$LOG_DIR"
        env "$name=$value" true # the value must be representable in the environment
        export "$name=$value"
        run_shim "$CLIENT" 127.0.0.1 "$PORT"
        unset "$name"
        echo "# $name='${value:0:60}'" >&2
        assert_host_unchanged
        assert_one_warning "$name"
        assert_record_count 1
        assert_equal "reset ECONNRESET" "$(jq_record '"\(.type) \(.errno)"')"
    done
}

@test "every numeric RSTWATCH_* variable: empty, garbage, negative, huge and overflowing values warn once and keep the default" {
    start_server rst-after-request
    run_bare "$CLIENT" 127.0.0.1 "$PORT"
    local common=("" abc -1 +8 " 16" "16 " 0x10 1e3 8k 99999999999999999999 18446744073709551617
        4294967312 "$(printf '9%.0s' {1..5000})")
    check_bad_env RSTWATCH_EVENTS "${common[@]}" 0 7 4097
    check_bad_env RSTWATCH_RETRY_ATTEMPTS "${common[@]}" 0 21
    check_bad_env RSTWATCH_RETRY_BASE_MS "${common[@]}" 0 60001
    check_bad_env RSTWATCH_RETRY_CAP_MS "${common[@]}" 0 600001
    check_bad_env RSTWATCH_REPLAY_MAX "${common[@]}" 16777217
}

@test "every word RSTWATCH_* variable: empty, unknown, wrong case and padded values warn once and keep the default" {
    start_server rst-after-request
    run_bare "$CLIENT" 127.0.0.1 "$PORT"
    check_bad_env RSTWATCH_RECORD "" RESETS "resets " all,errors -1 "$(printf 'x%.0s' {1..100000})"
    check_bad_env RSTWATCH_RETRY "" ON "connect,idempotent" -1 999999999999999999999
    check_bad_env RSTWATCH_DISABLE "" yes true 2 -1 " 1" 18446744073709551617
    check_bad_env RSTWATCH_CONFIG ""
    check_bad_env RSTWATCH_INJECT "" garbage "reset:prob=2" "reset:after=-1" "reset:peer=999.1.1.1:80" \
        "explode:after=1" "$(printf 'reset:after=1;%.0s' {1..100})"
}

@test "a bad RSTWATCH_LOG warns once, keeps the default and changes nothing for the program" {
    # a program that records nothing, so the default directory is never touched
    start_server http
    run_bare "$CLIENT" 127.0.0.1 "$PORT"
    local value
    for value in "" fd: fd:abc fd:-1 fd:2x fd:99999999999999999999 "$T/$(printf 'd%.0s' {1..600})/%p.jsonl" \
        "$(printf 'L%.0s' {1..100000})"; do
        echo "# RSTWATCH_LOG='${value:0:60}'" >&2
        RSTWATCH_LOG="$value" run_shim "$CLIENT" 127.0.0.1 "$PORT"
        assert_host_unchanged
        assert_one_warning RSTWATCH_LOG
        [ ! -e "/tmp/rstwatch-$(id -u)/$shim_pid.jsonl" ]
    done
}

@test "a warning is one line without terminal escapes, whatever bytes the value holds" {
    start_server rst-after-request
    run_bare "$CLIENT" 127.0.0.1 "$PORT"
    RSTWATCH_RECORD=$'bad\nrstwatch: forged line\e[31m\r' run_shim "$CLIENT" 127.0.0.1 "$PORT"
    assert_host_unchanged
    assert_one_warning RSTWATCH_RECORD
    assert_equal 1 "$(printf '%s\n' "$shim_stderr" | grep -c .)" "stderr lines"
    if printf '%s' "$shim_stderr" | grep -q $'[\e\r]'; then
        echo "control bytes reached stderr: $(printf '%s' "$shim_stderr" | od -c | head)" >&2
        false
    fi
    assert_record_count 1
}

@test "RSTWATCH_DISABLE=1 passes everything through: no record, no file, same behaviour" {
    start_server rst-after-request
    run_bare "$CLIENT" 127.0.0.1 "$PORT"
    RSTWATCH_DISABLE=1 run_shim "$CLIENT" 127.0.0.1 "$PORT"
    assert_host_unchanged
    assert_equal 0 "$(warning_count)" "warnings"
    [ ! -e "$LOG_DIR" ]
}

# ---- rules files (RSTWATCH_CONFIG) ---------------------------------------------------

# check_bad_config FILE DESCRIPTION: one warning naming RSTWATCH_CONFIG, the
# program as bare, and the reset still recorded.
check_bad_config() {
    rm -rf "$LOG_DIR"
    echo "# config: $2" >&2
    RSTWATCH_CONFIG="$1" run_shim "$CLIENT" 127.0.0.1 "$PORT"
    assert_host_unchanged
    assert_one_warning RSTWATCH_CONFIG
    assert_record_count 1
}

@test "rules files that are empty, huge, binary, deeply nested or of the wrong types warn once; nothing else changes" {
    start_server rst-after-request
    run_bare "$CLIENT" 127.0.0.1 "$PORT"
    local d="$T/cfg"
    mkdir "$d"
    : >"$d/empty.json"
    printf '   \n\t\n' >"$d/blank.json"
    head -c 2200000 /dev/zero | tr '\0' ' ' >"$d/huge.json"
    { printf '{"rules":['; for ((i = 0; i < 20000; i++)); do printf '{"peer":"127.0.0.%d:80","retry":"connect"},' $((i % 250)); done; printf '{}]}'; } >"$d/many_rules.json"
    head -c 4096 /dev/urandom >"$d/binary.json"
    printf '\x80\xff\xfe{"rules":[]}' >"$d/badutf8.json"
    head -c 100000 /dev/zero | tr '\0' '[' >"$d/nested.json"
    printf '%s' '{"rules":' >"$d/nested2.json"
    head -c 100000 /dev/zero | tr '\0' '{' | sed 's/{/{"a":/g' >>"$d/nested2.json"
    local i=0 bad
    for bad in '[1,2,3]' '"rules"' '42' 'null' '{"rules":5}' '{"rules":[5]}' '{"rules":[{"peer":12}]}' \
        '{"defaults":{"attempts":"three"}}' '{"defaults":{"attempts":-1}}' \
        '{"defaults":{"attempts":99999999999999999999}}' '{"defaults":{"attempts":1e400}}' \
        '{"defaults":{"base_ms":1.5}}' '{"defaults":{"retry":"sometimes"}}' '{"defaults":{"methods":"GET"}}' \
        '{"rules":[{"peer":"999.0.0.1:80"}]}' '{"rules":[{"peer":"*","ports":"90000"}]}' \
        '{"unknown_key":true}' '{"rules":[]} trailing' '{"rules":[],"rules":5}'; do
        i=$((i + 1))
        printf '%s' "$bad" >"$d/type$i.json"
    done
    local f
    for f in "$d"/*.json; do
        check_bad_config "$f" "$(basename "$f"): $(head -c 60 "$f" | tr -c '[:print:]' '?')"
    done
    check_bad_config "$d/missing.json" "a missing file"
    check_bad_config "$d" "a directory"
    check_bad_config /dev/zero "an endless device"
}

@test "a rules file that is a FIFO without a writer does not hang the program" {
    start_server rst-after-request
    run_bare "$CLIENT" 127.0.0.1 "$PORT"
    mkfifo "$T/rules.fifo"
    local t0=$SECONDS
    RUN_TIMEOUT=10 RSTWATCH_CONFIG="$T/rules.fifo" run_shim "$CLIENT" 127.0.0.1 "$PORT"
    [ $((SECONDS - t0)) -lt 5 ] || { echo "the program hung for $((SECONDS - t0)) s opening the FIFO" >&2; false; }
    assert_host_unchanged
    assert_one_warning RSTWATCH_CONFIG
    assert_record_count 1
}

# ---- hostile log destinations ----------------------------------------------------------

# check_refused_dest DEST: the C client against the resetting server behaves
# as bare, one warning, the record falls back to stderr (never lost).
check_refused_dest() {
    RSTWATCH_LOG="$1" run_shim "$CLIENT" 127.0.0.1 "$PORT"
    assert_host_unchanged
    assert_one_warning
    assert_equal 1 "$(json_on_stderr)" "records on stderr"
    assert_equal "reset ECONNRESET" "$(printf '%s\n' "$shim_stderr" | grep '^{"v":1,' | jq -r '"\(.type) \(.errno)"')"
}

@test "RSTWATCH_LOG=/dev/full (a device, not a file) is refused; the record goes to stderr" {
    start_server rst-after-request
    run_bare "$CLIENT" 127.0.0.1 "$PORT"
    check_refused_dest /dev/full
}

@test "RSTWATCH_LOG=fd:N on /dev/full: the failed write warns once and the record goes to stderr" {
    start_server rst-after-request
    run_bare "$CLIENT" 127.0.0.1 "$PORT"
    exec 7>/dev/full
    KEEP_FDS=7 check_refused_dest fd:7
    exec 7>&-
    printf '%s\n' "$shim_stderr" | grep '^rstwatch:' | grep -q 'No space left'
}

@test "RSTWATCH_LOG=fd:N on a closed descriptor warns once and the record goes to stderr" {
    start_server rst-after-request
    run_bare "$CLIENT" 127.0.0.1 "$PORT"
    check_refused_dest fd:77
}

@test "a log directory the program may not write to is refused; the record goes to stderr" {
    command -v setpriv >/dev/null || skip "setpriv not available"
    [ "$(id -u)" = 0 ] || skip "needs root to run as nobody (root ignores directory permissions)"
    start_server rst-after-request
    # nobody must reach the test directory, the client and the shim
    local top
    top="$(mktemp -d /tmp/rstwatch-hardening.XXXXXX)"
    chmod 0755 "$top"
    cp "$CLIENT" "$SHIM" "$top/"
    mkdir "$top/ro"
    chown nobody "$top/ro"
    chmod 0500 "$top/ro"
    local preload="$top/librstwatch.so"
    [ -z "${SAN_RUNTIME:-}" ] || preload="$SAN_RUNTIME:$preload"
    run timeout 20 setpriv --reuid=nobody --regid=nogroup --clear-groups "$top/client" 127.0.0.1 "$PORT"
    local b_status=$status b_output=$output
    run timeout 20 setpriv --reuid=nobody --regid=nogroup --clear-groups \
        env RSTWATCH_LOG="$top/ro/%p.jsonl" LD_PRELOAD="$preload" "$top/client" 127.0.0.1 "$PORT"
    local files
    files="$(ls -A "$top/ro")"
    rm -rf "$top"
    assert_equal "$b_status" "$status" "exit status"
    assert_equal "$b_output" "$(printf '%s\n' "$output" | grep -v -e '^rstwatch:' -e '^{"v":1,')" "output"
    assert_equal 1 "$(printf '%s\n' "$output" | grep -c '^rstwatch:.*ro')" "warnings naming the directory"
    assert_equal 1 "$(printf '%s\n' "$output" | grep -c '^{"v":1,')" "records on stderr"
    assert_equal "" "$files" "files in the read-only directory"
}

@test "a missing log directory is created 0700; one that cannot be created is refused with the record on stderr" {
    start_server rst-after-request
    run_bare "$CLIENT" 127.0.0.1 "$PORT"
    RSTWATCH_LOG="$T/new/deeper/%p.jsonl" run_shim "$CLIENT" 127.0.0.1 "$PORT"
    assert_host_unchanged
    assert_equal 0 "$(warning_count)" "warnings"
    assert_equal "700 700 1" "$(stat -c %a "$T/new") $(stat -c %a "$T/new/deeper") $(grep -c . "$T/new/deeper/$shim_pid.jsonl")"
    touch "$T/plainfile"
    check_refused_dest "$T/plainfile/sub/%p.jsonl"
    [ -f "$T/plainfile" ] && [ ! -s "$T/plainfile" ]
}

@test "a log that is a FIFO (with or without a reader) is refused without blocking" {
    start_server rst-after-request
    run_bare "$CLIENT" 127.0.0.1 "$PORT"
    mkfifo "$T/log.fifo"
    local t0=$SECONDS
    RUN_TIMEOUT=10 check_refused_dest "$T/log.fifo"
    [ $((SECONDS - t0)) -lt 5 ]
    # with a reader: still not a regular file
    (timeout 10 cat "$T/log.fifo" >"$T/fifo.read" 3>&-) &
    local reader=$!
    RUN_TIMEOUT=10 check_refused_dest "$T/log.fifo"
    kill "$reader" 2>/dev/null || true
    wait "$reader" 2>/dev/null || true
    assert_equal "" "$(cat "$T/fifo.read")" "bytes sent into the FIFO"
}

@test "a log file that is a symlink is not followed: the target stays untouched" {
    start_server rst-after-request
    run_bare "$CLIENT" 127.0.0.1 "$PORT"
    mkdir -p "$LOG_DIR"
    echo "precious" >"$T/target"
    ln -s "$T/target" "$LOG_DIR/link.jsonl"
    check_refused_dest "$LOG_DIR/link.jsonl"
    assert_equal precious "$(cat "$T/target")"
    # a dangling symlink is not created through either
    ln -s "$T/nowhere" "$LOG_DIR/dangling.jsonl"
    check_refused_dest "$LOG_DIR/dangling.jsonl"
    [ ! -e "$T/nowhere" ]
}

@test "a log directory owned by nobody is refused; the record goes to stderr" {
    [ "$(id -u)" = 0 ] || skip "needs root to chown"
    start_server rst-after-request
    run_bare "$CLIENT" 127.0.0.1 "$PORT"
    mkdir -m 0777 "$T/nobodys"
    chown nobody "$T/nobodys"
    check_refused_dest "$T/nobodys/%p.jsonl"
    assert_equal "" "$(ls -A "$T/nobodys")"
}

@test "a log file owned by another user in our directory is refused, not appended to" {
    [ "$(id -u)" = 0 ] || skip "needs root to chown"
    start_server rst-after-request
    run_bare "$CLIENT" 127.0.0.1 "$PORT"
    mkdir -p "$LOG_DIR"
    echo "theirs" >"$LOG_DIR/shared.jsonl"
    chown nobody "$LOG_DIR/shared.jsonl"
    check_refused_dest "$LOG_DIR/shared.jsonl"
    assert_equal theirs "$(cat "$LOG_DIR/shared.jsonl")"
}

@test "8 threads hitting a refused destination at once still give exactly one warning" {
    start_server rst-after-request
    local i
    for i in 1 2 3 4 5; do
        RSTWATCH_LOG=/dev/full run_shim "$CLIENT" --threads 8 --conns 4 127.0.0.1 "$PORT"
        assert_equal "resets=32 ok=0 errors=0" "$shim_output"
        assert_one_warning
        assert_equal 32 "$(json_on_stderr)" "records on stderr"
    done
}

# ---- set-uid / set-gid ------------------------------------------------------------------

# run_secure MODE: copies hostile_proc to a temp dir as a root-owned
# set-uid (u+s) or set-gid (g+s) program, puts a set-uid copy of the shim in
# the system library directory (where ld.so loads preloads from in secure
# mode), and runs "probe" as nobody with hostile settings.
run_secure() {
    [ "$(id -u)" = 0 ] || skip "needs root to make set-uid programs"
    command -v setpriv >/dev/null || skip "setpriv not available"
    [ -z "${SAN_RUNTIME:-}" ] || skip "a sanitized shim cannot be preloaded into a secure program"
    local libdir
    libdir="$(dirname "$(gcc -print-file-name=libc.so.6)")"
    [ -d "$libdir" ] && [ -w "$libdir" ] || skip "no writable system library directory"
    local name="librstwatch-hardening-$$.so"
    SYSLIB_COPY="$libdir/$name"
    install -m 4755 "$SHIM" "$SYSLIB_COPY"
    local top
    top="$(mktemp -d /tmp/rstwatch-secure.XXXXXX)"
    chmod 0755 "$top"
    install -m 0755 "$HOSTILE" "$top/probe"
    chmod "$1" "$top/probe"
    mkdir -m 1777 "$top/logs"
    run timeout 20 setpriv --reuid=nobody --regid=nogroup --clear-groups \
        env LD_PRELOAD="$name" RSTWATCH_LOG="$top/logs/%p.jsonl" RSTWATCH_EVENTS=bogus \
        RSTWATCH_RECORD=all "$top/probe" probe 127.0.0.1 "$PORT"
    secure_logs="$(ls -A "$top/logs")"
    rm -rf "$top"
}

@test "a set-uid program loads the shim but stays inert: no record, no warning, same output" {
    start_server rst-after-request
    run_secure u+s
    assert_equal 0 "$status"
    assert_equal "shim=mapped secure=1
$RESET_LINE" "$output"
    assert_equal "" "$secure_logs" "files written"
}

@test "a set-gid program loads the shim but stays inert: no record, no warning, same output" {
    start_server rst-after-request
    run_secure g+s
    assert_equal 0 "$status"
    assert_equal "shim=mapped secure=1
$RESET_LINE" "$output"
    assert_equal "" "$secure_logs" "files written"
}
