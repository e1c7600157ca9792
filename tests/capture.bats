#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# capture.bats: `rstwatch capture` names who sent each reset, on real packets.
#
# Each test builds three network namespaces, client — router — server, joined
# by veth pairs with forwarding on in the router (IPv4 and IPv6), and removes
# them afterwards. The server (tests/capture/peers.py) runs in the server
# namespace; the reset comes from wherever the scenario puts it: the server
# application, the router's iptables or nftables, tcpkill on the router, the
# server host's own firewall, the router's conntrack forgetting an idle
# connection. rstwatch capture runs in the client namespace (on "any"), the
# program runs there under the shim, and each test checks the packet record's
# verdict and evidence, the capture's counts at SIGTERM, and what
# `rstwatch report` says about the joined incident.

load lib

PEERS="$RSTWATCH_ROOT/tests/capture/peers.py"

setup() {
    rstwatch_setup
    [ "$(id -u)" = 0 ] || skip "needs root: network namespaces and packet capture"
    NSID="rwcap$$x$BATS_TEST_NUMBER"
    C="${NSID}c" R="${NSID}r" S="${NSID}s"
    topo_up
    CAP_PID=""
}

teardown() {
    [ -n "${CAP_PID:-}" ] && kill -KILL "$CAP_PID" 2>/dev/null
    for pid in "${BG_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    local n
    for n in "${C:-}" "${R:-}" "${S:-}"; do
        [ -n "$n" ] || continue
        ip netns pids "$n" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
        ip netns del "$n" 2>/dev/null || true
    done
    rstwatch_teardown
}

BG_PIDS=()

# topo_up: client 10.231.1.2 / fd00:231:1::2 — router .1 on both sides —
# server 10.231.2.2 / fd00:231:2::2. The server is two hops from the client:
# its packets arrive with TTL 63, the router's own with 64.
topo_up() {
    local n
    for n in "$C" "$R" "$S"; do ip netns add "$n" || skip "cannot create a network namespace"; done
    ip link add c0 netns "$C" type veth peer name r0 netns "$R"
    ip link add s0 netns "$S" type veth peer name r1 netns "$R"
    ip -n "$C" addr add 10.231.1.2/24 dev c0
    ip -n "$R" addr add 10.231.1.1/24 dev r0
    ip -n "$S" addr add 10.231.2.2/24 dev s0
    ip -n "$R" addr add 10.231.2.1/24 dev r1
    ip -n "$C" addr add fd00:231:1::2/64 dev c0 nodad
    ip -n "$R" addr add fd00:231:1::1/64 dev r0 nodad
    ip -n "$S" addr add fd00:231:2::2/64 dev s0 nodad
    ip -n "$R" addr add fd00:231:2::1/64 dev r1 nodad
    for n in "$C" "$R" "$S"; do ip -n "$n" link set lo up; done
    ip -n "$C" link set c0 up
    ip -n "$R" link set r0 up
    ip -n "$R" link set r1 up
    ip -n "$S" link set s0 up
    ip -n "$C" route add default via 10.231.1.1
    ip -n "$S" route add default via 10.231.2.1
    ip -n "$C" -6 route add default via fd00:231:1::1
    ip -n "$S" -6 route add default via fd00:231:2::1
    ip netns exec "$R" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
}

# bg NS NAME CMD...: CMD in the background inside namespace NS, output in $T/NAME.out/.err.
bg() {
    local ns="$1" name="$2"
    shift 2
    ip netns exec "$ns" "$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null 3>&- &
    BG_PIDS+=($!)
    LAST_PID=$!
}

# wait_for FILE PATTERN [SECONDS]: until FILE has a line matching PATTERN (default 10 s).
wait_for() {
    local i
    for ((i = 0; i < ${3:-10} * 50; i++)); do
        grep -q -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.02
    done
    echo "no '$2' in $1 after ${3:-10} s:" >&2
    cat "$1" >&2 2>/dev/null
    return 1
}

# server_up: the test server on port 8080 in the server namespace.
server_up() {
    bg "$S" server python3 "$PEERS" server 8080
    local i
    for ((i = 0; i < 250; i++)); do
        ip netns exec "$S" ss -Hltn 'sport = :8080' | grep -q . && return 0
        sleep 0.02
    done
    echo "the test server did not listen" >&2
    return 1
}

# capture_up [NS] [ARGS...]: rstwatch capture in NS (default the client's),
# packet records in $T/logs/capture-NS.jsonl; waits until it listens.
capture_up() {
    local ns="${1:-$C}"
    shift || true
    mkdir -p "$LOG_DIR"
    CAP_LOG="$LOG_DIR/capture-$ns.jsonl"
    bg "$ns" "capture-$ns" "$RSTWATCH" capture -l "$CAP_LOG" "$@"
    CAP_PID=$LAST_PID
    wait_for "$T/capture-$ns.err" "listening on any"
}

# capture_down: SIGTERM; it must stop cleanly (status 0) and print its counts.
capture_down() {
    kill -TERM "$CAP_PID"
    local rc=0
    wait "$CAP_PID" || rc=$?
    CAP_PID=""
    [ "$rc" = 0 ] || { echo "capture exited $rc" >&2; cat "$T/capture-$C.err" >&2; return 1; }
    COUNTS="$(grep 'rstwatch capture: stopped:' "$T/capture-$C.err")"
    [ -n "$COUNTS" ]
}

# client CMD...: runs CMD in the client namespace under the shim (rstwatch run), bounded.
client() {
    run timeout 30 ip netns exec "$C" "$RSTWATCH" run -- "$@"
}

# the_packet: the one packet record the capture wrote (fails unless exactly one).
the_packet() {
    local n
    n="$(grep -c '"type":"packet"' "$CAP_LOG")"
    [ "$n" = 1 ] || { echo "want 1 packet record, got $n:" >&2; cat "$CAP_LOG" >&2; return 1; }
    grep '"type":"packet"' "$CAP_LOG"
}

# report_of: `rstwatch report` of every log of the test (shim and capture).
report_of() {
    run "$RSTWATCH" report "$LOG_DIR"
    [ "$status" = 0 ]
    echo "$output" >"$T/report.txt"
}

@test "capture --help names its options; a bad option is a usage error" {
    run "$RSTWATCH" capture --help
    [ "$status" = 0 ]
    [[ "$output" == *"--pcap FILE"* ]]
    [[ "$output" == *"CAP_NET_RAW"* ]]
    run "$RSTWATCH" capture --flows many
    [ "$status" = 2 ]
    [[ "$output" == *"--flows wants a number"* ]]
    run "$RSTWATCH" capture -i nosuchif0
    [ "$status" = 1 ]
    [[ "$output" == "rstwatch capture: nosuchif0"* ]]
}

@test "the server application resets (SO_LINGER 0): rst_from peer, the server's host" {
    need_preloadable curl
    server_up
    capture_up "$C" --pcap "$T/cap.pcap"
    client curl -s -m 5 http://10.231.2.2:8080/abort
    [ "$status" = 56 ] || { echo "$output" >&2; false; } # curl: failure receiving data (connection reset)
    wait_for "$CAP_LOG" '"type":"packet"'
    capture_down
    [[ "$COUNTS" == *"1 RSTs judged: 1 peer, 0 path, 0 local, 0 unknown"* ]]
    p="$(the_packet)"
    [ "$(jq -r '[.rst_from, .hops, .peer_hops, .ttl, .peer_ttl, .dir, .iface, .role] | @tsv' <<<"$p")" = \
        "$(printf 'peer\t2\t2\t63\t63\tin\tc0\tclient')" ]
    [ "$(jq -r '.local + " " + .peer + " " + .flags' <<<"$p")" = "$(jq -r '.local' <<<"$p") 10.231.2.2:8080 R." ]
    [ "$(jq -r .cause.code <<<"$p")" = unknown ]
    [[ "$(jq -r .cause.hint <<<"$p")" == "the server's host (its kernel or firewall"* ]]
    # --pcap saved what it looked at: a pcap file (Linux cooked v2) with the handshake and the RST.
    [ "$(od -An -tx4 -N4 "$T/cap.pcap" | tr -d ' ')" = a1b2c3d4 ]
    [ "$(od -An -tu4 -j20 -N4 "$T/cap.pcap" | tr -d ' ')" = 276 ]
    [ "$(stat -c %s "$T/cap.pcap")" -gt 200 ]
    report_of
    [[ "$output" == *"reset by  the server's host (its kernel or firewall, or the application)"* ]]
    [[ "$output" == *"curl["* ]]
}

@test "the router rejects a string with iptables tcp-reset: rst_from path, 1 hop away, joined as path_reset" {
    need_preloadable curl
    server_up
    ip netns exec "$R" iptables -A FORWARD -p tcp -m string --string /blocked --algo bm \
        -j REJECT --reject-with tcp-reset
    capture_up
    client curl -s -m 5 http://10.231.2.2:8080/blocked
    [ "$status" = 56 ]
    wait_for "$CAP_LOG" '"type":"packet"'
    capture_down
    [[ "$COUNTS" == *"1 RSTs judged: 0 peer, 1 path, 0 local, 0 unknown"* ]]
    p="$(the_packet)"
    [ "$(jq -r '[.rst_from, .hops, .peer_hops, .ttl, .peer_ttl, .cause.code] | @tsv' <<<"$p")" = \
        "$(printf 'path\t1\t2\t64\t63\tpath_reset')" ]
    [ "$(jq -r .ip_id_seq <<<"$p")" = zero ] # a firewall's reject, not the server's socket
    # The shim's record of curl's recv and the packet record are one incident.
    report_of
    [[ "$output" == *"1 incident in 1 group"* ]]
    [[ "$(grep -E '^ +1 +10.231.2.2:8080 +client' "$T/report.txt")" == *"path_reset  ECONNRESET  curl"* ]]
    [[ "$output" == *"reset by  a device on the path, 1 hop away (the server is 2)"* ]]
    [[ "$output" == *"hint      a device on the path sent the reset, not the server"* ]]
    # The HTML export says it too, beside the cause.
    run "$RSTWATCH" export --format html -o "$T/page.html" "$LOG_DIR"
    [ "$status" = 0 ]
    grep -q '<dt>reset by</dt><dd class="reset-by">a device on the path, 1 hop away (the server is 2)' "$T/page.html" || {
        grep -o '<dt>[^<]*</dt><dd[^>]*>[^<]*' "$T/page.html" | head -20 >&2; false; }
    run "$RSTWATCH" report --json "$LOG_DIR"
    [ "$(jq -r '.incidents[0] | [.prog, .rst_from, .cause.code] | @tsv' <<<"$output")" = \
        "$(printf 'curl\tpath\tpath_reset')" ]
}

@test "nftables rejects an established flow with a tcp reset: rst_from path" {
    need_preloadable curl
    command -v nft >/dev/null || skip "nft is not installed"
    server_up
    ip netns exec "$R" nft add table inet rw
    ip netns exec "$R" nft add chain inet rw fw '{ type filter hook forward priority 0; }'
    # Only the request (a segment with payload) of an established flow: the handshake passes.
    ip netns exec "$R" nft add rule inet rw fw ip daddr 10.231.2.2 tcp dport 8080 \
        ct state established meta length gt 80 reject with tcp reset
    capture_up
    client curl -s -m 5 http://10.231.2.2:8080/
    [ "$status" = 56 ]
    wait_for "$CAP_LOG" '"type":"packet"'
    capture_down
    p="$(the_packet)"
    [ "$(jq -r '[.rst_from, .hops, .peer_hops] | @tsv' <<<"$p")" = "$(printf 'path\t1\t2')" ]
    report_of
    [[ "$(grep -E '^ +1 +10.231.2.2:8080' "$T/report.txt")" == *"path_reset"* ]]
}

# tcpkill_race [CAPTURE ARGS...]: tcpkill on the router kills the client's
# streaming connection to the server, capture (with ARGS) in the client's
# namespace; checks the verdict, path with the race, and leaves the packet in $p.
# Only the client's packets trigger tcpkill, so only the client is reset: the
# server keeps streaming, and its packets arrive after the forged RST.
tcpkill_race() {
    command -v tcpkill >/dev/null || { echo "tcpkill (dsniff) is not installed" >&2; false; }
    server_up
    bg "$R" tcpkill tcpkill -i r0 src host 10.231.1.2 and tcp port 8080
    wait_for "$T/tcpkill.err" "listening on r0"
    capture_up "$C" "$@"
    client python3 "$PEERS" stream 10.231.2.2 8080
    [ "${lines[0]}" = ConnectionResetError ]
    wait_for "$CAP_LOG" '"type":"packet"'
    capture_down
    p="$(the_packet)"
    [ "$(jq -r '[.rst_from, .hops, .peer_hops, .ttl] | @tsv' <<<"$p")" = "$(printf 'path\t1\t2\t64')" ]
    [ "$(jq -r '.peer_after >= 1' <<<"$p")" = true ]
    [[ "$(jq -r .cause.hint <<<"$p")" == *"of the server's packets arrived after it"* ]]
}

@test "tcpkill on the router lets the real packets through: path, and the server's packets race the RST" {
    tcpkill_race
    report_of
    [[ "$output" == *"packet"*"of the server's after it (a race)"* ]]
}

# pcap_psh_out FILE: how many outgoing segments with PSH the --pcap file holds.
pcap_psh_out() {
    python3 - "$1" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
off, n = 24, 0
while off + 16 <= len(d):
    caplen = struct.unpack_from("<I", d, off + 8)[0]
    p = d[off + 16:off + 16 + caplen]
    off += 16 + caplen
    ip = p[20:]  # Linux cooked v2: 20 bytes, the packet type at 10 (4: outgoing)
    if p[10] != 4 or not ip:
        continue
    tcp = ip[(ip[0] & 15) * 4:] if ip[0] >> 4 == 4 else ip[40:]
    n += len(tcp) > 13 and tcp[13] & 0x08 != 0
print(n)
PY
}

@test "--lean leaves data segments in the kernel: tcpkill's race still shows, through this host's own resets" {
    tcpkill_race --lean --pcap "$T/lean.pcap"
    # Without --lean the client's request (PSH) is handed over; with it, no
    # outgoing data segment is.
    [ "$(pcap_psh_out "$T/lean.pcap")" = 0 ]
    [ "$(od -An -tu4 -j20 -N4 "$T/lean.pcap" | tr -d ' ')" = 276 ]
}

@test "the server host's own firewall rejects: peer, worded as the server's host (its kernel or firewall)" {
    need_preloadable curl
    server_up
    ip netns exec "$S" iptables -A INPUT -p tcp --dport 8080 -m string --string /blocked --algo bm \
        -j REJECT --reject-with tcp-reset
    capture_up
    client curl -s -m 5 http://10.231.2.2:8080/blocked
    [ "$status" = 56 ]
    wait_for "$CAP_LOG" '"type":"packet"'
    capture_down
    p="$(the_packet)"
    [ "$(jq -r '[.rst_from, .hops, .peer_hops] | @tsv' <<<"$p")" = "$(printf 'peer\t2\t2')" ]
    [[ "$(jq -r .cause.hint <<<"$p")" == "the server's host (its kernel or firewall"* ]]
    report_of
    [[ "$output" == *"reset by  the server's host (its kernel or firewall"* ]]
    [[ "$output" != *path_reset* ]]
}

@test "a stateful firewall forgot an idle connection (conntrack timeout, INVALID rejected): path" {
    server_up
    ip netns exec "$R" sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0 2>/dev/null ||
        skip "no conntrack in this kernel"
    ip netns exec "$R" iptables -A FORWARD -p tcp -m conntrack --ctstate INVALID \
        -j REJECT --reject-with tcp-reset
    ip netns exec "$R" sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_established=1
    capture_up
    client python3 "$PEERS" idle 10.231.2.2 8080 3
    [ "${lines[0]}" = ConnectionResetError ]
    wait_for "$CAP_LOG" '"type":"packet"'
    capture_down
    p="$(the_packet)"
    [ "$(jq -r '[.rst_from, .hops, .peer_hops, .cause.code] | @tsv' <<<"$p")" = "$(printf 'path\t1\t2\tpath_reset')" ]
    report_of
    [[ "$(grep -E '^ +1 +10.231.2.2:8080' "$T/report.txt")" == *"path_reset"*python3* ]]
}

@test "IPv6: the router's ip6tables tcp-reset is path, by hop limit" {
    need_preloadable curl
    server_up
    ip netns exec "$R" ip6tables -A FORWARD -p tcp -m string --string /blocked --algo bm \
        -j REJECT --reject-with tcp-reset
    capture_up
    client curl -s -m 5 'http://[fd00:231:2::2]:8080/blocked'
    [ "$status" = 56 ]
    wait_for "$CAP_LOG" '"type":"packet"'
    capture_down
    p="$(the_packet)"
    [ "$(jq -r '[.family, .rst_from, .hops, .peer_hops, .ttl, .peer_ttl, .peer] | @tsv' <<<"$p")" = \
        "$(printf 'inet6\tpath\t1\t2\t64\t63\t[fd00:231:2::2]:8080')" ]
    [ "$(jq -r 'has("ip_id")' <<<"$p")" = false ]
    report_of
    [[ "$(grep -E '^ +1 +\[fd00:231:2::2\]:8080' "$T/report.txt")" == *"path_reset  ECONNRESET  curl"* ]]
}

@test "a busy healthy host: 10,000 connections with FIN and RST closes, not one path verdict" {
    server_up
    capture_up "$C" --rate off
    CAP_C_PID=$CAP_PID CAP_C_LOG=$CAP_LOG
    # rate limited (the default limits; the suite sets RSTWATCH_RATE=off): most
    # records left out, counted in summaries
    capture_up "$S" --rate burst=10,interval=1s,budget=1MiB/min,summary=60s
    CAP_S_PID=$CAP_PID CAP_S_LOG=$CAP_LOG
    run timeout 600 ip netns exec "$C" python3 "$PEERS" churn 10.231.2.2 8080 10000
    [ "$status" = 0 ] || { echo "churn: $output" >&2; false; }
    [ "$output" = "ok=8000 reset=2000 error=0" ] || { echo "churn: $output" >&2; false; }
    sleep 1 # the last RST's window
    kill -TERM "$CAP_S_PID"
    wait "$CAP_S_PID"
    CAP_PID=$CAP_C_PID
    capture_down
    # Both ends judged thousands of RSTs (the server's aborts, the client's
    # SO_LINGER 0 closes) and none was put on the path.
    [[ "$COUNTS" == *" 0 path,"* ]] || { echo "client: $COUNTS" >&2; false; }
    grep ' 0 path,' "$T/capture-$S.err" || { cat "$T/capture-$S.err" >&2; false; }
    [ "$(jq -s '[.[] | select(.rst_from == "path")] | length' "$CAP_C_LOG" "$CAP_S_LOG")" = 0 ]
    # (most of them: a loaded machine's kernel may drop some of capture's packets)
    [ "$(jq -s '[.[] | select(.rst_from == "peer")] | length' "$CAP_C_LOG")" -ge 1500 ]
    [ "$(jq -s '[.[] | select(.rst_from == "local")] | length' "$CAP_C_LOG")" -ge 3000 ]
    # The server's capture ran rate limited: a few records, and summaries whose
    # counts make up every RST it judged (1 + suppressed per record, suppressed per entry).
    judged="$(sed -n 's/.* \([0-9]*\) RSTs judged.*/\1/p' "$T/capture-$S.err")"
    [ "$judged" -ge 3000 ]
    [ "$(jq -s '[.[] | select(.type == "packet")] | length' "$CAP_S_LOG")" -lt 1000 ]
    [ "$(jq -s '[.[] | select(.type == "summary")] | length' "$CAP_S_LOG")" -ge 1 ]
    [ "$(jq -s '[.[] | if .type == "packet" then 1 + (.suppressed // 0)
                     elif .type == "summary" then ([.counts[] | select(.type == "packet") | .suppressed] | add // 0)
                     else 0 end] | add' "$CAP_S_LOG")" = "$judged" ] || {
        echo "judged $judged; records and summaries:" >&2; grep summary "$CAP_S_LOG" >&2; false; }
    [ "$(jq -s '[.[] | select(.type == "summary") | .counts[] | select(.type == "packet" and .cause == "path_reset")] | length' "$CAP_S_LOG")" = 0 ]
    # report counts every one of them as an incident, none of them path_reset.
    run "$RSTWATCH" report "$CAP_S_LOG"
    [[ "${lines[0]}" == "rstwatch report: $judged incidents in "* ]] || { echo "${lines[0]}" >&2; false; }
    [[ "$output" != *path_reset* ]]
}

@test "loopback: each packet seen once, a connection costs capture its SYN, every RST the other end's, each end's role known" {
    # The server and the churning client both in the client namespace, on 127.0.0.1.
    bg "$C" server-lo python3 "$PEERS" server 8080
    local i
    for ((i = 0; i < 250; i++)); do
        ip netns exec "$C" ss -Hltn 'sport = :8080' | grep -q . && break
        sleep 0.02
    done
    capture_up "$C" --rate off
    run timeout 120 ip netns exec "$C" python3 "$PEERS" churn 127.0.0.1 8080 200
    [ "$output" = "ok=160 reset=40 error=0" ] || { echo "churn: $output" >&2; false; }
    # A port nothing listens on: the kernel's RST answers the SYN.
    run ip netns exec "$C" python3 -c '
import socket
try:
    socket.create_connection(("127.0.0.1", 8081), timeout=5)
except ConnectionRefusedError:
    print("refused")'
    [ "$output" = refused ]
    sleep 1 # the last RST's window
    # Its packet sockets (the kernel's list of taps): one per interface, lo's
    # and c0's; none on "any", which would run on every packet of every
    # interface, and no window handle for loopback's RSTs.
    ifaces="$(ip netns exec "$C" awk 'NR > 1 { print $5 }' /proc/net/packet | sort -n | tr '\n' ' ')"
    [ "$ifaces" = "$(ip netns exec "$C" cat /sys/class/net/lo/ifindex /sys/class/net/c0/ifindex | sort -n | tr '\n' ' ')" ] || {
        echo "packet sockets on interfaces: $ifaces" >&2; false; }
    capture_down
    # 200 connections: every fifth reset by the server (/abort, 40), the other
    # odd ones by the client (SO_LINGER 0, 80); and the refused one. Each RST
    # judged once, where it arrived,
    # sent by the other end (loopback has no path, so no hop count either).
    [[ "$COUNTS" == *" 121 RSTs judged: 121 peer, 0 path, 0 local, 0 unknown"* ]] || {
        echo "$COUNTS" >&2; false; }
    local lo='[.[] | select(.type == "packet" and .iface == "lo" and .rst_from == "peer" and .hops == null)]'
    [ "$(jq -s "$lo | length" "$CAP_LOG")" = 121 ]
    # Which end got it: the server's end the clients' RSTs, the client's end
    # the server's and the refusal's (learnt from the SYN its other end got).
    [ "$(jq -s -c "$lo | group_by(.role) | map([.[0].role, length])" "$CAP_LOG")" = '[["client",41],["server",80]]' ] || {
        jq -s -c "$lo | group_by(.role) | map([.[0].role, length])" "$CAP_LOG" >&2; false; }
    jq -s -e "$lo | map(select(.peer == \"127.0.0.1:8081\" and .role == \"client\")) | length == 1" "$CAP_LOG"
    # The report shows such an incident as the wire's: no program, no failed
    # call, no traffic or TCP_INFO it could not have.
    run "$RSTWATCH" report "$CAP_LOG"
    [ "$status" = 0 ]
    [ "$(grep -c '^Incident .* rstwatch capture (lo) on .* (packet record)$' <<<"$output")" = 121 ]
    [[ "$output" != *"failed: -"* && "$output" != *"no snapshot"* && "$output" != *"?["* ]]
    grep -A3 '^Incident .*' <<<"$output" | grep -q "reset by  the server's host"
    run "$RSTWATCH" export --format html -o "$T/lo.html" "$CAP_LOG"
    [ "$status" = 0 ]
    [ "$(grep -c '<dt>seen on</dt><dd class="iface">lo</dd>' "$T/lo.html")" = 121 ]
    ! grep -q '<dt>failed</dt>\|<dt>pid</dt>\|class="timeline"' "$T/lo.html"
    # The control filter passed each connection's SYN and the RSTs, each
    # once: no outgoing copy of a loopback packet, no SYN-ACK, FIN or PSH
    # (with those it was 4 a connection, and 6 with the request and response).
    packets="$(sed -n 's/.*stopped: \([0-9]*\) packets (\([0-9]*\) after RSTs).*/\1 \2/p' <<<"$COUNTS")"
    read -r total after <<<"$packets"
    [ $((total - after)) -ge 322 ] && [ $((total - after)) -le 360 ] || { echo "$COUNTS" >&2; false; }
}

@test "an interface that comes up after capture started is watched: path over it" {
    need_preloadable curl
    server_up
    ip netns exec "$R" iptables -A FORWARD -p tcp -m string --string /blocked --algo bm \
        -j REJECT --reject-with tcp-reset
    capture_up
    # A second link between the client and the router, made now; the server is
    # reached over it.
    ip link add c1 netns "$C" type veth peer name r2 netns "$R"
    ip -n "$C" addr add 10.231.9.2/24 dev c1
    ip -n "$R" addr add 10.231.9.1/24 dev r2
    ip -n "$C" link set c1 up
    ip -n "$R" link set r2 up
    ip -n "$C" route add 10.231.2.2/32 via 10.231.9.1 dev c1
    sleep 1.5 # capture looks for new interfaces once a second
    client curl -s -m 5 http://10.231.2.2:8080/blocked
    [ "$status" = 56 ]
    wait_for "$CAP_LOG" '"type":"packet"'
    capture_down
    [[ "$COUNTS" == *"1 RSTs judged: 0 peer, 1 path, 0 local, 0 unknown"* ]]
    p="$(the_packet)"
    [ "$(jq -r '[.rst_from, .hops, .peer_hops, .iface, .role, .local] | @tsv' <<<"$p")" = \
        "$(printf 'path\t1\t2\tc1\tclient\t%s' "$(jq -r .local <<<"$p")")" ]
    [[ "$(jq -r .local <<<"$p")" == 10.231.9.2:* ]]
}
