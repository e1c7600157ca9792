#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# screenshot.sh: the picture of one incident in README.md, made from a real
# recorded reset. A python http.client program reuses a keep-alive connection
# that the server closed while it was idle (the server's idle timeout is 2 s,
# gunicorn's default; the client waits 2.5 s): both programs run under `rstwatch run`, so the
# page shows both ends of the connection. `rstwatch export --format html`
# writes the page, a headless Chromium renders it (tests/browser/render.sh),
# and tests/browser/pngcheck.py checks the picture. `make screenshot` runs it.
#
#   scripts/screenshot.sh [OUT.png]     default: docs/img/incident.png
#
# Needs a build (make all check-helpers; BUILD selects it), python3 and
# chromium. SIZE (default 1000x1000) is the window. KEEP=1 keeps the work
# directory (records and page) and prints its path.
set -u
cd "$(dirname "$0")/.."
B=${BUILD:-build}
out=${1:-docs/img/incident.png}
size=${SIZE:-1000x1000}
for f in "$B/rstwatch" "$B/helpers/resetd"; do
    [ -x "$f" ] || { echo "screenshot.sh: $f is missing (run make all check-helpers)" >&2; exit 1; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/rstwatch-screenshot.XXXXXX")
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    if [ "${KEEP:-0}" = 1 ]; then echo "screenshot.sh: work directory $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

# The server records every connection it closes (--record all), so its side
# of the stale connection is on the page too.
"$B/rstwatch" run --record all --log "$work/logs/server-%p.jsonl" -- \
    "$B/helpers/resetd" --mode idle-fin --delay-ms 2000 --port 0 --port-file "$work/port" \
    >/dev/null 2>"$work/server.err" &
server_pid=$!
for _ in $(seq 200); do [ -s "$work/port" ] && break; sleep 0.05; done
port=$(cat "$work/port" 2>/dev/null) || { echo "screenshot.sh: the server did not start" >&2; cat "$work/server.err" >&2; exit 1; }

# The client: GET, 2.5 s idle, GET again on the same connection. The second
# request meets the server's FIN: http.client raises RemoteDisconnected.
"$B/rstwatch" run --log "$work/logs/client-%p.jsonl" -- python3 -c "
import http.client, time
c = http.client.HTTPConnection('127.0.0.1', $port)
c.request('GET', '/api/orders'); c.getresponse().read()
time.sleep(2.5)
c.request('GET', '/api/orders'); c.getresponse().read()
" >/dev/null 2>"$work/client.err" && { echo "screenshot.sh: the client's second request did not fail" >&2; exit 1; }
kill "$server_pid" && wait "$server_pid" 2>/dev/null
server_pid=

ls "$work"/logs/client-*.jsonl >/dev/null 2>&1 || { echo "screenshot.sh: the client wrote no record" >&2; cat "$work/client.err" >&2; exit 1; }
# README's caption names the cause: say so when the diagnosis changes.
grep -q '"cause":{"code":"idle_reuse"' "$work"/logs/client-*.jsonl ||
    { echo "screenshot.sh: the client's record is not idle_reuse (README's caption says it is):" >&2; cat "$work"/logs/client-*.jsonl >&2; exit 1; }
"$B/rstwatch" export --format html -o "$work/incident.html" "$work/logs" || exit 1
grep -q 'class="verdict"' "$work/incident.html" ||
    { echo "screenshot.sh: the page joins no two ends of a connection (no verdict)" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
# The picture is of the incident: the page as exported, with its overview
# (the charts over time, empty-looking for one incident) hidden by one CSS rule.
sed 's|</style>|section.overview{display:none}</style>|' "$work/incident.html" >"$work/shot.html"
grep -q 'section.overview{display:none}' "$work/shot.html" || { echo "screenshot.sh: the page has no <style>" >&2; exit 1; }
tests/browser/render.sh screenshot "$work/shot.html" "$work/incident.png" "$size" || exit 1
python3 tests/browser/pngcheck.py "$work/incident.png" "${size%x*}" "${size#*x}" 50 >/dev/null || exit 1
mv "$work/incident.png" "$out"
echo "$out: $size, from $(cat "$work"/logs/*.jsonl | wc -l) records"
