// SPDX-License-Identifier: GPL-2.0-or-later
#include "diff.h"

#include <algorithm>
#include <tuple>

namespace batman {

IfName::IfName(std::string_view name)
{
    std::memcpy(chars.data(), name.data(), std::min(name.size(), chars.size() - 1));
}

unsigned MeshSnapshot::setOriginators(std::vector<Route> &&rows)
{
    // Best entries first within an originator, then a stable order.
    std::sort(rows.begin(), rows.end(), [](const Route &a, const Route &b) {
        if (a.originator != b.originator)
            return a.originator < b.originator;
        if (a.best != b.best)
            return a.best;
        return std::tie(a.neighbor, a.hardif) < std::tie(b.neighbor, b.hardif);
    });
    unsigned repeats = 0;
    std::size_t w = 0;
    for (std::size_t i = 0; i < rows.size(); i++) {
        if (w > 0 && rows[w - 1].originator == rows[i].originator) {
            const Route &kept = rows[w - 1];
            if (kept.neighbor == rows[i].neighbor && kept.hardif == rows[i].hardif &&
                kept.best == rows[i].best)
                repeats++;
            continue;
        }
        rows[w++] = rows[i];
    }
    rows.resize(w);
    routes = std::move(rows);
    return repeats;
}

std::size_t MeshSnapshot::originators() const
{
    return static_cast<std::size_t>(
        std::count_if(routes.begin(), routes.end(), [](const Route &r) { return r.best; }));
}

MeshSnapshot snapshot(const std::vector<OriginatorEntry> &originators,
                      const std::vector<NeighborEntry> &neighbors,
                      const std::vector<GatewayEntry> &gateways,
                      const std::vector<HardifEntry> &hardifs)
{
    MeshSnapshot s;
    std::vector<Route> rows;
    rows.reserve(originators.size());
    for (const auto &o : originators)
        rows.push_back({o.originator, o.neighbor, IfName(o.hardif), o.best});
    s.setOriginators(std::move(rows));
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
    auto prev = before.routes.begin();
    for (auto &r : after.routes) {
        if (r.best)
            continue;
        while (prev != before.routes.end() && prev->originator < r.originator)
            ++prev;
        if (prev != before.routes.end() && prev->originator == r.originator && prev->best) {
            r.neighbor = prev->neighbor;
            r.hardif = prev->hardif;
            r.best = true;
        }
    }
    std::erase_if(after.routes, [](const Route &r) { return !r.best; });
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

    // Both route tables are sorted by originator: one merge finds every change.
    auto hop = [](const Route &r) { return BestHop{r.neighbor, r.hardif.str()}; };
    auto b = before.routes.begin(), bEnd = before.routes.end();
    auto a = after.routes.begin(), aEnd = after.routes.end();
    auto skip = [](auto &it, auto end) {
        while (it != end && !it->best)
            ++it;
    };
    for (skip(b, bEnd), skip(a, aEnd); b != bEnd || a != aEnd; skip(b, bEnd), skip(a, aEnd)) {
        if (a == aEnd || (b != bEnd && b->originator < a->originator)) {
            out.push_back({K::OriginatorRemoved, b->originator, b->hardif.str(), hop(*b), {}});
            ++b;
        } else if (b == bEnd || a->originator < b->originator) {
            out.push_back({K::OriginatorAdded, a->originator, a->hardif.str(), {}, hop(*a)});
            ++a;
        } else {
            if (a->neighbor != b->neighbor || a->hardif != b->hardif)
                out.push_back(
                    {K::BestHopChanged, a->originator, a->hardif.str(), hop(*b), hop(*a)});
            ++a;
            ++b;
        }
    }

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
