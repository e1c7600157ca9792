# SPDX-License-Identifier: MIT
# lib.bash: shared helpers for the bats suites: starting and stopping the
# resetd test server (and nginx, and background programs), running a command
# with and without the shim while capturing what a user sees, and reading
# the JSON records a test produced.
#
# Use from a .bats file:
#     load lib
#     setup()    { rstwatch_setup; }
#     teardown() { rstwatch_teardown; }
#
# Every test gets its own directory $T (BATS_TEST_TMPDIR) and its own log
# destination RSTWATCH_LOG="$T/logs/%p.jsonl", so tests never see each other's
# records. Environment from `make test`: BUILD (build dir, default "build"),
# SAN_RUNTIME (path of libasan.so when the build is sanitized, else empty).

RSTWATCH_ROOT="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"
: "${BUILD:=build}"
case "$BUILD" in
/*) BUILD_DIR="$BUILD" ;;
*) BUILD_DIR="$RSTWATCH_ROOT/$BUILD" ;;
esac
SHIM="$BUILD_DIR/librstwatch.so"
RSTWATCH="$BUILD_DIR/rstwatch"
RESETD="$BUILD_DIR/helpers/resetd"
CLIENT="$BUILD_DIR/helpers/client"
CLIENTS_PY="$RSTWATCH_ROOT/tests/clients.py"
HINT_FITS="$RSTWATCH_ROOT/tests/hint_fits.jq"
# Bound for one captured command (seconds); a test must never hang.
: "${RUN_TIMEOUT:=60}"

# rstwatch_setup: per-test state. Call from setup().
rstwatch_setup() {
    T="${BATS_TEST_TMPDIR:-}"
    if [ -z "$T" ]; then
        T="$(mktemp -d "${TMPDIR:-/tmp}/rstwatch-test.XXXXXX")"
        _RSTWATCH_OWN_T=1
    fi
    export T
    LOG_DIR="$T/logs"
    # Only this test's settings reach the programs under test.
    local v
    for v in $(compgen -e RSTWATCH_ || true); do unset "$v"; done
    export RSTWATCH_LOG="$LOG_DIR/%p.jsonl"
    # Most suites count one record per failure; the rate limit (on by
    # default) is tested in production.bats, which unsets this.
    export RSTWATCH_RATE=off
    SERVER_PIDS=()
    _server_seq=0
    shim_env >/dev/null
}

# rstwatch_teardown: stops the servers this test started. Call from teardown().
rstwatch_teardown() {
    stop_servers
    if [ "${_RSTWATCH_OWN_T:-0}" = 1 ]; then rm -rf "$T"; fi
}

# shim_env: prints the LD_PRELOAD value for the shim (the ASan runtime first
# when the build is sanitized) and sets SHIM_PRELOAD to it; with SAN_RUNTIME
# it also exports ASAN_OPTIONS so uninstrumented host programs accept it.
shim_env() {
    if [ -n "${SAN_RUNTIME:-}" ]; then
        SHIM_PRELOAD="$SAN_RUNTIME:$SHIM"
        export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0:verify_asan_link_order=0"
    else
        SHIM_PRELOAD="$SHIM"
    fi
    printf '%s\n' "$SHIM_PRELOAD"
}

# start_server MODE [resetd args...]: starts resetd in the background, waits
# (at most 5 s) until it announced its port, exports PORT and SERVER_PID.
start_server() {
    local mode="$1"
    shift
    _server_seq=$((_server_seq + 1))
    local base="$T/server.$_server_seq"
    # 3>&- : bats waits for fd 3 to close; a background server must not hold it.
    "$RESETD" --mode "$mode" --port-file "$base.port" --lifetime 600 "$@" \
        >"$base.out" 2>"$base.err" </dev/null 3>&- &
    SERVER_PID=$!
    SERVER_PIDS+=("$SERVER_PID")
    local i
    for ((i = 0; i < 250; i++)); do
        if [ -s "$base.port" ]; then
            PORT="$(<"$base.port")"
            export PORT SERVER_PID
            return 0
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "resetd --mode $mode $* exited early:" >&2
            cat "$base.err" >&2
            return 1
        fi
        sleep 0.02
    done
    echo "resetd --mode $mode $* did not announce a port within 5 s" >&2
    return 1
}

# stop_servers: terminates every server this test started (bounded wait).
stop_servers() {
    local pid i
    for pid in "${SERVER_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || continue
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.02
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    SERVER_PIDS=()
}

# free_port: a loopback port nobody listens on right now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_file PATH: until PATH exists (10 s).
wait_file() {
    local i
    for ((i = 0; i < 500; i++)); do
        [ -e "$1" ] && return 0
        sleep 0.02
    done
    echo "timed out waiting for $1" >&2
    return 1
}

# wait_for_port PORT: until something accepts on 127.0.0.1:PORT (5 s).
wait_for_port() {
    local i
    for ((i = 0; i < 250; i++)); do
        if (exec 9<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.02
    done
    echo "nothing listens on $1 after 5 s" >&2
    return 1
}

# start_bg PRELOAD NAME CMD...: starts CMD in the background (LD_PRELOAD=PRELOAD
# when non-empty), stdout/stderr into $T/NAME.out/.err; stop_servers ends it.
# Its pid is in LAST_BG_PID.
start_bg() {
    local preload="$1" name="$2"
    shift 2
    if [ -n "$preload" ]; then
        env LD_PRELOAD="$preload" "$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null 3>&- &
    else
        "$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null 3>&- &
    fi
    SERVER_PIDS+=("$!")
    LAST_BG_PID=$!
}

# start_nginx NAME PRELOAD [TOP] <<EOF ... EOF: nginx in the foreground with
# its prefix, pid, error log and temporary files in NGX=$T/NAME (temporary
# files in NGX_TMP when set, else $NGX/tmp). TOP: the top-level lines
# (default "master_process off;"); stdin: the lines inside http {} after
# access_log off and the temporary paths, i.e. the servers, on ports the
# caller chose. Started with start_bg (LD_PRELOAD=PRELOAD when not empty,
# output in $T/NAME.out and .err), pid in NGX_PID; the caller waits for its
# port or socket. Skips the test when nginx is not installed.
start_nginx() {
    local name="$1" preload="$2" top="${3:-master_process off;}" nginx=/usr/sbin/nginx
    [ -x "$nginx" ] || nginx="$(command -v nginx)" || skip "nginx is not installed"
    NGX="$T/$name"
    local tmp="${NGX_TMP:-$NGX/tmp}" http
    http="$(cat)"
    mkdir -p "$NGX" "$tmp"
    cat >"$NGX/nginx.conf" <<EOF
daemon off;
$top
pid $NGX/nginx.pid;
error_log $NGX/error.log info;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $tmp;
    proxy_temp_path $tmp;
    fastcgi_temp_path $tmp;
    uwsgi_temp_path $tmp;
    scgi_temp_path $tmp;
$http
}
EOF
    start_bg "$preload" "$name" "$nginx" -p "$NGX" -c "$NGX/nginx.conf"
    NGX_PID=$LAST_BG_PID
}

# run_sigstorm SECONDS: hostile_proc sigstorm under the shim, bounded by
# SECONDS: a 1 ms timer whose handler runs HTTP exchanges with a resetd http
# server while the main thread makes connections to a resetd that resets
# every 4th. Fails unless it exits 0 with no handler errors; sets
# SIGSTORM_RESETS and SIGSTORM_HANDLER_OK from its summary line, and
# SIGSTORM_EVERY_PORT (the resetting server). It runs 1.5 s, and longer until
# at least 5 resets and 50 handler exchanges happened (the tests' minimum).
run_sigstorm() {
    start_server every --every 4
    SIGSTORM_EVERY_PORT=$PORT
    start_server http
    RUN_TIMEOUT="$1" run_shim "$BUILD_DIR/helpers/hostile_proc" sigstorm 127.0.0.1 "$SIGSTORM_EVERY_PORT" "$PORT" 1500 5 50
    assert_equal 0 "$shim_status" "exit status"
    [[ "$shim_output" =~ ^resets=([0-9]+)\ ok=([0-9]+)\ handler_ok=([0-9]+)\ handler_errors=0$ ]] || {
        echo "$shim_output" >&2
        return 1
    }
    SIGSTORM_RESETS="${BASH_REMATCH[1]}" SIGSTORM_HANDLER_OK="${BASH_REMATCH[3]}"
}

# _capture PRELOAD CMD...: runs CMD (a program, not a function) with stdin
# from /dev/null, only fds 0-2 open (plus those listed in KEEP_FDS="7 8"),
# bounded by RUN_TIMEOUT, with LD_PRELOAD=PRELOAD set only
# for CMD itself. Sets status, output (stdout), stderr and last_pid (CMD's pid,
# which is also the %p of its log file).
_capture() {
    local preload="$1"
    shift
    local cap="$T/.capture"
    timeout -k 5 "$RUN_TIMEOUT" bash -c '
        echo $$ >"$1"
        p=$2
        shift 2
        # Only stdin/out/err (and KEEP_FDS) reach CMD, so its fd numbers
        # start at 3 as they do outside bats.
        for f in /proc/$$/fd/*; do
            n=${f##*/}
            case " 0 1 2 ${KEEP_FDS:-} " in *" $n "*) ;; *) eval "exec $n>&-" ;; esac
        done
        if [ -n "$p" ]; then exec env LD_PRELOAD="$p${LD_PRELOAD:+:$LD_PRELOAD}" "$@"; fi
        exec "$@"' _ "$cap.pid" "$preload" "$@" \
        >"$cap.out" 2>"$cap.err" </dev/null && status=0 || status=$?
    output="$(<"$cap.out")"
    stderr="$(<"$cap.err")"
    last_pid="$(<"$cap.pid")"
    if [ "$status" = 124 ]; then
        echo "timed out after ${RUN_TIMEOUT}s: $*" >&2
    fi
}

# run_bare CMD...: runs CMD without the shim; sets status/output/stderr and
# bare_status/bare_output/bare_stderr.
run_bare() {
    _capture "" "$@"
    bare_status=$status bare_output=$output bare_stderr=$stderr bare_pid=$last_pid
}

# run_shim CMD...: runs CMD with the shim preloaded; sets status/output/stderr
# and shim_status/shim_output/shim_stderr/shim_pid. RSTWATCH_* settings are
# passed as a prefix: RSTWATCH_EVENTS=8 run_shim curl ...
run_shim() {
    _capture "$SHIM_PRELOAD" "$@"
    shim_status=$status shim_output=$output shim_stderr=$stderr shim_pid=$last_pid
}

# run_both CMD...: runs CMD bare and under the shim (run_bare, run_shim) and
# asserts that the two agree (assert_same_as_bare).
run_both() {
    run_bare "$@"
    run_shim "$@"
    assert_same_as_bare
}

# normalize_output: hides what legitimately differs between two runs of the
# same program (curl's "after 3 ms" connect timings).
normalize_output() {
    sed -E 's/after [0-9]+ ms/after N ms/g'
}

# shim_stderr_without_warnings: the shim run's stderr minus "rstwatch:" lines.
shim_stderr_without_warnings() {
    printf '%s\n' "$shim_stderr" | grep -v '^rstwatch:' || true
}

# assert_same_as_bare: the last run_bare and run_shim agree on exit status,
# stdout and stderr (ignoring "rstwatch:" lines and timings); prints a diff
# otherwise.
assert_same_as_bare() {
    local ok=0 b s
    if [ "$bare_status" != "$shim_status" ]; then
        echo "exit status differs: bare=$bare_status shim=$shim_status" >&2
        ok=1
    fi
    if [ "$bare_output" != "$shim_output" ]; then
        echo "stdout differs:" >&2
        diff <(printf '%s\n' "$bare_output") <(printf '%s\n' "$shim_output") >&2 || true
        ok=1
    fi
    b="$(printf '%s\n' "$bare_stderr" | normalize_output)"
    s="$(shim_stderr_without_warnings | normalize_output)"
    if [ "$b" != "$s" ]; then
        echo "stderr differs:" >&2
        diff <(printf '%s\n' "$b") <(printf '%s\n' "$s") >&2 || true
        ok=1
    fi
    return $ok
}

# records: every JSON line this test's programs logged (empty when none).
records() {
    local f
    [ -d "$LOG_DIR" ] || return 0
    for f in "$LOG_DIR"/*.jsonl; do
        [ -e "$f" ] && cat "$f"
    done
    return 0
}

# record_count: number of logged lines.
record_count() {
    records | grep -c . || true
}

# jq_record FILTER [jq args...]: runs jq -r FILTER on each record.
jq_record() {
    local filter="$1"
    shift
    records | jq -r "$@" "$filter"
}

# jq_records FILTER [jq args...]: runs jq -r FILTER on the array of all records.
jq_records() {
    local filter="$1"
    shift
    records | jq -r -s "$@" "$filter"
}

# assert_record_count N: exactly N records, else prints what there is.
assert_record_count() {
    local n
    n="$(record_count)"
    if [ "$n" != "$1" ]; then
        echo "expected $1 record(s), found $n:" >&2
        records >&2
        [ -z "${shim_stderr:-}" ] || printf 'stderr of the shim run:\n%s\n' "$shim_stderr" >&2
        return 1
    fi
}

# assert_jq FILTER [jq args...]: FILTER evaluates to true on the single
# record (use after assert_record_count 1); prints the record otherwise.
assert_jq() {
    local filter="$1"
    shift
    if [ "$(records | jq -r "$@" "$filter")" != true ]; then
        echo "record does not satisfy: $filter $*" >&2
        records | jq . >&2 || records >&2
        return 1
    fi
}

# count_type TYPE: how many records of that type.
count_type() {
    jq_records '[.[] | select(.type == $t)] | length' --arg t "$1"
}

# assert_true DESCRIPTION FILTER [jq args...]: FILTER over all records (an
# array) is true; prints the records otherwise.
assert_true() {
    local what="$1" filter="$2"
    shift 2
    if [ "$(jq_records "$filter" "$@")" != true ]; then
        echo "records do not satisfy ($what): $filter" >&2
        records | jq -c . >&2 || records >&2
        [ -z "${shim_stderr:-}" ] || printf 'stderr of the shim run:\n%s\n' "$shim_stderr" >&2
        return 1
    fi
}

# assert_contains HAYSTACK NEEDLE: fails showing both when NEEDLE is absent.
assert_contains() {
    if [[ "$1" != *"$2"* ]]; then
        printf 'expected to find: %s\nin:\n%s\n' "$2" "$1" >&2
        return 1
    fi
}

# refute_contains HAYSTACK NEEDLE: fails showing both when NEEDLE is present.
refute_contains() {
    if [[ "$1" == *"$2"* ]]; then
        printf 'did not expect: %s\nin:\n%s\n' "$2" "$1" >&2
        return 1
    fi
}

# assert_equal EXPECTED ACTUAL [what]
assert_equal() {
    if [ "$1" != "$2" ]; then
        echo "${3:-value}: expected '$1', got '$2'" >&2
        return 1
    fi
}

# need_preloadable PROG: in sanitized runs (SAN_RUNTIME set), skips the test
# when PROG cannot even start with the ASan runtime preloaded (Debian 12's
# curl deadlocks in setlocale() under a preloaded libasan, with or without the
# shim). A no-op otherwise. The probe runs once per file.
need_preloadable() {
    [ -n "${SAN_RUNTIME:-}" ] || return 0
    local mark="${BATS_FILE_TMPDIR:-$T}/preloadable.${1##*/}"
    if [ ! -f "$mark" ]; then
        if timeout 5 env LD_PRELOAD="$SAN_RUNTIME" "$1" --version >/dev/null 2>&1 </dev/null; then
            echo yes >"$mark"
        else
            echo no >"$mark"
        fi
    fi
    [ "$(<"$mark")" = yes ] || skip "$1 cannot run with the ASan runtime preloaded (not a shim issue)"
}

# need_shim: fails the test early and clearly when the shim is not built.
need_shim() {
    [ -f "$SHIM" ] || {
        echo "$SHIM is missing (run make all)" >&2
        return 1
    }
}

# need_cli: the same for the rstwatch command.
need_cli() {
    [ -x "$RSTWATCH" ] || {
        echo "$RSTWATCH is missing (run make all)" >&2
        return 1
    }
}

# resolve_python: sets and exports PYTHON, python3's real executable (a pyenv
# shim is a shell script that would run under the shim too). Call from
# setup_file(), once per file.
resolve_python() {
    PYTHON="$(python3 -c 'import sys; print(sys.executable)')"
    export PYTHON
}

# need_netns: a private network namespace with lo up (sets NS; the caller's
# teardown deletes it), or skip with the exact reason when this host cannot
# make one.
need_netns() {
    command -v ip >/dev/null || skip "iproute2 (ip) is not installed"
    command -v iptables >/dev/null || skip "iptables is not installed"
    NS="${NS_PREFIX:-rwns}$$-$BATS_TEST_NUMBER"
    local out
    if ! out="$(ip netns add "$NS" 2>&1)"; then
        NS=""
        skip "cannot create a network namespace: $out"
    fi
    ip netns exec "$NS" ip link set lo up
    if ! out="$(ip netns exec "$NS" iptables -L INPUT -n 2>&1)"; then
        skip "iptables does not work inside a network namespace: $out"
    fi
}

# in_ns CMD...: runs CMD inside $NS (same pid: ip netns exec execs).
in_ns() {
    ip netns exec "$NS" "$@"
}

# assert_cause CODE STEP: (the accuracy matrix: causes.bats, accuracy.bats)
# exactly one record, of a connection the shim
# tracked from its start (not one adopted at its failure), whose cause is
# CODE with a hint that contains the next step STEP. ACCURACY_EXPECTED: what
# the table names as expected, when not CODE alone.
assert_cause() {
    local code="$1" step="$2"
    if [ -n "${ACCURACY_OUT:-}" ]; then # docs/record.md's accuracy table: test, expected, actual
        local actual
        actual="$(records | jq -r '.cause.code // "-"' | paste -sd, -)"
        printf '%s\t%s\t%s\n' "$BATS_TEST_DESCRIPTION" "${ACCURACY_EXPECTED:-$code}" "${actual:-no record}" >>"$ACCURACY_OUT"
    fi
    assert_record_count 1
    assert_jq 'any(.events[]; .op == "connect" or .op == "accept")'
    assert_jq '.cause.code == $c' --arg c "$code"
    assert_jq '(.cause.hint | type) == "string" and (.cause.hint | length) > 20'
    assert_jq '.cause.hint | contains($s)' --arg s "$step"
    assert_hint_fits
}

# assert_hint_fits: no record's hint contradicts the record's own fields
# (tests/hint_fits.jq).
assert_hint_fits() {
    local bad
    bad="$(records | jq -c "select(.cause and ($(<"$HINT_FITS") | not))")" || {
        echo "hint_fits.jq failed" >&2
        return 1
    }
    if [ -n "$bad" ]; then
        echo "hint contradicts its record: $bad" >&2
        return 1
    fi
}

# expect_cause STATUS CODE STEP: the client under the shim exited with STATUS
# and its one record passes assert_cause CODE STEP.
expect_cause() {
    assert_equal "$1" "$status" "client exit status"
    assert_cause "$2" "$3"
}
