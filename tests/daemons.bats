#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# daemons.bats: the daemon matrix. Real daemons that sandbox, chroot, drop
# privileges or fork per connection (OpenSSH, vsftpd, tor, dnsmasq, exim,
# lighttpd, headless Chromium), each a private instance on a free loopback
# port with its own configuration, run bare and under the shim in the retry
# modes that mean something for it. Every row checks what a user sees (the
# clients' exit status and output are the same as bare), that nothing was
# killed by its sandbox, then forces a reset and checks that its record is
# where `rstwatch report` looks (the log directory), with the right role
# and peer, and that nothing was created inside a chroot.
# See docs/design.md "Never hurt the host".
#
# sanitize: skip: what is tested here is the daemons' sandboxes, chroots and
# privilege drops around the shim; a sanitized shim needs the ASan runtime
# preloaded too, whose own system calls and /proc reads would then run inside
# seccomp allow-lists and chroots never written for it. The shim's code paths
# here are the ones the other suites run under ASan.

load lib
load daemons/daemons

setup() { daemons_setup; }
teardown() { daemons_teardown; }

# The retry modes each "as bare" row runs (DAEMONS_MODES="connect" narrows them).
read -r -a MODES <<<"${DAEMONS_MODES:-off connect idempotent}"

# ---- OpenSSH: seccomp-sandboxed pre-auth child, chroot, with and without re-exec ----

# sshd_same_as_bare [-r]: key login + command + scp against a bare sshd and
# against one under the shim in each retry mode: the same transcript.
sshd_same_as_bare() {
    sshd_prepare
    start_sshd bare sshd-bare "$@"
    ssh_transcript bare
    local bare="$TRANSCRIPT" mode
    stop_servers
    assert_equal 'ssh: status=3 out=[hello from root] err=[to-stderr]
scp: status=0 out=[] err=[] copy=same' "$bare" "bare transcript"
    for mode in "${MODES[@]}"; do
        start_sshd "$mode" "sshd-$mode" "$@"
        ssh_transcript "$mode"
        stop_servers
        assert_equal "$bare" "$TRANSCRIPT" "RSTWATCH_RETRY=$mode, transcript"
        assert_no_crash "sshd-$mode"
    done
    assert_tree "$SSHD_CHROOT" "$SSHD_CHROOT_BEFORE"
}

@test "sshd -r (no re-exec, seccomp sandbox): key login, command and scp as bare in every retry mode, nothing in /run/sshd" {
    sshd_same_as_bare -r
}

@test "sshd with re-exec (seccomp sandbox): key login, command and scp as bare in every retry mode, nothing in /run/sshd" {
    sshd_same_as_bare
}

# sshd_preauth_reset [-r]: a client resets while the sandboxed, chrooted
# pre-authentication child waits for its KEXINIT: sshd logs "Connection reset
# by ... [preauth]" as bare (a child killed by SIGSYS or SIGXFSZ never does),
# nothing appears in /run/sshd, and a record, if any, names the server side
# and the client. The child cannot have a record in a log file: sshd's sandbox
# sets RLIMIT_FSIZE to 0 before its seccomp filter, so a write to any file
# fails with EFBIG (and raises SIGXFSZ, which kills); the session rows below
# check sshd's records.
sshd_preauth_reset() {
    sshd_prepare
    start_sshd bare sshd-bare "$@"
    daemon_client ssh-preauth-abort "$SSH_PORT"
    assert_equal 0 "$status" "abort client ($stderr)"
    assert_contains "$output" "kexinit yes"
    local addr
    addr="$(client_local)"
    wait_for_text "$T/sshd-bare.err" "Connection reset by ${addr%:*} port ${addr##*:} [preauth]"
    stop_servers
    start_sshd off sshd "$@"
    daemon_client ssh-preauth-abort "$SSH_PORT"
    assert_equal 0 "$status" "abort client ($stderr)"
    assert_contains "$output" "kexinit yes"
    addr="$(client_local)"
    wait_for_text "$T/sshd.err" "Connection reset by ${addr%:*} port ${addr##*:} [preauth]"
    assert_no_crash sshd
    assert_tree "$SSHD_CHROOT" "$SSHD_CHROOT_BEFORE"
    assert_true "every reset record names the server side and the client" \
        'all(.[]; .type != "reset" or (.role == "server" and (.peer == $p or .peer == "unknown")))' \
        --arg p "$addr"
}

@test "sshd -r: a reset during key exchange (sandboxed pre-auth child): sshd logs it as bare, nothing in /run/sshd" {
    sshd_preauth_reset -r
}

@test "sshd with re-exec: a reset during key exchange (sandboxed pre-auth child): sshd logs it as bare, nothing in /run/sshd" {
    sshd_preauth_reset
}

# sshd_session_reset [-r]: a logged-in session whose client socket is
# destroyed (ss -K sends the server a RST).
sshd_session_reset() {
    sshd_prepare
    start_sshd off sshd "$@"
    "${SSH[@]}" root@127.0.0.1 'echo started; exec sleep 30' >"$T/session.out" 2>&1 </dev/null 3>&- &
    local sshpid=$! i cport=
    for ((i = 0; i < 250; i++)); do
        grep -q started "$T/session.out" 2>/dev/null && break
        sleep 0.02
    done
    cport="$(ss -Htn state established "dport = :$SSH_PORT" | awk '{print $3}' | sed 's/.*://' | head -1)"
    [ -n "$cport" ] || { echo "no ssh session to $SSH_PORT" >&2; kill "$sshpid"; return 1; }
    ss -K -Htn "sport = :$cport" "dport = :$SSH_PORT" >/dev/null
    wait "$sshpid" || true
    assert_reset_recorded server "127.0.0.1:$cport" "$T/sshd.err" "${SSHD_PEER_OK:-}"
    assert_no_crash sshd
    assert_tree "$SSHD_CHROOT" "$SSHD_CHROOT_BEFORE"
}

@test "sshd -r: a logged-in session reset by ss -K is recorded as server with its peer in the log directory" {
    sshd_session_reset -r
}

@test "sshd with re-exec: a logged-in session reset by ss -K (socket inherited across exec) is recorded as server with its peer" {
    SSHD_PEER_OK=unknown-peer-ok # the socket came across exec: see assert_reset_recorded
    sshd_session_reset
}

# ---- vsftpd: chroot + privilege drop, RLIMIT_NOFILE 0 pre-login, SCM_RIGHTS data sockets ----

# vsftpd_same_as_bare SANDBOX CLIENT: an ftplib session (tests/daemons/clients.py
# CLIENT), bare and under the shim in each mode: the same replies, nothing
# in the chroots.
vsftpd_same_as_bare() {
    vsftpd_prepare "$1"
    start_vsftpd bare vsftpd-bare
    daemon_client "$2" "$FTP_PORT"
    local bare_out="$output" bare_rc=$status mode
    stop_servers
    assert_equal 0 "$bare_rc" "bare ftp client ($stderr)"
    for mode in "${MODES[@]}"; do
        start_vsftpd "$mode" "vsftpd-$mode"
        daemon_client "$2" "$FTP_PORT"
        stop_servers
        assert_equal "$bare_rc" "$status" "RSTWATCH_RETRY=$mode: exit status (stderr: $stderr)"
        assert_equal "$bare_out" "$output" "RSTWATCH_RETRY=$mode: what the client saw"
        assert_no_crash "vsftpd-$mode"
    done
    assert_ftp_chroots_untouched
}

@test "vsftpd (seccomp_sandbox=NO): anonymous LIST and RETR as bare in every retry mode, no shim text on the control connection, nothing in the chroots" {
    vsftpd_same_as_bare NO ftp
    assert_contains "$output" "list ['big.bin', 'file.txt']"
}

# Debian 12's vsftpd 3.0.3 cannot list or send a file with seccomp_sandbox=YES
# even bare (its allow-list lacks newfstatat, which glibc's fstat uses: the
# post-login process dies of SIGSYS), so that row stops before file access.
@test "vsftpd (seccomp_sandbox=YES): anonymous login, PWD, TYPE and QUIT as bare in every retry mode, nothing in the chroots" {
    vsftpd_same_as_bare YES ftp-login
    assert_contains "$output" "230 Login successful."
}

# vsftpd_control_reset SANDBOX: a client resets after the 220 greeting,
# while the pre-login child (chrooted, RLIMIT_NOFILE 0) reads its command.
# With isolate=YES (Debian's default) vsftpd makes its per-connection
# processes with a raw clone(CLONE_NEWIPC) and clone(CLONE_NEWNET), which run
# no fork handler: the shim must see them as processes of their own (not vfork
# children), track their dup2 of the socket onto fd 0 and record under
# their own pid.
vsftpd_control_reset() {
    vsftpd_prepare "$1"
    start_vsftpd off vsftpd
    daemon_client abort "$FTP_PORT" --until "220 " --send "$(printf 'USER anonymous\r\n' | od -An -tx1 | tr -d ' \n')" --more
    assert_equal 0 "$status" "abort client ($stderr)"
    assert_reset_recorded server "$(client_local)" "$T/vsftpd.err"
    assert_no_crash vsftpd
    assert_ftp_chroots_untouched
}

@test "vsftpd (seccomp_sandbox=NO): a control connection reset at login is recorded as server with its peer, outside the chroot" {
    vsftpd_control_reset NO
}

@test "vsftpd (seccomp_sandbox=YES): a control connection reset at login is recorded as server with its peer, outside the chroot" {
    vsftpd_control_reset YES
}

@test "vsftpd: a passive data connection (passed by SCM_RIGHTS) reset during RETR's sendfile is recorded as server with its peer" {
    known_defect "vsftpd's post-login process, which receives the data socket and fails in sendfile, has set PR_SET_NO_NEW_PRIVS (taken for a seccomp filter to come, so no extra call): it cannot fstat the socket to find what the accepting process knew (shim/handoff.c), nor adopt it on failure, so it has no record"
    vsftpd_prepare NO
    head -c 16000000 /dev/zero >"$D/ftp/root/big.bin"
    FTP_ROOT_BEFORE="$(tree_of "$D/ftp/root")"
    start_vsftpd bare vsftpd-bare
    daemon_client ftp-data-abort "$FTP_PORT"
    local bare_out="$output" bare_rc=$status
    stop_servers
    assert_equal 0 "$bare_rc" "bare client ($stderr)"
    start_vsftpd off vsftpd
    daemon_client ftp-data-abort "$FTP_PORT"
    assert_equal "$bare_rc" "$status" "exit status (stderr: $stderr)"
    assert_equal "$(sed -n 's/^reply //p' <<<"$bare_out")" "$(sed -n 's/^reply //p' <<<"$output")" "the final reply"
    # the data socket came by SCM_RIGHTS: see assert_reset_recorded
    assert_reset_recorded server "$(client_local)" "$T/vsftpd.err" unknown-peer-ok
    assert_no_crash vsftpd
    assert_ftp_chroots_untouched
}

# ---- tor: Sandbox 1 (seccomp; getsockopt and getpeername are refused with EPERM) ----

@test "tor with Sandbox 1: the SOCKS greeting is answered as bare in every retry mode" {
    tor_prepare
    start_tor bare tor-bare
    daemon_client socks "$TOR_PORT"
    local bare_out="$output" bare_rc=$status mode
    stop_tor
    assert_equal "0 reply 0500" "$bare_rc $bare_out" "bare"
    for mode in "${MODES[@]}"; do
        start_tor "$mode" "tor-$mode"
        daemon_client socks "$TOR_PORT"
        stop_tor
        assert_equal "$bare_rc $bare_out" "$status $output" "RSTWATCH_RETRY=$mode"
        assert_no_crash "tor-$mode"
    done
}

@test "tor with Sandbox 1: a SOCKS client's reset is recorded as server with its peer, and tor's refused connects as client" {
    tor_prepare
    start_tor off tor
    daemon_client abort "$TOR_PORT" --send 05 --pause 0.5
    assert_equal 0 "$status" "abort client ($stderr)"
    assert_reset_recorded server "$(client_local)" "$T/tor.err"
    wait_record '"errno":"ECONNREFUSED"'
    assert_true "tor's refused connect to its bridge" \
        'any(.[]; .type == "reset" and .role == "client" and .errno == "ECONNREFUSED" and .peer == $b)' \
        --arg b "127.0.0.1:$TOR_BRIDGE_PORT"
    assert_no_crash tor
}

# ---- dnsmasq: TCP children forked after the drop to nobody ----

@test "dnsmasq: a TCP query is answered as bare in every retry mode" {
    start_dnsmasq bare dnsmasq-bare
    daemon_client dns "$DNS_PORT" www.example.test
    local bare_out="$output" bare_rc=$status mode
    stop_servers
    assert_equal "0 rcode 0 answers 1 addr 192.0.2.7" "$bare_rc $bare_out" "bare"
    for mode in "${MODES[@]}"; do
        start_dnsmasq "$mode" "dnsmasq-$mode"
        daemon_client dns "$DNS_PORT" www.example.test
        stop_servers
        assert_equal "$bare_rc $bare_out" "$status $output" "RSTWATCH_RETRY=$mode"
        assert_no_crash "dnsmasq-$mode"
    done
}

@test "dnsmasq: a reset in a TCP child (forked after the drop to nobody) is recorded in the root-owned log directory" {
    start_dnsmasq off dnsmasq
    # a length prefix announcing 32 bytes, then a reset instead of the query
    daemon_client abort "$DNS_PORT" --send 0020 --pause 0.5
    assert_equal 0 "$status" "abort client ($stderr)"
    assert_reset_recorded server "$(client_local)" "$T/dnsmasq.err"
    assert_no_crash dnsmasq
}

# ---- exim: per-connection children of a daemon that dropped root ----

@test "exim: EHLO, NOOP and QUIT are answered as bare in every retry mode" {
    exim_prepare
    start_exim bare exim-bare
    daemon_client smtp "$EXIM_PORT"
    local bare_out="$output" bare_rc=$status mode
    stop_servers
    assert_equal "0 ehlo 250
noop 250
quit 221" "$bare_rc $bare_out" "bare"
    for mode in "${MODES[@]}"; do
        start_exim "$mode" "exim-$mode"
        daemon_client smtp "$EXIM_PORT"
        stop_servers
        assert_equal "$bare_rc $bare_out" "$status $output" "RSTWATCH_RETRY=$mode"
        assert_no_crash "exim-$mode"
    done
}

@test "exim: a reset in a per-connection child (after the drop to Debian-exim) is recorded in the root-owned log directory" {
    exim_prepare
    start_exim off exim
    daemon_client abort "$EXIM_PORT" --until "220 " --send "$(printf 'EHLO client.test\r\n' | od -An -tx1 | tr -d ' \n')" --more
    assert_equal 0 "$status" "abort client ($stderr)"
    assert_contains "$output" "more yes"
    assert_reset_recorded server "$(client_local)" "$T/exim.err"
    assert_no_crash exim
}

# assert_one_close_record PROG: exactly one close record of PROG's side (PROG:
# the start of the program's name) of the one connection a test made, written
# by the process that served it (bytes in and out), not by the parent that
# only held a copy after fork(). Exim's child ends with _exit() and its
# connection still open, and sends its replies through stdio (fdopen).
assert_one_close_record() {
    assert_true "one close record for the connection, with its traffic" \
        '[.[] | select(.type == "close" and (.prog | startswith($p)) and .role == "server")] |
         length == 1 and (.[0].bytes_in > 0 and .[0].bytes_out > 0)' --arg p "$1"
}

@test "dnsmasq and exim with RSTWATCH_RECORD=all: one close record per connection, from the child that served it" {
    RSTWATCH_RECORD=all start_dnsmasq off dnsmasq
    daemon_client dns "$DNS_PORT" www.example.test
    assert_equal "0 rcode 0 answers 1 addr 192.0.2.7" "$status $output" "dns client"
    stop_servers
    assert_one_close_record dnsmasq
    rm -f "$LOG_DIR"/*.jsonl
    exim_prepare
    RSTWATCH_RECORD=all start_exim off exim
    daemon_client smtp "$EXIM_PORT"
    assert_equal 0 "$status" "smtp client ($stderr)"
    stop_servers
    assert_one_close_record exim
}

# ---- lighttpd: mod_proxy to a backend that resets ----

# lighttpd_fetch: curl's view of the static page and of the proxied path.
lighttpd_fetch() {
    client curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTPD_PORT/index.html"
    local t="static $status $output"
    client curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTPD_PORT/app/x"
    FETCHED="$t; proxied $status $output"
}

@test "lighttpd + mod_proxy to a resetting backend: clients see the same as bare without retry and with connect retry, the backend gets each request once" {
    lighttpd_prepare
    start_lighttpd bare lighttpd-bare
    lighttpd_fetch
    local bare="$FETCHED" mode
    stop_servers
    assert_equal "static 0 200; proxied 0 500" "$bare" "bare"
    for mode in off connect; do
        lighttpd_prepare
        start_lighttpd "$mode" "lighttpd-$mode"
        lighttpd_fetch
        stop_servers
        assert_equal "$bare" "$FETCHED" "RSTWATCH_RETRY=$mode"
        assert_equal 1 "$(grep -c . "$D/backend.log")" "RSTWATCH_RETRY=$mode: requests the backend got"
        assert_no_crash "lighttpd-$mode"
    done
    assert_true "the reset is recorded by lighttpd, as client, with the backend as peer" \
        'any(.[]; .type == "reset" and .prog == "lighttpd" and .role == "client" and .peer == $b)' \
        --arg b "127.0.0.1:$BACKEND_PORT"
}

@test "lighttpd + mod_proxy, RSTWATCH_RETRY=idempotent: the replay happens inside epoll_wait, before lighttpd hears of the reset; the backend resets it too, lighttpd answers 500 as bare, and the records and rstwatch report say the request failed" {
    lighttpd_prepare
    start_lighttpd idempotent lighttpd
    lighttpd_fetch
    assert_equal "static 0 200; proxied 0 500" "$FETCHED"
    assert_equal 2 "$(grep -c . "$D/backend.log")" "requests the backend got (the request and its one replay)"
    assert_reset_recorded client "127.0.0.1:$BACKEND_PORT" "$T/lighttpd.err"
    assert_true "one replay, seen in epoll_wait, and it failed" \
        '[.[] | select(.type == "retry")] | length == 1 and .[0].action == "replay" and .[0].op == "poll" and .[0].outcome == "failed"'
    local rep
    rep="$("$RSTWATCH" report --json "$LOG_DIR")"
    assert_equal "1 0" "$(jq -r '"\(.summary.incidents) \([.retries[] | select(.outcome == "ok")] | length)"' <<<"$rep")" \
        "report: incidents, replays ok"
}

# ---- headless Chromium with its sandbox (namespaces + seccomp-bpf) ----

@test "headless Chromium, sandbox on: several loads of a local page give the same DOM as bare, no crash, no reset records" {
    chromium_prepare
    chromium_load bare
    local bare_out="$output" bare_rc=$status mode
    assert_equal 0 "$bare_rc" "bare chromium ($stderr)"
    assert_contains "$bare_out" '<p id="x">scripted</p>'
    for mode in off off connect idempotent; do
        chromium_load "$mode"
        assert_equal "$bare_rc" "$status" "RSTWATCH_RETRY=$mode: exit status (stderr: $stderr)"
        assert_equal "$bare_out" "$output" "RSTWATCH_RETRY=$mode: the page's DOM"
        assert_no_crash "$CHROMIUM_NAME"
        assert_chromium_no_dump
        refute_contains "$stderr" "No usable sandbox"
    done
    assert_record_count 0
}
