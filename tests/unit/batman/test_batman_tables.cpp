// SPDX-License-Identifier: GPL-2.0-or-later
// Parsers of batadv netlink entries, fed with messages built here the way
// the kernel builds them.
#include <catch2/catch.hpp>
#include <cstring>
#include <linux/batman_adv.h>
#include <memory>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include "attrs.h"
#include "tables.h"

using namespace batman;

namespace {

const std::uint8_t orig[6] = {0x02, 0, 0, 0, 0, 0x01};
const std::uint8_t neigh[6] = {0x02, 0, 0, 0, 0, 0x02};

struct Msg {
    std::unique_ptr<nl_msg, decltype(&nlmsg_free)> msg{nlmsg_alloc(), nlmsg_free};
    nlattr *tb[BATADV_ATTR_MAX + 1] = {};

    Msg() { REQUIRE(genlmsg_put(msg.get(), 0, 0, 0x20, 0, 0, BATADV_CMD_GET_ORIGINATORS, 1)); }
    Msg &mac(int attr, const std::uint8_t *m, int len = 6)
    {
        REQUIRE(nla_put(msg.get(), attr, len, m) == 0);
        return *this;
    }
    Msg &u8(int attr, std::uint8_t v)
    {
        REQUIRE(nla_put_u8(msg.get(), attr, v) == 0);
        return *this;
    }
    Msg &u16(int attr, std::uint16_t v)
    {
        REQUIRE(nla_put_u16(msg.get(), attr, v) == 0);
        return *this;
    }
    Msg &u32(int attr, std::uint32_t v)
    {
        REQUIRE(nla_put_u32(msg.get(), attr, v) == 0);
        return *this;
    }
    Msg &flag(int attr)
    {
        REQUIRE(nla_put_flag(msg.get(), attr) == 0);
        return *this;
    }
    Msg &str(int attr, const char *s)
    {
        REQUIRE(nla_put_string(msg.get(), attr, s) == 0);
        return *this;
    }
    // Validates against meshd's policy; false if libnl rejects the message.
    bool parse()
    {
        return genlmsg_parse(nlmsg_hdr(msg.get()), 0, tb, attributeMax(),
                             const_cast<nla_policy *>(attributePolicy())) == 0;
    }
};

} // namespace

TEST_CASE("BATMAN_IV originator entry", "[batman]")
{
    Msg m;
    m.mac(BATADV_ATTR_ORIG_ADDRESS, orig)
        .mac(BATADV_ATTR_NEIGH_ADDRESS, neigh)
        .u32(BATADV_ATTR_HARD_IFINDEX, 7)
        .u32(BATADV_ATTR_LAST_SEEN_MSECS, 420)
        .u8(BATADV_ATTR_TQ, 201)
        .flag(BATADV_ATTR_FLAG_BEST);
    REQUIRE(m.parse());
    auto e = parseOriginator(m.tb);
    REQUIRE(e);
    CHECK(e->originator.str() == "02:00:00:00:00:01");
    CHECK(e->neighbor.str() == "02:00:00:00:00:02");
    CHECK(e->hardifIndex == 7);
    CHECK(e->lastSeenMs == 420);
    CHECK(e->tq == 201);
    CHECK_FALSE(e->throughputKbps);
    CHECK(e->best);
}

TEST_CASE("BATMAN_V originator and neighbour entries carry throughput in kbit/s", "[batman]")
{
    Msg m;
    m.mac(BATADV_ATTR_ORIG_ADDRESS, orig)
        .mac(BATADV_ATTR_NEIGH_ADDRESS, neigh)
        .u32(BATADV_ATTR_HARD_IFINDEX, 3)
        .u32(BATADV_ATTR_LAST_SEEN_MSECS, 10)
        .u32(BATADV_ATTR_THROUGHPUT, 54000)
        .str(BATADV_ATTR_HARD_IFNAME, "wlan0");
    REQUIRE(m.parse());
    auto e = parseOriginator(m.tb);
    REQUIRE(e);
    CHECK_FALSE(e->tq);
    CHECK(e->throughputKbps == 54000u);
    CHECK(e->hardif == "wlan0");
    CHECK_FALSE(e->best);
    auto n = parseNeighbor(m.tb);
    REQUIRE(n);
    CHECK(n->throughputKbps == 54000u);
}

TEST_CASE("entries without mandatory attributes are rejected", "[batman]")
{
    Msg m;
    m.mac(BATADV_ATTR_ORIG_ADDRESS, orig).u32(BATADV_ATTR_LAST_SEEN_MSECS, 1).u8(BATADV_ATTR_TQ, 1);
    REQUIRE(m.parse());
    CHECK_FALSE(parseOriginator(m.tb));

    Msg noMetric;
    noMetric.mac(BATADV_ATTR_ORIG_ADDRESS, orig)
        .mac(BATADV_ATTR_NEIGH_ADDRESS, neigh)
        .u32(BATADV_ATTR_HARD_IFINDEX, 3)
        .u32(BATADV_ATTR_LAST_SEEN_MSECS, 10);
    REQUIRE(noMetric.parse());
    CHECK_FALSE(parseOriginator(noMetric.tb));
}

TEST_CASE("malformed attributes fail validation before any parser runs", "[batman]")
{
    Msg shortMac;
    shortMac.mac(BATADV_ATTR_ORIG_ADDRESS, orig, 4);
    CHECK_FALSE(shortMac.parse());

    Msg shortU32;
    shortU32.u16(BATADV_ATTR_HARD_IFINDEX, 3);
    CHECK_FALSE(shortU32.parse());

    Msg unterminated;
    const char name[4] = {'e', 't', 'h', '0'};
    REQUIRE(nla_put(unterminated.msg.get(), BATADV_ATTR_HARD_IFNAME, 4, name) == 0);
    CHECK_FALSE(unterminated.parse());
}

TEST_CASE("unknown attributes from newer kernels are ignored", "[batman]")
{
    Msg m;
    m.mac(BATADV_ATTR_NEIGH_ADDRESS, neigh)
        .u32(BATADV_ATTR_HARD_IFINDEX, 2)
        .u32(BATADV_ATTR_LAST_SEEN_MSECS, 5)
        .u32(BATADV_ATTR_MAX + 5, 0xdeadbeef);
    REQUIRE(m.parse());
    auto n = parseNeighbor(m.tb);
    REQUIRE(n);
    CHECK(n->neighbor.str() == "02:00:00:00:00:02");
}

TEST_CASE("gateway bandwidth is converted from 100 kbit/s units", "[batman]")
{
    Msg m;
    m.mac(BATADV_ATTR_ORIG_ADDRESS, orig)
        .mac(BATADV_ATTR_ROUTER, neigh)
        .u32(BATADV_ATTR_HARD_IFINDEX, 2)
        .u32(BATADV_ATTR_BANDWIDTH_DOWN, 500)
        .u32(BATADV_ATTR_BANDWIDTH_UP, 100)
        .u8(BATADV_ATTR_TQ, 200)
        .flag(BATADV_ATTR_FLAG_BEST);
    REQUIRE(m.parse());
    auto g = parseGateway(m.tb);
    REQUIRE(g);
    CHECK(g->bandwidthDownKbps == 50000u);
    CHECK(g->bandwidthUpKbps == 10000u);
    CHECK(g->best);
}

TEST_CASE("VLAN ids are read as u16 or u32; bit 15 means tagged", "[batman]")
{
    Msg m16;
    m16.mac(BATADV_ATTR_TT_ADDRESS, orig).u16(BATADV_ATTR_TT_VID, 0x8000 | 42).u32(BATADV_ATTR_TT_FLAGS, 0x100);
    REQUIRE(m16.parse());
    auto t = parseLocalTranslation(m16.tb);
    REQUIRE(t);
    CHECK(t->vid.tagged());
    CHECK(t->vid.id() == 42);
    CHECK(t->flags == 0x100);

    Msg m32;
    m32.mac(BATADV_ATTR_TT_ADDRESS, orig).u32(BATADV_ATTR_TT_VID, 0).u32(BATADV_ATTR_TT_FLAGS, 0);
    REQUIRE(m32.parse());
    auto u = parseLocalTranslation(m32.tb);
    REQUIRE(u);
    CHECK_FALSE(u->vid.tagged());
    CHECK(u->vid.id() == -1);
}

TEST_CASE("mesh settings are normalised to meshd's names and units", "[batman]")
{
    std::uint8_t mac[6] = {2, 0, 0, 0, 0, 9};
    Msg m;
    m.u32(BATADV_ATTR_MESH_IFINDEX, 4)
        .str(BATADV_ATTR_MESH_IFNAME, "bat0")
        .mac(BATADV_ATTR_MESH_ADDRESS, mac)
        .str(BATADV_ATTR_ALGO_NAME, "BATMAN_V")
        .u32(BATADV_ATTR_ORIG_INTERVAL, 1000)
        .u8(BATADV_ATTR_HOP_PENALTY, 30)
        .u8(BATADV_ATTR_GW_MODE, 2)
        .u32(BATADV_ATTR_GW_BANDWIDTH_DOWN, 100)
        .u8(BATADV_ATTR_BONDING_ENABLED, 1);
    REQUIRE(m.parse());
    auto info = parseMesh(m.tb);
    REQUIRE(info);
    CHECK(info->ifname == "bat0");
    CHECK(info->algorithm == "BATMAN_V");
    CHECK(std::get<std::uint64_t>(info->settings["orig_interval_ms"]) == 1000);
    CHECK(std::get<std::uint64_t>(info->settings["hop_penalty"]) == 30);
    CHECK(std::get<std::string>(info->settings["gw_mode"]) == "server");
    CHECK(std::get<std::uint64_t>(info->settings["gw_bandwidth_down_kbps"]) == 10000);
    CHECK(std::get<bool>(info->settings["bonding"]));
}

TEST_CASE("MAC addresses print lower case and parse strictly", "[batman]")
{
    auto m = Mac::parse("AA:bb:0C:dd:ee:FF");
    REQUIRE(m);
    CHECK(m->str() == "aa:bb:0c:dd:ee:ff");
    CHECK_FALSE(Mac::parse("aa:bb:cc:dd:ee"));
    CHECK_FALSE(Mac::parse("aa-bb-cc-dd-ee-ff"));
    CHECK_FALSE(Mac::parse("aa:bb:cc:dd:ee:fg"));
}
