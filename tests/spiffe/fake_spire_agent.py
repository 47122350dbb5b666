#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A fake SPIRE agent for tests: a real gRPC server (grpcio) serving the SPIFFE
Workload API (X.509 part) on a Unix socket, driven by the test.

The messages come from the repository's spiffe/workload.proto, compiled with
grpc_tools.protoc at run time into a temporary directory. The service has no
proto package, so the methods are /SpiffeWorkloadAPI/FetchX509SVID and
/SpiffeWorkloadAPI/FetchX509Bundles, both server streaming.

Like SPIRE's agent it rejects calls without the metadata header
`workload.spiffe.io: true` (InvalidArgument, "security header missing from
request"), answers PermissionDenied "no identity issued" while it has no SVID
for the workload, and on every stream sends the current state at once and
again after every change (push()).

    agent = FakeAgent()
    agent.set_svids([svid.workload_entry()])
    agent.start("/tmp/x/agent.sock")
    ...
    agent.set_svids([rotated.workload_entry()]); agent.push()
    agent.restart()           # stop, then start on the same path
    agent.stop()

Runs in-process: the gRPC server has its own thread pool, one thread per
open stream. Needs /usr/bin/python3 (Debian's python3-grpcio,
python3-grpc-tools). `fake_spire_agent.py --self-test` checks it with a
Python gRPC client; `fake_spire_agent.py --socket PATH` serves a fresh
trust domain until interrupted.
"""

import importlib
import os
import shutil
import sys
import tempfile
import threading
import time
from concurrent import futures

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO = os.path.normpath(os.path.join(HERE, "..", "..", "spiffe", "workload.proto"))
SERVICE = "SpiffeWorkloadAPI"
HEADER = "workload.spiffe.io"
HEADER_MISSING = "security header missing from request"
NO_IDENTITY = "no identity issued"

_proto_lock = threading.Lock()
_proto_modules = None


def proto_modules():
    """(workload_pb2, workload_pb2_grpc), compiled once per process from spiffe/workload.proto."""
    global _proto_modules
    with _proto_lock:
        if _proto_modules is not None:
            return _proto_modules
        from grpc_tools import protoc
        out = tempfile.mkdtemp(prefix="fake-spire-proto-")
        inc = os.path.join(os.path.dirname(protoc.__file__), "_proto")
        args = ["grpc_tools.protoc", f"-I{os.path.dirname(PROTO)}", f"--python_out={out}",
                f"--grpc_python_out={out}"]
        if os.path.isdir(inc):
            args.append(f"-I{inc}")
        rc = protoc.main(args + [PROTO])
        if rc != 0:
            raise RuntimeError(f"protoc failed on {PROTO} (exit {rc})")
        sys.path.insert(0, out)
        try:
            pb2 = importlib.import_module("workload_pb2")
            pb2_grpc = importlib.import_module("workload_pb2_grpc")
        finally:
            sys.path.remove(out)
            shutil.rmtree(out, ignore_errors=True)  # already imported
        _proto_modules = (pb2, pb2_grpc)
        return _proto_modules


def td_key(name):
    """Bundle map key: the trust domain's SPIFFE ID ("spiffe://td.test")."""
    return name if name.startswith("spiffe://") else "spiffe://" + name


def td_name(spiffe_id):
    return spiffe_id[len("spiffe://"):].split("/", 1)[0] if spiffe_id.startswith(
        "spiffe://") else spiffe_id


def _bundle_bytes(value):
    if isinstance(value, (list, tuple)):
        return b"".join(value)
    return bytes(value)


class _Stream:
    """One open server stream, as the handlers and the control methods see it."""

    def __init__(self, method, context):
        self.method = method
        self.context = context
        # What to do next, in order: ("state",) sends the state as it is then, ("message", m)
        # sends m (a malformed one), ("end", None) ends OK, ("end", (code, text)) with status.
        self.queue = [("state",)]
        self.ending = False  # an "end" is queued: later pushes and messages are not for it
        self.sent = 0        # messages sent so far


class FakeAgent:
    """The fake agent. Every public method is thread-safe."""

    def __init__(self, max_workers=64):
        self.pb2, self.pb2_grpc = proto_modules()
        self.max_workers = max_workers
        self.socket_path = None
        self._server = None
        self._cond = threading.Condition()
        self._svids = []          # [(spiffe_id, chain_der, key_der, bundle_der, hint)]
        self._federated = {}      # "spiffe://td" -> DER
        self._bundles = None      # for FetchX509Bundles; None: derived from SVIDs + federated
        self._streams = []
        self._fail_next = []      # [(method or None, code, message)]
        self.calls = {"FetchX509SVID": 0, "FetchX509Bundles": 0}
        self.rejected_no_header = 0
        self.last_had_header = None
        self.last_metadata = None
        self.sent = {"FetchX509SVID": 0, "FetchX509Bundles": 0}
        self.starts = 0
        self._stopping = False

    # -- state ------------------------------------------------------------------------------

    def set_svids(self, svids):
        """SVIDs as (spiffe_id, chain_der, key_der, bundle_der, hint) tuples, or objects with
        workload_entry(); the first is the default. Open streams see it after push()."""
        entries = [s.workload_entry() if hasattr(s, "workload_entry") else tuple(s)
                   for s in svids]
        for e in entries:
            if len(e) not in (4, 5):
                raise ValueError(f"SVID entry needs 4 or 5 fields: {e!r}")
        with self._cond:
            self._svids = [tuple(e) + ("",) * (5 - len(e)) for e in entries]

    def set_federated(self, bundles):
        """Federated bundles of FetchX509SVID: {trust domain or its SPIFFE ID: DER or [DER]}."""
        with self._cond:
            self._federated = {td_key(k): _bundle_bytes(v) for k, v in bundles.items()}

    def set_bundles(self, bundles):
        """Bundles of FetchX509Bundles: {trust domain or its SPIFFE ID: DER or [DER]}.
        None goes back to the default: each SVID's own bundle plus the federated ones."""
        with self._cond:
            self._bundles = None if bundles is None else {
                td_key(k): _bundle_bytes(v) for k, v in bundles.items()}

    def push(self):
        """Sends the current state on every open stream."""
        self._enqueue(("state",), None)

    def _enqueue(self, item, method):
        with self._cond:
            n = 0
            for s in self._streams:
                if (method is None or s.method == method) and not s.ending:
                    s.queue.append(item)
                    s.ending = item[0] == "end"
                    n += 1
            self._cond.notify_all()
            return n

    def update(self, svids=None, federated=None, bundles=None):
        """set_* for what is given, then push()."""
        if svids is not None:
            self.set_svids(svids)
        if federated is not None:
            self.set_federated(federated)
        if bundles is not None:
            self.set_bundles(bundles)
        self.push()

    # -- faults -----------------------------------------------------------------------------

    def fail_next(self, code, message="injected failure", method=None, count=1):
        """The next COUNT calls (of METHOD, "FetchX509SVID"/"FetchX509Bundles", or any) fail
        with CODE before any message: a Trailers-Only response."""
        with self._cond:
            self._fail_next.extend([(method, code, message)] * count)

    def clear_failures(self):
        with self._cond:
            self._fail_next.clear()

    def fail_streams(self, code, message="injected stream failure", method=None):
        """Ends the open streams (of METHOD, or all) with CODE after what they already sent."""
        self._enqueue(("end", (code, message)), method)

    def close_streams(self, method=None):
        """Ends the open streams (of METHOD, or all) with status OK."""
        self._enqueue(("end", None), method)

    def send_malformed(self, kind="empty_key", method="FetchX509SVID"):
        """Sends one malformed response on the open streams of METHOD; the state is unchanged
        (the next push() sends it again). Kinds for FetchX509SVID: "empty_key",
        "garbage_cert", "empty_id", "empty_bundle", "no_svids", "garbage_key"; for
        FetchX509Bundles: "no_bundles", "garbage_bundle". Returns how many streams got it."""
        return self._enqueue(("message", self._malformed(kind, method)), method)

    def _malformed(self, kind, method):
        pb2 = self.pb2
        with self._cond:
            svids = list(self._svids)
        if method == "FetchX509Bundles":
            if kind == "no_bundles":
                return pb2.X509BundlesResponse()
            if kind == "garbage_bundle":
                td = td_key(td_name(svids[0][0])) if svids else "spiffe://td.test"
                return pb2.X509BundlesResponse(bundles={td: b"\x30\x03garbage"})
            raise ValueError(f"unknown malformed kind {kind!r} for {method}")
        if not svids:
            raise ValueError("send_malformed needs an SVID to spoil: set_svids() first")
        sid, chain, key, bundle, hint = svids[0]
        spoiled = {
            "empty_key": dict(x509_svid_key=b""),
            "garbage_key": dict(x509_svid_key=b"\x30\x05nokey"),
            "garbage_cert": dict(x509_svid=b"\x30\x82\x01\x00 this is not a certificate"),
            "empty_id": dict(spiffe_id=""),
            "empty_bundle": dict(bundle=b""),
        }
        if kind == "no_svids":
            return pb2.X509SVIDResponse()
        if kind not in spoiled:
            raise ValueError(f"unknown malformed kind {kind!r}")
        fields = dict(spiffe_id=sid, x509_svid=chain, x509_svid_key=key, bundle=bundle,
                      hint=hint)
        fields.update(spoiled[kind])
        return pb2.X509SVIDResponse(svids=[pb2.X509SVID(**fields)],
                                    federated_bundles=dict(self._federated))

    # -- observation ------------------------------------------------------------------------

    def open_streams(self, method=None):
        with self._cond:
            return sum(1 for s in self._streams if method is None or s.method == method)

    def total_calls(self):
        with self._cond:
            return sum(self.calls.values())

    def wait_streams(self, n=1, method=None, timeout=5.0):
        """Waits until at least N streams (of METHOD) are open; True if they are."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if sum(1 for s in self._streams if method is None or s.method == method) >= n:
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))

    def wait_calls(self, n, method=None, timeout=5.0):
        """Waits until the call counter (of METHOD, or all) reaches N."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = self.calls[method] if method else sum(self.calls.values())
                if got >= n:
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))

    # -- server lifecycle -------------------------------------------------------------------

    def start(self, socket_path=None):
        """Serves on the Unix socket SOCKET_PATH (default: the last one)."""
        if self._server is not None:
            raise RuntimeError("already started")
        path = os.path.abspath(socket_path or self.socket_path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if os.path.exists(path):
            os.unlink(path)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=self.max_workers,
                                                        thread_name_prefix="fake-spire"),
                             maximum_concurrent_rpcs=None)
        handlers = {
            "FetchX509SVID": grpc.unary_stream_rpc_method_handler(
                self._fetch_x509_svid,
                request_deserializer=self.pb2.X509SVIDRequest.FromString,
                response_serializer=self.pb2.X509SVIDResponse.SerializeToString),
            "FetchX509Bundles": grpc.unary_stream_rpc_method_handler(
                self._fetch_x509_bundles,
                request_deserializer=self.pb2.X509BundlesRequest.FromString,
                response_serializer=self.pb2.X509BundlesResponse.SerializeToString),
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE,
                                                                              handlers),))
        if server.add_insecure_port("unix:" + path) == 0:
            raise RuntimeError(f"cannot listen on unix:{path}")
        server.start()
        with self._cond:
            self._stopping = False
        self._server = server
        self.socket_path = path
        self.starts += 1
        return path

    def stop(self, grace=None):
        """Stops serving: open streams end (the client sees Unavailable or Cancelled) and the
        socket file is removed, so a client that reconnects gets ENOENT / Unavailable."""
        server, self._server = self._server, None
        if server is None:
            return
        done = server.stop(grace)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        done.wait(5)
        with self._cond:
            deadline = time.monotonic() + 5
            while self._streams and time.monotonic() < deadline:
                self._cond.wait(0.05)
        if self.socket_path and os.path.exists(self.socket_path):
            try:
                os.unlink(self.socket_path)
            except OSError:
                pass

    def restart(self, down_for=0.0):
        """An agent restart: stop, stay down DOWN_FOR seconds, start on the same socket."""
        self.stop()
        if down_for:
            time.sleep(down_for)
        return self.start(self.socket_path)

    @property
    def running(self):
        return self._server is not None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- handlers ---------------------------------------------------------------------------

    def _admit(self, method, context):
        """Counts the call and applies the header check and injected failures. Returns the
        stream to serve, or aborts (an exception out of the handler) before any message."""
        md = {}
        for k, v in context.invocation_metadata() or ():
            md.setdefault(k, v)
        with self._cond:
            self.calls[method] += 1
            self.last_metadata = md
            has_header = md.get(HEADER) == "true"
            self.last_had_header = has_header
            failure = None
            if not has_header:
                self.rejected_no_header += 1
                failure = (grpc.StatusCode.INVALID_ARGUMENT, HEADER_MISSING)
            else:
                for i, (m, code, message) in enumerate(self._fail_next):
                    if m is None or m == method:
                        del self._fail_next[i]
                        failure = (code, message)
                        break
            if failure is None and not self._svids:
                failure = (grpc.StatusCode.PERMISSION_DENIED, NO_IDENTITY)
            self._cond.notify_all()
        if failure is not None:
            context.abort(*failure)
        stream = _Stream(method, context)
        context.add_callback(self._wake)
        with self._cond:
            self._streams.append(stream)
            self._cond.notify_all()
        return stream

    def _wake(self):
        with self._cond:
            self._cond.notify_all()

    def _serve(self, method, context, current):
        """The body of both streams: CURRENT() builds the state message (or None when the
        agent has no identity left)."""
        stream = self._admit(method, context)
        try:
            while True:
                with self._cond:
                    while not stream.queue and not self._stopping and context.is_active():
                        self._cond.wait(0.2)
                    if not context.is_active():
                        return
                    if self._stopping:  # the server is going away under the stream
                        item = ("end", (grpc.StatusCode.UNAVAILABLE, "agent stopping"))
                    else:
                        item = stream.queue.pop(0)
                if item[0] == "end":
                    if item[1] is None:
                        return
                    context.abort(*item[1])
                msg = current() if item[0] == "state" else item[1]
                if msg is None:  # SPIRE ends the stream when the workload loses its identity
                    context.abort(grpc.StatusCode.PERMISSION_DENIED, NO_IDENTITY)
                stream.sent += 1
                with self._cond:
                    self.sent[method] += 1
                yield msg
        finally:
            with self._cond:
                if stream in self._streams:
                    self._streams.remove(stream)
                self._cond.notify_all()

    def _svid_response(self):
        pb2 = self.pb2
        with self._cond:
            if not self._svids:
                return None
            return pb2.X509SVIDResponse(
                svids=[pb2.X509SVID(spiffe_id=i, x509_svid=c, x509_svid_key=k, bundle=b,
                                    hint=h) for i, c, k, b, h in self._svids],
                federated_bundles=dict(self._federated))

    def _bundles_response(self):
        with self._cond:
            if not self._svids:
                return None
            if self._bundles is not None:
                bundles = dict(self._bundles)
            else:
                bundles = {}
                for sid, _chain, _key, bundle, _hint in self._svids:
                    bundles.setdefault(td_key(td_name(sid)), bundle)
                bundles.update(self._federated)
        return self.pb2.X509BundlesResponse(bundles=bundles)

    def _fetch_x509_svid(self, request, context):
        return (yield from self._serve("FetchX509SVID", context, self._svid_response))

    def _fetch_x509_bundles(self, request, context):
        return (yield from self._serve("FetchX509Bundles", context, self._bundles_response))


# -- a client for the self-test and for tests that want to look at the agent directly -------

class Client:
    """A plain grpcio client of the Workload API, reading a stream in a background thread."""

    def __init__(self, socket_path):
        self.pb2, self.pb2_grpc = proto_modules()
        self.channel = grpc.insecure_channel("unix:" + socket_path)

    def stream(self, method="FetchX509SVID", header=True, timeout=None):
        req = (self.pb2.X509SVIDRequest() if method == "FetchX509SVID"
               else self.pb2.X509BundlesRequest())
        resp = (self.pb2.X509SVIDResponse if method == "FetchX509SVID"
                else self.pb2.X509BundlesResponse)
        call = self.channel.unary_stream(f"/{SERVICE}/{method}",
                                         request_serializer=type(req).SerializeToString,
                                         response_deserializer=resp.FromString)
        md = [(HEADER, "true")] if header else []
        return StreamReader(call(req, metadata=md, timeout=timeout))

    def close(self):
        self.channel.close()


class StreamReader:
    def __init__(self, call):
        self.call = call
        self.messages = []
        self.error = None
        self.done = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            for m in self.call:
                with self._cond:
                    self.messages.append(m)
                    self._cond.notify_all()
        except grpc.RpcError as e:
            self.error = e
        with self._cond:
            self.done = True
            self._cond.notify_all()

    def wait(self, n=None, done=False, timeout=5.0):
        """Waits for N messages in total, or (done=True) for the end of the stream."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not ((done and self.done) or (n is not None and len(self.messages) >= n)):
                if self.done and not done:
                    return False
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    @property
    def code(self):
        return self.error.code() if self.error is not None else (
            grpc.StatusCode.OK if self.done else None)

    def cancel(self):
        self.call.cancel()
        self._thread.join(5)


# -- a raw HTTP/2 client: sees the frames themselves (Trailers-Only or not) ------------------

def _hpack_literal(name, value):
    """One HPACK "literal header field without indexing, new name", no Huffman coding."""
    def string(b):
        assert len(b) < 127
        return bytes([len(b)]) + b
    return b"\x00" + string(name.encode()) + string(value.encode())


def raw_call(socket_path, method="FetchX509SVID", header=True, timeout=3.0, until_data=False):
    """One gRPC call spoken by hand over HTTP/2 on the agent's Unix socket. Returns the
    frames the server sent on the call's stream, [(type, flags, payload)], up to the one
    that ends the stream (or, with until_data, the first DATA frame). HEADERS is type 1,
    DATA type 0; END_STREAM is flag 0x1."""
    import socket
    import struct

    def frame(ftype, flags, stream, payload=b""):
        return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
            struct.pack(">I", stream) + payload

    headers = [(":method", "POST"), (":scheme", "http"), (":path", f"/{SERVICE}/{method}"),
               (":authority", "localhost"), ("content-type", "application/grpc"),
               ("te", "trailers")]
    if header:
        headers.append((HEADER, "true"))
    block = b"".join(_hpack_literal(n, v) for n, v in headers)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(socket_path)
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0) +
              frame(1, 0x4, 1, block) + frame(0, 0x1, 1, b"\x00\x00\x00\x00\x00"))
    buf, got = b"", []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            while len(buf) >= 9 and len(buf) >= 9 + int.from_bytes(buf[:3], "big"):
                n = int.from_bytes(buf[:3], "big")
                ftype, flags = buf[3], buf[4]
                stream = int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
                payload, buf = buf[9:9 + n], buf[9 + n:]
                if ftype == 4 and not flags & 0x1:
                    s.sendall(frame(4, 0x1, 0))  # ACK the server's SETTINGS
                if stream == 1 and ftype in (0, 1, 3):  # DATA, HEADERS, RST_STREAM
                    got.append((ftype, flags, payload))
                    if ftype == 3 or flags & 0x1 or (until_data and ftype == 0):
                        return got
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    except OSError:
        pass
    finally:
        s.close()
    return got


# -- self-test ------------------------------------------------------------------------------

def self_test():
    sys.path.insert(0, HERE)
    import certs

    results = {"passed": 0, "failed": 0}

    def check(name, ok, why=""):
        results["passed" if ok else "failed"] += 1
        print(f"PASS {name}" if ok else f"FAIL {name}: {why}", flush=True)
        return ok

    workdir = tempfile.mkdtemp(prefix="fake-spire-")
    path = os.path.join(workdir, "agent.sock")
    ca = certs.CA("td.test")
    other = certs.CA("other.test")
    a1 = ca.issue("node/a")
    a2 = ca.issue("node/a")
    agent = FakeAgent()
    agent.set_svids([a1.workload_entry(hint="a")])
    agent.set_federated({"other.test": other.bundle_der})
    agent.start(path)
    client = Client(path)
    pb2 = agent.pb2
    try:
        # Missing header.
        r = client.stream(header=False)
        r.wait(done=True)
        check("missing header: InvalidArgument with SPIRE's message",
              r.code == grpc.StatusCode.INVALID_ARGUMENT and r.error.details() == HEADER_MISSING
              and not r.messages, f"{r.code} {r.error and r.error.details()}")
        check("missing header: counted and last call flagged",
              agent.rejected_no_header == 1 and agent.last_had_header is False,
              f"{agent.rejected_no_header} {agent.last_had_header}")
        r = client.stream("FetchX509Bundles", header=False)
        r.wait(done=True)
        check("missing header on FetchX509Bundles: InvalidArgument",
              r.code == grpc.StatusCode.INVALID_ARGUMENT, r.code)

        # Initial state, then a push.
        s = client.stream()
        check("FetchX509SVID: current state at once", s.wait(1), s.error)
        m = s.messages[0] if s.messages else pb2.X509SVIDResponse()
        check("FetchX509SVID: SVID fields as set",
              len(m.svids) == 1 and m.svids[0].spiffe_id == "spiffe://td.test/node/a" and
              m.svids[0].x509_svid == a1.chain_der and m.svids[0].x509_svid_key == a1.key_der
              and m.svids[0].bundle == ca.bundle_der and m.svids[0].hint == "a", m)
        check("FetchX509SVID: federated bundles keyed by SPIFFE ID",
              dict(m.federated_bundles) == {"spiffe://other.test": other.bundle_der},
              list(m.federated_bundles))
        check("header call recorded", agent.last_had_header is True and
              agent.calls["FetchX509SVID"] == 2, agent.calls)
        b = client.stream("FetchX509Bundles")
        check("FetchX509Bundles: own and federated bundles", b.wait(1) and set(
            b.messages[0].bundles) == {"spiffe://td.test", "spiffe://other.test"},
            b.messages and list(b.messages[0].bundles))
        check("open stream count", agent.wait_streams(2) and agent.open_streams(
            "FetchX509SVID") == 1, agent.open_streams())
        time.sleep(0.3)
        check("no message without a change", len(s.messages) == 1, len(s.messages))
        agent.set_svids([a2.workload_entry()])
        agent.push()
        check("push: the rotated SVID on the open stream", s.wait(2) and
              s.messages[1].svids[0].x509_svid == a2.chain_der, len(s.messages))
        check("push: bundles stream resent too", b.wait(2), len(b.messages))

        agent.set_bundles({"td.test": [ca.bundle_der, other.bundle_der]})
        agent.push()
        s.wait(3)
        check("set_bundles: FetchX509Bundles sends the explicit map", b.wait(3) and dict(
            b.messages[2].bundles) == {"spiffe://td.test": ca.bundle_der + other.bundle_der},
            b.messages and b.messages[-1])
        agent.set_bundles(None)

        # Malformed responses.
        n = agent.send_malformed("empty_key")
        check("malformed: an SVID with an empty key", s.wait(4) and n == 1 and
              s.messages[3].svids[0].x509_svid_key == b"" and
              s.messages[3].svids[0].x509_svid == a2.chain_der, len(s.messages))
        agent.send_malformed("garbage_cert")
        check("malformed: garbage certificate bytes", s.wait(5) and
              s.messages[4].svids[0].x509_svid.startswith(b"\x30\x82\x01\x00 this"),
              len(s.messages))
        agent.send_malformed("garbage_bundle", method="FetchX509Bundles")
        check("malformed: garbage bundle on FetchX509Bundles", b.wait(4) and
              list(b.messages[3].bundles.values()) == [b"\x30\x03garbage"], len(b.messages))
        agent.push()
        check("after malformed: push sends the good state again", s.wait(6) and
              s.messages[5].svids[0].x509_svid_key == a2.key_der, len(s.messages))

        # Stream endings.
        agent.fail_streams(grpc.StatusCode.UNAVAILABLE, "going away", method="FetchX509SVID")
        check("fail_streams: open stream ends with the status", s.wait(done=True) and
              s.code == grpc.StatusCode.UNAVAILABLE and s.error.details() == "going away",
              s.code)
        check("fail_streams: other method's stream stays open", not b.done and
              agent.wait_streams(1, "FetchX509Bundles"), b.code)
        agent.close_streams()
        check("close_streams: stream ends OK", b.wait(done=True) and b.code == grpc.StatusCode.OK,
              b.code)
        check("closed streams are no longer counted", agent.wait_streams(0) and
              agent.open_streams() == 0, agent.open_streams())

        # fail_next: Trailers-Only before any message, then normal again.
        agent.fail_next(grpc.StatusCode.PERMISSION_DENIED, "no entry for you")
        r = client.stream()
        r.wait(done=True)
        check("fail_next: the next call fails before any message",
              r.code == grpc.StatusCode.PERMISSION_DENIED and not r.messages and
              r.error.details() == "no entry for you", r.code)
        r = client.stream()
        check("fail_next: only once", r.wait(1), r.code)
        r.cancel()
        agent.fail_next(grpc.StatusCode.UNAVAILABLE, "bundles down", method="FetchX509Bundles")
        r = client.stream()
        check("fail_next(method): other methods unaffected", r.wait(1), r.code)
        r.cancel()
        r = client.stream("FetchX509Bundles")
        r.wait(done=True)
        check("fail_next(method): that method fails", r.code == grpc.StatusCode.UNAVAILABLE,
              r.code)
        check("cancelled streams leave", agent.wait_streams(0) and agent.open_streams() == 0,
              agent.open_streams())

        # No identity: PermissionDenied like SPIRE, for new calls and open streams.
        s = client.stream()
        s.wait(1)
        agent.set_svids([])
        r = client.stream()
        r.wait(done=True)
        check("no SVIDs: new call gets PermissionDenied",
              r.code == grpc.StatusCode.PERMISSION_DENIED and r.error.details() == NO_IDENTITY,
              r.code)
        agent.push()
        check("no SVIDs: open stream ends with PermissionDenied", s.wait(done=True) and
              s.code == grpc.StatusCode.PERMISSION_DENIED, s.code)
        agent.set_svids([a2.workload_entry(), ca.issue("other/b").workload_entry(hint="b")])

        # Restart: open streams break, the socket comes back.
        s = client.stream()
        s.wait(1)
        starts = agent.starts
        agent.stop()
        check("stop: open stream ends", s.wait(done=True) and s.code in (
            grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED), s.code)
        check("stop: socket file removed", not os.path.exists(path))
        r = client.stream(timeout=1)
        r.wait(done=True)
        check("stopped: calls fail with Unavailable", r.code == grpc.StatusCode.UNAVAILABLE,
              r.code)
        agent.start()
        check("restart: same socket path", os.path.exists(path) and agent.starts == starts + 1)
        client.close()
        client = Client(path)
        r = client.stream()
        check("restart: serves two SVIDs, default first", r.wait(1) and [
            x.spiffe_id for x in r.messages[0].svids] == ["spiffe://td.test/node/a",
                                                          "spiffe://td.test/other/b"],
            r.code)
        r.cancel()
        calls = agent.total_calls()
        agent.restart()
        client.close()
        client = Client(path)
        r = client.stream()
        check("restart(): serves again", r.wait(1) and agent.total_calls() == calls + 1, r.code)
        r.cancel()

        # A raw client that speaks gRPC by hand over HTTP/2 would also see Trailers-Only;
        # grpcio's own client tells it apart only by the missing initial metadata.
        agent.fail_next(grpc.StatusCode.INTERNAL, "boom")
        call = client.channel.unary_stream(
            f"/{SERVICE}/FetchX509SVID",
            request_serializer=pb2.X509SVIDRequest.SerializeToString,
            response_deserializer=pb2.X509SVIDResponse.FromString)(
                pb2.X509SVIDRequest(), metadata=[(HEADER, "true")])
        try:
            list(call)
            got = None
        except grpc.RpcError as e:
            got = e.code()
        check("fail_next: no initial metadata before the status (Trailers-Only)",
              got == grpc.StatusCode.INTERNAL and not call.initial_metadata(),
              f"{got} {call.initial_metadata()}")
        agent.fail_next(grpc.StatusCode.UNAVAILABLE, "raw")
        frames = raw_call(path)
        check("fail_next: Trailers-Only on the wire (one HEADERS frame with END_STREAM)",
              len(frames) == 1 and frames[0][0] == 1 and frames[0][1] & 0x1, frames)
        frames = raw_call(path, header=False)
        check("raw client without the header: Trailers-Only rejection",
              len(frames) == 1 and frames[0][0] == 1 and frames[0][1] & 0x1 and
              agent.last_had_header is False, frames)
        frames = raw_call(path, method="FetchX509Bundles", until_data=True)
        check("raw client with the header: HEADERS then DATA (the state)",
              len(frames) >= 2 and frames[0][0] == 1 and not frames[0][1] & 0x1 and
              frames[1][0] == 0 and agent.last_had_header is True, frames)
    finally:
        client.close()
        agent.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"{results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


def serve(path, trust_domain):
    sys.path.insert(0, HERE)
    import certs
    ca = certs.CA(trust_domain)
    svid = ca.issue("node/standalone")
    agent = FakeAgent()
    agent.set_svids([svid.workload_entry()])
    agent.start(path)
    print(f"serving {svid.spiffe_id} on unix://{agent.socket_path}; Ctrl-C stops", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        agent.stop()
    return 0


def main(argv):
    import argparse
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--self-test", action="store_true", help="check the fake agent, PASS/FAIL")
    p.add_argument("--socket", help="serve on this Unix socket until interrupted")
    p.add_argument("--trust-domain", default="td.test")
    args = p.parse_args(argv)
    if args.self_test:
        return self_test()
    if args.socket:
        return serve(args.socket, args.trust_domain)
    p.print_usage()
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
