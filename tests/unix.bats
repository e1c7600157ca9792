#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# unix.bats: AF_UNIX sockets on both sides. The shim watches unix stream
# connections like TCP ones, so everything a program sees on them must be
# exactly what it sees bare: the address lengths and bytes accept(),
# accept4(), getpeername(), getsockname(), recvfrom() and recvmsg() return
# for every shape of address buffer (NULL, short, exact, large), for stream,
# seqpacket and datagram sockets on path, abstract and unnamed addresses; and
# real servers listening on unix sockets (redis, nginx, PostgreSQL, memcached,
# python asyncio, a Java 17 NIO server) answer their real clients the same,
# and survive. Servers are private instances in the test's own directory.

load lib

setup() {
    rstwatch_setup
    need_shim
    UNIXADDR="$BUILD_DIR/helpers/unixaddr"
    # sun_path holds 108 bytes: keep socket paths short, whatever $T is
    S="$(mktemp -d /tmp/rstwatch-unix.XXXXXX)"
    chmod 755 "$S"
}

teardown() {
    rstwatch_teardown
    rm -rf "$S"
}

# wait_for_socket PATH: until PATH is a socket that accepts a connection (10 s).
wait_for_socket() {
    local i
    for ((i = 0; i < 500; i++)); do
        if [ -S "$1" ] && python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(1); s.connect(sys.argv[1])' "$1" 2>/dev/null; then
            return 0
        fi
        sleep 0.02
    done
    echo "nothing accepts on $1 after 10 s" >&2
    return 1
}

# assert_alive PID NAME: the server process is still running.
assert_alive() {
    if ! kill -0 "$1" 2>/dev/null; then
        echo "$2 (pid $1) died under the shim; its stderr:" >&2
        cat "$T/$2.err" >&2 2>/dev/null || true
        return 1
    fi
}

# assert_no_warnings NAME: the shim printed nothing into NAME's stderr.
assert_no_warnings() {
    if grep -q '^rstwatch:' "$T/$1.err"; then
        cat "$T/$1.err" >&2
        return 1
    fi
}

# unixaddr_diff MODE_SETTINGS...: the helper's transcript under the shim with
# the given RSTWATCH_* settings equals the bare one, line for line.
unixaddr_diff() {
    run_bare "$UNIXADDR" "$S" u
    [ "$bare_status" = 0 ] || {
        echo "unixaddr failed bare: $bare_stderr" >&2
        return 1
    }
    # the helper itself is sound: it ran to the end, and bare never writes past a buffer
    assert_equal done "$(printf '%s\n' "$bare_output" | tail -n 1)" "last line bare"
    if printf '%s\n' "$bare_output" | grep -q OVERWRITTEN; then return 1; fi
    run_shim env "$@" "$UNIXADDR" "$S" u
    if [ "$shim_status" != 0 ]; then
        echo "unixaddr under the shim ($*) exited with status $shim_status; last lines:" >&2
        printf '%s\n' "$shim_output" | tail -n 3 >&2
        printf '%s\n' "$shim_stderr" >&2
    fi
    assert_same_as_bare
}

@test "unix address buffers: accept/accept4/getpeername/getsockname/recvfrom/recvmsg return the same lengths and bytes under the shim (defaults)" {
    unixaddr_diff RSTWATCH_RECORD=resets
    # what the transcript pins down, read from the bare run: a short buffer is
    # truncated and the full length reported; an unnamed peer has only a family
    # ("$S/u.cli" and its NUL after the 2-byte family; "/tm" is 2f746d)
    local cli_len=$((2 + ${#S} + 6 + 1))
    printf '%s\n' "$bare_output" | grep -qx "stream path<-path accept short: ret=0 len=$cli_len addr=01002f746d tail=intact"
    printf '%s\n' "$bare_output" | grep -qx 'stream socketpair end0 getpeername exact: ret=0 len=2 addr=0100 tail=intact'
    printf '%s\n' "$bare_output" | grep -qx 'seqpacket abstract<-abstract accept null: ret=0'
    printf '%s\n' "$bare_output" | grep -qx 'seqpacket abstract<-abstract accept null data: server got 4+4 bytes "pingPING"'
    printf '%s\n' "$bare_output" | grep -qx 'stream path server closed with data unread: client recv=-1 ECONNRESET'
    # the two unix stream resets, each recorded once on the client, naming the listener
    assert_record_count 2
    assert_equal "unix:$S/u.rst unix:@u.rst" \
        "$(jq_records '[.[] | select(.type == "reset" and .family == "unix" and .role == "client" and .op == "recv" and .errno == "ECONNRESET") | .peer] | sort | join(" ")')" \
        "peers of the reset records"
}

@test "unix address buffers: the same under the shim with RSTWATCH_RECORD=all, and every unix stream connection gives one close record naming the listener" {
    unixaddr_diff RSTWATCH_RECORD=all
    # 2 address kinds x 2 client kinds x 2 accept calls x 7 buffers, both ends;
    # and the two stream resets, each with its server end
    assert_record_count 116
    assert_equal 2 "$(jq_records '[.[] | select(.type == "reset" and .family == "unix")] | length')" "reset records"
    assert_equal 114 "$(jq_records '[.[] | select(.type == "close" and .family == "unix")] | length')" "close records"
    # each side names the listener: the server as its local address, the client as its peer
    assert_equal 28 "$(jq_records '[.[] | select(.role == "server" and .local == $a)] | length' --arg a "unix:$S/u.srv")" "server records on the path listener"
    assert_equal 28 "$(jq_records '[.[] | select(.role == "server" and .local == "unix:@u.srv")] | length')" "server records on the abstract listener"
    assert_equal 28 "$(jq_records '[.[] | select(.role == "client" and .peer == $a)] | length' --arg a "unix:$S/u.srv")" "client records to the path listener"
    assert_equal 28 "$(jq_records '[.[] | select(.role == "client" and .peer == "unix:@u.srv")] | length')" "client records to the abstract listener"
}

@test "unix address buffers: the same under the shim with RSTWATCH_RETRY=idempotent and RSTWATCH_RECORD=all" {
    unixaddr_diff RSTWATCH_RETRY=idempotent RSTWATCH_RECORD=all
}

@test "valgrind: the shim inside a unix-socket program (every address buffer shape, exact-size heap buffers) makes no invalid access" {
    [ -z "${SAN_RUNTIME:-}" ] || skip "valgrind does not run with the ASan runtime"
    command -v valgrind >/dev/null || skip "valgrind is not installed"
    # --trace-children: valgrind must follow env into the program
    run_bare valgrind -q --error-exitcode=99 --trace-children=yes \
        env LD_PRELOAD="$SHIM" RSTWATCH_LOG="$LOG_DIR/%p.jsonl" RSTWATCH_RECORD=all \
        "$UNIXADDR" --tight "$S" v
    if [ "$status" != 0 ]; then
        printf '%s\n' "$stderr" | head -60 >&2
        return 1
    fi
    assert_equal done "$(printf '%s\n' "$output" | tail -n 1)" "last line"
}

# ---- python --------------------------------------------------------------------------------

@test "python socket.accept() on a unix listener returns the same (connection, address) pairs under the shim" {
    local script='
import os, socket, sys
path = sys.argv[1]
lsock = socket.socket(socket.AF_UNIX)
lsock.bind(path)
lsock.listen()
for bind_client in (False, True):
    c = socket.socket(socket.AF_UNIX)
    if bind_client:
        if os.path.exists(path + ".c"): os.unlink(path + ".c")
        c.bind(path + ".c")
    c.connect(path)
    conn, addr = lsock.accept()
    c.sendall(b"hello")
    print("accepted", repr(addr).replace(os.path.dirname(path), "DIR"), conn.recv(10))
    print("peer", repr(conn.getpeername()).replace(os.path.dirname(path), "DIR"))
    conn.sendall(b"bye")
    print("client got", c.recv(10))
    c.close()
    print("after close", conn.recv(10))
    conn.close()
a, b = socket.socketpair()
a.sendall(b"x")
print("socketpair", b.recv(1), repr(b.getpeername()))
os.unlink(path)
'
    run_bare python3 -c "$script" "$S/py"
    assert_equal 0 "$bare_status" "bare exit status"
    run_shim python3 -c "$script" "$S/py"
    assert_same_as_bare
}

@test "python asyncio start_unix_server and open_unix_connection: same replies, server and clients under the shim" {
    local script='
import asyncio, sys

async def handle(reader, writer):
    while line := await reader.readline():
        writer.write(b"echo " + line)
        await writer.drain()
    writer.close()
    await writer.wait_closed()

async def client(path, n):
    reader, writer = await asyncio.open_unix_connection(path)
    out = []
    for i in range(3):
        writer.write(f"client {n} line {i}\n".encode())
        await writer.drain()
        out.append((await reader.readline()).decode().strip())
    writer.write_eof()
    out.append(repr(await reader.read()))
    writer.close()
    await writer.wait_closed()
    return out

async def main(path):
    server = await asyncio.start_unix_server(handle, path)
    async with server:
        for lines in await asyncio.gather(*(client(path, n) for n in range(5))):
            print("\n".join(lines))
    print("server closed")

asyncio.run(main(sys.argv[1]))
'
    run_bare python3 -c "$script" "$S/aio"
    assert_equal 0 "$bare_status" "bare exit status"
    assert_equal 21 "$(printf '%s\n' "$bare_output" | grep -c .)" "lines bare"
    rm -f "$S/aio"
    RSTWATCH_RECORD=all run_shim python3 -c "$script" "$S/aio"
    assert_same_as_bare
    # 5 client and 5 server connections, each recorded once at close
    assert_record_count 10
}

# ---- redis --------------------------------------------------------------------------------

# redis_unix_session PRELOAD: a fixed redis-cli -s session; prints its replies.
redis_unix_session() {
    local pre=()
    [ -z "$1" ] || pre=(env LD_PRELOAD="$1")
    printf '%s\n' "PING" "FLUSHALL" "SET k v1" "GET k" "INCRBY n 41" "INCR n" "RPUSH l a b c" \
        "LRANGE l 0 -1" "DEL k" "EXISTS k" "DBSIZE" |
        timeout 20 "${pre[@]}" redis-cli -s "$S/redis.sock" 3>&-
    timeout 20 "${pre[@]}" redis-cli -s "$S/redis.sock" ping 3>&-
}

# redis_unix_start PRELOAD: redis-server on a unix socket only (no TCP port).
redis_unix_start() {
    mkdir -p "$T/redis"
    start_bg "$1" redis redis-server --port 0 --unixsocket "$S/redis.sock" --unixsocketperm 700 \
        --save '' --appendonly no --dir "$T/redis" --daemonize no --logfile "$T/redis/redis.log"
    REDIS_PID=$LAST_BG_PID
    wait_for_socket "$S/redis.sock"
}

@test "redis-server on a unix socket under the shim: redis-cli -s gets the same replies, the server survives" {
    command -v redis-server >/dev/null || skip "redis-server is not installed"
    command -v redis-cli >/dev/null || skip "redis-tools is not installed"
    redis_unix_start ""
    local bare_replies shim_replies
    bare_replies="$(redis_unix_session "")"
    stop_servers
    assert_equal PONG "$(printf '%s\n' "$bare_replies" | head -n 1)" "first reply bare"
    redis_unix_start "$SHIM_PRELOAD"
    shim_replies="$(redis_unix_session "$SHIM_PRELOAD")"
    assert_alive "$REDIS_PID" redis
    assert_equal "$bare_replies" "$shim_replies" "redis-cli replies"
    stop_servers
    assert_no_warnings redis
}

# ---- nginx --------------------------------------------------------------------------------

# nginx_unix_start PRELOAD: nginx (master + 2 workers) listening on unix:$S/ngx.sock only.
nginx_unix_start() {
    local www="$T/nginx/www"
    mkdir -p "$www"
    printf 'static file\n' >"$www/index.html"
    start_nginx nginx "$1" "master_process on;
worker_processes 2;
user root;" <<EOF
    server {
        listen unix:$S/ngx.sock;
        root $www;
        location = /hello { default_type text/plain; return 200 "hello \$request_method\n"; }
    }
EOF
    NGINX_PID=$NGX_PID
    wait_for_socket "$S/ngx.sock"
}

# nginx_unix_session PRELOAD: a few curl requests over the unix socket. In
# sanitized runs curl runs bare (Debian's curl cannot start with libasan
# preloaded; see need_preloadable): the server side is still under test.
nginx_unix_session() {
    local pre=()
    [ -z "$1" ] || [ -n "${SAN_RUNTIME:-}" ] || pre=(env LD_PRELOAD="$1")
    local u=(--unix-socket "$S/ngx.sock" -sS --max-time 10)
    timeout 30 "${pre[@]}" curl "${u[@]}" http://localhost/hello http://localhost/index.html 3>&-
    timeout 30 "${pre[@]}" curl "${u[@]}" -X PUT -d data http://localhost/hello 3>&-
    timeout 30 "${pre[@]}" curl "${u[@]}" -o /dev/null -w '%{http_code}\n' http://localhost/missing 3>&-
}

@test "nginx listening on unix:/path under the shim: curl --unix-socket gets the same responses, nginx survives" {
    [ -x /usr/sbin/nginx ] || skip "nginx is not installed"
    nginx_unix_start ""
    local bare_out shim_out
    bare_out="$(nginx_unix_session "")"
    stop_servers
    assert_equal "hello GET" "$(printf '%s\n' "$bare_out" | head -n 1)" "first response bare"
    rm -f "$S/ngx.sock"
    nginx_unix_start "$SHIM_PRELOAD"
    shim_out="$(nginx_unix_session "$SHIM_PRELOAD")"
    assert_alive "$NGINX_PID" nginx
    assert_equal "$bare_out" "$shim_out" "curl output"
    stop_servers
    assert_no_warnings nginx
}

# ---- PostgreSQL ---------------------------------------------------------------------------

PG_BIN=""
pg_bin() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/postgres" ] && [ -x "$d/initdb" ] && PG_BIN="$d"
    done
    [ -n "$PG_BIN" ]
}

# pg_start PRELOAD: the postmaster as nobody (postgres refuses to run as
# root), its unix socket in $S only, no TCP; the shim (when PRELOAD is set)
# logs into $S, which nobody owns.
pg_start() {
    local cmd=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
    [ -z "$1" ] || cmd+=(env LD_PRELOAD="$1" RSTWATCH_LOG="$S/pglogs/%p.jsonl")
    start_bg "" postgres "${cmd[@]}" "$PG_BIN/postgres" -D "$S/pgdata" -k "$S" \
        -c listen_addresses= -c fsync=off -c logging_collector=off
    PG_PID=$LAST_BG_PID
    wait_for_socket "$S/.s.PGSQL.5432"
}

# pg_stop: a fast shutdown (SIGINT), waited for, so the postmaster removes
# its shared memory; stop_servers would escalate to SIGKILL after 2 s.
pg_stop() {
    local i
    kill -INT "$PG_PID" 2>/dev/null || return 0
    for ((i = 0; i < 500; i++)); do
        kill -0 "$PG_PID" 2>/dev/null || break
        sleep 0.02
    done
    stop_servers
}

# pg_session PRELOAD: several psql connections over the socket.
pg_session() {
    local pre=()
    [ -z "$1" ] || pre=(env LD_PRELOAD="$1")
    local q=(-h "$S" -U postgres -d postgres -At -X -v ON_ERROR_STOP=1)
    timeout 30 "${pre[@]}" psql "${q[@]}" -c 'select 1' 3>&-
    timeout 30 "${pre[@]}" psql "${q[@]}" -c 'create table t (k int primary key, v text)' \
        -c "insert into t values (1, 'one'), (2, 'two')" -c 'select * from t order by k' 3>&-
    timeout 30 "${pre[@]}" psql "${q[@]}" -c 'select count(*), sum(k) from t' -c 'drop table t' 3>&-
}

@test "PostgreSQL on a unix socket under the shim: psql -h DIR gets the same results, the postmaster survives" {
    pg_bin || skip "PostgreSQL server is not installed"
    command -v setpriv >/dev/null || skip "setpriv is not installed"
    need_preloadable "$PG_BIN/postgres"
    chown nobody:nogroup "$S"
    setpriv --reuid=nobody --regid=nogroup --clear-groups "$PG_BIN/initdb" -D "$S/pgdata" -U postgres --auth=trust -E UTF8 --no-locale \
        >"$T/initdb.log" 2>&1 || {
        cat "$T/initdb.log" >&2
        return 1
    }
    pg_start ""
    local bare_out shim_out
    bare_out="$(pg_session "")"
    pg_stop
    assert_equal 1 "$(printf '%s\n' "$bare_out" | head -n 1)" "select 1 bare"
    pg_start "$SHIM_PRELOAD"
    shim_out="$(pg_session "$SHIM_PRELOAD")"
    assert_alive "$PG_PID" postgres
    assert_equal "$bare_out" "$shim_out" "psql output"
    pg_stop
    assert_no_warnings postgres
}

# ---- memcached ----------------------------------------------------------------------------

# memcached_session PRELOAD: a fixed text-protocol session over the socket.
memcached_session() {
    local pre=()
    [ -z "$1" ] || pre=(env LD_PRELOAD="$1")
    printf 'set k 0 0 5\r\nhello\r\nget k\r\nincr n 1\r\nset n 0 0 1\r\n7\r\nincr n 35\r\ndelete k\r\nget k\r\nquit\r\n' |
        timeout 20 "${pre[@]}" nc -U -N "$S/mc.sock" 3>&-
    # stats: the same set of names, bare and under the shim
    printf 'stats\r\nquit\r\n' | timeout 20 "${pre[@]}" nc -U -N "$S/mc.sock" 3>&- |
        awk '{print $1, $2}'
}

memcached_start() {
    start_bg "$1" memcached memcached -s "$S/mc.sock" -a 0700 -u root -m 8 -c 64
    MC_PID=$LAST_BG_PID
    wait_for_socket "$S/mc.sock"
}

@test "memcached -s under the shim: the same replies over the unix socket, memcached survives" {
    command -v memcached >/dev/null || skip "memcached is not installed"
    nc -h 2>&1 | grep -q -- '-U' || skip "nc without -U (netcat-openbsd) is not installed"
    memcached_start ""
    local bare_out shim_out
    bare_out="$(memcached_session "")"
    stop_servers
    assert_equal STORED "$(printf '%s\n' "$bare_out" | head -n 1 | tr -d '\r')" "first reply bare"
    rm -f "$S/mc.sock"
    memcached_start "$SHIM_PRELOAD"
    shim_out="$(memcached_session "$SHIM_PRELOAD")"
    assert_alive "$MC_PID" memcached
    assert_equal "$bare_out" "$shim_out" "memcached replies"
    stop_servers
    assert_no_warnings memcached
}

# ---- Java ---------------------------------------------------------------------------------

JAVA_SRC='
import java.net.*;
import java.nio.ByteBuffer;
import java.nio.channels.*;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;

public class UnixEcho {
    public static void main(String[] args) throws Exception {
        Path path = Path.of(args[0]);
        Files.deleteIfExists(path);
        UnixDomainSocketAddress addr = UnixDomainSocketAddress.of(path);
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(addr);
            Thread t = new Thread(() -> {
                try {
                    for (int i = 0; i < 3; i++) {
                        try (SocketChannel c = server.accept()) {
                            ByteBuffer b = ByteBuffer.allocate(64);
                            c.read(b);
                            b.flip();
                            String got = StandardCharsets.UTF_8.decode(b).toString();
                            c.write(ByteBuffer.wrap(("echo " + got).getBytes(StandardCharsets.UTF_8)));
                            System.out.println("server: remote " + (c.getRemoteAddress() == null ? "null" : "unnamed"));
                        }
                    }
                } catch (Exception e) { e.printStackTrace(); System.exit(3); }
            });
            t.start();
            for (int i = 0; i < 3; i++) {
                try (SocketChannel c = SocketChannel.open(addr)) {
                    c.write(ByteBuffer.wrap(("msg " + i).getBytes(StandardCharsets.UTF_8)));
                    ByteBuffer b = ByteBuffer.allocate(64);
                    while (c.read(b) >= 0) { }
                    b.flip();
                    System.out.println("client: " + StandardCharsets.UTF_8.decode(b));
                }
            }
            t.join();
        }
        Files.deleteIfExists(path);
    }
}
'

@test "Java 17 ServerSocketChannel.open(UNIX) server and SocketChannel clients: the same exchange under the shim" {
    command -v javac >/dev/null && command -v java >/dev/null || skip "java/javac are not installed (a JDK is not a project dependency)"
    [ -z "${SAN_RUNTIME:-}" ] || skip "the JVM does not start with the ASan runtime preloaded"
    mkdir -p "$T/java"
    printf '%s\n' "$JAVA_SRC" >"$T/java/UnixEcho.java"
    javac -d "$T/java" "$T/java/UnixEcho.java"
    RUN_TIMEOUT=120 run_bare java -Xshare:auto -XX:ErrorFile="$T/hs_err_%p.log" -cp "$T/java" UnixEcho "$S/java.sock"
    assert_equal 0 "$bare_status" "bare exit status"
    assert_equal "client: echo msg 0" "$(printf '%s\n' "$bare_output" | grep '^client' | head -n 1)"
    RUN_TIMEOUT=120 run_shim java -Xshare:auto -XX:ErrorFile="$T/hs_err_%p.log" -cp "$T/java" UnixEcho "$S/java.sock"
    assert_same_as_bare
}
