// SPDX-License-Identifier: GPL-2.0-or-later
#include "diff.h"

namespace batman {

MeshSnapshot snapshot(const std::vector<OriginatorEntry> &originators,
                      const std::vector<NeighborEntry> &neighbors,
                      const std::vector<GatewayEntry> &gateways,
                      const std::vector<HardifEntry> &hardifs)
{
    MeshSnapshot s;
    for (const auto &o : originators) {
        s.known[o.originator] = true;
        if (o.best)
            s.routes[o.originator] = BestHop{o.neighbor, o.hardif};
    }
    for (const auto &n : neighbors)
        s.neighbors[{n.neighbor, n.hardif}] = true;
    for (const auto &g : gateways)
        s.gateways[g.originator] = g.best;
    for (const auto &h : hardifs)
        s.hardifs[h.name] = h.active;
    return s;
}

void carryOver(const MeshSnapshot &before, MeshSnapshot &after)
{
    for (const auto &[orig, hop] : before.routes)
        if (!after.routes.count(orig) && after.known.count(orig))
            after.routes[orig] = hop;
}

const char *eventName(MeshEvent::Kind kind)
{
    switch (kind) {
    case MeshEvent::Kind::OriginatorAdded:
        return "originator_added";
    case MeshEvent::Kind::OriginatorRemoved:
        return "originator_removed";
    case MeshEvent::Kind::BestHopChanged:
        return "best_next_hop_changed";
    case MeshEvent::Kind::NeighborUp:
        return "neighbor_up";
    case MeshEvent::Kind::NeighborDown:
        return "neighbor_down";
    case MeshEvent::Kind::GatewayAdded:
        return "gateway_added";
    case MeshEvent::Kind::GatewayRemoved:
        return "gateway_removed";
    case MeshEvent::Kind::GatewaySelected:
        return "gateway_selected";
    case MeshEvent::Kind::HardifActive:
        return "hardif_active";
    case MeshEvent::Kind::HardifInactive:
        return "hardif_inactive";
    }
    return "unknown";
}

std::vector<MeshEvent> diff(const MeshSnapshot &before, const MeshSnapshot &after)
{
    using K = MeshEvent::Kind;
    std::vector<MeshEvent> out;
    for (const auto &[name, active] : after.hardifs) {
        auto it = before.hardifs.find(name);
        if ((it == before.hardifs.end() && active) || (it != before.hardifs.end() && it->second != active))
            out.push_back({active ? K::HardifActive : K::HardifInactive, {}, name, {}, {}});
    }
    for (const auto &[name, active] : before.hardifs)
        if (active && !after.hardifs.count(name))
            out.push_back({K::HardifInactive, {}, name, {}, {}});

    for (const auto &[key, up] : after.neighbors)
        if (!before.neighbors.count(key))
            out.push_back({K::NeighborUp, std::get<0>(key), std::get<1>(key), {}, {}});
    for (const auto &[key, up] : before.neighbors)
        if (!after.neighbors.count(key))
            out.push_back({K::NeighborDown, std::get<0>(key), std::get<1>(key), {}, {}});

    for (const auto &[orig, hop] : after.routes) {
        auto it = before.routes.find(orig);
        if (it == before.routes.end())
            out.push_back({K::OriginatorAdded, orig, hop.hardif, {}, hop});
        else if (!(it->second == hop))
            out.push_back({K::BestHopChanged, orig, hop.hardif, it->second, hop});
    }
    for (const auto &[orig, hop] : before.routes)
        if (!after.routes.count(orig))
            out.push_back({K::OriginatorRemoved, orig, hop.hardif, hop, {}});

    for (const auto &[gw, selected] : after.gateways) {
        auto it = before.gateways.find(gw);
        if (it == before.gateways.end())
            out.push_back({K::GatewayAdded, gw, {}, {}, {}});
        if (selected && (it == before.gateways.end() || !it->second))
            out.push_back({K::GatewaySelected, gw, {}, {}, {}});
    }
    for (const auto &[gw, selected] : before.gateways)
        if (!after.gateways.count(gw))
            out.push_back({K::GatewayRemoved, gw, {}, {}, {}});
    return out;
}

} // namespace batman
