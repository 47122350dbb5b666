// SPDX-License-Identifier: GPL-2.0-or-later
#include "attrs.h"

#include <array>
#include <cstring>
#include <linux/batman_adv.h>

namespace batman {

namespace {

std::array<nla_policy, BATADV_ATTR_MAX + 1> makePolicy()
{
    std::array<nla_policy, BATADV_ATTR_MAX + 1> p{};
    auto set = [&](int attr, std::uint16_t type, std::uint16_t minlen = 0) {
        p[static_cast<std::size_t>(attr)].type = type;
        p[static_cast<std::size_t>(attr)].minlen = minlen;
    };
    for (int a : {BATADV_ATTR_VERSION, BATADV_ATTR_ALGO_NAME, BATADV_ATTR_MESH_IFNAME,
                  BATADV_ATTR_HARD_IFNAME})
        set(a, NLA_STRING);
    for (int a : {BATADV_ATTR_MESH_ADDRESS, BATADV_ATTR_HARD_ADDRESS, BATADV_ATTR_ORIG_ADDRESS,
                  BATADV_ATTR_TT_ADDRESS, BATADV_ATTR_NEIGH_ADDRESS, BATADV_ATTR_ROUTER,
                  BATADV_ATTR_BLA_ADDRESS, BATADV_ATTR_BLA_BACKBONE,
                  BATADV_ATTR_DAT_CACHE_HWADDRESS})
        set(a, NLA_UNSPEC, 6);
    for (int a : {BATADV_ATTR_TT_VID, BATADV_ATTR_BLA_VID, BATADV_ATTR_DAT_CACHE_VID,
                  BATADV_ATTR_VLANID})
        set(a, NLA_UNSPEC, 2);
    for (int a : {BATADV_ATTR_MESH_IFINDEX, BATADV_ATTR_HARD_IFINDEX, BATADV_ATTR_TT_CRC32,
                  BATADV_ATTR_TT_FLAGS, BATADV_ATTR_LAST_SEEN_MSECS, BATADV_ATTR_THROUGHPUT,
                  BATADV_ATTR_BANDWIDTH_UP, BATADV_ATTR_BANDWIDTH_DOWN,
                  BATADV_ATTR_DAT_CACHE_IP4ADDRESS, BATADV_ATTR_MCAST_FLAGS,
                  BATADV_ATTR_MCAST_FLAGS_PRIV, BATADV_ATTR_ISOLATION_MARK,
                  BATADV_ATTR_ISOLATION_MASK, BATADV_ATTR_GW_BANDWIDTH_DOWN,
                  BATADV_ATTR_GW_BANDWIDTH_UP, BATADV_ATTR_GW_SEL_CLASS, BATADV_ATTR_LOG_LEVEL,
                  BATADV_ATTR_ORIG_INTERVAL, BATADV_ATTR_ELP_INTERVAL,
                  BATADV_ATTR_THROUGHPUT_OVERRIDE, BATADV_ATTR_MULTICAST_FANOUT,
                  BATADV_ATTR_TPMETER_TEST_TIME, BATADV_ATTR_TPMETER_COOKIE})
        set(a, NLA_U32);
    for (int a : {BATADV_ATTR_TT_TTVN, BATADV_ATTR_TT_LAST_TTVN, BATADV_ATTR_TQ,
                  BATADV_ATTR_TPMETER_RESULT, BATADV_ATTR_AGGREGATED_OGMS_ENABLED,
                  BATADV_ATTR_AP_ISOLATION_ENABLED, BATADV_ATTR_BONDING_ENABLED,
                  BATADV_ATTR_BRIDGE_LOOP_AVOIDANCE_ENABLED,
                  BATADV_ATTR_DISTRIBUTED_ARP_TABLE_ENABLED, BATADV_ATTR_FRAGMENTATION_ENABLED,
                  BATADV_ATTR_GW_MODE, BATADV_ATTR_HOP_PENALTY,
                  BATADV_ATTR_MULTICAST_FORCEFLOOD_ENABLED, BATADV_ATTR_NETWORK_CODING_ENABLED})
        set(a, NLA_U8);
    set(BATADV_ATTR_BLA_CRC, NLA_U16);
    set(BATADV_ATTR_TPMETER_BYTES, NLA_U64);
    for (int a : {BATADV_ATTR_ACTIVE, BATADV_ATTR_FLAG_BEST, BATADV_ATTR_BLA_OWN})
        set(a, NLA_FLAG);
    return p;
}

} // namespace

const nla_policy *attributePolicy()
{
    static const auto policy = makePolicy();
    return policy.data();
}

int attributeMax() { return BATADV_ATTR_MAX; }

Mac attrMac(const nlattr *attr)
{
    Mac m;
    memcpy(m.bytes.data(), nla_data(attr), 6);
    return m;
}

Vid attrVid(const nlattr *attr)
{
    Vid v;
    if (nla_len(attr) >= 4) {
        std::uint32_t raw;
        memcpy(&raw, nla_data(attr), 4);
        v.raw = static_cast<std::uint16_t>(raw);
    } else {
        memcpy(&v.raw, nla_data(attr), 2);
    }
    return v;
}

} // namespace batman
