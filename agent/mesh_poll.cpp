// SPDX-License-Identifier: GPL-2.0-or-later
// MeshService's polling: table snapshots diffed into monitor events, the
// batman metric families, and batman-adv's config and tpmeter groups.
#include "mesh_service.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <net/if.h>
#include <linux/batman_adv.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <sys/epoll.h>

#include "attrs.h"
#include "counter_snapshot.h"
#include "log.h"
#include "mesh_json.h"
#include "traffic.h"

namespace meshd {

using nlohmann::json;

void MeshService::schedulePoll()
{
    if (pollTimer_)
        loop_.cancelTimer(pollTimer_);
    pollTimer_ = loop_.addTimer(std::chrono::milliseconds(config_.mesh.pollIntervalMs), [this] {
        pollTimer_ = 0;
        poll();
    });
}

void MeshService::poll()
{
    schedulePoll();
    if (config_.mesh.manage)
        reconcile(false);
    int ifindex = 0;
    if (std::string why = prepare(ifindex); !why.empty()) {
        if (snapshot_) {
            publish_("mesh_unavailable", {{"interface", config_.mesh.interface}, {"reason", why}});
            snapshot_.reset();
        }
        return;
    }
    if (!configSock_)
        subscribeConfigGroup(); // batman-adv may have been loaded since start

    std::vector<batman::OriginatorEntry> originators;
    std::vector<batman::NeighborEntry> neighbors;
    std::vector<batman::GatewayEntry> gateways;
    std::vector<batman::HardifEntry> hardifs;
    std::vector<batman::LocalTranslation> localTt;
    std::vector<batman::GlobalTranslation> globalTt;
    auto timed = [&](const char *name, auto fn) {
        auto start = std::chrono::steady_clock::now();
        batman::DumpStats stats;
        int err = fn(&stats);
        if (stats.badEntries)
            netlinkErrors_.Add({{"op", std::string(name) + "_bad_entry"}})
                .Increment(static_cast<double>(stats.badEntries));
        if (err < 0 && err != -ENOENT) {
            netlinkErrors_.Add({{"op", name}}).Increment();
            return false;
        }
        observeDump(name,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        return true;
    };
    using S = batman::DumpStats *;
    bool ok =
        timed("originators", [&](S s) { return netlink_.originators(ifindex, originators, s); }) &&
        timed("neighbors", [&](S s) { return netlink_.neighbors(ifindex, neighbors, s); }) &&
        timed("gateways", [&](S s) { return netlink_.gateways(ifindex, gateways, s); }) &&
        timed("interfaces", [&](S s) { return netlink_.hardifs(ifindex, hardifs, s); });
    timed("translations_local",
          [&](S s) { return netlink_.localTranslations(ifindex, localTt, s); });
    timed("translations_global",
          [&](S s) { return netlink_.globalTranslations(ifindex, globalTt, s); });
    if (!ok)
        return;

    batman::MeshSnapshot next = batman::snapshot(originators, neighbors, gateways, hardifs);
    if (snapshot_) {
        batman::carryOver(*snapshot_, next);
        for (const auto &e : batman::diff(*snapshot_, next)) {
            json fields = {{"interface", config_.mesh.interface}};
            using K = batman::MeshEvent::Kind;
            switch (e.kind) {
            case K::HardifActive:
            case K::HardifInactive:
                fields["hardif"] = e.hardif;
                break;
            case K::NeighborUp:
            case K::NeighborDown:
                fields["neighbor"] = e.address.str();
                fields["hardif"] = e.hardif;
                break;
            case K::GatewayAdded:
            case K::GatewayRemoved:
            case K::GatewaySelected:
                fields["gateway"] = e.address.str();
                break;
            default:
                fields["originator"] = e.address.str();
                if (e.from)
                    fields["from"] = {{"neighbor", e.from->neighbor.str()},
                                      {"hardif", e.from->hardif}};
                if (e.to)
                    fields["to"] = {{"neighbor", e.to->neighbor.str()}, {"hardif", e.to->hardif}};
                break;
            }
            if (e.kind == K::BestHopChanged)
                pathChanges_.Add({{"mesh", config_.mesh.interface}}).Increment();
            publish_(batman::eventName(e.kind), fields);
        }
    }
    snapshot_ = std::move(next);
    updateMetrics(originators, neighbors, hardifs, gateways.size(), localTt.size(),
                  globalTt.size());
}

void MeshService::updateMetrics(const std::vector<batman::OriginatorEntry> &originators,
                                const std::vector<batman::NeighborEntry> &neighbors,
                                const std::vector<batman::HardifEntry> &hardifs,
                                std::size_t gateways, std::size_t localTt, std::size_t globalTt)
{
    const std::string &mesh = config_.mesh.interface;
    originatorsGauge_.Add({{"mesh", mesh}}).Set(static_cast<double>(snapshot_->originators()));
    gatewaysGauge_.Add({{"mesh", mesh}}).Set(static_cast<double>(gateways));
    ttGauge_.Add({{"mesh", mesh}, {"table", "local"}}).Set(static_cast<double>(localTt));
    ttGauge_.Add({{"mesh", mesh}, {"table", "global"}}).Set(static_cast<double>(globalTt));

    std::map<std::string, double> perHardif;
    for (const auto &h : hardifs)
        perHardif[h.name] = 0; // a hardif without neighbours reads 0, not absent
    std::set<batman::Mac> distinct;
    std::set<std::map<std::string, std::string>> labels;
    for (const auto &n : neighbors) {
        perHardif[n.hardif]++;
        distinct.insert(n.neighbor);
        std::map<std::string, std::string> l = {
            {"mesh", mesh}, {"hardif", n.hardif}, {"neighbor", n.neighbor.str()}};
        labels.insert(l);
        if (n.throughputKbps)
            throughputGauge_.Add(l).Set(static_cast<double>(*n.throughputKbps) * 1000.0 / 8.0);
    }
    // TQ towards a neighbour is the TQ of its own originator entry through it.
    for (const auto &o : originators) {
        if (!o.tq || !(o.originator == o.neighbor))
            continue;
        std::map<std::string, std::string> l = {
            {"mesh", mesh}, {"hardif", o.hardif}, {"neighbor", o.neighbor.str()}};
        if (labels.count(l))
            tqGauge_.Add(l).Set(*o.tq / 255.0);
    }
    // Drop series of neighbours that are gone so labels stay bounded.
    for (const auto &old : neighborLabels_) {
        if (labels.count(old))
            continue;
        tqGauge_.Remove(&tqGauge_.Add(old));
        throughputGauge_.Remove(&throughputGauge_.Add(old));
    }
    neighborLabels_ = labels;
    for (const auto &h : hardifLabels_)
        if (!perHardif.count(h))
            neighborsGauge_.Remove(&neighborsGauge_.Add({{"mesh", mesh}, {"hardif", h}}));
    hardifLabels_.clear();
    for (const auto &[h, n] : perHardif) {
        neighborsGauge_.Add({{"mesh", mesh}, {"hardif", h}}).Set(n);
        hardifLabels_.insert(h);
    }
    degreeGauge_.Add({{"mesh", mesh}}).Set(static_cast<double>(distinct.size()));

    std::vector<std::pair<std::string, std::uint64_t>> counters;
    if (batman::trafficCounters(mesh, counters) == 0) {
        std::map<CounterSnapshot::Labels, double> packets, bytes;
        for (const auto &[name, value] : counters) {
            bool isBytes = name.size() > 6 && name.compare(name.size() - 6, 6, "_bytes") == 0;
            std::string counter = isBytes ? name.substr(0, name.size() - 6) : name;
            (isBytes ? bytes : packets)[{{"mesh", mesh}, {"counter", counter}}] =
                static_cast<double>(value);
        }
        trafficPackets_->replace(std::move(packets));
        trafficBytes_->replace(std::move(bytes));
    }
}

void MeshService::subscribeConfigGroup()
{
    configSock_ = nl_socket_alloc();
    if (!configSock_)
        return;
    int group = -1;
    if (genl_connect(configSock_) < 0 ||
        (group = genl_ctrl_resolve_grp(configSock_, BATADV_NL_NAME, BATADV_NL_MCAST_GROUP_CONFIG)) <
            0 ||
        nl_socket_add_membership(configSock_, group) < 0) {
        nl_socket_free(configSock_);
        configSock_ = nullptr;
        return;
    }
    int tpGroup = genl_ctrl_resolve_grp(configSock_, BATADV_NL_NAME, BATADV_NL_MCAST_GROUP_TPMETER);
    if (tpGroup < 0 || nl_socket_add_membership(configSock_, tpGroup) < 0) {
        nl_socket_free(configSock_);
        configSock_ = nullptr;
        return;
    }
    nl_socket_disable_seq_check(configSock_);
    nl_socket_set_nonblocking(configSock_);
    nl_socket_modify_cb(
        configSock_, NL_CB_VALID, NL_CB_CUSTOM,
        [](nl_msg *msg, void *arg) -> int {
            auto *self = static_cast<MeshService *>(arg);
            nlmsghdr *hdr = nlmsg_hdr(msg);
            auto *gnl = static_cast<genlmsghdr *>(nlmsg_data(hdr));
            nlattr *tb[BATADV_ATTR_MAX + 1];
            if (genlmsg_parse(hdr, 0, tb, batman::attributeMax(),
                              const_cast<nla_policy *>(batman::attributePolicy())) < 0) {
                self->netlinkErrors_.Add({{"op", "config_event"}}).Increment();
                return NL_OK;
            }
            // Throughput meter results name no mesh interface; clients match the cookie.
            unsigned ours = if_nametoindex(self->config_.mesh.interface.c_str());
            if (gnl->cmd != BATADV_CMD_TP_METER &&
                (!tb[BATADV_ATTR_MESH_IFINDEX] || nla_get_u32(tb[BATADV_ATTR_MESH_IFINDEX]) != ours))
                return NL_OK;
            if (gnl->cmd == BATADV_CMD_TP_METER) {
                if (auto r = batman::parseTpResult(tb))
                    self->publish_("tp_result", {{"originator", r->originator.str()},
                                                 {"cookie", r->cookie},
                                                 {"result", r->reasonName()},
                                                 {"complete", r->complete()},
                                                 {"test_time_ms", r->testTimeMs},
                                                 {"bytes", r->bytes},
                                                 {"throughput_kbps", r->throughputKbps()}});
            } else if (gnl->cmd == BATADV_CMD_SET_MESH) {
                if (auto info = batman::parseMesh(tb)) {
                    json settings = json::object();
                    for (const auto &[k, v] : info->settings)
                        settings[k] = settingJson(v);
                    self->publish_("settings_changed", {{"interface", info->ifname},
                                                        {"settings", settings}});
                }
            } else if (gnl->cmd == BATADV_CMD_SET_HARDIF) {
                if (auto h = batman::parseHardif(tb)) {
                    std::string name = h->name.empty() ? batman::interfaceName(h->ifindex) : h->name;
                    self->publish_("hardif_settings_changed",
                                   {{"hardif", name},
                                    {"settings",
                                     {{"hop_penalty", optionalJson(h->hopPenalty)},
                                      {"elp_interval_ms", optionalJson(h->elpIntervalMs)},
                                      {"throughput_override_kbps",
                                       optionalJson(h->throughputOverrideKbps)}}}});
                }
            }
            return NL_OK;
        },
        this);
    loop_.addFd(nl_socket_get_fd(configSock_), EPOLLIN, [this](std::uint32_t) { onConfigGroup(); });
}

void MeshService::onConfigGroup()
{
    // Non-blocking: returns when the socket is drained.
    int err = nl_recvmsgs_default(configSock_);
    if (err < 0 && err != -NLE_AGAIN)
        LOG_LIMITED("config-group", Warning, "mesh", "reading batadv config events: %s",
                    nl_geterror(err));
}

} // namespace meshd
