// SPDX-License-Identifier: GPL-2.0-or-later
#include "netdev.h"

#include <cerrno>
#include <cstring>
#include <linux/pkt_sched.h>
#include <memory>
#include <netlink/cache.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/tc.h>

namespace batman {

namespace {

using Sock = std::unique_ptr<nl_sock, decltype(&nl_socket_free)>;

Sock routeSocket()
{
    Sock s(nl_socket_alloc(), nl_socket_free);
    if (s && nl_connect(s.get(), NETLINK_ROUTE) < 0)
        s.reset();
    return s;
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
    return 0;
}

} // namespace batman
