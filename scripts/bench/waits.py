# SPDX-License-Identifier: MIT
"""waits.py: what the benchmark scripts (run.py, flood.py) share for starting
servers: free loopback ports, and waiting until a server wrote its port file
or accepts connections."""
import os
import socket
import time


def free_ports(n):
    """n distinct loopback ports that were free a moment ago."""
    ports = set()
    while len(ports) < n:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.add(s.getsockname()[1])
    return sorted(ports)


def wait_file(path, secs=5):
    """Waits (<= secs) until path exists and is not empty; True when it is."""
    end = time.time() + secs
    while time.time() < end:
        if os.path.exists(path) and os.path.getsize(path) > 0:
            return True
        time.sleep(0.01)
    return False


def wait_port(port, secs=6):
    """Waits (<= secs) until something accepts on 127.0.0.1:port; True when it does."""
    end = time.time() + secs
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False
