// SPDX-License-Identifier: GPL-2.0-or-later
#include <catch2/catch.hpp>

#include "address.h"

using namespace meshd;

TEST_CASE("listen addresses", "[address]")
{
    std::string host;
    std::uint16_t port = 0;
    CHECK(parseListenAddress("127.0.0.1:9474", &host, &port));
    CHECK(host == "127.0.0.1");
    CHECK(port == 9474);
    CHECK(parseListenAddress("[::1]:80", &host, &port));
    CHECK(host == "::1");
    CHECK_FALSE(parseListenAddress("[::1]80", nullptr, nullptr));
    CHECK_FALSE(parseListenAddress("1.2.3.4:0", nullptr, nullptr));
    CHECK_FALSE(parseListenAddress("1.2.3.4:+80", nullptr, nullptr));
    CHECK_FALSE(parseListenAddress(":80", nullptr, nullptr));
}

TEST_CASE("socket addresses are canonical", "[address]")
{
    sockaddr_storage ss;
    socklen_t len = 0;
    REQUIRE(toSockaddr("198.18.0.2:7946", ss, len));
    CHECK(sockaddrString(ss) == "198.18.0.2:7946");
    REQUIRE(toSockaddr("[fd00::0002]:7946", ss, len));
    CHECK(sockaddrString(ss) == "[fd00::2]:7946");
    CHECK(hostString(ss) == "fd00::2");
    CHECK(portOf(ss) == 7946);
    REQUIRE(toSockaddr("[::ffff:198.18.0.9]:1", ss, len));
    CHECK(hostString(ss) == "198.18.0.9"); // v4-mapped shown as IPv4
    CHECK(canonicalHost("[fd00:0::1]:80") == "fd00::1");
    CHECK(canonicalHost("not an address").empty());
    CHECK_FALSE(toSockaddr("fd00::1:80", ss, len));
}

TEST_CASE("sourcePrefix: IPv4 address, IPv6 /64, mapped IPv4 as IPv4", "[address]")
{
    auto prefix = [](const std::string &text) {
        sockaddr_storage ss{};
        socklen_t len = 0;
        REQUIRE(toSockaddr(text, ss, len));
        return sourcePrefix(ss);
    };
    CHECK(prefix("198.18.0.7:1") == "198.18.0.7");
    CHECK(prefix("[fd00:1:2:3:4:5:6:7]:1") == "fd00:1:2:3::/64");
    CHECK(prefix("[fd00:1:2:3::99]:1") == prefix("[fd00:1:2:3:ffff::1]:1"));
    CHECK(prefix("[fd00:1:2:4::1]:1") != prefix("[fd00:1:2:3::1]:1"));
    CHECK(prefix("[::ffff:198.18.0.7]:1") == "198.18.0.7");
}
