// SPDX-License-Identifier: GPL-2.0-or-later
#include "address.h"

#include <algorithm>

#include <arpa/inet.h>
#include <cstring>
#include <netinet/in.h>

namespace meshd {

bool parseListenAddress(std::string_view text, std::string *host, std::uint16_t *port)
{
    std::string_view h, p;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
            return false;
        h = text.substr(1, close - 1);
        p = text.substr(close + 2);
        in6_addr a6;
        if (!inet_pton(AF_INET6, std::string(h).c_str(), &a6))
            return false;
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos)
            return false;
        h = text.substr(0, colon);
        p = text.substr(colon + 1);
        in_addr a4;
        if (!inet_pton(AF_INET, std::string(h).c_str(), &a4))
            return false;
    }
    if (p.empty() || p.size() > 5)
        return false;
    unsigned value = 0;
    for (char c : p) {
        if (c < '0' || c > '9')
            return false;
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value == 0 || value > 65535)
        return false;
    if (host)
        *host = std::string(h);
    if (port)
        *port = static_cast<std::uint16_t>(value);
    return true;
}

bool toSockaddr(const std::string &text, sockaddr_storage &ss, socklen_t &len)
{
    std::string host;
    std::uint16_t port = 0;
    if (!parseListenAddress(text, &host, &port))
        return false;
    memset(&ss, 0, sizeof(ss));
    auto *v4 = reinterpret_cast<sockaddr_in *>(&ss);
    auto *v6 = reinterpret_cast<sockaddr_in6 *>(&ss);
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        len = sizeof(*v4);
        return true;
    }
    if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        len = sizeof(*v6);
        return true;
    }
    return false;
}

std::string hostString(const sockaddr_storage &ss)
{
    char buf[INET6_ADDRSTRLEN] = "";
    if (ss.ss_family == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in *>(&ss)->sin_addr, buf, sizeof(buf));
        return buf;
    }
    const auto *v6 = reinterpret_cast<const sockaddr_in6 *>(&ss);
    if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
        inet_ntop(AF_INET, &v6->sin6_addr.s6_addr[12], buf, sizeof(buf));
        return buf;
    }
    inet_ntop(AF_INET6, &v6->sin6_addr, buf, sizeof(buf));
    return buf;
}

std::string sourcePrefix(const sockaddr_storage &ss)
{
    if (ss.ss_family != AF_INET6)
        return hostString(ss);
    const auto *v6 = reinterpret_cast<const sockaddr_in6 *>(&ss);
    if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr))
        return hostString(ss);
    in6_addr net = v6->sin6_addr;
    std::fill(net.s6_addr + 8, net.s6_addr + 16, 0);
    char buf[INET6_ADDRSTRLEN] = "";
    inet_ntop(AF_INET6, &net, buf, sizeof(buf));
    return std::string(buf) + "/64";
}

std::uint16_t portOf(const sockaddr_storage &ss)
{
    return ntohs(ss.ss_family == AF_INET ? reinterpret_cast<const sockaddr_in *>(&ss)->sin_port
                                         : reinterpret_cast<const sockaddr_in6 *>(&ss)->sin6_port);
}

std::string sockaddrString(const sockaddr_storage &ss)
{
    std::string host = hostString(ss);
    bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(portOf(ss));
}

std::string canonicalHost(const std::string &address)
{
    sockaddr_storage ss;
    socklen_t len = 0;
    return toSockaddr(address, ss, len) ? hostString(ss) : std::string();
}

} // namespace meshd
