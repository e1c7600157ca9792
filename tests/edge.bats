#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Bad arguments on tracked sockets: the host gets exactly the errno bare libc
# gives (EFAULT, EINVAL, EBADF), never a crash inside the shim, with retry and
# replay on (the paths that look at the app's buffers).

load lib

setup() {
    rstwatch_setup
    need_shim
    PROBE="$T/probe.py"
    cat >"$PROBE" <<'PY'
import ctypes, ctypes.util, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
fd = s.fileno()
def call(name, *args):
    f = getattr(libc, name)
    r = f(*args)
    print(name, r, ctypes.get_errno() if r < 0 else 0)
call("sendmsg", fd, None, 0)                     # EFAULT
call("recvmsg", fd, None, 0)                     # EFAULT
iov = (ctypes.c_char_p * 2)()
call("writev", fd, iov, -1)                      # EINVAL
call("writev", fd, iov, 100000)                  # EINVAL (> IOV_MAX)
call("readv", fd, iov, -1)                       # EINVAL
call("send", fd, None, 10, 0)                    # EFAULT
call("recv", 9999, None, 10, 0)                  # EBADF
call("getsockopt", fd, socket.SOL_SOCKET, socket.SO_ERROR, None, None)  # EFAULT
call("connect", fd, None, 16)                    # EFAULT (already connected: EISCONN or EFAULT)
call("accept", fd, None, None)                   # EINVAL (not listening)
s2 = socket.socket()
call("connect", s2.fileno(), ctypes.c_void_p(8), 16)  # EFAULT: a wild pointer
call("connect", s2.fileno(), ctypes.c_void_p(8), 1)   # EINVAL: too short
PY
}

teardown() {
    rstwatch_teardown
}

@test "bad pointers and counts on a tracked socket give the same errno as bare, retry on or off" {
    start_server http
    run_bare python3 "$PROBE" "$PORT"
    [ "$status" = 0 ] || { echo "$stderr"; false; }
    bare="$output"
    [[ "$bare" == *"sendmsg -1 14"* ]] # EFAULT: the probe really probes
    run_shim python3 "$PROBE" "$PORT"
    [ "$status" = 0 ] || { echo "$stderr"; false; }
    [ "$output" = "$bare" ] || { diff <(echo "$bare") <(echo "$output"); false; }
    RSTWATCH_RETRY=idempotent run_shim python3 "$PROBE" "$PORT"
    [ "$status" = 0 ] || { echo "$stderr"; false; }
    [ "$output" = "$bare" ] || { diff <(echo "$bare") <(echo "$output"); false; }
}
