#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# install-deps.sh: install, from Debian packages, whatever rstwatch's build,
# tests, demo and benchmarks need and this machine lacks. A no-op (no apt-get
# at all) when everything is already present.
#
#   scripts/install-deps.sh            build + test + demo dependencies
#   scripts/install-deps.sh --bench    also the benchmark tools (nginx, wrk, redis)
#   scripts/install-deps.sh --fuzz     also clang/libFuzzer
#   scripts/install-deps.sh --deb      only what `make deb` needs (Build-Depends, dpkg-dev)
#
# The build dependencies are the package's Build-Depends (debian/control),
# the one list of them; the array below adds what the tests, the demo and
# the benchmarks use. It installs packages and nothing else: it never starts,
# stops, enables or disables a service (the tests run private instances).
set -eu
cd "$(dirname "$0")/.."

want_bench=0 want_fuzz=0 want_deb=0
for a in "$@"; do
  case "$a" in
    --bench) want_bench=1 ;;
    --fuzz) want_fuzz=1 ;;
    --deb) want_deb=1 ;;
    *) echo "install-deps.sh: unknown option '$a'" >&2; exit 2 ;;
  esac
done

# build_deps: the package names in debian/control's Build-Depends (first of
# each alternative, without versions or architecture qualifiers), with
# debhelper-compat mapped to the package that provides it.
build_deps() {
  sed -n '/^Build-Depends:/,/^[^ ]/{s/^Build-Depends://;/^[^ ]/d;p}' debian/control |
    tr ',' '\n' | sed -E 's/\|.*//; s/\(.*\)//; s/\[.*\]//; s/<.*>//; s/[[:space:]]//g' |
    sed 's/^debhelper-compat$/debhelper/' | grep -v '^$'
}

# package:probe pairs; a probe starting with / is a file, "=" means the
# package itself must be installed (dpkg), otherwise a command.
deps=(
  gcc:gcc make:make pkg-config:pkg-config
  libjansson-dev:/usr/include/jansson.h
  bats:bats curl:curl python3:python3 nodejs:node jq:jq
  iproute2:ip iptables:iptables util-linux:setpriv
  valgrind:valgrind strace:strace
  clang-format:clang-format
  chromium:chromium
  procps:ps psmisc:fuser
  logrotate:logrotate rsyslog:rsyslogd systemd:systemd-analyze gzip:gzip
  nginx-light:/usr/sbin/nginx redis-server:redis-server redis-tools:redis-benchmark wrk:wrk
  haproxy:/usr/sbin/haproxy wget:wget openssl:openssl postgresql-client:psql
  python3-requests:/usr/lib/python3/dist-packages/requests/__init__.py
  dpkg-dev:dpkg-buildpackage devscripts:hardening-check lintian:lintian man-db:man
  bash-completion:/usr/share/bash-completion/bash_completion golang-go:go
  # a peer's test suite (tests/cpython) and real servers on unix sockets (tests/unix.bats)
  libpython3.11-testsuite:/usr/lib/python3.11/test/test_socket.py
  postgresql:pg_createcluster memcached:memcached netcat-openbsd:/usr/bin/nc.openbsd
  # the accuracy matrix's real servers and clients (tests/accuracy.bats)
  python3-gunicorn:/usr/lib/python3/dist-packages/gunicorn/__init__.py php-fpm:/usr/sbin/php-fpm8.2
  mariadb-server:/usr/sbin/mariadbd mariadb-client:mariadb
  python3-psycopg2:/usr/lib/python3/dist-packages/psycopg2/__init__.py
  python3-pymysql:/usr/lib/python3/dist-packages/pymysql/__init__.py
  # the daemon matrix (tests/daemons.bats): private instances of daemons that
  # sandbox, chroot, drop privileges or fork per connection (dnsmasq-base: the
  # program alone, nothing started at boot)
  openssh-server:/usr/sbin/sshd openssh-client:ssh-keygen vsftpd:/usr/sbin/vsftpd tor:/usr/bin/tor
  # (lighttpd also in tests/retry.bats: an event-loop proxy that sees a backend's reset)
  dnsmasq-base:/usr/sbin/dnsmasq exim4-daemon-light:/usr/sbin/exim4 lighttpd:/usr/sbin/lighttpd
  # rstwatch metrics against the real thing (tests/metrics.bats): private instances of
  # node_exporter and Prometheus, and promtool (in the prometheus package)
  prometheus:/usr/bin/prometheus prometheus-node-exporter:/usr/bin/prometheus-node-exporter
  # rstwatch capture's scenarios (tests/capture.bats): nftables rejects, tcpkill injects
  nftables:nft dsniff:tcpkill
  # a daemon that forks per connection under a filter inherited at exec (tests/sandbox.bats)
  socat:socat
)
[ "$want_deb" = 1 ] && deps=(gcc:gcc make:make dpkg-dev:dpkg-buildpackage)
for p in $(build_deps); do deps+=("$p:="); done
# (linux-perf: the capture row's share of the host's CPU, perf record -a)
[ "$want_bench" = 1 ] && deps+=(hyperfine:hyperfine util-linux:taskset linux-perf:perf)
[ "$want_fuzz" = 1 ] && deps+=(clang:clang libclang-rt-14-dev:/usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a)

missing=()
for d in "${deps[@]}"; do
  pkg=${d%%:*} probe=${d#*:}
  if [ "$probe" = "=" ]; then
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" = installed ] && continue
  elif [ "${probe#/}" != "$probe" ]; then
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
exit 0
