"""Answers IPv6 router solicitations on one interface with a router advertisement that announces
no router (lifetime 0), no prefix and no DHCPv6 (M=O=0).

iPXE configures IPv6 beside DHCP and, on a segment where no router ever answers, keeps soliciting
for about 16 s after link-up, about 13 s longer than DHCP takes, before it goes on with the IPv4
address it already has (docs/boot.md). The QEMU tests'
boot segment runs this so real firmware boots as it would on a network that sends advertisements.
Prints "ready" once listening. Usage: ipv6-router-advertiser.py IFACE
"""
import socket
import struct
import sys
import time

IFA_F_TENTATIVE = 0x40


def link_local_ready(iface):
    """True once the interface has a link-local address that finished duplicate address detection:
    until then the kernel has no source address for the advertisements."""
    with open('/proc/net/if_inet6') as f:
        for line in f:
            addr, _, _, scope, flags, name = line.split()
            if name == iface and addr.startswith('fe80') and not int(flags, 16) & IFA_F_TENTATIVE:
                return True
    return False


iface = sys.argv[1]
deadline = time.monotonic() + 10
while not link_local_ready(iface):
    if time.monotonic() > deadline:
        sys.exit(f'{iface} has no usable IPv6 link-local address')
    time.sleep(0.05)
index = socket.if_nametoindex(iface)
sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
# Solicitations go to all-routers (ff02::2); advertisements must leave with hop limit 255 (RFC 4861 6.1.2).
sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, socket.inet_pton(socket.AF_INET6, 'ff02::2') + struct.pack('@I', index))
sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
with open(f'/sys/class/net/{iface}/address') as f:
    mac = bytes.fromhex(f.read().strip().replace(':', ''))
# Type 134, code 0, checksum (the kernel fills it in), cur hop limit 64, flags 0, router lifetime 0,
# reachable time 0, retrans timer 0; then the source link-layer address option.
advert = struct.pack('!BBHBBHII', 134, 0, 0, 64, 0, 0, 0, 0) + bytes([1, 1]) + mac
print('ready', flush=True)
while True:
    data, _ = sock.recvfrom(2048)
    if data and data[0] == 133:
        try:
            sock.sendto(advert, ('ff02::1', 0, 0, index))
        except OSError as err:
            print(f'advertisement not sent: {err}', file=sys.stderr, flush=True)
