#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# host.bats: "never hurt the host". Each test is a real program doing what real
# hosts do (a unix-socket server, a signal handler that opens sockets,
# pipelined or vectored requests, a socket closed behind the shim's back, a
# blocked reader whose fd is closed by another thread) and checks that under
# the shim it behaves exactly as it does bare: same output, same exit status,
# and the same requests reaching the server.
# See docs/design.md "Never hurt the host".

load lib

setup() {
    rstwatch_setup
    PYTHON="${PYTHON:-python3}"
    PEER="$RSTWATCH_ROOT/tests/host/peer.py"
    CASES="$RSTWATCH_ROOT/tests/host/cases.py"
    HOSTCASES="$BUILD_DIR/helpers/hostcases"
}

teardown() { rstwatch_teardown; }

# start_peer NAME [peer.py args]: starts tests/host/peer.py logging to
# $T/NAME.log; sets PEER_PORT.
start_peer() {
    local name="$1"
    shift
    rm -f "$T/$name.port" "$T/$name.log"
    "$PYTHON" "$PEER" --port-file "$T/$name.port" --log "$T/$name.log" "$@" \
        >"$T/$name.out" 2>&1 </dev/null 3>&- &
    SERVER_PIDS+=("$!")
    local i
    for ((i = 0; i < 250; i++)); do
        [ -s "$T/$name.port" ] && break
        sleep 0.02
    done
    PEER_PORT="$(<"$T/$name.port")"
}

peer_log() { cat "$T/$1.log" 2>/dev/null || true; }

# same_case CASE [peer args]: runs cases.py CASE bare and under the shim with
# the given RSTWATCH_* environment, each against a fresh peer; the app's
# output and the requests the peer logged must be identical.
same_case() {
    local case="$1"
    shift
    start_peer bare "$@"
    run_bare "$PYTHON" "$CASES" "$case" "$PEER_PORT"
    sleep 0.1
    bare_log="$(peer_log bare)"
    start_peer shim "$@"
    run_shim "$PYTHON" "$CASES" "$case" "$PEER_PORT"
    sleep 0.1
    shim_log="$(peer_log shim)"
    assert_same_as_bare
    if [ "$bare_log" != "$shim_log" ]; then
        echo "the server received different requests:" >&2
        diff <(echo "$bare_log") <(echo "$shim_log") >&2 || true
        return 1
    fi
}

# ---- a unix-socket server, default settings -----------------------------------------

@test "a python unix-socket server accepts under the shim with default settings, exactly as bare" {
    run_bare "$PYTHON" "$CASES" unix-accept "$T/bare.sock"
    run_shim "$PYTHON" "$CASES" unix-accept "$T/shim.sock"
    assert_equal 0 "$shim_status" "exit status (stderr: $shim_stderr)"
    assert_equal "accepted, peer address ''
server got b'ping'
client got b'pong'" "$shim_output"
    assert_equal "$bare_output" "$shim_output"
}

@test "redis-server on a unix socket answers redis-cli under the shim" {
    command -v redis-server >/dev/null || skip "redis-server not installed"
    local sock="$T/redis.sock"
    LD_PRELOAD="$SHIM_PRELOAD" redis-server --port 0 --unixsocket "$sock" --save '' \
        --appendonly no --dir "$T" >"$T/redis.out" 2>&1 </dev/null 3>&- &
    SERVER_PIDS+=("$!")
    local i
    for ((i = 0; i < 250; i++)); do [ -S "$sock" ] && break; sleep 0.02; done
    run redis-cli -s "$sock" ping
    assert_equal PONG "$output"
    run redis-cli -s "$sock" set k v
    run redis-cli -s "$sock" get k
    assert_equal v "$output"
    kill -0 "${SERVER_PIDS[-1]}" || { cat "$T/redis.out" >&2; return 1; }
}

# ---- async-signal safety ---------------------------------------------------------------

@test "a SIGALRM handler doing socket() + close() while main mallocs survives with retry on" {
    for mode in off connect idempotent; do
        RSTWATCH_RETRY=$mode run_shim "$HOSTCASES" sigalrm-socket 1500
        assert_equal 0 "$shim_status" "RSTWATCH_RETRY=$mode exit status (stderr: $shim_stderr)"
        assert_equal "survived many signals" "$shim_output" "RSTWATCH_RETRY=$mode"
    done
}

# start_closer: a server that closes every connection at once; sets CLOSER_PORT.
start_closer() {
    "$PYTHON" -c "
import socket, sys
ls = socket.socket(); ls.bind(('127.0.0.1', 0)); ls.listen(8)
print(ls.getsockname()[1]); sys.stdout.flush()
while True:
    c, _ = ls.accept(); c.close()
" >"$T/closer.port" 2>/dev/null </dev/null 3>&- &
    SERVER_PIDS+=("$!")
    local i
    for ((i = 0; i < 250; i++)); do [ -s "$T/closer.port" ] && break; sleep 0.02; done
    CLOSER_PORT="$(head -1 "$T/closer.port")"
}

@test "sendmmsg whose second message meets a dead peer: the same SIGPIPE as bare" {
    start_closer
    run_bare "$HOSTCASES" sendmmsg-sigpipe "$CLOSER_PORT"
    run_shim "$HOSTCASES" sendmmsg-sigpipe "$CLOSER_PORT"
    assert_same_as_bare
    assert_equal "sendmmsg returned 1 (ok), SIGPIPE seen 1 time(s)" "$shim_output"
}

@test "a write into a closed connection: the SIGPIPE carries the kernel's siginfo (SI_USER from this process), as bare" {
    start_closer
    run_bare "$HOSTCASES" write-sigpipe "$CLOSER_PORT"
    run_shim "$HOSTCASES" write-sigpipe "$CLOSER_PORT"
    assert_same_as_bare
    assert_equal "write returned -1 (Broken pipe), SIGPIPE si_code 0, from this process 1, our uid 1" "$shim_output"
}

# ---- replay only of exactly one complete request ----------------------------------------

@test "pipelined GET + POST in one write: the POST reaches the server once, the app sees the reset" {
    RSTWATCH_RETRY=idempotent same_case pipeline-one-write --delay-ms 50
    assert_equal "response: ConnectionResetError errno=104" "$shim_output"
    [[ "$shim_log" != *POST*POST* ]]
    assert_true "the refusal names the pipelining" \
        'map(select(.type == "retry"))[0].reason | test("pipelined")'
}

@test "pipelined GET + POST in two writes: nothing is replayed" {
    RSTWATCH_RETRY=idempotent same_case pipeline-two-writes --delay-ms 50
    assert_true "refused as pipelined" 'map(select(.type == "retry")) | all(.outcome == "refused")'
}

@test "writev of two GETs: the app never gets /b's response as /a's" {
    RSTWATCH_RETRY=idempotent same_case writev-two-gets --delay-ms 50
    [[ "$shim_output" != *"b'/b'"* ]]
}

@test "a POST whose body looks like a GET is never replayed as that GET" {
    RSTWATCH_RETRY=idempotent same_case post-body-like-get --delay-ms 20
    [[ "$shim_log" != *"GET /y"* ]]
    assert_true "refused: not idempotent" \
        'map(select(.type == "retry"))[0].reason | test("not idempotent")'
}

@test "a PUT sent by writev (headers + body, as node's fetch does) is replayed whole" {
    start_peer shim --delay-ms 20
    RSTWATCH_RETRY=idempotent run_shim "$PYTHON" "$CASES" writev-put "$PEER_PORT"
    assert_equal "response: b'/item'" "$shim_output"
    sleep 0.1
    assert_equal "1 PUT /item 100
2 PUT /item 100" "$(peer_log shim)"
    assert_true "one replay record, ok" \
        'map(select(.type == "retry")) | length == 1 and .[0].action == "replay" and .[0].outcome == "ok"'
}

@test "GET by write then POST by sendfile: the stale GET is not replayed for the POST" {
    RSTWATCH_RETRY=idempotent same_case sendfile-post-after-get --answer 1 --delay-ms 20
    assert_equal "response /a: b'/a'
response /pay: ConnectionResetError errno=104" "$shim_output"
}

@test "a PUT whose body went by sendfile: its headers are not replayed alone" {
    RSTWATCH_RETRY=idempotent same_case sendfile-body --delay-ms 20
    assert_equal "response: ConnectionResetError errno=104" "$shim_output"
    assert_true "refused: not fully buffered" \
        'map(select(.type == "retry"))[0].reason | test("not fully buffered")'
}

@test "a write after a reset, with response bytes still unread: no replay, the app reads them as bare" {
    RSTWATCH_RETRY=idempotent same_case unread-response-then-write --answer 1 --rst-after-answer \
        --body-bytes 2000 --delay-ms 50
    [[ "$shim_output" == *"write: ConnectionResetError"* ]]
}

# ---- the fd table is a hint ------------------------------------------------------------

@test "a socket closed by syscall(SYS_close), its number reused by a pipe: the pipe reads EOF, no HTTP bytes" {
    RSTWATCH_RETRY=idempotent same_case syscall-close-pipe --answer 1 --delay-ms 20
    [[ "$shim_output" == *"pipe read: b''"* ]]
    assert_equal 0 "$(record_count)" "records about a pipe"
}

@test "a socket closed by fclose() of its fdopen() FILE, its number reused by a pipe: untouched pipe" {
    RSTWATCH_RETRY=idempotent same_case fclose-pipe --answer 1 --delay-ms 20
    [[ "$shim_output" == *"pipe reused the number: True"* ]]
    [[ "$shim_output" == *"pipe read: b''"* ]]
}

@test "a shutdown on a socketpair that took the number of an unseen-closed dup does not mute the connection's failure record" {
    same_case unseen-dup-close-shutdown --answer 1 --fin-after-answer --delay-ms 20
    [[ "$shim_output" == *"pair reused the number: True"* ]]
    [[ "$shim_output" == *"request /c: BrokenPipeError errno=32"* ]] || { echo "$shim_output" >&2; false; }
    assert_equal 1 "$(records | jq -s --arg p "127.0.0.1:$PEER_PORT" \
        'map(select(.peer == $p and .errno == "EPIPE")) | length')" \
        "records of the HTTP connection's EPIPE"
    assert_equal '"early_close"' "$(records | jq -c .cause.code)" "cause (the peer closed the keep-alive connection 20 ms into its idle, the program reused it)"
}

@test "retry on: a socketpair that took the number of an unseen-closed dup is made non-blocking; the replay's socket stays blocking" {
    start_peer shim --answer 1 --delay-ms 20 --delay-all
    RSTWATCH_RETRY=idempotent run_shim "$PYTHON" "$CASES" unseen-dup-close-setfl "$PEER_PORT"
    assert_equal 0 "$shim_status" "exit status (stderr: $shim_stderr)"
    assert_equal "response /a: b'/a'
pair reused the number: True
response /b: b'/b'
response /c: b'/c'" "$shim_output"
}

@test "a read of zero bytes on a keep-alive connection is no EOF: no replay, no record" {
    RSTWATCH_RETRY=idempotent RSTWATCH_RECORD=errors same_case zero-length-read --answer 3
    assert_equal "read of 0 bytes: b''
response /a: b'/a'
read of 0 bytes: b''
response /b: b'/b'
read of 0 bytes: b''
response /c: b'/c'" "$shim_output"
    assert_equal "1 GET /a 0
1 GET /b 0
1 GET /c 0" "$shim_log" "requests the server received"
    assert_record_count 0
}

@test "a read of zero bytes after the peer's RST leaves the reset for the next read, as bare" {
    start_server rst-after-request
    run_bare "$PYTHON" "$CASES" zero-length-read-after-reset "$PORT"
    run_shim "$PYTHON" "$CASES" zero-length-read-after-reset "$PORT"
    assert_same_as_bare
    assert_equal "read of 0 bytes: b''
then recv: ConnectionResetError errno=104
readv of 0 bytes: 0
then recv: ConnectionResetError errno=104
recvmsg of 0 bytes: ConnectionResetError errno=104
then recv: b''" "$shim_output" # recvmsg asks the protocol even for zero bytes
    assert_equal 3 "$(count_type reset)" "reset records, one per connection"
    assert_true "each names the call that met the reset" \
        'map(.op) == ["recv", "recv", "recvmsg"] and all(.errno == "ECONNRESET")'
}

# ---- sockets the shim did not create ----------------------------------------------------

# service_port: a free loopback port below the kernel's ephemeral range (a
# service's port, as a server's usually is); the range's upper ports are
# what connecting clients get.
service_port() {
    "$PYTHON" -c '
import random, socket
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
for _ in range(200):
    p = random.randrange(max(1024, lo - 8000), lo)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        s.close()'
}

@test "an inherited connection used only by read/write (sshd's re-exec): its reset is recorded, role client" {
    start_server rst-after-request --port "$(service_port)"
    run_bare "$PYTHON" "$CASES" inherited-client "$PORT"
    run_shim "$PYTHON" "$CASES" inherited-client "$PORT"
    assert_same_as_bare
    [[ "$shim_stderr" == *"read: ConnectionResetError errno=104" ]] || { echo "$shim_stderr" >&2; false; }
    assert_record_count 1
    # the peer's address is gone from a reset socket: getpeername fails
    assert_jq '.type == "reset" and .op == "read" and .errno == "ECONNRESET" and .fd == 0 and .role == "client"'
}

@test "an inherited accepted connection (inetd): its client's reset is recorded, role server" {
    local port
    # each run on its own port: the client keeps its copy of the listener a while
    run_bare "$PYTHON" "$CASES" inherited-server "$(service_port)"
    port="$(service_port)"
    run_shim "$PYTHON" "$CASES" inherited-server "$port"
    assert_same_as_bare
    [[ "$shim_stderr" == *"read: ConnectionResetError errno=104" ]] || { echo "$shim_stderr" >&2; false; }
    assert_record_count 1
    assert_jq '.type == "reset" and .op == "read" and .role == "server" and .local == $l' --arg l "127.0.0.1:$port"
}

@test "a socket received by SCM_RIGHTS whose first call is a sendfile into the peer's reset: recorded" {
    start_server rst-after-request --port "$(service_port)"
    run_bare "$PYTHON" "$CASES" scm-rights-sendfile "$PORT"
    run_shim "$PYTHON" "$CASES" scm-rights-sendfile "$PORT"
    assert_same_as_bare
    [[ "$shim_output" =~ ^sendfile:\ (ConnectionResetError\ errno=104|BrokenPipeError\ errno=32)$ ]] || { echo "$shim_output" >&2; false; }
    assert_record_count 1
    assert_jq '.type == "reset" and .op == "sendfile" and .role == "client"'
}

@test "a connection accepted by one process and passed by SCM_RIGHTS to its child (vsftpd's data socket): the child's reset record has the sender's role and peer; the sender's close is not its end" {
    run_bare "$PYTHON" "$CASES" scm-rights-accepted 0
    run_shim "$PYTHON" "$CASES" scm-rights-accepted 0
    assert_equal "$bare_status" "$shim_status" "exit status"
    assert_equal "$(grep -v '^local ' <<<"$bare_output")" "$(grep -v '^local ' <<<"$shim_output")" "output but the client's port"
    [[ "$shim_output" =~ sendfile:\ (ConnectionResetError\ errno=104|BrokenPipeError\ errno=32) ]] || { echo "$shim_output" >&2; false; }
    local peer
    peer="$(sed -n 's/^local //p' <<<"$shim_output")"
    assert_record_count 1
    assert_jq '.type == "reset" and .op == "sendfile" and .role == "server" and .peer == $p and .pid != $s' \
        --arg p "$peer" --argjson s "$shim_pid"
    # with every close recorded: the sender's close of the copy it passed is left to the child
    rm -rf "$LOG_DIR"
    RSTWATCH_RECORD=all run_shim "$PYTHON" "$CASES" scm-rights-accepted 0
    peer="$(sed -n 's/^local //p' <<<"$shim_output")"
    assert_true "one record of the data connection, the child's" \
        '[.[] | select(.peer == $p)] | length == 1 and .[0].type == "reset" and .[0].pid != $s' \
        --arg p "$peer" --argjson s "$shim_pid"
}

@test "a socketpair torn down by the program itself (an end closed with data unread): no reset record by default; with RECORD=errors one, role unknown" {
    run_bare "$PYTHON" "$CASES" socketpair-teardown 0
    run_shim "$PYTHON" "$CASES" socketpair-teardown 0
    assert_same_as_bare
    assert_equal "recv: ConnectionResetError errno=104
send: BrokenPipeError errno=32" "$shim_output"
    assert_record_count 0
    RSTWATCH_RECORD=errors run_shim "$PYTHON" "$CASES" socketpair-teardown 0
    assert_same_as_bare
    assert_record_count 1
    assert_jq '.type == "reset" and .family == "unix" and .role == "unknown" and .op == "recv"'
}

# ---- a socket shared across fork -------------------------------------------------------

@test "RECORD=all, a fork-per-connection server: one close record per connection, from the child that served it, not the parent's close of its copy" {
    run_bare "$PYTHON" "$CASES" forking-server 3
    RSTWATCH_RECORD=all run_shim "$PYTHON" "$CASES" forking-server 3
    assert_same_as_bare
    assert_equal "tcp ['pong', 'pong', 'pong']
unix ['pong', 'pong', 'pong']" "$shim_output"
    assert_true "six close records, all from the children, each with the bytes it moved" \
        'map(select(.type == "close")) | length == 6 and all(.pid != $p and .role == "server" and .bytes_in == 4 and .bytes_out == 4)' \
        --argjson p "$shim_pid"
    assert_true "one per connection" 'map(select(.type == "close") | [.pid, .conn]) | unique | length == 6'
}

@test "RECORD=all, a fork-per-connection server whose parent closes its copy after the child served and closed the connection: still one close record per connection, the child's" {
    run_bare "$PYTHON" "$CASES" forking-server 3:child-first
    RSTWATCH_RECORD=all run_shim "$PYTHON" "$CASES" forking-server 3:child-first
    assert_same_as_bare
    assert_true "six close records, all from the children, each with the bytes it moved" \
        'map(select(.type == "close")) | length == 6 and all(.pid != $p and .role == "server" and .bytes_in == 4 and .bytes_out == 4)' \
        --argjson p "$shim_pid"
}

@test "RECORD=all, a forking server whose children answer through stdio and end with _exit, the connection still open (exim): one close record each, with the bytes" {
    run_bare "$PYTHON" "$CASES" forking-server 3:exit-stdio
    RSTWATCH_RECORD=all run_shim "$PYTHON" "$CASES" forking-server 3:exit-stdio
    assert_same_as_bare
    assert_equal "tcp ['pong', 'pong', 'pong']" "$shim_output"
    assert_true "three close records, all from the children, each with the bytes it moved" \
        'map(select(.type == "close")) | length == 3 and all(.pid != $p and .role == "server" and .bytes_in == 4 and .bytes_out == 4)' \
        --argjson p "$shim_pid"
    assert_true "one per connection" 'map(select(.type == "close") | [.pid, .conn]) | unique | length == 3'
}

# ---- the shim's own fd in the program's fd space --------------------------------------

@test "a daemon closes every fd (closerange) and reuses the numbers: the shim's log fd is not closed or written in its place, in the program or a fork child" {
    start_server rst-after-request
    run_bare "$PYTHON" "$CASES" closefrom-reuse "$PORT"
    run_shim "$PYTHON" "$CASES" closefrom-reuse "$PORT"
    assert_same_as_bare
    refute_contains "$shim_output" "errno=9" # EBADF: a file of the program's closed by the shim
    [[ "$shim_output" == *"write f3: 4"* ]] || { echo "$shim_output" >&2; false; }
    # both resets recorded, the second after the log fd was lost and reopened
    assert_equal 2 "$(records | jq -s 'map(select(.type == "reset")) | length')" "reset records"
}

@test "the same with records going to syslog: the next record does not travel down the program's TCP connection that took the number" {
    start_server echo
    local echo_port="$PORT"
    start_server rst-after-request
    "$PYTHON" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
open(sys.argv[1] + ".ready", "w").close()
with open(sys.argv[2], "ab") as out:
    while True:
        out.write(s.recv(65536) + b"\n")
        out.flush()' "$T/log.sock" "$T/syslog.out" </dev/null >/dev/null 2>&1 3>&- &
    SERVER_PIDS+=("$!")
    local i
    for ((i = 0; i < 250; i++)); do [ -e "$T/log.sock.ready" ] && break; sleep 0.02; done
    run_bare "$PYTHON" "$CASES" closefrom-reuse-socket "$PORT,$echo_port"
    RSTWATCH_LOG="syslog:$T/log.sock" run_shim "$PYTHON" "$CASES" closefrom-reuse-socket "$PORT,$echo_port"
    assert_same_as_bare
    assert_equal "reset: ConnectionResetError errno=104
reset: ConnectionResetError errno=104
echo 0: b'hello\n'
echo 1: b'hello\n'
echo 2: b'hello\n'" "$shim_output"
    sleep 0.2
    assert_equal 2 "$(grep -c '"type":"reset"' "$T/syslog.out")" "records received by the syslog socket"
}

# ---- close while another thread is blocked -----------------------------------------------

@test "close while another thread is blocked in recv: the old reset is not written into the new connection" {
    start_peer one --delay-ms 300
    local p1="$PEER_PORT"
    start_peer two --answer 100 --delay-ms 700 --delay-all
    run_shim "$HOSTCASES" blocked-close "$p1" "$PEER_PORT"
    assert_equal 0 "$shim_status" "stderr: $shim_stderr"
    [[ "$shim_output" == *"main: new connection reuses the closed fd number"* ]]
    [[ "$shim_output" == *"thread A: recv -1 Connection reset by peer"* ]]
    [[ "$shim_output" == *"main: recv "*" 200 OK"* ]]
    assert_equal 0 "$(records | jq -s --arg p "127.0.0.1:$PEER_PORT" 'map(select(.peer == $p)) | length')" \
        "records naming the healthy new connection's peer"
}

@test "close while another thread is blocked in recv, retry on: the new connection's request is not replayed" {
    start_peer one --delay-ms 300
    local p1="$PEER_PORT"
    start_peer two --answer 100 --delay-ms 700 --delay-all
    RSTWATCH_RETRY=idempotent run_shim "$HOSTCASES" blocked-close "$p1" "$PEER_PORT"
    assert_equal 0 "$shim_status" "stderr: $shim_stderr"
    [[ "$shim_output" == *"main: recv "*" 200 OK"* ]]
    sleep 0.2
    assert_equal "1 GET /second 0" "$(peer_log two)"
}

# ---- a replay inside a non-blocking call is bounded ---------------------------------------

@test "a replay inside a non-blocking recv gives up within its bound when the new connection stalls" {
    start_peer shim --delay-ms 20 --stall-later
    RSTWATCH_RETRY=idempotent RSTWATCH_REPLAY_MAX=2000000 \
        run_shim "$PYTHON" "$CASES" nonblocking-replay-stall "$PEER_PORT"
    assert_equal "response: ConnectionResetError errno=104
non-blocking recv returned within 1.5 s: True" "$shim_output"
    assert_true "the replay failed on its time bound" \
        'map(select(.type == "retry"))[0] | .outcome == "failed" and (.reason | test("time bound"))'
}

@test "node closes sockets with a raw system call: RSTWATCH_RECORD=all still gives one close record per connection" {
    command -v node >/dev/null || skip "node not installed"
    start_server http
    RSTWATCH_RECORD=all run_shim node -e "
        const http = require('http'); let n = 0;
        function go() { http.get({host: '127.0.0.1', port: $PORT, agent: false},
            r => { r.resume(); r.on('end', () => { if (++n < 3) go(); else console.log('done'); }); }); }
        go();"
    assert_equal 0 "$shim_status" "stderr: $shim_stderr"
    assert_equal done "$shim_output"
    assert_equal 3 "$(count_type close)" "close records"
    assert_true "three different connections, each with its response" \
        'map(.conn) | unique | length == 3'
}

@test "close records name both addresses, on the client and on the accepting server" {
    RSTWATCH_RECORD=all run_shim "$PYTHON" -c "
import socket, threading
ls = socket.socket(); ls.bind(('127.0.0.1', 0)); ls.listen(1)
port = ls.getsockname()[1]
def serve():
    c, _ = ls.accept(); c.recv(100); c.sendall(b'x'); c.close()
t = threading.Thread(target=serve); t.start()
s = socket.create_connection(('127.0.0.1', port)); s.sendall(b'hi'); s.recv(10); s.close(); t.join()
print(port)"
    assert_equal 0 "$shim_status" "stderr: $shim_stderr"
    local port="$shim_output"
    assert_equal 2 "$(count_type close)" "close records"
    assert_true "the server's local is its service address, the client's peer is the same" \
        'map(select(.role == "server"))[0].local == $svc and map(select(.role == "client"))[0].peer == $svc and all(.local != "unknown")' \
        --arg svc "127.0.0.1:$port"
}

@test "an accepted connection's local address: a listener's own (one address), the address the client used (0.0.0.0, ::), the right listener's after its number was reused or dup2'd over" {
    # The shim learns a listener's address once and gives it to every
    # connection the listener accepts, unless it is a wildcard; the kernel's
    # getsockname of each accepted socket is the truth to match.
    run_shim "$PYTHON" "$RSTWATCH_ROOT/tests/host/listeners.py"
    assert_equal 0 "$shim_status" "stderr: $shim_stderr"
    [[ "$shim_output" == *"the new listener took the old one's number: True"* ]] || { echo "$shim_output" >&2; false; }
    local line peer local_addr n=0
    while read -r line; do
        [[ "$line" == peer=* ]] || continue
        [[ "$line" == *" recv=ConnectionResetError" ]] || { echo "$line" >&2; false; }
        peer="${line#peer=}" peer="${peer%% *}"
        local_addr="${line#* local=}" local_addr="${local_addr%% *}"
        assert_equal "$local_addr" "$(jq_records 'map(select(.peer == $p and .role == "server"))[0].local' --arg p "$peer")" "local address of the record about $peer"
        n=$((n + 1))
    done <<<"$shim_output"
    assert_equal 5 "$n" "connections reset"
    assert_equal 5 "$(count_type reset)" "reset records"
}

@test "accept() with an invalid address-length pointer: EFAULT as bare, not a crash; a valid one on the heap still gives the record its peer" {
    # the kernel reads *len: (socklen_t *)1 is its EFAULT, and the shim
    # must not read it first
    [ -z "${SAN_RUNTIME:-}" ] || skip "libasan's own accept() interceptor reads *len first and crashes (not the shim)"
    local script='
import ctypes, errno, os, socket, struct
libc = ctypes.CDLL(None, use_errno=True)
for f in (libc.accept, libc.accept4):
    f.restype = ctypes.c_int
libc.accept.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
libc.accept4.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(8)
clients = [socket.create_connection(ls.getsockname()) for _ in range(3)]
buf = ctypes.create_string_buffer(128)
def show(what, r):
    print(what, r if r < 0 else "fd", errno.errorcode.get(ctypes.get_errno(), 0) if r < 0 else "", flush=True)
ctypes.set_errno(0)
show("accept, len=1:", libc.accept(ls.fileno(), buf, 1))
ctypes.set_errno(0)
show("accept4, len=1:", libc.accept4(ls.fileno(), buf, 1, 0))
n = ctypes.c_uint32(128)  # on the heap, not on the C stack
fd = libc.accept(ls.fileno(), buf, ctypes.byref(n))
show("accept, len on the heap:", fd)
print("len after:", n.value)
c = clients[2]
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close()
try:
    os.read(fd, 10)
except OSError as e:
    print("read:", errno.errorcode[e.errno])
'
    run_bare "$PYTHON" -c "$script"
    run_shim "$PYTHON" -c "$script"
    assert_same_as_bare
    assert_equal "accept, len=1: -1 EFAULT
accept4, len=1: -1 EFAULT
accept, len on the heap: fd 
len after: 16
read: ECONNRESET" "$shim_output"
    assert_true "the reset record names a peer on 127.0.0.1" \
        'map(select(.type == "reset" and .role == "server")) | length == 1 and (.[0].peer | startswith("127.0.0.1:"))'
}

# ---- the host's resource limits ------------------------------------------------------

@test "a file size limit of 0 (a sandboxed child's RLIMIT_FSIZE): the record's write does not kill the host with SIGXFSZ" {
    command -v prlimit >/dev/null || skip "prlimit is not installed (package util-linux)"
    need_preloadable curl
    start_server rst-after-request
    # curl's own output goes to a pipe, which the limit does not cover; the
    # shim's log is a file, which it does.
    local script='prlimit --fsize=0 -- "$@" 2>&1 | cat; exit "${PIPESTATUS[0]}"'
    run_bare bash -c "$script" _ curl -sS "http://127.0.0.1:$PORT/"
    run_shim bash -c "$script" _ curl -sS "http://127.0.0.1:$PORT/"
    assert_equal 56 "$bare_status" "curl's exit status bare"
    assert_equal "$bare_status" "$shim_status" "curl's exit status under the shim (153 is SIGXFSZ)"
    [[ "$shim_output" == *"Recv failure"* ]] || { echo "$shim_output" >&2; false; }
    # the record the file could not take went to stderr (a pipe) instead
    [[ "$shim_output" == *'"type":"reset"'* ]] || { echo "$shim_output" >&2; false; }
}
