// SPDX-License-Identifier: GPL-2.0-or-later
// Parsers of batadv netlink entries, fed with messages built here the way
// the kernel builds them.
#include <net/if.h> // first: linux/if_link.h must not pull linux/if.h before it
#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <cstring>
#include <linux/batman_adv.h>
#include <linux/gen_stats.h>
#include <linux/if_link.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <memory>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include "attrs.h"
#include "netdev.h"
#include "rtnl.h"
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

// Byte order: the kernel writes netlink integers in its own (host) byte order
// and addresses in network byte order. The values below have four different
// bytes, so that a swapped or truncated read fails on a big-endian build
// (tests/cross/run s390x) as well as on a little-endian one.

TEST_CASE("u16 and u32 VLAN ids keep their value in either byte order", "[batman][byte-order]")
{
    // TT dumps carry the vid as u16, GET_VLAN replies as u32: reading the
    // first two bytes of the u32 would give 0 on a big-endian host.
    Msg m32;
    m32.mac(BATADV_ATTR_TT_ADDRESS, orig).u32(BATADV_ATTR_TT_VID, 0x8000 | 0x123).u32(BATADV_ATTR_TT_FLAGS, 0x01020304);
    REQUIRE(m32.parse());
    auto t = parseLocalTranslation(m32.tb);
    REQUIRE(t);
    CHECK(t->vid.raw == 0x8123);
    CHECK(t->vid.tagged());
    CHECK(t->vid.id() == 0x123);
    CHECK(t->flags == 0x01020304u);

    Msg m16;
    m16.mac(BATADV_ATTR_BLA_BACKBONE, orig).u16(BATADV_ATTR_BLA_VID, 0x8000 | 0x321).u16(BATADV_ATTR_BLA_CRC, 0xbeef);
    REQUIRE(m16.parse());
    auto b = parseBackbone(m16.tb);
    REQUIRE(b);
    CHECK(b->vid.id() == 0x321);
    CHECK(b->crc == 0xbeef);
}

TEST_CASE("DAT IPv4 addresses stay in network byte order", "[batman][byte-order]")
{
    // nla_put_in_addr: the address's bytes as on the wire, whatever the host.
    const std::uint8_t ip[4] = {198, 18, 0, 1};
    Msg m;
    m.mac(BATADV_ATTR_DAT_CACHE_HWADDRESS, neigh).u16(BATADV_ATTR_DAT_CACHE_VID, 0);
    REQUIRE(nla_put(m.msg.get(), BATADV_ATTR_DAT_CACHE_IP4ADDRESS, 4, ip) == 0);
    REQUIRE(m.parse());
    auto d = parseDat(m.tb);
    REQUIRE(d);
    CHECK(std::memcmp(&d->ip4, ip, 4) == 0);
    char text[INET_ADDRSTRLEN];
    REQUIRE(inet_ntop(AF_INET, &d->ip4, text, sizeof(text)));
    CHECK(std::string(text) == "198.18.0.1");
    CHECK(d->ip4 == htonl(0xc6120001u));
}

TEST_CASE("u32 and u64 batman-adv attributes are read in host byte order", "[batman][byte-order]")
{
    Msg m;
    m.mac(BATADV_ATTR_ORIG_ADDRESS, orig)
        .u32(BATADV_ATTR_TPMETER_COOKIE, 0x0a0b0c0d)
        .u8(BATADV_ATTR_TPMETER_RESULT, BATADV_TP_REASON_COMPLETE)
        .u32(BATADV_ATTR_TPMETER_TEST_TIME, 0x00012345);
    REQUIRE(nla_put_u64(m.msg.get(), BATADV_ATTR_TPMETER_BYTES, 0x0102030405060708ull) == 0);
    REQUIRE(m.parse());
    auto r = parseTpResult(m.tb);
    REQUIRE(r);
    CHECK(r->cookie == 0x0a0b0c0du);
    CHECK(r->testTimeMs == 0x00012345u);
    CHECK(r->bytes == 0x0102030405060708ull);

    Msg o;
    o.mac(BATADV_ATTR_ORIG_ADDRESS, orig)
        .mac(BATADV_ATTR_NEIGH_ADDRESS, neigh)
        .u32(BATADV_ATTR_HARD_IFINDEX, 0x01020304)
        .u32(BATADV_ATTR_LAST_SEEN_MSECS, 0x00a0b0c0)
        .u32(BATADV_ATTR_THROUGHPUT, 0x00030201);
    REQUIRE(o.parse());
    auto e = parseOriginator(o.tb);
    REQUIRE(e);
    CHECK(e->hardifIndex == 0x01020304u);
    CHECK(e->lastSeenMs == 0x00a0b0c0u);
    CHECK(e->throughputKbps == 0x00030201u);
}

TEST_CASE("rtnetlink link and CAKE messages are read in host byte order", "[batman][byte-order]")
{
    std::unique_ptr<nl_msg, decltype(&nlmsg_free)> link(nlmsg_alloc_simple(RTM_NEWLINK, 0), nlmsg_free);
    REQUIRE(link);
    ifinfomsg ifi{};
    ifi.ifi_index = 0x01020304;
    ifi.ifi_flags = IFF_UP;
    REQUIRE(nlmsg_append(link.get(), &ifi, sizeof(ifi), NLMSG_ALIGNTO) == 0);
    REQUIRE(nla_put_u32(link.get(), IFLA_MASTER, 0x0a0b0c0d) == 0);
    nlattr *info = nla_nest_start(link.get(), IFLA_LINKINFO);
    REQUIRE(info);
    REQUIRE(nla_put_string(link.get(), IFLA_INFO_KIND, "batadv") == 0);
    nla_nest_end(link.get(), info);
    LinkInfo li;
    REQUIRE(parseLinkReply(link.get(), li));
    CHECK(li.ifindex == 0x01020304u);
    CHECK(li.master == 0x0a0b0c0du);
    CHECK(li.up);
    CHECK(li.kind == "batadv");

    std::unique_ptr<nl_msg, decltype(&nlmsg_free)> qdisc(nlmsg_alloc_simple(RTM_NEWQDISC, 0), nlmsg_free);
    REQUIRE(qdisc);
    tcmsg tcm{};
    tcm.tcm_ifindex = 0x00020304;
    tcm.tcm_handle = 0x80010000u;
    REQUIRE(nlmsg_append(qdisc.get(), &tcm, sizeof(tcm), NLMSG_ALIGNTO) == 0);
    REQUIRE(nla_put_string(qdisc.get(), TCA_KIND, "cake") == 0);
    nlattr *stats = nla_nest_start(qdisc.get(), TCA_STATS2);
    nlattr *app = nla_nest_start(qdisc.get(), TCA_STATS_APP);
    nlattr *tins = nla_nest_start(qdisc.get(), TCA_CAKE_STATS_TIN_STATS);
    nlattr *tin = nla_nest_start(qdisc.get(), 1);
    REQUIRE((stats && app && tins && tin));
    REQUIRE(nla_put_u32(qdisc.get(), TCA_CAKE_TIN_STATS_PEAK_DELAY_US, 0x00012345) == 0);
    REQUIRE(nla_put_u32(qdisc.get(), TCA_CAKE_TIN_STATS_SENT_PACKETS, 0x01020304) == 0);
    REQUIRE(nla_put_u32(qdisc.get(), TCA_CAKE_TIN_STATS_BACKLOG_BYTES, 0x0000beef) == 0);
    for (nlattr *n : {tin, tins, app, stats})
        nla_nest_end(qdisc.get(), n);
    int ifindex = 0;
    std::uint32_t handle = 0;
    std::vector<CakeTin> got;
    REQUIRE(parseCakeQdisc(qdisc.get(), ifindex, handle, got));
    CHECK(ifindex == 0x00020304);
    CHECK(handle == 0x80010000u);
    REQUIRE(got.size() == 1);
    CHECK(got[0].peakDelayUs == 0x00012345u);
    CHECK(got[0].sentPackets == 0x01020304u);
    CHECK(got[0].backlogBytes == 0x0000beefu);
}
