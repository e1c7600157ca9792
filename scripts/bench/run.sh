#!/usr/bin/env bash
# run.sh: `make bench` — what rstwatch costs, side by side with bare runs.
#
# Every timing is a paired ratio: in each round the bare run and the
# preloaded runs are done back to back (order rotated round to round), the
# ratio is taken within the round, and the table shows the median ratio and
# its min–max. Instruction counts come from valgrind callgrind (deterministic)
# and are the primary gate. Two preloads are compared with bare:
#   passthrough  build/bench/libpassthrough.so: forwards the same I/O calls,
#                nothing else (the floor any LD_PRELOAD pays)
#   rstwatch     build/librstwatch.so, default options, RSTWATCH_LOG in a temp dir
# and `strace -f -e trace=%network -o FILE` (what users reach for today).
#
# Environment:
#   BUILD         build directory holding librstwatch.so and helpers/ (default build)
#   BENCH_QUICK   1: fewer rounds and smaller sizes, finishes in < 2 minutes
#   BENCH_CPU     CPU for the pinned micro-benchmarks and the servers (default: last)
#   BENCH_LOADCPU CPU for the load generators wrk/redis-benchmark (default 0)
#   BENCH_ONLY    space-separated subset of: callgrind micro pingpong bulk memory io nginx redis
#
# Output: the table on stdout and in $BUILD/bench/results.md; raw samples in
# $BUILD/bench/raw.log.
set -u
cd "$(dirname "$0")/../.." || exit 2

BUILD=${BUILD:-build}
QUICK=${BENCH_QUICK:-0}
NCPU=$(nproc)
CPU=${BENCH_CPU:-$((NCPU - 1))}
LOADCPU=${BENCH_LOADCPU:-0}
ONLY=${BENCH_ONLY:-callgrind micro pingpong bulk memory io nginx redis}
OUT=$BUILD/bench
H=$BUILD/helpers
SHIM=$PWD/$BUILD/librstwatch.so
PASS=$PWD/$OUT/libpassthrough.so
STATS=scripts/bench/stats.py

if [ "$QUICK" = 1 ]; then
  ROUNDS=5 PP_N=5000 BULK_MIB=256 CG_N=2000 EAGAIN_N=200000 CONNS=2000
  SRV_ROUNDS=3 SRV_SECS=2 REDIS_N=20000 REDIS_NP=100000
else
  ROUNDS=9 PP_N=40000 BULK_MIB=1024 CG_N=20000 EAGAIN_N=2000000 CONNS=10000
  SRV_ROUNDS=5 SRV_SECS=5 REDIS_N=100000 REDIS_NP=500000
fi

die() { echo "bench: $*" >&2; exit 1; }
want() { case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }

for f in "$SHIM" "$H/bench_pingpong" "$H/bench_bulk" "$H/bench_eagain" "$H/bench_conns" \
         "$H/bench_callgrind"; do
  [ -e "$f" ] || die "missing $f (run 'make all check-helpers' or 'make bench')"
done
command -v python3 >/dev/null || die "python3 is required"

mkdir -p "$OUT"
${CC:-gcc} -O2 -fPIC -shared -fvisibility=hidden -Wall -Wextra -Werror \
  -o "$PASS" scripts/bench/passthrough.c -ldl || die "cannot build the pass-through preload"

TMP=$(mktemp -d /tmp/rstwatch-bench.XXXXXX)
chmod 0755 "$TMP" # nginx workers may run as another user
mkdir -p "$TMP/log"
export RSTWATCH_LOG="$TMP/log/%p.jsonl"
ROWS=$OUT/rows.tsv
RAW=$OUT/raw.log
: >"$ROWS"
: >"$RAW"
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

section() { printf '\n== %s\n' "$*"; }
pin() { taskset -c "$1" "${@:2}"; }
# env prefix for a variant: bare | pass | shim
pre() {
  case "$1" in
    bare) echo "env" ;;
    pass) echo "env LD_PRELOAD=$PASS" ;;
    shim) echo "env LD_PRELOAD=$SHIM" ;;
  esac
}
wait_file() { # path, tries
  local i=0
  while [ ! -s "$1" ]; do
    i=$((i + 1)); [ "$i" -gt 500 ] && return 1
    sleep 0.01
  done
}
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# rotate LIST by R: the run order of round R
rotate() {
  local r=$1; shift
  local a=("$@") n=$#
  for ((i = 0; i < n; i++)); do printf '%s ' "${a[$(((i + r) % n))]}"; done
}
join() { local IFS=,; echo "$*"; }
val() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" | head -1; }

START=$(date +%s)
echo "rstwatch bench: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(uname -r), $NCPU CPUs, quick=$QUICK," \
  "pinned CPU $CPU, load CPU $LOADCPU, $ROUNDS rounds"

# ---------------------------------------------------------------------------
# 4. instructions per intercepted call (callgrind)
# ---------------------------------------------------------------------------
cg_ir() { # variant mode N [toggle]: prints collected Ir
  local f="$TMP/cg.$RANDOM" extra=(--toggle-collect=bench_region)
  [ "${4:-1}" = 0 ] && extra=()
  $(pre "$1") valgrind --tool=callgrind "${extra[@]}" --callgrind-out-file="$f" \
    "$H/bench_callgrind" "$2" "$3" >/dev/null 2>"$f.err" || { echo "ERR"; return; }
  sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$f.err"
}
if want callgrind; then
  section "instructions per intercepted call (callgrind, N=$CG_N iterations)"
  if command -v valgrind >/dev/null; then
    for m in send write pipe file; do
      case $m in
        send) label="tracked socket, send/recv" ;;
        write) label="tracked socket, write/read" ;;
        pipe) label="untracked fd: pipe write/read" ;;
        file) label="untracked fd: file write/read" ;;
      esac
      case $m in send | write) calls=$((CG_N * 4)) goal="<=60" ;; *) calls=$((CG_N * 2)) goal="<=8" ;; esac
      b=$(cg_ir bare $m "$CG_N") p=$(cg_ir pass $m "$CG_N") s=$(cg_ir shim $m "$CG_N")
      echo "callgrind $m bare=$b pass=$p shim=$s calls=$calls" >>"$RAW"
      for v in pass shim; do
        w=$p; [ $v = shim ] && w=$s
        d=$(python3 -c "print(round(($w-$b)/$calls,1))" 2>/dev/null || echo ERR)
        python3 $STATS value "$ROWS" "instr/call, $label" \
          "$([ $v = pass ] && echo passthrough || echo rstwatch)" "$b Ir" "$w Ir" "$d" "Ir/call" \
          "$([ $v = shim ] && echo "$goal" || echo -)"
      done
    done
    b=$(cg_ir bare none 0 0) p=$(cg_ir pass none 0 0) s=$(cg_ir shim none 0 0)
    echo "callgrind load bare=$b pass=$p shim=$s" >>"$RAW"
    python3 $STATS value "$ROWS" "instr to load (whole run of an empty program)" passthrough \
      "$b Ir" "$p Ir" "$((p - b))" "Ir" -
    python3 $STATS value "$ROWS" "instr to load (whole run of an empty program)" rstwatch \
      "$b Ir" "$s Ir" "$((s - b))" "Ir" "<=100000"
  else
    python3 $STATS value "$ROWS" "instructions (callgrind)" rstwatch - - "valgrind missing" "" "<=60"
  fi
fi

# ---------------------------------------------------------------------------
# 5. the cheapest call: recv(MSG_DONTWAIT) -> EAGAIN on a tracked socket
# ---------------------------------------------------------------------------
if want micro; then
  section "recv(MSG_DONTWAIT) -> EAGAIN, ns per call (pinned CPU $CPU)"
  declare -A NS=()
  for ((r = 0; r < ROUNDS; r++)); do
    for v in $(rotate $r bare pass shim); do
      x=$(pin "$CPU" $(pre $v) "$H/bench_eagain" "$EAGAIN_N" 5 | val ns_per_call)
      NS[$v]+="$x,"
      echo "eagain round=$r $v ns=$x" >>"$RAW"
    done
  done
  python3 - "$ROWS" "${NS[bare]}" "${NS[pass]}" "${NS[shim]}" <<'EOF'
import statistics, subprocess, sys
rows, b, p, s = sys.argv[1:]
b, p, s = ([float(x) for x in l.split(",") if x] for l in (b, p, s))
for name, w, goal in (("passthrough", p, "-"), ("rstwatch", s, "<=30")):
    d = [wi - bi for bi, wi in zip(b, w)]
    med = statistics.median(d)
    subprocess.run([sys.executable, "scripts/bench/stats.py", "value", rows,
                    "recv(MSG_DONTWAIT)->EAGAIN, extra ns/call", name,
                    f"{statistics.median(b):.1f} ns", f"{statistics.median(w):.1f} ns",
                    f"{med:+.1f}", f"ns ({min(d):+.1f}..{max(d):+.1f})", goal])
EOF
fi

# ---------------------------------------------------------------------------
# 1. ping-pong, 64-byte messages, client and server pinned to one CPU
# ---------------------------------------------------------------------------
# pp_run VARIANT IO SIDES: prints ns per round trip
pp_run() {
  local v=$1 io=$2 sides=$3 port cpre spre
  rm -f "$TMP/pp.port"
  spre="env"; cpre=$(pre "$v")
  [ "$sides" = both ] && spre=$(pre "$v")
  case $v in
    strace)
      cpre="strace -f -qq -e trace=%network -o $TMP/strace.out"
      [ "$sides" = both ] && spre=$cpre ;;
  esac
  [ "$v" = strace ] && [ "$sides" = both ] && spre="strace -f -qq -e trace=%network -o $TMP/strace.srv"
  taskset -c "$CPU" $spre "$H/bench_pingpong" server "$TMP/pp.port" --io "$io" &
  local spid=$!
  PIDS+=("$spid")
  wait_file "$TMP/pp.port" || { kill "$spid"; echo ERR; return; }
  port=$(cat "$TMP/pp.port")
  pin "$CPU" $cpre "$H/bench_pingpong" client "$port" "$PP_N" --io "$io" | val ns_per_rt
  wait "$spid"
}
if want pingpong; then
  for io in send write; do
    for sides in client both; do
      section "ping-pong 64 B, --io $io, preload on $sides side(s), $PP_N round trips (pinned CPU $CPU)"
      variants=(bare pass shim strace)
      declare -A PP=()
      for ((r = 0; r < ROUNDS; r++)); do
        for v in $(rotate $r "${variants[@]}"); do
          x=$(pp_run $v $io $sides)
          # round trips per second: higher is better
          rps=$(python3 -c "print(1e9/$x)" 2>/dev/null || echo "")
          PP[$v]+="$rps,"
          echo "pingpong io=$io sides=$sides round=$r $v ns_per_rt=$x" >>"$RAW"
        done
      done
      name="ping-pong 64B $io/$( [ $io = send ] && echo recv || echo read), preload on $sides"
      python3 $STATS pair "$ROWS" "$name" passthrough "rt/s" - "${PP[bare]}" "${PP[pass]}"
      python3 $STATS pair "$ROWS" "$name" rstwatch "rt/s" ">=0.97" "${PP[bare]}" "${PP[shim]}"
      python3 $STATS pair "$ROWS" "$name" "strace %network" "rt/s" - "${PP[bare]}" "${PP[strace]}"
      unset PP
    done
  done
fi

# ---------------------------------------------------------------------------
# 2. bulk transfer, 64 KiB write()s, preload on both sides
# ---------------------------------------------------------------------------
bulk_run() {
  local v=$1 p=$(pre "$1")
  rm -f "$TMP/bulk.port"
  [ "$v" = strace ] && p="strace -f -qq -e trace=%network -o $TMP/strace.bulk"
  taskset -c "$CPU" $p "$H/bench_bulk" recv "$TMP/bulk.port" &
  local spid=$!
  PIDS+=("$spid")
  wait_file "$TMP/bulk.port" || { kill "$spid"; echo ERR; return; }
  pin "$CPU" $p "$H/bench_bulk" send "$(cat "$TMP/bulk.port")" "$BULK_MIB" | val mib_per_s
  wait "$spid"
}
if want bulk; then
  section "bulk ${BULK_MIB} MiB in 64 KiB writes, preload on both sides (pinned CPU $CPU)"
  declare -A BK=()
  for ((r = 0; r < ROUNDS; r++)); do
    for v in $(rotate $r bare pass shim strace); do
      x=$(bulk_run $v)
      BK[$v]+="$x,"
      echo "bulk round=$r $v MiB/s=$x" >>"$RAW"
    done
  done
  python3 $STATS pair "$ROWS" "bulk ${BULK_MIB} MiB, 64 KiB writes" passthrough "MiB/s" - "${BK[bare]}" "${BK[pass]}"
  python3 $STATS pair "$ROWS" "bulk ${BULK_MIB} MiB, 64 KiB writes" rstwatch "MiB/s" ">=0.97" "${BK[bare]}" "${BK[shim]}"
  python3 $STATS pair "$ROWS" "bulk ${BULK_MIB} MiB, 64 KiB writes" "strace %network" "MiB/s" - "${BK[bare]}" "${BK[strace]}"
fi

# ---------------------------------------------------------------------------
# 6. memory: RSS per tracked connection, and for untracked fds
# ---------------------------------------------------------------------------
if want memory; then
  section "memory: $CONNS connections held, $CONNS pipe fds"
  hard=$(ulimit -Hn)
  [ "$hard" != unlimited ] && [ "$hard" -lt $((CONNS + 64)) ] && CONNS=$((hard - 64))
  ulimit -n "$hard" 2>/dev/null || ulimit -n $((CONNS + 64)) 2>/dev/null
  declare -A MB=() MA=() PB=() PA=()
  for v in bare shim; do
    rm -f "$TMP/mem.port"
    mkfifo "$TMP/hold.$v"
    "$H/bench_conns" accept "$TMP/mem.port" "$CONNS" <"$TMP/hold.$v" &
    apid=$!
    PIDS+=("$apid")
    exec 7>"$TMP/hold.$v"
    wait_file "$TMP/mem.port" || die "memory acceptor did not start"
    line=$($(pre $v) "$H/bench_conns" hold "$(cat "$TMP/mem.port")" "$CONNS")
    exec 7>&-
    wait "$apid"
    MB[$v]=$(echo "$line" | val rss_before_kib) MA[$v]=$(echo "$line" | val rss_after_kib)
    echo "memory $v conns: ${MB[$v]} -> ${MA[$v]} KiB" >>"$RAW"
  done
  # untracked fds: RSS moves by +-64 KiB run to run (bare too), so take the
  # median growth of 5 interleaved runs each
  PG_bare="" PG_shim=""
  for ((r = 0; r < 5; r++)); do
    for v in $(rotate $r bare shim); do
      line=$($(pre $v) "$H/bench_conns" pipes "$CONNS")
      g=$(($(echo "$line" | val rss_after_kib) - $(echo "$line" | val rss_before_kib)))
      [ $v = bare ] && PG_bare+="$g " || PG_shim+="$g "
      echo "memory $v pipes round=$r: +$g KiB" >>"$RAW"
    done
  done
  med() { printf '%s\n' $* | sort -n | sed -n 3p; }
  PB[bare]=0 PA[bare]=$(med $PG_bare) PB[shim]=0 PA[shim]=$(med $PG_shim)
  per=$(((((MA[shim] - MB[shim]) - (MA[bare] - MB[bare])) * 1024) / CONNS))
  python3 $STATS value "$ROWS" "RSS per tracked connection ($CONNS open)" rstwatch \
    "+$((MA[bare] - MB[bare])) KiB" "+$((MA[shim] - MB[shim])) KiB" "$per" "B/conn" "<=2048"
  per=$(((((PA[shim] - PB[shim]) - (PA[bare] - PB[bare])) * 1024) / CONNS))
  # RSS moves in 4 KiB pages and malloc arenas: a real per-fd allocation would
  # show as >= 8 B/fd; under 1 B/fd is page-level noise, i.e. 0.
  per=$(python3 -c "print(round((($((PA[shim] - PB[shim])) - $((PA[bare] - PB[bare]))) * 1024) / $CONNS, 2))")
  python3 $STATS value "$ROWS" "RSS per untracked fd ($CONNS pipe fds, median of 5)" rstwatch \
    "+$((PA[bare] - PB[bare])) KiB" "+$((PA[shim] - PB[shim])) KiB" "$per" "B/fd" "<=1"
  python3 $STATS value "$ROWS" "RSS at start, before any socket (lazy allocation)" rstwatch \
    "${MB[bare]} KiB" "${MB[shim]} KiB" "$((MB[shim] - MB[bare]))" "KiB" -
fi

# ---------------------------------------------------------------------------
# 7. zero I/O on a clean run
# ---------------------------------------------------------------------------
if want io; then
  section "I/O on a clean run (strace of a ping-pong client, bare vs rstwatch)"
  io_trace() { # variant -> "opens=N writes=BYTES"
    rm -f "$TMP/pp.port"
    "$H/bench_pingpong" server "$TMP/pp.port" &
    local spid=$!
    PIDS+=("$spid")
    wait_file "$TMP/pp.port"
    strace -f -qq -e trace=open,openat,creat,mkdir,mkdirat,write,writev,pwrite64 \
      -E "LD_PRELOAD=$([ "$1" = shim ] && echo "$SHIM")" -o "$TMP/io.$1" \
      "$H/bench_pingpong" client "$(cat "$TMP/pp.port")" 1000 >/dev/null
    wait "$spid"
    # the dynamic loader opening the preloaded object itself is not the shim's I/O
    grep -v -F "$SHIM" "$TMP/io.$1" | python3 -c '
import re, sys
opens = writes = 0
for l in sys.stdin:
    m = re.search(r"\b(open|openat|creat|mkdir|mkdirat|write|writev|pwrite64)\((\d*).*= (-?\d+)", l)
    if not m: continue
    if m.group(2) == "1": continue  # stdout: the client reporting its figures
    if m.group(1) in ("write", "writev", "pwrite64"):
        writes += max(int(m.group(3)), 0)
    elif int(m.group(3)) >= 0:
        opens += 1
print(f"opens={opens} writes={writes}")'
  }
  if command -v strace >/dev/null; then
    b=$(io_trace bare) s=$(io_trace shim)
    echo "io bare: $b; shim: $s" >>"$RAW"
    ob=$(echo "$b" | val opens) os=$(echo "$s" | val opens)
    wb=$(echo "$b" | val writes) ws=$(echo "$s" | val writes)
    python3 $STATS value "$ROWS" "files opened by the shim, clean run" rstwatch "$ob opens" "$os opens" "$((os - ob))" "" "==0"
    python3 $STATS value "$ROWS" "bytes written by the shim, clean run" rstwatch "$wb B" "$ws B" "$((ws - wb))" "B" "==0"
  fi
  n=$(find "$TMP/log" -type f | wc -l)
  python3 $STATS value "$ROWS" "record files after the micro-benchmarks" rstwatch - - "$n" "" "==0"
fi

# ---------------------------------------------------------------------------
# 3. real servers side by side: nginx + wrk, redis-server + redis-benchmark
# ---------------------------------------------------------------------------
# Servers on $CPU, load generators on $LOADCPU: both instances get the same
# CPUs at the same time, so drift and neighbours hit both alike.
nginx_conf() { # dir port sendfile
  mkdir -p "$1/www" "$1/tmp"
  [ -e "$TMP/www/index.html" ] || { mkdir -p "$TMP/www"; head -c 16384 /dev/zero | tr '\0' x >"$TMP/www/index.html"; }
  cat >"$1/nginx.conf" <<EOF
$([ "$(id -u)" = 0 ] && echo "user root;")
worker_processes 1;
daemon off;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile $3;
  tcp_nopush off;
  keepalive_requests 1000000;
  client_body_temp_path $1/tmp/body;
  proxy_temp_path $1/tmp/proxy;
  fastcgi_temp_path $1/tmp/fastcgi;
  uwsgi_temp_path $1/tmp/uwsgi;
  scgi_temp_path $1/tmp/scgi;
  server {
    listen 127.0.0.1:$2;
    root $TMP/www;
    location / { }
  }
}
EOF
}
wait_port() { # port
  local i
  for ((i = 0; i < 300; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.02
  done
  return 1
}
NGINX=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
if want nginx && [ -x "$NGINX" ]; then
  if command -v wrk >/dev/null; then
    for sf in off on; do
      section "nginx (sendfile $sf) + wrk, bare and rstwatch side by side, $SRV_ROUNDS x ${SRV_SECS}s"
      pb=$(free_port) ps=$(free_port)
      while [ "$ps" = "$pb" ]; do ps=$(free_port); done
      nginx_conf "$TMP/ngx-bare" "$pb" $sf
      nginx_conf "$TMP/ngx-shim" "$ps" $sf
      taskset -c "$CPU" "$NGINX" -p "$TMP/ngx-bare" -e "$TMP/ngx-bare/error.log" -c "$TMP/ngx-bare/nginx.conf" </dev/null >/dev/null 2>&1 &
      PIDS+=("$!"); nb=$!
      taskset -c "$CPU" env LD_PRELOAD="$SHIM" "$NGINX" -p "$TMP/ngx-shim" -e "$TMP/ngx-shim/error.log" -c "$TMP/ngx-shim/nginx.conf" </dev/null >/dev/null 2>&1 &
      PIDS+=("$!"); ns=$!
      if wait_port "$pb" && wait_port "$ps"; then
        B="" S=""
        for ((r = 0; r < SRV_ROUNDS; r++)); do
          taskset -c "$LOADCPU" wrk -t1 -c32 -d"${SRV_SECS}s" "http://127.0.0.1:$pb/index.html" >"$TMP/wrk.bare" 2>&1 &
          w1=$!
          taskset -c "$LOADCPU" wrk -t1 -c32 -d"${SRV_SECS}s" "http://127.0.0.1:$ps/index.html" >"$TMP/wrk.shim" 2>&1 &
          w2=$!
          wait $w1 $w2
          xb=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$TMP/wrk.bare")
          xs=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$TMP/wrk.shim")
          grep -q "Non-2xx" "$TMP/wrk.bare" "$TMP/wrk.shim" && echo "bench: nginx answered non-2xx" >&2
          B+="$xb," S+="$xs,"
          echo "nginx sendfile=$sf round=$r bare=$xb shim=$xs" >>"$RAW"
        done
        python3 $STATS pair "$ROWS" "nginx sendfile $sf + wrk (16 KiB file, c32)" rstwatch "req/s" ">=0.97" "$B" "$S"
      else
        python3 $STATS value "$ROWS" "nginx sendfile $sf + wrk" rstwatch - - "nginx did not start" "" ">=0.97"
        cat "$TMP"/ngx-*/error.log >&2
      fi
      kill "$nb" "$ns" 2>/dev/null
      wait "$nb" "$ns" 2>/dev/null
    done
  fi
fi
if want redis && command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null; then
  pb=$(free_port) ps=$(free_port)
  while [ "$ps" = "$pb" ]; do ps=$(free_port); done
  ropts=(--save "" --appendonly no --bind 127.0.0.1 --protected-mode no --daemonize no
         --logfile "" --dir "$TMP")
  taskset -c "$CPU" redis-server --port "$pb" "${ropts[@]}" </dev/null >/dev/null 2>&1 &
  PIDS+=("$!"); rb=$!
  taskset -c "$CPU" env LD_PRELOAD="$SHIM" redis-server --port "$ps" "${ropts[@]}" </dev/null >/dev/null 2>&1 &
  PIDS+=("$!"); rs=$!
  if wait_port "$pb" && wait_port "$ps"; then
    for P in 1 16; do
      n=$REDIS_N; [ $P = 16 ] && n=$REDIS_NP
      section "redis-server + redis-benchmark -t get,set -P $P -n $n, bare and rstwatch side by side"
      declare -A RB=() RS=()
      for ((r = 0; r < SRV_ROUNDS; r++)); do
        taskset -c "$LOADCPU" redis-benchmark -p "$pb" -t get,set -n "$n" -P $P -q --csv >"$TMP/rb.bare" 2>/dev/null &
        w1=$!
        taskset -c "$LOADCPU" redis-benchmark -p "$ps" -t get,set -n "$n" -P $P -q --csv >"$TMP/rb.shim" 2>/dev/null &
        w2=$!
        wait $w1 $w2
        for t in SET GET; do
          xb=$(sed -n "s/^\"$t\",\"\([0-9.]*\)\".*/\1/p" "$TMP/rb.bare")
          xs=$(sed -n "s/^\"$t\",\"\([0-9.]*\)\".*/\1/p" "$TMP/rb.shim")
          RB[$t]+="$xb," RS[$t]+="$xs,"
          echo "redis P=$P $t round=$r bare=$xb shim=$xs" >>"$RAW"
        done
      done
      for t in SET GET; do
        python3 $STATS pair "$ROWS" "redis-benchmark $t -P $P (c50)" rstwatch "req/s" ">=0.97" "${RB[$t]}" "${RS[$t]}"
      done
      unset RB RS
    done
  else
    python3 $STATS value "$ROWS" "redis-benchmark" rstwatch - - "redis-server did not start" "" ">=0.97"
  fi
  kill "$rb" "$rs" 2>/dev/null
  wait "$rb" "$rs" 2>/dev/null
fi
if want nginx || want redis; then
  n=$(find "$TMP/log" -type f -newer "$ROWS" 2>/dev/null | wc -l)
  r=$(cat "$TMP"/log/* 2>/dev/null | wc -l)
  python3 $STATS value "$ROWS" "records written during the server runs (informational)" rstwatch - - "$r" "records" -
fi

section "results ($(($(date +%s) - START)) s)"
python3 $STATS table "$ROWS" "$OUT/results.md"
{
  echo
  echo "Machine: $NCPU CPUs, $(uname -r); quick=$QUICK; rounds=$ROUNDS; $(date -u +%Y-%m-%d)."
  echo "Reproduce: \`make bench\` (or \`BENCH_QUICK=1 make bench\`); raw samples in $RAW."
} >>"$OUT/results.md"
