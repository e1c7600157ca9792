#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# export.bats: `rstwatch export --format chrome|html`: trace-event JSON that
# Perfetto/chrome://tracing load, and a self-contained HTML page checked both
# as text and as rendered by a real headless Chromium (tests/browser/).

load lib

setup() {
    rstwatch_setup
    need_cli
    F="$RSTWATCH_ROOT/tests/fixtures"
    RENDER="$RSTWATCH_ROOT/tests/browser/render.sh"
    PNGCHECK="$RSTWATCH_ROOT/tests/browser/pngcheck.py"
}

teardown() {
    rstwatch_teardown
}

export_() {
    run_bare "$RSTWATCH" export "$@"
}

# count PATTERN FILE: occurrences (not lines) of a fixed string.
count() {
    grep -oF -- "$1" "$2" | wc -l
}

need_chromium() {
    command -v chromium >/dev/null || command -v chromium-browser >/dev/null ||
        skip "chromium is not installed (scripts/install-deps.sh installs it)"
}

ALL_FIXTURES=(curl_reset idle_reuse refused merged retry unix)

all_fixtures() {
    local f
    for f in "${ALL_FIXTURES[@]}"; do printf '%s\n' "$F/$f.jsonl"; done
}

# --- chrome ---------------------------------------------------------------------

@test "chrome: a valid trace-event document with ms display unit" {
    export_ --format chrome "$F/curl_reset.jsonl"
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    jq -e '(.traceEvents | type == "array") and .displayTimeUnit == "ms"' <<<"$output"
    # Every event has the fields the trace viewers require.
    jq -e '[.traceEvents[] | has("name") and has("ph") and has("pid")] | all' <<<"$output"
    jq -e '[.traceEvents[] | select(.ph != "M") | (.ts | type) == "number" and has("tid")] | all' <<<"$output"
}

@test "chrome: pid is the process (named after prog), one track per connection named conn/fd/peer" {
    export_ --format chrome "$F/curl_reset.jsonl" "$F/merged.jsonl"
    [ "$status" -eq 0 ]
    [ "$(jq -r '.traceEvents[] | select(.ph == "M" and .name == "process_name" and .pid == 4242) | .args.name' <<<"$output")" = curl ]
    [ "$(jq -r '.traceEvents[] | select(.ph == "M" and .name == "thread_name" and .pid == 4242) | "\(.tid) \(.args.name)"' <<<"$output")" = \
      "7 conn 7 fd 5 → 127.0.0.1:8080" ]
    [ "$(jq -r '.traceEvents[] | select(.name == "thread_name" and .pid == 7001) | .args.name' <<<"$output")" = "conn 4 fd 3 → 192.168.1.1:80" ]
}

@test "chrome: events are complete slices; the failing call is a thread-scoped instant with the diagnosis" {
    export_ --format chrome "$F/curl_reset.jsonl"
    [ "$(jq -r '[.traceEvents[] | select(.ph == "X") | .name] | join(",")' <<<"$output")" = "connection,connect,send" ]
    fail="$(jq -c '.traceEvents[] | select(.ph == "i")' <<<"$output")"
    [ "$(jq -r '.name' <<<"$fail")" = ECONNRESET ]
    [ "$(jq -r '.s' <<<"$fail")" = t ]
    [ "$(jq -r '.args["cause.code"]' <<<"$fail")" = reset_before_response ]
    [ "$(jq -r '.args.errno_code' <<<"$fail")" = 104 ]
    [ "$(jq -r '.args.tcp.state' <<<"$fail")" = ESTABLISHED ]
    assert_contains "$(jq -r '.args["cause.hint"]' <<<"$fail")" "before sending any response byte"
}

@test "chrome: absolute time base = time - age_ms + t_ms, so processes line up" {
    export_ --format chrome "$F/curl_reset.jsonl"
    # 2026-11-23T05:31:02.123456Z in us, minus 1503.2 ms of age.
    t0=$(( $(date -u -d 2026-11-23T05:31:02Z +%s) * 1000000 + 123456 - 1503200 ))
    [ "$(jq -r '.traceEvents[] | select(.name == "connect") | .ts' <<<"$output")" = "$t0" ]
    [ "$(jq -r '.traceEvents[] | select(.name == "send") | .ts' <<<"$output")" = "$((t0 + 300))" ]
    [ "$(jq -r '.traceEvents[] | select(.ph == "i") | .ts' <<<"$output")" = "$((t0 + 1503200))" ]
    [ "$(jq -r '.traceEvents[] | select(.name == "connection") | .dur' <<<"$output")" = 1503200 ]
}

@test "chrome: a merged event spans its calls; retry and inject records become instants" {
    export_ --format chrome "$F/merged.jsonl" "$F/retry.jsonl"
    [ "$status" -eq 0 ]
    [ "$(jq -r '.traceEvents[] | select(.name == "read" and .args.n == 12) | .dur' <<<"$output")" = 235500 ]
    [ "$(jq -r '[.traceEvents[] | select(.name == "retry replay ok")] | length' <<<"$output")" = 2 ]
    [ "$(jq -r '.traceEvents[] | select(.name == "retry none refused") | .args.reason' <<<"$output")" = "POST without Idempotency-Key" ]
    [ "$(jq -r '.traceEvents[] | select(.name == "inject reset") | .s' <<<"$output")" = t ]
}

@test "chrome: -o writes the file; bad lines are reported and skipped, exit 1" {
    export_ --format chrome -o "$T/trace.json" "$F/bad/garbage.jsonl"
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    assert_contains "$stderr" "rstwatch: $F/bad/garbage.jsonl:2: not valid JSON"
    [ "$(jq -r '[.traceEvents[] | select(.ph == "i")] | length' "$T/trace.json")" = 2 ]
}

@test "usage errors exit 2: no --format, unknown format, unwritable -o" {
    export_ "$F/curl_reset.jsonl"
    [ "$status" -eq 2 ]
    assert_contains "$stderr" "--format chrome|html is required"
    export_ --format pdf "$F/curl_reset.jsonl"
    [ "$status" -eq 2 ]
    assert_contains "$stderr" "--format wants chrome or html (got 'pdf')"
    export_ --format html -o "$T/no/such/dir/x.html" "$F/curl_reset.jsonl"
    [ "$status" -eq 2 ]
    assert_contains "$stderr" "No such file or directory"
}

# --- html -----------------------------------------------------------------------

@test "html: one self-contained page: no scripts, no external fetches, a CSP that forbids them" {
    export_ --format html -o "$T/page.html" $(all_fixtures)
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    page="$(<"$T/page.html")"
    assert_contains "$page" "<!DOCTYPE html>"
    assert_contains "$page" "Content-Security-Policy\" content=\"default-src 'none'"
    refute_contains "$page" "<script"
    refute_contains "$page" "<link"
    refute_contains "$page" "src="
    refute_contains "$page" "url("
    # The only URL is the SVG namespace, which is never fetched.
    [ "$(grep -oE '(https?|ftp)://[^"]*' "$T/page.html" | sort -u)" = "http://www.w3.org/2000/svg" ]
}

@test "html: summary header, then per connection a timeline with axis, events and the failure in red" {
    export_ --format html -o "$T/page.html" $(all_fixtures)
    [ "$status" -eq 0 ]
    # 6 incidents (the retry file holds 1 incident + 3 retries + 1 inject).
    assert_contains "$(<"$T/page.html")" "<h1>rstwatch: 6 incidents</h1>"
    [ "$(count '<tr class="group">' "$T/page.html")" -eq 6 ]
    assert_contains "$(<"$T/page.html")" "retries: 2 replay ok (GET on a reused connection), 1 none refused (POST without Idempotency-Key)"
    [ "$(count '<g class="conn"' "$T/page.html")" -eq 6 ]
    [ "$(count '<g class="axis">' "$T/page.html")" -eq 6 ]
    [ "$(count 'class="event fail"' "$T/page.html")" -eq 6 ]
    assert_contains "$(<"$T/page.html")" '>0 ms</text>'
    assert_contains "$(<"$T/page.html")" '>1400 ms</text>'
    assert_contains "$(<"$T/page.html")" '>ECONNRESET (recv)</text>'
    assert_contains "$(<"$T/page.html")" '<g class="event merged" data-op="read">'
    assert_contains "$(<"$T/page.html")" '>read ×12</text>'
    assert_contains "$(<"$T/page.html")" '<dd class="cause-code">idle_reuse</dd>'
    assert_contains "$(<"$T/page.html")" '<dd class="prog">python3</dd>'
    assert_contains "$(<"$T/page.html")" '<dd class="pid">3100 (tid 3107)</dd>'
    assert_contains "$(<"$T/page.html")" '<dd class="tcp">CLOSE_WAIT rtt 812&#160;us'
}

@test "html: strings from the log are escaped: <script> in prog, hint and peer stays text" {
    export_ --format html -o "$T/xss.html" "$F/xss.jsonl"
    [ "$status" -eq 0 ]
    page="$(<"$T/xss.html")"
    refute_contains "$page" "<script"
    refute_contains "$page" "<img"
    refute_contains "$page" "<b>"
    assert_contains "$page" '<dd class="prog">&lt;script&gt;alert(1)&lt;/script&gt;</dd>'
    assert_contains "$page" "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt; &amp;"
    assert_contains "$page" '127.0.0.1:2&quot;&gt;&lt;img src=x onerror=alert(2)&gt;'
    assert_contains "$page" 'data-op="connect&lt;b&gt;"'
}

@test "html: an empty input still gives a valid page that says so" {
    export_ --format html "$F/bad/empty.jsonl"
    [ "$status" -eq 0 ]
    assert_contains "$output" "No incidents in these logs."
    assert_contains "$output" "</html>"
}

# --- a real browser ---------------------------------------------------------------

@test "browser: headless Chromium renders the page: 6 connection timelines, failure marks, hints" {
    need_chromium
    "$RSTWATCH" export --format html -o "$T/page.html" $(all_fixtures)
    run "$RENDER" dom "$T/page.html"
    [ "$status" -eq 0 ]
    dom="$output"
    [ "$(grep -o '<svg class="timeline"' <<<"$dom" | wc -l)" -eq 6 ]
    [ "$(grep -o '<g class="conn"' <<<"$dom" | wc -l)" -eq 6 ]
    [ "$(grep -o '<g class="event fail"' <<<"$dom" | wc -l)" -eq 6 ]
    [ "$(grep -o '<g class="tick">' <<<"$dom" | wc -l)" -ge 18 ]
    assert_contains "$dom" "The peer reset the connection after receiving the request"
    assert_contains "$dom" "ECONNREFUSED (connect)"
}

@test "browser: the injection fixture renders as text, no script runs (title unchanged)" {
    need_chromium
    "$RSTWATCH" export --format html -o "$T/xss.html" "$F/xss.jsonl"
    run "$RENDER" dom "$T/xss.html"
    [ "$status" -eq 0 ]
    assert_contains "$output" "<title>rstwatch report</title>"
    refute_contains "$output" "pwned</title>"
    refute_contains "$output" "<script>"
    refute_contains "$output" "<img"
    assert_contains "$output" "&lt;script&gt;alert(1)&lt;/script&gt;"
}

@test "browser: a 1200x900 screenshot is a real picture (valid PNG, many colours)" {
    need_chromium
    "$RSTWATCH" export --format html -o "$T/page.html" $(all_fixtures)
    run "$RENDER" screenshot "$T/page.html" "$T/page.png" 1200x900
    [ "$status" -eq 0 ]
    run python3 "$PNGCHECK" "$T/page.png" 1200 900 50
    echo "$output"
    [ "$status" -eq 0 ]
    # Keep a copy for humans when asked: RSTWATCH_KEEP_SCREENSHOT=DIR.
    if [ -n "${RSTWATCH_KEEP_SCREENSHOT:-}" ]; then cp "$T/page.png" "$RSTWATCH_KEEP_SCREENSHOT/"; fi
}

# --- real logs ----------------------------------------------------------------------

@test "real: a curl reset recorded by the shim exports to a loadable trace and an HTML timeline" {
    need_shim
    [ -x "$RESETD" ] || { echo "$RESETD is missing (run make check-helpers)" >&2; return 1; }
    command -v curl >/dev/null || skip "curl is not installed"
    need_preloadable curl
    start_server rst-after-request
    run_shim curl -s "http://127.0.0.1:$PORT/"
    [ "$(record_count)" -ge 1 ] || { echo "the shim wrote no record" >&2; false; }
    export_ --format chrome -o "$T/trace.json" "$LOG_DIR"
    [ "$status" -eq 0 ]
    jq -e '.displayTimeUnit == "ms"' "$T/trace.json"
    [ "$(jq -r '[.traceEvents[] | select(.ph == "i" and .name == "ECONNRESET")] | length' "$T/trace.json")" -ge 1 ]
    jq -e --arg p "127.0.0.1:$PORT" '[.traceEvents[] | select(.name == "thread_name") | .args.name | endswith($p)] | any' "$T/trace.json"
    export_ --format html -o "$T/page.html" "$LOG_DIR"
    [ "$status" -eq 0 ]
    [ "$(count '<g class="conn"' "$T/page.html")" -ge 1 ]
    assert_contains "$(<"$T/page.html")" "127.0.0.1:$PORT"
    if command -v chromium >/dev/null; then
        run "$RENDER" dom "$T/page.html"
        [ "$status" -eq 0 ]
        assert_contains "$output" '<g class="event fail"'
    fi
}

# --- scale: a busy day's log --------------------------------------------------------

# day_log N: N synthetic records of a busy day over 3 hosts (scripts/bench/gen_log.py),
# made once per file run.
day_log() {
    local f="${BATS_FILE_TMPDIR:-$T}/day-$1.jsonl"
    [ -s "$f" ] || python3 "$RSTWATCH_ROOT/scripts/bench/gen_log.py" --records "$1" --hosts 3 >"$f"
    echo "$f"
}

@test "html at 60000 records: at most 5 MB, the overview first, then some timelines and how many were left out" {
    log="$(day_log 60000)"
    export_ --format html -o "$T/day.html" "$log"
    [ "$status" -eq 0 ]
    assert_contains "$stderr" "rstwatch export: the page draws 200 timelines;"
    [ "$(stat -c %s "$T/day.html")" -le 5000000 ]
    page="$(<"$T/day.html")"
    # The first screen: summary, both charts, the top lists, before any timeline.
    head="${page%%<section class=\"incident*}"
    assert_contains "$head" '<section class="overview">'
    assert_contains "$head" 'Incidents over time by cause'
    assert_contains "$head" 'Incidents over time by service'
    assert_contains "$head" '<th>top peers</th>'
    assert_contains "$head" '<th>top programs</th>'
    assert_contains "$head" '<th>top hosts</th>'
    assert_contains "$head" '<th>host</th>'
    [ "$(grep -o 'class="bar"' <<<"$head" | wc -l)" -ge 24 ]
    [ "$(count '<section class="incident' "$T/day.html")" -eq 200 ]
    [[ "$page" =~ \<p\ class=\"left-out\"\>Timelines\ are\ drawn\ for\ the\ first\ 200\ incidents\;\ [0-9]+\ more ]]
    # The counts stay exact: the page's total is the report's.
    total="$(run_bare "$RSTWATCH" report --json "$log"; jq -r .summary.incidents <<<"$output")"
    assert_contains "$page" "<h1>rstwatch: $total incidents</h1>"
}

@test "chrome at 60000 records: capped in size, with a note (event and otherData) of how many were left out" {
    log="$(day_log 60000)"
    export_ --format chrome -o "$T/day.json" "$log"
    [ "$status" -eq 0 ]
    [ "$(stat -c %s "$T/day.json")" -le $((32 << 20)) ]
    assert_contains "$stderr" "more were left out (size cap)"
    jq -e '.otherData.records_left_out > 0 and .otherData.records + .otherData.records_left_out == 60000' "$T/day.json"
    [ "$(jq -r '[.traceEvents[] | select(.s == "g" and (.name | test("records left out")))] | length' "$T/day.json")" = 1 ]
}

@test "chrome: the same pid on two hosts is two processes, each named with its host" {
    { jq -c '.host = "web1"' "$F/curl_reset.jsonl"; jq -c '.host = "web2"' "$F/curl_reset.jsonl"; } >"$T/hosts.jsonl"
    export_ --format chrome "$T/hosts.jsonl"
    [ "$status" -eq 0 ]
    [ "$(jq -r '[.traceEvents[] | select(.name == "process_name") | "\(.pid)=\(.args.name)"] | join(" ")' <<<"$output")" = \
      "4242=curl on web1 10004242=curl on web2" ]
    [ "$(jq -r '[.traceEvents[] | select(.ph == "i") | .pid] | unique | length' <<<"$output")" = 2 ]
}

@test "GNU option forms: -ofile, --format=html, --output=file, options after the inputs" {
    export_ -o"$T/a.html" --format=html "$F/curl_reset.jsonl"
    [ "$status" -eq 0 ]
    assert_contains "$(<"$T/a.html")" "<!DOCTYPE html>"
    export_ "$F/curl_reset.jsonl" -fchrome --output="$T/b.json"
    [ "$status" -eq 0 ]
    jq -e '.displayTimeUnit == "ms"' "$T/b.json"
    export_ --format
    [ "$status" -eq 2 ]
    assert_contains "$stderr" "--format wants chrome or html"
}

# render_cost PAGE: renders PAGE's DOM into $T/dom.html and prints "WALL_MS CPU_MS"
# (CPU = user + system time of the browser's processes).
render_cost() {
    local TIMEFORMAT='%R %U %S' t
    t="$({ time "$RENDER" dom "$1" >"$T/dom.html" 2>/dev/null; } 2>&1)" || return 1
    awk '{ printf "%d %d\n", $1 * 1000, ($2 + $3) * 1000 }' <<<"$t"
}

@test "browser: the 60000-record page renders in headless Chromium within 3 s of an empty page" {
    need_chromium
    log="$(day_log 60000)"
    "$RSTWATCH" export --format html -o "$T/day.html" "$log" 2>/dev/null
    printf '<!DOCTYPE html><title>empty</title>\n' >"$T/empty.html"
    # Chromium's own start-up varies with the machine's load: compare with an empty page,
    # best of three each, interleaved. On a machine busier than its CPUs the wall clock
    # mostly measures waiting for a CPU; there the browser's CPU time is compared instead.
    local be=999999 bp=999999 ce=999999 cp=999999 w c i
    for i in 1 2 3; do
        read -r w c < <(render_cost "$T/empty.html")
        ((w < be)) && be=$w
        ((c < ce)) && ce=$c
        read -r w c < <(render_cost "$T/day.html")
        ((w < bp)) && bp=$w
        ((c < cp)) && cp=$c
        ((bp - be < 3000)) && break
    done
    local load cpus
    load="$(cut -d. -f1 /proc/loadavg)" cpus="$(nproc)"
    echo "render: page ${bp} ms (${cp} ms CPU), empty ${be} ms (${ce} ms CPU), load $load on $cpus CPUs" >&3
    [ "$(grep -o '<svg class="timeline"' "$T/dom.html" | wc -l)" -eq 200 ]
    [ "$(grep -o '<svg class="chart"' "$T/dom.html" | wc -l)" -eq 2 ]
    if ((bp - be >= 3000 && load > cpus)); then
        [ $((cp - ce)) -lt 3000 ]
    else
        [ $((bp - be)) -lt 3000 ]
    fi
}

@test "browser: both ends of one connection render as two lanes with the verdict" {
    need_chromium
    {
        jq -c '.host = "h"' "$F/curl_reset.jsonl"
        jq -c '.host = "h" | .role = "server" | .local = "127.0.0.1:8080" | .peer = "127.0.0.1:40312"
            | .type = "close" | .prog = "server" | .errno = null | .cause = {"code": "none"}
            | .events = [{"t_ms": 0, "op": "accept4", "ret": 9}, {"t_ms": 0.4, "op": "recv", "ret": 78},
                         {"t_ms": 1503.0, "op": "close", "ret": 0}]' "$F/curl_reset.jsonl"
    } >"$T/pair.jsonl"
    "$RSTWATCH" export --format html -o "$T/pair.html" "$T/pair.jsonl"
    run "$RENDER" dom "$T/pair.html"
    [ "$status" -eq 0 ]
    assert_contains "$output" '<g class="lane client">'
    assert_contains "$output" '<g class="lane server">'
    assert_contains "$output" '<p class="verdict">the server closed the connection at'
    run "$RENDER" screenshot "$T/pair.html" "$T/pair.png" 1200x900
    [ "$status" -eq 0 ]
    run python3 "$PNGCHECK" "$T/pair.png" 1200 900 50
    [ "$status" -eq 0 ]
}

@test "--since works for export too: older records are left out of the page and the trace" {
    export_ --format html --since 2026-11-23T06:00Z -o "$T/since.html" "$F/curl_reset.jsonl" "$F/idle_reuse.jsonl"
    [ "$status" -eq 0 ]
    assert_contains "$(<"$T/since.html")" "<h1>rstwatch: 1 incident</h1>"
    assert_contains "$(<"$T/since.html")" "10.0.8.20:443"
    refute_contains "$(<"$T/since.html")" "127.0.0.1:8080"
    export_ --format chrome --since=2026-11-23T06:00Z "$F/curl_reset.jsonl" "$F/idle_reuse.jsonl"
    [ "$status" -eq 0 ]
    [ "$(jq -r '[.traceEvents[] | select(.name == "process_name") | .args.name] | join(",")' <<<"$output")" = python3 ]
}

@test "an eof incident: the page marks its EOF read, the trace names the failure EOF" {
    jq -c '.type = "eof" | .errno = null | .events[-1] = {"t_ms": 1503.2, "op": "recv", "ret": 0}' \
        "$F/curl_reset.jsonl" >"$T/eof.jsonl"
    export_ --format html -o "$T/eof.html" "$T/eof.jsonl"
    [ "$status" -eq 0 ]
    assert_contains "$(<"$T/eof.html")" '>EOF (recv)</text>'
    [ "$(count 'class="event fail"' "$T/eof.html")" -eq 1 ]
    export_ --format chrome "$T/eof.jsonl"
    [ "$(jq -r '[.traceEvents[] | select(.ph == "i") | .name] | join(",")' <<<"$output")" = EOF ]
}

@test "html: a restart of a pool's connections and a shared timeout are listed as events in the header" {
    export_ --format html -o "$T/r.html" "$F/restart_joined.jsonl" "$F/timeouts.jsonl"
    [ "$status" -eq 0 ]
    assert_contains "$(<"$T/r.html")" '<li class="event restart"><b>server restart or reload, 3 connections</b>: 10.0.5.9:3306, closed within 3 ms of each other at 2026-11-24 09:00:10.001 (the server'"'"'s records)'
    assert_contains "$(<"$T/r.html")" '<li class="event timeout"><b>one timeout, 4 requests</b>: 10.0.6.2:8000, each given up 30.1 to 31.0 s after the request'
    # The events sit in the header, before the timelines.
    [ "$(grep -n 'class="events"' "$T/r.html" | cut -d: -f1)" -lt "$(grep -n '</header>' "$T/r.html" | cut -d: -f1)" ]
    export_ --format html -o "$T/one.html" "$F/curl_reset.jsonl"
    refute_contains "$(<"$T/one.html")" 'class="events"'
}
