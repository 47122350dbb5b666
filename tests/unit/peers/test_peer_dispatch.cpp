// SPDX-License-Identifier: GPL-2.0-or-later
#include <catch2/catch.hpp>

#include "peer_dispatch.h"
#include "peer_hello.h"
#include "peer_set.h"

using namespace meshd;
using nlohmann::json;

TEST_CASE("services register message types and capabilities with the dispatch", "[peer_dispatch]")
{
    PeerDispatch d;
    CHECK(d.capabilities() == std::vector<std::string>{"hello", "keepalive"});

    std::vector<std::string> seen;
    PeerDispatch::Client tunnel;
    tunnel.capability = "tunnel";
    tunnel.handlers[16] = [&](const PeerInfo &p, std::span<const std::uint8_t> payload) {
        seen.push_back(p.node + ":" + std::string(payload.begin(), payload.end()));
    };
    tunnel.up = [&](const PeerInfo &p) { seen.push_back("up " + p.node); };
    tunnel.down = [&](const PeerInfo &p, const std::string &why) {
        seen.push_back("down " + p.node + " " + why);
    };
    REQUIRE(d.add(tunnel).empty());
    CHECK(d.capabilities() == std::vector<std::string>{"hello", "keepalive", "tunnel"});

    SECTION("the channel's own types and taken ones are refused")
    {
        PeerDispatch::Client bad;
        bad.handlers[3] = [](const PeerInfo &, std::span<const std::uint8_t>) {};
        CHECK_THAT(d.add(bad), Catch::Contains("peer channel's own"));
        PeerDispatch::Client twice;
        twice.handlers[16] = [](const PeerInfo &, std::span<const std::uint8_t>) {};
        CHECK_THAT(d.add(twice), Catch::Contains("taken"));
        PeerDispatch::Client sameCap;
        sameCap.capability = "keepalive";
        CHECK_THAT(d.add(sameCap), Catch::Contains("taken"));
        CHECK(d.capabilities().size() == 3);
    }

    SECTION("messages reach their handler, unknown types are reported")
    {
        PeerInfo p;
        p.node = "b";
        p.capabilities = {"hello", "tunnel"};
        CHECK(p.has("tunnel"));
        CHECK_FALSE(p.has("topology"));
        const std::uint8_t msg[] = {'k', 'x'};
        d.peerUp(p);
        CHECK(d.deliver(p, 16, msg));
        CHECK_FALSE(d.deliver(p, 17, msg));
        d.peerDown(p, "gone");
        CHECK(seen == std::vector<std::string>{"up b", "b:kx", "down b gone"});
    }

    SECTION("sends go through the channel once it is attached")
    {
        CHECK_FALSE(d.send(1, 16, {}));
        std::vector<std::uint64_t> sent, closed;
        d.attach(
            [&](std::uint64_t conn, std::uint8_t type, std::span<const std::uint8_t>) {
                sent.push_back(conn * 1000 + type);
                return conn == 7;
            },
            [&](std::uint64_t conn, const std::string &) { closed.push_back(conn); });
        CHECK(d.send(7, 16, {}));
        CHECK_FALSE(d.send(8, 16, {}));
        d.close(9, "bye");
        CHECK(sent == std::vector<std::uint64_t>{7016, 8016});
        CHECK(closed == std::vector<std::uint64_t>{9});
    }
}

TEST_CASE("peer hellos are checked field by field", "[peer_hello]")
{
    json good = makeHello("node-a", "02:00:00:00:00:01", {"hello", "keepalive", "tunnel"});
    CHECK(checkHello(good).empty());
    CHECK(good["protocol"] == 1);
    CHECK(makeHello("n", "", {"hello"})["mesh_mac"].is_null());

    auto broken = [&](const char *key, json value) {
        json h = good;
        h[key] = std::move(value);
        return checkHello(h);
    };
    CHECK_FALSE(checkHello(json::array()).empty());
    CHECK_FALSE(broken("protocol", 0).empty());
    CHECK_FALSE(broken("node", "").empty());
    CHECK_FALSE(broken("node", std::string(65, 'a')).empty());
    CHECK_FALSE(broken("version", "1\n2").empty());
    CHECK_FALSE(broken("mesh_mac", "02:00:00:00:00:0G").empty());
    CHECK_FALSE(broken("mesh_mac", "02:00:00:00:00:0A").empty()); // upper case
    CHECK(broken("mesh_mac", nullptr).empty());
    CHECK_FALSE(broken("capabilities", "tunnel").empty());
    CHECK_FALSE(broken("capabilities", json::array({1})).empty());
    CHECK_FALSE(broken("capabilities", json(std::vector<std::string>(33, "x"))).empty());
    CHECK(broken("capabilities", json(std::vector<std::string>(32, "x"))).empty());
}

TEST_CASE("only a hello's validated fields are kept", "[peer_hello][hostile]")
{
    // A peer once could park ~2 MB of nested extra members per connection.
    json h = makeHello("node-a", "02:00:00:00:00:01", {"hello", "tunnel"});
    h["future_field"] = json::array({json::object({{"a", std::string(1000, 'x')}})});
    REQUIRE(checkHello(h).empty());
    json kept = helloFields(h);
    CHECK(kept.size() == 5);
    CHECK_FALSE(kept.contains("future_field"));
    CHECK(kept["node"] == "node-a");
    CHECK(kept["capabilities"] == json::array({"hello", "tunnel"}));
    h.erase("mesh_mac");
    CHECK(helloFields(h)["mesh_mac"].is_null());
}

TEST_CASE("inbound connections are refused over the limits", "[peer_set]")
{
    CHECK(PeerLimits::exceeded(0, 0, 0) == nullptr);
    CHECK(PeerLimits::exceeded(PeerLimits::maxConnections - 1, PeerLimits::maxPending - 1,
                               PeerLimits::maxPendingPerHost - 1) == nullptr);
    CHECK(std::string(PeerLimits::exceeded(PeerLimits::maxConnections, 0, 0)) == "connections");
    CHECK(std::string(PeerLimits::exceeded(1, PeerLimits::maxPending, 0)) ==
          "handshakes in progress");
    CHECK(std::string(PeerLimits::exceeded(1, 1, PeerLimits::maxPendingPerHost)) ==
          "handshakes in progress from one address");
}
