#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# connections.bats: both ends of one TCP connection, each recorded by its own
# shim (one host, or two network namespaces with their own hostnames acting as
# two hosts), joined by `rstwatch report` and `rstwatch export` into one
# incident with one verdict: the server's close of an idle keep-alive
# connection beside the client's failure when it reuses it.

load lib

setup() {
    rstwatch_setup
    need_shim
    F="$RSTWATCH_ROOT/tests/fixtures"
}

teardown() {
    rstwatch_teardown
    local ns
    for ns in "${NETNS[@]:-}"; do
        [ -n "$ns" ] && ip netns del "$ns" 2>/dev/null || true
    done
}

# A keep-alive client that reuses its connection after the server's idle
# timeout: request, pause, request again (fails: the server closed it).
reuse_client() {
    cat >"$T/reuse_client.py" <<'EOF'
import http.client, sys, time
conn = http.client.HTTPConnection(sys.argv[1], int(sys.argv[2]))
conn.request("GET", "/hello")
print("first", conn.getresponse().read())
time.sleep(float(sys.argv[3]))
try:
    conn.request("GET", "/hello")
    print("second", conn.getresponse().status)
except Exception as e:
    print("second failed:", type(e).__name__)
EOF
    echo "$T/reuse_client.py"
}

@test "nginx closes an idle keep-alive connection, python reuses it: one incident with both ends and one verdict" {
    local port
    port="$(free_port)"
    # nginx records every connection at close (its side of the idle close).
    RSTWATCH_RECORD=all start_nginx nginx "$SHIM_PRELOAD" "master_process off;
user root;" <<EOF
    keepalive_timeout 1s;
    server {
        listen 127.0.0.1:$port;
        location = /hello { default_type text/plain; return 200 "hello\n"; }
    }
EOF
    wait_for_port "$port"
    run_shim python3 "$(reuse_client)" 127.0.0.1 "$port" 2.5
    [ "$status" -eq 0 ]
    assert_contains "$output" "second failed"

    run_bare "$RSTWATCH" report "$LOG_DIR"
    [ "$status" -eq 0 ]
    assert_contains "$output" "both ends of one connection"
    assert_contains "$output" "verdict   the server closed the connection at"
    assert_contains "$output" "the client reused it and"
    [[ "$output" =~ client\ +python3\[[0-9]+\] ]]
    [[ "$output" =~ server\ +nginx\[[0-9]+\] ]]

    run_bare "$RSTWATCH" report --json "$LOG_DIR"
    [ "$(jq -r '.connections | length' <<<"$output")" = 1 ]
    [ "$(jq -r '.connections[0].server.prog' <<<"$output")" = nginx ]
    [ "$(jq -r '.connections[0].client.prog' <<<"$output")" = python3 ]
    [ "$(jq -r '.connections[0].client.local == .connections[0].server.peer' <<<"$output")" = true ]
    [ "$(jq -r '.connections[0].client.peer == .connections[0].server.local' <<<"$output")" = true ]
    # The server closed first, after about 1 s idle (its keepalive_timeout).
    [[ "$(jq -r '.connections[0].verdict' <<<"$output")" =~ the\ server\ closed\ the\ connection\ at\ [0-9.]+\ s\ after\ 1\.[0-9]\ s\ idle ]]

    run_bare "$RSTWATCH" export --format html -o "$T/page.html" "$LOG_DIR"
    [ "$status" -eq 0 ]
    page="$(<"$T/page.html")"
    assert_contains "$page" '<section class="incident pair"'
    assert_contains "$page" '<g class="lane client">'
    assert_contains "$page" '<g class="lane server">'
    assert_contains "$page" '<p class="verdict">the server closed the connection at'
}

# make_host NAME ADDR: a network namespace named after this test with lo up and
# one end of a veth pair at ADDR/24; the first call also makes the pair.
make_hosts() {
    command -v ip >/dev/null || skip "iproute2 (ip) is not installed"
    command -v unshare >/dev/null || skip "unshare is not installed"
    local a="rwca$$-$BATS_TEST_NUMBER" b="rwcb$$-$BATS_TEST_NUMBER" out
    NETNS=("$a" "$b")
    if ! out="$(ip netns add "$a" 2>&1 && ip netns add "$b" 2>&1)"; then
        skip "cannot create network namespaces: $out"
    fi
    ip link add "va$$" netns "$a" type veth peer name "vb$$" netns "$b" ||
        skip "cannot create a veth pair"
    ip -n "$a" addr add 10.213.0.1/24 dev "va$$"
    ip -n "$b" addr add 10.213.0.2/24 dev "vb$$"
    ip -n "$a" link set "va$$" up
    ip -n "$b" link set "vb$$" up
    ip -n "$a" link set lo up
    ip -n "$b" link set lo up
}

# on_host NS HOSTNAME CMD...: CMD in network namespace NS with its own UTS
# hostname, as if it ran on another machine.
on_host() {
    local ns="$1" name="$2"
    shift 2
    unshare --uts sh -c 'hostname "$1"; shift; exec ip netns exec "$@"' _ "$name" "$ns" "$@"
}

@test "two hosts: a server and a client in two network namespaces, logs read together, join across hosts" {
    make_hosts
    mkdir -p "$T/logs-a" "$T/logs-b"
    # A keep-alive server that closes a connection idle for 0.5 s (FIN), like nginx.
    cat >"$T/server.py" <<'EOF'
import select, socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.213.0.1", 8080))
s.listen(8)
open(__import__("sys").argv[1], "w").write("up\n")
while True:
    c, _ = s.accept()
    while select.select([c], [], [], 0.5)[0]:
        if not c.recv(65536):
            break
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
    c.close()
EOF
    on_host "${NETNS[0]}" server-host env LD_PRELOAD="$SHIM_PRELOAD" RSTWATCH_RECORD=all \
        RSTWATCH_LOG="$T/logs-a/%p.jsonl" python3 "$T/server.py" "$T/up" \
        >"$T/server.out" 2>"$T/server.err" </dev/null 3>&- &
    SERVER_PIDS+=("$!")
    for ((i = 0; i < 250; i++)); do [ -s "$T/up" ] && break; sleep 0.02; done
    [ -s "$T/up" ] || { cat "$T/server.err" >&2; false; }
    run on_host "${NETNS[1]}" client-host env LD_PRELOAD="$SHIM_PRELOAD" RSTWATCH_LOG="$T/logs-b/%p.jsonl" \
        python3 "$(reuse_client)" 10.213.0.1 8080 1.5
    assert_contains "$output" "second failed"
    stop_servers
    # Records carry the host they were written on (older shims: add it here).
    local d f
    for d in a:server-host b:client-host; do
        for f in "$T/logs-${d%%:*}"/*.jsonl; do
            jq -c --arg h "${d#*:}" '.host //= $h' "$f" >"$f.tmp" && mv "$f.tmp" "$f"
        done
    done

    run_bare "$RSTWATCH" report --json "$T/logs-a" "$T/logs-b"
    [ "$status" -eq 0 ]
    [ "$(jq -r '.summary.hosts' <<<"$output")" = 1 ] # only the client had an incident
    [ "$(jq -r '.connections | length' <<<"$output")" = 1 ]
    [ "$(jq -r '.connections[0].client.host' <<<"$output")" = client-host ]
    [ "$(jq -r '.connections[0].server.host' <<<"$output")" = server-host ]
    [ "$(jq -r '.connections[0].client.peer' <<<"$output")" = 10.213.0.1:8080 ]
    [ "$(jq -r '.connections[0].server.local' <<<"$output")" = 10.213.0.1:8080 ]
    [ "$(jq -r '.connections[0].client.local == .connections[0].server.peer' <<<"$output")" = true ]
    run_bare "$RSTWATCH" report "$T/logs-a" "$T/logs-b"
    assert_contains "$output" "both ends of one connection"
    [[ "$output" =~ server\ +python3\[[0-9]+\]\ on\ server-host ]]
    [[ "$output" =~ client\ +python3\[[0-9]+\]\ on\ client-host ]]
}

# pair_records HOST_C HOST_S: a client record and a server record of one
# loopback connection, written on the given hosts.
pair_records() {
    jq -c --arg h "$1" '.host = $h' "$F/curl_reset.jsonl"
    jq -c --arg h "$2" '.host = $h | .role = "server" | .local = "127.0.0.1:8080" | .peer = "127.0.0.1:40312"
        | .type = "close" | .prog = "server" | .errno = null | .cause = {"code": "none"}' "$F/curl_reset.jsonl"
}

@test "a loopback connection joins only within one host; the same addresses on two hosts are two connections" {
    pair_records web1 web1 >"$T/same.jsonl"
    run_bare "$RSTWATCH" report --json "$T/same.jsonl"
    [ "$(jq -r '.connections | length' <<<"$output")" = 1 ]
    pair_records web1 web2 >"$T/two.jsonl"
    run_bare "$RSTWATCH" report --json "$T/two.jsonl"
    [ "$(jq -r '.connections | length' <<<"$output")" = 0 ]
    # Records without a host (older shims) still join on one machine's logs.
    pair_records x x | jq -c 'del(.host)' >"$T/nohost.jsonl"
    run_bare "$RSTWATCH" report --json "$T/nohost.jsonl"
    [ "$(jq -r '.connections | length' <<<"$output")" = 1 ]
}

@test "lifetimes that do not overlap are different connections, even on the same addresses" {
    {
        jq -c '.host = "h"' "$F/curl_reset.jsonl"
        jq -c '.host = "h" | .role = "server" | .local = "127.0.0.1:8080" | .peer = "127.0.0.1:40312"
            | .type = "close" | .errno = null | .cause = {"code": "none"} | .time = "2026-11-23T07:00:00.000000Z"' \
            "$F/curl_reset.jsonl"
    } >"$T/apart.jsonl"
    run_bare "$RSTWATCH" report --json "$T/apart.jsonl"
    [ "$(jq -r '.connections | length' <<<"$output")" = 0 ]
}
