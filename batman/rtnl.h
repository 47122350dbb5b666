// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <optional>
#include <string>

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
int createMeshInterface(const std::string &name, const std::string &algorithm);
int deleteLink(const std::string &name);
// master "" detaches.
int setMaster(const std::string &hardif, const std::string &master);
int setUp(const std::string &name, bool up);

} // namespace batman
