// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "tables.h"

namespace batman {

// Snapshots of the tables meshd polls, keyed for diffing. The kernel sends
// no topology events, so changes are found by comparing two snapshots.
struct BestHop {
    Mac neighbor;
    std::string hardif;
    bool operator==(const BestHop &) const = default;
};

struct MeshSnapshot {
    std::map<Mac, BestHop> routes;                            // originator -> best next hop
    std::map<Mac, bool> known;                                // every originator in the table
    std::map<std::tuple<Mac, std::string>, bool> neighbors;   // (neighbour, hardif)
    std::map<Mac, bool> gateways;                             // originator -> selected
    std::map<std::string, bool> hardifs;                      // name -> active
};

MeshSnapshot snapshot(const std::vector<OriginatorEntry> &originators,
                      const std::vector<NeighborEntry> &neighbors,
                      const std::vector<GatewayEntry> &gateways,
                      const std::vector<HardifEntry> &hardifs);

struct MeshEvent {
    enum class Kind {
        OriginatorAdded,
        OriginatorRemoved,
        BestHopChanged,
        NeighborUp,
        NeighborDown,
        GatewayAdded,
        GatewayRemoved,
        GatewaySelected,
        HardifActive,
        HardifInactive,
    } kind;
    Mac address;                 // originator, neighbour or gateway
    std::string hardif;
    std::optional<BestHop> from; // BestHopChanged, OriginatorRemoved
    std::optional<BestHop> to;   // BestHopChanged, OriginatorAdded
};

const char *eventName(MeshEvent::Kind kind);

// An originator still in the table but without a best entry is between
// routers (its old one was just purged): it keeps its previous best hop in
// `after`, so that the change is reported once as a best-hop change instead
// of a removal and an addition.
void carryOver(const MeshSnapshot &before, MeshSnapshot &after);

// Events that turn `before` into `after`, in a stable order.
std::vector<MeshEvent> diff(const MeshSnapshot &before, const MeshSnapshot &after);

} // namespace batman
