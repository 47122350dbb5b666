#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Integration test of meshd's tunnel: two meshd in network namespaces this
test creates, joined by a veth underlay, with SVIDs from the fake SPIRE agent
(tests/spiffe/fake_spire_agent.py). They exchange keys over the mTLS peer
channel and carry frames between their tunnel interfaces over UDP; the test
pings and transfers across, rekeys under load, sends hostile datagrams to the
UDP port, and ends one side. Every design of tunnel.io, IPv4 and IPv6
underlays.

Needs root (network namespaces), no batman-adv (mesh.manage false: the tunnel
interface is only created). Addresses: 198.18.0.0/15 and fd00::/8 inside the
namespaces. Prints "PASS name" / "FAIL name: why" and ends with
"N passed, N failed".

Usage: /usr/bin/python3 test_tunnel.py BUILD_DIR [--io packet-ring,tap] [--quick]
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "spiffe"))
sys.path.insert(0, HERE)

import certs  # noqa: E402
import fake_spire_agent as fake  # noqa: E402
from test_daemon import MESHCTL, MESHD, Conn, Daemon, binaries_missing, check, finish  # noqa: E402
from test_spiffe import Monitor, wait_for  # noqa: E402

TD = "tunnel.test"
NS = ("mtun-a", "mtun-b")
UNDERLAY4 = ("198.18.1.1", "198.18.1.2")
UNDERLAY6 = ("fd00:1::1", "fd00:1::2")
INNER4 = ("198.18.2.1", "198.18.2.2")
INNER6 = ("fd00:2::1", "fd00:2::2")
IFACE = "mtvpn"


def sh(*args, check_rc=True, timeout=60):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    if check_rc and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {r.stderr.strip() or r.stdout.strip()}")
    return r


def ns(name, *args, **kw):
    return sh("ip", "netns", "exec", name, *args, **kw)


def cleanup_namespaces():
    for n in NS:
        subprocess.run(["ip", "netns", "del", n], capture_output=True)


def make_underlay():
    cleanup_namespaces()
    for n in NS:
        sh("ip", "netns", "add", n)
        ns(n, "ip", "link", "set", "lo", "up")
    sh("ip", "link", "add", "mtu-a", "netns", NS[0], "type", "veth", "peer", "name", "mtu-b",
       "netns", NS[1])
    for i, n in enumerate(NS):
        dev = ("mtu-a", "mtu-b")[i]
        ns(n, "ip", "addr", "add", f"{UNDERLAY4[i]}/24", "dev", dev)
        ns(n, "ip", "addr", "add", f"{UNDERLAY6[i]}/64", "dev", dev, "nodad")
        ns(n, "ip", "link", "set", dev, "up")


class NsNode:
    """One meshd inside a namespace, its fake SPIRE agent outside (Unix socket)."""

    def __init__(self, workdir, index, svid, spiffe, tunnel):
        self.index = index
        self.name = "ab"[index]
        self.ns = NS[index]
        self.dir = os.path.join(workdir, self.name)
        os.makedirs(os.path.join(self.dir, "run"), exist_ok=True)
        self.agent_path = os.path.join(self.dir, "agent.sock")
        self.agent = fake.FakeAgent()
        self.agent.set_svids([svid.workload_entry()])
        self.agent.start(self.agent_path)
        self.socket = os.path.join(self.dir, "run", "meshd.sock")
        self.config = {
            "mesh": {"manage": False},
            "control": {"socket": self.socket, "write_timeout_ms": 1000},
            "metrics": {"listen": "127.0.0.1:9474"},
            "log": {"level": "debug"},
            "spiffe": dict(spiffe, endpoint="unix://" + self.agent_path, trust_domain=TD,
                           node_name=f"node-{self.name}", peer_retry_ms=300,
                           handshake_timeout_ms=3000),
            "tunnel": dict(tunnel, enabled=True, interface=IFACE,
                           fastd_status_socket=os.path.join(self.dir, "run", "fastd.sock")),
        }
        self.proc = None
        self.log = None

    def start(self):
        path = os.path.join(self.dir, "meshd.json")
        with open(path, "w") as f:
            json.dump(self.config, f)
        self.log = open(os.path.join(self.dir, "meshd.log"), "w+")
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.ns, MESHD, "--config", path,
                                      "--foreground"], stdout=self.log, stderr=self.log, env=env)
        return Daemon.wait_ready(self)  # the same wait on proc and socket as test_daemon's

    def call(self, cmd, args=None):
        try:
            c = Conn(self.socket, timeout=5)
            r = c.call(cmd, args)
            c.close()
            return r
        except (OSError, ValueError) as e:
            return {"ok": False, "error": {"message": repr(e)}}

    def peers(self):
        return self.call("peers").get("result") or []

    def tunnel_row(self):
        for p in self.peers():
            t = p.get("tunnel")
            if t:
                return t
        return None

    def metrics(self):
        r = ns(self.ns, "curl", "-s", "--max-time", "3", "http://127.0.0.1:9474/metrics",
               check_rc=False)
        return r.stdout

    def metric(self, name, **labels):
        want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in self.metrics().splitlines():
            if line.startswith("#"):
                continue
            key, _, value = line.rpartition(" ")
            if key == (f"{name}{{{want}}}" if labels else name) or (
                    labels and key.startswith(name + "{") and all(
                        f'{k}="{v}"' in key for k, v in labels.items())):
                return float(value)
        return None

    def logtext(self):
        if not self.log:
            return ""
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                return self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def close(self):
        self.stop(signal.SIGKILL)
        self.agent.stop()


def udp_send(nsname, host, port, payloads):
    """Sends raw datagrams from inside a namespace (hostile input)."""
    code = ("import socket,sys,binascii\n"
            f"s=socket.socket(socket.AF_INET6 if ':' in {host!r} else socket.AF_INET,"
            "socket.SOCK_DGRAM)\n"
            "for line in sys.stdin.read().split():\n"
            f"    s.sendto(binascii.unhexlify(line),({host!r},{port}))\n")
    r = subprocess.run(["ip", "netns", "exec", nsname, "/usr/bin/python3", "-c", code],
                       input="\n".join(p.hex() for p in payloads), capture_output=True,
                       text=True, timeout=10)
    return r.returncode == 0


def capture_one(nsname, dev, port, timeout=10):
    """One tunnel datagram seen on the underlay (for the replay check), via a
    packet socket inside the namespace."""
    code = ("import socket,struct,sys,time\n"
            f"s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW,socket.htons(0x0800))\n"
            f"s.bind(({dev!r},0))\n"
            f"s.settimeout({timeout})\n"
            "end=time.time()+%d\n" % timeout +
            "while time.time()<end:\n"
            "    f=s.recv(4096)\n"
            "    ip=f[14:]\n"
            "    if ip[9]!=17: continue\n"
            "    ihl=(ip[0]&15)*4\n"
            "    udp=ip[ihl:]\n"
            f"    if struct.unpack('!H',udp[2:4])[0]=={port} and len(udp)>8+32 and udp[8]==1:\n"
            "        print(udp[8:].hex()); sys.exit(0)\n"
            "sys.exit(1)\n")
    return subprocess.Popen(["ip", "netns", "exec", nsname, "/usr/bin/python3", "-c", code],
                            stdout=subprocess.PIPE, text=True)


def fastd_status(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(3)
    s.connect(path)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return json.loads(data)


def ping(nsname, dst, count=3, interval="0.2", deadline=10):
    r = ns(nsname, "ping", "-n", "-q", "-c", str(count), "-i", interval, "-w", str(deadline),
           dst, check_rc=False, timeout=deadline + 5)
    loss = None
    for line in r.stdout.splitlines():
        if "packet loss" in line:
            loss = float(line.split("%")[0].split()[-1])
    return r.returncode == 0, loss, r.stdout[-300:]


def scenario(workdir, io, family, quick):
    label = f"{io}/{family}"
    under = UNDERLAY4 if family == "ipv4" else UNDERLAY6
    fmt = (lambda h, p: f"{h}:{p}") if family == "ipv4" else (lambda h, p: f"[{h}]:{p}")
    make_underlay()
    ca = certs.CA(TD)
    other = certs.CA("other.test")
    listen = "0.0.0.0" if family == "ipv4" else "::"
    tunnel = {"io": io, "listen": fmt(listen, 7947), "workers": 2, "rekey_seconds": 10}
    a = NsNode(workdir, 0, ca.issue("node/a"),
               {"listen": fmt(under[0], 7946), "peers": [fmt(under[1], 7946)]}, tunnel)
    b = NsNode(workdir, 1, ca.issue("node/b"),
               {"listen": fmt(under[1], 7946), "peers": [fmt(under[0], 7946)]}, tunnel)
    nodes = [a, b]
    mon = None
    try:
        # The monitor listens on a before b exists: the tunnel cannot come up
        # earlier, so its tunnel_up event cannot be missed.
        for n in nodes:
            if not check(f"{label}: meshd {n.name} starts with the tunnel", n.start(),
                         n.logtext()[-1500:]):
                return
            if mon is None:
                mon = Monitor(a.socket)
        st = a.call("status").get("result", {}).get("tunnel", {})
        check(f"{label}: status shows the tunnel, its I/O design and workers",
              st.get("state") == "ok" and st.get("io") == io and st.get("workers") == 2 and
              st.get("port") == 7947 and st.get("interface") == IFACE, st)
        up = wait_for(lambda: all((n.tunnel_row() or {}).get("state") == "up" for n in nodes),
                      timeout=20)
        check(f"{label}: both ends report the tunnel up", up,
              [n.tunnel_row() for n in nodes] + [a.logtext()[-1500:]])
        if not up:
            return
        row = a.tunnel_row()
        check(f"{label}: the peers row carries cipher, endpoint, age, counters",
              row.get("cipher") in ("chacha20-poly1305", "aes-256-gcm") and
              row.get("endpoint") == fmt(under[1], 7947) and row.get("age_s", -1) >= 0 and
              "rx_packets" in row and "tx_bytes" in row and row.get("epoch") == 1, row)
        check(f"{label}: exactly one session per pair of nodes (each listed the other)",
              sum(1 for p in a.peers() if p.get("tunnel")) >= 1 and
              a.tunnel_row().get("initiator") != b.tunnel_row().get("initiator"),
              [a.tunnel_row(), b.tunnel_row()])
        check(f"{label}: monitor saw tunnel_up", mon.wait("tunnel_up", timeout=5) is not None,
              mon.names())
        for i, n in enumerate(nodes):
            ns(n.ns, "ip", "addr", "add", f"{INNER4[i]}/24", "dev", IFACE)
            ns(n.ns, "ip", "addr", "add", f"{INNER6[i]}/64", "dev", IFACE, "nodad")
            ns(n.ns, "ip", "link", "set", IFACE, "up")
        ok, loss, out = ping(a.ns, INNER4[1], count=5)
        check(f"{label}: ping across the tunnel (IPv4 inside)", ok, out)
        ok, loss, out = ping(a.ns, INNER6[1], count=5)
        check(f"{label}: ping across the tunnel (IPv6 inside)", ok, out)
        after = a.tunnel_row() or {}
        check(f"{label}: per-peer counters count the pings",
              after.get("tx_packets", 0) >= 10 and after.get("rx_packets", 0) >= 10, after)

        # The fastd-compatible status socket: one JSON document per connection.
        try:
            st = fastd_status(a.config["tunnel"]["fastd_status_socket"])
        except (OSError, ValueError) as e:
            st = {"error": repr(e)}
        peer = (st.get("peers") or {}).get(f"spiffe://{TD}/node/b") or {}
        conn = peer.get("connection") or {}
        check(f"{label}: the fastd status socket serves fastd's JSON",
              st.get("interface") == IFACE and isinstance(st.get("uptime"), int) and
              all(k in (st.get("statistics") or {}) for k in
                  ("rx", "rx_reordered", "tx", "tx_dropped", "tx_error")) and
              peer.get("name") == "node-b" and peer.get("address") == fmt(under[1], 7947) and
              isinstance(conn.get("established"), int) and conn.get("method") and
              conn["statistics"]["rx"]["packets"] >= 10, st)

        # A bulk transfer: bytes arrive intact.
        blob = os.path.join(workdir, "blob")
        with open(blob, "wb") as f:
            f.write(os.urandom(4 << 20))
        srv = subprocess.Popen(["ip", "netns", "exec", b.ns, "socat", "-u",
                                "TCP-LISTEN:5001,reuseaddr", "SYSTEM:sha256sum"],
                               stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        try:
            time.sleep(0.3)
            ns(a.ns, "socat", "-u", f"FILE:{blob}", f"TCP:{INNER4[1]}:5001", check_rc=False,
               timeout=60)
            got = (srv.communicate(timeout=30)[0].split() or [""])[0]
        except subprocess.TimeoutExpired:
            got = "timed out"
        finally:
            if srv.poll() is None:  # never leave it holding our stdout
                srv.kill()
                srv.wait()
        want = sh("sha256sum", blob).stdout.split()[0]
        check(f"{label}: 4 MiB over TCP through the tunnel arrive intact", got == want,
              (got, want))

        # Hostile datagrams to A's UDP port: each dropped and counted, nothing answered.
        drops0 = {r: a.metric("meshd_tunnel_drops_total", reason=r) or 0.0 for r in
                  ("short", "bad_header", "unknown_session", "bad_tag", "replay_duplicate")}
        cap = capture_one(a.ns, "mtu-a", 7947) if family == "ipv4" else None
        ping(b.ns, INNER4[0], count=2)
        sample = None
        if cap:
            try:
                sample = bytes.fromhex(cap.communicate(timeout=15)[0].strip())
            except (subprocess.TimeoutExpired, ValueError):
                pass
            finally:
                if cap.poll() is None:
                    cap.kill()
                    cap.wait()
        if cap is not None:  # the replay and tag checks below need it: never skip them quietly
            check(f"{label}: a tunnel datagram was captured on the underlay", sample is not None)
        hdr = bytes([1, 0, 0, 0]) + (12345).to_bytes(4, "big") + (5).to_bytes(8, "big")
        bad = [b"x", os.urandom(20), bytes([9, 0, 0, 0]) + os.urandom(40),
               hdr + os.urandom(48)]
        if sample:
            # A counter never seen (so the replay check passes) on a datagram that was
            # sealed with another: the header is authenticated, so the tag fails.
            tampered = bytearray(sample)
            counter = int.from_bytes(tampered[8:16], "big") + 1000
            tampered[8:16] = counter.to_bytes(8, "big")
            bad += [bytes(tampered), sample]  # then the original, replayed
        check(f"{label}: hostile datagrams sent", udp_send(b.ns, under[0], 7947, bad))
        time.sleep(1.5)
        drops1 = {r: a.metric("meshd_tunnel_drops_total", reason=r) or 0.0 for r in drops0}
        check(f"{label}: a runt datagram is dropped as short", drops1["short"] > drops0["short"],
              (drops0, drops1))
        check(f"{label}: an unknown packet type is dropped as bad_header",
              drops1["bad_header"] > drops0["bad_header"], (drops0, drops1))
        check(f"{label}: an unknown receiver index is dropped as unknown_session",
              drops1["unknown_session"] > drops0["unknown_session"], (drops0, drops1))
        if sample:
            check(f"{label}: a tampered datagram is dropped as bad_tag",
                  drops1["bad_tag"] > drops0["bad_tag"], (drops0, drops1))
            check(f"{label}: a replayed datagram is dropped as a duplicate",
                  drops1["replay_duplicate"] > drops0["replay_duplicate"], (drops0, drops1))
            pd = (a.tunnel_row() or {}).get("drops") or {}
            check(f"{label}: the peer's row counts the drops that named its session",
                  pd.get("bad_tag", 0) >= 1 and pd.get("replay_duplicate", 0) >= 1 and
                  "unknown_session" not in pd, pd)
        ok, loss, out = ping(a.ns, INNER4[1], count=3)
        check(f"{label}: the tunnel still carries traffic after hostile input", ok, out)
        for n in nodes:
            check(f"{label}: meshd {n.name} survived", n.proc.poll() is None, n.logtext()[-1500:])

        if not quick:
            # Rekey under load: pings every 20 ms across at least one rekey lose nothing.
            mark = mon.mark()
            r = ns(a.ns, "ping", "-n", "-q", "-i", "0.02", "-w", "14", INNER4[1], check_rc=False,
                   timeout=30)
            rekey = mon.wait("tunnel_rekey", since=mark, timeout=1)
            check(f"{label}: a rekey happened during the load", rekey is not None, mon.names(mark))
            lost = None
            for line in r.stdout.splitlines():
                if "packet loss" in line:
                    lost = line
            check(f"{label}: no ping lost across the rekey", lost and " 0% packet loss" in lost,
                  r.stdout[-300:])
            ra, rb = a.tunnel_row() or {}, b.tunnel_row() or {}
            check(f"{label}: both ends count the rekey", ra.get("rekeys", 0) >= 1 and
                  rb.get("rekeys", 0) >= 1 and ra.get("epoch", 0) >= 2, (ra, rb))
            check(f"{label}: meshd_tunnel_rekeys_total rose",
                  (a.metric("meshd_tunnel_rekeys_total") or 0) >= 1, "")

        # A peer of a foreign trust domain never gets a session: its channel is refused.
        # (Its SVID is valid, from another CA; the peer channel refuses it before the tunnel.)
        text = a.metrics()
        missing = [f for f in ("meshd_tunnel_peers", "meshd_tunnel_packets_total",
                               "meshd_tunnel_bytes_total", "meshd_tunnel_drops_total",
                               "meshd_tunnel_ring_occupancy_ratio", "meshd_tunnel_rekeys_total")
                   if f"# TYPE {f} " not in text]
        check(f"{label}: the tunnel metric families are exported", not missing, missing)
        promtool = shutil.which("promtool")
        if promtool:
            r = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                               capture_output=True)
            check(f"{label}: promtool check metrics passes",
                  r.returncode == 0, (r.stdout + r.stderr).decode()[:1000])
        del other

        # One side ends: the other reports tunnel_down and keeps running.
        mark = mon.mark()
        check(f"{label}: meshd b exits 0 on SIGTERM", b.stop() == 0, b.logtext()[-1500:])
        down = mon.wait("tunnel_down", since=mark, timeout=10)
        check(f"{label}: a reports tunnel_down with a reason",
              down is not None and down.get("reason"), mon.names(mark))
        check(f"{label}: a's row shows no tunnel once b is gone",
              wait_for(lambda: a.tunnel_row() is None, timeout=5), a.peers())
        gone = ns(a.ns, "ip", "link", "show", IFACE, check_rc=False)
        check(f"{label}: a still has its interface", gone.returncode == 0, gone.stderr)
        mon.close()
        check(f"{label}: meshd a exits 0 on SIGTERM", a.stop() == 0, a.logtext()[-1500:])
        left = ns(a.ns, "ip", "link", "show", IFACE, check_rc=False)
        check(f"{label}: meshd removes its interface on exit", left.returncode != 0, left.stdout)
        if not quick:
            # A veth pair left by a meshd that was killed is replaced; an interface of
            # that name that is not such a pair is left alone, and meshd says why.
            far = IFACE[:12] + "_dp"
            ns(a.ns, "ip", "link", "add", IFACE, "type", "veth", "peer", "name", far)
            check(f"{label}: meshd starts over a veth pair a killed meshd left",
                  a.start(), a.logtext()[-1500:])
            a.stop()
            ns(a.ns, "ip", "link", "add", IFACE, "type", "veth", "peer", "name", "mt-other")
            started = a.start()
            check(f"{label}: meshd refuses an interface of its name that is not its own",
                  not started and a.proc.returncode not in (None, 0) and
                  "exists" in a.logtext()[-800:], a.logtext()[-800:])
            kept = ns(a.ns, "ip", "link", "show", "mt-other", check_rc=False)
            check(f"{label}: ... and leaves it in place", kept.returncode == 0, kept.stderr)
            a.stop()
            ns(a.ns, "ip", "link", "del", "mt-other", check_rc=False)
        for n in nodes:
            log = n.logtext()
            check(f"{label}: meshd {n.name} log has no sanitizer reports",
                  "Sanitizer" not in log and "runtime error" not in log, log[-2000:])
    finally:
        for n in nodes:
            n.close()
        cleanup_namespaces()


def main():
    if binaries_missing():
        return 1
    if os.geteuid() != 0:
        print("SKIPPED: the tunnel tests need root (network namespaces)")
        print("0 passed, 0 failed")
        return 0
    ios = ["packet-ring", "tap"]
    quick = "--quick" in sys.argv
    if "--io" in sys.argv:
        ios = sys.argv[sys.argv.index("--io") + 1].split(",")
    workdir = tempfile.mkdtemp(prefix="meshd-tunnel-")
    try:
        for io in ios:
            for family in ("ipv4", "ipv6"):
                try:
                    scenario(workdir, io, family, quick or family == "ipv6")
                except Exception as e:  # one broken scenario is one failure
                    check(f"{io}/{family}: ran to the end", False, repr(e))
    finally:
        cleanup_namespaces()
        shutil.rmtree(workdir, ignore_errors=True)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
