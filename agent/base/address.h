// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <sys/socket.h>

namespace meshd {

// "IP:port" as the config writes addresses: 198.18.0.2:7946 or
// [fd00::2]:7946, a numeric IP and a port 1-65535. Host and port may be null.
bool parseListenAddress(std::string_view text, std::string *host, std::uint16_t *port);

// An "IP:port" as a socket address; false when it is not one.
bool toSockaddr(const std::string &text, sockaddr_storage &ss, socklen_t &len);

// The address alone, canonical: IPv4 dotted, IPv6 as inet_ntop writes it,
// IPv4-mapped IPv6 (a dual-stack listener's view of IPv4) as IPv4.
std::string hostString(const sockaddr_storage &ss);
// The source a connection counts against in per-source limits: the IPv4
// address, or the /64 of an IPv6 one ("2001:db8:1:2::/64"), since one host
// commonly has a whole /64 to pick addresses from.
std::string sourcePrefix(const sockaddr_storage &ss);
std::uint16_t portOf(const sockaddr_storage &ss);
// "IP:port", IPv6 in brackets.
std::string sockaddrString(const sockaddr_storage &ss);
// The canonical host of an "IP:port" of the config ("" when it is none).
std::string canonicalHost(const std::string &address);

} // namespace meshd
