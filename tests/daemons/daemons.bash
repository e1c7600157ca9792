# SPDX-License-Identifier: MIT
# daemons.bash: private instances of real daemons for tests/daemons.bats
# (sshd, vsftpd, tor, dnsmasq, exim, lighttpd, headless Chromium), each with
# its own configuration, data and ports under one test directory, started
# bare or under the shim, and the checks every row of the matrix makes.
#
# The test directory D is world-traversable (the daemons drop to their own
# users, which cannot enter bats' 0700 directories); the log directory
# LOG_DIR=$D/logs is owned by root, mode 0700, as systemd's LogsDirectory=
# makes it for a service started as root: a process that dropped its
# privileges cannot open a file there, only write to one opened before.
# Load after lib.bash.

DAEMON_CLIENTS="$RSTWATCH_ROOT/tests/daemons/clients.py"
SSHD_CHROOT=/run/sshd # OpenSSH's privilege separation directory (compiled in)

# daemons_setup: per-test state: D, LOG_DIR, RSTWATCH_LOG; remembers what
# /run/sshd holds so teardown can remove only what a test put there.
daemons_setup() {
    rstwatch_setup
    # A sanitized build needs libasan preloaded too (see the header of
    # tests/daemons.bats for why the daemons are not run with it).
    [ -z "${SAN_RUNTIME:-}" ] || skip "a sanitized shim: the daemons' sandboxes are not made to host the ASan runtime"
    resolve_python
    need_shim
    need_cli
    D="$(mktemp -d /tmp/rstwatch-daemons.XXXXXX)"
    chmod 755 "$D"
    LOG_DIR="$D/logs"
    mkdir -m 700 "$LOG_DIR"
    export RSTWATCH_LOG="$LOG_DIR/%p.jsonl"
}

# daemons_teardown: stops the daemons, removes D and whatever the shim
# created for it inside sshd's chroot (a path under $SSHD_CHROOT that
# mirrors D's), so one failing run does not fail the next.
daemons_teardown() {
    stop_servers
    if [ -n "${D:-}" ]; then
        local top="${D#/}"
        top="${top%%/*}"
        rm -rf "${SSHD_CHROOT:?}$D"
        rmdir "$SSHD_CHROOT/$top" 2>/dev/null || true
        rm -rf "$D"
    fi
    rstwatch_teardown
}

# daemon_port: a loopback port for a daemon, below the kernel's ephemeral
# range (32768-60999 by default) and unused right now: a daemon restarted on the same port
# (bare, then under the shim) must not find it taken meanwhile by some
# program's outgoing connection, as an ephemeral port from free_port can be.
daemon_port() {
    local p i
    for ((i = 0; i < 100; i++)); do
        p=$((20000 + SRANDOM % 12000))
        if [ -z "$(ss -Htan "sport = :$p")" ]; then
            echo "$p"
            return 0
        fi
    done
    echo "no free port in 20000-31999" >&2
    return 1
}

# wait_listen PID PORT: until something listens on 127.0.0.1:PORT (10 s),
# looked up with ss so that no probe connection reaches the daemon (a probe
# that closes at once would be a real reset on the daemon's side). Fails,
# showing the daemon's stderr, when PID exits first.
wait_listen() {
    local pid="$1" port="$2" i
    for ((i = 0; i < 500; i++)); do
        [ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ] && return 0
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "the daemon (pid $pid) exited before listening on $port:" >&2
            [ -z "${DAEMON_NAME:-}" ] || cat "$T/$DAEMON_NAME.err" "$T/$DAEMON_NAME.out" >&2
            return 1
        fi
        sleep 0.02
    done
    echo "nothing listens on $port after 10 s" >&2
    return 1
}

# start_daemon MODE NAME CMD...: starts CMD in the background (start_bg),
# bare when MODE is "bare", else under the shim with RSTWATCH_RETRY=MODE
# (off, connect, idempotent). Output in $T/NAME.out/.err, pid in LAST_BG_PID.
start_daemon() {
    local mode="$1" name="$2"
    shift 2
    DAEMON_NAME="$name"
    if [ "$mode" = bare ]; then
        start_bg "" "$name" "$@"
    else
        RSTWATCH_RETRY="$mode" start_bg "$SHIM_PRELOAD" "$name" "$@"
    fi
}

# client CMD...: a client program, never under the shim; sets status,
# output and stderr (lib.bash's _capture).
client() {
    _capture "" "$@"
}

# daemon_client SUBCOMMAND ARGS...: tests/daemons/clients.py SUBCOMMAND
# (python -S: the clients use the standard library only, and site's .pth
# files cost more than a client's work on a busy machine).
daemon_client() {
    client "$PYTHON" -S "$DAEMON_CLIENTS" "$@"
}

# client_local: the "local HOST:PORT" line of the last abort client's output.
client_local() {
    sed -n 's/^local //p' <<<"$output" | head -1
}

# wait_for_text FILE TEXT: until FILE holds TEXT (10 s); fails showing FILE.
wait_for_text() {
    local i
    for ((i = 0; i < 500; i++)); do
        grep -qF -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.02
    done
    printf 'no "%s" in %s after 10 s:\n' "$2" "$1" >&2
    cat "$1" >&2
    return 1
}

# tree_of DIR: every path under DIR (not DIR itself), sorted.
tree_of() {
    (cd "$1" && find . -mindepth 1 | sort)
}

# assert_tree DIR EXPECTED: DIR holds exactly EXPECTED (tree_of's output).
assert_tree() {
    local now
    now="$(tree_of "$1")"
    if [ "$now" != "$2" ]; then
        echo "something was created inside $1:" >&2
        diff <(printf '%s\n' "$2") <(printf '%s\n' "$now") >&2 || true
        return 1
    fi
}

# wait_record TEXT: until a record line holds TEXT (5 s): a forked child
# writes its record after the client is gone.
wait_record() {
    local end=$((${EPOCHREALTIME/./} + 5000000))
    while [ "${EPOCHREALTIME/./}" -lt "$end" ]; do
        cat "$LOG_DIR"/*.jsonl 2>/dev/null | grep -qF -- "$1" && return 0
        sleep 0.05
    done
    return 0
}

# assert_reset_recorded ROLE PEER DAEMON_STDERR_FILE [unknown-peer-ok]: a
# reset record with that role and peer is in LOG_DIR (where `rstwatch report`
# looks), `rstwatch report --json LOG_DIR` counts it as an incident with the
# same role and peer, and no record went to the daemon's stderr. With
# unknown-peer-ok the peer may also be "unknown": for a socket the program
# inherited across exec or received by SCM_RIGHTS, whose first sight for the
# shim is the failure, when the kernel no longer names the peer (getpeername
# fails with ENOTCONN after a RST). Any other peer still fails.
assert_reset_recorded() {
    local role="$1" peer="$2" errfile="$3" rep peers
    peers="$(jq -cn --arg p "$peer" --arg u "${4:-}" 'if $u == "unknown-peer-ok" then [$p, "unknown"] else [$p] end')"
    local match='.type == "reset" and .role == $role and (.peer as $x | any($peers[]; . == $x))'
    wait_record "\"peer\":\"$peer\""
    assert_true "a $role reset record with peer $peer in $LOG_DIR" \
        "any(.[]; $match)" --arg role "$role" --argjson peers "$peers"
    rep="$("$RSTWATCH" report --json "$LOG_DIR")" || {
        echo "rstwatch report --json $LOG_DIR failed: $rep" >&2
        return 1
    }
    if [ "$(jq -r --arg role "$role" --argjson peers "$peers" \
        '[.incidents[] | select(.role == $role and (.peer as $x | any($peers[]; . == $x)))] | length > 0' <<<"$rep")" != true ]; then
        echo "rstwatch report $LOG_DIR does not show the $role reset with $peer:" >&2
        "$RSTWATCH" report "$LOG_DIR" >&2 || true
        return 1
    fi
    if [ -n "$errfile" ] && grep -q '"v":1' "$errfile"; then
        echo "a record went to the daemon's stderr ($errfile):" >&2
        grep '"v":1' "$errfile" >&2
        return 1
    fi
}

# known_defect REASON: skips a row that fails on today's shim for REASON
# (a defect being fixed), unless DAEMONS_RUN_KNOWN=1 asks to run it anyway
# (to check a fix against the matrix).
known_defect() {
    [ "${DAEMONS_RUN_KNOWN:-0}" = 1 ] || skip "known: $1"
}

# assert_no_crash NAME: the daemon's stderr ($T/NAME.err) shows no process
# killed by a signal of a crash (a seccomp SIGSYS: "Bad system call", signal
# 31; SIGSEGV, SIGBUS, SIGABRT; Chromium's crash handler, crashpad).
assert_no_crash() {
    local err="$T/$1.err"
    local killed='signal (6|7|11|31)\b|SIG(SYS|SEGV|BUS|ABRT)|bad system call|segmentation fault|crashpad'
    if grep -Eiq "$killed" "$err"; then
        echo "a process of $1 was killed:" >&2
        grep -Ei "$killed" "$err" | head -5 >&2
        return 1
    fi
}

# ---- OpenSSH --------------------------------------------------------------------------

# sshd_prepare: host key, client key, authorized_keys and an sshd_config
# for a private sshd on SSH_PORT (key logins as root, no PAM, the default
# seccomp sandbox for the pre-authentication child); ssh/scp commands in
# SSH and SCP. Creates /run/sshd (systemd's RuntimeDirectory for ssh.service)
# when missing, as the service would.
sshd_prepare() {
    local s="$D/ssh"
    mkdir -p "$s"
    ssh-keygen -q -t ed25519 -N '' -f "$s/hostkey"
    ssh-keygen -q -t ed25519 -N '' -f "$s/userkey"
    cp "$s/userkey.pub" "$s/authorized_keys"
    SSH_PORT="$(daemon_port)"
    cat >"$s/sshd_config" <<EOF
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $s/hostkey
PidFile none
AuthorizedKeysFile $s/authorized_keys
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
Subsystem sftp internal-sftp
EOF
    [ -d "$SSHD_CHROOT" ] || mkdir -m 0755 "$SSHD_CHROOT"
    SSHD_CHROOT_BEFORE="$(tree_of "$SSHD_CHROOT")"
    local o=(-F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no
        -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -i "$s/userkey")
    SSH=(ssh "${o[@]}" -p "$SSH_PORT")
    SCP=(scp "${o[@]}" -P "$SSH_PORT")
    printf 'scp payload %s\n' "$RANDOM" >"$s/payload"
}

# start_sshd MODE NAME [-r]: the private sshd in the foreground (-D),
# logging to stderr (-e), with re-exec (default) or without (-r).
start_sshd() {
    local mode="$1" name="$2"
    shift 2
    start_daemon "$mode" "$name" /usr/sbin/sshd -D -e "$@" -f "$D/ssh/sshd_config"
    SSHD_PID=$LAST_BG_PID
    wait_listen "$SSHD_PID" "$SSH_PORT"
}

# ssh_transcript TAG: a key login running a command (its stdout, stderr and
# exit status 3) and an scp upload, summarized in TRANSCRIPT.
ssh_transcript() {
    local tag="$1" t
    client "${SSH[@]}" root@127.0.0.1 'echo "hello from $(id -un)"; echo to-stderr >&2; exit 3'
    t="ssh: status=$status out=[$output] err=[$stderr]"
    client "${SCP[@]}" "$D/ssh/payload" "root@127.0.0.1:$D/ssh/upload.$tag"
    t+=$'\n'"scp: status=$status out=[$output] err=[$stderr]"
    if cmp -s "$D/ssh/payload" "$D/ssh/upload.$tag"; then t+=" copy=same"; else t+=" copy=differs"; fi
    TRANSCRIPT="$t"
}

# ---- vsftpd ---------------------------------------------------------------------------

# vsftpd_prepare SANDBOX: an anonymous, read-only vsftpd on FTP_PORT with
# seccomp_sandbox=SANDBOX (YES/NO); the anonymous root $D/ftp/root (what
# clients may list) and the privilege-separated child's chroot $D/ftp/empty.
vsftpd_prepare() {
    local f="$D/ftp"
    mkdir -p "$f/root" "$f/empty"
    echo "hello over ftp" >"$f/root/file.txt"
    head -c 300000 /dev/urandom >"$f/root/big.bin"
    FTP_PORT="$(daemon_port)"
    cat >"$f/vsftpd.conf" <<EOF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$FTP_PORT
background=NO
anonymous_enable=YES
local_enable=NO
write_enable=NO
anon_root=$f/root
secure_chroot_dir=$f/empty
seccomp_sandbox=$1
xferlog_enable=NO
dirmessage_enable=NO
pasv_enable=YES
pasv_address=127.0.0.1
vsftpd_log_file=$f/vsftpd.log
EOF
    FTP_ROOT_BEFORE="$(tree_of "$f/root")"
    FTP_EMPTY_BEFORE="$(tree_of "$f/empty")"
}

start_vsftpd() {
    start_daemon "$1" "$2" /usr/sbin/vsftpd "$D/ftp/vsftpd.conf"
    VSFTPD_PID=$LAST_BG_PID
    wait_listen "$VSFTPD_PID" "$FTP_PORT"
}

assert_ftp_chroots_untouched() {
    assert_tree "$D/ftp/root" "$FTP_ROOT_BEFORE"
    assert_tree "$D/ftp/empty" "$FTP_EMPTY_BEFORE"
}

# ---- tor ------------------------------------------------------------------------------

# tor_prepare: an offline tor client with its seccomp sandbox on (Sandbox 1),
# a SOCKS listener on TOR_PORT, a private DataDirectory, and one bridge on
# TOR_BRIDGE_PORT where nothing listens: its only outgoing connections are
# refused connects on loopback.
tor_prepare() {
    local t="$D/tor"
    mkdir -p -m 700 "$t" "$t/data"
    TOR_PORT="$(daemon_port)"
    TOR_BRIDGE_PORT="$(daemon_port)"
    cat >"$t/torrc" <<EOF
DataDirectory $t/data
SocksPort 127.0.0.1:$TOR_PORT
Sandbox 1
RunAsDaemon 0
Log notice stderr
AvoidDiskWrites 1
UseBridges 1
Bridge 127.0.0.1:$TOR_BRIDGE_PORT
EOF
}

start_tor() {
    start_daemon "$1" "$2" /usr/bin/tor -f "$D/tor/torrc" --defaults-torrc /dev/null
    TOR_PID=$LAST_BG_PID
    wait_listen "$TOR_PID" "$TOR_PORT"
}

# stop_tor: tor 0.4.9 with Sandbox 1 runs its main thread with a signal mask
# it never asked for, bare too (seen: SIGTERM blocked, so a TERM waits
# forever), hence SIGKILL.
stop_tor() {
    kill -KILL "$TOR_PID" 2>/dev/null || true
    stop_servers
}

# ---- dnsmasq --------------------------------------------------------------------------

# start_dnsmasq MODE NAME: dnsmasq on DNS_PORT (UDP and TCP), no system
# configuration, answering example.test itself, dropping to nobody; each TCP
# connection is served by a child forked after the drop.
start_dnsmasq() {
    [ -n "${DNS_PORT:-}" ] || DNS_PORT="$(daemon_port)"
    start_daemon "$1" "$2" /usr/sbin/dnsmasq --keep-in-foreground --conf-file=/dev/null \
        --port="$DNS_PORT" --listen-address=127.0.0.1 --bind-interfaces \
        --user=nobody --group=nogroup --no-resolv --no-hosts --pid-file= \
        --address=/example.test/192.0.2.7 --log-facility=-
    DNSMASQ_PID=$LAST_BG_PID
    wait_listen "$DNSMASQ_PID" "$DNS_PORT"
}

# ---- exim -----------------------------------------------------------------------------

# exim_prepare: a private exim configuration (-C): its own spool and logs,
# no DNS or ident lookups, every recipient refused (nothing is delivered).
# Exim runs its daemon (-bdf: in the foreground) as Debian-exim under -C and
# forks one child per SMTP connection.
exim_prepare() {
    local x="$D/exim"
    mkdir -p "$x/spool" "$x/log"
    chown Debian-exim: "$x/spool" "$x/log"
    EXIM_PORT="$(daemon_port)"
    cat >"$x/exim.conf" <<EOF
primary_hostname = test.invalid
exim_user = Debian-exim
exim_group = Debian-exim
spool_directory = $x/spool
log_file_path = $x/log/%slog
local_interfaces = 127.0.0.1
never_users = root
host_lookup =
rfc1413_hosts =
tls_advertise_hosts =
acl_smtp_rcpt = acl_rcpt
begin acl
acl_rcpt:
  deny
begin routers
begin transports
EOF
}

start_exim() {
    start_daemon "$1" "$2" /usr/sbin/exim4 -C "$D/exim/exim.conf" -bdf -oX "$EXIM_PORT" -oP "$D/exim/pid"
    EXIM_PID=$LAST_BG_PID
    wait_listen "$EXIM_PID" "$EXIM_PORT"
}

# ---- lighttpd -------------------------------------------------------------------------

# lighttpd_prepare: lighttpd on HTTPD_PORT serving one static page and
# proxying /app/ (mod_proxy) to a backend on BACKEND_PORT that logs each
# request line to $D/backend.log and resets the connection without answering.
lighttpd_prepare() {
    local l="$D/lighttpd"
    mkdir -p "$l/www"
    echo "static page" >"$l/www/index.html"
    HTTPD_PORT="$(daemon_port)"
    BACKEND_PORT="$(daemon_port)"
    cat >"$l/lighttpd.conf" <<EOF
server.modules = ("mod_proxy")
server.port = $HTTPD_PORT
server.bind = "127.0.0.1"
server.document-root = "$l/www"
server.errorlog = "$l/error.log"
proxy.server = ("/app/" => (("host" => "127.0.0.1", "port" => $BACKEND_PORT)))
EOF
    : >"$D/backend.log"
    start_bg "" backend "$PYTHON" -S "$DAEMON_CLIENTS" reset-backend "$BACKEND_PORT" "$D/backend.log"
    DAEMON_NAME=backend
    wait_listen "$LAST_BG_PID" "$BACKEND_PORT"
}

start_lighttpd() {
    start_daemon "$1" "$2" /usr/sbin/lighttpd -D -f "$D/lighttpd/lighttpd.conf"
    LIGHTTPD_PID=$LAST_BG_PID
    wait_listen "$LIGHTTPD_PID" "$HTTPD_PORT"
}

# ---- headless Chromium ----------------------------------------------------------------

# chromium_prepare: a page (HTML, a stylesheet, a script that rewrites the
# page, an image) served by python's http.server on WEB_PORT, and a home
# and log directory for the unprivileged user Chromium runs as. As root,
# Chromium refuses to start with its sandbox; as nobody it builds its
# namespace sandbox (user and PID namespaces, then seccomp-bpf in every
# child) and refuses to start without one, so a load that succeeds ran
# sandboxed. The log directory is nobody's, as LogsDirectory= makes it for
# a service with User=; the shim is copied where nobody can read it.
chromium_prepare() {
    local c="$D/chromium"
    mkdir -p "$c/www" "$c/home"
    cat >"$c/www/index.html" <<'HTML'
<!doctype html><html><head><title>matrix</title><link rel="stylesheet" href="s.css">
<script src="a.js"></script></head><body><p id="x">static</p><img src="i.svg"></body></html>
HTML
    echo 'p { color: green }' >"$c/www/s.css"
    echo 'addEventListener("DOMContentLoaded", () => { document.getElementById("x").textContent = "scripted"; });' >"$c/www/a.js"
    echo '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>' >"$c/www/i.svg"
    WEB_PORT="$(daemon_port)"
    start_bg "" web "$PYTHON" -S -m http.server --bind 127.0.0.1 --directory "$c/www" "$WEB_PORT"
    DAEMON_NAME=web
    wait_listen "$LAST_BG_PID" "$WEB_PORT"
    install -m 755 "$SHIM" "$D/librstwatch.so"
    chown nobody: "$c/home" "$LOG_DIR"
    CHROMIUM_RUNS=0
}

# chromium_load MODE: one headless load of the page with --dump-dom as
# nobody, bare or under the shim (RSTWATCH_RETRY=MODE), with a fresh
# profile; sets status/output/stderr, keeps stderr in $T/chromium-N.err and
# the profile in CHROMIUM_PROFILE (a crash leaves a dump there).
chromium_load() {
    local mode="$1" preload=() n
    CHROMIUM_RUNS=$((CHROMIUM_RUNS + 1))
    n=$CHROMIUM_RUNS
    CHROMIUM_PROFILE="$D/chromium/profile.$n"
    mkdir -p "$CHROMIUM_PROFILE"
    chown nobody: "$CHROMIUM_PROFILE"
    [ "$mode" = bare ] || preload=(LD_PRELOAD="$D/librstwatch.so" RSTWATCH_RETRY="$mode")
    client setpriv --reuid=nobody --regid=nogroup --clear-groups \
        env HOME="$D/chromium/home" "${preload[@]}" chromium --headless --disable-gpu \
        --no-first-run --disable-background-networking --disable-component-update \
        --disable-sync --disable-quic --user-data-dir="$CHROMIUM_PROFILE" \
        --dump-dom "http://127.0.0.1:$WEB_PORT/index.html"
    printf '%s\n' "$stderr" >"$T/chromium-$n.err"
    CHROMIUM_NAME="chromium-$n"
}

# assert_chromium_no_dump: no crash dump in the last load's profile.
assert_chromium_no_dump() {
    local dumps
    dumps="$(find "$CHROMIUM_PROFILE" -name '*.dmp' 2>/dev/null)"
    [ -z "$dumps" ] || {
        echo "crash dump(s) in $CHROMIUM_PROFILE: $dumps" >&2
        return 1
    }
}
