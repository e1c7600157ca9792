#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# valgrind.sh: memcheck over a representative subset, as TAP: the shim inside
# real clients (blocking, non-blocking, epoll, threads, fork, dup, retry and
# replay, injection) and the CLI over real and malformed logs (report, export,
# metrics with its state file). A test passes
# when valgrind reports zero errors (--error-exitcode) whatever the client's
# own exit status.
set -u
cd "$(dirname "$0")/.."
B=${BUILD:-build}
T=$(mktemp -d /tmp/rstwatch-vg.XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$T"' EXIT

# --trace-children: the shim runs in the program env execs, not in env itself.
VG=(valgrind -q --trace-children=yes --error-exitcode=99 --leak-check=no --track-fds=no)

start() { # start NAME MODE [ARGS]: resetd in the background; sets port_NAME
    local name=$1 mode=$2
    shift 2
    "$B/helpers/resetd" --mode "$mode" --port 0 --port-file "$T/$name.port" "$@" >/dev/null 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do [ -s "$T/$name.port" ] && break; sleep 0.05; done
    printf -v "port_$name" '%s' "$(cat "$T/$name.port")"
}

n=0
check() { # check NAME CMD...: valgrind (with the shim where the command is a client)
    local name=$1
    shift
    n=$((n + 1))
    "${VG[@]}" "$@" >"$T/out" 2>&1 </dev/null
    if [ $? = 99 ]; then
        echo "not ok $n - valgrind: $name"
        sed 's/^/#   /' "$T/out" | head -40
    else
        echo "ok $n - valgrind: $name"
    fi
}

start rst rst-after-request
start stale stale-keepalive
start http http
start slowrst rst-after-request --delay-ms 300
shim=(env "LD_PRELOAD=$PWD/$B/librstwatch.so" "RSTWATCH_LOG=$T/logs/%p.jsonl")
echo "1..14"
check "blocking client, reset recorded" "${shim[@]}" "$B/helpers/client" 127.0.0.1 "$port_rst"
check "non-blocking client (poll)" "${shim[@]}" "$B/helpers/client" --nonblock 127.0.0.1 "$port_rst"
check "epoll client" "${shim[@]}" "$B/helpers/client" --epoll 127.0.0.1 "$port_rst"
check "4 threads x 25 connections" "${shim[@]}" "$B/helpers/client" --threads 4 --conns 25 127.0.0.1 "$port_rst"
check "fork child records" "${shim[@]}" "$B/helpers/client" --fork 127.0.0.1 "$port_rst"
check "dup'd fd" "${shim[@]}" "$B/helpers/client" --dup 127.0.0.1 "$port_rst"
check "idempotent replay on a stale keep-alive" "${shim[@]}" RSTWATCH_RETRY=idempotent \
    "$B/helpers/client" --requests 2 127.0.0.1 "$port_stale"
check "injected reset" "${shim[@]}" "RSTWATCH_INJECT=reset:port=$port_http,after=1" \
    "$B/helpers/client" --requests 3 127.0.0.1 "$port_http"
check "signal handler doing socket() + close(), retry on" "${shim[@]}" RSTWATCH_RETRY=idempotent \
    "$B/helpers/hostcases" sigalrm-socket 300
check "close while another thread is blocked in recv" "${shim[@]}" \
    "$B/helpers/hostcases" blocked-close "$port_slowrst" "$port_http"
check "write and writev as themselves" "${shim[@]}" "$B/helpers/seccomp_exec" --client 127.0.0.1 "$port_rst" writev
check "a write after our own shutdown (SIGPIPE held for the record)" "${shim[@]}" RSTWATCH_RECORD=errors \
    "$B/helpers/hostile_proc" sigpipe 127.0.0.1 "$port_http" handler write
check "a filter installed after load (prctl): no extra calls" "${shim[@]}" "$B/helpers/seccomp_exec" \
    --errno --api prctl --deny getsockname,getpeername --client 127.0.0.1 "$port_rst" write
check "rstwatch report over real and malformed logs" "$B/rstwatch" report "$T/logs" tests/fixtures
check "rstwatch export html" "$B/rstwatch" export --format html -o "$T/out.html" "$T"/logs/*.jsonl
check "rstwatch metrics, first run (state file written)" "$B/rstwatch" metrics -o "$T/m.prom" "$T/logs" tests/fixtures
check "rstwatch metrics, incremental run (state file read)" "$B/rstwatch" metrics -o "$T/m.prom" "$T/logs" tests/fixtures
