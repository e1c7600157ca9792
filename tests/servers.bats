#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# servers.bats: real event-loop servers and clients run under the shim with
# the same results as bare (docs/design.md, "Never hurt the host"): nginx (master + workers, epoll,
# sendfile, accept4) under wrk load, redis-server under redis-benchmark, and
# node's http server and client (libuv). Each load is bounded (about 2 s),
# on loopback, with its own temp config and ports; the system services are
# never touched. A client that resets a connection under the shim's eyes
# shows the server side of a record (role "server").

load lib

setup() {
    rstwatch_setup
    need_shim
}

teardown() {
    rstwatch_teardown
}

# abort_client PORT PAYLOAD: connects, sends PAYLOAD, then resets the
# connection (SO_LINGER {1,0} + close), so the server's next read fails.
abort_client() {
    python3 - "$1" "$2" <<'EOF'
import socket, struct, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.argv[2].encode())
time.sleep(0.2)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
time.sleep(0.3)
EOF
}

# ---- nginx -----------------------------------------------------------------------------

# nginx_start PRELOAD: nginx (master + 2 workers) with its own prefix under $T,
# serving a 64 KiB static file (sendfile) and a tiny response.
nginx_start() {
    local www="$T/nginx/www"
    mkdir -p "$www"
    [ -s "$www/big.txt" ] || head -c 65536 /dev/urandom | base64 -w 0 | head -c 65536 >"$www/big.txt"
    NGX_PORT="$(free_port)"
    start_nginx nginx "$1" "master_process on;
worker_processes 2;
user root;" <<EOF
    sendfile on;
    keepalive_requests 100000;
    server {
        listen 127.0.0.1:$NGX_PORT;
        root $www;
        location = /hello { default_type text/plain; return 200 "hello\n"; }
    }
EOF
    wait_for_port "$NGX_PORT"
}

# wrk_run PRELOAD PATH: 2 threads, 40 connections, 2 s; prints wrk's output.
wrk_run() {
    command -v wrk >/dev/null || skip "wrk is not installed"
    if [ -n "$1" ]; then
        timeout 20 env LD_PRELOAD="$1" wrk -t2 -c40 -d2s "http://127.0.0.1:$NGX_PORT$2" 3>&-
    else
        timeout 20 wrk -t2 -c40 -d2s "http://127.0.0.1:$NGX_PORT$2" 3>&-
    fi
}

# wrk_requests OUTPUT: the request count of a wrk run; fails on any socket
# error or non-2xx response.
wrk_requests() {
    if printf '%s\n' "$1" | grep -qE 'Socket errors|Non-2xx'; then
        printf 'wrk reported errors:\n%s\n' "$1" >&2
        return 1
    fi
    printf '%s\n' "$1" | sed -nE 's/^ *([0-9]+) requests in .*/\1/p'
}

@test "nginx under wrk load: every request succeeds bare and under the shim, the same bytes served, no warnings" {
    nginx_start ""
    local bare_body bare_out
    bare_body="$(curl -sS "http://127.0.0.1:$NGX_PORT/big.txt" | sha256sum)"
    bare_out="$(wrk_run "" /big.txt)"
    local bare_n
    bare_n="$(wrk_requests "$bare_out")"
    stop_servers
    : >"$NGX/error.log"
    nginx_start "$SHIM_PRELOAD"
    local shim_body shim_out shim_n
    # (curl itself stays bare: an ASan-preloaded curl deadlocks in setlocale, shim or not)
    shim_body="$(curl -sS "http://127.0.0.1:$NGX_PORT/big.txt" | sha256sum)"
    assert_equal "$bare_body" "$shim_body" "the 64 KiB file as served"
    assert_equal "hello" "$(curl -sS "http://127.0.0.1:$NGX_PORT/hello")"
    shim_out="$(wrk_run "$SHIM_PRELOAD" /big.txt)"
    shim_n="$(wrk_requests "$shim_out")"
    [ "$bare_n" -gt 100 ] && [ "$shim_n" -gt 100 ] || { echo "requests bare=$bare_n shim=$shim_n" >&2; false; }
    stop_servers
    # nginx said nothing worse than info, and the shim nothing at all
    if grep -E '\[(error|crit|alert|emerg)\]' "$NGX/error.log"; then false; fi
    if grep -q '^rstwatch:' "$T/nginx.err"; then cat "$T/nginx.err" >&2; false; fi
    # wrk closes its 40 connections with responses still unread at the end,
    # so the kernel resets some of them while nginx waits on keep-alive (nginx
    # itself ignores those): each is at most one record, on nginx's side, and
    # nothing from wrk or curl.
    local n
    n="$(record_count)"
    echo "# nginx /big.txt (64 KiB, sendfile) 2 s x 40 conns: bare=$bare_n shim=$shim_n requests; end-of-run resets recorded by nginx=$n" >&3
    [ "$n" -le 40 ] || { echo "$n records for 40 connections" >&2; false; }
    assert_equal true "$(jq_records 'all(.[]; .prog == "nginx" and .role == "server" and .type == "reset")')"
    assert_equal "$n" "$(jq_records 'map("\(.pid)/\(.conn)") | unique | length')" "distinct connections"
}

@test "a client resetting nginx mid-request is recorded on nginx's side, and nginx serves on unchanged" {
    nginx_start "$SHIM_PRELOAD"
    abort_client "$NGX_PORT" $'GET /hello HTTP/1.1\r\nHost: x\r\n'
    assert_equal "hello" "$(curl -sS "http://127.0.0.1:$NGX_PORT/hello")" "nginx after the reset"
    # nginx itself saw it: "recv() failed (104: Connection reset by peer)"
    local i
    for ((i = 0; i < 100; i++)); do [ "$(record_count)" -ge 1 ] && break; sleep 0.05; done
    assert_record_count 1
    assert_equal "nginx server ECONNRESET 127.0.0.1:$NGX_PORT" \
        "$(jq_record '"\(.prog) \(.role) \(.errno) \(.local)"')"
    assert_equal true "$(jq_record '.bytes_in > 0 and .bytes_out == 0 and .pid != null')"
    grep -q 'Connection reset by peer' "$NGX/error.log"
}

# ---- redis ------------------------------------------------------------------------------

# redis_start PRELOAD: redis-server on its own port, no persistence, in $T.
redis_start() {
    command -v redis-server >/dev/null || skip "redis-server is not installed"
    REDIS_PORT="$(free_port)"
    mkdir -p "$T/redis"
    start_bg "$1" redis redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$T/redis" --daemonize no --protected-mode no --logfile "$T/redis/redis.log"
    wait_for_port "$REDIS_PORT"
}

# redis_script PRELOAD: a fixed redis-cli session; prints its replies.
redis_script() {
    local pre=()
    [ -z "$1" ] || pre=(env LD_PRELOAD="$1")
    printf '%s\n' "FLUSHALL" "SET k v1" "GET k" "INCRBY n 41" "INCR n" "RPUSH l a b c" "LRANGE l 0 -1" \
        "HSET h f1 x f2 y" "HGETALL h" "DEL k" "EXISTS k" "DBSIZE" |
        timeout 20 "${pre[@]}" redis-cli -p "$REDIS_PORT" 3>&-
}

# bench PRELOAD: a bounded redis-benchmark (10000 requests per test, 20 clients).
redis_bench() {
    local pre=()
    [ -z "$1" ] || pre=(env LD_PRELOAD="$1")
    timeout 30 "${pre[@]}" redis-benchmark -p "$REDIS_PORT" -q -n 10000 -c 20 -t set,get,incr,lpush,mset 3>&- |
        tr '\r' '\n' | grep -E 'requests per second' | sed -E 's/:.*//' | sort
}

@test "redis-server under redis-benchmark: the same tests complete bare and under the shim, the same replies, nothing recorded" {
    command -v redis-benchmark >/dev/null || skip "redis-tools is not installed"
    redis_start ""
    local bare_replies bare_tests
    bare_replies="$(redis_script "")"
    bare_tests="$(redis_bench "")"
    stop_servers
    redis_start "$SHIM_PRELOAD"
    local shim_replies shim_tests
    shim_replies="$(redis_script "$SHIM_PRELOAD")"
    shim_tests="$(redis_bench "$SHIM_PRELOAD")"
    assert_equal "$bare_replies" "$shim_replies" "redis-cli replies"
    assert_equal "$(printf '%s\n' INCR LPUSH 'MSET (10 keys)' SET GET | sort)" "$bare_tests" "tests completed bare"
    assert_equal "$bare_tests" "$shim_tests" "tests completed under the shim"
    stop_servers
    if grep -q '^rstwatch:' "$T/redis.err"; then cat "$T/redis.err" >&2; false; fi
    assert_record_count 0
}

@test "a client resetting redis mid-command is recorded on redis's side, and redis answers on" {
    command -v redis-cli >/dev/null || skip "redis-tools is not installed"
    redis_start "$SHIM_PRELOAD"
    # an incomplete multi-bulk command, then RST
    abort_client "$REDIS_PORT" $'*3\r\n$3\r\nSET\r\n$1\r\nk\r\n'
    assert_equal PONG "$(redis-cli -p "$REDIS_PORT" PING)"
    local i
    for ((i = 0; i < 100; i++)); do [ "$(record_count)" -ge 1 ] && break; sleep 0.05; done
    assert_record_count 1
    assert_equal "redis-server server ECONNRESET" "$(jq_record '"\(.prog) \(.role) \(.errno)"')"
}

# ---- node ---------------------------------------------------------------------------------

NODE_SERVER='
const http = require("http");
const srv = http.createServer((req, res) => {
  let n = 0;
  req.on("data", (c) => (n += c.length));
  req.on("end", () => { res.setHeader("content-type", "text/plain"); res.end(`${req.method} ${req.url} ${n}\n`); });
});
srv.keepAliveTimeout = 5000;
srv.listen(0, "127.0.0.1", () => { require("fs").writeFileSync(process.argv[1], String(srv.address().port)); });
'

# The client: 2000 requests over a keep-alive agent with 20 sockets; prints
# a digest of every body in order, the status counts and the errors.
NODE_CLIENT='
const http = require("http");
const crypto = require("crypto");
const port = Number(process.argv[1]), total = Number(process.argv[2]);
const agent = new http.Agent({ keepAlive: true, maxSockets: 20 });
const bodies = new Array(total); let done = 0, errors = {};
for (let i = 0; i < total; i++) {
  const body = "x".repeat(i % 97);
  const req = http.request({ host: "127.0.0.1", port, path: "/r/" + i, method: i % 3 ? "GET" : "POST", agent,
                             headers: { "content-length": Buffer.byteLength(body) } }, (res) => {
    let b = ""; res.on("data", (c) => (b += c));
    res.on("end", () => { bodies[i] = res.statusCode + " " + b; if (++done === total) finish(); });
  });
  req.on("error", (e) => { errors[e.code] = (errors[e.code] || 0) + 1; bodies[i] = "error " + e.code; if (++done === total) finish(); });
  req.end(body);
}
function finish() {
  const h = crypto.createHash("sha256"); bodies.forEach((b) => h.update(b));
  console.log("done=" + done + " sha256=" + h.digest("hex") + " errors=" + JSON.stringify(errors));
  agent.destroy();
}
'

node_server_start() {
    command -v node >/dev/null || skip "node is not installed"
    rm -f "$T/node.port"
    start_bg "$1" node-server node -e "$NODE_SERVER" "$T/node.port"
    local i
    for ((i = 0; i < 250; i++)); do [ -s "$T/node.port" ] && break; sleep 0.02; done
    NODE_PORT="$(<"$T/node.port")"
}

@test "node's http server and client: 2000 keep-alive requests give byte-identical results bare and under the shim" {
    node_server_start ""
    run_bare node -e "$NODE_CLIENT" "$NODE_PORT" 2000
    stop_servers
    node_server_start "$SHIM_PRELOAD"
    run_shim node -e "$NODE_CLIENT" "$NODE_PORT" 2000
    assert_same_as_bare
    [[ "$shim_output" == "done=2000 sha256="*" errors={}" ]] || { echo "$shim_output" >&2; false; }
    stop_servers
    if grep -q '^rstwatch:' "$T/node-server.err"; then cat "$T/node-server.err" >&2; false; fi
    assert_record_count 0
}

@test "node's http client hitting a reset fails exactly as bare, and the record names node and the peer" {
    command -v node >/dev/null || skip "node is not installed"
    start_server rst-after-request
    local script='
const http = require("http");
http.get({ host: "127.0.0.1", port: Number(process.argv[1]), path: "/" }, (res) => console.log("status", res.statusCode))
  .on("error", (e) => { console.log("error", e.code, e.syscall || ""); process.exitCode = 3; });
'
    run_both node -e "$script" "$PORT"
    assert_equal 3 "$shim_status"
    assert_record_count 1
    assert_equal "node reset ECONNRESET 127.0.0.1:$PORT client" "$(jq_record '"\(.prog) \(.type) \(.errno) \(.peer) \(.role)"')"
}
