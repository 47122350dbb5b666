#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The host side of the lab's SPIFFE Workload API: one trust domain, and for
each node named on the command line a fake SPIRE agent (tests/spiffe's real
gRPC server) serving that node's X.509-SVID, spiffe://TD/node/NODE, on
DIR/NODE.sock.

infra/lab/lab starts it before qemu for scenarios that declare
`# lab: spire NODE...`, and connects each socket to a virtio-serial port
named spire.NODE; inside the VM, `spire_bridge NODE` (infra/lab/guest/lab.sh)
makes it /tmp/lab/NODE/agent.sock.

Usage: lab-spire.py --dir DIR [--trust-domain TD] NODE...
Prints "ready" once every socket listens, then serves until SIGTERM/SIGINT.
"""

import argparse
import os
import signal
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "spiffe"))

import certs  # noqa: E402
import fake_spire_agent as fake  # noqa: E402


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
        agent.start(os.path.join(args.dir, node + ".sock"))
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
