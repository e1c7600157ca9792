#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The rstwatch command as a user meets it: option parsing (getopt_long
# forms), exit statuses (125 for its own errors, 126/127 as the shell),
# `rstwatch lib`, the warning when a target cannot be watched (a static
# binary, a set-uid program run by another user, a Go binary), signals
# forwarded to the command, and a summary that counts only the command's
# own records.

load lib

setup() { rstwatch_setup; }
teardown() { rstwatch_teardown; }

# rstwatch_lines: the lines rstwatch itself printed on the captured stderr.
rstwatch_lines() {
    printf '%s\n' "$stderr" | grep '^rstwatch' || true
}

@test "rstwatch's own usage errors exit 125; a missing command 127, a non-executable one 126" {
    _capture "" "$RSTWATCH" run
    assert_equal 125 "$status" "run without a command"
    _capture "" "$RSTWATCH" run --no-such-flag -- true
    assert_equal 125 "$status" "unknown run option"
    [[ "$stderr" == *"unknown option '--no-such-flag'"* ]]
    _capture "" "$RSTWATCH" run --events=lots -- true
    assert_equal 125 "$status" "bad value"
    [[ "$stderr" == *"bad value 'lots' for RSTWATCH_EVENTS"* ]]
    _capture "" "$RSTWATCH" run --log
    assert_equal 125 "$status" "flag without its value"
    _capture "" "$RSTWATCH" frobnicate
    assert_equal 125 "$status" "unknown command"
    _capture "" "$RSTWATCH" --frobnicate
    assert_equal 125 "$status" "unknown global option"
    _capture "" "$RSTWATCH" run -- "$T/does-not-exist"
    assert_equal 127 "$status" "command not found"
    printf 'not a program\n' >"$T/data"
    chmod 0644 "$T/data"
    _capture "" "$RSTWATCH" run -- "$T/data"
    assert_equal 126 "$status" "command not executable"
    _capture "" "$RSTWATCH" run -- sh -c 'exit 125'
    assert_equal 125 "$status" "the command's own 125 passes through"
}

@test "run takes --opt=value, --opt value, -lVALUE and stops at the command's own options" {
    need_preloadable curl
    start_server rst-after-request
    _capture "" "$RSTWATCH" run "-l$T/a/%p.jsonl" --record=errors curl -sS "http://127.0.0.1:$PORT/"
    [ "$(cat "$T"/a/*.jsonl | grep -c .)" = 1 ] || { echo "-lVALUE: $stderr" >&2; false; }
    _capture "" "$RSTWATCH" run --log "$T/b/%p.jsonl" --events 16 -- curl -sS "http://127.0.0.1:$PORT/"
    [ "$(cat "$T"/b/*.jsonl | grep -c .)" = 1 ] || { echo "--log VALUE: $stderr" >&2; false; }
    # A directory per host (%h), two levels that do not exist yet.
    _capture "" "$RSTWATCH" run --log "$T/d/%h/%p.jsonl" -- curl -sS "http://127.0.0.1:$PORT/"
    [[ "$(rstwatch_lines)" == "rstwatch: 1 record written to $T/d/$(uname -n)/"*.jsonl* ]] ||
        { echo "%h directory: $stderr" >&2; false; }
    # "-s" and "-S" after the command belong to the command.
    _capture "" "$RSTWATCH" run --log="$T/c/%p.jsonl" sh -c 'echo "$RSTWATCH_LOG $RSTWATCH_RETRY_ATTEMPTS"' -s
    assert_equal 0 "$status"
    assert_equal "$T/c/%p.jsonl " "$output"
    # Every variable of the options table is a flag.
    _capture "" "$RSTWATCH" run --retry-attempts=5 -- sh -c 'echo "$RSTWATCH_RETRY_ATTEMPTS"'
    assert_equal 5 "$output"
}

@test "rstwatch lib prints the library run preloads; RSTWATCH_LIB overrides it" {
    _capture "" "$RSTWATCH" lib
    assert_equal 0 "$status"
    assert_equal "$(readlink -f "$SHIM")" "$output"
    cp "$SHIM" "$T/other.so"
    RSTWATCH_LIB="$T/other.so" _capture "" "$RSTWATCH" lib
    assert_equal "$T/other.so" "$output"
    RSTWATCH_LIB="$T/other.so" _capture "" "$RSTWATCH" run -- sh -c 'echo "$LD_PRELOAD"'
    [[ "$output" == *"$T/other.so"* ]] || { echo "LD_PRELOAD=$output" >&2; false; }
    RSTWATCH_LIB="$T/missing.so" _capture "" "$RSTWATCH" run -- true
    assert_equal 125 "$status" "run with a missing RSTWATCH_LIB"
}

@test "a relocated install (bin/ and lib/rstwatch/ side by side) finds its own library" {
    [ ! -e /usr/local/lib/rstwatch/librstwatch.so ] || skip "an installed copy at the build-time path comes first"
    mkdir -p "$T/prefix/bin" "$T/prefix/lib/rstwatch"
    cp "$RSTWATCH" "$T/prefix/bin/rstwatch"
    cp "$SHIM" "$T/prefix/lib/rstwatch/librstwatch.so"
    _capture "" "$T/prefix/bin/rstwatch" lib
    assert_equal 0 "$status"
    assert_equal "$T/prefix/lib/rstwatch/librstwatch.so" "$output"
    rm "$T/prefix/lib/rstwatch/librstwatch.so"
    _capture "" "$T/prefix/bin/rstwatch" run -- true
    assert_equal 125 "$status" "no library anywhere"
    [[ "$stderr" == *"cannot find librstwatch.so"* ]]
}

@test "a statically linked program gets one warning line and still runs" {
    [ -e "$(gcc -print-file-name=libc.a)" ] || skip "no static libc (libc6-dev)"
    printf '#include <stdio.h>\nint main(void){puts("static hello");return 3;}\n' >"$T/s.c"
    gcc -static -o "$T/static-hello" "$T/s.c"
    gcc -o "$T/dynamic-hello" "$T/s.c"
    _capture "" "$RSTWATCH" run -- "$T/static-hello"
    assert_equal 3 "$status" "the program's exit status"
    assert_equal "static hello" "$output"
    assert_equal 1 "$(rstwatch_lines | grep -c .)" "rstwatch lines"
    [[ "$(rstwatch_lines)" == "rstwatch: warning: $T/static-hello is statically linked"* ]] ||
        { echo "got: $stderr" >&2; false; }
    # Found through PATH, as execvp finds it.
    PATH="$T:$PATH" _capture "" "$RSTWATCH" run static-hello
    [[ "$stderr" == *"$T/static-hello is statically linked"* ]] || { echo "got: $stderr" >&2; false; }
    # The same program linked dynamically: no warning at all.
    _capture "" "$RSTWATCH" run -- "$T/dynamic-hello"
    assert_equal 3 "$status"
    assert_equal "" "$stderr" "stderr of a dynamic program"
}

@test "a set-uid program run by another user gets the warning; run by its owner it does not" {
    [ "$(id -u)" = 0 ] || skip "needs root to create a set-uid file and switch users"
    command -v setpriv >/dev/null || skip "setpriv (util-linux) missing"
    printf '#include <stdio.h>\nint main(void){puts("suid hello");return 0;}\n' >"$T/u.c"
    # A directory other users can reach (the test's own is private).
    SUID_DIR="$(mktemp -d /tmp/rstwatch-suid.XXXXXX)"
    chmod 0755 "$SUID_DIR"
    gcc -o "$SUID_DIR/hello" "$T/u.c"
    chmod 4755 "$SUID_DIR/hello"
    # The rstwatch binary and library must be reachable by nobody.
    setpriv --reuid=nobody --regid=nogroup --clear-groups test -r "$SHIM" -a -x "$RSTWATCH" ||
        skip "$BUILD_DIR is not readable by other users"
    _capture "" setpriv --reuid=nobody --regid=nogroup --clear-groups \
        "$RSTWATCH" run --log stderr -- "$SUID_DIR/hello"
    local by_nobody_status=$status by_nobody_out=$output by_nobody_err=$stderr
    _capture "" "$RSTWATCH" run --log "$LOG_DIR/%p.jsonl" -- "$SUID_DIR/hello"
    rm -rf "$SUID_DIR"
    assert_equal 0 "$by_nobody_status"
    assert_equal "suid hello" "$by_nobody_out"
    [[ "$by_nobody_err" == *"rstwatch: warning: $SUID_DIR/hello is set-uid/set-gid"* ]] ||
        { echo "got: $by_nobody_err" >&2; false; }
    assert_equal "" "$stderr" "run by its owner (root)"
}

# go_like_elf OUT: a dynamic C program carrying the section Go's linker
# writes (.note.go.buildid), for machines without a Go toolchain.
go_like_elf() {
    printf '#include <stdio.h>\nint main(void){puts("go-like");return 0;}\n' >"$T/g.c"
    gcc -o "$T/g.plain" "$T/g.c"
    printf 'Go\0\0build-id-for-the-test' >"$T/buildid"
    objcopy --add-section .note.go.buildid="$T/buildid" "$T/g.plain" "$1"
}

@test "a Go binary that makes its own socket calls gets the warning (and a C program that imports connect does not)" {
    go_like_elf "$T/golike"
    _capture "" "$RSTWATCH" run -- "$T/golike"
    assert_equal 0 "$status"
    assert_equal "go-like" "$output"
    [[ "$stderr" == "rstwatch: warning: $T/golike is a Go program"* ]] || { echo "got: $stderr" >&2; false; }
    # The same note in a program that calls libc's connect (as gccgo's do): watched, no warning.
    printf '#include <stdio.h>\n#include <sys/socket.h>\nint main(int c,char**v){if(c>5)connect(0,0,0);puts("go-like");return 0;}\n' >"$T/gc.c"
    gcc -o "$T/gc.plain" "$T/gc.c"
    objcopy --add-section .note.go.buildid="$T/buildid" "$T/gc.plain" "$T/gccgo-like"
    _capture "" "$RSTWATCH" run --log "$LOG_DIR/%p.jsonl" -- "$T/gccgo-like"
    assert_equal "" "$stderr" "a Go build ID but libc's connect imported"
}

@test "a real Go program (if a Go toolchain is installed) gets the warning" {
    command -v go >/dev/null || skip "no Go toolchain (golang-go); the crafted-ELF test covers the check"
    mkdir -p "$T/gosrc"
    cat >"$T/gosrc/main.go" <<'EOF'
package main

import (
	"fmt"
	"net"
)

func main() {
	_, err := net.Dial("tcp", "127.0.0.1:1")
	fmt.Println("dial error:", err != nil)
}
EOF
    export GOCACHE="$BUILD_DIR/gocache" GOPATH="$T/gopath" GOFLAGS=-mod=mod GO111MODULE=off
    (cd "$T/gosrc" && go build -o "$T/godial" main.go)
    _capture "" "$RSTWATCH" run --log "$LOG_DIR/%p.jsonl" -- "$T/godial"
    assert_equal "dial error: true" "$output"
    [[ "$stderr" == "rstwatch: warning: $T/godial is a Go program"* || "$stderr" == *"is statically linked"* ]] ||
        { echo "got: $stderr" >&2; false; }
    assert_record_count 0
}

# sig_child SIG: starts `rstwatch run` on a python program that reports the
# signal it gets and exits 0; sends SIG to the rstwatch process; waits.
sig_child() {
    local sig="$1" ready="$T/ready.$1"
    rm -f "$ready"
    "$RSTWATCH" run --log "$LOG_DIR/%p.jsonl" -- python3 -c '
import signal, sys, time
def got(n, f):
    print("got", signal.Signals(n).name, flush=True)
    sys.exit(0)
for s in ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"):
    signal.signal(getattr(signal, s), got)
open(sys.argv[1], "w").close()
time.sleep(30)
print("no signal", flush=True)
sys.exit(9)' "$ready" >"$T/sig.out" 2>"$T/sig.err" </dev/null 3>&- &
    local wrapper=$! i
    for ((i = 0; i < 500; i++)); do [ -e "$ready" ] && break; sleep 0.02; done
    [ -e "$ready" ] || { echo "the python child never became ready" >&2; return 1; }
    kill -s "$sig" "$wrapper"
    wait "$wrapper" && status=0 || status=$?
    output="$(<"$T/sig.out")"
}

@test "run forwards TERM, INT, HUP, QUIT, USR1 and USR2 to the command and exits with its status" {
    local sig
    for sig in TERM INT HUP QUIT USR1 USR2; do
        sig_child "$sig"
        assert_equal 0 "$status" "exit status after SIG$sig"
        assert_equal "got SIG$sig" "$output" "what the command saw"
    done
}

@test "a command killed by the forwarded SIGTERM leaves no process behind and rstwatch reports the signal" {
    "$RSTWATCH" run --log "$LOG_DIR/%p.jsonl" -- sleep 60 </dev/null >/dev/null 2>&1 3>&- &
    local wrapper=$! child="" i
    for ((i = 0; i < 250; i++)); do
        child="$(pgrep -P "$wrapper" -x sleep || true)"
        [ -n "$child" ] && break
        sleep 0.02
    done
    [ -n "$child" ] || { echo "sleep never started under rstwatch run" >&2; false; }
    kill -TERM "$wrapper"
    wait "$wrapper" && status=0 || status=$?
    assert_equal 143 "$status" "rstwatch's status (128 + SIGTERM)"
    for ((i = 0; i < 100; i++)); do kill -0 "$child" 2>/dev/null || break; sleep 0.02; done
    ! kill -0 "$child" 2>/dev/null || { echo "sleep ($child) still runs" >&2; kill "$child"; false; }
}

@test "the summary counts only the command's records, not another program's written to the same directory meanwhile" {
    need_preloadable curl
    start_server rst-after-request
    # The command: one reset, then it waits until the other program has written its record.
    "$RSTWATCH" run --log "$LOG_DIR/%p.jsonl" -- python3 -c '
import os, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET / HTTP/1.0\r\n\r\n")
try:
    s.recv(100)
except ConnectionResetError:
    print("reset")
for _ in range(1500):
    if os.path.exists(sys.argv[2]):
        break
    time.sleep(0.02)
' "$PORT" "$T/go" >"$T/run.out" 2>"$T/run.err" </dev/null 3>&- &
    local wrapper=$! i
    for ((i = 0; i < 500; i++)); do [ "$(record_count)" -ge 1 ] && break; sleep 0.02; done
    # Another program, started outside rstwatch run, logging to the same directory.
    run_shim curl -sS "http://127.0.0.1:$PORT/"
    touch "$T/go"
    wait "$wrapper"
    assert_equal reset "$(<"$T/run.out")"
    assert_record_count 2
    stderr="$(<"$T/run.err")"
    assert_equal 1 "$(rstwatch_lines | grep -c .)" "rstwatch lines"
    [[ "$(rstwatch_lines)" == "rstwatch: 1 record written to $LOG_DIR/"*.jsonl* ]] ||
        { echo "got: $stderr" >&2; false; }
}

# descendant_run LOGDIR [PREFIX...]: `rstwatch run` of a shell whose child (python)
# gets a reset and lingers a moment after its record, as a real program's
# exit would; PREFIX (after LOGDIR) runs it as another user.
descendant_run() {
    local log="$1"
    shift
    _capture "" "$@" "$RSTWATCH" run --log "$log/%p.jsonl" -- sh -c '
        python3 -c "
import socket, sys, time
s = socket.create_connection((\"127.0.0.1\", int(sys.argv[1])))
s.sendall(b\"GET / HTTP/1.0\r\n\r\n\")
try:
    s.recv(100)
except ConnectionResetError:
    print(\"reset\")
time.sleep(0.5)
" "$1"; echo done' sh "$PORT"
    assert_equal "reset
done" "$output"
    assert_equal 1 "$(cat "$log"/*.jsonl | grep -c .)" "records in $log"
    [[ "$(rstwatch_lines)" == "rstwatch: 1 record written to $log/"* ]] || { echo "got: $stderr" >&2; false; }
}

@test "records of a descendant (a shell's child) are counted" {
    start_server rst-after-request
    descendant_run "$LOG_DIR"
}

@test "records of a descendant are counted without the kernel's fork events too (not root: found in /proc)" {
    [ "$(id -u)" = 0 ] || skip "runs as nobody via setpriv; needs root to switch"
    command -v setpriv >/dev/null || skip "setpriv (util-linux) missing"
    setpriv --reuid=nobody --regid=nogroup --clear-groups test -r "$SHIM" -a -x "$RSTWATCH" ||
        skip "$BUILD_DIR is not readable by other users"
    start_server rst-after-request
    local log
    log="$(mktemp -d /tmp/rstwatch-nobody.XXXXXX)"
    chown nobody "$log"
    descendant_run "$log" setpriv --reuid=nobody --regid=nogroup --clear-groups || { rm -rf "$log"; false; }
    rm -rf "$log"
}

@test "with --log stderr the summary counts the records written there; with syslog it says where they went" {
    need_preloadable curl
    start_server rst-after-request
    # The program's own JSON log lines on the same stderr are not records.
    _capture "" "$RSTWATCH" run --log stderr -- sh -c \
        'echo "{\"level\":30,\"pid\":$$,\"msg\":\"starting\"}" >&2; exec curl -sS "$1"' sh "http://127.0.0.1:$PORT/"
    printf '%s\n' "$stderr" | grep -q '^{"v":1' || { echo "no record on stderr: $stderr" >&2; false; }
    printf '%s\n' "$stderr" | grep -q '^{"level":30' || { echo "no app log line: $stderr" >&2; false; }
    assert_equal "rstwatch: 1 record written to stderr" "$(rstwatch_lines | tail -1)"
    _capture "" "$RSTWATCH" run --log fd:1 -- curl -sS "http://127.0.0.1:$PORT/"
    printf '%s\n' "$output" | grep -q '^{"v":1' || { echo "no record on fd 1: $output" >&2; false; }
    assert_equal "rstwatch: 1 record written to fd 1" "$(rstwatch_lines | tail -1)"
    _capture "" "$RSTWATCH" run --log syslog -- true
    assert_equal 0 "$status"
    [[ "$(rstwatch_lines)" == "rstwatch: records, if any, went to syslog"* ]] || { echo "got: $stderr" >&2; false; }
}

@test "records of short-lived grandchildren are all counted (as root, from the kernel's fork events)" {
    [ "$(id -u)" = 0 ] || skip "the process events connector needs root; descendants are then found in /proc"
    need_preloadable curl
    start_server rst-after-request
    local url="http://127.0.0.1:$PORT/"
    _capture "" "$RSTWATCH" run --log "$LOG_DIR/%p.jsonl" -- sh -c \
        'curl -s "$1"; curl -s "$1"; (curl -s "$1"; true); echo done' sh "$url"
    assert_equal done "$output"
    assert_record_count 3
    assert_equal "rstwatch: 3 records written to 3 files in $LOG_DIR (rstwatch report $LOG_DIR)" \
        "$(rstwatch_lines)"
}
