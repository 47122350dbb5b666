// SPDX-License-Identifier: GPL-2.0-or-later
// The Workload API client's whole receive path, HTTP/2 included: the input is
// what a SPIRE agent sends (its SETTINGS, then HEADERS, DATA and trailers on
// the client's two streams, or anything else), served over a real Unix socket
// to a real WorkloadClient, which runs nghttp2 with meshd's callbacks, the
// gRPC framing, protobuf and the X.509-SVID checks. Whatever the agent sends,
// the client must end idle or connected, never crash or hang.
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "workload.h"

namespace
{

struct Listener {
    std::string path;
    int fd = -1;
    Listener()
    {
        char dir[] = "/tmp/meshd-fuzz-http2.XXXXXX";
        if (!mkdtemp(dir))
            std::abort();
        path = std::string(dir) + "/agent.sock";
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
        if (fd < 0 || bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) < 0 ||
            listen(fd, 4) < 0)
            std::abort();
        dirPath = dir;
        std::atexit([] {
            unlink((dirPath + "/agent.sock").c_str());
            rmdir(dirPath.c_str());
        });
    }
    static inline std::string dirPath;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    static Listener listener;
    spiffe::Endpoint endpoint{spiffe::Endpoint::Kind::Unix, listener.path, 0,
                              "unix://" + listener.path};
    // FUZZ_HTTP2_VERBOSE=1 says what the client made of an input (to check
    // that a seed gets as far as an SVID).
    static const bool verbose = std::getenv("FUZZ_HTTP2_VERBOSE") != nullptr;
    spiffe::WorkloadClient::Handlers handlers;
    handlers.x509Context = [](spiffe::X509Context) {
        if (verbose)
            std::fprintf(stderr, "fuzz_http2: an X.509 context\n");
    };
    handlers.bundles = [](spiffe::BundleSet) {
        if (verbose)
            std::fprintf(stderr, "fuzz_http2: a bundle set\n");
    };
    handlers.rejected = [](const spiffe::WorkloadError &e) {
        if (verbose)
            std::fprintf(stderr, "fuzz_http2: rejected: %s\n", e.message.c_str());
    };
    handlers.closed = [](const spiffe::WorkloadError &e) {
        if (verbose)
            std::fprintf(stderr, "fuzz_http2: closed: %s\n", e.message.c_str());
    };
    spiffe::WorkloadClient client(endpoint, handlers);
    if (!client.connect().empty())
        return 0;
    int server = accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (server < 0)
        std::abort();
    // The agent's bytes in pieces whose size the first byte picks, so that
    // frames arrive split across reads as they may from a real socket.
    std::size_t piece = size ? 64 + std::size_t(data[0]) * 64 : 1;
    std::size_t at = size ? 1 : 0;
    if (at == size)
        shutdown(server, SHUT_WR);
    std::uint8_t sink[65536];
    for (int round = 0; round < 256 && client.fd() >= 0; ++round) {
        if (at < size) {
            std::size_t n = std::min(piece, size - at);
            ssize_t sent = send(server, data + at, n, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (sent > 0)
                at += std::size_t(sent);
            else if (sent < 0 && errno != EAGAIN)
                at = size;
            if (at == size)
                shutdown(server, SHUT_WR); // the agent closes: the client sees EOF
        }
        while (recv(server, sink, sizeof(sink), MSG_DONTWAIT) > 0) {
        }
        client.handle(EPOLLIN | (client.events() & EPOLLOUT));
    }
    client.close();
    ::close(server);
    return 0;
}
