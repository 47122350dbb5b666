// SPDX-License-Identifier: GPL-2.0-or-later
#include <catch2/catch.hpp>

#include "diff.h"

using namespace batman;

namespace {

Mac mac(int n) { return *Mac::parse("02:00:00:00:00:0" + std::to_string(n)); }

OriginatorEntry route(int orig, int neigh, const char *hardif, bool best)
{
    OriginatorEntry e;
    e.originator = mac(orig);
    e.neighbor = mac(neigh);
    e.hardif = hardif;
    e.tq = 200;
    e.best = best;
    return e;
}

std::vector<std::string> names(const std::vector<MeshEvent> &events)
{
    std::vector<std::string> out;
    for (const auto &e : events)
        out.push_back(std::string(eventName(e.kind)) + " " + e.address.str().substr(15));
    return out;
}

} // namespace

TEST_CASE("originators appear, change best hop and disappear", "[diff]")
{
    auto a = snapshot({route(2, 2, "eth0", true), route(3, 2, "eth0", true)}, {}, {}, {});
    auto b = snapshot({route(2, 2, "eth0", true), route(3, 4, "eth1", true),
                       route(5, 4, "eth1", true)},
                      {}, {}, {});
    auto events = diff(a, b);
    CHECK(names(events) == std::vector<std::string>{"best_next_hop_changed 03", "originator_added 05"});
    REQUIRE(events[0].from);
    CHECK(events[0].from->hardif == "eth0");
    CHECK(events[0].to->neighbor == mac(4));

    auto c = snapshot({route(3, 4, "eth1", true)}, {}, {}, {});
    CHECK(names(diff(b, c)) ==
          std::vector<std::string>{"originator_removed 02", "originator_removed 05"});
    CHECK(diff(c, c).empty());
}

TEST_CASE("an originator between routers is one best-hop change, not remove + add", "[diff]")
{
    auto a = snapshot({route(2, 2, "eth0", true)}, {}, {}, {});
    // The router via eth0 was purged; the entry via eth1 is not best yet.
    auto between = snapshot({route(2, 4, "eth1", false)}, {}, {}, {});
    carryOver(a, between);
    CHECK(diff(a, between).empty());
    auto b = snapshot({route(2, 4, "eth1", true)}, {}, {}, {});
    carryOver(between, b);
    auto events = diff(between, b);
    REQUIRE(names(events) == std::vector<std::string>{"best_next_hop_changed 02"});
    CHECK(events[0].from->hardif == "eth0");
    CHECK(events[0].to->hardif == "eth1");
}

TEST_CASE("neighbours, gateways and hardifs", "[diff]")
{
    NeighborEntry n1{mac(2), 1, "eth0", 0, {}};
    NeighborEntry n2{mac(3), 1, "eth0", 0, {}};
    GatewayEntry g;
    g.originator = mac(7);
    HardifEntry h;
    h.name = "eth0";
    h.active = true;
    auto a = snapshot({}, {n1}, {}, {h});
    g.best = true;
    h.active = false;
    auto b = snapshot({}, {n2}, {g}, {h});
    CHECK(names(diff(a, b)) == std::vector<std::string>{"hardif_inactive 00", "neighbor_up 03",
                                                        "neighbor_down 02", "gateway_added 07",
                                                        "gateway_selected 07"});
    CHECK(names(diff(b, a)) == std::vector<std::string>{"hardif_active 00", "neighbor_up 02",
                                                        "neighbor_down 03", "gateway_removed 07"});
}
