#!/usr/bin/env bats
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
