#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""delaywire.py: a wire with a real propagation delay between two network
namespaces, for tests that need a path whose round-trip time is physical
(this kernel has no netem).

    delaywire.py NS_A DEV_A NS_B DEV_B DELAY_MS READY_FILE

DEV_A (in NS_A) and DEV_B (in NS_B) are tun devices the caller made
(ip -n NS tuntap add dev DEV mode tun) and addressed. Every IP packet one
side sends arrives at the other DELAY_MS later, in order; nothing is dropped
or changed. READY_FILE is created once both ends are attached. Runs until
killed."""

import ctypes
import fcntl
import heapq
import os
import select
import struct
import sys
import time

CLONE_NEWNET = 0x40000000
TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000

libc = ctypes.CDLL(None, use_errno=True)


def enter_netns(name):
    fd = os.open("/run/netns/" + name, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            sys.exit("delaywire: setns %s: %s" % (name, os.strerror(err)))
    finally:
        os.close(fd)


def attach(ns, dev):
    """The tun device dev of namespace ns, opened from inside it (a tun fd
    belongs to the namespace its opener was in)."""
    enter_netns(ns)
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", dev.encode(), IFF_TUN | IFF_NO_PI))
    os.set_blocking(fd, False)
    return fd


def main():
    ns_a, dev_a, ns_b, dev_b, delay_ms, ready = sys.argv[1:7]
    delay = float(delay_ms) / 1000
    a = attach(ns_a, dev_a)
    b = attach(ns_b, dev_b)
    peer = {a: b, b: a}
    with open(ready, "w"):
        pass
    queue = []  # (due, seq, fd to write, packet): in order per direction
    seq = 0
    while True:
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, fd, pkt = heapq.heappop(queue)
            try:
                os.write(fd, pkt)
            except OSError:
                pass  # the device went down: the test is over
        timeout = max(0.0, queue[0][0] - now) if queue else 1.0
        readable, _, _ = select.select([a, b], [], [], timeout)
        now = time.monotonic()
        for fd in readable:
            while True:
                try:
                    pkt = os.read(fd, 65536)
                except BlockingIOError:
                    break
                seq += 1
                heapq.heappush(queue, (now + delay, seq, peer[fd], pkt))


if __name__ == "__main__":
    main()
