// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

struct nl_msg;

namespace batman {

// Device counters of an interface (rtnl_link_stats64 over rtnetlink).
struct DeviceStats {
    std::uint64_t rxPackets = 0, txPackets = 0, rxBytes = 0, txBytes = 0;
    std::uint64_t rxErrors = 0, txErrors = 0, rxDropped = 0, txDropped = 0;
};

// One tin (priority class) of a CAKE qdisc.
struct CakeTin {
    unsigned index = 0;
    std::uint32_t peakDelayUs = 0, avgDelayUs = 0, baseDelayUs = 0;
    std::uint32_t sentPackets = 0, droppedPackets = 0, backlogBytes = 0;
};

// A qdisc of an interface and its statistics (clsact and ingress, which
// queue nothing, are left out).
struct QdiscStats {
    std::string kind;   // "fq_codel", "cake", "netem", ...
    std::uint32_t handle = 0;
    std::uint32_t parent = 0;
    bool root = false;
    std::uint64_t packets = 0, bytes = 0, drops = 0, overlimits = 0, requeues = 0;
    std::uint64_t backlogBytes = 0, qlen = 0;
    std::vector<CakeTin> tins; // CAKE only: its tins' queueing delays
};

// One RTM_NEWQDISC message of a CAKE qdisc: its interface, handle and tins
// (public for the fuzz tier). False when it is not one or is malformed.
bool parseCakeQdisc(nl_msg *msg, int &ifindex, std::uint32_t &handle, std::vector<CakeTin> &tins);

// One rtnetlink request each; 0 or -errno.
int deviceStats(int ifindex, DeviceStats &out);
// The qdiscs of every interface in this network namespace, by ifindex.
int qdiscStats(std::map<int, std::vector<QdiscStats>> &out);

} // namespace batman
