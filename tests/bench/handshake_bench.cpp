// SPDX-License-Identifier: GPL-2.0-or-later
// handshake_bench: mTLS handshake latency over TCP on 127.0.0.1, for tests/bench/handshake.
//   handshake_bench meshd --dir DIR [-n N] [--warmup W]
//       a TlsSession server (its own thread) and a TlsSession client, a new
//       TCP connection per handshake; times from connect() to the client's
//       Done and to both sides' Done.
//   handshake_bench openssl --dir DIR --port PORT [-n N] [--warmup W]
//       a plain OpenSSL client (OpenSSL's own chain verification against
//       ca.pem, no SPIFFE checks) against `openssl s_server` on PORT; times
//       from connect() to the client's handshake completing.
//   handshake_bench daemon --dir DIR --port PORT [-n N] [--warmup W]
//       a TlsSession client against a running meshd's peer channel
//       (spiffe.listen on PORT); times from connect() until meshd's hello
//       frame arrived, which meshd sends once it has accepted the client's
//       SVID: the daemon's whole mutual handshake.
// DIR holds ca.pem, a.pem, a.key (the client) and b.pem, b.key (the server;
// not needed by daemon mode).
// Output: one line per series, "<series> <n> <p50 us> <p95 us> <mean us>",
// then "protocol <version>".
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "tls.h"

using namespace spiffe;
using Clock = std::chrono::steady_clock;
using Status = TlsSession::Status;

namespace
{

[[noreturn]] void die(const std::string &message)
{
    std::fprintf(stderr, "handshake_bench: %s\n", message.c_str());
    std::exit(1);
}

struct Options {
    std::string mode, dir;
    int port = 0;
    int n = 1000;
    int warmup = 50;
};

X509Ptr loadCert(const std::string &path)
{
    FILE *f = std::fopen(path.c_str(), "r");
    if (f == nullptr)
        die("cannot open " + path);
    X509Ptr cert(PEM_read_X509(f, nullptr, nullptr, nullptr));
    std::fclose(f);
    if (!cert)
        die("no PEM certificate in " + path);
    return cert;
}

PrivateKey loadKey(const std::string &path)
{
    FILE *f = std::fopen(path.c_str(), "r");
    if (f == nullptr)
        die("cannot open " + path);
    PrivateKey key(PEM_read_PrivateKey(f, nullptr, nullptr, nullptr));
    std::fclose(f);
    if (!key)
        die("no PEM private key in " + path);
    return key;
}

std::shared_ptr<const Svid> loadSvid(const std::string &dir, const std::string &name)
{
    auto svid = std::make_shared<Svid>();
    svid->chain.push_back(loadCert(dir + "/" + name + ".pem"));
    svid->key = loadKey(dir + "/" + name + ".key");
    auto id = checkLeaf(svid->chain.front().get());
    if (auto *err = std::get_if<SvidError>(&id))
        die(name + ".pem is not an SVID: " + err->message);
    svid->id = std::get<SpiffeId>(id);
    return svid;
}

std::shared_ptr<const TlsContext> contextOf(std::shared_ptr<const Svid> svid,
                                            std::shared_ptr<const BundleSet> bundles,
                                            Authorizer authorizer)
{
    auto created = TlsContext::create(std::move(svid), std::move(bundles), std::move(authorizer));
    if (auto *err = std::get_if<std::string>(&created))
        die(*err);
    return std::get<std::shared_ptr<const TlsContext>>(created);
}

void setNonBlocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        die(std::string("fcntl: ") + std::strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

void waitFor(int fd, short events)
{
    pollfd p{fd, events, 0};
    if (poll(&p, 1, 5000) <= 0)
        die("timed out waiting on a socket");
}

// A non-blocking TCP connection to 127.0.0.1:port, started (not necessarily established).
int connectTo(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die(std::string("socket: ") + std::strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) != 0 && errno != EINPROGRESS)
        die(std::string("connect: ") + std::strerror(errno));
    return fd;
}

// Drives a TlsSession handshake with poll() until Done; dies on Failed.
void handshake(TlsSession &session, int fd)
{
    for (;;) {
        Status s = session.handshake();
        if (s == Status::Done)
            return;
        if (s == Status::Failed)
            die(std::string(session.server() ? "server" : "client") + " handshake failed (" +
                peerVerdictName(session.verdict()) + "): " + session.error());
        waitFor(fd, s == Status::WantWrite ? POLLOUT : POLLIN);
    }
}

struct Series {
    std::vector<double> us;
    void add(Clock::duration d)
    {
        us.push_back(std::chrono::duration<double, std::micro>(d).count());
    }
    void print(const char *name)
    {
        std::sort(us.begin(), us.end());
        auto rank = [&](double p) {
            std::size_t i = static_cast<std::size_t>(p * static_cast<double>(us.size()) + 0.999999);
            return us[std::min(us.size(), std::max<std::size_t>(i, 1)) - 1];
        };
        double sum = 0;
        for (double v : us)
            sum += v;
        std::printf("%s %zu %.1f %.1f %.1f\n", name, us.size(), rank(0.50), rank(0.95),
                    sum / static_cast<double>(us.size()));
    }
};

// The server's side of one handshake, reported to the client's thread.
struct ServerDone {
    std::mutex lock;
    std::condition_variable changed;
    long count = 0;
    Clock::time_point at;
};

int runMeshd(const Options &o)
{
    auto bundles = std::make_shared<BundleSet>();
    (*bundles)["bench.test"].push_back(loadCert(o.dir + "/ca.pem"));
    auto serverContext = contextOf(loadSvid(o.dir, "b"), bundles, authorizeMemberOf("bench.test"));
    auto clientContext = contextOf(loadSvid(o.dir, "a"), bundles, authorizeMemberOf("bench.test"));
    auto expected = parseId("spiffe://bench.test/node/b");
    Authorizer expectB = authorizeId(std::get<SpiffeId>(expected));

    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (listener < 0 || bind(listener, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) != 0 ||
        listen(listener, 16) != 0 ||
        getsockname(listener, reinterpret_cast<sockaddr *>(&addr), &len) != 0)
        die(std::string("listen on 127.0.0.1: ") + std::strerror(errno));
    int port = ntohs(addr.sin_port);

    int total = o.warmup + o.n;
    ServerDone done;
    std::thread server([&] {
        std::vector<std::uint8_t> in;
        for (int i = 0; i < total; i++) {
            int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0)
                die(std::string("accept: ") + std::strerror(errno));
            setNonBlocking(fd);
            {
                TlsSession session(serverContext, fd, true);
                handshake(session, fd);
                {
                    std::lock_guard guard(done.lock);
                    done.at = Clock::now();
                    done.count++;
                }
                done.changed.notify_one();
                // Until the client's close_notify or EOF.
                for (;;) {
                    Status s = session.read(in);
                    if (s == Status::Closed || s == Status::Failed)
                        break;
                    waitFor(fd, s == Status::WantWrite ? POLLOUT : POLLIN);
                }
            }
            close(fd);
        }
    });

    Series clientDone, bothDone;
    std::string protocol;
    for (int i = 0; i < total; i++) {
        Clock::time_point start = Clock::now();
        int fd = connectTo(port);
        Clock::time_point clientAt, serverAt;
        {
            TlsSession session(clientContext, fd, false, expectB);
            handshake(session, fd);
            clientAt = Clock::now();
            {
                std::unique_lock guard(done.lock);
                done.changed.wait(guard, [&] { return done.count > i; });
                serverAt = done.at;
            }
            protocol = session.protocol();
            session.shutdown();
        }
        close(fd);
        if (i >= o.warmup) {
            clientDone.add(clientAt - start);
            bothDone.add(std::max(clientAt, serverAt) - start);
        }
    }
    server.join();
    close(listener);
    clientDone.print("meshd_client_done");
    bothDone.print("meshd_both_done");
    std::printf("protocol %s\n", protocol.c_str());
    return 0;
}

int runDaemon(const Options &o)
{
    auto client = loadSvid(o.dir, "a");
    auto bundles = std::make_shared<BundleSet>();
    (*bundles)[client->id.trustDomain].push_back(loadCert(o.dir + "/ca.pem"));
    auto context = contextOf(client, bundles, authorizeMemberOf(client->id.trustDomain));

    // A hello frame as meshd's peer channel expects it (agent/peer_frame.h).
    const std::string payload =
        R"({"protocol":1,"node":"bench","version":"bench","capabilities":[]})";
    std::vector<std::uint8_t> hello = {1, 1, 0, 0, 0, 0, 0, static_cast<std::uint8_t>(payload.size())};
    hello.insert(hello.end(), payload.begin(), payload.end());

    Series helloSeries;
    std::string protocol;
    int total = o.warmup + o.n;
    std::vector<std::uint8_t> in;
    for (int i = 0; i < total; i++) {
        Clock::time_point start = Clock::now();
        int fd = connectTo(o.port);
        {
            TlsSession session(context, fd, false);
            handshake(session, fd);
            // Our hello, so that meshd counts the handshake as ok.
            std::size_t sent = 0;
            while (sent < hello.size()) {
                std::size_t n = 0;
                Status s = session.write(std::span(hello).subspan(sent), n);
                sent += n;
                if (s == Status::Failed || s == Status::Closed)
                    die("cannot send the hello: " + session.error());
                if (sent < hello.size())
                    waitFor(fd, POLLOUT);
            }
            // meshd's hello: an 8-byte header (version 1, type 1, length) and its payload.
            in.clear();
            for (;;) {
                Status s = session.read(in);
                if (in.size() >= 8) {
                    if (in[0] != 1 || in[1] != 1)
                        die("the first frame from meshd is not a hello");
                    std::size_t length = (std::size_t(in[4]) << 24) | (std::size_t(in[5]) << 16) |
                                         (std::size_t(in[6]) << 8) | in[7];
                    if (in.size() >= 8 + length)
                        break;
                }
                if (s == Status::Closed || s == Status::Failed)
                    die("meshd closed the connection before its hello: " + session.error());
                waitFor(fd, s == Status::WantWrite ? POLLOUT : POLLIN);
            }
            if (i >= o.warmup)
                helloSeries.add(Clock::now() - start);
            protocol = session.protocol();
            session.shutdown();
        }
        close(fd);
    }
    helloSeries.print("meshd_daemon_hello");
    std::printf("protocol %s\n", protocol.c_str());
    return 0;
}

// OpenSSL's own client-side verification: the CA file as trust store, no SPIFFE checks.
int runOpenssl(const Options &o)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == nullptr || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_use_certificate_file(ctx, (o.dir + "/a.pem").c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, (o.dir + "/a.key").c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_load_verify_locations(ctx, (o.dir + "/ca.pem").c_str(), nullptr) != 1)
        die("cannot set up the OpenSSL client");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);

    Series clientDone;
    std::string protocol;
    int total = o.warmup + o.n;
    for (int i = 0; i < total; i++) {
        Clock::time_point start = Clock::now();
        int fd = connectTo(o.port);
        SSL *ssl = SSL_new(ctx);
        if (ssl == nullptr || SSL_set_fd(ssl, fd) != 1)
            die("SSL_new");
        for (;;) {
            int ret = SSL_connect(ssl);
            if (ret == 1)
                break;
            int err = SSL_get_error(ssl, ret);
            if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
                char buf[256];
                ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
                die(std::string("OpenSSL client handshake failed: ") + buf);
            }
            waitFor(fd, err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN);
        }
        Clock::time_point clientAt = Clock::now();
        protocol = SSL_get_version(ssl);
        SSL_shutdown(ssl);
        SSL_free(ssl);
        ERR_clear_error();
        close(fd);
        if (i >= o.warmup) {
            clientDone.add(clientAt - start);
        }
    }
    SSL_CTX_free(ctx);
    clientDone.print("openssl_client_done");
    std::printf("protocol %s\n", protocol.c_str());
    return 0;
}

} // namespace

int main(int argc, char **argv)
{
    Options o;
    if (argc < 2)
        die("usage: handshake_bench meshd|openssl|daemon --dir DIR [--port PORT] [-n N] [--warmup W]");
    o.mode = argv[1];
    for (int i = 2; i < argc; i++) {
        std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc)
                die(arg + " needs a value");
            return argv[++i];
        };
        if (arg == "--dir")
            o.dir = value();
        else if (arg == "--port")
            o.port = std::stoi(value());
        else if (arg == "-n")
            o.n = std::stoi(value());
        else if (arg == "--warmup")
            o.warmup = std::stoi(value());
        else
            die("unknown argument " + arg);
    }
    if (o.dir.empty() || o.n < 1 || o.warmup < 0)
        die("--dir and a positive -n are needed");
    if (o.mode == "meshd")
        return runMeshd(o);
    if (o.mode == "daemon") {
        if (o.port <= 0)
            die("daemon mode needs --port");
        return runDaemon(o);
    }
    if (o.mode == "openssl") {
        if (o.port <= 0)
            die("openssl mode needs --port");
        return runOpenssl(o);
    }
    die("unknown mode " + o.mode);
}
