// SPDX-License-Identifier: GPL-2.0-or-later
// rtnetlink as the kernel's replies and notifications reach meshd: the input
// is cut into netlink messages the way libnl's receive loop cuts a datagram
// (nlmsg_ok / nlmsg_next), and each is parsed as a link reply, a link
// notification and a CAKE qdisc's statistics.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <linux/netlink.h>
#include <netlink/msg.h>
#include <vector>

#include "netdev.h"
#include "rtnl.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    // A datagram as recvmsg() leaves it: aligned, and no longer than it is.
    std::vector<std::uint32_t> aligned((size + 3) / 4);
    if (size)
        std::memcpy(aligned.data(), data, size);
    auto *hdr = reinterpret_cast<nlmsghdr *>(aligned.data());
    int remaining = static_cast<int>(size);
    for (int n = 0; nlmsg_ok(hdr, remaining) && n < 64; hdr = nlmsg_next(hdr, &remaining), ++n) {
        nl_msg *msg = nlmsg_convert(hdr);
        if (!msg)
            break;
        batman::LinkInfo info;
        (void)batman::parseLinkReply(msg, info);
        (void)batman::parseLinkChange(msg);
        int ifindex = 0;
        std::uint32_t handle = 0;
        std::vector<batman::CakeTin> tins;
        if (batman::parseCakeQdisc(msg, ifindex, handle, tins) && tins.size() > 8)
            __builtin_trap(); // at most TC_CAKE_MAX_TINS tins are kept
        nlmsg_free(msg);
    }
    return 0;
}
