// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <functional>
#include <optional>
#include <string>

struct nl_msg;
struct nl_sock;

namespace batman {

// rtnetlink operations on links of this network namespace. Each returns 0
// or -errno (-EEXIST, -ENODEV, -EOPNOTSUPP when batman-adv is missing...).
struct LinkInfo {
    unsigned ifindex = 0;
    std::string kind;      // "batadv", "veth", ... ("" when unknown)
    unsigned master = 0;   // ifindex of the master, 0 if none
    bool up = false;
    bool lowerUp = false;
};

std::optional<LinkInfo> linkInfo(const std::string &name);

// Link notifications (RTNLGRP_LINK) of this network namespace, for an
// event loop: watch fd() and call drain() when it is readable.
class LinkEvents {
public:
    struct Change {
        std::string name;
        unsigned ifindex = 0;
        unsigned master = 0;
        bool removed = false;
        bool up = false;
    };

    LinkEvents() = default;
    ~LinkEvents();
    LinkEvents(const LinkEvents &) = delete;
    LinkEvents &operator=(const LinkEvents &) = delete;

    int open(); // 0 or -errno
    int fd() const;
    // Reads what is pending without blocking; returns 0 or -errno.
    int drain(const std::function<void(const Change &)> &onChange);

private:
    ::nl_sock *sock_ = nullptr;
};
// The parsers of rtnetlink link messages (public for the fuzz tier): an
// RTM_NEWLINK reply, and a link notification (RTM_NEWLINK or RTM_DELLINK).
// A message that is not one, or is malformed, gives false / nullopt.
bool parseLinkReply(nl_msg *msg, LinkInfo &out);
std::optional<LinkEvents::Change> parseLinkChange(nl_msg *msg);

int createMeshInterface(const std::string &name, const std::string &algorithm);
int deleteLink(const std::string &name);
// master "" detaches.
int setMaster(const std::string &hardif, const std::string &master);
int setUp(const std::string &name, bool up);

} // namespace batman
