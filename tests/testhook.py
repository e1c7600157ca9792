# SPDX-License-Identifier: MIT
"""testhook.py: what the suites' python clients share (tests/causes/client.py,
tests/diagnosis_client.py, tests/accuracy_client.py).

run_hook(VAR) runs the shell command in environment variable VAR, without
the shim, at the point a client chooses (a kill, a restart, a firewall rule),
and waits for it. error_line(e) is how every client prints a failure:
"error: TYPE ERRNO MESSAGE" on one line, what the suites grep for."""
import os
import sys


def run_hook(var):
    # A real fork(), not subprocess: subprocess's child is a vfork child that
    # runs close_range() over the client's own sockets before exec, and these
    # clients test what happens to those sockets, not the shim's vfork guard
    # (which has its own test in tests/causes.bats).
    cmd = os.environ.get(var)
    if not cmd:
        return
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    pid = os.fork()
    if pid == 0:
        os.execvpe("sh", ["sh", "-c", cmd], env)
    _, st = os.waitpid(pid, 0)
    if st:
        sys.exit("hook failed: " + cmd)


def error_line(e, code=None):
    """One line for a failure: its type, its errno (or CODE), its message."""
    if code is None:
        code = getattr(e, "errno", None)
    print("error:", type(e).__name__, code, str(e).strip().replace("\n", " | "))
