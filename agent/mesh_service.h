// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "commands.h"
#include "config.h"
#include "netlink.h"

namespace prometheus {
template <typename T> class Family;
class Counter;
class Histogram;
} // namespace prometheus

namespace meshd {

class Metrics;

// Adapts the batman-adv driver to control commands, JSON and metrics.
class MeshService {
public:
    MeshService(const Config &config, Metrics &metrics);

    void registerCommands(CommandRegistry &commands);
    // The "mesh" member of `status`.
    nlohmann::json status();

private:
    // Opens the genl socket on first use and finds the mesh interface.
    // Returns an empty string or why the mesh cannot be queried.
    std::string prepare(int &ifindex);
    CommandResult failure(const char *op, int err);
    template <typename Fn> CommandResult table(const char *name, Fn dump);

    const Config &config_;
    Metrics &metrics_;
    batman::Netlink netlink_;
    prometheus::Family<prometheus::Counter> &netlinkErrors_;
    prometheus::Family<prometheus::Histogram> &dumpDuration_;
};

} // namespace meshd
