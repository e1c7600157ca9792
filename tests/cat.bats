#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# rstwatch cat: the records of real logs, validated and pretty-printed.

load lib

setup() {
    rstwatch_setup
}

teardown() {
    rstwatch_teardown
}

@test "rstwatch cat pretty-prints a real record that round-trips to the same JSON" {
    need_shim
    start_server rst-after-request
    run_shim "$CLIENT" 127.0.0.1 "$PORT"
    [ "$(record_count)" = 1 ] || { records; false; }
    run "$RSTWATCH" cat "$LOG_DIR"/*.jsonl
    [ "$status" = 0 ]
    [[ "${lines[0]}" == "{" ]]
    [[ "$output" == *'  "errno": "ECONNRESET",'* ]]
    # the pretty form is the same document as the line the shim wrote
    [ "$(printf '%s\n' "$output" | jq -cS .)" = "$(records | jq -cS .)" ]
}

@test "rstwatch cat reports bad lines with file:line, keeps the good ones, exits 1" {
    f="$BATS_TEST_TMPDIR/mixed.jsonl"
    cat tests/fixtures/*.jsonl 2>/dev/null | grep '"v":1' | head -1 >"$f"
    [ -s "$f" ]
    printf 'not json\n{"v":2,"type":"reset"}\n' >>"$f"
    run "$RSTWATCH" cat "$f"
    [ "$status" = 1 ]
    [[ "$output" == *"rstwatch: $f:2: "* ]]
    [[ "$output" == *"rstwatch: $f:3: "* ]]
    [[ "$output" == *'"v": 1'* ]]
}

@test "rstwatch cat DIR reads the directory's logs; --since filters" {
    need_shim
    start_server rst-after-request
    run_shim "$CLIENT" 127.0.0.1 "$PORT"
    run_shim "$CLIENT" 127.0.0.1 "$PORT"
    [ "$(record_count)" = 2 ] || { records; false; }
    run "$RSTWATCH" cat "$LOG_DIR"
    [ "$status" = 0 ]
    [ "$(printf '%s\n' "$output" | jq -s length)" = 2 ]
    run "$RSTWATCH" cat --since 2030-01-01 "$LOG_DIR"
    [ "$status" = 0 ]
    [ -z "$output" ]
    run "$RSTWATCH" cat --since=1h "$LOG_DIR"
    [ "$(printf '%s\n' "$output" | jq -s length)" = 2 ]
}

@test "rstwatch cat with no argument reads the default log directory, like report" {
    need_shim
    start_server rst-after-request
    local dir="/tmp/rstwatch-$(id -u)"
    mkdir -p -m 0700 "$T/default"
    [ -d "$dir" ] || mkdir -m 0700 "$dir"
    # In a private mount namespace the default directory is this test's own (a bind mount),
    # so the shim writes there by default and cat/report read it without an argument.
    run unshare --mount sh -c '
        mount --bind "$5" "$6" || exit 77
        env -u RSTWATCH_LOG LD_PRELOAD="$1" "$2" 127.0.0.1 "$3" >/dev/null 2>&1
        "$4" cat </dev/null; echo "exit $?"
        "$4" report </dev/null' _ "$SHIM_PRELOAD" "$CLIENT" "$PORT" "$RSTWATCH" "$T/default" "$dir"
    [ "$status" != 77 ] || skip "cannot bind-mount over $dir here"
    [ "$(ls "$T/default" | wc -l)" = 1 ]
    [[ "$output" == *'"peer": "127.0.0.1:'"$PORT"'"'* ]]
    [[ "$output" == *"exit 0"* ]]
    [[ "$output" == *"127.0.0.1:$PORT"*"reset_before_response"* ]]
}

# schema_names: the field names of `rstwatch cat --schema`, sorted.
schema_names() {
    "$RSTWATCH" cat --schema | cut -f1 | sort
}

@test "docs/record.md's field table is the schema table, row for row" {
    run "$RSTWATCH" cat --schema
    [ "$status" = 0 ]
    want="$(printf '%s\n' "$output" | awk -F'\t' '{printf "| `%s` | %s | %s |\n", $1, $2, $3}')"
    got="$(sed -n '/<!-- schema table: rstwatch cat --schema -->/,/<!-- end of schema table -->/p' \
        "$RSTWATCH_ROOT/docs/record.md" | grep '^| `')"
    [ -n "$got" ]
    [ "$want" = "$got" ] || { diff <(printf '%s\n' "$want") <(printf '%s\n' "$got") >&2; false; }
    # The older prose table names only fields that exist.
    for name in $(sed -n '/^| field | meaning |/,/^$/p' "$RSTWATCH_ROOT/docs/record.md" | grep -o '^| `[a-z_]*`' | tr -d '|` '); do
        schema_names | grep -qx "$name" || { echo "docs/record.md names unknown field $name" >&2; false; }
    done
}

@test "real: every field the shim writes (reset, eof, close records) is in the schema table" {
    need_shim
    start_server rst-after-request
    RSTWATCH_RECORD=all run_shim "$CLIENT" 127.0.0.1 "$PORT"
    start_server idle-fin --delay-ms 100
    RSTWATCH_RECORD=all run_shim python3 -c '
import http.client, sys, time
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
c.request("GET", "/"); c.getresponse().read(); time.sleep(0.4)
try:
    c.request("GET", "/"); c.getresponse().read()
except Exception as e:
    print(type(e).__name__)' "$PORT"
    [ "$(record_count)" -ge 2 ] || { records; false; }
    # Paths as the schema names them: tcp.rtt_us, events[].op.
    written="$(records | schema_paths)"
    [ "$(grep -c . <<<"$written")" -ge 40 ]
    missing="$(comm -23 <(printf '%s\n' "$written") <(schema_names))"
    [ -z "$missing" ] || { echo "written by the shim, not in shim/schema.h: $missing" >&2; false; }
    # The check can fail: a field the schema does not know is caught.
    [ "$(records | head -1 | jq -c '.tcp.brand_new = 1' | schema_paths | comm -23 - <(schema_names))" = tcp.brand_new ]
}

# schema_paths: the field paths of JSON records on stdin as the schema names them
# (tcp.rtt_us, events[].op), sorted and unique.
schema_paths() {
    jq -r 'paths | map(if type == "number" then "[]" else . end) | join(".")' |
        sed 's/\.\[\]/[]/g' | grep -v '\[\]$' | sort -u
}
