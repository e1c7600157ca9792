#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# sandbox.bats: "never hurt the host" where the host sandboxes or splits
# itself. Programs run under seccomp filters (tests/helpers/seccomp_exec: an
# allow-list learnt from the bare program with strace, in kill and in EPERM
# mode; filters installed after load through libseccomp, prctl or a raw
# syscall the shim cannot see), with a client's socket on fd 2, after
# chroot(), in a fork child that dropped root, and in fork children of a
# filtered program (which cannot learn their pid). Each checks that the
# program behaves as bare (no SIGSYS, same output and exit status) and that
# its reset is still recorded where it belongs.
# See docs/design.md "Never hurt the host".

load lib

setup_file() { resolve_python; }

setup() {
    rstwatch_setup
    need_shim
    SECCOMP_EXEC="$BUILD_DIR/helpers/seccomp_exec"
    CASES="$RSTWATCH_ROOT/tests/sandbox/cases.py"
    [ -x "$SECCOMP_EXEC" ] || { echo "$SECCOMP_EXEC is missing (make check-helpers)" >&2; false; }
}

teardown() { rstwatch_teardown; }

# learn_syscalls OUT CMD...: runs CMD bare under strace -f and writes the
# names of the system calls it made, one a line, to OUT. Added: the calls a
# second run may make where the first did not (a contended lock, a restarted
# call), none of which the shim makes on its own.
learn_syscalls() {
    local out="$1"
    shift
    strace -f -qq -e trace=all -o "$T/learn.strace" "$@" >/dev/null 2>&1 </dev/null 3>&- || true
    { grep -oE '^[0-9]+ +[a-z0-9_]+\(' "$T/learn.strace" | sed -E 's/^[0-9]+ +//; s/\($//'
      printf '%s\n' futex restart_syscall rt_sigreturn exit exit_group; } | sort -u >"$out"
    [ -s "$out" ] || { echo "strace learnt no system calls" >&2; false; }
}

# log_records FILE: the JSON lines of FILE, one a line (none if missing).
log_records() { [ ! -e "$1" ] || grep '^{' "$1" || true; }

# assert_no_sigsys: the last shim run was not killed by a seccomp filter.
assert_no_sigsys() {
    [ "$shim_status" != 159 ] || { echo "killed by SIGSYS; stderr: $shim_stderr" >&2; false; }
}

# ---- the address accept() returned ---------------------------------------------

@test "clients that reset before accept(): the record's peer is the address accept() wrote into the app's buffer" {
    run_bare "$PYTHON" "$CASES" abort-before-accept 20
    run_shim "$PYTHON" "$CASES" abort-before-accept 20
    assert_same_as_bare
    assert_equal "20 accepted from 127.0.0.1: 20, reset: 20" "$shim_output"
    assert_equal 20 "$(count_type reset)" "reset records"
    assert_true "every peer known" 'all(.[]; .role == "server" and (.peer | test("^127\\.0\\.0\\.1:[0-9]+$")))'
}

# ---- fd 2 is the program's --------------------------------------------------------

@test "a socket on fd 2 (inetd, vsftpd) gets no warning and no record from the shim" {
    start_server rst-after-request
    # a log directory that cannot be made: the warning and the fallback
    # record would both go to fd 2
    touch "$T/file"
    RSTWATCH_LOG="$T/file/logs/%p.jsonl" run_shim "$PYTHON" "$CASES" stderr-is-socket "$PORT"
    assert_equal 0 "$shim_status" "exit status"
    assert_equal "read: ConnectionResetError
stream: 0 bytes" "$shim_output"
}

@test "with fd 2 a file, the same failure still warns and writes the record there" {
    start_server rst-after-request
    touch "$T/file"
    RSTWATCH_LOG="$T/file/logs/%p.jsonl" run_shim "$PYTHON" "$RSTWATCH_ROOT/tests/clients.py" socket 127.0.0.1 "$PORT"
    assert_contains "$shim_stderr" "rstwatch: cannot use log directory"
    assert_contains "$shim_stderr" '"type":"reset"'
}

# ---- seccomp filters --------------------------------------------------------------

# filtered_exec MODE NAME CMD...: learns CMD's system calls bare, then runs
# it under the shim in seccomp_exec with exactly those allowed (MODE --kill
# or --errno), the log on fd 9 opened before the filter. Compares with the
# bare run; the records are in $T/NAME.log.
filtered_exec() {
    local mode="$1" name="$2"
    shift 2
    learn_syscalls "$T/$name.allow" "$SECCOMP_EXEC" -- "$@"
    run_bare "$SECCOMP_EXEC" -- "$@"
    RSTWATCH_LOG=fd:9 run_bare "$SECCOMP_EXEC" "$mode" --allow "$T/$name.allow" \
        --fd 9:"$T/$name.log" --preload "$SHIM_PRELOAD" -- "$@"
    shim_status=$status shim_output=$output shim_stderr=$stderr
    assert_no_sigsys
    assert_same_as_bare
}

@test "curl under a seccomp allow-list of its own bare system calls, kill and EPERM mode: as bare, and the reset recorded" {
    need_preloadable curl
    start_server rst-after-request
    local mode
    for mode in --kill --errno; do
        filtered_exec "$mode" "curl$mode" curl -sS "http://127.0.0.1:$PORT/"
        assert_equal 56 "$shim_status" "$mode: curl's exit status"
        assert_equal "reset ECONNRESET 127.0.0.1:$PORT client" \
            "$(log_records "$T/curl$mode.log" | jq -r '"\(.type) \(.errno) \(.peer) \(.role)"')" "$mode record"
    done
}

@test "a python client under a seccomp allow-list of its own bare system calls, kill and EPERM mode: as bare, and the reset recorded" {
    start_server rst-after-request
    local mode
    for mode in --kill --errno; do
        filtered_exec "$mode" "py$mode" "$PYTHON" "$RSTWATCH_ROOT/tests/clients.py" socket 127.0.0.1 "$PORT"
        assert_equal "reset ECONNRESET 127.0.0.1:$PORT" \
            "$(log_records "$T/py$mode.log" | jq -r '"\(.type) \(.errno) \(.peer)"')" "$mode record"
    done
}

@test "a filter installed after load (libseccomp, prctl): the log is opened before it, and the reset recorded there" {
    start_server rst-after-request
    learn_syscalls "$T/client.allow" "$SECCOMP_EXEC" --client 127.0.0.1 "$PORT" send
    local api
    for api in libseccomp prctl; do
        rm -rf "$LOG_DIR"
        run_shim "$SECCOMP_EXEC" --kill --allow "$T/client.allow" --api "$api" --client 127.0.0.1 "$PORT" send
        assert_no_sigsys
        assert_equal "send: ok, read: Connection reset by peer" "$shim_output" "$api"
        assert_record_count 1
        assert_equal "reset ECONNRESET 127.0.0.1:$PORT $shim_pid" "$(jq_record '"\(.type) \(.errno) \(.peer) \(.pid)"')" "$api"
    done
}

@test "a filter the shim cannot see that refuses fstat, getsockopt and the address calls: the reset is still recorded" {
    start_server rst-after-request
    RSTWATCH_LOG=fd:9 run_shim "$SECCOMP_EXEC" --errno --api raw \
        --deny fstat,newfstatat,statx,getsockopt,getpeername,getsockname,process_vm_readv \
        --fd 9:"$T/refused.log" --client 127.0.0.1 "$PORT" send
    assert_equal 0 "$shim_status" "exit status (stderr: $shim_stderr)"
    assert_equal "send: ok, read: Connection reset by peer" "$shim_output"
    assert_equal "reset ECONNRESET 127.0.0.1:$PORT" \
        "$(log_records "$T/refused.log" | jq -r '"\(.type) \(.errno) \(.peer)"')"
}

@test "fork children of a filtered program cannot learn their pid: their records say pid 0, and report and export count them apart" {
    start_server rst-after-request
    filtered_exec --kill forked "$PYTHON" "$CASES" fork-resets "$PORT" 2
    assert_equal "child 0: ConnectionResetError
child 1: ConnectionResetError
parent: ConnectionResetError" "$shim_output"
    local log="$T/forked.log" parent="$bare_pid"
    # The children made no getpid (the filter allows only what the program
    # makes): pid and tid 0. Both continued the parent's count of
    # connections, so their conn numbers are the same too.
    assert_equal "0 0 reset ECONNRESET 127.0.0.1:$PORT
0 0 reset ECONNRESET 127.0.0.1:$PORT
$parent $parent reset ECONNRESET 127.0.0.1:$PORT" \
        "$(log_records "$log" | jq -r '"\(.pid) \(.tid) \(.type) \(.errno) \(.peer)"')" "records"
    assert_equal 1 "$(log_records "$log" | jq -s 'map(select(.pid == 0) | .conn) | unique | length')" \
        "the children's conn numbers"

    run_bare "$RSTWATCH" report "$log"
    assert_equal 0 "$status" "report's exit status (stderr: $stderr)"
    assert_equal "" "$stderr" "report's warnings"
    assert_contains "$output" "3 incidents in 1 group, from 3 records in 1 file"
    assert_equal 2 "$(grep -c 'python3\[pid unknown\]' <<<"$output")" "incidents of unknown pid"
    assert_equal 1 "$(grep -c "python3\[$parent\]" <<<"$output")" "the parent's incident"
    run_bare "$RSTWATCH" report --json "$log"
    assert_equal "0 0 $parent" "$(jq -r '[.incidents[].pid] | sort | map(tostring) | join(" ")' <<<"$output")" \
        "report --json keeps the pids as written"

    run_bare "$RSTWATCH" cat "$log"
    assert_equal "0 0 0 0 $parent $parent" "$(jq -s -r 'map("\(.pid) \(.tid)") | join(" ")' <<<"$output")" \
        "cat (stderr: $stderr)"
    run_bare "$RSTWATCH" metrics --state "$T/metrics.state" "$log"
    assert_contains "$output" 'rstwatch_records_total{type="reset"} 3'
    assert_contains "$output" "rstwatch_log_bad_lines_total 0"

    # The trace: each child's connection on a track of its own in a process
    # named "pid unknown", the parent's in its own process.
    run_bare "$RSTWATCH" export --format chrome "$log"
    assert_equal 0 "$status" "export's exit status (stderr: $stderr)"
    assert_equal 3 "$(jq '[.traceEvents[] | select(.name == "connection")] | length' <<<"$output")" "connections"
    assert_equal 2 "$(jq '[.traceEvents[] | select(.name == "connection" and .pid != '"$parent"') | .tid] | unique | length' <<<"$output")" \
        "tracks of the children's connections"
    assert_equal "pid unknown on $(uname -n)" \
        "$(jq -r '.traceEvents[] | select(.name == "process_name" and .pid != '"$parent"') | .args.name' <<<"$output")" \
        "the children's process"
    run_bare "$RSTWATCH" export --format html "$log"
    assert_equal 0 "$status" "html export's exit status (stderr: $stderr)"
    assert_equal 2 "$(grep -o '<dd class="pid">pid unknown</dd>' <<<"$output" | wc -l)" "html: pid unknown"
    assert_equal 0 "$(grep -c 'data-pid="0"' <<<"$output")" "html: no timeline says pid 0"
    assert_equal 1 "$(grep -c "data-pid=\"$parent\"" <<<"$output")" "html: the parent's timeline"
}

@test "socat forking per connection under a filter it inherited at exec (SystemCallFilter=): as bare, each child's reset recorded with pid 0, report counts them" {
    command -v socat >/dev/null || { echo "socat is missing (scripts/install-deps.sh)" >&2; false; }
    need_preloadable socat
    start_server rst-after-request
    local backend="$PORT" port
    port="$(free_port)"
    local -a socat=(socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" "TCP:127.0.0.1:$backend")
    # Its system calls, learnt bare: a connection through a fork child (in a
    # sanitized run with the sanitizer's runtime, whose calls are not the
    # shim's).
    local -a san_env=()
    [ -z "${SAN_RUNTIME:-}" ] || san_env=(-E "LD_PRELOAD=$SAN_RUNTIME")
    start_bg "" socat-learn strace -f -qq -e trace=all "${san_env[@]}" -o "$T/learn.strace" "${socat[@]}"
    local tracer="$LAST_BG_PID"
    wait_for_port "$port"
    run_bare curl -sS "http://127.0.0.1:$port/"
    local bare="$status $output $stderr"
    kill "$(pgrep -P "$tracer")" # socat; strace ends with it
    wait "$tracer" || true
    { grep -oE '^[0-9]+ +[a-z0-9_]+\(' "$T/learn.strace" | sed -E 's/^[0-9]+ +//; s/\($//'
      printf '%s\n' futex restart_syscall rt_sigreturn exit exit_group; } | sort -u >"$T/socat.allow"

    RSTWATCH_LOG=fd:9 start_bg "" socat "$SECCOMP_EXEC" --kill --allow "$T/socat.allow" \
        --fd 9:"$T/socat.log" --preload "$SHIM_PRELOAD" -- "${socat[@]}"
    wait_for_port "$port"
    local i
    for i in 1 2; do
        run_bare curl -sS "http://127.0.0.1:$port/"
        assert_equal "$bare" "$status $output $stderr" "curl $i through socat, as bare"
    done
    stop_servers
    assert_equal "" "$(cat "$T/socat.err")" "socat's stderr (no SIGSYS)"
    assert_equal "0 0 socat client read ECONNRESET 127.0.0.1:$backend
0 0 socat client read ECONNRESET 127.0.0.1:$backend" \
        "$(log_records "$T/socat.log" | jq -r 'select(.type == "reset") | "\(.pid) \(.tid) \(.prog) \(.role) \(.op) \(.errno) \(.peer)"')" \
        "the children's records"
    run_bare "$RSTWATCH" report "$T/socat.log"
    assert_equal 0 "$status" "report's exit status (stderr: $stderr)"
    assert_contains "$output" "2 incidents in 1 group"
    assert_equal 2 "$(grep -c 'socat\[pid unknown\]' <<<"$output")" "incidents of unknown pid"
}

@test "rstwatch run counts the records of unknown pid that its command's filtered fork children write to its file or fd" {
    start_server rst-after-request
    learn_syscalls "$T/fork.allow" "$SECCOMP_EXEC" --fork 2 --client 127.0.0.1 "$PORT" send
    local want="send: ok, read: Connection reset by peer"
    want="$want
$want
$want"
    # The filter goes in after load: the log file is opened before it, named
    # after the parent; the children write to it with pid 0.
    _capture "" "$RSTWATCH" run --log "$LOG_DIR/%p.jsonl" -- \
        "$SECCOMP_EXEC" --kill --allow "$T/fork.allow" --fork 2 --client 127.0.0.1 "$PORT" send
    assert_equal 0 "$status" "exit status (stderr: $stderr)"
    assert_equal "$want" "$output"
    local parent
    parent="$(jq -r 'select(.pid != 0) | .pid' "$LOG_DIR"/*.jsonl)"
    assert_equal "0 0 reset
0 0 reset
$parent $parent reset" "$(jq -r '"\(.pid) \(.tid) \(.type)"' "$LOG_DIR"/*.jsonl)" "records"
    assert_equal "rstwatch: 3 records written to $LOG_DIR/$parent.jsonl (rstwatch report $LOG_DIR/$parent.jsonl)" \
        "$(grep '^rstwatch:' <<<"$stderr")"
    # Started under the filter: the log is an fd opened before it.
    exec 9>>"$T/fd9.log"
    KEEP_FDS=9 _capture "" "$RSTWATCH" run --log fd:9 -- "$SECCOMP_EXEC" --kill --allow "$T/fork.allow" \
        -- "$SECCOMP_EXEC" --fork 2 --client 127.0.0.1 "$PORT" send
    exec 9>&-
    assert_equal 0 "$status" "exit status under fd:9 (stderr: $stderr)"
    assert_equal "$want" "$output"
    assert_equal "0 0 reset" "$(jq -r 'select(.pid == 0) | "\(.pid) \(.tid) \(.type)"' "$T/fd9.log" | sort -u)" "records in fd 9"
    assert_equal 3 "$(grep -c '^{' "$T/fd9.log")" "records in fd 9"
    assert_equal "rstwatch: 3 records written to fd 9" "$(grep '^rstwatch:' <<<"$stderr")"
}

@test "write() stays write(2) and writev() stays writev(2): a filter that kills sendto and sendmsg lets them through" {
    start_server rst-after-request
    local io
    for io in write writev; do
        rm -f "$T/$io.log"
        RSTWATCH_LOG=fd:9 run_shim "$SECCOMP_EXEC" --kill --api raw --deny sendto,sendmsg \
            --fd 9:"$T/$io.log" --client 127.0.0.1 "$PORT" "$io"
        assert_no_sigsys
        assert_equal "$io: ok, read: Connection reset by peer" "$shim_output"
        assert_equal "reset ECONNRESET $io" \
            "$(log_records "$T/$io.log" | jq -r '"\(.type) \(.errno) \([.events[].op] | map(select(. == $io)) | .[0])"' --arg io "$io")"
    done
}

# ---- chroot and privilege drops ------------------------------------------------------

@test "after chroot() the record goes to the log opened before it; nothing is created inside the jail" {
    start_server rst-after-request
    mkdir -p "$T/jail"
    run_bare "$PYTHON" "$CASES" chroot-reset "$PORT" "$T/jail"
    run_shim "$PYTHON" "$CASES" chroot-reset "$PORT" "$T/jail"
    assert_same_as_bare
    assert_equal "read: ConnectionResetError" "$shim_output"
    assert_record_count 1
    assert_equal "" "$(cd "$T/jail" && find . -mindepth 1)" "files inside the jail"
}

@test "a fork child that dropped root and cannot open its own file writes to the inherited log, not to stderr" {
    [ "$(id -u)" = 0 ] || skip "needs root to drop privileges"
    start_server rst-after-request
    run_bare "$PYTHON" "$CASES" drop-fork-reset "$PORT"
    run_shim "$PYTHON" "$CASES" drop-fork-reset "$PORT"
    assert_equal 0 "$shim_status" "exit status (stderr: $shim_stderr)"
    assert_equal "" "$shim_stderr" "stderr"
    [[ "$shim_output" =~ child\ ([0-9]+):\ ConnectionResetError ]] || { echo "$shim_output" >&2; false; }
    local child="${BASH_REMATCH[1]}"
    assert_record_count 1
    assert_equal "reset $child" "$(jq_record '"\(.type) \(.pid)"')" "record"
    assert_equal "$LOG_DIR/$shim_pid.jsonl" "$(ls "$LOG_DIR"/*.jsonl)" "the parent's file"
}
