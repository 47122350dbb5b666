#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# Bad datagrams for a tunnel-static under test (tests/forward/host-tunnel.sh),
# run inside its network namespace:
#   inject.py bad IFACE ADDR PORT   captures one real data datagram to PORT on
#       IFACE, then sends to ADDR:PORT from a fresh socket: the datagram again
#       (replay), it with a flipped ciphertext byte and a fresh counter
#       (tampered), it with receiver index 0xdeadbeef (unknown index), 100
#       bytes of garbage and 8 bytes (short). Prints what it sent.
#   inject.py keepalive ADDR PORT INDEX KEYHEX COUNTER   a valid keepalive
#       (ChaCha20-Poly1305) from a fresh socket, i.e. from a new endpoint.
import os
import socket
import struct
import sys
import time

ETH_P_ALL = 3


def capture(iface, port, timeout=10.0):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    s.settimeout(1.0)
    end = time.time() + timeout
    while time.time() < end:
        try:
            frame, addr = s.recvfrom(65535)
        except socket.timeout:
            continue
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        ethertype = struct.unpack("!H", frame[12:14])[0]
        if ethertype == 0x0800:
            ihl = (frame[14] & 0x0F) * 4
            if frame[23] != 17:
                continue
            udp = frame[14 + ihl:]
        elif ethertype == 0x86DD:
            if frame[20] != 17:
                continue
            udp = frame[54:]
        else:
            continue
        dport, length = struct.unpack("!HH", udp[2:6])
        payload = udp[8:length]
        if dport == port and len(payload) > 32 + 14 and payload[0] == 1:
            return payload
    raise SystemExit("inject.py: no data datagram to port %d seen on %s" % (port, iface))


def sender(addr):
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    return socket.socket(family, socket.SOCK_DGRAM)


def bad(iface, addr, port):
    real = capture(iface, port)
    s = sender(addr)
    tampered = bytearray(real)
    tampered[8:16] = struct.pack("!Q", 1 << 50)
    tampered[20] ^= 0x55
    unknown = bytearray(real)
    unknown[4:8] = struct.pack("!I", 0xDEADBEEF)
    garbage = bytes([0x7F]) + os.urandom(99)
    for name, data in (("replay", real), ("tampered", bytes(tampered)),
                       ("unknown_index", bytes(unknown)), ("garbage", garbage),
                       ("short", os.urandom(8))):
        s.sendto(data, (addr, port))
        print("sent", name, len(data))


def keepalive(addr, port, index, keyhex, counter):
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
    header = struct.pack("!BBHIQ", 2, 0, 0, index, counter)
    nonce = b"\0\0\0\0" + struct.pack("!Q", counter)
    tag = ChaCha20Poly1305(bytes.fromhex(keyhex)).encrypt(nonce, b"", header)
    s = sender(addr)
    s.sendto(header + tag, (addr, port))
    print("sent keepalive from", s.getsockname())


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "bad":
        bad(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) == 7 and sys.argv[1] == "keepalive":
        keepalive(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6]))
    else:
        raise SystemExit(__doc__ or "usage: see the comment at the top")
