// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "identity.h"
#include "svid.h"

// A client of the SPIFFE Workload API (X.509 profile): gRPC over HTTP/2 with
// prior knowledge, on a Unix or TCP socket, driven by the caller's epoll loop.

namespace spiffe
{

// Where the Workload API listens (SPIFFE_ENDPOINT_SOCKET).
struct Endpoint {
    enum class Kind { Unix, Tcp };
    Kind kind;
    std::string address; // absolute socket path, or IP literal (IPv6 without brackets)
    std::uint16_t port = 0;
    std::string uri; // as given
};

// "unix:///abs/path" or "tcp://IP:port" (IPv4 or [IPv6] literal, no host
// names). Anything else is an error whose text names the rule broken.
std::variant<Endpoint, std::string> parseEndpoint(std::string_view text);

// A Unix socket, or TCP to a loopback address (127.0.0.0/8, ::1 or
// ::ffff:127.0.0.0/104): the Workload API sends private keys in clear text, so
// any other address is remote.
bool endpointIsLocal(const Endpoint &endpoint);
// Why a remote endpoint is refused unless spiffe.allow_remote_endpoint is set.
std::string remoteEndpointRefusal(const Endpoint &endpoint);

// "ok", "cancelled", ... "unauthenticated" for gRPC status codes 0-16;
// "unknown" for any other number.
const char *grpcCodeName(int code);

// Decodes one X509SVIDResponse (protobuf bytes, without gRPC framing): every
// SVID's chain, PKCS#8 key (matching the leaf), leaf rules and spiffe_id
// field (equal to the leaf's URI SAN), its trust domain's bundle, and the
// federated bundles. Any missing or invalid part rejects the whole message.
std::variant<X509Context, std::string> parseX509SvidResponse(std::span<const std::uint8_t> message);
// Decodes one X509BundlesResponse; no bundles at all is an error.
std::variant<BundleSet, std::string>
parseX509BundlesResponse(std::span<const std::uint8_t> message);

struct WorkloadError {
    // gRPC status code; connection failure, EOF, no socket, GOAWAY -> 14
    // (unavailable); HTTP/2 or framing protocol errors -> 13 (internal).
    int code;
    // Metric label: grpcCodeName(code), or "malformed_response" for a message
    // that parse*Response rejected.
    std::string label;
    // Human readable; includes grpc-message when there was one.
    std::string message;
    // False only for invalid_argument (3) and unimplemented (12).
    bool retry;
};

// One connection to the Workload API carrying the two streaming RPCs
// FetchX509SVID and FetchX509Bundles. Never blocks: the owner registers fd()
// with events() in its epoll loop (level-triggered) and calls handle(); after
// connect() and after every handle() it re-reads fd() and events(), which may
// have changed. No HTTP/2 PINGs are ever sent (SPIRE answers frequent ones
// with GOAWAY too_many_pings); the server's PINGs are acknowledged.
class WorkloadClient
{
public:
    struct Handlers {
        // Each valid FetchX509SVID response.
        std::function<void(X509Context)> x509Context;
        // Each valid FetchX509Bundles response.
        std::function<void(BundleSet)> bundles;
        // A response was rejected (label "malformed_response"), or
        // FetchX509Bundles is unimplemented by an older agent (code 12); the
        // connection stays open.
        std::function<void(const WorkloadError &)> rejected;
        // The connection or one of its streams ended; the client is idle
        // afterwards (fd() == -1). Called at most once per connect().
        std::function<void(const WorkloadError &)> closed;
        // For a Unix endpoint: called with the connected socket before a
        // byte is sent, to judge who serves it (SO_PEERCRED). A non-empty
        // answer refuses the server: connect() closes the socket and
        // returns that answer.
        std::function<std::string(int fd)> checkServer;
    };

    WorkloadClient(Endpoint endpoint, Handlers handlers);
    ~WorkloadClient();
    WorkloadClient(const WorkloadClient &) = delete;
    WorkloadClient &operator=(const WorkloadClient &) = delete;

    // Starts a non-blocking connect, the HTTP/2 preface and both streams
    // (closing any previous connection first, without a handler call).
    // Returns "" or why it failed, e.g. "no such socket /run/x: No such file
    // or directory"; handlers are not called on error and the client stays idle.
    std::string connect();
    // The socket, or -1 when idle.
    int fd() const;
    // EPOLLIN, plus EPOLLOUT while connecting or while bytes wait to be sent;
    // 0 when idle.
    std::uint32_t events() const;
    // Reads, writes and dispatches handlers. Handlers run after the
    // connection's own work is done, so a handler may call close() or
    // connect(); the rest of that round's events are then dropped. A handler
    // must not destroy the client. Exceptions thrown by handlers are caught
    // (see lastHandlerError()). When the connection failed, the messages it
    // delivered are handled while its socket is still open; it is closed
    // just before `closed` runs.
    void handle(std::uint32_t events);
    // Idle at once; no handler is called.
    void close();
    // True once the server's SETTINGS frame arrived on this connection.
    bool connected() const;

    const Endpoint &endpoint() const { return endpoint_; }
    // What the last handler exception said ("" if none was thrown).
    const std::string &lastHandlerError() const { return lastHandlerError_; }

private:
    struct Connection;

    void teardown();
    template <typename Handler, typename Arg> void invoke(const Handler &handler, Arg &&arg);

    Endpoint endpoint_;
    Handlers handlers_;
    std::unique_ptr<Connection> conn_;
    std::uint64_t generation_ = 0; // bumped by connect() and close(), for handle()'s dispatch
    std::string lastHandlerError_;
};

// Delays between reconnection attempts: capped exponential backoff with
// decorrelated jitter, never below `initial`/2 nor above `max`.
class Backoff
{
public:
    Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max);
    std::chrono::milliseconds next();
    // After a good message: the next delay starts from `initial` again.
    void reset();

private:
    std::chrono::milliseconds initial_;
    std::chrono::milliseconds max_;
    std::chrono::milliseconds last_{0};
    std::mt19937_64 random_;
};

} // namespace spiffe
