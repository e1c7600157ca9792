#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# demo.sh: a reset, recorded and explained, in a few seconds.
# Starts the project's resetting server on a free loopback port, runs curl
# against it under `rstwatch run`, then shows the record and the report.
# RSTWATCH_BIN=/usr/bin/rstwatch runs an installed copy instead of the build's.
set -u
cd "$(dirname "$0")/.."
B=${BUILD:-build}
RW=${RSTWATCH_BIN:-$B/rstwatch}
work=$(mktemp -d /tmp/rstwatch-demo.XXXXXX)
server_pid=
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; wait 2>/dev/null; }
trap cleanup EXIT

"$B/helpers/resetd" --mode rst-after-request --delay-ms 300 --port 0 --port-file "$work/port" >/dev/null 2>&1 &
server_pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
port=$(cat "$work/port" 2>/dev/null) || { echo "demo: the test server did not start" >&2; exit 1; }

bold=; off=
[ -t 1 ] && [ -z "${NO_COLOR:-}" ] && bold=$'\e[1m' off=$'\e[0m'
echo "${bold}1. A server on 127.0.0.1:$port reads each request, waits 300 ms, then resets the connection.${off}"
echo "${bold}2. curl, under rstwatch:${off} rstwatch run --log $work/%p.jsonl -- curl -sS http://127.0.0.1:$port/"
echo
"$RW" run --log "$work/%p.jsonl" -- curl -sS "http://127.0.0.1:$port/api/orders"
echo "   (curl exited with status $?, exactly as it does without rstwatch)"
echo
echo "${bold}3. The record rstwatch wrote (one JSON line; shown pretty by rstwatch cat):${off}"
"$RW" cat "$work"/*.jsonl
echo
echo "${bold}4. rstwatch report $work${off}"
"$RW" report "$work"
if "$RW" export --format html -o "$work/timeline.html" "$work"/*.jsonl 2>/dev/null; then
  echo
  echo "${bold}5. The timeline as a picture:${off} $work/timeline.html"
  "$RW" export --format chrome -o "$work/trace.json" "$work"/*.jsonl 2>/dev/null &&
    echo "   and as a Chrome/Perfetto trace: $work/trace.json (open in https://ui.perfetto.dev)"
fi
