#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# report.bats: `rstwatch report` over fixture logs (tests/fixtures), malformed
# logs, big logs, and real logs produced by the shim against resetd.

load lib

setup() {
    rstwatch_setup
    need_cli
    F="$RSTWATCH_ROOT/tests/fixtures"
}

teardown() {
    rstwatch_teardown
}

# report ARGS...: runs rstwatch report; sets status, output (stdout), stderr.
report() {
    run_bare "$RSTWATCH" report "$@"
}

# now_iso [OFFSET_SECONDS]: an RFC 3339 UTC timestamp, now minus OFFSET_SECONDS.
now_iso() {
    date -u -d "@$(($(date +%s) - ${1:-0}))" +%Y-%m-%dT%H:%M:%S.000000Z
}

@test "a curl reset before the response: summary row, timeline ending in the failing recv, cause and hint" {
    report "$F/curl_reset.jsonl"
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    assert_contains "$output" "1 incident in 1 group, from 1 record in 1 file"
    # Summary: peer x cause with count, errno, program, first/last seen.
    [[ "$output" =~ \ +1\ +127\.0\.0\.1:8080\ +client\ +reset_before_response\ +ECONNRESET\ +curl\ +2026-11-23\ 05:31:02 ]]
    # The incident: who, which connection, what failed and when.
    assert_contains "$output" "curl[4242]"
    assert_contains "$output" "conn 7  fd 5  client inet  127.0.0.1:40312 → 127.0.0.1:8080"
    assert_contains "$output" "recv failed: ECONNRESET (104)  age 1503.2 ms (1.5 s), idle 1500.1 ms (1.5 s)"
    # Timeline: relative times, ops, byte counts; the failing call is marked.
    [[ "$output" =~ 0\.000\ ms\ +connect\ +ok ]]
    [[ "$output" =~ 0\.300\ ms\ +send\ +78\ B ]]
    [[ "$output" =~ ✗\ +1503\.200\ ms\ +recv\ +-1\ ECONNRESET ]]
    assert_contains "$output" "tcp       ESTABLISHED  rtt 41 us ±20  retrans 0  total_retrans 0  unacked 1  lost 0"
    assert_contains "$output" "cause     reset_before_response"
    assert_contains "$output" "hint      The peer reset the connection after receiving the request"
}

@test "an idle keep-alive reuse shows idle 65 s, the reused connection and the EOF that preceded it" {
    report "$F/idle_reuse.jsonl"
    [ "$status" -eq 0 ]
    assert_contains "$output" "send failed: EPIPE (32)  age 65712.4 ms (65.7 s), idle 65000.0 ms (65.0 s)"
    assert_contains "$output" "reused (kept-alive) connection"
    assert_contains "$output" "0 B (end of stream: peer sent FIN)"
    assert_contains "$output" "tid 3107"
    assert_contains "$output" "cause     idle_reuse"
    # Only the last errno-carrying event is the failing call, not the earlier EAGAIN.
    [[ "$output" =~ \ \ \ +35\.400\ ms\ +recv\ +-1\ EAGAIN ]]
    [[ "$output" =~ ✗\ +65712\.400\ ms\ +send\ +-1\ EPIPE ]]
}

@test "a refused connect over IPv6 has no TCP snapshot and says so" {
    report "$F/refused.jsonl"
    [ "$status" -eq 0 ]
    [[ "$output" =~ \[::1\]:9\ +client\ +refused\ +ECONNREFUSED ]]
    assert_contains "$output" "connect failed: ECONNREFUSED (111)"
    assert_contains "$output" "tcp       no snapshot"
    [[ "$output" =~ socket\ +fd\ 5 ]]
}

@test "merged events are shown as ×n and dropped events are mentioned" {
    report "$F/merged.jsonl"
    [ "$status" -eq 0 ]
    [[ "$output" =~ 2\.000\ ms\ +read\ ×12\ +60000\ B ]]
    assert_contains "$output" "(5 earlier events not kept by the shim)"
    assert_contains "$output" "retrans 1  total_retrans 3"
}

@test "retry and inject records are summarised separately, not as incidents" {
    report "$F/retry.jsonl"
    [ "$status" -eq 0 ]
    assert_contains "$output" "1 incident in 1 group, from 5 records"
    assert_contains "$output" "retries: 2 replay ok (GET on a reused connection), 1 none refused (POST without Idempotency-Key)"
    assert_contains "$output" "injected faults: 1 reset"
    assert_contains "$output" "Incident 1/1"
    refute_contains "$output" "Incident 2/"
}

@test "a client's incidents are grouped by the service it called x cause with counts, first and last seen" {
    cp "$F/curl_reset.jsonl" "$T/a.jsonl"
    sed 's/05:31:02.123456Z/05:40:00.000000Z/; s/"conn":7/"conn":8/' "$F/curl_reset.jsonl" >"$T/b.jsonl"
    report "$T/a.jsonl" "$T/b.jsonl" "$F/idle_reuse.jsonl"
    [ "$status" -eq 0 ]
    assert_contains "$output" "3 incidents in 2 groups, from 3 records in 3 files"
    # The biggest group first, spanning both records.
    [[ "$output" =~ COUNT.*SERVICE.*SIDE.*CAUSE.*ERRNO.*PROGRAMS.*FIRST\ SEEN.*LAST\ SEEN ]]
    row="$(grep -m1 '127.0.0.1:8080 .*reset_before_response' <<<"$output")"
    [[ "$row" =~ ^\ +2\ +127\.0\.0\.1:8080.*2026-11-23\ 05:31:02\ +2026-11-23\ 05:40:00$ ]]
    # Timelines come oldest first.
    [ "$(grep -c '^Incident' <<<"$output")" -eq 3 ]
    [[ "$(grep -m1 '^Incident 1/3' <<<"$output")" == *"05:31:02"* ]]
}

@test "a directory argument reads the files inside it; files without records are skipped silently" {
    report "$F/logs"
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    assert_contains "$output" "3 incidents in 3 groups, from 3 records in 2 files"
    assert_contains "$output" "reset_mid_stream"
}

@test "- reads the log from stdin" {
    run bash -c '"$1" report - <"$2"' _ "$RSTWATCH" "$F/refused.jsonl"
    [ "$status" -eq 0 ]
    assert_contains "$output" "[::1]:9"
    assert_contains "$output" "from 1 record in 1 file"
}

@test "--json prints the same aggregation as one JSON document" {
    report --json "$F/curl_reset.jsonl" "$F/retry.jsonl" "$F/merged.jsonl"
    [ "$status" -eq 0 ]
    jq -e . <<<"$output" >/dev/null
    [ "$(jq -r '.summary.records' <<<"$output")" = 7 ]
    [ "$(jq -r '.summary.incidents' <<<"$output")" = 3 ]
    [ "$(jq -r '.groups | length' <<<"$output")" = 3 ]
    [ "$(jq -r '.groups[] | select(.cause == "reset_before_response") | "\(.peer) \(.count) \(.programs[0]) \(.errnos[0]) \(.first_seen)"' <<<"$output")" = \
      "127.0.0.1:8080 1 curl ECONNRESET 2026-11-23T05:31:02.123456Z" ]
    [ "$(jq -r '.retries | map("\(.count) \(.action) \(.outcome)") | join(", ")' <<<"$output")" = "2 replay ok, 1 none refused" ]
    [ "$(jq -r '.injections[0] | "\(.count) \(.action)"' <<<"$output")" = "1 reset" ]
    [ "$(jq -r '.incidents | length' <<<"$output")" = 3 ]
    [ "$(jq -r '.incidents[0].events[-1].errno' <<<"$output")" = ECONNRESET ]
    [ "$(jq -r '.incidents[] | select(.prog == "wget") | .events[2].n' <<<"$output")" = 12 ]
    [ "$(jq -r '.incidents[0].tcp.rtt_us' <<<"$output")" = 41 ]
}

@test "--json keeps the fields the shim wrote as null, as null (tcp of a refused connect, errno of an eof)" {
    jq -c '.type = "eof" | .errno = null | .op = "recv" | .cause.code = "idle_reuse"' \
        "$F/curl_reset.jsonl" >"$T/eof.jsonl"
    report --json "$F/refused.jsonl" "$T/eof.jsonl"
    [ "$status" -eq 0 ]
    [ "$(jq -c '[.incidents[] | [.type, (.tcp | type), (.errno | type), has("tcp"), has("errno")]] | sort' <<<"$output")" = \
      '[["eof","object","null",true,true],["reset","null","string",true,true]]' ]
    # Fields that were absent stay absent: no made-up nulls.
    [ "$(jq -c '[.incidents[] | has("attempt"), has("suppressed")] | unique' <<<"$output")" = '[false]' ]
}

@test "--since keeps only recent records" {
    sed "s/2026-11-23T05:31:02.123456Z/$(now_iso 60)/" "$F/curl_reset.jsonl" >"$T/recent.jsonl"
    sed "s/2026-11-23T05:31:02.123456Z/$(now_iso 7200)/; s/127.0.0.1:8080/10.9.9.9:80/" "$F/curl_reset.jsonl" >"$T/old.jsonl"
    report --since 15m "$T/recent.jsonl" "$T/old.jsonl"
    [ "$status" -eq 0 ]
    assert_contains "$output" "1 incident in 1 group, from 1 record in 2 files (1 older skipped)"
    refute_contains "$output" "10.9.9.9"
    report --since=3h "$T/recent.jsonl" "$T/old.jsonl"
    assert_contains "$output" "2 incidents"
    report --since 30s "$T/old.jsonl"
    [ "$status" -eq 0 ]
    assert_contains "$output" "no records found"
    assert_contains "$output" "1 older record skipped"
}

@test "usage errors exit 2: bad --since, unknown option" {
    report --since 5x "$F/curl_reset.jsonl"
    [ "$status" -eq 2 ]
    assert_contains "$stderr" "--since wants a duration like 30s, 15m, 1h30m, 2d or 1w, or a time like 2026-11-23T05:00Z (got '5x')"
    report --since
    [ "$status" -eq 2 ]
    report --frobnicate
    [ "$status" -eq 2 ]
    assert_contains "$stderr" "unknown option '--frobnicate'"
    assert_contains "$stderr" "usage: rstwatch report"
}

@test "an unreadable input exits 2 but the readable ones are still reported" {
    report "$T/does-not-exist.jsonl" "$F/curl_reset.jsonl"
    [ "$status" -eq 2 ]
    assert_contains "$stderr" "rstwatch: $T/does-not-exist.jsonl: No such file or directory"
    assert_contains "$output" "127.0.0.1:8080"
}

@test "garbage lines are reported as FILE:LINE and skipped; good lines are still reported; exit 1" {
    report "$F/bad/garbage.jsonl"
    [ "$status" -eq 1 ]
    assert_contains "$stderr" "rstwatch: $F/bad/garbage.jsonl:2: not valid JSON: invalid token near 'this'"
    assert_contains "$stderr" "rstwatch: $F/bad/garbage.jsonl:4: not a JSON object"
    assert_contains "$stderr" "rstwatch: $F/bad/garbage.jsonl:6: not a JSON object"
    [ "$(grep -c . <<<"$stderr")" -eq 3 ] # the blank line 5 is not an error
    assert_contains "$output" "2 incidents in 2 groups, from 2 records in 1 file; 3 bad lines skipped"
    assert_contains "$output" "127.0.0.1:8080"
    assert_contains "$output" "[::1]:9"
}

@test "a truncated last line is reported as such" {
    report "$F/bad/truncated.jsonl"
    [ "$status" -eq 1 ]
    assert_contains "$stderr" "rstwatch: $F/bad/truncated.jsonl:2: truncated last line (no newline at end of file)"
    assert_contains "$output" "1 incident"
}

@test "unknown schema versions and record types are rejected with the line number" {
    report "$F/bad/unknown_v.jsonl"
    [ "$status" -eq 1 ]
    assert_contains "$stderr" "unknown_v.jsonl:2: unsupported schema version 2 (this rstwatch reads v1)"
    assert_contains "$stderr" "unknown_v.jsonl:3: unknown record type \"teleport\""
    assert_contains "$output" "1 incident in 1 group, from 1 record"
}

@test "missing or invalid required fields are named" {
    report "$F/bad/missing_fields.jsonl"
    [ "$status" -eq 1 ]
    assert_contains "$stderr" "missing_fields.jsonl:1: missing required field \"time\""
    assert_contains "$stderr" "missing_fields.jsonl:2: invalid \"time\" \"yesterday\""
    assert_contains "$stderr" "missing_fields.jsonl:3: invalid \"pid\""
    assert_contains "$stderr" "missing_fields.jsonl:4: missing required field \"v\""
    assert_contains "$stderr" "missing_fields.jsonl:5: invalid \"pid\""
    assert_contains "$output" "from 1 record in 1 file; 5 bad lines skipped"
}

@test "binary bytes (NUL, invalid UTF-8) are rejected per line without crashing" {
    report "$F/bad/binary.jsonl"
    [ "$status" -eq 1 ]
    assert_contains "$stderr" "binary.jsonl:1: contains a NUL byte"
    assert_contains "$stderr" "binary.jsonl:2: not valid JSON: unable to decode byte 0xff"
    assert_contains "$output" "[::1]:9"
}

@test "an empty log prints a friendly message and exits 0" {
    report "$F/bad/empty.jsonl"
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    assert_contains "$output" "no records found in the given input"
    report "$T" # a directory without any *.jsonl
    [ "$status" -eq 0 ]
    assert_contains "$output" "no records found"
}

@test "unknown extra fields and a unix socket without tcp are accepted" {
    report "$F/unix.jsonl"
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    assert_contains "$output" "unix:/run/postgresql/.s.PGSQL.5432"
    assert_contains "$output" "(error record)"
    assert_contains "$output" "write_after_peer_fin"
}

@test "strings from the log cannot drive the terminal (control characters are escaped)" {
    report "$F/xss.jsonl"
    [ "$status" -eq 0 ]
    assert_contains "$output" '\x1b[31mred\x1b[0m'
    refute_contains "$output" $'\e'
}

@test "colours only on a TTY, and never with NO_COLOR" {
    report "$F/curl_reset.jsonl"
    refute_contains "$output" $'\e['
    command -v script >/dev/null || skip "script(1) is not installed"
    run script -qec "\"$RSTWATCH\" report \"$F/curl_reset.jsonl\"" /dev/null
    [ "$status" -eq 0 ]
    assert_contains "$output" $'\e[31m'
    run env NO_COLOR=1 script -qec "\"$RSTWATCH\" report \"$F/curl_reset.jsonl\"" /dev/null
    [ "$status" -eq 0 ]
    refute_contains "$output" $'\e['
}

@test "a huge log streams: 30000 records are all counted, timelines are capped at 10000" {
    python3 - "$F/curl_reset.jsonl" "$T/huge.jsonl" <<'EOF'
import sys
line = open(sys.argv[1]).read().rstrip("\n")
with open(sys.argv[2], "w") as f:
    for i in range(30000):
        f.write(line.replace('"conn":7', '"conn":%d' % i).replace("127.0.0.1:8080", "127.0.0.1:%d" % (8000 + i % 3)) + "\n")
EOF
    report "$T/huge.jsonl"
    [ "$status" -eq 0 ]
    assert_contains "$output" "30000 incidents in 3 groups, from 30000 records in 1 file"
    [[ "$output" =~ \ 10000\ +127\.0\.0\.1:800[012] ]]
    assert_contains "$output" "Incident 10000/10000"
    assert_contains "$output" "(20000 more incidents counted in the summary"
    report --json "$T/huge.jsonl"
    [ "$(jq -r '.summary.incidents_omitted' <<<"$output")" = 20000 ]
}

@test "a line longer than 16 MiB is skipped with a message; the next lines are still read" {
    { head -c $((17 << 20)) /dev/zero | tr '\0' 'x'; echo; cat "$F/curl_reset.jsonl"; } >"$T/long.jsonl"
    report "$T/long.jsonl"
    [ "$status" -eq 1 ]
    assert_contains "$stderr" "long.jsonl:1: line longer than 16 MiB, skipped"
    assert_contains "$output" "127.0.0.1:8080"
}

# --- real logs: the shim and resetd ------------------------------------------

need_real_stack() {
    need_shim
    [ -x "$RESETD" ] || { echo "$RESETD is missing (run make check-helpers)" >&2; return 1; }
    command -v curl >/dev/null || skip "curl is not installed"
    need_preloadable curl
}

@test "real: curl against a server that resets after the request is reported with the peer and errno" {
    need_real_stack
    start_server rst-after-request
    run_shim curl -s "http://127.0.0.1:$PORT/"
    [ "$status" -ne 0 ] # curl saw the reset (exit 56)
    [ "$(record_count)" -ge 1 ] || { echo "the shim wrote no record" >&2; false; }
    report "$LOG_DIR"
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    assert_contains "$output" "127.0.0.1:$PORT"
    assert_contains "$output" "ECONNRESET"
    assert_contains "$output" "curl["
    [[ "$output" =~ ✗\ +[0-9.]+\ ms\ +[a-z]+.*ECONNRESET ]]
    report --json "$LOG_DIR"
    [ "$(jq -r '.groups[0].peer' <<<"$output")" = "127.0.0.1:$PORT" ]
    [ "$(jq -r '.incidents[0].cause.code' <<<"$output")" != null ]
}

# --- grouping for people on call: services, hosts, counted-only incidents -----------

@test "real: a server's client aborts are one row per service and client host, not one per ephemeral port" {
    need_shim
    start_server silent
    kill "$SERVER_PID" && wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PIDS=()
    # resetd again, this time under the shim: its side of the aborts is recorded.
    RSTWATCH_LOG="$LOG_DIR/%p.jsonl" LD_PRELOAD="$SHIM_PRELOAD" "$RESETD" --mode silent \
        --port-file "$T/silent.port" --lifetime 60 >"$T/silent.out" 2>&1 </dev/null 3>&- &
    SERVER_PIDS+=("$!")
    for ((i = 0; i < 250; i++)); do [ -s "$T/silent.port" ] && break; sleep 0.02; done
    port="$(<"$T/silent.port")"
    for i in 1 2 3 4 5; do
        python3 -c '
import socket, struct, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET / HTTP/1.1\r\n")
time.sleep(0.05)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()' "$port"
    done
    for ((i = 0; i < 100; i++)); do [ "$(record_count)" -ge 5 ] && break; sleep 0.05; done
    [ "$(record_count)" -eq 5 ] || { records; false; }
    # Five records from five ephemeral ports...
    [ "$(jq_records 'map(.peer) | unique | length')" = 5 ]
    report "$LOG_DIR"
    [ "$status" -eq 0 ]
    # ...are one group: the service (resetd's address) and the client host.
    assert_contains "$output" "5 incidents in 1 group, from 5 records"
    [[ "$output" =~ \ +5\ +127\.0\.0\.1:$port\ ←\ 127\.0\.0\.1\ +server\ + ]]
    summary="${output%%Incident 1/*}"
    refute_contains "$summary" "← 127.0.0.1:" # no client port in the summary
    report --json "$LOG_DIR"
    [ "$(jq -r '.groups | length' <<<"$output")" = 1 ]
    [ "$(jq -r '.groups[0] | "\(.role) \(.service) \(.client) \(.count)"' <<<"$output")" = "server 127.0.0.1:$port 127.0.0.1 5" ]
}

# on_host HOST FILE: the records of FILE as written on HOST.
on_host() {
    jq -c --arg h "$1" '.host = $h' "$2"
}

@test "logs of two hosts: one row per host, a HOST column, and 127.0.0.1:8080 on each host is two peers" {
    { on_host web1 "$F/curl_reset.jsonl"; on_host web2 "$F/curl_reset.jsonl"; on_host web2 "$F/curl_reset.jsonl"; } >"$T/two.jsonl"
    report "$T/two.jsonl"
    [ "$status" -eq 0 ]
    assert_contains "$output" "3 incidents in 2 groups, from 3 records in 1 file from 2 hosts"
    [[ "$output" =~ COUNT\ +HOST\ +SERVICE ]]
    [[ "$output" =~ \ 2\ +web2\ +127\.0\.0\.1:8080\ +client ]]
    [[ "$output" =~ \ 1\ +web1\ +127\.0\.0\.1:8080\ +client ]]
    assert_contains "$output" "curl[4242] on web2"
    # One host: no HOST column.
    on_host web1 "$F/curl_reset.jsonl" >"$T/one.jsonl"
    report "$T/one.jsonl"
    refute_contains "$output" "HOST"
    report --json "$T/two.jsonl"
    [ "$(jq -r '[.groups[] | "\(.host)=\(.count)"] | join(" ")' <<<"$output")" = "web2=2 web1=1" ]
}

@test "rate-limited logs: suppressed counts and summary records keep the totals exact" {
    {
        jq -c '.suppressed = 4' "$F/curl_reset.jsonl"
        # The shim's summary: per key, what no record's "suppressed" has reported yet.
        jq -c '{v, type: "summary", time: "2026-11-23T05:32:00.000000Z", pid, prog, reason: "exit",
                since: "2026-11-23T05:31:00.000000Z", period_ms: 60000,
                counts: [{type: "reset", role: "client", peer: "127.0.0.1:8080", local: "",
                          cause: "reset_before_response", n: 7, records: 1, suppressed: 2},
                         {type: "reset", role: "server", peer: "10.1.0.9", local: "10.0.0.7:80",
                          cause: "client_abort", n: 30, records: 0, suppressed: 30},
                         {type: "close", role: "client", peer: "127.0.0.1:8080", local: "",
                          cause: "none", n: 3, records: 0, suppressed: 3}]}' "$F/curl_reset.jsonl"
    } >"$T/limited.jsonl"
    report "$T/limited.jsonl"
    [ "$status" -eq 0 ]
    # 1 record + 4 suppressed + 2 summarised for the first key, 30 for the second.
    assert_contains "$output" "37 incidents in 2 groups, from 2 records in 1 file"
    assert_contains "$output" "(36 of the incidents were only counted"
    [[ "$output" =~ \ 30\ +10\.0\.0\.7:80\ ←\ 10\.1\.0\.9\ +server\ +client_abort ]]
    [[ "$output" =~ \ 7\ +127\.0\.0\.1:8080\ +client\ +reset_before_response ]]
    assert_contains "$output" "(4 more like it were left out by the rate limit)"
    assert_contains "$output" "connections closed without error: 3"
    report --json "$T/limited.jsonl"
    [ "$(jq -r '.summary | "\(.incidents) \(.counted_only) \(.summary_records)"' <<<"$output")" = "37 36 1" ]
}

@test "--since takes 1h30m, 1w and ISO 8601 times" {
    sed "s/2026-11-23T05:31:02.123456Z/$(now_iso 3600)/" "$F/curl_reset.jsonl" >"$T/hour.jsonl"
    sed "s/2026-11-23T05:31:02.123456Z/$(now_iso 200000)/; s/127.0.0.1:8080/10.9.9.9:80/" "$F/curl_reset.jsonl" >"$T/days.jsonl"
    report --since 1h30m "$T/hour.jsonl" "$T/days.jsonl"
    assert_contains "$output" "1 incident in 1 group, from 1 record in 2 files (1 older skipped)"
    report --since 1w "$T/hour.jsonl" "$T/days.jsonl"
    assert_contains "$output" "2 incidents"
    report --since 2026-11-23T05:31:02Z "$F/curl_reset.jsonl" "$F/idle_reuse.jsonl"
    assert_contains "$output" "2 incidents" # 05:31:02.123 and 06:12:45 are both later
    report --since 2026-11-23T06:00 "$F/curl_reset.jsonl" "$F/idle_reuse.jsonl"
    assert_contains "$output" "1 incident in 1 group, from 1 record in 2 files (1 older skipped)"
    report --since 2026-11-23T08:00:00.5+02:00 "$F/curl_reset.jsonl" "$F/idle_reuse.jsonl"
    assert_contains "$output" "1 incident in 1 group" # 06:00:00.5 UTC
    report --since 2026-11-24 "$F/curl_reset.jsonl"
    assert_contains "$output" "no records found"
    report --since=yesterday "$F/curl_reset.jsonl"
    [ "$status" -eq 2 ]
}

@test "options anywhere, in any GNU form: --json after the inputs, --since=15m, -- before a dash file" {
    report "$F/curl_reset.jsonl" --json
    [ "$status" -eq 0 ]
    [ "$(jq -r '.summary.records' <<<"$output")" = 1 ]
    cp "$F/curl_reset.jsonl" "$T/-odd.jsonl"
    (cd "$T" && run_bare "$RSTWATCH" report -- -odd.jsonl && [ "$status" -eq 0 ] && [[ "$output" == *"1 incident"* ]])
    report --help
    [ "$status" -eq 0 ]
    assert_contains "$output" "usage: rstwatch report"
}

@test "real: --json keeps every field the shim wrote (idle_before_ms, tcp.last_data_*, all of them)" {
    need_shim
    start_server rst-after-request
    run_shim "$CLIENT" 127.0.0.1 "$PORT"
    [ "$(record_count)" -eq 1 ] || { records; false; }
    report --json "$LOG_DIR"
    [ "$status" -eq 0 ]
    # Every path of the record (nested ones too) is in the report's copy, with the same value.
    want="$(records | jq -c '[paths(scalars)] | sort')"
    got="$(jq -c '.incidents[0] | [paths(scalars)] | sort' <<<"$output")"
    [ "$want" = "$got" ] || { diff <(jq '.[]' <<<"$want") <(jq '.[]' <<<"$got") >&2; false; }
    [ "$(records | jq -cS .)" = "$(jq -cS '.incidents[0]' <<<"$output")" ]
    [ "$(jq -r '.incidents[0].idle_before_ms | type' <<<"$output")" = number ]
    [ "$(jq -r '.incidents[0].tcp.last_data_recv_ms | type' <<<"$output")" = number ]
}

@test "real: 150 resets of one client are 150 incidents in one row, whether the shim wrote or only counted them" {
    need_shim
    start_server rst-after-request
    # The shim's rate limit at its defaults (a burst of 10, then one a second, a summary at
    # exit); a shim without one writes all 150 records, and the totals must be the same.
    RSTWATCH_RATE=burst=10,interval=1s run_shim python3 "$CLIENTS_PY" resets "$PORT" 150
    [ "$status" -eq 0 ]
    report "$LOG_DIR"
    [ "$status" -eq 0 ]
    assert_contains "$output" "150 incidents in 1 group"
    # Written records plus what a rate limit only counted (suppressed, summaries) add up.
    report --json "$LOG_DIR"
    [ "$(jq -r '.groups[0].count' <<<"$output")" = 150 ]
    [ "$(jq -r '.groups[0].records + .summary.counted_only' <<<"$output")" = 150 ]
}

@test "an eof incident marks its EOF read as the failing call, not an earlier EINPROGRESS connect" {
    jq -c '.type = "eof" | .errno = null | .errno_code = null | .op = "recv"
        | .events = [{"t_ms": 0.1, "op": "connect", "ret": -1, "errno": "EINPROGRESS"},
                     {"t_ms": 0.2, "op": "connected", "ret": 0}, {"t_ms": 0.3, "op": "send", "ret": 78},
                     {"t_ms": 5.0, "op": "recv", "ret": 120}, {"t_ms": 2005.0, "op": "send", "ret": 78},
                     {"t_ms": 2005.2, "op": "recv", "ret": 0}]' "$F/curl_reset.jsonl" >"$T/eof.jsonl"
    report "$T/eof.jsonl"
    [ "$status" -eq 0 ]
    [[ "$output" =~ ✗\ +2005\.200\ ms\ +recv\ +0\ B ]]
    [ "$(grep -c '✗' <<<"$output")" -eq 1 ]
    [[ "$output" =~ \ \ \ +0\.100\ ms\ +connect\ +-1\ EINPROGRESS ]]
}

@test "a merged event shows its span: a client that stalls 5 s inside its upload does not read as a slow server" {
    report "$F/span.jsonl"
    [ "$status" -eq 0 ]
    [[ "$output" =~ \ +1\.000\ ms\ +send\ ×12\ +110000\ B\ over\ 5012\.0\ ms\ \(last\ at\ 5013\.000\ ms\) ]]
    # Without a span (older logs) nothing is invented.
    jq -c 'del(.events[2].span_ms)' "$F/span.jsonl" >"$T/nospan.jsonl"
    report "$T/nospan.jsonl"
    [[ "$output" =~ send\ ×12\ +110000\ B$'\n' ]]
    refute_contains "$output" " over "
    # In both ends' shared timeline the span ends on the shared axis too.
    jq -c 'if .role == "client" then .events[2] += {"n": 3, "span_ms": 5.0} else . end' \
        "$F/restart_joined.jsonl" | head -2 >"$T/pairspan.jsonl"
    report "$T/pairspan.jsonl"
    [[ "$output" =~ 7988\.700\ ms\ +send\ ×3\ +13\ B\ over\ 5\.0\ ms\ \(last\ at\ 7993\.700\ ms\) ]] || {
        echo "$output" >&2
        false
    }
}

@test "the ERRNO column is the errno the program last saw: EPIPE after an EOF (curl's Broken pipe), not -" {
    report "$F/span.jsonl"
    [ "$status" -eq 0 ]
    [[ "$output" =~ 10\.0\.7\.3:80\ +client\ +request_timeout\ +EPIPE\ +curl ]]
    run_bare "$RSTWATCH" report --json "$F/span.jsonl"
    [ "$(jq -c '.groups[0].errnos' <<<"$output")" = '["EPIPE"]' ]
    # A record's own errno wins; an EINPROGRESS connect or an EAGAIN read is not a failure seen.
    report "$F/idle_reuse.jsonl"
    [[ "$output" =~ client\ +idle_reuse\ +EPIPE ]]
    jq -c '.events = [{"t_ms": 0.1, "op": "connect", "ret": -1, "errno": "EINPROGRESS"},
                      {"t_ms": 1, "op": "recv", "ret": -1, "errno": "EAGAIN"}, {"t_ms": 9, "op": "recv", "ret": 0}]
        | .errno = null | .type = "eof"' "$F/curl_reset.jsonl" >"$T/eof.jsonl"
    report "$T/eof.jsonl"
    [[ "$output" =~ client\ +reset_before_response\ +-\ +curl ]]
}

@test "a pool's connections closed by one restart are one event, timed by the server's own close records when joined" {
    report "$F/restart_joined.jsonl"
    [ "$status" -eq 0 ]
    assert_contains "$output" "server restart or reload, 3 connections: 10.0.5.9:3306 closed them within 3 ms of each other at 2026-11-24 09:00:10 (the server's records) (early_close ×3)"
    run_bare "$RSTWATCH" report --json "$F/restart_joined.jsonl"
    [ "$(jq -c '.events | map({kind, service, connections, server_side_times, causes})' <<<"$output")" = \
        '[{"kind":"restart","service":"10.0.5.9:3306","connections":3,"server_side_times":true,"causes":{"early_close":3}}]' ]
    # The clients alone noticed over 1.9 s: only the two within a second are one event.
    grep -v mariadbd "$F/restart_joined.jsonl" >"$T/clients.jsonl"
    report "$T/clients.jsonl"
    assert_contains "$output" "server restart or reload, 2 connections: 10.0.5.9:3306: the clients found them closed within 700 ms of each other at 2026-11-24 09:00:10"
    # Connections of two services, or one alone, are no event.
    sed '0,/10.0.5.9:3306/s//10.0.5.8:3306/' "$T/clients.jsonl" | head -2 >"$T/two.jsonl"
    report "$T/two.jsonl"
    refute_contains "$output" "Events"
}

@test "resets the capture could not attribute are no restart; the server's own resets are, this host's are not" {
    # Three RSTs to one service within 8 ms, seen by rstwatch capture alone.
    report "$F/packets_unknown.jsonl"
    [ "$status" -eq 0 ]
    assert_contains "$output" "3 incidents in 1 group"
    refute_contains "$output" "Events"
    sed 's/"rst_from":"unknown"/"rst_from":"peer"/' "$F/packets_unknown.jsonl" >"$T/peer.jsonl"
    report "$T/peer.jsonl"
    assert_contains "$output" "server restart or reload, 3 connections: 10.0.5.9:443: the clients found them closed within 8 ms"
    sed 's/"rst_from":"unknown"/"rst_from":"local"/' "$F/packets_unknown.jsonl" >"$T/local.jsonl"
    report "$T/local.jsonl"
    refute_contains "$output" "Events"
}

@test "requests to one service that failed after the same wait are one timeout, whatever cause each record got" {
    report "$F/timeouts.jsonl"
    [ "$status" -eq 0 ]
    assert_contains "$output" "one timeout, 4 requests: 10.0.6.2:8000 gave up on each 30.1 to 31.0 s after the request, 2026-11-24 10:01:00 to 2026-11-24 10:10:00 (response_timeout ×2, reset_before_response ×2)"
    run_bare "$RSTWATCH" report --json "$F/timeouts.jsonl"
    [ "$(jq -c '.events | map({kind, requests, elapsed_min_ms, elapsed_max_ms})' <<<"$output")" = \
        '[{"kind":"timeout","requests":4,"elapsed_min_ms":30100,"elapsed_max_ms":31000}]' ]
}

@test "the joined verdict is composed from the records: who closed first, after how long, what was outstanding" {
    report "$F/restart_joined.jsonl"
    assert_contains "$output" "verdict   the server closed the connection at 8.0 s after 12 ms idle, with nothing outstanding (the client had read the last response); the client reused it and recv got EOF 0.5 s later (early_close)"
    # The same, with the client's query still unanswered when the server closed.
    jq -c 'if .role == "client" then del(.events[3, 4]) else . end' \
        "$F/restart_joined.jsonl" >"$T/outstanding.jsonl"
    report "$T/outstanding.jsonl"
    assert_contains "$output" "verdict   the server closed the connection at 8.0 s after 12 ms idle, while the client's request (13 B sent 12 ms before) was unanswered; the client recv got EOF"
    refute_contains "$output" "reused it"
}
