// SPDX-License-Identifier: GPL-2.0-or-later
#include "netdev.h"

#include <cerrno>
#include <cstring>
#include <linux/gen_stats.h>
#include <linux/rtnetlink.h>
#include <map>
#include <linux/pkt_sched.h>
#include <memory>
#include <netlink/cache.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/tc.h>

namespace batman {

bool parseCakeQdisc(nl_msg *msg, int &ifindex, std::uint32_t &handle, std::vector<CakeTin> &tins)
{
    nlmsghdr *hdr = nlmsg_hdr(msg);
    if (hdr->nlmsg_type != RTM_NEWQDISC || !nlmsg_valid_hdr(hdr, sizeof(tcmsg)))
        return false;
    auto *tcm = static_cast<tcmsg *>(nlmsg_data(hdr));
    nlattr *tb[TCA_MAX + 1];
    if (nlmsg_parse(hdr, sizeof(tcmsg), tb, TCA_MAX, nullptr) < 0 || !tb[TCA_KIND] ||
        !tb[TCA_STATS2])
        return false;
    if (nla_strcmp(tb[TCA_KIND], "cake") != 0)
        return false;
    nlattr *stats[TCA_STATS_MAX + 1];
    if (nla_parse_nested(stats, TCA_STATS_MAX, tb[TCA_STATS2], nullptr) < 0 ||
        !stats[TCA_STATS_APP])
        return false;
    nlattr *cake[TCA_CAKE_STATS_MAX + 1];
    if (nla_parse_nested(cake, TCA_CAKE_STATS_MAX, stats[TCA_STATS_APP], nullptr) < 0 ||
        !cake[TCA_CAKE_STATS_TIN_STATS])
        return false;
    static nla_policy tinPolicy[TCA_CAKE_TIN_STATS_MAX + 1] = {};
    for (int a : {TCA_CAKE_TIN_STATS_PEAK_DELAY_US, TCA_CAKE_TIN_STATS_AVG_DELAY_US,
                  TCA_CAKE_TIN_STATS_BASE_DELAY_US, TCA_CAKE_TIN_STATS_SENT_PACKETS,
                  TCA_CAKE_TIN_STATS_DROPPED_PACKETS, TCA_CAKE_TIN_STATS_BACKLOG_BYTES})
        tinPolicy[a].type = NLA_U32;
    tins.clear();
    nlattr *tin;
    int rem;
    nla_for_each_nested(tin, cake[TCA_CAKE_STATS_TIN_STATS], rem)
    {
        nlattr *t[TCA_CAKE_TIN_STATS_MAX + 1];
        // Tins are numbered from 1, and CAKE has at most 8 (TC_CAKE_MAX_TINS).
        if (nla_type(tin) < 1 || nla_type(tin) > 8 || tins.size() >= 8)
            continue;
        if (nla_parse_nested(t, TCA_CAKE_TIN_STATS_MAX, tin, tinPolicy) < 0)
            continue; // a malformed tin is skipped, not misread
        CakeTin c;
        c.index = static_cast<unsigned>(nla_type(tin)) - 1;
        auto u32 = [&](int a) { return t[a] ? nla_get_u32(t[a]) : 0u; };
        c.peakDelayUs = u32(TCA_CAKE_TIN_STATS_PEAK_DELAY_US);
        c.avgDelayUs = u32(TCA_CAKE_TIN_STATS_AVG_DELAY_US);
        c.baseDelayUs = u32(TCA_CAKE_TIN_STATS_BASE_DELAY_US);
        c.sentPackets = u32(TCA_CAKE_TIN_STATS_SENT_PACKETS);
        c.droppedPackets = u32(TCA_CAKE_TIN_STATS_DROPPED_PACKETS);
        c.backlogBytes = u32(TCA_CAKE_TIN_STATS_BACKLOG_BYTES);
        tins.push_back(c);
    }
    ifindex = tcm->tcm_ifindex;
    handle = tcm->tcm_handle;
    return true;
}

namespace {

using Sock = std::unique_ptr<nl_sock, decltype(&nl_socket_free)>;

Sock routeSocket()
{
    Sock s(nl_socket_alloc(), nl_socket_free);
    if (s && nl_connect(s.get(), NETLINK_ROUTE) < 0)
        s.reset();
    return s;
}

// CAKE's per-tin statistics live in its TCA_STATS_APP attributes, which
// libnl does not parse: one raw RTM_GETQDISC dump reads them.
struct CakeDump {
    std::map<std::pair<int, std::uint32_t>, std::vector<CakeTin>> tins; // (ifindex, handle)
};

int onCakeQdisc(nl_msg *msg, void *arg)
{
    auto *dump = static_cast<CakeDump *>(arg);
    int ifindex = 0;
    std::uint32_t handle = 0;
    std::vector<CakeTin> tins;
    if (!parseCakeQdisc(msg, ifindex, handle, tins))
        return NL_SKIP;
    dump->tins[{ifindex, handle}] = std::move(tins);
    return NL_OK;
}


void readCakeTins(std::map<int, std::vector<QdiscStats>> &out)
{
    Sock s = routeSocket();
    if (!s)
        return;
    CakeDump dump;
    nl_socket_modify_cb(s.get(), NL_CB_VALID, NL_CB_CUSTOM, onCakeQdisc, &dump);
    tcmsg req{};
    req.tcm_family = AF_UNSPEC;
    if (nl_send_simple(s.get(), RTM_GETQDISC, NLM_F_DUMP, &req, sizeof(req)) < 0 ||
        nl_recvmsgs_default(s.get()) < 0)
        return;
    for (auto &[ifindex, qdiscs] : out)
        for (auto &q : qdiscs)
            if (auto it = dump.tins.find({ifindex, q.handle}); it != dump.tins.end())
                q.tins = it->second;
}

} // namespace

int deviceStats(int ifindex, DeviceStats &out)
{
    Sock s = routeSocket();
    if (!s)
        return -EIO;
    rtnl_link *link = nullptr;
    if (int err = rtnl_link_get_kernel(s.get(), ifindex, nullptr, &link); err < 0)
        return err == -NLE_OBJ_NOTFOUND || err == -NLE_NODEV ? -ENODEV : -EIO;
    auto get = [&](rtnl_link_stat_id_t id) { return rtnl_link_get_stat(link, id); };
    out.rxPackets = get(RTNL_LINK_RX_PACKETS);
    out.txPackets = get(RTNL_LINK_TX_PACKETS);
    out.rxBytes = get(RTNL_LINK_RX_BYTES);
    out.txBytes = get(RTNL_LINK_TX_BYTES);
    out.rxErrors = get(RTNL_LINK_RX_ERRORS);
    out.txErrors = get(RTNL_LINK_TX_ERRORS);
    out.rxDropped = get(RTNL_LINK_RX_DROPPED);
    out.txDropped = get(RTNL_LINK_TX_DROPPED);
    rtnl_link_put(link);
    return 0;
}

int qdiscStats(std::map<int, std::vector<QdiscStats>> &out)
{
    out.clear();
    Sock s = routeSocket();
    if (!s)
        return -EIO;
    nl_cache *cache = nullptr;
    if (rtnl_qdisc_alloc_cache(s.get(), &cache) < 0)
        return -EIO;
    for (nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
        auto *tc = reinterpret_cast<rtnl_tc *>(o);
        const char *kind = rtnl_tc_get_kind(tc);
        std::string k = kind ? kind : "";
        if (k == "clsact" || k == "ingress")
            continue;
        QdiscStats q;
        q.kind = k;
        q.handle = rtnl_tc_get_handle(tc);
        q.parent = rtnl_tc_get_parent(tc);
        q.root = q.parent == TC_H_ROOT;
        q.packets = rtnl_tc_get_stat(tc, RTNL_TC_PACKETS);
        q.bytes = rtnl_tc_get_stat(tc, RTNL_TC_BYTES);
        q.drops = rtnl_tc_get_stat(tc, RTNL_TC_DROPS);
        q.overlimits = rtnl_tc_get_stat(tc, RTNL_TC_OVERLIMITS);
        q.requeues = rtnl_tc_get_stat(tc, RTNL_TC_REQUEUES);
        q.backlogBytes = rtnl_tc_get_stat(tc, RTNL_TC_BACKLOG);
        q.qlen = rtnl_tc_get_stat(tc, RTNL_TC_QLEN);
        out[rtnl_tc_get_ifindex(tc)].push_back(std::move(q));
    }
    nl_cache_free(cache);
    bool cake = false;
    for (const auto &[ifindex, qdiscs] : out)
        for (const auto &q : qdiscs)
            cake = cake || q.kind == "cake";
    if (cake)
        readCakeTins(out);
    return 0;
}

} // namespace batman
