// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <array>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "tables.h"

namespace batman {

// A network interface name held inline (at most IFNAMSIZ - 1 characters),
// so that tables of thousands of routes need no allocation per row.
struct IfName {
    std::array<char, 16> chars{};

    IfName() = default;
    explicit IfName(std::string_view name);
    std::string str() const { return std::string(chars.data(), strnlen(chars.data(), 16)); }
    auto operator<=>(const IfName &) const = default;
};

// One originator's best next hop: 28 bytes, kept sorted by originator.
struct Route {
    Mac originator;
    Mac neighbor;
    IfName hardif;
    bool best = false; // false: in the table but between routers (no best entry)
};

struct BestHop {
    Mac neighbor;
    std::string hardif;
    bool operator==(const BestHop &) const = default;
};

// Snapshots of the tables meshd polls, keyed for diffing. The kernel sends
// no topology events, so changes are found by comparing two snapshots.
struct MeshSnapshot {
    std::vector<Route> routes;                                // sorted by originator
    std::map<std::tuple<Mac, std::string>, bool> neighbors;   // (neighbour, hardif)
    std::map<Mac, bool> gateways;                             // originator -> selected
    std::map<std::string, bool> hardifs;                      // name -> active

    // Takes every (originator, neighbour, hardif) row of an originator dump
    // in any order and keeps one per originator: its best entry, or a
    // placeholder when it has none. Returns how many rows were repeats.
    unsigned setOriginators(std::vector<Route> &&rows);
    // Originators with a best next hop (after carryOver: also those between routers).
    std::size_t originators() const;
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
// of a removal and an addition. Placeholders with no previous hop are
// dropped. Linear in the two tables.
void carryOver(const MeshSnapshot &before, MeshSnapshot &after);

// Events that turn `before` into `after`, in a stable order; a merge of
// the sorted route tables, without copying them.
std::vector<MeshEvent> diff(const MeshSnapshot &before, const MeshSnapshot &after);

} // namespace batman
