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
