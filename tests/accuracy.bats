#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# accuracy.bats: the accuracy matrix's real-world half. Each test provokes a
# failure the way production does, with real servers from Debian packages
# (gunicorn, php-fpm behind nginx, node, nginx, HAProxy, PostgreSQL,
# MariaDB, redis) run as private instances on free loopback ports or in
# network namespaces the test makes (a client - router - server path with
# iptables and conntrack in the router), and real clients (curl, python
# requests, psycopg2, pymysql). It asserts the cause code the record must
# carry (the agreed codes, docs/design.md "The record"), a next step its hint
# names, and, on every record, tests/hint_fits.jq: no hint contradicts its
# own record. With ACCURACY_OUT set, each test appends "name, expected,
# actual" to that file (tests/lib.bash assert_cause).
#
# Timeouts are set short (2-3 s) so the file stays within a few minutes.

load lib

setup_file() {
    # The Debian interpreter: psycopg2, pymysql, gunicorn and requests are
    # Debian packages.
    export DEB_PY=/usr/bin/python3
    export ACC_CLIENT="$RSTWATCH_ROOT/tests/accuracy_client.py"
}

teardown_file() {
    [ ! -s "$BATS_FILE_TMPDIR/pgdir" ] || rm -rf "$(<"$BATS_FILE_TMPDIR/pgdir")"
}

setup() {
    rstwatch_setup
    need_shim
    NS="" ROUTER_NS=() PG_CTL="" MARIA_PID_FILE=""
    export NS_PREFIX=rwacc
}

teardown() {
    # ACC_KEEP=DIR keeps each test's records (DIR/N.jsonl) for a closer look.
    if [ -n "${ACC_KEEP:-}" ]; then mkdir -p "$ACC_KEEP" && records >"$ACC_KEEP/$BATS_TEST_NUMBER.jsonl"; fi
    pg_stop
    maria_stop
    rstwatch_teardown
    local n
    for n in $NS "${ROUTER_NS[@]}"; do ip netns del "$n" 2>/dev/null || true; done
}

# need_prog PROG...: fails (CI installs them: scripts/install-deps.sh) when missing.
need_prog() {
    local p
    for p in "$@"; do
        command -v "$p" >/dev/null || [ -x "$p" ] || {
            echo "$p is not installed (scripts/install-deps.sh)" >&2
            return 1
        }
    done
}

# assert_causes N CODE STEP: N records (one per failed connection), each
# with cause CODE and a hint naming STEP, none contradicting its record.
assert_causes() {
    local n="$1" code="$2" step="$3"
    if [ -n "${ACCURACY_OUT:-}" ]; then
        printf '%s\t%s\t%s\n' "$BATS_TEST_DESCRIPTION" "$code" \
            "$(records | jq -r '.cause.code // "-"' | sort | uniq -c | awk '{print $2 "×" $1}' | paste -sd, - | grep . || echo no record)" >>"$ACCURACY_OUT"
    fi
    assert_record_count "$n"
    assert_true "every cause is $code" 'all(.[]; .cause.code == $c)' --arg c "$code"
    assert_true "every hint names: $step" 'all(.[]; .cause.hint | contains($s))' --arg s "$step"
    assert_hint_fits
}

# assert_cause_in "CODE1 CODE2" STEP: exactly one record, whose cause is one
# of the codes (the scenarios where either reading is right), hint naming STEP.
assert_cause_in() {
    local code
    code="$(records | jq -r '.cause.code' | head -1)"
    [[ " $1 " == *" $code "* ]] || code="${1%% *}"
    ACCURACY_EXPECTED="${1// / or }" assert_cause "$code" "$2"
}

# assert_cause_min CODE STEP: at least one record, every one with cause CODE
# and a hint naming STEP (one record per failed call; how many depends on
# timing).
assert_cause_min() {
    local n
    n="$(record_count)"
    [ "$n" -ge 1 ] || n=1
    assert_causes "$n" "$1" "$2"
}

# ---- watchdog timeouts: a server kills the request it is running -----------

# start_gunicorn TIMEOUT_S WORKERS: gunicorn (sync workers) serving an app
# that sleeps 20 s, with --timeout TIMEOUT_S. Sets GPORT.
start_gunicorn() {
    "$DEB_PY" -c 'import gunicorn' || {
        echo "python3-gunicorn is not installed (scripts/install-deps.sh)" >&2
        return 1
    }
    GPORT="$(free_port)"
    cat >"$T/slowapp.py" <<'PY'
import time
def app(environ, start_response):
    time.sleep(20)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"late\n"]
PY
    start_bg "" gunicorn "$DEB_PY" -m gunicorn --chdir "$T" -b "127.0.0.1:$GPORT" \
        -w "$2" --timeout "$1" --graceful-timeout 1 slowapp:app
    wait_for_port "$GPORT"
}

@test "real: gunicorn --timeout 3, four identical slow requests from curl -> all four response_timeout" {
    need_preloadable curl
    start_gunicorn 3 4
    run_shim bash -c 'for i in 1 2 3 4; do curl -sS -m 15 "http://127.0.0.1:$1/" & done; wait' _ "$GPORT"
    assert_causes 4 response_timeout "request timeout"
    assert_true "each waited about 3-4.5 s" 'all(.[]; .idle_ms >= 2900 and .idle_ms < 4600)'
    # The report names it once: one timeout of one service, not four failures.
    run_bare "$RSTWATCH" report "$LOG_DIR"
    assert_contains "$output" "one timeout, 4 requests: 127.0.0.1:$GPORT"
}

@test "real: gunicorn --timeout 3, python requests from 2 threads -> both response_timeout" {
    start_gunicorn 3 2
    run_shim "$DEB_PY" -c '
import requests, sys, threading
def get():
    try:
        requests.get("http://127.0.0.1:%s/" % sys.argv[1], timeout=15)
    except requests.ConnectionError as e:
        print("error:", type(e).__name__)
ts = [threading.Thread(target=get) for _ in range(2)]
[t.start() for t in ts]; [t.join() for t in ts]' "$GPORT"
    assert_equal $'error: ConnectionError\nerror: ConnectionError' "$output"
    assert_causes 2 response_timeout "request timeout"
}

@test "real: gunicorn --timeout 2 behind nginx: nginx's upstream record -> response_timeout" {
    start_gunicorn 2 1
    local port
    port="$(free_port)"
    start_nginx nginx "$SHIM_PRELOAD" <<NGX
    server {
        listen 127.0.0.1:$port;
        location / { proxy_pass http://127.0.0.1:$GPORT; }
    }
NGX
    wait_for_port "$port"
    run curl -s -o /dev/null -w '%{http_code}' -m 15 "http://127.0.0.1:$port/"
    assert_equal 502 "$output" "curl's status through nginx"
    stop_servers
    assert_cause response_timeout "request timeout"
    assert_jq '.role == "client" and .peer == "127.0.0.1:\($p)"' --arg p "$GPORT"
}

@test "real: php-fpm request_terminate_timeout=3s behind nginx fastcgi: nginx's record -> response_timeout" {
    local fpm
    fpm="$(ls /usr/sbin/php-fpm* 2>/dev/null | head -1)"
    need_prog "${fpm:-php-fpm}"
    local fport port
    fport="$(free_port)" port="$(free_port)"
    mkdir -p "$T/www"
    echo '<?php sleep(20); echo "late\n";' >"$T/www/slow.php"
    cat >"$T/fpm.conf" <<FPM
[global]
pid = $T/fpm.pid
error_log = $T/fpm.log
daemonize = no
[www]
user = root
listen = 127.0.0.1:$fport
pm = static
pm.max_children = 1
request_terminate_timeout = 3s
FPM
    start_bg "" fpm "$fpm" -n -R -y "$T/fpm.conf" -F
    wait_for_port "$fport"
    start_nginx nginx "$SHIM_PRELOAD" <<NGX
    server {
        listen 127.0.0.1:$port;
        location / {
            fastcgi_pass 127.0.0.1:$fport;
            fastcgi_param SCRIPT_FILENAME $T/www/slow.php;
            fastcgi_param REQUEST_METHOD GET;
        }
    }
NGX
    wait_for_port "$port"
    run curl -s -o /dev/null -w '%{http_code}' -m 15 "http://127.0.0.1:$port/"
    assert_equal 502 "$output" "curl's status through nginx"
    stop_servers
    assert_cause response_timeout "request_terminate_timeout"
    assert_jq '.role == "client" and .idle_ms >= 2900 and .idle_ms < 4600'
}

# ---- servers that stop waiting for our request -----------------------------

# start_node_server HEADERS_MS REQUEST_MS: node http server with those
# headersTimeout/requestTimeout (checked every 250 ms). Sets NPORT.
start_node_server() {
    need_prog node
    NPORT="$(free_port)"
    start_bg "" node node -e '
const http = require("http");
const s = http.createServer({ headersTimeout: +process.argv[2], requestTimeout: +process.argv[3],
                              connectionsCheckingInterval: 250 },
  (req, res) => { req.resume(); req.on("end", () => res.end("ok\n")); });
s.listen(+process.argv[1], "127.0.0.1");' "$NPORT" "$1" "$2"
    wait_for_port "$NPORT"
}

@test "real: node headersTimeout 1 s, a client that stalls in its headers -> request_timeout" {
    start_node_server 1000 3000
    run_shim "$DEB_PY" "$ACC_CLIENT" upload 127.0.0.1 "$NPORT" 2.5 0
    expect_cause 1 request_timeout "stopped waiting"
    # The report shows the client's own 2.5 s stall inside its merged sends.
    run_bare "$RSTWATCH" report "$LOG_DIR"
    [[ "$output" =~ send\ ×2\ +1098\ B\ over\ 2[0-9]{3}\.[0-9]\ ms ]] || { echo "$output" >&2; false; }
}

@test "real: node requestTimeout 2 s, a slow upload -> request_timeout" {
    start_node_server 1000 2000
    run_shim "$DEB_PY" "$ACC_CLIENT" upload 127.0.0.1 "$NPORT" 0 3
    expect_cause 1 request_timeout "stopped waiting"
}

# nginx_plain NAME LINES: nginx (not under the shim) answering 200 on a free
# port (NPORT) with LINES inside its server block.
nginx_plain() {
    NPORT="$(free_port)"
    start_nginx "$1" "" <<NGX
    server {
        listen 127.0.0.1:$NPORT;
        $2
        location / { return 200 "ok\n"; }
    }
NGX
    wait_for_port "$NPORT"
}

@test "real: nginx client_body_timeout 2s, a slow upload -> request_timeout" {
    nginx_plain nginx "client_body_timeout 2s; location /upload { proxy_pass http://127.0.0.1:1; }"
    run_shim "$DEB_PY" "$ACC_CLIENT" upload 127.0.0.1 "$NPORT" 0 3
    expect_cause 1 request_timeout "client_body_timeout"
}

@test "real: nginx client_header_timeout 2s, headers that stall -> request_timeout" {
    nginx_plain nginx "client_header_timeout 2s;"
    run_shim "$DEB_PY" "$ACC_CLIENT" upload 127.0.0.1 "$NPORT" 3 0
    expect_cause 1 request_timeout "client_header_timeout"
}

# haproxy_front [FRONTEND LINES]: HAProxy (not under the shim) with timeout
# http-request 2s in front of a resetd http server; sets HPORT.
haproxy_front() {
    need_prog haproxy
    start_server http
    HPORT="$(free_port)"
    cat >"$T/haproxy.cfg" <<CFG
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
    timeout http-request 2s
frontend f
    bind 127.0.0.1:$HPORT
    ${1:-}
    default_backend b
backend b
    server s1 127.0.0.1:$PORT
CFG
    start_bg "" haproxy haproxy -db -f "$T/haproxy.cfg"
    wait_for_port "$HPORT"
}

@test "real: HAProxy timeout http-request 2s, headers that stall -> request_timeout" {
    haproxy_front
    run_shim "$DEB_PY" "$ACC_CLIENT" upload 127.0.0.1 "$HPORT" 3 0
    expect_cause 1 request_timeout "timeout http-request"
}

@test "real: HAProxy timeout http-request 2s with option http-buffer-request, a slow body -> request_timeout" {
    haproxy_front "option http-buffer-request"
    run_shim "$DEB_PY" "$ACC_CLIENT" upload 127.0.0.1 "$HPORT" 0 3
    expect_cause 1 request_timeout "timeout http-request"
}

@test "real: curl uploads from a pipe that stalls 3 s (chunked, Expect: 100-continue) to nginx client_body_timeout 2s -> request_timeout" {
    need_preloadable curl
    nginx_plain nginx "client_body_timeout 2s; location /upload { proxy_pass http://127.0.0.1:1; }"
    run_shim bash -c '(head -c 2000 /dev/zero; sleep 3; head -c 200000 /dev/zero) | curl -sS -m 20 -T - "$1"' _ "http://127.0.0.1:$NPORT/upload"
    [ "$status" != 0 ] || { echo "curl succeeded: $output" >&2; false; }
    assert_cause request_timeout "client_body_timeout"
    assert_jq '.reused == false'
}

# ---- restarts and admin kills under a pool: early_close --------------------
# The pooled connection is used again 0.5 s after the kill, as a pool reuses an
# idle connection some time later (a request racing the kill itself is the
# server answering that request with its goodbye, another story).

# pg_start [postgres -c settings...]: a private PostgreSQL 15 cluster (initdb
# once per file, owned by the postgres user, trust auth) started with pg_ctl
# on a free port; sets PGPORT, PG_DSN and PG_CTL (a pg_ctl command line for
# this cluster); teardown stops it.
pg_start() {
    local bin
    bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
    need_prog "$bin/initdb" setpriv
    # Outside the test's directories, which the postgres user cannot enter.
    [ -s "$BATS_FILE_TMPDIR/pgdir" ] || mktemp -d /tmp/rwacc-pg.XXXXXX >"$BATS_FILE_TMPDIR/pgdir"
    PG_DIR="$(<"$BATS_FILE_TMPDIR/pgdir")"
    if [ ! -d "$PG_DIR/data" ]; then
        chown postgres: "$PG_DIR"
        setpriv --reuid=postgres --regid=postgres --clear-groups \
            "$bin/initdb" -D "$PG_DIR/data" -U postgres --auth=trust >"$PG_DIR/initdb.log" 2>&1 || {
            cat "$PG_DIR/initdb.log" >&2
            return 1
        }
    fi
    PGPORT="$(free_port)"
    local opts="-p $PGPORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off $*"
    PG_CTL="setpriv --reuid=postgres --regid=postgres --clear-groups $bin/pg_ctl -D $PG_DIR/data -l $PG_DIR/log -w -o '$opts'"
    eval "$PG_CTL start" >/dev/null
    PG_DSN="host=127.0.0.1 port=$PGPORT user=postgres dbname=postgres"
    export PGPORT PG_DSN PG_CTL
}

pg_stop() {
    [ -n "${PG_CTL:-}" ] && eval "$PG_CTL -m immediate stop" >/dev/null 2>&1 || true
}

@test "real: psycopg2, pg_terminate_backend on the pooled connection -> early_close naming 57P01" {
    pg_start
    ACC_HOOK="psql -X -q -h 127.0.0.1 -p $PGPORT -U postgres -c \"select pg_terminate_backend(pid) from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid()\" >/dev/null; sleep 0.5" \
        run_shim "$DEB_PY" "$ACC_CLIENT" pg "$PG_DSN" 1
    pg_stop
    assert_contains "$output" "failed 1"
    expect_cause 1 early_close "57P01"
}

@test "real: psql, its backend terminated between two statements -> early_close naming 57P01" {
    need_preloadable psql
    pg_start
    printf '%s\n' 'select 1;' "\\! psql -X -q -h 127.0.0.1 -p $PGPORT -U postgres -c \"select pg_terminate_backend(pid) from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid()\" >/dev/null; sleep 0.5" 'select 2;' >"$T/script.sql"
    run_shim psql -X -h 127.0.0.1 -p "$PGPORT" -U postgres -v ON_ERROR_STOP=1 -f "$T/script.sql"
    pg_stop
    assert_contains "$stderr" "server closed the connection unexpectedly"
    expect_cause 2 early_close "57P01"
}

@test "real: psycopg2, idle_session_timeout=1s ends the pooled connection -> early_close naming 57P05" {
    pg_start -c idle_session_timeout=1000
    ACC_HOOK="sleep 2" run_shim "$DEB_PY" "$ACC_CLIENT" pg "$PG_DSN" 1
    pg_stop
    assert_contains "$output" "failed 1"
    expect_cause 1 early_close "57P05"
}

@test "real: psycopg2 pool of 3, PostgreSQL fast-shutdown restart -> three early_close" {
    pg_start
    ACC_HOOK="$PG_CTL -m fast restart >/dev/null" run_shim "$DEB_PY" "$ACC_CLIENT" pg "$PG_DSN" 3
    pg_stop
    assert_contains "$output" "failed 3"
    assert_causes 3 early_close "restart"
    run_bare "$RSTWATCH" report "$LOG_DIR"
    assert_contains "$output" "server restart or reload, 3 connections: 127.0.0.1:$PGPORT"
}

# maria_start: a private MariaDB (mariadb-install-db once per file, then
# mariadbd on a free port, grant tables skipped); sets MPORT and MARIA_START
# (the command that starts it again, for a restart); teardown stops it.
maria_start() {
    need_prog mariadbd mariadb-install-db
    local d="$BATS_FILE_TMPDIR/maria"
    if [ ! -d "$d/data/mysql" ]; then
        mkdir -p "$d"
        mariadb-install-db --no-defaults --datadir="$d/data" --user=root --skip-test-db \
            --auth-root-authentication-method=normal >"$d/install.log" 2>&1 || {
            cat "$d/install.log" >&2
            return 1
        }
    fi
    MPORT="$(free_port)"
    MARIA_PID_FILE="$d/mariadbd.pid"
    MARIA_START="mariadbd --no-defaults --datadir=$d/data --user=root --port=$MPORT --bind-address=127.0.0.1 --socket=$d/sock --pid-file=$MARIA_PID_FILE --skip-grant-tables --skip-log-bin --innodb-buffer-pool-size=16M --log-error=$d/err.log"
    # With MARIA_SHIM set, the first instance runs under the shim too, recording
    # every connection it closes (RECORD=all) into $T/server-logs.
    if [ -n "${MARIA_SHIM:-}" ]; then
        mkdir -p "$T/server-logs"
        env LD_PRELOAD="$SHIM_PRELOAD" RSTWATCH_RECORD=all RSTWATCH_LOG="$T/server-logs/%p.jsonl" \
            $MARIA_START </dev/null >/dev/null 2>&1 3>&- &
    else
        $MARIA_START </dev/null >/dev/null 2>&1 3>&- &
    fi
    wait_for_port "$MPORT" && wait_file "$MARIA_PID_FILE" || { cat "$d/err.log" >&2; return 1; }
    export MPORT MARIA_START MARIA_PID_FILE
}

maria_stop() {
    local pid
    [ -s "${MARIA_PID_FILE:-/nonexistent}" ] || return 0
    pid="$(<"$MARIA_PID_FILE")"
    kill "$pid" 2>/dev/null || return 0
    local i
    for ((i = 0; i < 250; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.02; done
    kill -9 "$pid" 2>/dev/null || true
}

@test "real: pymysql, KILL CONNECTION from an admin session -> early_close" {
    maria_start
    ACC_HOOK="for id in \$(mariadb -h 127.0.0.1 -P $MPORT -u root -N -e \"select id from information_schema.processlist where command = 'Sleep'\"); do mariadb -h 127.0.0.1 -P $MPORT -u root -e \"KILL CONNECTION \$id\"; done; sleep 0.5" \
        run_shim "$DEB_PY" "$ACC_CLIENT" mysql "$MPORT" 1
    maria_stop
    assert_contains "$output" "failed 1"
    expect_cause 1 early_close "admin kill"
}

@test "real: pymysql pool of 3, MariaDB restarted -> three early_close" {
    MARIA_SHIM=1 maria_start
    ACC_HOOK="pid=\$(cat $MARIA_PID_FILE); kill \$pid; while kill -0 \$pid 2>/dev/null; do sleep 0.05; done; ($MARIA_START </dev/null >/dev/null 2>&1 &); sleep 1.5" \
        run_shim "$DEB_PY" "$ACC_CLIENT" mysql "$MPORT" 3
    maria_stop
    assert_contains "$output" "failed 3"
    assert_causes 3 early_close "restart"
    run_bare "$RSTWATCH" report "$LOG_DIR"
    assert_contains "$output" "server restart or reload, 3 connections: 127.0.0.1:$MPORT"
    # With mariadbd's own records of the three connections (it ran under the
    # shim), the event is timed by the server's closes and each verdict says
    # the server closed first, with nothing outstanding.
    run_bare "$RSTWATCH" report "$LOG_DIR" "$T/server-logs"
    [[ "$output" =~ server\ restart\ or\ reload,\ 3\ connections:\ 127\.0\.0\.1:$MPORT(\ on\ [^ ]+)?\ closed\ them\ within\ [0-9]+\ ms\ of\ each\ other\ at\ .*\(the\ server\'s\ records\) ]] || {
        echo "$output" >&2
        false
    }
    [ "$(grep -c 'verdict   the server .*, with nothing outstanding (the client had read the last response); the client reused it and recv got EOF' <<<"$output")" = 3 ]
}

# redis_start: redis-server on a free port (RPORT), nothing saved.
redis_start() {
    need_prog redis-server redis-cli
    RPORT="$(free_port)"
    mkdir -p "$T/redis"
    start_bg "" redis redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$T/redis" --daemonize no --logfile "$T/redis/redis.log"
    wait_for_port "$RPORT"
}

@test "real: redis CLIENT KILL of an idle client connection -> early_close" {
    redis_start
    ACC_HOOK="redis-cli -p $RPORT CLIENT KILL TYPE normal >/dev/null; sleep 0.5" run_shim "$DEB_PY" "$ACC_CLIENT" redis "$RPORT"
    expect_cause 1 early_close "admin kill"
}

@test "real: redis-server restarted (SHUTDOWN NOSAVE) under a client -> early_close" {
    redis_start
    ACC_HOOK="redis-cli -p $RPORT SHUTDOWN NOSAVE >/dev/null 2>&1; redis-server --port $RPORT --bind 127.0.0.1 --save '' --appendonly no --dir $T/redis --daemonize yes --pidfile $T/redis/r2.pid --logfile $T/redis/r2.log; sleep 0.3" \
        run_shim "$DEB_PY" "$ACC_CLIENT" redis "$RPORT"
    [ -s "$T/redis/r2.pid" ] && kill "$(<"$T/redis/r2.pid")" 2>/dev/null || true
    expect_cause 1 early_close "restart"
}

@test "real: nginx -s reload under a keep-alive client -> early_close" {
    local port
    port="$(free_port)"
    start_nginx nginx "" "master_process on; worker_processes 1;" <<NGX
    keepalive_timeout 60s;
    server { listen 127.0.0.1:$port; location / { return 200 "ok\n"; } }
NGX
    wait_for_port "$port"
    ACC_HOOK="/usr/sbin/nginx -p $NGX -c $NGX/nginx.conf -s reload; sleep 0.5" \
        run_shim "$DEB_PY" "$ACC_CLIENT" http-ka 127.0.0.1 "$port" /
    expect_cause 1 early_close "reload"
}

# ---- the network path: a router between client and server ------------------

# need_router: three namespaces, client (10.77.1.2) - router - server
# (10.77.2.2), joined by veth pairs, the router forwarding. nginx in the
# server namespace answers on 10.77.2.2:8080 (keep-alive 60 s). Sets NSC,
# NSR, NSS (teardown deletes them) and R_URL. The router's iptables and
# conntrack settings are the caller's.
need_router() {
    need_prog ip iptables
    local base="rwacc$$-$BATS_TEST_NUMBER" out
    NSC="$base-c" NSR="$base-r" NSS="$base-s"
    for n in "$NSC" "$NSR" "$NSS"; do
        out="$(ip netns add "$n" 2>&1)" || skip "cannot create a network namespace: $out"
        ROUTER_NS+=("$n")
        ip -n "$n" link set lo up
    done
    ip -n "$NSC" link add c0 type veth peer name r0 netns "$NSR"
    ip -n "$NSS" link add s0 type veth peer name r1 netns "$NSR"
    ip -n "$NSC" addr add 10.77.1.2/24 dev c0
    ip -n "$NSR" addr add 10.77.1.1/24 dev r0
    ip -n "$NSR" addr add 10.77.2.1/24 dev r1
    ip -n "$NSS" addr add 10.77.2.2/24 dev s0
    local l
    for l in "$NSC c0" "$NSR r0" "$NSR r1" "$NSS s0"; do ip -n ${l% *} link set ${l#* } up; done
    ip -n "$NSC" route add default via 10.77.1.1
    ip -n "$NSS" route add default via 10.77.2.1
    ip netns exec "$NSR" sysctl -qw net.ipv4.ip_forward=1
    # A conntrack match from the start, so the router tracks every flow from
    # its SYN (conntrack hooks into a namespace only once a rule uses it);
    # the tests insert their rules before it.
    ip netns exec "$NSR" iptables -A FORWARD -m conntrack --ctstate NEW,ESTABLISHED,RELATED -j ACCEPT
    NGX_DIR="$T/ngx-s"
    mkdir -p "$NGX_DIR/tmp"
    cat >"$NGX_DIR/nginx.conf" <<NGX
daemon off;
master_process off;
pid $NGX_DIR/nginx.pid;
error_log $NGX_DIR/error.log info;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $NGX_DIR/tmp;
    keepalive_timeout 60s;
    server { listen 10.77.2.2:8080; location / { return 200 "ok\n"; } }
}
NGX
    start_bg "" nginx-s ip netns exec "$NSS" /usr/sbin/nginx -p "$NGX_DIR" -c "$NGX_DIR/nginx.conf"
    local i
    for ((i = 0; i < 250; i++)); do
        ip netns exec "$NSC" bash -c 'exec 9<>/dev/tcp/10.77.2.2/8080' 2>/dev/null && break
        sleep 0.02
    done
    R_URL="http://10.77.2.2:8080"
}

# in_router ARGS...: iptables (or any command) in the router namespace.
in_router() {
    ip netns exec "$NSR" "$@"
}

# capture_client_up: rstwatch capture in the client namespace, its packet
# records in CAP_LOG (outside LOG_DIR: records() lists the shim's alone);
# waits until it listens.
capture_client_up() {
    CAP_LOG="$T/capture.jsonl"
    start_bg "" capture ip netns exec "$NSC" "$RSTWATCH" capture -l "$CAP_LOG"
    CAP_PID=$LAST_BG_PID
    local i
    for ((i = 0; i < 500; i++)); do
        grep -q "listening on any" "$T/capture.err" 2>/dev/null && return 0
        sleep 0.02
    done
    cat "$T/capture.err" >&2
    return 1
}

# capture_client_report: waits for the capture's packet record, stops the
# capture (SIGTERM) and runs rstwatch report over the shim's and its records.
capture_client_report() {
    local i
    for ((i = 0; i < 500; i++)); do
        grep -q '"type":"packet"' "$CAP_LOG" 2>/dev/null && break
        sleep 0.02
    done
    kill -TERM "$CAP_PID"
    wait "$CAP_PID" || true
    run "$RSTWATCH" report "$LOG_DIR" "$CAP_LOG"
    assert_equal 0 "$status" "rstwatch report exit status"
    echo "$output" >"$T/report.txt"
    if [ -n "${ACC_KEEP:-}" ]; then mkdir -p "$ACC_KEEP" && cp "$T/report.txt" "$ACC_KEEP/$BATS_TEST_NUMBER.report"; fi
}

# A router's reset of the request lands within a fraction of a round trip on
# these veth paths (the client's own send call carries the request through the
# router), and so does a server thread's own reset: the record says path_reset
# only when the reset came sooner than any server could answer (an eighth of
# the lowest RTT), and otherwise reset_before_response with a hint that does
# not blame the server and names capture. The capture's TTL settles it: the
# report names the path either way.
@test "real: a router rejects requests matching a string with a TCP reset -> path_reset (the record, or the report with capture)" {
    need_preloadable curl
    need_router
    in_router iptables -I FORWARD -p tcp -m string --string "/blocked" --algo bm -j REJECT --reject-with tcp-reset
    capture_client_up
    run_shim ip netns exec "$NSC" curl -sS -m 10 "$R_URL/blocked"
    assert_equal 56 "$status" "curl exit status"
    assert_cause_in "path_reset reset_before_response" "rstwatch capture"
    assert_jq '.cause.code == "path_reset" or (.cause.hint | contains("too soon to tell who sent it"))'
    capture_client_report
    grep -E '^ +1 +10\.77\.2\.2:8080 +client +path_reset +ECONNRESET +curl' "$T/report.txt" || { cat "$T/report.txt" >&2; false; }
    grep -q "reset by  a device on the path, 1 hop away (the server is 2)" "$T/report.txt"
}

@test "real: a router starts resetting an established flow (REJECT tcp-reset on ctstate ESTABLISHED): a hint that does not blame the server, and with capture the report names the path" {
    need_router
    capture_client_up
    ACC_HOOK="ip netns exec $NSR iptables -I FORWARD -p tcp --dport 8080 -m conntrack --ctstate ESTABLISHED -j REJECT --reject-with tcp-reset" \
        run_shim ip netns exec "$NSC" "$DEB_PY" "$ACC_CLIENT" http-ka 10.77.2.2 8080 /
    # The reset came within a few round trips of the 2nd request, too late
    # for timing alone to put it on the path and too soon to say the server
    # sent it: the record says so and names the way to tell.
    assert_equal 1 "$status" "client exit status"
    assert_cause reset_before_response "rstwatch capture"
    assert_jq '.reused and (.cause.hint | contains("too soon to tell who sent it") and contains("firewall"))'
    assert_jq '.cause.hint | (contains("the peer reset") or contains("it crashed") or contains("keepalive_requests")) | not'
    capture_client_report
    grep -E '^ +1 +10\.77\.2\.2:8080 +client +path_reset +ECONNRESET +python3' "$T/report.txt" || { cat "$T/report.txt" >&2; false; }
    grep -q "reset by  a device on the path, 1 hop away (the server is 2)" "$T/report.txt"
}

# router_conntrack TARGET...: the router forgets established flows after 2 s
# (nf_conntrack_tcp_timeout_established), picks up no flow mid-stream
# (nf_conntrack_tcp_loose=0), and sends packets of forgotten flows (ctstate
# INVALID) to "-j TARGET...".
router_conntrack() {
    in_router iptables -I FORWARD -p tcp -m conntrack --ctstate INVALID -j "$@"
    in_router sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_established=2 net.netfilter.nf_conntrack_tcp_loose=0
}

@test "real: the router's conntrack forgets a flow idle 4 s and rejects its next packet with a reset -> path_reset or path_state_lost" {
    need_router
    router_conntrack REJECT --reject-with tcp-reset
    ACC_HOOK="sleep 4" run_shim ip netns exec "$NSC" "$DEB_PY" "$ACC_CLIENT" http-ka 10.77.2.2 8080 /
    assert_equal 1 "$status" "client exit status"
    assert_cause_in "path_reset path_state_lost" "rstwatch capture"
    # No idle timeout named from an idle time alone (nginx keeps it 60 s):
    # a peer closing at one sends its FIN, and none had come.
    assert_jq '.tcp.state == "ESTABLISHED" and (.cause.hint | contains("gunicorn") or contains("keep-alive default") | not)'
    assert_jq '.cause.code == "path_reset" or (.cause.hint | contains("NAT or stateful firewall") and contains("rebooted"))'
}

@test "real: the router's conntrack forgets a flow idle 4 s and drops it (black hole): ETIMEDOUT -> path_state_lost" {
    need_router
    router_conntrack DROP
    ACC_HOOK="sleep 4" run_shim ip netns exec "$NSC" "$DEB_PY" "$ACC_CLIENT" ka-user-timeout 10.77.2.2 8080 3000
    assert_contains "$output" "error: TimeoutError 110"
    expect_cause 1 path_state_lost "idle"
}

@test "real: the same black hole seen through python requests' timeout=4 (RECORD=errors) -> path_state_lost or local_timeout" {
    need_router
    router_conntrack DROP
    ACC_HOOK="sleep 4" RSTWATCH_RECORD=errors run_shim ip netns exec "$NSC" "$DEB_PY" "$ACC_CLIENT" requests "$R_URL/" 4
    assert_contains "$output" "ReadTimeout"
    assert_cause_in "path_state_lost local_timeout" "idle"
}

# ---- a server out of file descriptors ---------------------------------------

@test "real: nginx at its fd limit (ulimit -n 32), 40 clients: accept fails with EMFILE -> fd_limit" {
    local port
    port="$(free_port)"
    NGX="$T/nginx-fd"
    mkdir -p "$NGX/tmp"
    cat >"$NGX/nginx.conf" <<NGX
daemon off;
master_process off;
pid $NGX/nginx.pid;
error_log $NGX/error.log info;
events { worker_connections 512; }
http {
    access_log off;
    client_body_temp_path $NGX/tmp;
    keepalive_timeout 30s;
    server { listen 127.0.0.1:$port; location / { return 200 "ok\n"; } }
}
NGX
    start_bg "$SHIM_PRELOAD" nginx-fd bash -c 'ulimit -n 32 && exec /usr/sbin/nginx -p "$1" -c "$1/nginx.conf"' _ "$NGX"
    wait_for_port "$port"
    run "$DEB_PY" "$ACC_CLIENT" hold 127.0.0.1 "$port" 40 1.5
    stop_servers
    grep -q "Too many open files" "$NGX/error.log" || { cat "$NGX/error.log" >&2; false; }
    [ "$(record_count)" -gt 0 ] || cat "$T/nginx-fd.err" >&2
    assert_cause_min fd_limit "file descriptors"
    # The log could not be opened while nginx had no descriptor free: the
    # records waited and were written once nginx closed one, not sent to
    # stderr (nginx's error.log) with a warning.
    ! grep -q "rstwatch: cannot" "$NGX/error.log" "$T/nginx-fd.err"
}

# ---- a proxy closing its idle upstream connection ---------------------------

# haproxy_purge_round RECORD: node (under the shim, RSTWATCH_RECORD=RECORD)
# behind HAProxy, one request through it, then HAProxy's purge of its idle
# pooled connection to node (pool-purge-delay 1s, option nolinger: a reset);
# returns once node has no connection left and has read the reset.
haproxy_purge_round() {
    local bport hport i
    bport="$(free_port)" hport="$(free_port)"
    RSTWATCH_RECORD="$1" start_bg "$SHIM_PRELOAD" node node -e '
require("http").createServer((req, res) => res.end("ok\n")).listen(+process.argv[1], "127.0.0.1");' "$bport"
    wait_for_port "$bport"
    cat >"$T/haproxy.cfg" <<CFG
global
    maxconn 64
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
    http-reuse always
frontend f
    bind 127.0.0.1:$hport
    default_backend b
backend b
    option nolinger
    server s1 127.0.0.1:$bport pool-purge-delay 1s
CFG
    start_bg "" haproxy haproxy -db -f "$T/haproxy.cfg"
    wait_for_port "$hport"
    run curl -sS "http://127.0.0.1:$hport/"
    assert_equal ok "$output" "curl's body through HAProxy"
    sleep 0.2
    ss -Htn state established "( sport = :$bport )" | grep -q . || { echo "no pooled connection to node" >&2; return 1; }
    for ((i = 0; i < 400; i++)); do
        ss -Htn state established "( sport = :$bport )" | grep -q . || break
        sleep 0.02
    done
    sleep 0.3 # node reads the reset
    stop_servers
}

@test "real: HAProxy (option nolinger) purges its idle pooled connection to a node backend under the shim with a reset -> idle_close, counted, not client_abort" {
    need_prog haproxy node
    # Nothing failed: under the default RECORD=resets node's side is counted,
    # not recorded (it was a client_abort record).
    haproxy_purge_round resets
    if [ -n "${ACCURACY_OUT:-}" ]; then
        printf '%s\t%s\t%s\n' "$BATS_TEST_DESCRIPTION" "counted, no record" \
            "$(records | jq -r '.cause.code // "-"' | paste -sd, - | grep . || echo counted, no record)" >>"$ACCURACY_OUT"
    fi
    assert_record_count 0
    # The same with RECORD=errors: node's record shows the reset happened and
    # is the idle close of a connection whose response had been sent.
    haproxy_purge_round errors
    assert_cause idle_close "nothing failed"
    assert_jq '.role == "server" and .op == "read" and .errno == "ECONNRESET" and .idle_ms >= 1000 and .bytes_out > 0'
    assert_jq '.cause.hint | contains("from the client")'
}
