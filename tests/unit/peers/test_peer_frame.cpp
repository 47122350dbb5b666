// SPDX-License-Identifier: GPL-2.0-or-later
#include <catch2/catch.hpp>

#include "peer_frame.h"

using namespace meshd;

namespace
{

std::vector<std::uint8_t> bytes(const std::string &s) { return {s.begin(), s.end()}; }

} // namespace

TEST_CASE("peer frames survive any split of the stream", "[peer_frame]")
{
    std::vector<std::uint8_t> stream;
    encodeFrame(frame::Hello, bytes(R"({"node":"a"})"), stream);
    encodeFrame(frame::Keepalive, {}, stream);
    encodeFrame(200, bytes("future"), stream);
    REQUIRE(stream.size() == 3 * frame::headerSize + 12 + 6);

    for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
        FrameDecoder d;
        std::vector<Frame> got;
        REQUIRE(d.feed(std::span(stream).first(cut)));
        while (auto f = d.next())
            got.push_back(std::move(*f));
        REQUIRE(d.feed(std::span(stream).subspan(cut)));
        while (auto f = d.next())
            got.push_back(std::move(*f));
        INFO("cut at " << cut);
        REQUIRE(got.size() == 3);
        CHECK(got[0].type == frame::Hello);
        CHECK(got[0].payload == bytes(R"({"node":"a"})"));
        CHECK(got[1].type == frame::Keepalive);
        CHECK(got[1].payload.empty());
        CHECK(got[2].type == 200);
        CHECK(got[2].payload == bytes("future"));
        CHECK(d.buffered() == 0);
        CHECK(d.error().empty());
    }
}

TEST_CASE("bad peer frame headers are refused before their payload", "[peer_frame]")
{
    auto header = [](std::uint8_t version, std::uint8_t reserved, std::uint32_t length) {
        return std::vector<std::uint8_t>{version,
                                         frame::Hello,
                                         reserved,
                                         0,
                                         static_cast<std::uint8_t>(length >> 24),
                                         static_cast<std::uint8_t>(length >> 16),
                                         static_cast<std::uint8_t>(length >> 8),
                                         static_cast<std::uint8_t>(length)};
    };
    SECTION("another version")
    {
        FrameDecoder d;
        CHECK_FALSE(d.feed(header(2, 0, 0)));
        CHECK(d.error().find("version 2") != std::string::npos);
        CHECK_FALSE(d.next());
    }
    SECTION("reserved bits")
    {
        FrameDecoder d;
        CHECK_FALSE(d.feed(header(1, 1, 0)));
    }
    SECTION("too long")
    {
        FrameDecoder d;
        CHECK(d.feed(header(1, 0, frame::maxPayload))); // the largest allowed
        CHECK(d.error().empty());
        FrameDecoder e;
        CHECK_FALSE(e.feed(header(1, 0, frame::maxPayload + 1)));
        CHECK(e.error().find("at most") != std::string::npos);
    }
    SECTION("a good frame followed by a bad header")
    {
        std::vector<std::uint8_t> stream;
        encodeFrame(frame::Keepalive, {}, stream);
        auto bad = header(9, 0, 0);
        stream.insert(stream.end(), bad.begin(), bad.end());
        FrameDecoder d;
        d.feed(stream);
        auto f = d.next();
        REQUIRE(f);
        CHECK(f->type == frame::Keepalive);
        CHECK_FALSE(d.next());
        CHECK_FALSE(d.error().empty());
        CHECK_FALSE(d.feed(bytes("x")));
    }
}

TEST_CASE("the peer frame length is big-endian on every host", "[peer_frame][byte-order]")
{
    // 258 = 0x0102: written in host order it would be 02 01 00 00 on a
    // little-endian host; big-endian gives 00 00 01 02 on every host.
    std::vector<std::uint8_t> payload(258, 0x5a), stream;
    encodeFrame(frame::Goodbye, payload, stream);
    REQUIRE(stream.size() == frame::headerSize + 258);
    const std::vector<std::uint8_t> header{frame::version, frame::Goodbye, 0, 0, 0x00, 0x00, 0x01, 0x02};
    CHECK(std::vector<std::uint8_t>(stream.begin(), stream.begin() + 8) == header);

    // Decoding the header as written: 0x00010000 (65536) is the largest
    // payload; its byte-swapped reading 0x00000100 would wait for 256 bytes.
    std::vector<std::uint8_t> big{frame::version, frame::Hello, 0, 0, 0x00, 0x01, 0x00, 0x00};
    big.resize(frame::headerSize + 65536, 0x20);
    FrameDecoder d;
    REQUIRE(d.feed(std::span(big).first(frame::headerSize + 256)));
    CHECK_FALSE(d.next()); // not complete after 256 bytes of payload
    REQUIRE(d.feed(std::span(big).subspan(frame::headerSize + 256)));
    auto f = d.next();
    REQUIRE(f);
    CHECK(f->payload.size() == 65536);

    // 0x01000000: too long, and read as 1 if the bytes were swapped.
    FrameDecoder e;
    CHECK_FALSE(e.feed(std::vector<std::uint8_t>{frame::version, frame::Hello, 0, 0, 0x01, 0, 0, 0}));
    CHECK(e.error().find("16777216") != std::string::npos);
}
