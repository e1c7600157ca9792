#!/usr/bin/env bash
# install-deps.sh: install, from Debian packages, whatever rstwatch's build,
# tests, demo and benchmarks need and this machine lacks. A no-op (no apt-get
# at all) when everything is already present.
#
#   scripts/install-deps.sh            build + test + demo dependencies
#   scripts/install-deps.sh --bench    also the benchmark tools (nginx, wrk, redis)
#   scripts/install-deps.sh --fuzz     also clang/libFuzzer
set -eu

want_bench=0 want_fuzz=0
for a in "$@"; do
  case "$a" in
    --bench) want_bench=1 ;;
    --fuzz) want_fuzz=1 ;;
    *) echo "install-deps.sh: unknown option '$a'" >&2; exit 2 ;;
  esac
done

# package:probe pairs; a probe starting with / is a file, otherwise a command.
deps=(
  gcc:gcc make:make pkg-config:pkg-config
  libjansson-dev:/usr/include/jansson.h
  bats:bats curl:curl python3:python3 nodejs:node jq:jq
  iproute2:ip iptables:iptables util-linux:setpriv
  valgrind:valgrind strace:strace
  clang-format:clang-format
  chromium:chromium
  procps:ps psmisc:fuser
  nginx-light:/usr/sbin/nginx redis-server:redis-server redis-tools:redis-benchmark wrk:wrk
  # a peer's test suite (tests/cpython) and real servers on unix sockets (tests/unix.bats)
  libpython3.11-testsuite:/usr/lib/python3.11/test/test_socket.py
  postgresql:pg_createcluster memcached:memcached netcat-openbsd:/usr/bin/nc.openbsd
)
[ "$want_bench" = 1 ] && deps+=(hyperfine:hyperfine util-linux:taskset)
[ "$want_fuzz" = 1 ] && deps+=(clang:clang libclang-rt-14-dev:/usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a)

missing=()
for d in "${deps[@]}"; do
  pkg=${d%%:*} probe=${d#*:}
  if [ "${probe#/}" != "$probe" ]; then
    [ -e "$probe" ] && continue
  else
    command -v "$probe" >/dev/null 2>&1 && continue
  fi
  missing+=("$pkg")
done

[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps.sh: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-deps.sh: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
# nginx/redis packages start system services; the tests run their own copies.
for svc in nginx redis-server; do
  $sudo systemctl disable --now "$svc" >/dev/null 2>&1 || $sudo service "$svc" stop >/dev/null 2>&1 || true
done
exit 0
