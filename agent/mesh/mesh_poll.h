// SPDX-License-Identifier: GPL-2.0-or-later
// The state of one poll in progress (private to MeshService).
#pragma once

#include <chrono>
#include <cstdint>
#include <linux/batman_adv.h>
#include <map>
#include <vector>

#include "diff.h"
#include "mesh_service.h"
#include "netlink.h"
#include "tables.h"

namespace meshd {

// One poll dumps six tables, one after the other, on a socket of its own.
// Each table streams in: every turn of the event loop parses at most
// `pumpBudget` worth of replies and then yields, so a table of 10,000
// originators never holds up the control socket.
struct MeshService::PollRun {
    enum Step { Originators, Neighbors, Gateways, Hardifs, LocalTt, GlobalTt, Finished };
    static constexpr const char *names[] = {"originators",        "neighbors",
                                            "gateways",           "interfaces",
                                            "translations_local", "translations_global"};
    static constexpr int commands[] = {BATADV_CMD_GET_ORIGINATORS,     BATADV_CMD_GET_NEIGHBORS,
                                       BATADV_CMD_GET_GATEWAYS,        BATADV_CMD_GET_HARDIF,
                                       BATADV_CMD_GET_TRANSTABLE_LOCAL,
                                       BATADV_CMD_GET_TRANSTABLE_GLOBAL};

    int ifindex = 0;
    int step = Originators;
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
    std::chrono::nanoseconds cpu{0}; // the event loop thread's CPU time in this poll's turns
    int attempt = 0;
    std::chrono::steady_clock::time_point stepStart;
    unsigned badEntries = 0;

    std::vector<batman::Route> routes;
    struct NeighborTq {
        batman::Mac neighbor;
        batman::IfName hardif;
        std::uint8_t tq;
    };
    std::vector<NeighborTq> neighborTq; // originator entries of the neighbours themselves
    std::vector<batman::NeighborEntry> neighbors;
    std::vector<batman::GatewayEntry> gateways;
    std::vector<batman::HardifEntry> hardifs;
    std::vector<std::uint64_t> localTt;                                // client << 16 | vid
    std::vector<std::pair<std::uint64_t, batman::Mac>> globalTt;       // + originator
    std::map<std::uint32_t, batman::IfName> hardifNames;               // ifindex cache

    batman::IfName hardifName(std::uint32_t ifindex, const std::string &given)
    {
        if (!given.empty())
            return batman::IfName(given);
        auto it = hardifNames.find(ifindex);
        if (it == hardifNames.end())
            it = hardifNames.emplace(ifindex, batman::IfName(batman::interfaceName(ifindex))).first;
        return it->second;
    }

    // Clears what a restarted step collects.
    void resetStep()
    {
        switch (step) {
        case Originators:
            routes.clear();
            neighborTq.clear();
            break;
        case Neighbors:
            neighbors.clear();
            break;
        case Gateways:
            gateways.clear();
            break;
        case Hardifs:
            hardifs.clear();
            break;
        case LocalTt:
            localTt.clear();
            break;
        case GlobalTt:
            globalTt.clear();
            break;
        }
    }

    void entry(nlattr **tb)
    {
        auto macKey = [](const batman::Mac &m, std::uint16_t vid) {
            std::uint64_t k = 0;
            for (auto b : m.bytes)
                k = k << 8 | b;
            return k << 16 | vid;
        };
        switch (step) {
        case Originators:
            if (auto o = batman::parseOriginator(tb)) {
                batman::IfName h = hardifName(o->hardifIndex, o->hardif);
                routes.push_back({o->originator, o->neighbor, h, o->best});
                if (o->tq && o->originator == o->neighbor)
                    neighborTq.push_back({o->neighbor, h, *o->tq});
                return;
            }
            break;
        case Neighbors:
            if (auto n = batman::parseNeighbor(tb)) {
                if (n->hardif.empty())
                    n->hardif = hardifName(n->hardifIndex, {}).str();
                neighbors.push_back(std::move(*n));
                return;
            }
            break;
        case Gateways:
            if (auto g = batman::parseGateway(tb)) {
                gateways.push_back(std::move(*g));
                return;
            }
            break;
        case Hardifs:
            if (auto h = batman::parseHardif(tb)) {
                if (h->name.empty())
                    h->name = batman::interfaceName(h->ifindex);
                hardifs.push_back(std::move(*h));
                return;
            }
            break;
        case LocalTt:
            if (auto t = batman::parseLocalTranslation(tb)) {
                localTt.push_back(macKey(t->client, t->vid.raw));
                return;
            }
            break;
        case GlobalTt:
            if (auto t = batman::parseGlobalTranslation(tb)) {
                globalTt.emplace_back(macKey(t->client, t->vid.raw), t->originator);
                return;
            }
            break;
        }
        badEntries++;
    }
};

} // namespace meshd
