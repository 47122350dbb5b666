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

TEST_CASE("inbound connections: per-source and total limits, silent ones give way", "[peer_set]")
{
    using P = PeerLimits::Pending;
    auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
    auto at = [&](int s) { return t0 + std::chrono::seconds(s); };
    std::vector<P> pending;
    CHECK(PeerLimits::admit(pending, 0, "198.18.0.9", false).refused == nullptr);

    // Per source: the fifth unfinished handshake of one address or /64 is refused.
    for (int i = 0; i < int(PeerLimits::maxPendingPerSource); ++i)
        pending.push_back(P{std::uint64_t(i + 1), "fd00:1:2:3::/64", true, true, false, at(i)});
    auto v = PeerLimits::admit(pending, pending.size(), "fd00:1:2:3::/64", false);
    REQUIRE(v.refused);
    CHECK_THAT(v.refused, Catch::Contains("one source"));
    CHECK(PeerLimits::admit(pending, pending.size(), "fd00:1:2:4::/64", false).refused == nullptr);
    // Outbound connections to that source do not count against it.
    pending[0].inbound = false;
    CHECK(PeerLimits::admit(pending, pending.size(), "fd00:1:2:3::/64", false).refused == nullptr);

    // Full: the oldest silent inbound connection of an unknown source gives way.
    pending.clear();
    for (int i = 0; i < int(PeerLimits::maxPending); ++i)
        pending.push_back(P{std::uint64_t(100 + i), "198.18.1." + std::to_string(i % 60), true,
                            i % 2 == 0, false, at(100 - i)});
    v = PeerLimits::admit(pending, pending.size(), "198.18.2.1", false);
    CHECK(v.refused == nullptr);
    CHECK(v.evict == 100 + 62); // silent (even index) and oldest (at(100 - 62))
    // Nobody silent: an unknown newcomer is refused, a configured peer evicts
    // the oldest unknown handshake.
    for (auto &p : pending)
        p.silent = false;
    v = PeerLimits::admit(pending, pending.size(), "198.18.2.1", false);
    REQUIRE(v.refused);
    CHECK(std::string(v.refused) == "handshakes in progress");
    v = PeerLimits::admit(pending, pending.size(), "198.18.0.2", true);
    CHECK(v.refused == nullptr);
    CHECK(v.evict == 100 + 63);
    // Connections from configured peers are never evicted.
    for (auto &p : pending)
        p.known = true;
    CHECK(PeerLimits::admit(pending, pending.size(), "198.18.0.2", true).refused != nullptr);
    CHECK(std::string(
              PeerLimits::admit({}, PeerLimits::maxConnections, "198.18.0.2", false).refused) ==
          "connections");
}

TEST_CASE("token bucket: a burst, then the rate", "[peer_set]")
{
    TokenBucket b(10, 3);
    auto t = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
    CHECK(b.take(t));
    CHECK(b.take(t));
    CHECK(b.take(t));
    CHECK_FALSE(b.take(t));
    CHECK_FALSE(b.take(t + std::chrono::milliseconds(50))); // half a token
    CHECK(b.take(t + std::chrono::milliseconds(110)));
    CHECK_FALSE(b.take(t + std::chrono::milliseconds(110)));
    CHECK(b.take(t + std::chrono::seconds(10)));
    CHECK(b.take(t + std::chrono::seconds(10)));
    CHECK(b.take(t + std::chrono::seconds(10)));
    CHECK_FALSE(b.take(t + std::chrono::seconds(10))); // the burst caps what is saved up
}
