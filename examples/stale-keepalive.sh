#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# stale-keepalive.sh: the classic "connection reset by peer" of a reused
# keep-alive connection, diagnosed and then survived.
#
# A server answers the first request on each connection and resets the
# connection when the second one arrives (what a server or load balancer that
# timed the idle connection out does). A python http.client program sends
# GET, GET on one connection:
#   1. bare: ConnectionResetError;
#   2. under rstwatch: the same error, and a record explaining it;
#   3. under rstwatch --retry idempotent: both GETs succeed (the second is
#      replayed on a fresh connection), and a retry record says so.
# Run from the repository after `make`: examples/stale-keepalive.sh
set -u
cd "$(dirname "$0")/.."
B=${BUILD:-build}
work=$(mktemp -d /tmp/rstwatch-example.XXXXXX)
"$B/helpers/resetd" --mode stale-keepalive --port 0 --port-file "$work/port" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null' EXIT
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
port=$(cat "$work/port")
client=(python3 -c "
import http.client
c = http.client.HTTPConnection('127.0.0.1', $port)
for path in ('/first', '/second'):
    c.request('GET', path)
    r = c.getresponse()
    print(path, r.status, r.read().decode().strip())
")
echo "== 1. bare"
"${client[@]}" 2>&1 | tail -1
echo "== 2. under rstwatch"
"$B/rstwatch" run --log "$work/diag/%p.jsonl" -- "${client[@]}" 2>&1 | tail -2
"$B/rstwatch" report "$work/diag" | sed -n '1,6p'
echo "== 3. under rstwatch --retry idempotent"
"$B/rstwatch" run --retry idempotent --log "$work/retry/%p.jsonl" -- "${client[@]}"
"$B/rstwatch" report "$work/retry" | grep -E "retries|replay" | head -3
