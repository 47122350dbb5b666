// SPDX-License-Identifier: GPL-2.0-or-later
// Endpoint parsing, gRPC status names and the reconnection backoff.
#include "workload.h"

#include <algorithm>
#include <charconv>

#include <arpa/inet.h>
#include <sys/un.h>

namespace spiffe
{

namespace
{

// The rules of SPIFFE_ENDPOINT_SOCKET (SPIFFE Workload Endpoint, section 4).
std::variant<Endpoint, std::string> parseUnix(std::string_view text, std::string_view rest)
{
    if (!rest.starts_with("//"))
        return "a unix endpoint must be unix:///absolute/path (unix:path and relative paths "
               "are not allowed): " +
               std::string(text);
    rest.remove_prefix(2);
    if (!rest.starts_with('/'))
        return "a unix endpoint must not name a host (unix:///path, with an empty authority): " +
               std::string(text);
    if (rest == "/" || rest.ends_with('/'))
        return "a unix endpoint must name a socket, not a directory: " + std::string(text);
    if (rest.size() >= sizeof(sockaddr_un::sun_path))
        return "the socket path of " + std::string(text) + " is longer than " +
               std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes";
    Endpoint endpoint{Endpoint::Kind::Unix, std::string(rest), 0, std::string(text)};
    return endpoint;
}

std::variant<Endpoint, std::string> parseTcp(std::string_view text, std::string_view rest)
{
    if (!rest.starts_with("//"))
        return "a tcp endpoint must be tcp://IP:port: " + std::string(text);
    rest.remove_prefix(2);
    if (rest.find('/') != std::string_view::npos)
        return "a tcp endpoint must not have a path: " + std::string(text);

    std::string host;
    std::string_view port;
    bool v6 = rest.starts_with('[');
    if (v6) {
        std::size_t close = rest.find(']');
        if (close == std::string_view::npos)
            return "a tcp endpoint's IPv6 address lacks its closing ']': " + std::string(text);
        host = rest.substr(1, close - 1);
        std::string_view after = rest.substr(close + 1);
        if (!after.starts_with(':'))
            return "a tcp endpoint must have a port (tcp://[IPv6]:port): " + std::string(text);
        port = after.substr(1);
    } else {
        std::size_t colon = rest.rfind(':');
        if (colon == std::string_view::npos)
            return "a tcp endpoint must have a port (tcp://IP:port): " + std::string(text);
        host = rest.substr(0, colon);
        port = rest.substr(colon + 1);
    }
    if (host.empty())
        return "a tcp endpoint must have an IP address: " + std::string(text);

    unsigned char buf[sizeof(in6_addr)];
    if (v6 ? inet_pton(AF_INET6, host.c_str(), buf) != 1
           : inet_pton(AF_INET, host.c_str(), buf) != 1)
        return std::string("a tcp endpoint's host must be an ") +
               (v6 ? "IPv6 address in brackets" : "IPv4 address or [IPv6] address") +
               " (host names are not allowed): " + std::string(text);

    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return "a tcp endpoint's port must be a decimal number: " + std::string(text);
    if (value == 0 || value > 65535)
        return "a tcp endpoint's port must be 1-65535: " + std::string(text);
    Endpoint endpoint{Endpoint::Kind::Tcp, std::move(host), static_cast<std::uint16_t>(value),
                      std::string(text)};
    return endpoint;
}

} // namespace

std::variant<Endpoint, std::string> parseEndpoint(std::string_view text)
{
    if (text.empty())
        return std::string("the endpoint is empty (expected unix:///path or tcp://IP:port)");
    if (text.find('\0') != std::string_view::npos)
        return std::string("the endpoint contains a NUL byte");
    if (text.find('?') != std::string_view::npos)
        return "an endpoint must not have a query: " + std::string(text);
    if (text.find('#') != std::string_view::npos)
        return "an endpoint must not have a fragment: " + std::string(text);

    std::size_t colon = text.find(':');
    std::string_view scheme = colon == std::string_view::npos ? "" : text.substr(0, colon);
    std::string_view rest = colon == std::string_view::npos ? "" : text.substr(colon + 1);
    if (scheme != "unix" && scheme != "tcp")
        return "an endpoint's scheme must be unix or tcp (unix:///path or tcp://IP:port): " +
               std::string(text);

    // User info sits before '@' in the authority; neither form allows it.
    std::string_view authority = rest.starts_with("//") ? rest.substr(2) : std::string_view{};
    authority = authority.substr(0, authority.find('/'));
    if (authority.find('@') != std::string_view::npos)
        return "an endpoint must not have user info: " + std::string(text);

    if (scheme == "unix")
        return parseUnix(text, rest);
    return parseTcp(text, rest);
}

bool endpointIsLocal(const Endpoint &endpoint)
{
    if (endpoint.kind == Endpoint::Kind::Unix)
        return true;
    in_addr v4{};
    if (inet_pton(AF_INET, endpoint.address.c_str(), &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    in6_addr v6{};
    if (inet_pton(AF_INET6, endpoint.address.c_str(), &v6) != 1)
        return false;
    if (IN6_IS_ADDR_LOOPBACK(&v6))
        return true;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
}

std::string remoteEndpointRefusal(const Endpoint &endpoint)
{
    return endpoint.uri + " is not on this host (tcp:// must be 127.0.0.0/8 or ::1): the "
                          "Workload API hands out private keys in clear text; set "
                          "spiffe.allow_remote_endpoint to true to use it anyway";
}

const char *grpcCodeName(int code)
{
    static constexpr const char *names[] = {
        "ok",
        "cancelled",
        "unknown",
        "invalid_argument",
        "deadline_exceeded",
        "not_found",
        "already_exists",
        "permission_denied",
        "resource_exhausted",
        "failed_precondition",
        "aborted",
        "out_of_range",
        "unimplemented",
        "internal",
        "unavailable",
        "data_loss",
        "unauthenticated",
    };
    if (code < 0 || code >= static_cast<int>(std::size(names)))
        return "unknown";
    return names[code];
}

Backoff::Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max)
    : initial_(std::max(initial, std::chrono::milliseconds(1))), max_(std::max(max, initial_)),
      random_(std::random_device{}())
{
}

std::chrono::milliseconds Backoff::next()
{
    // Decorrelated jitter: a random delay up to three times the last one.
    std::int64_t low = std::max<std::int64_t>(initial_.count() / 2, 1);
    std::int64_t high = last_.count() == 0 ? initial_.count() : last_.count() * 3;
    high = std::clamp<std::int64_t>(high, initial_.count(), max_.count());
    std::uniform_int_distribution<std::int64_t> pick(low, high);
    last_ = std::chrono::milliseconds(pick(random_));
    return last_;
}

void Backoff::reset()
{
    last_ = std::chrono::milliseconds(0);
}

} // namespace spiffe
