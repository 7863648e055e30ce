#!/usr/bin/env python3
"""A point-to-point IP link between two network namespaces, forwarded in user space with a fixed
one-way delay and random loss: the stand-in for `tc qdisc ... netem` on kernels built without
sch_netem (this machine's). Used by bench/tftp-perf.sh and test/integration/boot/tftp-netns.test.ts.

  tftp-delay-relay.py NS_SERVER ADDR_SERVER NS_CLIENT ADDR_CLIENT DELAY_MS LOSS_PERCENT [SEED]

Creates one TUN device per namespace (named tr<pid>s / tr<pid>c), gives each its address with the
other as point-to-point peer, prints "ready" and forwards until SIGTERM. The delay applies to packets
from the server side to the client side (like netem on the server's interface); loss applies both
ways. The TUN devices disappear with the process.
"""
import fcntl
import os
import random
import selectors
import signal
import struct
import subprocess
import sys
import time
from collections import deque

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def open_tun(name):
    fd = os.open('/dev/net/tun', os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack('16sH', name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def ip(*args):
    subprocess.run(['ip', *args], check=True)


def main():
    if len(sys.argv) < 7:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    ns_s, addr_s, ns_c, addr_c = sys.argv[1:5]
    delay = float(sys.argv[5]) / 1000.0
    loss = float(sys.argv[6]) / 100.0
    rng = random.Random(int(sys.argv[7]) if len(sys.argv) > 7 else 1)
    tag = f'tr{os.getpid() % 100000}'
    names = {'s': f'{tag}s', 'c': f'{tag}c'}
    fds = {side: open_tun(name) for side, name in names.items()}
    for side, ns, addr, peer in (('s', ns_s, addr_s, addr_c), ('c', ns_c, addr_c, addr_s)):
        ip('link', 'set', names[side], 'netns', ns)
        ip('-n', ns, 'addr', 'add', addr, 'peer', peer, 'dev', names[side])
        ip('-n', ns, 'link', 'set', names[side], 'up')

    stop = False

    def on_term(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    print('ready', flush=True)

    # One FIFO per direction: a constant delay keeps each direction in order.
    queues = {'s': deque(), 'c': deque()}  # packets waiting to be written into that side
    delays = {'c': delay, 's': 0.0}  # towards the client: delayed; towards the server: not
    other = {'s': 'c', 'c': 's'}
    sel = selectors.DefaultSelector()
    for side, fd in fds.items():
        sel.register(fd, selectors.EVENT_READ, side)
    forwarded = dropped = 0
    while not stop:
        now = time.monotonic()
        due = [q[0][0] for q in queues.values() if q]
        timeout = max(0.0, min(due) - now) if due else 0.5
        for key, _ in sel.select(timeout):
            src = key.data
            dst = other[src]
            while True:
                try:
                    packet = os.read(fds[src], 65535)
                except BlockingIOError:
                    break
                if loss > 0 and rng.random() < loss:
                    dropped += 1
                    continue
                queues[dst].append((time.monotonic() + delays[dst], packet))
        now = time.monotonic()
        for side, q in queues.items():
            while q and q[0][0] <= now:
                try:
                    os.write(fds[side], q.popleft()[1])
                    forwarded += 1
                except OSError:
                    pass
    print(f'forwarded {forwarded} dropped {dropped}', flush=True)


if __name__ == '__main__':
    main()
