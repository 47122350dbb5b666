// SPDX-License-Identifier: GPL-2.0-or-later
#include "tables.h"

#include <cstring>
#include <linux/batman_adv.h>
#include <netlink/attr.h>

#include "attrs.h"

namespace batman {

namespace {

bool present(nlattr **tb, std::initializer_list<int> attrs)
{
    for (int a : attrs)
        if (!tb[a])
            return false;
    return true;
}

std::string hardifName(nlattr **tb)
{
    return tb[BATADV_ATTR_HARD_IFNAME] ? nla_get_string(tb[BATADV_ATTR_HARD_IFNAME]) : "";
}

} // namespace

std::optional<OriginatorEntry> parseOriginator(nlattr **tb)
{
    if (!present(tb, {BATADV_ATTR_ORIG_ADDRESS, BATADV_ATTR_NEIGH_ADDRESS,
                      BATADV_ATTR_HARD_IFINDEX, BATADV_ATTR_LAST_SEEN_MSECS}))
        return std::nullopt;
    OriginatorEntry e;
    e.originator = attrMac(tb[BATADV_ATTR_ORIG_ADDRESS]);
    e.neighbor = attrMac(tb[BATADV_ATTR_NEIGH_ADDRESS]);
    e.hardifIndex = nla_get_u32(tb[BATADV_ATTR_HARD_IFINDEX]);
    e.hardif = hardifName(tb);
    e.lastSeenMs = nla_get_u32(tb[BATADV_ATTR_LAST_SEEN_MSECS]);
    if (tb[BATADV_ATTR_TQ])
        e.tq = nla_get_u8(tb[BATADV_ATTR_TQ]);
    if (tb[BATADV_ATTR_THROUGHPUT])
        e.throughputKbps = nla_get_u32(tb[BATADV_ATTR_THROUGHPUT]);
    if (!e.tq && !e.throughputKbps)
        return std::nullopt; // a route without a metric is not a route
    e.best = tb[BATADV_ATTR_FLAG_BEST] != nullptr;
    return e;
}

std::optional<NeighborEntry> parseNeighbor(nlattr **tb)
{
    if (!present(tb, {BATADV_ATTR_NEIGH_ADDRESS, BATADV_ATTR_HARD_IFINDEX,
                      BATADV_ATTR_LAST_SEEN_MSECS}))
        return std::nullopt;
    NeighborEntry e;
    e.neighbor = attrMac(tb[BATADV_ATTR_NEIGH_ADDRESS]);
    e.hardifIndex = nla_get_u32(tb[BATADV_ATTR_HARD_IFINDEX]);
    e.hardif = hardifName(tb);
    e.lastSeenMs = nla_get_u32(tb[BATADV_ATTR_LAST_SEEN_MSECS]);
    if (tb[BATADV_ATTR_THROUGHPUT])
        e.throughputKbps = nla_get_u32(tb[BATADV_ATTR_THROUGHPUT]);
    return e;
}

std::optional<HardifEntry> parseHardif(nlattr **tb)
{
    if (!present(tb, {BATADV_ATTR_HARD_IFINDEX, BATADV_ATTR_HARD_ADDRESS}))
        return std::nullopt;
    HardifEntry e;
    e.ifindex = nla_get_u32(tb[BATADV_ATTR_HARD_IFINDEX]);
    e.name = hardifName(tb);
    e.address = attrMac(tb[BATADV_ATTR_HARD_ADDRESS]);
    e.active = tb[BATADV_ATTR_ACTIVE] != nullptr;
    if (tb[BATADV_ATTR_HOP_PENALTY])
        e.hopPenalty = nla_get_u8(tb[BATADV_ATTR_HOP_PENALTY]);
    if (tb[BATADV_ATTR_ELP_INTERVAL])
        e.elpIntervalMs = nla_get_u32(tb[BATADV_ATTR_ELP_INTERVAL]);
    if (tb[BATADV_ATTR_THROUGHPUT_OVERRIDE]) // 100 kbit/s units
        e.throughputOverrideKbps =
            std::uint64_t{nla_get_u32(tb[BATADV_ATTR_THROUGHPUT_OVERRIDE])} * 100;
    return e;
}

std::optional<GatewayEntry> parseGateway(nlattr **tb)
{
    if (!present(tb, {BATADV_ATTR_ORIG_ADDRESS, BATADV_ATTR_ROUTER, BATADV_ATTR_HARD_IFINDEX}))
        return std::nullopt;
    GatewayEntry e;
    e.originator = attrMac(tb[BATADV_ATTR_ORIG_ADDRESS]);
    e.router = attrMac(tb[BATADV_ATTR_ROUTER]);
    e.hardifIndex = nla_get_u32(tb[BATADV_ATTR_HARD_IFINDEX]);
    e.hardif = hardifName(tb);
    e.best = tb[BATADV_ATTR_FLAG_BEST] != nullptr;
    if (tb[BATADV_ATTR_TQ])
        e.tq = nla_get_u8(tb[BATADV_ATTR_TQ]);
    if (tb[BATADV_ATTR_THROUGHPUT])
        e.throughputKbps = nla_get_u32(tb[BATADV_ATTR_THROUGHPUT]);
    // Gateway bandwidth is announced in 100 kbit/s units.
    if (tb[BATADV_ATTR_BANDWIDTH_DOWN])
        e.bandwidthDownKbps = std::uint64_t{nla_get_u32(tb[BATADV_ATTR_BANDWIDTH_DOWN])} * 100;
    if (tb[BATADV_ATTR_BANDWIDTH_UP])
        e.bandwidthUpKbps = std::uint64_t{nla_get_u32(tb[BATADV_ATTR_BANDWIDTH_UP])} * 100;
    return e;
}

std::optional<LocalTranslation> parseLocalTranslation(nlattr **tb)
{
    if (!present(tb, {BATADV_ATTR_TT_ADDRESS, BATADV_ATTR_TT_VID, BATADV_ATTR_TT_FLAGS}))
        return std::nullopt;
    LocalTranslation e;
    e.client = attrMac(tb[BATADV_ATTR_TT_ADDRESS]);
    e.vid = attrVid(tb[BATADV_ATTR_TT_VID]);
    e.flags = nla_get_u32(tb[BATADV_ATTR_TT_FLAGS]);
    if (tb[BATADV_ATTR_TT_CRC32])
        e.crc32 = nla_get_u32(tb[BATADV_ATTR_TT_CRC32]);
    if (tb[BATADV_ATTR_LAST_SEEN_MSECS])
        e.lastSeenMs = nla_get_u32(tb[BATADV_ATTR_LAST_SEEN_MSECS]);
    return e;
}

std::optional<GlobalTranslation> parseGlobalTranslation(nlattr **tb)
{
    if (!present(tb, {BATADV_ATTR_TT_ADDRESS, BATADV_ATTR_ORIG_ADDRESS, BATADV_ATTR_TT_VID,
                      BATADV_ATTR_TT_FLAGS}))
        return std::nullopt;
    GlobalTranslation e;
    e.client = attrMac(tb[BATADV_ATTR_TT_ADDRESS]);
    e.originator = attrMac(tb[BATADV_ATTR_ORIG_ADDRESS]);
    e.vid = attrVid(tb[BATADV_ATTR_TT_VID]);
    e.flags = nla_get_u32(tb[BATADV_ATTR_TT_FLAGS]);
    if (tb[BATADV_ATTR_TT_TTVN])
        e.ttvn = nla_get_u8(tb[BATADV_ATTR_TT_TTVN]);
    if (tb[BATADV_ATTR_TT_LAST_TTVN])
        e.lastTtvn = nla_get_u8(tb[BATADV_ATTR_TT_LAST_TTVN]);
    if (tb[BATADV_ATTR_TT_CRC32])
        e.crc32 = nla_get_u32(tb[BATADV_ATTR_TT_CRC32]);
    e.best = tb[BATADV_ATTR_FLAG_BEST] != nullptr;
    return e;
}

std::optional<ClaimEntry> parseClaim(nlattr **tb)
{
    if (!present(tb, {BATADV_ATTR_BLA_ADDRESS, BATADV_ATTR_BLA_VID, BATADV_ATTR_BLA_BACKBONE}))
        return std::nullopt;
    ClaimEntry e;
    e.client = attrMac(tb[BATADV_ATTR_BLA_ADDRESS]);
    e.vid = attrVid(tb[BATADV_ATTR_BLA_VID]);
    e.backbone = attrMac(tb[BATADV_ATTR_BLA_BACKBONE]);
    if (tb[BATADV_ATTR_BLA_CRC])
        e.crc = nla_get_u16(tb[BATADV_ATTR_BLA_CRC]);
    e.own = tb[BATADV_ATTR_BLA_OWN] != nullptr;
    return e;
}

std::optional<BackboneEntry> parseBackbone(nlattr **tb)
{
    if (!present(tb, {BATADV_ATTR_BLA_BACKBONE, BATADV_ATTR_BLA_VID}))
        return std::nullopt;
    BackboneEntry e;
    e.backbone = attrMac(tb[BATADV_ATTR_BLA_BACKBONE]);
    e.vid = attrVid(tb[BATADV_ATTR_BLA_VID]);
    if (tb[BATADV_ATTR_BLA_CRC])
        e.crc = nla_get_u16(tb[BATADV_ATTR_BLA_CRC]);
    e.own = tb[BATADV_ATTR_BLA_OWN] != nullptr;
    if (tb[BATADV_ATTR_LAST_SEEN_MSECS])
        e.lastSeenMs = nla_get_u32(tb[BATADV_ATTR_LAST_SEEN_MSECS]);
    return e;
}

std::optional<DatEntry> parseDat(nlattr **tb)
{
    if (!present(tb, {BATADV_ATTR_DAT_CACHE_IP4ADDRESS, BATADV_ATTR_DAT_CACHE_HWADDRESS,
                      BATADV_ATTR_DAT_CACHE_VID}))
        return std::nullopt;
    DatEntry e;
    e.ip4 = nla_get_u32(tb[BATADV_ATTR_DAT_CACHE_IP4ADDRESS]);
    e.hw = attrMac(tb[BATADV_ATTR_DAT_CACHE_HWADDRESS]);
    e.vid = attrVid(tb[BATADV_ATTR_DAT_CACHE_VID]);
    if (tb[BATADV_ATTR_LAST_SEEN_MSECS])
        e.lastSeenMs = nla_get_u32(tb[BATADV_ATTR_LAST_SEEN_MSECS]);
    return e;
}

std::vector<const char *> mcastFlagNames(std::uint32_t flags)
{
    static const char *names[] = {"want_all_unsnoopables", "want_all_ipv4", "want_all_ipv6",
                                  "want_no_rtr4", "want_no_rtr6", "have_mc_ptype_capa"};
    std::vector<const char *> out;
    for (std::uint32_t bit = 0; bit < 6; bit++)
        if (flags & (1u << bit))
            out.push_back(names[bit]);
    return out;
}

std::optional<McastEntry> parseMcast(nlattr **tb)
{
    if (!tb[BATADV_ATTR_ORIG_ADDRESS])
        return std::nullopt;
    McastEntry e;
    e.originator = attrMac(tb[BATADV_ATTR_ORIG_ADDRESS]);
    if (tb[BATADV_ATTR_MCAST_FLAGS])
        e.flags = nla_get_u32(tb[BATADV_ATTR_MCAST_FLAGS]);
    return e;
}

bool TpResult::complete() const { return reason == BATADV_TP_REASON_COMPLETE; }

const char *TpResult::reasonName() const
{
    switch (reason) {
    case BATADV_TP_REASON_COMPLETE:
        return "complete";
    case BATADV_TP_REASON_CANCEL:
        return "cancelled";
    case BATADV_TP_REASON_DST_UNREACHABLE:
        return "destination unreachable";
    case BATADV_TP_REASON_RESEND_LIMIT:
        return "resend limit reached";
    case BATADV_TP_REASON_ALREADY_ONGOING:
        return "a test to this originator is already running";
    case BATADV_TP_REASON_MEMORY_ERROR:
        return "kernel out of memory";
    case BATADV_TP_REASON_CANT_SEND:
        return "cannot send";
    case BATADV_TP_REASON_TOO_MANY:
        return "too many tests running";
    }
    return "unknown";
}

std::uint64_t TpResult::throughputKbps() const
{
    if (!complete() || testTimeMs == 0)
        return 0;
    return bytes * 8 / testTimeMs; // bytes*8 bits per ms = kbit/s
}

std::optional<TpResult> parseTpResult(nlattr **tb)
{
    if (!present(tb, {BATADV_ATTR_ORIG_ADDRESS, BATADV_ATTR_TPMETER_COOKIE,
                      BATADV_ATTR_TPMETER_RESULT}))
        return std::nullopt;
    TpResult r;
    r.originator = attrMac(tb[BATADV_ATTR_ORIG_ADDRESS]);
    r.cookie = nla_get_u32(tb[BATADV_ATTR_TPMETER_COOKIE]);
    r.reason = nla_get_u8(tb[BATADV_ATTR_TPMETER_RESULT]);
    if (tb[BATADV_ATTR_TPMETER_TEST_TIME])
        r.testTimeMs = nla_get_u32(tb[BATADV_ATTR_TPMETER_TEST_TIME]);
    if (tb[BATADV_ATTR_TPMETER_BYTES])
        r.bytes = nla_get_u64(tb[BATADV_ATTR_TPMETER_BYTES]);
    return r;
}

std::optional<MeshInfo> parseMesh(nlattr **tb)
{
    if (!present(tb, {BATADV_ATTR_MESH_IFINDEX, BATADV_ATTR_MESH_IFNAME,
                      BATADV_ATTR_MESH_ADDRESS}))
        return std::nullopt;
    MeshInfo m;
    m.ifindex = nla_get_u32(tb[BATADV_ATTR_MESH_IFINDEX]);
    m.ifname = nla_get_string(tb[BATADV_ATTR_MESH_IFNAME]);
    m.address = attrMac(tb[BATADV_ATTR_MESH_ADDRESS]);
    if (tb[BATADV_ATTR_VERSION])
        m.version = nla_get_string(tb[BATADV_ATTR_VERSION]);
    if (tb[BATADV_ATTR_ALGO_NAME])
        m.algorithm = nla_get_string(tb[BATADV_ATTR_ALGO_NAME]);
    if (tb[BATADV_ATTR_HARD_IFNAME])
        m.primaryHardif = nla_get_string(tb[BATADV_ATTR_HARD_IFNAME]);
    if (tb[BATADV_ATTR_HARD_ADDRESS])
        m.primaryAddress = attrMac(tb[BATADV_ATTR_HARD_ADDRESS]);
    if (tb[BATADV_ATTR_TT_TTVN])
        m.ttvn = nla_get_u8(tb[BATADV_ATTR_TT_TTVN]);
    if (tb[BATADV_ATTR_BLA_CRC])
        m.blaCrc = nla_get_u16(tb[BATADV_ATTR_BLA_CRC]);

    auto flag = [&](const char *name, int attr) {
        if (tb[attr])
            m.settings[name] = nla_get_u8(tb[attr]) != 0;
    };
    auto u32 = [&](const char *name, int attr, std::uint64_t scale = 1) {
        if (tb[attr])
            m.settings[name] = std::uint64_t{nla_get_u32(tb[attr])} * scale;
    };
    flag("aggregated_ogms", BATADV_ATTR_AGGREGATED_OGMS_ENABLED);
    flag("ap_isolation", BATADV_ATTR_AP_ISOLATION_ENABLED);
    flag("bonding", BATADV_ATTR_BONDING_ENABLED);
    flag("bridge_loop_avoidance", BATADV_ATTR_BRIDGE_LOOP_AVOIDANCE_ENABLED);
    flag("distributed_arp_table", BATADV_ATTR_DISTRIBUTED_ARP_TABLE_ENABLED);
    flag("fragmentation", BATADV_ATTR_FRAGMENTATION_ENABLED);
    flag("multicast_forceflood", BATADV_ATTR_MULTICAST_FORCEFLOOD_ENABLED);
    flag("network_coding", BATADV_ATTR_NETWORK_CODING_ENABLED);
    u32("gw_bandwidth_down_kbps", BATADV_ATTR_GW_BANDWIDTH_DOWN, 100);
    u32("gw_bandwidth_up_kbps", BATADV_ATTR_GW_BANDWIDTH_UP, 100);
    u32("gw_sel_class", BATADV_ATTR_GW_SEL_CLASS);
    u32("isolation_mark", BATADV_ATTR_ISOLATION_MARK);
    u32("isolation_mask", BATADV_ATTR_ISOLATION_MASK);
    u32("log_level", BATADV_ATTR_LOG_LEVEL);
    u32("multicast_fanout", BATADV_ATTR_MULTICAST_FANOUT);
    u32("orig_interval_ms", BATADV_ATTR_ORIG_INTERVAL);
    if (tb[BATADV_ATTR_HOP_PENALTY])
        m.settings["hop_penalty"] = std::uint64_t{nla_get_u8(tb[BATADV_ATTR_HOP_PENALTY])};
    if (tb[BATADV_ATTR_GW_MODE]) {
        static const char *modes[] = {"off", "client", "server"};
        std::uint8_t mode = nla_get_u8(tb[BATADV_ATTR_GW_MODE]);
        m.settings["gw_mode"] = std::string(mode < 3 ? modes[mode] : "unknown");
    }
    return m;
}

} // namespace batman
