// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace meshd::forward::link {

// Thin wrappers over one rtnetlink request each (NETLINK_ROUTE, one socket per
// call: they run at start-up and shutdown only). Each returns 0 or -errno,
// the kernel's answer where it gave one.

using Mac = std::array<std::uint8_t, 6>;

// A veth pair `name` <-> `peer`, both with this MTU, both down.
int createVeth(const std::string &name, const std::string &peer, std::uint32_t mtu);

struct LinkChange {
    std::uint32_t mtu = 0;       // 0: keep
    const Mac *mac = nullptr;    // nullptr: keep
    bool up = false;             // set IFF_UP
    bool noLinkLocal = false;    // IPv6 address generation off (no link-local, no ND noise)
};
int changeLink(int ifindex, const LinkChange &change);

int deleteLink(int ifindex);

// Turns off TX checksum offload (and with it TSO) with SIOCETHTOOL, so that
// frames leave the interface with their checksums filled in: AF_PACKET on
// the far end of a veth would otherwise see CHECKSUM_PARTIAL frames whose
// checksum the peer's kernel never computes.
int disableTxChecksum(const std::string &name);

// if_nametoindex: the index, or -errno.
int linkIndex(const std::string &name);
// SIOCGIFHWADDR.
int linkMac(const std::string &name, Mac &out);

} // namespace meshd::forward::link
