#!/usr/bin/env bats
# report.bats: `rstwatch report` over fixture logs (tests/fixtures), malformed
# logs, big logs, and real logs produced by the shim against resetd.

load lib

setup() {
    rstwatch_setup
    F="$RSTWATCH_ROOT/tests/fixtures"
    [ -x "$RSTWATCH" ] || { echo "$RSTWATCH is missing (run make all)" >&2; return 1; }
}

teardown() {
    rstwatch_teardown
}

# report ARGS...: runs rstwatch report; sets status, output (stdout), stderr.
report() {
    run_bare "$RSTWATCH" report "$@"
}

# assert_contains HAYSTACK NEEDLE: fails showing both when NEEDLE is absent.
assert_contains() {
    if [[ "$1" != *"$2"* ]]; then
        printf 'expected to find: %s\nin:\n%s\n' "$2" "$1" >&2
        return 1
    fi
}

refute_contains() {
    if [[ "$1" == *"$2"* ]]; then
        printf 'did not expect: %s\nin:\n%s\n' "$2" "$1" >&2
        return 1
    fi
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
    [[ "$output" =~ \ +1\ +127\.0\.0\.1:8080\ +reset_before_response\ +ECONNRESET\ +curl\ +2026-11-23\ 05:31:02 ]]
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
    [[ "$output" =~ \[::1\]:9\ +refused\ +ECONNREFUSED ]]
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

@test "incidents are grouped by peer x cause with counts, first and last seen" {
    cp "$F/curl_reset.jsonl" "$T/a.jsonl"
    sed 's/05:31:02.123456Z/05:40:00.000000Z/; s/"conn":7/"conn":8/' "$F/curl_reset.jsonl" >"$T/b.jsonl"
    report "$T/a.jsonl" "$T/b.jsonl" "$F/idle_reuse.jsonl"
    [ "$status" -eq 0 ]
    assert_contains "$output" "3 incidents in 2 groups, from 3 records in 3 files"
    # The biggest group first, spanning both records.
    [[ "$output" =~ COUNT.*PEER.*CAUSE.*ERRNO.*PROGRAMS.*FIRST\ SEEN.*LAST\ SEEN ]]
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
    assert_contains "$stderr" "--since wants a duration like 30s, 15m, 2h or 7d (got '5x')"
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
