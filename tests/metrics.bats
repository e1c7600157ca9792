#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# metrics.bats: `rstwatch metrics` against the real thing: a private
# prometheus-node-exporter (textfile collector only) and a private Prometheus
# scraping it every second, both on loopback ports picked here with data in
# this file's temporary directory (the machine's own services, if any, are
# never touched). Real resets from curl, python and the C helpers against
# resetd; the counts Prometheus answers must be the counts `rstwatch report`
# gives. Then the incremental runs: logrotate's rename, compress and
# copytruncate, a flood of 20,000 aborts, the cap on label values, bad input,
# and the packaged rules and units.

load lib

FLOOD="$BUILD_DIR/helpers/flood"

setup_file() {
    P="$BATS_FILE_TMPDIR/prom"
    mkdir -p "$P/textfile" "$P/data"
    export P
    local ne=/usr/bin/prometheus-node-exporter prom=/usr/bin/prometheus
    [ -x "$ne" ] && [ -x "$prom" ] || {
        echo "prometheus and prometheus-node-exporter are needed (scripts/install-deps.sh)" >&2
        return 1
    }
    NE_PORT="$(free_port)"
    "$ne" --collector.disable-defaults --collector.textfile \
        --collector.textfile.directory="$P/textfile" \
        --web.listen-address="127.0.0.1:$NE_PORT" >"$P/node-exporter.log" 2>&1 </dev/null 3>&- &
    echo $! >"$P/node-exporter.pid"
    PROM_PORT="$(free_port)"
    cat >"$P/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ['127.0.0.1:$NE_PORT']
EOF
    "$prom" --config.file="$P/prometheus.yml" --storage.tsdb.path="$P/data" \
        --web.listen-address="127.0.0.1:$PROM_PORT" >"$P/prometheus.log" 2>&1 </dev/null 3>&- &
    echo $! >"$P/prometheus.pid"
    export NE_PORT PROM_PORT
    local i
    for ((i = 0; i < 300; i++)); do
        curl -sf "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null 2>&1 &&
            curl -sf "http://127.0.0.1:$NE_PORT/metrics" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "prometheus or node_exporter did not start:" >&2
    tail -5 "$P/prometheus.log" "$P/node-exporter.log" >&2
    return 1
}

teardown_file() {
    local f pid
    for f in "$P/prometheus.pid" "$P/node-exporter.pid"; do
        [ -f "$f" ] || continue
        pid="$(<"$f")"
        kill -TERM "$pid" 2>/dev/null || continue
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        kill -KILL "$pid" 2>/dev/null || true
    done
}

setup() {
    rstwatch_setup
    need_shim
    rm -f "$P/textfile/"*
}

teardown() {
    [ -z "${EXTRA_DIR:-}" ] || rm -rf "$EXTRA_DIR"
    rstwatch_teardown
}

# metrics ARGS...: runs rstwatch metrics; sets status, output, stderr.
metrics() {
    run_bare "$RSTWATCH" metrics "$@"
}

# promql QUERY: the result vector of an instant query, as compact JSON.
promql() {
    curl -sfG --data-urlencode "query=$1" "http://127.0.0.1:$PROM_PORT/api/v1/query" |
        jq -c '.data.result'
}

# scraped_after T: waits (at most 20 s) until Prometheus holds a scrape of
# node_exporter that started after time T (seconds since the epoch): from then
# on, queries see the textfile as it was written before T.
scraped_after() {
    local i ts
    for ((i = 0; i < 200; i++)); do
        ts="$(promql 'timestamp(node_textfile_scrape_error)' | jq -r '.[0].value[1] // 0')"
        if [ "$(jq -n --argjson a "$ts" --argjson b "$1" '$a > $b')" = true ]; then
            [ "$(promql node_textfile_scrape_error | jq -r '.[0].value[1]')" = 0 ] || {
                echo "node_exporter could not read the textfile:" >&2
                curl -s "http://127.0.0.1:$NE_PORT/metrics" | grep -i textfile >&2
                return 1
            }
            return 0
        fi
        sleep 0.1
    done
    echo "no scrape after $1 within 20 s" >&2
    return 1
}

# report_by_cause DIR: {cause: count} from rstwatch report --json over DIR.
report_by_cause() {
    "$RSTWATCH" report --json "$1" | jq -cS '[.groups[] | {cause, count}] | group_by(.cause)
        | map({(.[0].cause): (map(.count) | add)}) | add // {}'
}

# prom_total FILE [METRIC]: the sum of a metric's samples in a .prom file.
prom_total() {
    awk -v m="${2:-rstwatch_incidents_total}" \
        '$1 == m || index($1, m "{") == 1 { s += $NF } END { printf "%d\n", s }' "$1"
}

# IDLE_REUSE_PY PORT: python's http.client sends a 2nd request on a keep-alive
# connection that the server reset at its 2 s idle timeout, after 2.5 s idle (at
# least the shortest keep-alive timeout servers are known to use: idle_reuse).
IDLE_REUSE_PY='
import http.client, sys, time
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
c.request("GET", "/"); c.getresponse().read()
time.sleep(2.5)
try:
    c.request("GET", "/"); c.getresponse().read()
except (ConnectionError, http.client.HTTPException):
    pass'

@test "Prometheus, scraping node_exporter's textfile, has per cause the counts rstwatch report gives, rate-limited and server-side records included" {
    command -v curl >/dev/null || skip "curl is not installed"
    need_preloadable curl
    # reset_before_response x3 and refused x2: curl.
    start_server rst-after-request
    for i in 1 2 3; do run_shim curl -s "http://127.0.0.1:$PORT/"; assert_equal 56 "$status"; done
    start_server refuse
    for i in 1 2; do run_shim curl -s "http://127.0.0.1:$PORT/"; assert_equal 7 "$status"; done
    # idle_reuse: python reusing a connection the server dropped.
    start_server idle-close --delay-ms 2000
    run_shim python3 -c "$IDLE_REUSE_PY" "$PORT"
    # 150 resets under the shim's rate limit: a few records, the rest counted in
    # their "suppressed" fields and the summary written at exit.
    start_server rst-after-request
    RSTWATCH_RATE=burst=5,interval=1s run_shim python3 "$CLIENTS_PY" resets "$PORT" 150
    assert_equal 0 "$status"
    [ "$(jq_records '[.[] | select(.type == "summary")] | length')" -ge 1 ]
    [ "$(jq_records '[.[] | select(.type == "reset")] | length')" -lt 150 ]
    # client_abort on the server side: resetd under the shim, five clients that abort.
    RSTWATCH_LOG="$LOG_DIR/%p.jsonl" LD_PRELOAD="$SHIM_PRELOAD" "$RESETD" --mode silent \
        --port-file "$T/silent.port" --lifetime 60 >"$T/silent.out" 2>&1 </dev/null 3>&- &
    SERVER_PIDS+=("$!")
    wait_file "$T/silent.port"
    local sport
    sport="$(<"$T/silent.port")"
    for i in 1 2 3 4 5; do
        python3 -c '
import socket, struct, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET / HTTP/1.1\r\n")
time.sleep(0.05)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()' "$sport"
    done
    for ((i = 0; i < 100; i++)); do
        [ "$(jq_records '[.[] | select(.role == "server")] | length')" -ge 5 ] && break
        sleep 0.05
    done

    local want
    want="$(report_by_cause "$LOG_DIR")"
    [ "$(jq -r '.reset_before_response' <<<"$want")" = 153 ]
    [ "$(jq -r '.refused' <<<"$want")" = 2 ]
    [ "$(jq -r '.idle_reuse' <<<"$want")" = 1 ]
    [ "$(jq -r '.client_abort' <<<"$want")" = 5 ]

    metrics -o "$P/textfile/rstwatch.prom" --state "$T/metrics.state" "$LOG_DIR"
    assert_equal 0 "$status" "rstwatch metrics exit status"
    [ -z "$stderr" ] || { echo "$stderr" >&2; false; }
    local written
    written="$(date +%s.%N)"
    run promtool check metrics <"$P/textfile/rstwatch.prom"
    [ "$status" -eq 0 ] || { echo "$output" >&2; false; }
    # The server side counts under its listening address, never a client's port.
    grep -q "service=\"127.0.0.1:$sport\",side=\"server\",cause=\"client_abort\"" "$P/textfile/rstwatch.prom"
    [ "$(grep -c 'side="server"' "$P/textfile/rstwatch.prom")" = 1 ]

    scraped_after "$written"
    local got
    got="$(promql 'sum by (cause) (rstwatch_incidents_total)' |
        jq -cS 'map({(.metric.cause): (.value[1] | tonumber)}) | add // {}')"
    assert_equal "$want" "$got" "sum by (cause) (rstwatch_incidents_total) against report --json"
    # The rate limit's share is visible too: the records it left out.
    [ "$(promql 'sum(rstwatch_records_suppressed_total)' | jq -r '.[0].value[1]')" -ge 100 ]

    # Another run with nothing new: the same counts (nothing read twice).
    metrics -o "$P/textfile/rstwatch.prom" --state "$T/metrics.state" "$LOG_DIR"
    assert_equal 0 "$status"
    [ "$(prom_total "$P/textfile/rstwatch.prom")" = 161 ]
    [ "$(prom_total "$P/textfile/rstwatch.prom" rstwatch_log_read_bytes_total)" = "$(cat "$LOG_DIR"/*.jsonl | wc -c)" ]
}

# reset_to LOGFILE N: N resets by the C client against a rst-after-request
# resetd (PORT), recorded in LOGFILE.
reset_to() {
    local i
    for ((i = 0; i < $2; i++)); do
        RSTWATCH_LOG="$1" run_shim "$CLIENT" 127.0.0.1 "$PORT"
        assert_equal 1 "$status" "client exit status"
    done
}

# both_runs EXPECTED: rstwatch metrics over the log file (following its
# rotated siblings) and over its directory, each with its own state: both must
# count EXPECTED incidents, as report over the directory does.
both_runs() {
    metrics -o "$T/file.prom" "$R/app.jsonl"
    [ "$status" -eq 0 ] || { echo "file run: $status $stderr" >&2; false; }
    metrics -o "$T/dir.prom" "$R"
    [ "$status" -eq 0 ] || { echo "dir run: $status $stderr" >&2; false; }
    assert_equal "$1" "$("$RSTWATCH" report --json "$R" | jq '.summary.incidents')" "report over $R"
    assert_equal "$1" "$(prom_total "$T/file.prom")" "metrics over the file and its rotations"
    assert_equal "$1" "$(prom_total "$T/dir.prom")" "metrics over the directory"
}

@test "after logrotate (rename, delayed gzip, copytruncate) each run counts only what is new: no record twice, none lost" {
    command -v logrotate >/dev/null || { echo "logrotate is missing (scripts/install-deps.sh)" >&2; false; }
    R="$T/rot"
    mkdir -p "$R"
    start_server rst-after-request
    cat >"$T/rename.conf" <<EOF
$R/app.jsonl {
    rotate 5
    compress
    delaycompress
    create 0600
}
EOF
    cat >"$T/copytruncate.conf" <<EOF
$R/app.jsonl {
    rotate 5
    compress
    delaycompress
    copytruncate
}
EOF
    reset_to "$R/app.jsonl" 3
    both_runs 3
    reset_to "$R/app.jsonl" 2
    # rename: app.jsonl -> app.jsonl.1; the shim writes the next record to a new app.jsonl
    logrotate -f -s "$T/logrotate.state" "$T/rename.conf"
    [ -f "$R/app.jsonl.1" ] && [ ! -e "$R/app.jsonl.1.gz" ]
    reset_to "$R/app.jsonl" 1
    both_runs 6
    # Records written to the renamed file after the run (a process that had not
    # reopened yet) are counted on the next run.
    reset_to "$R/app.jsonl.1" 1
    both_runs 7
    # second rotation: app.jsonl.1 -> app.jsonl.2.gz (gzip), app.jsonl -> app.jsonl.1
    reset_to "$R/app.jsonl" 2
    logrotate -f -s "$T/logrotate.state" "$T/rename.conf"
    [ -f "$R/app.jsonl.2.gz" ] && [ -f "$R/app.jsonl.1" ]
    both_runs 9
    # copytruncate: app.jsonl copied to app.jsonl.1 and truncated in place
    reset_to "$R/app.jsonl" 2
    logrotate -f -s "$T/logrotate.state" "$T/copytruncate.conf"
    [ -f "$R/app.jsonl.3.gz" ] && [ -f "$R/app.jsonl.2.gz" ] && [ -f "$R/app.jsonl.1" ]
    [ ! -s "$R/app.jsonl" ]
    reset_to "$R/app.jsonl" 1
    both_runs 12
    # And once more with nothing new.
    both_runs 12
    # Every counted byte was read once, in whichever copy: the bytes read add up
    # to the logs' decompressed size.
    local bytes
    bytes="$(for f in "$R"/*; do gzip -dcf "$f"; done | wc -c)"
    assert_equal "$bytes" "$(prom_total "$T/dir.prom" rstwatch_log_read_bytes_total)" "bytes read, directory run"
}

@test "a flood of 20,000 aborts under the default rate limit: exact totals, one service, a handful of series" {
    unset RSTWATCH_RATE
    rm -f "$T/flood.port"
    env LD_PRELOAD="$SHIM_PRELOAD" "$FLOOD" serve "$T/flood.port" 20000 >"$T/flood.out" 2>"$T/flood.err" 3>&- &
    local pid=$!
    wait_file "$T/flood.port"
    local port
    port="$(<"$T/flood.port")"
    "$FLOOD" abort "$port" 20000
    wait "$pid"
    [[ "$(<"$T/flood.out")" == "conns=20000 resets=20000 "* ]] || { cat "$T/flood.out" >&2; false; }
    # The shim wrote far fewer than 20,000 lines (the rate limit), yet counted all.
    [ "$(record_count)" -lt 2000 ]
    assert_equal 20000 "$("$RSTWATCH" report --json "$LOG_DIR" | jq '.summary.incidents')" "report"

    metrics -o "$P/textfile/rstwatch.prom" --state "$T/state" "$LOG_DIR"
    assert_equal 0 "$status"
    local written
    written="$(date +%s.%N)"
    local prom="$P/textfile/rstwatch.prom"
    assert_equal 20000 "$(prom_total "$prom")" "rstwatch_incidents_total"
    run promtool check metrics <"$prom"
    [ "$status" -eq 0 ] || { echo "$output" >&2; false; }
    # One service (the listener), whatever the 20,000 client ports were; at most
    # two errnos (the records' ECONNRESET, "unknown" for what only the summary counted).
    [ "$(grep '^rstwatch_incidents_total' "$prom" | grep -o 'service="[^"]*"' | sort -u)" = "service=\"127.0.0.1:$port\"" ]
    [ "$(grep -c '^rstwatch_incidents_total' "$prom")" -le 2 ]
    [ "$(grep -c '^rstwatch_' "$prom")" -le 12 ]
    scraped_after "$written"
    assert_equal 20000 "$(promql 'sum(rstwatch_incidents_total)' | jq -r '.[0].value[1]')" "Prometheus's sum"
    [ "$(promql 'count(rstwatch_incidents_total)' | jq -r '.[0].value[1]')" -le 2 ]
}

# services_log FIRST LAST: one client reset record per service 10.0.0.N:80.
services_log() {
    local i
    for ((i = $1; i <= $2; i++)); do
        jq -c --arg p "10.0.0.$i:80" --argjson c "$i" '.peer = $p | .conn = $c' "$RSTWATCH_ROOT/tests/fixtures/curl_reset.jsonl"
    done
}

@test "--max-values caps the distinct services: later ones are counted as other, admitted ones keep their series across runs" {
    services_log 1 30 >"$T/a.jsonl"
    metrics --max-values 10 -o "$T/m.prom" "$T/a.jsonl"
    assert_equal 0 "$status"
    assert_equal 30 "$(prom_total "$T/m.prom")" "total"
    assert_equal 11 "$(grep -c '^rstwatch_incidents_total' "$T/m.prom")" "series: 10 services and other"
    grep -q 'service="other",.* 20$' "$T/m.prom"
    # Later: services 1..5 again and 40..45 (new): the first ten keep their own series.
    services_log 1 5 >>"$T/a.jsonl"
    services_log 40 45 >>"$T/a.jsonl"
    metrics --max-values 10 -o "$T/m.prom" "$T/a.jsonl"
    assert_equal 41 "$(prom_total "$T/m.prom")" "total"
    grep -q 'service="10.0.0.1:80",.* 2$' "$T/m.prom"
    grep -q 'service="other",.* 26$' "$T/m.prom"
    ! grep -q 'service="10.0.0.4[0-5]:80"' "$T/m.prom"
    run promtool check metrics <"$T/m.prom"
    [ "$status" -eq 0 ] || { echo "$output" >&2; false; }
}

@test "a torn last line is left for later with one warning, then counted once when complete" {
    local F="$RSTWATCH_ROOT/tests/fixtures/curl_reset.jsonl"
    cp "$F" "$T/a.jsonl"
    head -c 100 "$F" >>"$T/a.jsonl"
    metrics -o "$T/m.prom" "$T/a.jsonl"
    assert_equal 0 "$status"
    assert_equal 1 "$(prom_total "$T/m.prom")"
    assert_equal 1 "$(grep -c '^rstwatch: ' <<<"$stderr")" "warnings"
    assert_contains "$stderr" "a.jsonl:2: the last line has no newline"
    # Still torn: no second warning.
    metrics -o "$T/m.prom" "$T/a.jsonl"
    [ -z "$stderr" ] || { echo "$stderr" >&2; false; }
    # The writer finishes the line: it is counted, once.
    tail -c +101 "$F" >>"$T/a.jsonl"
    metrics -o "$T/m.prom" "$T/a.jsonl"
    assert_equal 0 "$status"
    [ -z "$stderr" ]
    assert_equal 2 "$(prom_total "$T/m.prom")"
    assert_equal "$(wc -c <"$T/a.jsonl")" "$(prom_total "$T/m.prom" rstwatch_log_read_bytes_total)"
    # Broken lines later in the file are reported and counted as bad, even when the first line
    # this run reads does not look like a record (the file's first line says what it is).
    echo 'not a record' >>"$T/a.jsonl"
    echo '{"v":1,"type":"reset","time":' >>"$T/a.jsonl"
    metrics -o "$T/m.prom" "$T/a.jsonl"
    assert_equal 1 "$status" "exit status with bad lines"
    assert_equal 2 "$(grep -c '^rstwatch: .*a.jsonl:[34]: ' <<<"$stderr")" "bad lines reported"
    assert_equal 2 "$(prom_total "$T/m.prom" rstwatch_log_bad_lines_total)"
}

@test "a corrupt state file: one warning, set aside, and a fresh count of the logs (never added to the old one)" {
    services_log 1 4 >"$T/a.jsonl"
    metrics -o "$T/m.prom" "$T/a.jsonl"
    assert_equal 4 "$(prom_total "$T/m.prom")"
    for garbage in 'not json' '{"rstwatch_metrics_state":1,"files":[{"path":' ''; do
        printf '%s' "$garbage" >"$T/m.prom.state"
        metrics -o "$T/m.prom" "$T/a.jsonl"
        assert_equal 1 "$status" "exit status with a corrupt state"
        assert_equal 1 "$(grep -c '^rstwatch: ' <<<"$stderr")" "warnings"
        assert_contains "$stderr" "m.prom.state: unusable metrics state"
        assert_equal "$garbage" "$(cat "$T/m.prom.state.corrupt")" "the corrupt state, kept"
        assert_equal 4 "$(prom_total "$T/m.prom")" "a fresh count"
        # The next run is back to normal.
        metrics -o "$T/m.prom" "$T/a.jsonl"
        assert_equal 0 "$status"
        assert_equal 4 "$(prom_total "$T/m.prom")"
    done
}

@test "an unreadable log: one warning, exit 2, the others counted, and it is read once it can be" {
    [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null || skip "needs root and setpriv to switch users"
    # Outside the test's directory, which only root may enter.
    local d
    d="$(mktemp -d /tmp/rstwatch-metrics-test.XXXXXX)"
    EXTRA_DIR="$d"
    mkdir -p "$d/logs"
    services_log 1 2 >"$d/logs/a.jsonl"
    services_log 3 5 >"$d/logs/b.jsonl"
    chmod 0600 "$d/logs/b.jsonl"
    chmod 0777 "$d"
    chmod 0755 "$d/logs"
    chmod 0644 "$d/logs/a.jsonl"
    local as_nobody=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
    run "${as_nobody[@]}" "$RSTWATCH" metrics -o "$d/m.prom" "$d/logs"
    assert_equal 2 "$status" "exit status"
    assert_equal 1 "$(grep -c '^rstwatch: ' <<<"$output")" "warnings"
    assert_contains "$output" "b.jsonl: Permission denied"
    assert_equal 2 "$(prom_total "$d/m.prom")" "the readable log, counted"
    chmod 0644 "$d/logs/b.jsonl"
    run "${as_nobody[@]}" "$RSTWATCH" metrics -o "$d/m.prom" "$d/logs"
    assert_equal 0 "$status"
    assert_equal 5 "$(prom_total "$d/m.prom")" "both, each once"
}

@test "the output is replaced atomically, readable by node_exporter's user, and a second run waits for no one" {
    services_log 1 3 >"$T/a.jsonl"
    metrics -o "$T/out.prom" "$T/a.jsonl"
    assert_equal 0 "$status"
    assert_equal 644 "$(stat -c %a "$T/out.prom")"
    # Only the output, its state and the lock: no temporary file left behind.
    assert_equal "a.jsonl out.prom out.prom.state out.prom.state.lock" "$(cd "$T" && ls -d a.jsonl out.prom* | tr '\n' ' ' | sed 's/ $//')"
    # A run that finds another one holding the state does nothing and says so.
    exec 8>"$T/out.prom.state.lock"
    flock 8
    metrics -o "$T/out.prom" "$T/a.jsonl"
    exec 8>&-
    assert_equal 2 "$status"
    assert_contains "$stderr" "another run holds it"
    # Without -o and --state: the whole logs, on stdout, nothing kept.
    metrics "$T/a.jsonl"
    assert_equal 0 "$status"
    assert_contains "$output" "# TYPE rstwatch_incidents_total counter"
    assert_equal 3 "$(prom_total <(printf '%s\n' "$output"))"
    # stdin cannot be read incrementally.
    run bash -c '"$1" metrics --state "$2/s" - <"$3"' _ "$RSTWATCH" "$T" "$T/a.jsonl"
    assert_equal 2 "$status"
    metrics --max-values 0 "$T/a.jsonl"
    assert_equal 2 "$status"
    assert_contains "$stderr" "--max-values wants a number"
}

@test "the rules file passes promtool check rules, and promtool test rules: the alerts fire on a spike and a timeout mismatch, not on a trickle" {
    run promtool check rules "$RSTWATCH_ROOT/examples/prometheus/rstwatch.rules.yml"
    [ "$status" -eq 0 ] || { echo "$output" >&2; false; }
    assert_contains "$output" "SUCCESS: 7 rules found"
    run promtool test rules "$RSTWATCH_ROOT/tests/prometheus/rules_test.yml"
    [ "$status" -eq 0 ] || { echo "$output" >&2; false; }
    # The test can fail: a rules file whose spike alert never fires is caught.
    sed 's/> 0.05$/> 1000/' "$RSTWATCH_ROOT/examples/prometheus/rstwatch.rules.yml" >"$T/broken.rules.yml"
    sed "s|../../examples/prometheus/rstwatch.rules.yml|$T/broken.rules.yml|" \
        "$RSTWATCH_ROOT/tests/prometheus/rules_test.yml" >"$T/rules_test.yml"
    run promtool test rules "$T/rules_test.yml"
    [ "$status" -ne 0 ]
    assert_contains "$output" "RstwatchResetRateSpike"
}

@test "the timer and its service pass systemd-analyze verify: every minute, writing into node_exporter's textfile directory" {
    command -v systemd-analyze >/dev/null || skip "systemd-analyze not installed (package systemd)"
    local u="$T/units" ex="$RSTWATCH_ROOT/examples/systemd"
    mkdir -p "$u"
    cp "$ex/rstwatch-metrics.service" "$ex/rstwatch-metrics.timer" "$u/"
    # The service runs the installed /usr/bin/rstwatch; here, this build's.
    sed -i "s|/usr/bin/rstwatch|$RSTWATCH|" "$u/rstwatch-metrics.service"
    # verify runs man for Documentation=, and rstwatch(1) is not installed here.
    sed -i '/^Documentation=man:rstwatch(1)$/d' "$u/rstwatch-metrics.service" "$u/rstwatch-metrics.timer"
    run env SYSTEMD_UNIT_PATH="$u:" timeout 60 systemd-analyze verify "$u/rstwatch-metrics.timer" "$u/rstwatch-metrics.service"
    if [[ "$output" == *"Failed to"*"bus"* || "$output" == *"No such file or directory"*"/run/systemd"* ]]; then
        skip "systemd-analyze cannot run in this container: $output"
    fi
    [ "$status" -eq 0 ] || { echo "$output" >&2; false; }
    grep -qx 'OnCalendar=minutely' "$ex/rstwatch-metrics.timer"
    grep -q '^ExecStart=/usr/bin/rstwatch metrics .*-o /var/lib/prometheus/node-exporter/rstwatch.prom' "$ex/rstwatch-metrics.service"
    # The Debian package installs both, disabled and not started.
    [ "$(readlink "$RSTWATCH_ROOT/debian/rstwatch.rstwatch-metrics.timer")" = ../examples/systemd/rstwatch-metrics.timer ]
    grep -q 'dh_installsystemd --name=rstwatch-metrics --no-enable --no-start' "$RSTWATCH_ROOT/debian/rules"
}

@test "metrics --help names every option; the completion offers them" {
    metrics --help
    assert_equal 0 "$status"
    for o in -o --output --state --max-values; do assert_contains "$output" "$o"; done
    run_bare "$RSTWATCH" --help
    assert_contains "$output" "rstwatch metrics [-o FILE.prom]"
    [ -f /usr/share/bash-completion/bash_completion ] || { echo "bash-completion is missing" >&2; false; }
    run bash -c 'source /usr/share/bash-completion/bash_completion; source "$1"
        COMP_WORDS=(rstwatch metrics --); COMP_CWORD=2; COMP_LINE="rstwatch metrics --"
        COMP_POINT=${#COMP_LINE}; _rstwatch rstwatch -- metrics; printf "%s\n" "${COMPREPLY[@]}"' _ "$RSTWATCH_ROOT/completion/rstwatch.bash"
    for o in --output --state --max-values --help; do assert_contains "$output" "$o"; done
}
