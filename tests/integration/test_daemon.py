#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Integration test of the real meshd binary over its real control socket.

Needs no batman-adv: the daemon runs with mesh.manage false and no hardifs.
Prints one line per check ("PASS name" / "FAIL name: why") and ends with
"N passed, N failed". Exit status 1 if anything failed.

Usage: test_daemon.py BUILD_DIR
"""

import grp
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
MESHD = os.path.join(BUILD, "agent", "meshd")
MESHCTL = os.path.join(BUILD, "agent", "ctl", "meshctl")
HERE = os.path.dirname(os.path.abspath(__file__))
BAD_CONFIGS = os.path.join(HERE, "..", "configs", "bad")

passed = 0
failed = 0
skipped = 0


def check(name, ok, why=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"PASS {name}", flush=True)
    else:
        failed += 1
        print(f"FAIL {name}: {why}", flush=True)
    return ok


def skip(name, why):
    global skipped
    skipped += 1
    print(f"SKIP {name}: {why}", flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Conn:
    """One control socket connection speaking newline-delimited JSON."""

    def __init__(self, path, timeout=5.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock.connect(path)
                break
            except BlockingIOError:  # listen backlog full: the kernel says EAGAIN
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.005)
        self.buf = b""

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, obj):
        self.send_raw(json.dumps(obj).encode() + b"\n")

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def call(self, cmd, args=None, rid=1):
        req = {"id": rid, "cmd": cmd}
        if args is not None:
            req["args"] = args
        self.send(req)
        return self.line()

    def close(self):
        self.sock.close()


PROBE_CODE = r"""
import json, socket, sys, time, select
path = sys.argv[1]
lat, refused, errors = [], 0, []
while not select.select([sys.stdin], [], [], 0.02)[0]:
    start = time.monotonic()
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(2)
        s.connect(path)
        s.sendall(b'{"cmd":"status"}\n')
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                raise EOFError("closed")
            buf += chunk
        s.close()
        reply = json.loads(buf.split(b"\n")[0])
        if not reply.get("ok"):
            if "too many control clients" in reply.get("error", {}).get("message", ""):
                refused += 1  # the client-cap check runs meanwhile
                continue
            errors.append(str(reply))
    except Exception as e:
        errors.append(repr(e))
    lat.append(time.monotonic() - start)
lat.sort()
p95 = lat[min(len(lat) - 1, int(len(lat) * 0.95))] if lat else 0.0
print(json.dumps({"worst": lat[-1] if lat else 0.0, "p95": p95, "samples": len(lat),
                  "refused": refused, "errors": errors[:5]}))
"""


class LatencyProbe:
    """A separate process that asks for `status` on a fresh connection every 20 ms and
    records the latencies (a process of its own, so the test's work cannot delay it)."""

    def __init__(self, path):
        self.proc = subprocess.Popen([sys.executable, "-c", PROBE_CODE, path],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.worst, self.p95, self.samples, self.errors = 0.0, 0.0, 0, []

    def stop(self):
        out, _ = self.proc.communicate("stop\n", timeout=10)
        result = json.loads(out)
        self.worst, self.p95, self.samples, self.errors = result["worst"], result["p95"], \
            result["samples"], result["errors"]


class Daemon:
    def __init__(self, workdir, config, env=None, foreground=True, user=None, binary=None):
        self.workdir = workdir
        self.config_path = os.path.join(workdir, "meshd.json")
        self.write_config(config)
        self.socket = config["control"]["socket"]
        self.log = open(os.path.join(workdir, "meshd.log"), "w+")
        args = [binary or MESHD, "--config", self.config_path]
        if foreground:
            args.append("--foreground")
        full_env = dict(os.environ)
        full_env.pop("NOTIFY_SOCKET", None)
        full_env.update(env or {})
        ids = {"user": user, "group": user, "extra_groups": []} if user is not None else {}
        if ids:
            ids["cwd"] = "/"
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log, env=full_env, **ids)

    def write_config(self, config):
        with open(self.config_path, "w") as f:
            json.dump(config, f)

    def wait_ready(self, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                c = Conn(self.socket, timeout=1)
                c.call("version")
                c.close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def logtext(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def base_config(workdir, port, **control):
    ctl = {"socket": os.path.join(workdir, "run", "meshd.sock"), "write_timeout_ms": 1000}
    ctl.update(control)
    return {
        "mesh": {"manage": False},
        "control": ctl,
        "metrics": {"listen": f"127.0.0.1:{port}"},
        "log": {"level": "info"},
    }


def test_check_configs(workdir):
    names = sorted(n[:-5] for n in os.listdir(BAD_CONFIGS) if n.endswith(".json"))
    check("check: broken config set is not empty", len(names) >= 10, f"only {len(names)}")
    for name in names:
        path = os.path.join(BAD_CONFIGS, name + ".json")
        with open(os.path.join(BAD_CONFIGS, name + ".expect")) as f:
            expect = f.read().strip()
        before = set(os.listdir(workdir))
        r = subprocess.run([MESHD, "--check", "--config", path], capture_output=True, text=True,
                           timeout=10, cwd=workdir)
        after = set(os.listdir(workdir))
        check(f"check: {name} exits 1 naming {expect}",
              r.returncode == 1 and expect in r.stderr,
              f"rc={r.returncode} stderr={r.stderr.strip()!r}")
        check(f"check: {name} creates nothing", before == after, f"new: {after - before}")

    missing = os.path.join(workdir, "does-not-exist.json")
    r = subprocess.run([MESHD, "--check", "--config", missing], capture_output=True, text=True)
    check("check: missing file exits 1 and names it", r.returncode == 1 and missing in r.stderr,
          r.stderr)

    good = os.path.join(workdir, "good.json")
    sockdir = os.path.join(workdir, "never-created")
    with open(good, "w") as f:
        json.dump({"mesh": {"manage": False},
                   "control": {"socket": os.path.join(sockdir, "s.sock")}}, f)
    r = subprocess.run([MESHD, "--check", "--config", good], capture_output=True, text=True)
    check("check: valid observe-mode config exits 0", r.returncode == 0, r.stderr)
    check("check: valid config creates no socket directory", not os.path.exists(sockdir))

    r = subprocess.run([MESHD, "--bogus"], capture_output=True, text=True)
    check("meshd: unknown argument is a usage error", r.returncode == 2 and "--bogus" in r.stderr,
          r.stderr)
    r = subprocess.run([MESHD, "--help"], capture_output=True, text=True)
    check("meshd: --help", r.returncode == 0 and "--check" in r.stdout, r.stdout)


def test_requests(d):
    c = Conn(d.socket)
    v = c.call("version", rid="v1")
    check("version: ok with the request id", v.get("ok") is True and v.get("id") == "v1", v)
    res = v.get("result", {})
    check("version: has version, batman_adv_version, algorithm",
          {"version", "batman_adv_version", "algorithm"} <= set(res) and
          res["algorithm"] == "BATMAN_IV", res)

    s = c.call("status", rid=2)
    res = s.get("result", {})
    check("status: reports every feature",
          s.get("ok") and all(k in res for k in ("mesh", "hardifs", "probes", "identity",
                                                 "tunnel", "uptime_seconds", "control")), s)
    check("status: mesh is observe-only and its state is explained",
          res.get("mesh", {}).get("manage") is False and "state" in res.get("mesh", {}) and
          res["mesh"].get("reason"), res.get("mesh"))

    # Pipelining: 100 requests in one write, 100 replies in order.
    batch = b"".join(json.dumps({"id": i, "cmd": "version" if i % 2 else "status"}).encode() +
                     b"\n" for i in range(100))
    c.send_raw(batch)
    ids = [c.line().get("id") for _ in range(100)]
    check("pipelining: 100 replies in request order", ids == list(range(100)), ids[:10])

    # Malformed lines get bad_request and the connection stays usable.
    for raw, label in ((b"{bad json\n", "invalid JSON"), (b"[1,2,3]\n", "array"),
                       (b'{"cmd": 5}\n', "cmd not a string"), (b'{"id": 9}\n', "no cmd"),
                       (b'{"cmd":"status","args":[]}\n', "args not an object"),
                       (b'{"cmd":"\xff\xfe"}\n', "invalid UTF-8")):
        c.send_raw(raw)
        r = c.line()
        check(f"malformed: {label} -> bad_request",
              r.get("ok") is False and r.get("error", {}).get("code") == "bad_request", r)
    r = c.call("version", rid="after")
    check("malformed: connection still usable", r.get("ok") and r.get("id") == "after", r)

    # Hostile nesting: 120 KB of '[' in the id once crashed meshd (a stack
    # overflow copying it into the reply). Refused before parsing; a
    # structured id is never echoed.
    for raw, label in ((b'{"id":' + b"[" * 120000 + b"]" * 120000 + b',"cmd":"status"}\n', "id"),
                       (b'{"cmd":"status","args":{"a":' + b"[" * 120000 + b"}}\n", "args")):
        c.send_raw(raw)
        r = c.line()
        check(f"nesting: 120,000 [ in the {label} -> bad_request naming the depth, id null",
              r.get("error", {}).get("code") == "bad_request" and r.get("id") is None and
              "deeper than 32 levels" in r["error"].get("message", ""), r)
    c.send_raw(b'{"id":[1,2],"cmd":"version"}\n')
    r = c.line()
    check("a structured id -> bad_request, not echoed",
          r.get("id") is None and r.get("error", {}).get("code") == "bad_request" and
          '"id" must be' in r["error"].get("message", ""), r)
    r = c.call("version", rid="after-deep")
    check("nesting: meshd alive, connection still usable",
          r.get("ok") and r.get("id") == "after-deep" and d.proc.poll() is None, r)

    r = c.call("frobnicate")
    check("unknown command -> unknown_command",
          r.get("error", {}).get("code") == "unknown_command", r)
    # Without batman-adv on this kernel the mesh commands answer `unavailable`, as do
    # the features this build does not have yet.
    for cmd in ("originators", "neighbors", "interfaces", "gateways", "translations", "claims",
                "backbones", "dat", "mesh", "set", "topology", "identity", "peers"):
        r = c.call(cmd, {"hop_penalty": 30} if cmd == "set" else None)
        check(f"contract command {cmd} answers unavailable here",
              r.get("error", {}).get("code") == "unavailable" and r["error"].get("message"), r)
    # Probes: the link probe loads where the kernel and privileges allow it;
    # either way every probe is listed, and one that is not loaded says why.
    r = c.call("probes")
    probes = r.get("result") or []
    built_without = ("built without eBPF" in r.get("error", {}).get("message", ""))
    check("probes lists the link probe and the tier B probes, each loaded or with a reason "
          "(or, in a build without BPF, says so)",
          (r.get("ok") and [p.get("probe") for p in probes][:1] == ["link"] and len(probes) >= 2
           and all(p.get("loaded") is True or p.get("reason") for p in probes))
          or (built_without and r["error"].get("code") == "unavailable"), r)
    link_loaded = bool(probes and probes[0].get("loaded"))
    r = c.call("links")
    check("links answers a list when the link probe is loaded, else unavailable with the reason",
          (r.get("ok") and isinstance(r.get("result"), list)) if link_loaded else
          (r.get("error", {}).get("code") == "unavailable" and r["error"].get("message")), r)
    r = c.call("status")
    check("status explains why the mesh is unavailable",
          "batman-adv" in r.get("result", {}).get("mesh", {}).get("reason", ""), r)
    for args, label in (({"hop_penalty": 300}, "out of range"), ({"hop_penality": 3}, "unknown"),
                        ({"bonding": "yes"}, "wrong type"), ({}, "empty"),
                        ({"hardif": "a/b", "hop_penalty": 1}, "bad hardif name")):
        r = c.call("set", args)
        check(f"set: {label} -> invalid_argument before touching the kernel",
              r.get("error", {}).get("code") == "invalid_argument", r)
    r = c.call("translations", {"table": "both"})
    check("translations: bad table -> invalid_argument",
          r.get("error", {}).get("code") == "invalid_argument", r)

    # An over-long line: one bad_request, then the stream resumes.
    c.send_raw(b'{"cmd":"version","pad":"' + b"x" * (1024 * 1024 + 100) + b'"}\n')
    r = c.line()
    check("over-long line -> bad_request", r.get("error", {}).get("code") == "bad_request" and
          "longer than" in r.get("error", {}).get("message", ""), r)
    r = c.call("version", rid="post-long")
    check("over-long line: connection still usable", r.get("id") == "post-long" and r.get("ok"), r)

    # A line of exactly the limit is accepted (and is malformed only as JSON).
    c.send_raw(b"x" * (1024 * 1024) + b"\n")
    r = c.line()
    check("line at exactly 1 MiB is parsed, not rejected as too long",
          "not valid JSON" in r.get("error", {}).get("message", ""), r)
    c.close()

    # Half-close: the reply still arrives.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(d.socket)
    s.sendall(b'{"id":"hc","cmd":"version"}\n')
    s.shutdown(socket.SHUT_WR)
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    check("half-closed client gets its reply", b'"hc"' in data, data[:200])


def test_meshctl(d):
    env = dict(os.environ, MESHD_SOCKET=d.socket)
    r = subprocess.run([MESHCTL, "status"], capture_output=True, text=True, env=env, timeout=10)
    check("meshctl status (socket from $MESHD_SOCKET)", r.returncode == 0 and "mesh:" in r.stdout,
          r.stdout + r.stderr)
    r = subprocess.run([MESHCTL, "--socket", d.socket, "--json", "version"], capture_output=True,
                       text=True, timeout=10)
    ok = r.returncode == 0
    try:
        ok = ok and json.loads(r.stdout)["algorithm"] == "BATMAN_IV"
    except (ValueError, KeyError):
        ok = False
    check("meshctl --json version prints the result as JSON", ok, r.stdout)
    r = subprocess.run([MESHCTL, "--socket", d.socket, "originators"], capture_output=True,
                       text=True, timeout=10)
    check("meshctl: daemon error exits 1", r.returncode == 1 and "unavailable" in r.stderr,
          r.stderr)
    r = subprocess.run([MESHCTL, "--socket", d.socket, "nonsense"], capture_output=True, text=True)
    check("meshctl: usage error exits 2", r.returncode == 2, r.stderr)
    r = subprocess.run([MESHCTL, "--socket", d.socket + ".nope", "status"], capture_output=True,
                       text=True)
    check("meshctl: no daemon exits 3", r.returncode == 3 and "cannot connect" in r.stderr,
          r.stderr)

    # A server that accepts and never answers: meshctl times out with 3.
    silent_path = os.path.join(d.workdir, "silent.sock")
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    silent.bind(silent_path)
    silent.listen(1)
    start = time.monotonic()
    r = subprocess.run([MESHCTL, "--socket", silent_path, "--timeout", "0.5", "status"],
                       capture_output=True, text=True, timeout=10)
    took = time.monotonic() - start
    silent.close()
    check("meshctl: --timeout gives exit 3", r.returncode == 3 and "timed out" in r.stderr and
          took < 5, f"rc={r.returncode} took={took:.1f}s {r.stderr}")


def test_concurrency(d):
    conns = []
    try:
        for _ in range(200):
            conns.append(Conn(d.socket))
        for i, c in enumerate(conns):
            c.send({"id": i, "cmd": "status"})
        good = 0
        for i, c in enumerate(conns):
            r = c.line()
            good += r.get("ok") is True and r.get("id") == i
        check("200 concurrent clients all answered", good == 200, f"{good}/200")
        probe = Conn(d.socket)
        st = probe.call("status")["result"]
        check("status counts the concurrent clients", st["control"]["clients"] >= 201,
              st["control"])
        probe.close()
    finally:
        for c in conns:
            c.close()


def test_non_reader(d):
    """A client that floods requests and never reads is cut off; others are unaffected."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(d.socket)
    s.setblocking(False)
    req = b'{"cmd":"status"}\n' * 4096
    sent = 0
    start = time.monotonic()
    dropped = False
    while time.monotonic() - start < 6:
        try:
            sent += s.send(req)
        except BlockingIOError:
            time.sleep(0.05)
        except OSError:
            dropped = True
            break
    if not dropped:
        # The daemon stops reading from us; find out whether it closed the connection.
        s.setblocking(True)
        s.settimeout(3)
        try:
            while s.recv(1 << 20):
                pass
            dropped = True
        except OSError:
            dropped = True
    s.close()
    check("non-reading client is disconnected after the write timeout", dropped,
          f"sent {sent} bytes, still connected")
    c = Conn(d.socket)
    r = c.call("status")
    c.close()
    check("daemon answers normally after dropping the non-reader", r.get("ok") is True, r)
    return sent


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_pipeline_flood(d):
    """240 clients (with the test's own, the 256 of control.max_clients)
    pipeline 30,000 tiny requests each and read nothing: meshd's memory grows
    by its per-client bounds (one read's worth of input, 256 KiB of replies)
    and at most by the 32 MiB that all clients together may hold, not by a
    queued reply per line (once: 64 clients took meshd from 8 MB to 180 MB)."""
    clients = 240
    flood = b"x\n" * 30000  # each line a bad_request, the cheapest to send
    before = rss_kib(d.proc.pid)
    peak = before
    socks = []
    worst = 0.0
    try:
        for _ in range(clients):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(d.socket)
            s.setblocking(False)
            socks.append([s, 0])
        deadline = time.monotonic() + 3  # within control.write_timeout_ms (5 s)
        while time.monotonic() < deadline:
            for entry in socks:
                s, off = entry
                if off < len(flood):
                    try:
                        entry[1] += s.send(flood[off:])
                    except (BlockingIOError, OSError):
                        pass
            peak = max(peak, rss_kib(d.proc.pid))
            t = time.monotonic()
            c = Conn(d.socket)
            r = c.call("version")
            c.close()
            worst = max(worst, time.monotonic() - t)
            if not r.get("ok"):
                worst = float("inf")
            time.sleep(0.05)
        sent = sum(off for _, off in socks)
    finally:
        for s, _ in socks:
            s.close()
    grew = (peak - before) / 1024
    # Output + read + framer per client, all of them within the 32 MiB that
    # clients may hold together, and as much again for what the allocator
    # keeps of buffers freed as clients are shed (seen: 27 to 49 MB). Without
    # the per-client bounds this flood grows meshd by hundreds of MB; the
    # 32 MiB cap itself is caught by test_held_bound.
    bound = min(clients * (256 + 64 + 64) / 1024, 32) + 32
    name = (f"pipeline flood: {clients} non-reading clients ({sent // 1024} KiB of requests) "
            f"grew meshd by {grew:.1f} MB (bound {bound:.0f} MB)")
    if os.environ.get("MESHD_SANITIZED"):
        # ASan's quarantine keeps freed memory resident (256 MB by default),
        # so RSS says nothing about what meshd holds.
        skip(name, "RSS is not meshd's memory under ASan (its quarantine); the normal build checks it")
    else:
        check(name, grew < bound, f"{before} -> {peak} KiB")
    check(f"pipeline flood: other clients answered throughout (worst {worst * 1000:.0f} ms)",
          worst < 2.0)
    check("pipeline flood: meshd still running", d.proc.poll() is None)


def metric_value(port, series):
    """The value of one exposed series (its exact name and labels), or 0."""
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for line in body.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0.0


def test_held_bound(d, port):
    """250 clients (the client limit is 256) each send a partial line of
    almost 1 MiB (control's line limit) and never finish it: no timeout
    applies to them, so without a global bound meshd held ~250 MB for as long
    as they stayed. With it, meshd holds at most 32 MiB in all clients'
    buffers and drops the clients holding the most, counted as "memory"."""
    clients = 250
    part = b"[" + b"1," * (500 * 1024)  # ~1000 KiB, no newline
    before = rss_kib(d.proc.pid)
    dropped0 = metric_value(port, 'meshd_control_clients_dropped_total{reason="memory"}')
    peak = before
    socks = []
    worst = 0.0
    try:
        for _ in range(clients):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(d.socket)
            s.setblocking(False)
            socks.append([s, 0])
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            busy = False
            for entry in socks:
                s, off = entry
                if s is None or off >= len(part):
                    continue
                busy = True
                try:
                    entry[1] += s.send(part[off:off + 256 * 1024])
                except BlockingIOError:
                    pass
                except OSError:  # dropped by meshd
                    s.close()
                    entry[0] = None
            peak = max(peak, rss_kib(d.proc.pid))
            t = time.monotonic()
            c = Conn(d.socket)
            r = c.call("version")
            c.close()
            worst = max(worst, time.monotonic() - t)
            if not r.get("ok"):
                worst = float("inf")
            if not busy:
                break
        time.sleep(0.3)
        peak = max(peak, rss_kib(d.proc.pid))
        sent = sum(off for _, off in socks)
        dropped = metric_value(port, 'meshd_control_clients_dropped_total{reason="memory"}') - dropped0
    finally:
        for s, _ in socks:
            if s is not None:
                s.close()
    grew = (peak - before) / 1024
    bound = 32 + 16  # maxHeldBytes, and slack for one turn's reads and the allocator
    name = (f"held bound: {clients} clients with partial lines ({sent // (1024 * 1024)} MiB sent) "
            f"grew meshd by {grew:.1f} MB (bound {bound} MB)")
    if os.environ.get("MESHD_SANITIZED"):
        skip(name, "RSS is not meshd's memory under ASan (its quarantine); the normal build checks it")
    else:
        check(name, grew < bound, f"{before} -> {peak} KiB")
    check(f"held bound: the clients holding the most were dropped as \"memory\" ({dropped:.0f})",
          dropped >= clients / 2, f"{dropped}")
    check(f"held bound: other clients answered throughout (worst {worst * 1000:.0f} ms)", worst < 2.0)
    check("held bound: meshd still running", d.proc.poll() is None)
    r = Conn(d.socket).call("status")
    check("held bound: status answers afterwards", r.get("ok") is True, r)


def test_monitor_and_reload(d, port):
    mon = Conn(d.socket)
    first = mon.call("monitor", rid="m")
    check("monitor: accepted", first.get("ok") is True and first.get("id") == "m", first)

    cfg = base_config(d.workdir, port)
    cfg["log"]["level"] = "debug"
    cfg["control"]["max_clients"] = 5
    cfg["metrics"]["listen"] = f"127.0.0.1:{port + 1}"  # restart-only
    d.write_config(cfg)
    d.proc.send_signal(signal.SIGHUP)
    ev = mon.line()
    check("SIGHUP: config_reloaded event on monitor",
          ev.get("event") == "config_reloaded" and isinstance(ev.get("time"), (int, float)), ev)
    check("SIGHUP: live changes applied, restart-only ones named",
          "log.level" in ev.get("applied", []) and "control.max_clients" in ev.get("applied", [])
          and "metrics.listen" in ev.get("restart_required", []), ev)

    # max_clients 5 is live now: counting the monitor (and maybe the latency probe's
    # connection), at most 4 more are accepted before one is refused.
    extra, refused, r = [], False, None
    for _ in range(6):
        c = Conn(d.socket)
        try:
            c.send({"id": "cap", "cmd": "version"})
        except OSError:
            pass  # a refused client may already be closed; its refusal is still readable
        try:
            r = c.line()
        except (EOFError, OSError) as e:
            r = repr(e)
            break
        if isinstance(r, dict) and r.get("error", {}).get("code") == "unavailable":
            refused = "too many" in r["error"]["message"]
            c.close()
            break
        extra.append(c)
    check("client cap: the client over the limit is refused with unavailable",
          refused and len(extra) <= 4, f"accepted {len(extra)} more, last reply {r}")
    for c in extra:
        c.close()

    d.write_config({"mesh": {"manage": "maybe"}})
    d.proc.send_signal(signal.SIGHUP)
    ev = mon.line()
    check("SIGHUP with a broken config: config_reload_failed naming the key",
          ev.get("event") == "config_reload_failed" and
          any(e.get("path") == "mesh.manage" for e in ev.get("errors", [])), ev)
    time.sleep(0.2)
    c = Conn(d.socket)
    st = c.call("status")
    c.close()
    check("broken reload keeps the running config",
          st.get("ok") and st["result"]["log"]["level"] == "debug" and
          st["result"]["control"]["max_clients"] == 5, st.get("result", {}).get("control"))

    cfg["control"]["max_clients"] = 256
    d.write_config(cfg)
    c = Conn(d.socket)
    r = c.call("reload")
    c.close()
    check("reload command applies and reports", r.get("ok") and
          "control.max_clients" in r["result"]["applied"], r)
    ev = mon.line()
    check("reload command also notifies monitors", ev.get("event") == "config_reloaded", ev)
    return mon


def test_metrics(port):
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
    except OSError as e:
        check("metrics: /metrics answers", False, repr(e))
        return
    text = body.decode()
    check("metrics: /metrics answers", True)
    promtool = shutil.which("promtool")
    if promtool:
        r = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True)
        check("metrics: promtool check metrics passes", r.returncode == 0,
              (r.stdout + r.stderr).decode()[:2000])
    else:
        check("metrics: promtool is installed", False, "promtool not found")
    for family in ("meshd_build_info", "process_resident_memory_bytes",
                   "process_cpu_seconds_total", "process_start_time_seconds",
                   "process_open_fds", "meshd_control_requests_total", "meshd_control_clients"):
        check(f"metrics: {family} has HELP and TYPE",
              f"# HELP {family} " in text and f"# TYPE {family} " in text)
    check("metrics: meshd_build_info{version} is 1", 'meshd_build_info{version="' in text and
          any(line.startswith("meshd_build_info{") and line.endswith(" 1")
              for line in text.splitlines()))
    check("metrics: write timeout drop counted",
          'meshd_control_clients_dropped_total{reason="write_timeout"} 1' in text,
          [line for line in text.splitlines() if "dropped" in line])
    check("metrics: bad requests counted by code",
          'result="bad_request"' in text)


def test_startup_conflicts(workdir, d, port):
    # A second daemon on the same socket must refuse and leave the first alone.
    other = os.path.join(workdir, "second")
    os.makedirs(other)
    cfg = base_config(workdir, free_port())
    cfg["control"]["socket"] = d.socket
    with open(os.path.join(other, "meshd.json"), "w") as f:
        json.dump(cfg, f)
    r = subprocess.run([MESHD, "--foreground", "--config", os.path.join(other, "meshd.json")],
                       capture_output=True, text=True, timeout=10)
    check("second meshd on the same socket exits 1", r.returncode == 1 and
          "another meshd" in r.stderr, r.stderr)
    c = Conn(d.socket)
    check("first meshd still serves its socket", c.call("version").get("ok") is True)
    c.close()

    # Metrics port taken: fail fast, name the field, leave no socket behind.
    sockpath = os.path.join(other, "run", "m.sock")
    cfg = base_config(other, port)
    cfg["control"]["socket"] = sockpath
    with open(os.path.join(other, "busy.json"), "w") as f:
        json.dump(cfg, f)
    r = subprocess.run([MESHD, "--foreground", "--config", os.path.join(other, "busy.json")],
                       capture_output=True, text=True, timeout=10)
    check("metrics port in use: exits 1 naming metrics.listen",
          r.returncode == 1 and "metrics.listen" in r.stderr, r.stderr)
    check("metrics port in use: no socket or lock file left behind",
          not os.path.exists(sockpath) and not os.path.exists(sockpath + ".lock"))


def test_socket_directory_and_links(workdir):
    """The socket's directory must be meshd's own, and a reload never follows
    a link that replaced the socket (it once chmodded whatever it pointed at)."""
    def start_fails(name, prepare, want):
        base = os.path.join(workdir, name)
        os.makedirs(base)
        run = os.path.join(base, "run")
        os.makedirs(run)
        prepare(run)
        cfg = base_config(base, free_port())
        with open(os.path.join(base, "meshd.json"), "w") as f:
            json.dump(cfg, f)
        try:
            r = subprocess.run([MESHD, "--foreground", "--config", os.path.join(base, "meshd.json")],
                               capture_output=True, text=True, timeout=5)
            ok, why = r.returncode == 1 and want in r.stderr, r.stderr
        except subprocess.TimeoutExpired:  # run() has killed it
            ok, why = False, "meshd started there and kept running"
        check(f"socket directory {name}: exits 1 saying '{want}'", ok, why)
        check(f"socket directory {name}: no socket made there",
              not os.path.exists(cfg["control"]["socket"]))
    start_fails("world-writable", lambda d: os.chmod(d, 0o777),
                "is writable by group or others (mode 0777)")
    if os.geteuid() == 0:
        start_fails("someone else's", lambda d: os.chown(d, 65534, 65534),
                    "belongs to uid 65534")
    else:
        skip("socket directory someone else's", "needs root to chown")

    base = os.path.join(workdir, "swap")
    os.makedirs(base)
    d = Daemon(base, base_config(base, free_port(), mode="0660"))
    try:
        if not check("swap: meshd starts", d.wait_ready(), d.logtext()):
            return
        victim = os.path.join(base, "victim")
        with open(victim, "w") as f:
            f.write("precious\n")
        os.chmod(victim, 0o600)
        os.unlink(d.socket)
        os.symlink(victim, d.socket)
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and "no longer meshd's control socket" not in d.logtext():
            time.sleep(0.05)
        mode = os.stat(victim).st_mode & 0o777
        check("reload after the socket was swapped for a link: the link's target keeps mode 0600",
              mode == 0o600, oct(mode))
        check("reload after the swap: the log says the socket was replaced",
              "no longer meshd's control socket" in d.logtext(), d.logtext()[-500:])
        check("reload after the swap: meshd still running", d.proc.poll() is None)
    finally:
        if d.proc.poll() is None:
            d.proc.terminate()
            d.proc.wait(timeout=10)


def test_stale_socket_and_daemonise(workdir):
    run = os.path.join(workdir, "stale")
    os.makedirs(run)
    path = os.path.join(run, "meshd.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()  # leaves a socket file nobody listens on
    port = free_port()
    cfg = base_config(run, port)
    cfg["control"]["socket"] = path
    cfg_path = os.path.join(run, "meshd.json")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    # Without --foreground meshd forks and the parent exits once the daemon is ready.
    r = subprocess.run([MESHD, "--config", cfg_path], capture_output=True, text=True, timeout=10)
    check("daemonised start returns 0 once ready", r.returncode == 0, r.stderr)
    try:
        c = Conn(path)
        st = c.call("status")
        c.close()
        ok = st.get("ok") is True
        pid = st["result"]["pid"]
    except (OSError, EOFError, KeyError) as e:
        ok, pid = False, None
        st = repr(e)
    check("stale socket file replaced; daemon answers", ok, st)
    if pid:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and os.path.exists(path):
            time.sleep(0.02)
        check("daemonised meshd stops on SIGTERM and removes its socket",
              not os.path.exists(path))


def test_notify(workdir):
    run = os.path.join(workdir, "notify")
    os.makedirs(run)
    nsock_path = os.path.join(run, "notify.sock")
    nsock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    nsock.bind(nsock_path)
    nsock.settimeout(5)
    cfg = base_config(run, free_port())
    d = Daemon(run, cfg, env={"NOTIFY_SOCKET": nsock_path, "WATCHDOG_USEC": "200000"})
    messages = []
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                messages.append(nsock.recv(4096).decode())
            except socket.timeout:
                break
            if sum("WATCHDOG=1" in m for m in messages) >= 3 and \
                    any("READY=1" in m for m in messages):
                break
        check("sd_notify: READY=1 with STATUS", any("READY=1" in m and "STATUS=" in m
                                                    for m in messages), messages)
        check("sd_notify: WATCHDOG=1 repeats at half WATCHDOG_USEC",
              sum("WATCHDOG=1" in m for m in messages) >= 3, messages)
        d.proc.send_signal(signal.SIGTERM)
        d.proc.wait(timeout=5)
        rest = []
        try:
            while True:
                rest.append(nsock.recv(4096).decode())
        except (socket.timeout, BlockingIOError):
            pass
        nsock.settimeout(0.2)
        check("sd_notify: STOPPING=1 on shutdown", any("STOPPING=1" in m for m in rest), rest)
    finally:
        d.kill()
        nsock.close()


AS_CLIENT_CODE = r"""
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
f = s.makefile("rwb")
for i, cmd in enumerate(sys.argv[2:]):
    f.write(json.dumps({"id": i, "cmd": cmd}).encode() + b"\n")
    f.flush()
    print(f.readline().decode().strip())
"""


def as_client(sock, cmds, uid=None, gid=None, groups=None):
    """Sends cmds over one connection as uid/gid with these supplementary groups;
    returns the replies (a list of dicts) or a string saying what went wrong."""
    kw = {}
    if uid is not None:
        kw = {"user": uid, "group": gid, "extra_groups": groups or []}
    r = subprocess.run(["/usr/bin/python3", "-c", AS_CLIENT_CODE, sock] + cmds,
                       capture_output=True, text=True, timeout=10, cwd="/", **kw)
    if r.returncode != 0:
        return f"client exited {r.returncode}: {r.stderr[-500:]}"
    return [json.loads(line) for line in r.stdout.splitlines()]


def reachable_copy(binary, directory):
    """A copy of BINARY in DIRECTORY that any user may run: the build directory
    may sit where uid 65534 cannot reach it (a clone in /root)."""
    path = os.path.join(directory, os.path.basename(binary))
    shutil.copy2(binary, path)
    os.chmod(path, 0o755)
    return path


def test_admin_roles():
    """Readers in the socket's group read everything and change nothing; set, tp
    and reload need root, meshd's user or control.admin_group (SO_PEERCRED)."""
    if os.geteuid() != 0:
        skip("admin roles", "needs root to run clients as other users")
        return
    try:
        users_gid = grp.getgrnam("users").gr_gid
    except KeyError:
        skip("admin roles", "this system has no group \"users\" to make an admin group of")
        return
    base = tempfile.mkdtemp(prefix="meshd-roles-")
    os.chmod(base, 0o711)  # uid 65534 must reach run/meshd.sock
    port = free_port()
    cfg = base_config(base, port, mode="0666")
    d = Daemon(base, cfg)
    try:
        if not check("roles: meshd starts", d.wait_ready(), d.logtext()):
            return
        nobody = {"uid": 65534, "gid": 65534}
        r = as_client(d.socket, ["version", "status", "set", "reload", "tp"], **nobody)
        if not check("roles: a client runs as uid 65534", isinstance(r, list) and len(r) == 5, r):
            return
        check("roles: uid 65534 may read (version, status)",
              r[0].get("ok") is True and r[1].get("ok") is True, r[:2])
        for reply, cmd in zip(r[2:], ("set", "reload", "tp")):
            err = reply.get("error", {})
            check(f"roles: uid 65534 may not {cmd}: permission_denied naming the uid and the group",
                  err.get("code") == "permission_denied" and "uid 65534" in err.get("message", "")
                  and "meshd-admin" in err.get("message", ""), reply)
        env = dict(os.environ, MESHD_SOCKET=d.socket)
        meshctl = reachable_copy(MESHCTL, base)
        m = subprocess.run([meshctl, "set", "orig_interval_ms=2000"], capture_output=True,
                           text=True, env=env, timeout=10, user=65534, group=65534,
                           extra_groups=[])
        check("roles: meshctl set as uid 65534 exits 1 saying permission_denied",
              m.returncode == 1 and "permission_denied" in m.stderr and "uid 65534" in m.stderr,
              f"rc={m.returncode} {m.stderr}")
        m = subprocess.run([MESHCTL, "--json", "commands"], capture_output=True, text=True,
                           env=env, timeout=10)
        try:
            access = {c["name"]: c["access"] for c in json.loads(m.stdout)}
        except (ValueError, KeyError, TypeError):
            access = {}
        check("roles: meshctl commands says which need admin",
              access.get("set") == "admin" and access.get("reload") == "admin" and
              access.get("tp") == "admin" and access.get("status") == "read", m.stdout[:500])
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        denied = [l for l in body.splitlines() if 'result="permission_denied"' in l]
        check("roles: refusals counted in meshd_control_requests_total",
              any('command="set"' in l and l.endswith(" 2") for l in denied) and
              any('command="reload"' in l for l in denied), denied)

        # Root is always allowed; then a reload makes "users" the admin group.
        cfg["control"]["admin_group"] = "users"
        d.write_config(cfg)
        r = as_client(d.socket, ["reload"])
        check("roles: root may reload", isinstance(r, list) and r[0].get("ok") is True, r)
        r = as_client(d.socket, ["reload", "set"], uid=65534, gid=65534, groups=[users_gid])
        ok = isinstance(r, list) and len(r) == 2
        check("roles: a member of control.admin_group (supplementary) may reload",
              ok and r[0].get("ok") is True, r)
        check("roles: a member of control.admin_group gets past the check for set",
              ok and r[1].get("error", {}).get("code") != "permission_denied", r)
        r = as_client(d.socket, ["reload"], uid=65534, gid=users_gid)
        check("roles: a member of control.admin_group (primary) may reload",
              isinstance(r, list) and r[0].get("ok") is True, r)
        r = as_client(d.socket, ["reload"], **nobody)
        check("roles: a non-member is still refused after the reload",
              isinstance(r, list) and r[0].get("error", {}).get("code") == "permission_denied"
              and '"users"' in r[0]["error"].get("message", ""), r)
        check("roles: the log names who changed what",
              "reload requested by uid 65534" in d.logtext() and
              "refused set" in d.logtext(), d.logtext()[-1500:])
    finally:
        d.kill()
        shutil.rmtree(base, ignore_errors=True)


def proc_owner(pid):
    # The files under /proc/PID of a process that is not dumpable belong to root
    # (the directory itself keeps the process's uid).
    return os.stat(f"/proc/{pid}/status").st_uid


def dontdump_kib(pid):
    """KiB of meshd's mappings that a core dump skips (VmFlags "dd") and that are locked ("lo")."""
    dd = lo = 0
    size = 0
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if line.startswith("Size:"):
                size = int(line.split()[1])
            elif line.startswith("VmFlags:"):
                flags = line.split()[1:]
                if "dd" in flags:
                    dd += size
                    if "lo" in flags:
                        lo += size
    return dd, lo


def test_secrets_protected():
    """meshd is not dumpable (no core dumps, /proc/PID owned by root, no ptrace by its
    own user) and OpenSSL keeps private keys in a heap that dumps skip."""
    if os.geteuid() != 0:
        skip("non-dumpable", "needs root to start meshd as another user")
        return
    top = tempfile.mkdtemp(prefix="meshd-dump-")
    os.chmod(top, 0o711)
    try:
        for allow in (False, True):
            base = os.path.join(top, "allow" if allow else "default")
            os.makedirs(base)
            os.chown(base, 65534, 65534)
            cfg = base_config(base, free_port())
            env = {"MESHD_ALLOW_CORE_DUMPS": "1"} if allow else {}
            d = Daemon(base, cfg, env=env, user=65534, binary=reachable_copy(MESHD, top))
            try:
                if not check(f"dump{'/allowed' if allow else ''}: meshd starts as uid 65534",
                             d.wait_ready(), d.logtext()):
                    continue
                owner = proc_owner(d.proc.pid)
                if allow:
                    check("MESHD_ALLOW_CORE_DUMPS=1: dumpable (/proc/PID/status is uid 65534's)",
                          owner == 65534, f"owner {owner}")
                    check("MESHD_ALLOW_CORE_DUMPS=1: the log warns", "core dumps stay enabled"
                          in d.logtext(), d.logtext()[-800:])
                    continue
                check("meshd as uid 65534 is not dumpable (/proc/PID/status belongs to root)",
                      owner == 0, f"owner {owner}")
                dd, lo = dontdump_kib(d.proc.pid)
                check(f"a heap of at least 256 KiB excluded from core dumps ({dd} KiB; "
                      f"{lo} KiB locked)", dd >= 256, f"{dd} KiB")
                c = Conn(d.socket)
                st = c.call("status")
                c.close()
                check("non-dumpable meshd still reads its own /proc (status answers)",
                      st.get("ok") is True, st)
            finally:
                d.kill()
    finally:
        shutil.rmtree(top, ignore_errors=True)


def binaries_missing():
    """Reports (as one failure) that meshd or meshctl is not built; False when both are."""
    for binary in (MESHD, MESHCTL):
        if not os.access(binary, os.X_OK):
            print(f"FAIL setup: {binary} is not built")
            print("0 passed, 1 failed")
            return True
    return False


def test_meshctl_timeout():
    """meshctl --timeout bounds the wait for a reply and for each further
    part of it, not the whole reply: a long table that keeps arriving is read
    whole, a server that stops sending is given up on. A stand-in server
    sends the reply in pieces; the timing is the point, not meshd."""
    import threading
    workdir = tempfile.mkdtemp(prefix="meshd-ctl-")
    path = os.path.join(workdir, "s.sock")
    rows = [{"originator": f"02:00:00:00:00:{i:02x}", "best": True} for i in range(40)]
    reply = (json.dumps({"id": 1, "ok": True, "result": rows}) + "\n").encode()

    def serve(listener, pieces, stall):
        c, _ = listener.accept()
        try:
            c.recv(4096)
            step = len(reply) // pieces
            for i in range(pieces):
                c.sendall(reply[i * step:(i + 1) * step] if i < pieces - 1 else reply[i * step:])
                time.sleep(0.5)
                if stall and i == 1:
                    time.sleep(30)
        except OSError:  # meshctl gave up
            pass
        c.close()

    try:
        for stall in (False, True):
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            if os.path.exists(path):
                os.unlink(path)
            listener.bind(path)
            listener.listen(1)
            t = threading.Thread(target=serve, args=(listener, 8, stall), daemon=True)
            t.start()
            start = time.monotonic()
            r = subprocess.run([MESHCTL, "--socket", path, "--json", "--timeout", "1.5",
                                "originators"], capture_output=True, text=True, timeout=60)
            took = time.monotonic() - start
            listener.close()
            if not stall:
                ok = r.returncode == 0 and len(json.loads(r.stdout or "null") or []) == 40
                check(f"meshctl --timeout 1.5: a reply arriving over {took:.1f} s is read whole",
                      ok and took > 3, f"rc={r.returncode} took={took:.1f} {r.stderr}")
            else:
                check(f"meshctl --timeout 1.5: a reply that stops arriving is given up "
                      f"({took:.1f} s)", r.returncode != 0 and "timed out" in r.stderr
                      and took < 5, f"rc={r.returncode} took={took:.1f} {r.stderr}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    if binaries_missing():
        return 1
    workdir = tempfile.mkdtemp(prefix="meshd-it-")
    try:
        test_check_configs(workdir)

        port = free_port()
        cfg = base_config(workdir, port)
        d = Daemon(workdir, cfg)
        if not check("meshd starts and answers", d.wait_ready(), d.logtext()):
            d.kill()
            return finish()
        st = os.stat(d.socket)
        check("socket mode is 0660 from the config", (st.st_mode & 0o777) == 0o660,
              oct(st.st_mode))
        probe = LatencyProbe(d.socket)
        try:
            test_requests(d)
            test_meshctl(d)
            test_concurrency(d)
            test_non_reader(d)
            mon = test_monitor_and_reload(d, port)
            test_metrics(port)
            test_startup_conflicts(workdir, d, port)
        finally:
            probe.stop()
        test_pipeline_flood(d)
        test_held_bound(d, port)
        # Sanitizers slow every request several times over; the 50 ms promise is
        # checked on the normal build, the sanitized one gets a looser bound. The
        # promise is held by the 95th percentile: on a loaded 2-core machine the
        # scheduler alone can delay one sample past it. A loop that blocks (a
        # synchronous dump, a sleep) shows as a worst case past the stall bound.
        sanitized = bool(os.environ.get("MESHD_SANITIZED"))
        bound = 0.200 if sanitized else 0.050
        stall = 1.0 if sanitized else 0.250
        check(f"status answered within {bound * 1000:.0f} ms (95th percentile of "
              f"{probe.samples} samples: {probe.p95 * 1000:.1f} ms)",
              probe.p95 < bound and not probe.errors and probe.samples > 20,
              f"p95 {probe.p95 * 1000:.1f} ms, errors {probe.errors[:3]}")
        check(f"status never stalled past {stall * 1000:.0f} ms (worst "
              f"{probe.worst * 1000:.1f} ms)", probe.worst < stall and probe.samples > 20,
              f"worst {probe.worst * 1000:.1f} ms")

        start = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        try:
            rc = d.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            rc = None
        took = time.monotonic() - start
        check(f"SIGTERM: exits 0 within 1 s (took {took:.2f} s)", rc == 0 and took < 1.0,
              f"rc={rc} took={took:.2f}s")
        check("SIGTERM: socket and lock file removed",
              not os.path.exists(d.socket) and not os.path.exists(d.socket + ".lock"))
        try:
            ev = mon.line()
            check("monitor: stopping event before shutdown", ev.get("event") == "stopping", ev)
        except (EOFError, OSError) as e:
            check("monitor: stopping event before shutdown", False, repr(e))
        mon.close()
        d.kill()
        log = d.logtext()
        check("daemon log has no sanitizer reports", "Sanitizer" not in log and
              "runtime error" not in log, log[-2000:])

        test_stale_socket_and_daemonise(workdir)
        test_socket_directory_and_links(workdir)
        test_notify(workdir)
        for extra in (test_admin_roles, test_secrets_protected, test_meshctl_timeout):
            try:
                extra()
            except Exception as e:  # one failure, not the end of the script
                check(f"{extra.__name__}: ran to the end", False, repr(e))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return finish()


def finish():
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
