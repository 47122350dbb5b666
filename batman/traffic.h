// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace batman {

// The traffic counters batman-adv keeps for a mesh interface (what
// `ethtool -S bat0` shows: tx, rx, forward, mgmt_tx, ... and their _bytes).
// Returns 0 or -errno.
int trafficCounters(const std::string &meshInterface,
                    std::vector<std::pair<std::string, std::uint64_t>> &out);

} // namespace batman
