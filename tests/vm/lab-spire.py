#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The host side of the lab's SPIFFE Workload API: one trust domain, and for
each node named on the command line a fake SPIRE agent (tests/spiffe's real
gRPC server) serving that node's X.509-SVID, spiffe://TD/node/NODE, on
DIR/NODE.sock.

infra/lab/lab starts it before qemu for scenarios that declare
`# lab: spire NODE...`, and connects each socket to a virtio-serial port
named spire.NODE; inside the VM, `spire_bridge NODE` (infra/lab/guest/lab.sh)
makes it /tmp/lab/NODE/agent.sock. The port carries sessions (see
tests/vm/vport-bridge.cpp): each one a connection of its own to the node's
agent, which listens on DIR/NODE.agent.sock.

Usage: lab-spire.py --dir DIR [--trust-domain TD] NODE...
Prints "ready" once every socket listens, then serves until SIGTERM/SIGINT.
"""

import argparse
import os
import signal
import socket
import struct
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "spiffe"))

import certs  # noqa: E402
import fake_spire_agent as fake  # noqa: E402


def serve_port(path, agent_path):
    """Listens on PATH for qemu's chardev and demultiplexes the bridge's
    sessions onto connections to the agent."""
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(path)
    ls.listen(1)

    def run():
        while True:
            port, _ = ls.accept()
            lock = threading.Lock()
            sessions = {}

            def send(ftype, sid, data=b""):
                with lock:
                    port.sendall(struct.pack("!cIH", ftype, sid, len(data)) + data)

            def upstream(sid, conn):
                while True:
                    try:
                        data = conn.recv(16384)
                    except OSError:
                        data = b""
                    if not data:
                        break
                    send(b"D", sid, data)
                if sessions.pop(sid, None) is not None:
                    send(b"C", sid)
                conn.close()

            def close(sid):
                conn = sessions.pop(sid, None)
                if conn is not None:
                    try:
                        conn.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

            buf = b""
            while True:
                data = port.recv(65536)
                if not data:
                    break
                buf += data
                while len(buf) >= 7:
                    ftype, sid, n = struct.unpack("!cIH", buf[:7])
                    if len(buf) < 7 + n:
                        break
                    payload, buf = buf[7:7 + n], buf[7 + n:]
                    if ftype == b"O":
                        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                        try:
                            conn.connect(agent_path)
                        except OSError:
                            send(b"C", sid)
                            continue
                        sessions[sid] = conn
                        threading.Thread(target=upstream, args=(sid, conn), daemon=True).start()
                    elif ftype == b"D" and sid in sessions:
                        try:
                            sessions[sid].sendall(payload)
                        except OSError:
                            close(sid)
                    elif ftype == b"C":
                        close(sid)
                    elif ftype == b"R":
                        for old in list(sessions):
                            close(old)
            for old in list(sessions):
                close(old)
            port.close()

    threading.Thread(target=run, daemon=True).start()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dir", required=True)
    p.add_argument("--trust-domain", default="lab.test")
    p.add_argument("nodes", nargs="+")
    args = p.parse_args()
    ca = certs.CA(args.trust_domain)
    os.makedirs(args.dir, exist_ok=True)
    with open(os.path.join(args.dir, "bundle.pem"), "wb") as f:
        f.write(ca.bundle_pem)
    agents = []
    for node in args.nodes:
        agent = fake.FakeAgent()
        agent.set_svids([ca.issue(f"node/{node}").workload_entry()])
        agent.start(os.path.join(args.dir, node + ".agent.sock"))
        serve_port(os.path.join(args.dir, node + ".sock"), os.path.join(args.dir, node + ".agent.sock"))
        agents.append(agent)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print("ready", flush=True)
    while not stop.wait(1.0):
        pass
    for agent in agents:
        agent.stop(grace=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
