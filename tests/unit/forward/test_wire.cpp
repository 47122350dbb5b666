// SPDX-License-Identifier: GPL-2.0-or-later
#include "wire.h"

#include "aead.h"

#include <catch2/catch.hpp>
#include <cstring>
#include <vector>

using namespace meshd::forward;
using namespace meshd::forward::wire;

namespace {
std::vector<std::uint8_t> datagram(const Header &h, std::size_t payload = 0)
{
    std::vector<std::uint8_t> d(headerSize + payload + tagSize, 0xee);
    encode(h, d.data());
    return d;
}
} // namespace

TEST_CASE("wire: header bytes are as specified", "[forward][wire]")
{
    Header h{PacketType::Data, 1, 0x01020304u, 0x05060708090a0b0cull};
    std::uint8_t out[headerSize];
    encode(h, out);
    const std::uint8_t expected[headerSize] = {1, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    CHECK(std::memcmp(out, expected, headerSize) == 0);
}

TEST_CASE("wire: encode and decode round trip", "[forward][wire]")
{
    for (PacketType type : {PacketType::Data, PacketType::Keepalive}) {
        for (std::uint8_t phase : {0, 1}) {
            for (std::uint64_t counter : {0ull, 1ull, 0xffffffffull, 0x0fffffffffffffffull, ~0ull}) {
                Header h{type, phase, 0xdeadbeefu, counter};
                auto d = datagram(h, type == PacketType::Data ? 100 : 0);
                Header back;
                REQUIRE(decode(d.data(), d.size(), back) == ParseError::None);
                CHECK(back == h);
            }
        }
    }
}

TEST_CASE("wire: every parse error", "[forward][wire]")
{
    Header h{PacketType::Data, 0, 7, 9};
    Header out;

    SECTION("short")
    {
        auto d = datagram(h, 0);
        CHECK(decode(d.data(), minDatagram - 1, out) == ParseError::Short);
        CHECK(decode(d.data(), 0, out) == ParseError::Short);
        CHECK(decode(d.data(), minDatagram, out) == ParseError::None);
    }
    SECTION("type")
    {
        for (int type : {0, 3, 4, 0x81, 0xff}) {
            auto d = datagram(h, 10);
            d[0] = std::uint8_t(type);
            CHECK(decode(d.data(), d.size(), out) == ParseError::BadType);
        }
    }
    SECTION("flags")
    {
        for (int flags : {0x02, 0x03, 0x80, 0xfe}) {
            auto d = datagram(h, 10);
            d[1] = std::uint8_t(flags);
            CHECK(decode(d.data(), d.size(), out) == ParseError::BadFlags);
        }
    }
    SECTION("reserved")
    {
        for (int at : {2, 3}) {
            auto d = datagram(h, 10);
            d[at] = 1;
            CHECK(decode(d.data(), d.size(), out) == ParseError::BadReserved);
        }
    }
    SECTION("keepalive with a payload")
    {
        Header k{PacketType::Keepalive, 0, 7, 9};
        auto d = datagram(k, 1);
        CHECK(decode(d.data(), d.size(), out) == ParseError::BadLength);
    }
    CHECK(std::string(parseErrorName(ParseError::BadFlags)) == "bad_flags");
}

TEST_CASE("wire: nonce is four zero bytes and the counter big-endian", "[forward][wire]")
{
    Nonce n = nonceFor(0x0102030405060708ull);
    const std::uint8_t expected[12] = {0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8};
    CHECK(std::memcmp(n.data(), expected, 12) == 0);
}

TEST_CASE("wire: a header is decoded from its big-endian bytes on every host", "[forward][wire][byte-order]")
{
    // Written out by hand, not by encode(): a host-order read of the index or
    // the counter gives other values on one of the two byte orders.
    std::vector<std::uint8_t> d(minDatagram + 4, 0xee);
    const std::uint8_t header[headerSize] = {1,    1,    0,    0,    0xde, 0xad, 0xbe, 0xef,
                                             0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};
    std::memcpy(d.data(), header, headerSize);
    Header h;
    REQUIRE(decode(d.data(), d.size(), h) == ParseError::None);
    CHECK(h.type == PacketType::Data);
    CHECK(h.keyPhase == 1);
    CHECK(h.receiverIndex == 0xdeadbeefu);
    CHECK(h.counter == 0x0102030405060708ull);

    // And the nonce of that counter, as the AEAD sees it.
    Nonce n = nonceFor(h.counter);
    CHECK(std::memcmp(n.data() + 4, header + 8, 8) == 0);
}
