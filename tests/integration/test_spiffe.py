#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Integration test of meshd's SPIFFE identity and mTLS peer channel, against a
fake SPIRE agent (tests/spiffe/fake_spire_agent.py: a real gRPC server on a
Unix socket) and, on the peer side, Python's ssl module and a second meshd.

Needs no batman-adv: the daemons run with mesh.manage false and no hardifs.
Prints one line per check ("PASS name" / "FAIL name: why") and ends with
"N passed, N failed". Exit status 1 if anything failed.

Usage: /usr/bin/python3 test_spiffe.py BUILD_DIR
(/usr/bin/python3: Debian's python3-grpcio, python3-grpc-tools and
python3-cryptography are installed for it only.)
"""

import datetime
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "spiffe"))
sys.path.insert(0, HERE)

import grpc  # noqa: E402
from cryptography import x509  # noqa: E402

import certs  # noqa: E402
import fake_spire_agent as fake  # noqa: E402
from test_daemon import (MESHCTL, MESHD, Conn, Daemon, binaries_missing, check,  # noqa: E402
                         finish, free_port, skip)

TD = "td.test"
ID_A = f"spiffe://{TD}/node/a"
ID_B = f"spiffe://{TD}/node/b"
ID_C = f"spiffe://{TD}/node/c"
IDENTITY_KEYS = {"state", "spiffe_id", "not_after", "not_after_unix", "trust_domains", "hint",
                 "svids", "rotations", "endpoint", "workload_api"}
PEER_KEYS = {"endpoint", "direction", "state", "spiffe_id", "node", "version", "mesh_mac",
             "capabilities", "since", "last_error", "handshakes_ok", "handshakes_failed",
             "messages_in", "messages_out"}
HANDSHAKE_RESULTS = ("ok", "no_certificate", "untrusted", "expired", "invalid_svid",
                     "unauthorized", "tls_error", "timeout", "no_identity")


def wait_for(fn, timeout=5.0, interval=0.05):
    """Calls FN until it returns something truthy or TIMEOUT passes; returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = fn()
        except (OSError, EOFError, ValueError, KeyError, TypeError):
            value = None
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def unix_time(value):
    """An RFC 3339 string (or a number) as unix seconds; None when it is neither."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def ts(svid):
    return svid.not_after.timestamp()


# -- meshd ----------------------------------------------------------------------------------

def request(d, cmd, args=None):
    c = Conn(d.socket, timeout=3)
    try:
        return c.call(cmd, args)
    finally:
        c.close()


def identity(d):
    r = request(d, "identity")
    return r.get("result") if r.get("ok") else None


def identity_when(node, pred, timeout=5.0):
    """NODE's identity once PRED(identity) holds; None after TIMEOUT."""
    def probe():
        i = node.identity()
        return i if i and pred(i) else None
    return wait_for(probe, timeout=timeout)


def api_state(i):
    return (i.get("workload_api") or {}).get("state")


def api_error_code(i):
    return ((i.get("workload_api") or {}).get("last_error") or {}).get("code")


def peers(d):
    r = request(d, "peers")
    return r.get("result") if r.get("ok") else None


def meshctl_json(d, *args):
    r = subprocess.run([MESHCTL, "--socket", d.socket, "--json", *args], capture_output=True,
                       text=True, timeout=10)
    try:
        out = json.loads(r.stdout) if r.stdout.strip() else None
    except ValueError:
        out = None
    return r.returncode, out, r.stderr


def metrics(port):
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()


def metric(text, name, **labels):
    """The sum of the samples of NAME whose labels include LABELS; None when there is none."""
    total, found = 0.0, False
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        sample, _, rest = head.partition("{")
        if sample != name:
            continue
        have = {}
        for part in rest.rstrip("}").split(","):
            if "=" in part:
                k, v = part.split("=", 1)
                have[k.strip()] = v.strip().strip('"')
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(value)
            found = True
    return total if found else None


class Node:
    """One meshd with its fake SPIRE agent, its ports and its PEM files."""

    def __init__(self, workdir, name, spiffe, env=None):
        self.name = name
        self.dir = os.path.join(workdir, name)
        os.makedirs(os.path.join(self.dir, "run"), exist_ok=True)
        self.metrics_port = free_port()
        self.config = {
            "mesh": {"manage": False},
            "control": {"socket": os.path.join(self.dir, "run", "meshd.sock"),
                        "write_timeout_ms": 1000},
            "metrics": {"listen": f"127.0.0.1:{self.metrics_port}"},
            "log": {"level": "debug"},
            "spiffe": spiffe,
        }
        self.env = env
        self.d = None

    def start(self):
        self.d = Daemon(self.dir, self.config, env=self.env)
        return self.d.wait_ready()

    def metrics(self):
        return metrics(self.metrics_port)

    def metric(self, name, **labels):
        try:
            return metric(self.metrics(), name, **labels)
        except OSError:
            return None

    def handshakes(self, result):
        return self.metric("meshd_mtls_handshakes_total", result=result) or 0.0

    def api_errors(self, code):
        return self.metric("meshd_workload_api_errors_total", code=code) or 0.0

    def identity(self):
        return identity(self.d)

    def stop(self):
        if self.d is not None:
            self.d.kill()


class Monitor:
    """A control connection in monitor mode; a thread collects the events."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(path)
        self.sock.sendall(b'{"id":"mon","cmd":"monitor"}\n')
        self.buf = b""
        self.reply = self._line()
        self.sock.settimeout(None)
        self.events = []
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("monitor closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def _run(self):
        try:
            while True:
                ev = self._line()
                with self.cond:
                    self.events.append(ev)
                    self.cond.notify_all()
        except (OSError, EOFError, ValueError):
            pass

    def mark(self):
        with self.cond:
            return len(self.events)

    def wait(self, name, since=0, timeout=5.0, **fields):
        """The first event NAME after index SINCE whose FIELDS match (callables are
        predicates); None after TIMEOUT."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for ev in self.events[since:]:
                    if ev.get("event") == name and all(
                            (v(ev.get(k)) if callable(v) else ev.get(k) == v)
                            for k, v in fields.items()):
                        return ev
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def names(self, since=0):
        with self.cond:
            return [e.get("event") for e in self.events[since:]]

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


# -- the peer side in Python ----------------------------------------------------------------

def frame(ftype, payload):
    """A peer channel frame: version 1, type, two reserved bytes, 32-bit length, payload."""
    return bytes([1, ftype, 0, 0]) + len(payload).to_bytes(4, "big") + payload


def hello(node="py-peer"):
    return frame(1, json.dumps({"protocol": 1, "node": node, "version": "test",
                                "mesh_mac": None, "capabilities": ["hello"]}).encode())


def read_frame(s):
    """The next (type, payload) from an SSL socket, or None at EOF."""
    buf = b""
    while len(buf) < 8:
        chunk = s.recv(8 - len(buf))
        if not chunk:
            return None
        buf += chunk
    n = int.from_bytes(buf[4:8], "big")
    payload = b""
    while len(payload) < n:
        chunk = s.recv(n - len(payload))
        if not chunk:
            return None
        payload += chunk
    return buf[1], payload


class PemFiles:
    """Writes each SVID's PEM files once, under one directory."""

    def __init__(self, directory):
        self.dir = directory
        self.paths = {}

    def __call__(self, svid):
        key = id(svid)
        if key not in self.paths:
            self.paths[key] = svid.write_pem(self.dir, f"svid{len(self.paths)}")
        return self.paths[key]


class TlsResult:
    def __init__(self):
        self.handshake = False   # the client side of the TLS handshake completed
        self.server_cert = None  # x509.Certificate meshd presented
        self.hello = None        # meshd's hello (dict): meshd accepted us
        self.error = None
        self.sock = None         # with keep=True: the open connection

    @property
    def accepted(self):
        return self.hello is not None

    @property
    def server_id(self):
        if self.server_cert is None:
            return None
        try:
            san = self.server_cert.extensions.get_extension_for_class(
                x509.SubjectAlternativeName).value
            return san.get_values_for_type(x509.UniformResourceIdentifier)[0]
        except (x509.ExtensionNotFound, IndexError):
            return None

    def __repr__(self):
        return (f"handshake={self.handshake} server={self.server_id} serial="
                f"{self.server_cert.serial_number if self.server_cert else None} "
                f"hello={self.hello} error={self.error!r}")


def tls_client(port, svid, trust_pem, pem_files, send_hello=True, keep=False, timeout=3.0):
    """Connects to meshd's peer port as an mTLS client showing SVID (None: no certificate),
    trusting the CA certificates TRUST_PEM for meshd's own SVID."""
    res = TlsResult()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False  # SVIDs name a SPIFFE ID, not a host
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=trust_pem.decode())
    if svid is not None:
        crt, key, _ = pem_files(svid)
        ctx.load_cert_chain(crt, key)
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s = ctx.wrap_socket(raw)
        res.handshake = True
        res.server_cert = x509.load_der_x509_certificate(s.getpeercert(binary_form=True))
        if send_hello:
            s.sendall(hello())
        # A TLS 1.3 server judges the client's certificate after the client is done: the
        # verdict is meshd's hello (accepted) or an alert / EOF (refused).
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            f = read_frame(s)
            if f is None:
                res.error = "EOF before meshd's hello"
                break
            if f[0] == 1:
                res.hello = json.loads(f[1])
                break
        if keep and res.hello is not None:
            res.sock = s
        else:
            s.close()
    except (ssl.SSLError, OSError, ValueError) as e:
        res.error = e
        raw.close()
    return res


class TlsServer:
    """A Python mTLS peer that meshd dials: shows SVID, records what meshd did."""

    def __init__(self, svid, trust_pem, pem_files):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.ctx.load_verify_locations(cadata=trust_pem.decode())
        crt, key, _ = pem_files(svid)
        self.ctx.load_cert_chain(crt, key)
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.accepted = 0
        self.hellos = 0
        self.errors = []
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            raw.settimeout(3)
            try:
                s = self.ctx.wrap_socket(raw, server_side=True)
                s.sendall(hello("py-server"))
                f = read_frame(s)
                if f and f[0] == 1:
                    self.hellos += 1
                s.close()
            except (ssl.SSLError, OSError, ValueError) as e:
                self.errors.append(repr(e))
                raw.close()

    def stop(self):
        self.running = False
        self.listener.close()


# -- the scenarios --------------------------------------------------------------------------

class World:
    """What the scenarios share: the PKI, the agents, the nodes."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.pem = PemFiles(os.path.join(workdir, "pem"))
        self.ca1 = certs.CA(TD, intermediate=True)
        self.ca2 = certs.CA(TD, name="SPIRE test CA 2")
        self.fed = certs.CA("fed.test")
        self.other = certs.CA("other.test")
        # What the Python side trusts for meshd's own SVIDs: both td.test roots.
        self.trust = self.ca1.bundle_pem + self.ca2.bundle_pem
        self.client_c = self.ca1.issue("node/c")
        self.agent_a = fake.FakeAgent()
        self.agent_b = fake.FakeAgent()
        self.a = None
        self.b = None
        self.mon_a = None

    def svid_a(self, ca=None, **kw):
        return (ca or self.ca1).issue("node/a", hint="mesh", **kw)

    def client(self, node, svid, **kw):
        return tls_client(node.config_port, svid, self.trust, self.pem, **kw)


def test_disabled(workdir):
    n = Node(workdir, "disabled", {})
    del n.config["spiffe"]
    try:
        if not check("spiffe off: meshd starts without spiffe config", n.start(), ""):
            return
        rc, out, err = meshctl_json(n.d, "identity")
        check("spiffe off: meshctl identity exits 1 with unavailable",
              rc == 1 and "unavailable" in err, f"rc={rc} out={out} err={err.strip()}")
        r = request(n.d, "identity")
        check("spiffe off: identity answers error code unavailable",
              r.get("error", {}).get("code") == "unavailable", r)
    finally:
        n.stop()


def test_config_check(w, node):
    r = subprocess.run([MESHD, "--check", "--config", os.path.join(node.dir, "meshd.json")],
                       capture_output=True, text=True, timeout=10)
    check("config: the spiffe config of the test passes --check", r.returncode == 0,
          r.stderr.strip())


def test_waiting(w):
    a = w.a
    st = identity_when(a, api_error_code, timeout=6)
    check("identity has every contract key, workload_api has state and last_error",
          st and IDENTITY_KEYS <= set(st) and {"state", "last_error"} <= set(st["workload_api"]),
          st and (IDENTITY_KEYS - set(st)))
    check("no agent yet: identity state waiting, no SPIFFE ID",
          st and st.get("state") == "waiting" and st.get("spiffe_id") is None and
          st.get("not_after") is None and st.get("svids") == 0, st)
    check("no agent yet: workload_api connecting/backoff with an unavailable error",
          st and st["workload_api"].get("state") in ("connecting", "backoff") and
          st["workload_api"]["last_error"].get("code") == "unavailable", st)
    check("no agent yet: endpoint as configured",
          st and st.get("endpoint") == "unix://" + w.agent_a_path, st)
    check("no agent yet: errors counted as unavailable",
          wait_for(lambda: a.api_errors("unavailable") >= 1), a.api_errors("unavailable"))
    before = a.handshakes("no_identity")
    r = w.client(a, w.client_c)
    check("no agent yet: meshd presents no certificate (handshake refused)",
          not r.handshake and r.server_cert is None, r)
    check("no agent yet: refused handshake counted as no_identity",
          wait_for(lambda: a.handshakes("no_identity") >= before + 1), a.handshakes("no_identity"))


def test_initial(w):
    a, agent = w.a, w.agent_a
    mark = w.mon_a.mark()
    w.a1 = w.svid_a()
    agent.set_svids([w.a1, w.ca1.issue("node/a-extra", hint="extra")])
    agent.set_federated({"fed.test": w.fed.bundle_der})
    agent.start(w.agent_a_path)
    st = identity_when(a, lambda i: i.get("state") == "ok", timeout=8)
    check("initial SVID: identity state ok", st is not None, a.identity())
    st = st or {}
    check("initial SVID: spiffe_id is the default (first) SVID's", st.get("spiffe_id") == ID_A,
          st)
    check("initial SVID: not_after is the SVID's NotAfter (RFC 3339)",
          unix_time(st.get("not_after")) == ts(w.a1) and isinstance(st.get("not_after"), str),
          f"{st.get('not_after')} vs {w.a1.not_after.isoformat()}")
    check("initial SVID: not_after_unix", st.get("not_after_unix") == ts(w.a1), st)
    check("initial SVID: trust_domains sorted, federated included",
          st.get("trust_domains") == ["fed.test", TD], st.get("trust_domains"))
    check("initial SVID: hint and SVID count", st.get("hint") == "mesh" and st.get("svids") == 2,
          st)
    check("initial SVID: no rotation yet", st.get("rotations") == 0, st)
    check("initial SVID: workload_api connected",
          st.get("workload_api", {}).get("state") == "connected", st.get("workload_api"))
    rc, out, err = meshctl_json(a.d, "identity")
    check("meshctl --json identity prints the same identity",
          rc == 0 and isinstance(out, dict) and out.get("spiffe_id") == ID_A and
          out.get("not_after") == st.get("not_after"), f"rc={rc} {out} {err}")
    check("initial SVID: meshd_svid_expiry_timestamp_seconds is the NotAfter",
          a.metric("meshd_svid_expiry_timestamp_seconds") == ts(w.a1),
          a.metric("meshd_svid_expiry_timestamp_seconds"))
    check("initial SVID: meshd_svid_rotations_total is 0",
          a.metric("meshd_svid_rotations_total") == 0, a.metric("meshd_svid_rotations_total"))
    ev = w.mon_a.wait("svid_rotated", mark)
    check("monitor: svid_rotated for the first SVID, previous_not_after null",
          ev and ev.get("spiffe_id") == ID_A and unix_time(ev.get("not_after")) == ts(w.a1) and
          "previous_not_after" in ev and ev["previous_not_after"] is None, ev)
    ev = w.mon_a.wait("bundles_updated", mark)
    check("monitor: bundles_updated names the trust domains",
          ev and sorted(ev.get("trust_domains") or []) == ["fed.test", TD], ev)

    check("meshd sends the security header: no header-less call at the agent",
          agent.total_calls() >= 1 and agent.rejected_no_header == 0 and
          agent.last_had_header is True,
          f"calls {agent.calls} rejected {agent.rejected_no_header}")

    mark = w.mon_a.mark()
    before = a.handshakes("ok")
    count_before = a.metric("meshd_mtls_handshake_duration_seconds_count") or 0
    r = w.client(a, w.client_c, keep=True)
    check("mTLS: meshd presents its SVID to a peer of its trust domain",
          r.server_id == ID_A and r.server_cert.serial_number == w.a1.serial, r)
    check("mTLS: meshd accepts the peer (sends its hello)", r.accepted, r)
    hello_a = r.hello or {}
    check("mTLS: meshd's hello has node, version, mesh_mac, capabilities",
          hello_a.get("node") == "node-a" and isinstance(hello_a.get("version"), str) and
          "mesh_mac" in hello_a and isinstance(hello_a.get("capabilities"), list), hello_a)
    check("mTLS: the accepted handshake counted as ok",
          wait_for(lambda: a.handshakes("ok") >= before + 1), a.handshakes("ok"))
    check("mTLS: handshake duration observed in the histogram",
          (a.metric("meshd_mtls_handshake_duration_seconds_count") or 0) >= count_before + 1,
          a.metric("meshd_mtls_handshake_duration_seconds_count"))
    row = wait_for(lambda: next((p for p in peers(a.d) or [] if p.get("direction") == "inbound"
                                 and p.get("spiffe_id") == ID_C and p.get("state") == "up"),
                                None))
    check("peers: the Python peer listed inbound, up, with its hello",
          row and row.get("node") == "py-peer" and row.get("version") == "test" and
          row.get("capabilities") == ["hello"] and row.get("endpoint", "").startswith(
              "127.0.0.1:") and row.get("messages_in", 0) >= 1, row or peers(a.d))
    ev = w.mon_a.wait("peer_up", mark, spiffe_id=ID_C)
    check("monitor: peer_up for the inbound peer", ev and ev.get("direction") == "inbound" and
          ev.get("node") == "py-peer", ev)
    if r.sock:
        r.sock.close()
    def inbound_c_gone():
        rows = peers(a.d)
        return rows is not None and not any(p.get("spiffe_id") == ID_C and
                                            p.get("direction") == "inbound" for p in rows)
    gone = wait_for(inbound_c_gone)
    check("peers: an inbound peer leaves the list when it disconnects", gone, peers(a.d))
    ev = w.mon_a.wait("peer_down", mark, spiffe_id=ID_C)
    check("monitor: peer_down with endpoint, direction and a reason",
          ev and ev.get("direction") == "inbound" and ev.get("reason") and
          ev.get("endpoint") == (row or {}).get("endpoint"), ev)

    out = wait_for(lambda: next((p for p in peers(a.d) or [] if p.get("endpoint") ==
                                 f"127.0.0.1:{w.b_port}" and p.get("last_error")), None))
    check("peers: a configured peer nobody answers is listed outbound, not up, with an error",
          out and out.get("direction") == "outbound" and
          out.get("state") in ("connecting", "backoff") and out.get("handshakes_ok") == 0,
          out or peers(a.d))


def test_rotation(w):
    a, agent = w.a, w.agent_a
    mark = w.mon_a.mark()
    calls = agent.calls["FetchX509SVID"]
    pid = a.d.proc.pid
    w.a2 = w.svid_a(ttl=datetime.timedelta(hours=2))
    agent.set_svids([w.a2])
    agent.push()
    st = wait_not_after(a, w.a2)
    check("rotation: pushed SVID applied without a reconnect",
          st is not None and agent.calls["FetchX509SVID"] == calls, a.identity())
    st = st or {}
    check("rotation: rotations 1, svids 1", st.get("rotations") == 1 and st.get("svids") == 1,
          st)
    check("rotation: meshd_svid_rotations_total 1, expiry gauge follows",
          a.metric("meshd_svid_rotations_total") == 1 and
          a.metric("meshd_svid_expiry_timestamp_seconds") == ts(w.a2),
          (a.metric("meshd_svid_rotations_total"),
           a.metric("meshd_svid_expiry_timestamp_seconds")))
    ev = w.mon_a.wait("svid_rotated", mark)
    check("monitor: svid_rotated with previous_not_after",
          ev and unix_time(ev.get("not_after")) == ts(w.a2) and
          unix_time(ev.get("previous_not_after")) == ts(w.a1), ev)
    r = w.client(a, w.client_c)
    check("rotation: the next handshake presents the new SVID (same process)",
          r.server_cert is not None and r.server_cert.serial_number == w.a2.serial and
          a.d.proc.pid == pid and a.d.proc.poll() is None, r)
    check("rotation: and still accepts peers", r.accepted, r)

    # The same state again is not a rotation.
    mark = w.mon_a.mark()
    agent.push()
    time.sleep(0.5)  # a negative: give a wrong rotation time to show
    st = a.identity() or {}
    check("re-sent identical SVID is not a rotation",
          st.get("rotations") == 1 and a.metric("meshd_svid_rotations_total") == 1 and
          w.mon_a.wait("svid_rotated", mark, timeout=0) is None, st)


def test_rejections(w, node, label):
    """Python clients with bad SVIDs against NODE's listen port; each refusal counted."""
    cases = [
        ("a peer of another trust domain", certs.wrong_td_svid("node/x", "other.test"),
         "untrusted"),
        ("a peer signed by a CA the bundle lacks", certs.foreign_ca_svid(TD, "node/x"),
         "untrusted"),
        ("a federated peer not in authorize", w.fed.issue("node/f"), "unauthorized"),
        ("a peer with an expired SVID", certs.expired_svid(w.ca1, "node/old"), "expired"),
        ("a peer whose SVID is a CA certificate", certs.ca_leaf_svid(w.ca1, "node/ca"),
         "invalid_svid"),
        ("a peer without a certificate", None, "no_certificate"),
    ]
    for what, svid, result in cases:
        mark = w.mon_a.mark() if node is w.a else None
        before = {r: node.handshakes(r) for r in HANDSHAKE_RESULTS}
        r = tls_client(node.config_port, svid, w.trust, w.pem)
        check(f"{label}: {what} is refused", not r.accepted, r)
        got = wait_for(lambda: node.handshakes(result) >= before[result] + 1, timeout=3)
        after = {k: node.handshakes(k) - before[k] for k in HANDSHAKE_RESULTS}
        check(f"{label}: {what} counted as {result}", got and after.get("ok") == 0,
              {k: v for k, v in after.items() if v})
        if mark is not None:
            ev = w.mon_a.wait("handshake_failed", mark, result=result)
            check(f"{label}: handshake_failed event for {what}",
                  ev and ev.get("direction") == "inbound" and ev.get("message") and
                  ev.get("endpoint", "").startswith("127.0.0.1:"), ev)


def test_timeout(w):
    a = w.a
    before = a.handshakes("timeout")
    s = socket.create_connection(("127.0.0.1", a.config_port), timeout=5)
    try:
        check("a peer that never speaks TLS is timed out",
              wait_for(lambda: a.handshakes("timeout") >= before + 1, timeout=5),
              a.handshakes("timeout"))
    finally:
        s.close()


def closed_by_meshd(s, timeout=3.0):
    """True when meshd closes the connection (EOF, reset or TLS alert) within TIMEOUT."""
    s.settimeout(timeout)
    try:
        while True:
            if not s.recv(4096):
                return True
    except socket.timeout:
        return False
    except (ssl.SSLError, OSError):
        return True
    finally:
        s.close()


def vm_hwm_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def test_peer_input(w):
    """Bad input on the peer channel: a clear count, the connection closed, meshd unharmed."""
    a = w.a

    def errors(reason):
        return a.metric("meshd_peer_channel_errors_total", reason=reason) or 0.0

    def accepted():
        r = w.client(a, w.client_c, keep=True)
        return r.sock

    before = a.handshakes("tls_error")
    s = socket.create_connection(("127.0.0.1", a.config_port), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\nHost: meshd\r\n\r\n")
    check("peer input: plain HTTP instead of TLS is closed", closed_by_meshd(s))
    check("peer input: plain HTTP counted as a tls_error handshake",
          wait_for(lambda: a.handshakes("tls_error") >= before + 1, timeout=3),
          a.handshakes("tls_error") - before)

    cases = [
        ("a frame of another protocol version", bytes([9, 1, 0, 0, 0, 0, 0, 0]), "bad_frame"),
        ("reserved header bits", bytes([1, 2, 1, 0, 0, 0, 0, 0]), "bad_frame"),
        ("a 1 GiB frame (refused from its header)", bytes([1, 1, 0, 0, 0x40, 0, 0, 0]),
         "bad_frame"),
        ("a hello that is not JSON", frame(1, b"{not json"), "bad_hello"),
        ("a hello without a node name", frame(1, json.dumps(
            {"protocol": 1, "version": "x", "capabilities": []}).encode()), "bad_hello"),
        ("a hello with a control character in the node name", frame(1, json.dumps(
            {"protocol": 1, "node": "a\nb", "version": "x", "capabilities": []}).encode()),
         "bad_hello"),
    ]
    for what, data, reason in cases:
        s = accepted()
        if not check(f"peer input: mTLS peer for {what}", s is not None):
            continue
        before = errors(reason)
        s.sendall(data)
        check(f"peer input: {what} closes the connection", closed_by_meshd(s))
        check(f"peer input: {what} counted as {reason}",
              wait_for(lambda: errors(reason) >= before + 1, timeout=3), errors(reason) - before)

    s = accepted()
    if check("peer input: mTLS peer for an unknown frame type", s is not None):
        port = s.getsockname()[1]
        before = errors("unknown_type")
        s.sendall(frame(200, b"from a newer meshd") + frame(2, b""))
        check("peer input: an unknown frame type is counted as unknown_type",
              wait_for(lambda: errors("unknown_type") >= before + 1, timeout=3),
              errors("unknown_type") - before)
        row = wait_for(lambda: next((p for p in peers(a.d) if p.get("direction") == "inbound"
                                     and p.get("endpoint") == f"127.0.0.1:{port}"), None))
        check("peer input: ... and the connection stays up",
              row is not None and row.get("state") == "up" and row.get("messages_in") == 3, row)
        s.close()
    # Handshakes in progress from one address are capped (4): the 5th is refused at once.
    before = errors("over_limit")
    held = [socket.create_connection(("127.0.0.1", a.config_port), timeout=5) for _ in range(5)]
    check("peer input: a 5th unfinished handshake from one address is refused (over_limit)",
          wait_for(lambda: errors("over_limit") >= before + 1, timeout=3),
          errors("over_limit") - before)
    for h in held:
        h.close()

    # A peer that floods: meshd reads at most 256 KiB per turn and keeps its memory.
    s = accepted()
    if check("peer input: mTLS peer for a flood", s is not None):
        port = s.getsockname()[1]
        rss_before = vm_hwm_kb(a.d.proc.pid)
        before = errors("unknown_type")
        chunk = frame(200, bytes(60000)) * 16
        for _ in range(64):  # 64 x 16 frames of 60 kB: about 61 MB
            s.sendall(chunk)
        s.sendall(frame(2, b""))
        got = wait_for(lambda: errors("unknown_type") >= before + 1024, timeout=20)
        check("peer input: every flooded frame was read and counted",
              got and errors("unknown_type") - before == 1024, errors("unknown_type") - before)
        row = wait_for(lambda: next((p for p in peers(a.d) if p.get("endpoint") ==
                                     f"127.0.0.1:{port}"), None))
        check("peer input: the flooding peer is still up", row and row.get("state") == "up", row)
        grown = vm_hwm_kb(a.d.proc.pid) - rss_before
        if os.environ.get("MESHD_SANITIZED"):
            print("SKIPPED peer input: peak memory bound (ASan's quarantine holds freed memory)")
        else:
            check("peer input: a 61 MB flood grows meshd's peak memory by less than 32 MB",
                  grown < 32 * 1024, f"{grown} kB")
        s.close()

    st = request(a.d, "status")
    check("peer input: meshd still answers status", st.get("ok") is True, st)


def test_bundle_rotation(w):
    a, agent = w.a, w.agent_a
    new_peer = w.ca2.issue("node/new")
    old_peer = w.ca1.issue("node/old-ca")
    r = w.client(a, new_peer)
    check("bundle rotation: a peer signed by the new CA is refused before the push",
          not r.accepted, r)
    mark = w.mon_a.mark()
    overlap = w.ca1.bundle_der + w.ca2.bundle_der
    agent.set_svids([w.a2.workload_entry(bundle_der=overlap)])
    agent.set_bundles({TD: overlap, "fed.test": w.fed.bundle_der})
    agent.push()
    ev = w.mon_a.wait("bundles_updated", mark)
    check("bundle rotation: bundles_updated on the push", ev is not None, w.mon_a.names(mark))
    r = wait_for(lambda: (lambda x: x if x.accepted else None)(w.client(a, new_peer)), timeout=3)
    check("bundle rotation: a peer of the new CA accepted after the push", r, r)
    r = w.client(a, old_peer)
    check("bundle rotation: a peer of the old CA still accepted during the overlap", r.accepted,
          r)
    st = a.identity() or {}
    check("bundle rotation: not an SVID rotation", st.get("rotations") == 1, st)
    # Sessions that stay up across the end of the overlap.
    live_old = w.client(a, old_peer, keep=True)
    live_new = w.client(a, new_peer, keep=True)
    check("bundle rotation: live sessions of an old-CA and a new-CA peer",
          live_old.sock is not None and live_new.sock is not None, (live_old, live_new))
    untrusted = a.metric("meshd_peer_channel_errors_total", reason="peer_untrusted") or 0.0

    # End of the overlap: the SVID moves to the new CA, the old CA leaves the bundle.
    w.a3 = w.svid_a(ca=w.ca2)
    agent.set_svids([w.a3.workload_entry(bundle_der=w.ca2.bundle_der)])
    agent.set_bundles({TD: w.ca2.bundle_der, "fed.test": w.fed.bundle_der})
    agent.push()
    st = wait_not_after(a, w.a3)
    check("bundle rotation: SVID of the new CA applied", st is not None, a.identity())
    if live_old.sock is not None and live_new.sock is not None:
        check("bundle rotation: the live session of the removed CA's peer is closed at once",
              closed_by_meshd(live_old.sock, timeout=3))
        check("bundle rotation: ... counted as peer_untrusted",
              wait_for(lambda: (a.metric("meshd_peer_channel_errors_total",
                                         reason="peer_untrusted") or 0) >= untrusted + 1),
              a.metric("meshd_peer_channel_errors_total", reason="peer_untrusted"))
        check("bundle rotation: the new CA's peer stays up",
              not closed_by_meshd(live_new.sock, timeout=0.5))
    check("bundle rotation: the log names the claimed ID of the refused session's peer",
          "not trusted any more" in a.d.logtext() and
          "a certificate claiming spiffe://td.test/node/old-ca" in a.d.logtext(),
          a.d.logtext()[-1500:])
    r = wait_for(lambda: (lambda x: x if not x.accepted else None)(w.client(a, old_peer)),
                 timeout=3)
    check("bundle rotation: a peer of the removed CA refused after the overlap", r, r)
    r = w.client(a, new_peer)
    check("bundle rotation: new CA peer accepted, meshd shows the new CA's SVID",
          r.accepted and r.server_cert is not None and
          r.server_cert.serial_number == w.a3.serial, r)
    w.client_c = w.ca2.issue("node/c")
    w.current_ca = w.ca2


def set_a(w, svid):
    """Serves SVID to node A (bundle of the current CA), then pushes."""
    w.agent_a.set_svids([svid.workload_entry(bundle_der=w.current_ca.bundle_der)])
    w.agent_a.push()


def wait_not_after(node, svid, timeout=5.0):
    return identity_when(node, lambda i: i.get("not_after_unix") == ts(svid), timeout)


def test_malformed(w):
    a, agent = w.a, w.agent_a
    st0 = a.identity() or {}
    for kind in ("empty_key", "garbage_cert"):
        mark = w.mon_a.mark()
        before = a.api_errors("malformed_response")
        n = agent.send_malformed(kind)
        check(f"malformed ({kind}): sent on meshd's open stream", n >= 1, n)
        check(f"malformed ({kind}): counted as malformed_response",
              wait_for(lambda: a.api_errors("malformed_response") >= before + 1),
              a.api_errors("malformed_response"))
        ev = w.mon_a.wait("workload_api_error", mark, code="malformed_response")
        check(f"malformed ({kind}): workload_api_error event", ev and ev.get("message"), ev)
        st = a.identity() or {}
        check(f"malformed ({kind}): previous state kept",
              st.get("state") == "ok" and st.get("not_after") == st0.get("not_after") and
              st.get("rotations") == st0.get("rotations"), st)
        r = w.client(a, w.client_c)
        check(f"malformed ({kind}): handshakes still use the previous SVID",
              r.accepted and r.server_cert.serial_number == w.a3.serial, r)
    if agent.open_streams("FetchX509Bundles"):
        before = a.api_errors("malformed_response")
        agent.send_malformed("garbage_bundle", method="FetchX509Bundles")
        check("malformed bundles response: counted, trust kept",
              wait_for(lambda: a.api_errors("malformed_response") >= before + 1) and
              w.client(a, w.client_c).accepted, a.api_errors("malformed_response"))
    # The stream (or its replacement) still delivers.
    w.a4 = w.svid_a(ca=w.ca2)
    wait_for(lambda: agent.open_streams("FetchX509SVID"), timeout=5)
    set_a(w, w.a4)
    check("malformed: a valid update after it is applied", wait_not_after(a, w.a4, 6),
          a.identity())


def test_stream_closed(w):
    a, agent = w.a, w.agent_a
    calls = agent.calls["FetchX509SVID"]
    agent.close_streams()
    check("stream closed by the agent: meshd calls again",
          agent.wait_calls(calls + 1, "FetchX509SVID", timeout=6) and
          agent.wait_streams(1, "FetchX509SVID", timeout=3), agent.calls)
    st = identity_when(a, lambda i: api_state(i) == "connected")
    check("stream closed: connected again, SVID kept",
          st and st.get("state") == "ok" and st.get("not_after_unix") == ts(w.a4), a.identity())
    w.a5 = w.svid_a(ca=w.ca2)
    set_a(w, w.a5)
    check("stream closed: updates flow on the new stream", wait_not_after(a, w.a5),
          a.identity())


def test_permission_denied(w):
    a, agent = w.a, w.agent_a
    mark = w.mon_a.mark()
    before = a.api_errors("permission_denied")
    calls = agent.calls["FetchX509SVID"]
    agent.set_svids([])  # the registration entry is gone: SPIRE answers PermissionDenied
    agent.push()
    ev = w.mon_a.wait("workload_api_error", mark, code="permission_denied")
    check("PermissionDenied: workload_api_error event", ev and ev.get("message"), ev)
    check("PermissionDenied: counted", wait_for(
        lambda: a.api_errors("permission_denied") >= before + 1), a.api_errors(
            "permission_denied"))
    check("PermissionDenied: meshd retries (and is denied again)",
          agent.wait_calls(calls + 1, "FetchX509SVID", timeout=6) and
          wait_for(lambda: a.api_errors("permission_denied") >= before + 2, timeout=6),
          (agent.calls, a.api_errors("permission_denied")))
    st = a.identity() or {}
    check("PermissionDenied: identity shows the error, keeps the valid SVID",
          st.get("state") == "ok" and st.get("not_after_unix") == ts(w.a5) and
          api_error_code(st) == "permission_denied" and
          api_state(st) in ("backoff", "connecting"), st)
    r = w.client(a, w.client_c)
    check("PermissionDenied: still presents the kept SVID",
          r.accepted and r.server_cert.serial_number == w.a5.serial, r)
    w.a6 = w.svid_a(ca=w.ca2)
    agent.set_svids([w.a6.workload_entry(bundle_der=w.current_ca.bundle_der)])
    agent.push()
    check("PermissionDenied: recovers once the entry is back", wait_not_after(a, w.a6, 6),
          a.identity())
    st = identity_when(a, lambda i: api_state(i) == "connected")
    check("PermissionDenied: workload_api connected again", st, a.identity())


def test_agent_restart(w):
    a, agent = w.a, w.agent_a
    mark = w.mon_a.mark()
    before = a.api_errors("unavailable")
    agent.stop()
    st = identity_when(a, lambda i: api_state(i) != "connected" and
                       api_error_code(i) == "unavailable", timeout=6)
    check("agent down: identity reports unavailable, not connected", st, a.identity())
    check("agent down: counted as unavailable",
          wait_for(lambda: a.api_errors("unavailable") >= before + 1),
          a.api_errors("unavailable"))
    check("agent down: workload_api_error event",
          w.mon_a.wait("workload_api_error", mark, code="unavailable") is not None,
          w.mon_a.names(mark))
    st = a.identity() or {}
    check("agent down: SVID kept, state ok",
          st.get("state") == "ok" and st.get("not_after_unix") == ts(w.a6), st)
    r = w.client(a, w.client_c)
    check("agent down: handshakes still succeed with the kept SVID",
          r.accepted and r.server_cert.serial_number == w.a6.serial, r)
    time.sleep(1.0)  # stay down across a retry or two
    w.a7 = w.svid_a(ca=w.ca2)
    agent.set_svids([w.a7.workload_entry(bundle_der=w.current_ca.bundle_der)])
    started = time.monotonic()
    agent.start()
    st = wait_not_after(a, w.a7, timeout=8)
    took = time.monotonic() - started
    check(f"agent restart: meshd reconnects and takes the new SVID ({took:.1f} s, "
          "retry_max_ms 2000)", st and took < 5, a.identity())
    check("agent restart: the header is sent on the new connection too",
          agent.rejected_no_header == 0 and agent.last_had_header is True,
          agent.rejected_no_header)


def test_two_nodes(w):
    a, b = w.a, w.b
    mark = w.mon_a.mark()
    w.b1 = w.ca2.issue("node/b")
    w.agent_b.set_svids([w.b1.workload_entry(bundle_der=w.current_ca.bundle_der)])
    w.agent_b.start(w.agent_b_path)
    wrong = TlsServer(w.ca2.issue("node/y"), w.trust, w.pem)
    b.config["spiffe"]["peers"].append({"address": f"127.0.0.1:{wrong.port}",
                                        "id": f"spiffe://{TD}/node/x"})
    try:
        if not check("node B: meshd starts", b.start(), ""):
            return
        st = identity_when(b, lambda i: i.get("state") == "ok", timeout=8)
        check("node B: identity from $SPIFFE_ENDPOINT_SOCKET",
              st and st.get("spiffe_id") == ID_B and st.get("endpoint") == "unix://" +
              w.agent_b_path, st or b.identity())

        def up(node, direction, peer_id):
            rows = peers(node.d) or []
            return next((p for p in rows if p.get("direction") == direction and
                         p.get("spiffe_id") == peer_id and p.get("state") == "up"), None)

        want = {("A", "outbound"): (a, ID_B), ("A", "inbound"): (a, ID_B),
                ("B", "outbound"): (b, ID_A), ("B", "inbound"): (b, ID_A)}
        rows = {}
        for (name, direction), (node, peer_id) in want.items():
            rows[(name, direction)] = wait_for(lambda: up(node, direction, peer_id), timeout=8)
            check(f"two nodes: {name} shows the other {direction} and up",
                  rows[(name, direction)], peers(node.d))
        version = request(a.d, "version").get("result", {}).get("version")
        for (name, direction), row in rows.items():
            other = "node-b" if name == "A" else "node-a"
            if not row:
                continue
            check(f"two nodes: {name} {direction} row carries the hello fields",
                  row.get("node") == other and row.get("version") == version and
                  "mesh_mac" in row and (row["mesh_mac"] is None or re.fullmatch(
                      r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", row["mesh_mac"]))
                  and isinstance(row.get("capabilities"), list) and row["capabilities"] and
                  isinstance(row.get("since"), (int, float)), row)
        out = rows.get(("B", "outbound")) or {}
        check("two nodes: B's outbound row: endpoint, counters",
              out.get("endpoint") == f"127.0.0.1:{a.config_port}" and
              out.get("handshakes_ok", 0) >= 1 and out.get("messages_in", 0) >= 1 and
              out.get("messages_out", 0) >= 1 and out.get("last_error") is None, out)
        rc, out, _ = meshctl_json(a.d, "peers")
        check("meshctl --json peers prints the list",
              rc == 0 and isinstance(out, list) and any(
                  p.get("spiffe_id") == ID_B for p in out), out)
        bad = [p for p in (out or []) + (peers(b.d) or []) if not PEER_KEYS <= set(p)]
        check("peers: every row has every contract key", out and not bad,
              [sorted(PEER_KEYS - set(p)) for p in bad])
        ev = w.mon_a.wait("peer_up", mark, spiffe_id=ID_B)
        check("two nodes: peer_up on A names B and its node",
              ev and ev.get("node") == "node-b" and ev.get("direction") in (
                  "inbound", "outbound"), ev)

        # B authorizes only node/a: anyone else of the trust domain is refused.
        before = b.handshakes("unauthorized")
        r = w.client(b, w.client_c)
        check("authorize ids: a peer of the trust domain not in the list is refused",
              not r.accepted, r)
        check("authorize ids: counted as unauthorized",
              wait_for(lambda: b.handshakes("unauthorized") >= before + 1),
              b.handshakes("unauthorized"))

        # B dials a peer whose SVID is not the one configured for that address.
        row = wait_for(lambda: next((p for p in peers(b.d) or [] if p.get("endpoint") ==
                                     f"127.0.0.1:{wrong.port}" and
                                     p.get("handshakes_failed", 0) >= 1), None), timeout=6)
        check("outbound: a peer showing another SPIFFE ID than configured is refused",
              row and row.get("state") != "up" and row.get("last_error") and
              wrong.hellos == 0, row or peers(b.d))
        # Nothing else B sees is unauthorized: the Python client's one, plus the dials.
        check("outbound: refusal counted as unauthorized on B",
              b.handshakes("unauthorized") >= 2, b.handshakes("unauthorized"))

        # Unimplemented stops the retries (the agent does not have this API).
        calls = w.agent_b.total_calls()
        w.agent_b.fail_streams(grpc.StatusCode.UNIMPLEMENTED, "not here")
        st = identity_when(b, lambda i: api_state(i) == "stopped")
        check("Unimplemented: workload_api stopped with the error",
              st and api_error_code(st) == "unimplemented", b.identity())
        time.sleep(2.5)  # a negative: longer than retry_max_ms
        check("Unimplemented: no retry", w.agent_b.total_calls() == calls,
              (calls, w.agent_b.total_calls()))
        check("Unimplemented: counted",
              b.api_errors("unimplemented") >= 1, b.api_errors("unimplemented"))

        # B goes away: A sees both channels end.
        mark = w.mon_a.mark()
        b.d.proc.send_signal(signal.SIGTERM)
        b.d.proc.wait(timeout=5)
        ev = w.mon_a.wait("peer_down", mark, spiffe_id=ID_B)
        check("B stopped: peer_down on A with a reason", ev and ev.get("reason"), ev)
        gone = wait_for(lambda: not any(p.get("direction") == "inbound" and p.get(
            "spiffe_id") == ID_B for p in peers(a.d)) and any(
                p.get("direction") == "outbound" and p.get("endpoint") ==
                f"127.0.0.1:{w.b_port}" and p.get("state") != "up" for p in peers(a.d)))
        check("B stopped: A's inbound row gone, outbound not up", gone, peers(a.d))
    finally:
        wrong.stop()
        b.stop()
        w.agent_b.stop()


def test_expiry(w):
    a = w.a
    mark = w.mon_a.mark()
    short = w.ca2.issue("node/a", not_before=certs.now() - datetime.timedelta(seconds=4),
                        not_after=certs.now() + datetime.timedelta(seconds=4))
    set_a(w, short)
    check("short SVID applied", wait_not_after(a, short), a.identity())
    # A peer authenticated with the short SVID, up until it lapses.
    early = w.client(a, w.current_ca.issue("node/c"), keep=True)
    check("expired: a peer is up on the short SVID", early.sock is not None, early)
    check("no rotation by the SVID's half-life: a warning in the log",
          wait_for(lambda: "by its half-life" in a.d.logtext(), timeout=6),
          a.d.logtext()[-1500:])
    st = identity_when(a, lambda i: i.get("state") == "expired", timeout=10)
    check("SVID past NotAfter without rotation: identity state expired", st, a.identity())
    ev = w.mon_a.wait("svid_expired", mark, timeout=3)
    check("monitor: svid_expired event", ev and ev.get("spiffe_id") == ID_A, ev)
    check("expired: no peer connection stays up on a lapsed SVID",
          early.sock is not None and closed_by_meshd(early.sock) and
          wait_for(lambda: not any(p.get("state") == "up" for p in peers(a.d)), timeout=3),
          peers(a.d))
    before = a.handshakes("no_identity")
    r = w.client(a, w.client_c)
    check("expired: meshd presents no certificate", r.server_cert is None and not r.accepted,
          r)
    check("expired: refused handshake counted as no_identity",
          wait_for(lambda: a.handshakes("no_identity") >= before + 1),
          a.handshakes("no_identity"))
    w.a8 = w.svid_a(ca=w.ca2)
    set_a(w, w.a8)
    st = identity_when(a, lambda i: i.get("state") == "ok" and
                       i.get("not_after_unix") == ts(w.a8))
    check("expired: a fresh SVID brings the identity back", st, a.identity())
    r = w.client(a, w.client_c)
    check("expired: handshakes work again", r.accepted and r.server_cert.serial_number ==
          w.a8.serial, r)


def test_invalid_argument(w):
    a, agent = w.a, w.agent_a
    calls = agent.total_calls()
    agent.fail_streams(grpc.StatusCode.INVALID_ARGUMENT, "bad request")
    st = identity_when(a, lambda i: api_state(i) == "stopped")
    check("InvalidArgument: workload_api stopped with the error",
          st and api_error_code(st) == "invalid_argument", a.identity())
    time.sleep(2.5)  # a negative: longer than retry_max_ms
    check("InvalidArgument: no retry", agent.total_calls() == calls,
          (calls, agent.total_calls()))
    check("InvalidArgument: counted", a.api_errors("invalid_argument") >= 1,
          a.api_errors("invalid_argument"))
    st = a.identity() or {}
    check("InvalidArgument: the valid SVID is kept", st.get("state") == "ok", st)


def test_header_raw(w):
    """The fake agent itself, with a hand-made HTTP/2 client: no header, no service."""
    agent = fake.FakeAgent()
    agent.set_svids([w.ca1.issue("node/raw")])
    path = os.path.join(w.workdir, "raw", "agent.sock")
    agent.start(path)
    try:
        frames = fake.raw_call(path, header=False)
        check("fake agent: a call without the header is refused before any message",
              len(frames) == 1 and frames[0][0] == 1 and frames[0][1] & 0x1 and
              agent.rejected_no_header == 1, frames)
        client = fake.Client(path)
        s = client.stream(header=False)
        s.wait(done=True)
        check("fake agent: refusal is InvalidArgument 'security header missing from request'",
              s.code == grpc.StatusCode.INVALID_ARGUMENT and
              s.error.details() == fake.HEADER_MISSING, s.code)
        s = client.stream()
        check("fake agent: with the header the state arrives", s.wait(1), s.code)
        s.cancel()
        client.close()
    finally:
        agent.stop()


IMPOSTOR_CODE = r"""
import select, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(8)
print("ready", flush=True)
conns, got, accepted = [], 0, 0
while True:
    ready = select.select([s, sys.stdin] + conns, [], [])[0]
    if sys.stdin in ready:
        break
    for c in ready:
        if c is s:
            conns.append(s.accept()[0])
            accepted += 1
        else:
            data = c.recv(65536)
            got += len(data)
            if not data:
                conns.remove(c)
                c.close()
print(accepted, got, flush=True)
"""


class Impostor:
    """A process of uid 65534 listening on a Unix socket where the agent's should be;
    it counts connections and the bytes it was sent."""

    def __init__(self, path):
        self.proc = subprocess.Popen(["/usr/bin/python3", "-c", IMPOSTOR_CODE, path],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     user=65534, group=65534, extra_groups=[], cwd="/")
        self.ready = self.proc.stdout.readline().strip() == "ready"

    def finish(self):
        """(connections accepted, bytes received)."""
        out, _ = self.proc.communicate("stop\n", timeout=10)
        accepted, got = (int(x) for x in out.split())
        return accepted, got


def test_agent_owner(workdir):
    """The Workload API socket is trusted only when root (or meshd's user, or
    spiffe.agent_uid) serves it; tcp:// must stay on this host unless allowed."""
    if os.geteuid() != 0:
        skip("agent owner", "needs root to serve a socket as another user")
        return
    top = os.path.join(workdir, "owner")
    os.makedirs(top)
    os.chmod(workdir, 0o711)
    os.chmod(top, 0o711)
    spire = os.path.join(top, "spire")
    os.makedirs(spire)
    os.chown(spire, 65534, 65534)
    path = os.path.join(spire, "agent.sock")
    for agent_uid in (None, 65534):
        imp = Impostor(path)
        spiffe = {"endpoint": "unix://" + path, "trust_domain": TD, "retry_max_ms": 500}
        if agent_uid is not None:
            spiffe["agent_uid"] = agent_uid
        n = Node(top, f"uid-{agent_uid}", spiffe)
        try:
            if not check(f"agent owner ({agent_uid}): meshd starts and the impostor listens",
                         imp.ready and n.start(), n.d.logtext()[-1500:] if n.d else ""):
                continue
            if agent_uid is None:
                st = identity_when(n, lambda i: api_error_code(i) == "untrusted_agent")
                msg = ((st or {}).get("workload_api") or {}).get("last_error", {}).get("message", "")
                check("a socket served by uid 65534: identity says untrusted_agent naming the uid",
                      st and "uid 65534" in msg and "spiffe.agent_uid" in msg, n.identity())
                check("a socket served by uid 65534: counted as untrusted_agent",
                      wait_for(lambda: n.api_errors("untrusted_agent") >= 1),
                      n.api_errors("untrusted_agent"))
                time.sleep(1.0)  # a retry or two
                n.stop()
                accepted, got = imp.finish()
                check(f"a socket served by uid 65534: meshd sent it nothing ({accepted} "
                      f"connections, {got} bytes)", accepted >= 2 and got == 0, (accepted, got))
            else:
                time.sleep(1.0)
                n.stop()
                accepted, got = imp.finish()
                check(f"spiffe.agent_uid 65534: meshd talks to that socket ({got} bytes sent)",
                      accepted >= 1 and got > 0, (accepted, got))
        finally:
            n.stop()
            if imp.proc.poll() is None:
                imp.proc.kill()
            if os.path.exists(path):
                os.unlink(path)

    # tcp:// elsewhere than loopback: refused by --check and at start (also from the env).
    cfg_dir = os.path.join(top, "remote")
    os.makedirs(cfg_dir)
    remote = {"mesh": {"manage": False}, "spiffe": {"endpoint": "tcp://198.18.0.1:8081",
                                                    "trust_domain": TD}}
    cfg_path = os.path.join(cfg_dir, "meshd.json")
    with open(cfg_path, "w") as f:
        json.dump(remote, f)
    r = subprocess.run([MESHD, "--check", "--config", cfg_path], capture_output=True, text=True,
                       timeout=10)
    check("tcp:// to 198.18.0.1: --check fails naming spiffe.endpoint and the way out",
          r.returncode == 1 and "spiffe.endpoint" in r.stderr and
          "spiffe.allow_remote_endpoint" in r.stderr, r.stderr)
    remote["spiffe"]["allow_remote_endpoint"] = True
    with open(cfg_path, "w") as f:
        json.dump(remote, f)
    r = subprocess.run([MESHD, "--check", "--config", cfg_path], capture_output=True, text=True,
                       timeout=10)
    check("tcp:// to 198.18.0.1 with allow_remote_endpoint: --check passes", r.returncode == 0,
          r.stderr)
    n = Node(top, "env-remote", {"trust_domain": TD},
             env={"SPIFFE_ENDPOINT_SOCKET": "tcp://198.18.0.1:8081"})
    try:
        n.d = Daemon(n.dir, n.config, env=n.env)
        try:
            rc = n.d.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            rc = None
        check("SPIFFE_ENDPOINT_SOCKET=tcp://198.18.0.1: meshd refuses to start, saying why",
              rc == 1 and "SPIFFE_ENDPOINT_SOCKET" in n.d.logtext() and
              "not on this host" in n.d.logtext(), f"rc={rc} {n.d.logtext()[-800:]}")
    finally:
        n.stop()


def idle_from(source, port):
    """A TCP connection to meshd's peer port from SOURCE (a loopback address) that sends nothing."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def test_handshake_slots(w):
    """Idle TCP connections from many sources once filled every unfinished-handshake
    slot for 10 s at a time and locked real peers out: per source (IPv4 address or
    IPv6 /64) at most 4, a connection without a ClientHello is closed after 2 s, a
    full table makes room by closing the oldest silent one, and handshakes from
    unknown sources are rate-limited."""
    agent = fake.FakeAgent()
    path = os.path.join(w.workdir, "slots", "spire", "agent.sock")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    port = free_port()
    n = Node(w.workdir, "slots", {"endpoint": "unix://" + path, "trust_domain": TD,
                                  "listen": f"127.0.0.1:{port}"})
    n.config_port = port
    held = []

    def errors():
        return n.metric("meshd_peer_channel_errors_total", reason="over_limit") or 0.0

    try:
        agent.set_svids([w.svid_a()])
        agent.start(path)
        if not check("slots: meshd starts with its SVID", n.start() and identity_when(
                n, lambda i: i.get("state") == "ok", timeout=8), n.d and n.d.logtext()[-1500:]):
            return
        # 16 sources x 4 silent connections: the table (64) is full.
        for i in range(16):
            for _ in range(4):
                held.append(idle_from(f"127.0.0.{2 + i}", port))
        time.sleep(0.3)
        before = errors()
        extra = idle_from("127.0.0.2", port)
        check("slots: a 5th unfinished handshake from one source is refused (over_limit)",
              closed_by_meshd(extra, timeout=2) and
              wait_for(lambda: errors() >= before + 1, timeout=3), errors() - before)
        started = time.monotonic()
        r = w.client(n, w.client_c)
        check("slots: with every slot held by silent connections, a real peer still gets "
              f"through ({time.monotonic() - started:.2f} s)", r.accepted, r)
        check("slots: ... because the oldest silent connection gave way",
              closed_by_meshd(held[0], timeout=1), "the oldest idle connection is still open")
        # The rest are closed within about 2 s of their connect (no ClientHello),
        # not after spiffe.handshake_timeout_ms (10 s by default).
        t0 = time.monotonic()
        last = held[-1]
        closed = closed_by_meshd(last, timeout=6)
        took = time.monotonic() - t0
        check(f"slots: a connection that sends no ClientHello is closed after 2 s, not 10 s "
              f"(closed {took:.1f} s after the last connect)", closed and took < 4, took)
        before = n.handshakes("timeout")
        s = idle_from("127.0.0.30", port)
        t0 = time.monotonic()
        closed = closed_by_meshd(s, timeout=6)
        took = time.monotonic() - t0
        check(f"slots: ... counted as a timeout handshake ({took:.1f} s)",
              closed and 1.5 < took < 4 and
              wait_for(lambda: n.handshakes("timeout") >= before + 1), took)
        # Handshake CPU: from a source that is not a configured peer, at most 64 at
        # once and 32 a second; the rest are refused before TLS starts.
        before = errors()
        refused = 0
        for i in range(200):
            c = idle_from(f"127.0.1.{1 + i % 200}", port)
            held.append(c)
        time.sleep(0.5)
        for c in held[-200:]:
            if closed_by_meshd(c, timeout=0.01):
                refused += 1
        check(f"slots: 200 connections in a burst from 200 sources: the handshake rate "
              f"limit refused {refused}", refused >= 100 and errors() - before >= 100,
              (refused, errors() - before))
        st = request(n.d, "status")
        check("slots: meshd still answers status", st.get("ok") is True, st)
    finally:
        for h in held:
            h.close()
        n.stop()
        agent.stop()


def main():
    if binaries_missing():
        return 1
    workdir = tempfile.mkdtemp(prefix="meshd-spiffe-")
    w = World(workdir)
    w.current_ca = w.ca1
    try:
        test_header_raw(w)
        test_disabled(workdir)
        test_agent_owner(workdir)

        w.agent_a_path = os.path.join(workdir, "a", "spire", "agent.sock")
        w.agent_b_path = os.path.join(workdir, "b", "spire", "agent.sock")
        w.b_port = free_port()
        a_port = free_port()
        w.a = Node(workdir, "a", {
            "endpoint": "unix://" + w.agent_a_path, "trust_domain": TD,
            "listen": f"127.0.0.1:{a_port}", "peers": [f"127.0.0.1:{w.b_port}"],
            "retry_max_ms": 2000, "peer_retry_ms": 500, "handshake_timeout_ms": 1500,
            "node_name": "node-a"})
        w.a.config_port = a_port
        w.b = Node(workdir, "b", {
            "trust_domain": TD, "authorize": {"ids": [ID_A]},
            "listen": f"127.0.0.1:{w.b_port}",
            "peers": [{"address": f"127.0.0.1:{a_port}", "id": ID_A}],
            "retry_max_ms": 2000, "peer_retry_ms": 500, "handshake_timeout_ms": 1500,
            "node_name": "node-b"}, env={"SPIFFE_ENDPOINT_SOCKET": "unix://" + w.agent_b_path})
        w.b.config_port = w.b_port
        os.makedirs(os.path.dirname(w.agent_a_path), exist_ok=True)
        with open(os.path.join(w.a.dir, "meshd.json"), "w") as f:
            json.dump(w.a.config, f)
        test_config_check(w, w.a)

        if not check("node A: meshd starts with spiffe configured (agent not up yet)",
                     w.a.start(), w.a.d.logtext()[-2000:] if w.a.d else ""):
            return finish()
        w.mon_a = Monitor(w.a.d.socket)
        check("monitor: accepted", w.mon_a.reply.get("ok") is True, w.mon_a.reply)
        steps = [
            ("waiting for the agent", lambda: test_waiting(w)),
            ("initial SVID", lambda: test_initial(w)),
            ("rotation", lambda: test_rotation(w)),
            ("rejections", lambda: test_rejections(w, w.a, "rejections")),
            ("handshake timeout", lambda: test_timeout(w)),
            ("peer channel input", lambda: test_peer_input(w)),
            ("handshake slots", lambda: test_handshake_slots(w)),
            ("bundle rotation", lambda: test_bundle_rotation(w)),
            ("malformed", lambda: test_malformed(w)),
            ("stream closed", lambda: test_stream_closed(w)),
            ("permission denied", lambda: test_permission_denied(w)),
            ("agent restart", lambda: test_agent_restart(w)),
            ("two nodes", lambda: test_two_nodes(w)),
            ("expiry", lambda: test_expiry(w)),
            ("invalid argument", lambda: test_invalid_argument(w)),
        ]
        for name, step in steps:
            if w.a.d.proc.poll() is not None:
                check(f"{name}: meshd A still running", False,
                      f"exited {w.a.d.proc.returncode}: {w.a.d.logtext()[-2000:]}")
                break
            try:
                step()
            except Exception as e:  # a scenario that crashes is one failure, not the end
                check(f"{name}: ran to the end", False, repr(e))

        check("neither meshd ever called its agent without the security header",
              w.agent_a.rejected_no_header == 0 and w.agent_b.rejected_no_header == 0,
              (w.agent_a.rejected_no_header, w.agent_b.rejected_no_header))
        try:
            text = w.a.metrics()
            missing = [f for f in ("meshd_svid_expiry_timestamp_seconds",
                                   "meshd_svid_rotations_total",
                                   "meshd_workload_api_errors_total",
                                   "meshd_mtls_handshakes_total",
                                   "meshd_mtls_handshake_duration_seconds")
                       if f"# HELP {f} " not in text or f"# TYPE {f} " not in text]
            check("metrics: the SPIFFE families have HELP and TYPE", not missing, missing)
            promtool = shutil.which("promtool")
            if promtool:
                r = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                                   capture_output=True)
                check("metrics: promtool check metrics passes with SPIFFE families",
                      r.returncode == 0, (r.stdout + r.stderr).decode()[:2000])
        except OSError as e:
            check("metrics: /metrics answers", False, repr(e))

        w.mon_a.close()
        w.a.d.proc.send_signal(signal.SIGTERM)
        try:
            rc = w.a.d.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            rc = None
        check("node A: SIGTERM exits 0", rc == 0, rc)
        log = w.a.d.logtext()
        check("daemon log has no sanitizer reports", "Sanitizer" not in log and
              "runtime error" not in log, log[-2000:])
    finally:
        for n in (w.a, w.b):
            if n is not None:
                n.stop()
        w.agent_a.stop()
        w.agent_b.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
