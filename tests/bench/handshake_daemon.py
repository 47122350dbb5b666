#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The daemon half of tests/bench/handshake: a real meshd peer channel.

Mints a trust domain (ECDSA P-256, as SPIRE issues by default), serves meshd
its SVID spiffe://bench.test/node/b from the fake SPIRE agent (a real gRPC
server), starts meshd listening on 127.0.0.1, writes the client's SVID
(/node/a) as a.pem/a.key/ca.pem into DIR and runs `handshake_bench daemon`
against meshd; prints its output, then meshd's own handshake histogram
(meshd_mtls_handshake_duration_seconds count/sum).

Usage: handshake_daemon.py BUILD_DIR DIR N
"""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "spiffe"))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import certs  # noqa: E402
from fake_spire_agent import FakeAgent  # noqa: E402
from test_daemon import free_port  # noqa: E402


def main():
    build, workdir, n = os.path.abspath(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    ca = certs.CA("bench.test")
    server, client = ca.issue("/node/b"), ca.issue("/node/a")
    for path, data in (("a.pem", client.cert_pem), ("a.key", client.key_pem),
                       ("ca.pem", client.bundle_pem)):
        with open(os.path.join(workdir, path), "wb") as f:
            f.write(data)

    agent = FakeAgent()
    agent.set_svids([server])
    agent.start(os.path.join(workdir, "agent.sock"))
    port, metrics = free_port(), free_port()
    control = os.path.join(workdir, "meshd.sock")
    config = {
        "mesh": {"manage": False}, "probes": {"enabled": False},
        "control": {"socket": control},
        "metrics": {"listen": f"127.0.0.1:{metrics}"},
        "log": {"level": "warning"},
        "spiffe": {"endpoint": "unix://" + os.path.join(workdir, "agent.sock"),
                   "trust_domain": "bench.test", "listen": f"127.0.0.1:{port}"},
    }
    with open(os.path.join(workdir, "meshd.json"), "w") as f:
        json.dump(config, f)
    meshd = subprocess.Popen([os.path.join(build, "agent", "meshd"), "--config",
                              os.path.join(workdir, "meshd.json"), "--foreground"],
                             stderr=open(os.path.join(workdir, "meshd.log"), "w"))
    try:
        deadline = time.monotonic() + 20
        while True:
            r = subprocess.run([os.path.join(build, "agent", "ctl", "meshctl"), "--socket",
                                control, "--json", "identity"], capture_output=True, text=True)
            if r.returncode == 0 and json.loads(r.stdout).get("state") == "ok":
                break
            if time.monotonic() > deadline or meshd.poll() is not None:
                sys.exit("meshd did not get its SVID: " + r.stdout + r.stderr)
            time.sleep(0.1)
        out = subprocess.run([os.path.join(build, "tests", "handshake_bench"), "daemon", "--dir",
                              workdir, "--port", str(port), "-n", str(n)],
                             capture_output=True, text=True)
        sys.stdout.write(out.stdout)
        if out.returncode != 0:
            sys.exit("handshake_bench daemon failed: " + out.stderr)
        text = urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=5).read().decode()
        for line in text.splitlines():
            if line.startswith(("meshd_mtls_handshake_duration_seconds_count",
                                "meshd_mtls_handshake_duration_seconds_sum")):
                print(line)
    finally:
        meshd.send_signal(signal.SIGTERM)
        meshd.wait(10)
        agent.stop()


if __name__ == "__main__":
    main()
