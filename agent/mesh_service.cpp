// SPDX-License-Identifier: GPL-2.0-or-later
#include "mesh_service.h"

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <net/if.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <sys/epoll.h>

#include <linux/batman_adv.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include <prometheus/gauge.h>

#include "attrs.h"
#include "control_protocol.h"
#include "counter_snapshot.h"
#include "traffic.h"
#include "rtnl.h"
#include "log.h"
#include "metrics.h"
#include "module.h"

namespace meshd {

using nlohmann::json;

namespace {

json optional(const auto &v)
{
    return v ? json(*v) : json(nullptr);
}

int vidJson(const batman::Vid &v) { return v.id(); }

json ttFlagNames(std::uint32_t flags)
{
    static const struct {
        std::uint32_t bit;
        const char *name;
    } names[] = {{1u << 0, "del"},     {1u << 1, "roam"},     {1u << 4, "wifi"},
                 {1u << 5, "isolated"}, {1u << 8, "nopurge"}, {1u << 9, "new"},
                 {1u << 10, "pending"}, {1u << 11, "temp"}};
    json out = json::array();
    for (const auto &n : names)
        if (flags & n.bit)
            out.push_back(n.name);
    return out;
}

json settingJson(const batman::SettingValue &v)
{
    return std::visit([](const auto &x) { return json(x); }, v);
}

std::string ipString(std::uint32_t be)
{
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &be, buf, sizeof(buf));
    return buf;
}

} // namespace

MeshService::MeshService(EventLoop &loop, const Config &config, Metrics &metrics,
                         Publish publish)
    : loop_(loop), config_(config), metrics_(metrics), publish_(std::move(publish)),
      netlinkErrors_(prometheus::BuildCounter()
                         .Name("meshd_netlink_errors_total")
                         .Help("Failed batman-adv netlink operations and rejected netlink "
                               "entries, by operation.")
                         .Register(metrics.registry())),
      dumpDuration_(prometheus::BuildHistogram()
                        .Name("meshd_netlink_dump_duration_seconds")
                        .Help("Time to dump and parse one batman-adv table.")
                        .Register(metrics.registry())),
      originatorsGauge_(prometheus::BuildGauge()
                            .Name("meshd_originators")
                            .Help("Originators with a route in the mesh.")
                            .Register(metrics.registry())),
      neighborsGauge_(prometheus::BuildGauge()
                          .Name("meshd_neighbors")
                          .Help("Direct neighbours per hard interface.")
                          .Register(metrics.registry())),
      degreeGauge_(prometheus::BuildGauge()
                       .Name("meshd_node_degree")
                       .Help("Distinct direct neighbours of this node.")
                       .Register(metrics.registry())),
      tqGauge_(prometheus::BuildGauge()
                   .Name("meshd_neighbor_tq_ratio")
                   .Help("Transmit quality towards a neighbour (TQ/255, BATMAN_IV).")
                   .Register(metrics.registry())),
      throughputGauge_(prometheus::BuildGauge()
                           .Name("meshd_neighbor_throughput_bytes_per_second")
                           .Help("Estimated throughput towards a neighbour (BATMAN_V).")
                           .Register(metrics.registry())),
      pathChanges_(prometheus::BuildCounter()
                       .Name("meshd_path_changes_total")
                       .Help("Best next hop changes of originators (path selection churn).")
                       .Register(metrics.registry())),
      ttGauge_(prometheus::BuildGauge()
                   .Name("meshd_translation_table_entries")
                   .Help("Entries of the local and global translation tables.")
                   .Register(metrics.registry())),
      gatewaysGauge_(prometheus::BuildGauge()
                         .Name("meshd_gateways")
                         .Help("Gateways announced in the mesh.")
                         .Register(metrics.registry()))
{
    pathChanges_.Add({{"mesh", config_.mesh.interface}});
    trafficPackets_ = std::make_shared<CounterSnapshot>(
        "meshd_mesh_packets_total",
        "Packets counted by batman-adv on the mesh interface (ethtool -S), by counter.");
    trafficBytes_ = std::make_shared<CounterSnapshot>(
        "meshd_mesh_bytes_total",
        "Bytes counted by batman-adv on the mesh interface (ethtool -S), by counter.");
    metrics.addCollectable(trafficPackets_);
    metrics.addCollectable(trafficBytes_);
}

MeshService::~MeshService()
{
    if (linkEvents_)
        loop_.removeFd(linkEvents_->fd());
    if (configSock_) {
        loop_.removeFd(nl_socket_get_fd(configSock_));
        nl_socket_free(configSock_);
    }
    if (pollTimer_)
        loop_.cancelTimer(pollTimer_);
}

std::string MeshService::prepare(int &ifindex)
{
    if (!netlink_.isOpen()) {
        int err = netlink_.open();
        if (err == -ENOENT)
            return "the kernel has no batman-adv (modprobe batman-adv)";
        if (err < 0)
            return std::string("cannot open generic netlink: ") + strerror(-err);
    }
    ifindex = static_cast<int>(if_nametoindex(config_.mesh.interface.c_str()));
    if (!ifindex)
        return "mesh interface " + config_.mesh.interface + " does not exist";
    return {};
}

CommandResult MeshService::failure(const char *op, int err)
{
    netlinkErrors_.Add({{"op", op}}).Increment();
    if (err == -EOPNOTSUPP || err == -ENODEV || err == -EINVAL)
        return CommandResult::failure(errc::unavailable, config_.mesh.interface +
                                                             " is not a batman-adv interface");
    LOG_LIMITED(std::string("netlink-") + op, Warning, "mesh", "%s on %s failed: %s", op,
                config_.mesh.interface.c_str(), strerror(-err));
    return CommandResult::failure(errc::unavailable,
                                  std::string(op) + " failed: " + strerror(-err));
}

template <typename Fn> CommandResult MeshService::table(const char *name, Fn dump)
{
    int ifindex = 0;
    if (std::string why = prepare(ifindex); !why.empty())
        return CommandResult::failure(errc::unavailable, why);
    batman::DumpStats stats;
    json rows = json::array();
    auto start = std::chrono::steady_clock::now();
    int err = dump(ifindex, stats, rows);
    double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    // ENOENT: no active primary interface yet, so the table is empty.
    if (err < 0 && err != -ENOENT)
        return failure(name, err);
    dumpDuration_.Add({{"table", name}}, prometheus::Histogram::BucketBoundaries{
                                             0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                             0.1, 0.25, 0.5, 1})
        .Observe(took);
    if (stats.badEntries) {
        netlinkErrors_.Add({{"op", std::string(name) + "_bad_entry"}})
            .Increment(static_cast<double>(stats.badEntries));
        LOG_LIMITED(std::string("bad-entry-") + name, Warning, "mesh",
                    "%u malformed %s entries from the kernel were skipped", stats.badEntries, name);
    }
    return CommandResult::success(rows);
}

json MeshService::status()
{
    json mesh = {{"interface", config_.mesh.interface},
                 {"manage", config_.mesh.manage},
                 {"algorithm", config_.mesh.algorithm}};
    json hardifs = json::object();
    for (const auto &[name, state] : hardifState_)
        hardifs[name] = state;
    mesh["hardif_states"] = hardifs;
    if (!lastApply_.empty())
        mesh["settings_applied"] = lastApply_;
    // Hard interfaces: what the kernel has, plus configured ones it lacks.
    json list = json::array();
    std::set<std::string> listed;
    int ifindex = 0;
    std::string why = prepare(ifindex);
    std::vector<batman::HardifEntry> kernelHardifs;
    if (why.empty() && netlink_.hardifs(ifindex, kernelHardifs) == 0)
        for (const auto &h : kernelHardifs) {
            list.push_back({{"hardif", h.name}, {"state", h.active ? "active" : "inactive"}});
            listed.insert(h.name);
        }
    for (const auto &[name, state] : hardifState_)
        if (!listed.count(name))
            list.push_back({{"hardif", name}, {"state", state}});
    mesh["hardifs"] = list;
    if (!why.empty()) {
        mesh["state"] = "unavailable";
        // Manage mode knows more about why (creation failed, wrong kind...).
        mesh["reason"] = meshProblem_.empty() ? why : meshProblem_;
        return mesh;
    }
    batman::MeshInfo info;
    if (int err = netlink_.getMesh(ifindex, info); err < 0) {
        mesh["state"] = "unavailable";
        mesh["reason"] = meshProblem_.empty() ? config_.mesh.interface + ": " + strerror(-err)
                                              : meshProblem_;
        return mesh;
    }
    mesh["state"] = meshProblem_.empty() ? "ok" : "degraded";
    if (!meshProblem_.empty())
        mesh["reason"] = meshProblem_;
    mesh["algorithm"] = info.algorithm;
    mesh["mac"] = info.address.str();
    mesh["batman_adv_version"] = info.version;
    mesh["primary_hardif"] = optional(info.primaryHardif);
    if (snapshot_) {
        mesh["originators"] = snapshot_->routes.size();
        mesh["neighbors"] = snapshot_->neighbors.size();
    }
    if (info.algorithm != config_.mesh.algorithm)
        mesh["note"] = "the kernel runs " + info.algorithm + ", the config asks for " +
                       config_.mesh.algorithm + " (the algorithm is fixed at creation)";
    return mesh;
}

json MeshService::routingAlgorithms()
{
    int ifindex = 0;
    std::vector<std::string> algorithms;
    prepare(ifindex); // opens the family even when the mesh interface is missing
    if (netlink_.isOpen())
        netlink_.routingAlgorithms(algorithms);
    return algorithms;
}

std::string MeshService::start()
{
    if (config_.mesh.manage) {
        if (std::string err = reconcile(true); !err.empty()) {
            if (createdByUs_)
                batman::deleteLink(config_.mesh.interface);
            return err;
        }
    }
    subscribeConfigGroup();
    watchLinks();
    poll();
    return {};
}

void MeshService::watchLinks()
{
    auto events = std::make_unique<batman::LinkEvents>();
    if (int err = events->open(); err < 0) {
        LOG(Warning, "mesh", "cannot follow link events (%s); relying on polling", strerror(-err));
        return;
    }
    linkEvents_ = std::move(events);
    loop_.addFd(linkEvents_->fd(), EPOLLIN, [this](std::uint32_t) {
        bool relevant = false;
        unsigned meshIndex = if_nametoindex(config_.mesh.interface.c_str());
        int err = linkEvents_->drain([&](const batman::LinkEvents::Change &c) {
            if (c.name == config_.mesh.interface || (meshIndex && c.master == meshIndex))
                relevant = true;
            for (const auto &h : config_.mesh.hardifs)
                if (c.name == h.name)
                    relevant = true;
        });
        if (err == -ENOBUFS)
            relevant = true; // some events were lost: look at everything
        if (relevant)
            pollSoon();
    });
}

void MeshService::pollSoon()
{
    if (pollSoonPending_)
        return;
    pollSoonPending_ = true;
    // A burst of link messages (delete, then re-create...) settles first.
    loop_.addTimer(std::chrono::milliseconds(50), [this] {
        pollSoonPending_ = false;
        poll();
    });
}

void MeshService::stop()
{
    if (pollTimer_) {
        loop_.cancelTimer(pollTimer_);
        pollTimer_ = 0;
    }
    if (config_.mesh.manage && config_.mesh.teardownOnExit) {
        if (int err = batman::deleteLink(config_.mesh.interface); err < 0 && err != -ENODEV)
            LOG(Warning, "mesh", "cannot remove %s: %s", config_.mesh.interface.c_str(),
                strerror(-err));
        else
            LOG(Info, "mesh", "removed %s (mesh.teardown_on_exit)", config_.mesh.interface.c_str());
    }
}

void MeshService::configChanged()
{
    settingsPending_ = true;
    for (const auto &h : config_.mesh.hardifs)
        hardifSettingsPending_.insert(h.name);
    if (config_.mesh.manage)
        reconcile(false);
    schedulePoll();
}

std::string MeshService::reconcile(bool fatal)
{
    const std::string &mesh = config_.mesh.interface;
    auto problem = [&](const std::string &why) {
        if (why != meshProblem_)
            LOG(Warning, "mesh", "%s", why.c_str());
        meshProblem_ = why;
        return fatal ? why : std::string();
    };

    auto link = batman::linkInfo(mesh);
    if (!link) {
        int err = batman::createMeshInterface(mesh, config_.mesh.algorithm);
        if (err == -EOPNOTSUPP || err == -ENOENT)
            return problem("cannot create " + mesh +
                           ": the kernel has no batman-adv (modprobe batman-adv)");
        if (err < 0) {
            netlinkErrors_.Add({{"op", "create_mesh"}}).Increment();
            return problem("cannot create " + mesh + ": " + strerror(-err));
        }
        LOG(Info, "mesh", "created %s (%s)", mesh.c_str(), config_.mesh.algorithm.c_str());
        publish_("mesh_created", {{"interface", mesh}, {"algorithm", config_.mesh.algorithm}});
        createdByUs_ = true;
        settingsPending_ = true;
        for (const auto &h : config_.mesh.hardifs)
            hardifSettingsPending_.insert(h.name);
        link = batman::linkInfo(mesh);
        if (!link)
            return problem(mesh + " vanished right after it was created");
    } else if (link->kind != "batadv") {
        return problem(mesh + " exists and is not a batman-adv interface (kind \"" + link->kind +
                       "\")");
    }
    if (!link->up) {
        if (int err = batman::setUp(mesh, true); err < 0)
            return problem("cannot bring " + mesh + " up: " + strerror(-err));
    }

    for (const auto &h : config_.mesh.hardifs) {
        std::string state;
        auto hl = batman::linkInfo(h.name);
        if (!hl) {
            state = "missing";
        } else if (hl->master != link->ifindex) {
            if (hl->master)
                LOG(Warning, "mesh", "taking %s from its current master for %s", h.name.c_str(),
                    mesh.c_str());
            int err = batman::setMaster(h.name, mesh);
            if (err < 0) {
                netlinkErrors_.Add({{"op", "attach_hardif"}}).Increment();
                state = std::string("attach failed: ") + strerror(-err);
            } else {
                batman::setUp(h.name, true);
                LOG(Info, "mesh", "attached %s to %s", h.name.c_str(), mesh.c_str());
                publish_("hardif_attached", {{"hardif", h.name}, {"interface", mesh}});
                hardifSettingsPending_.insert(h.name);
                state = "attached";
            }
        } else {
            // Brought up when attached; an operator taking it down later is obeyed.
            state = hl->up ? "attached" : "down";
        }
        std::string &old = hardifState_[h.name];
        if (old != state && state == "missing")
            publish_("hardif_missing", {{"hardif", h.name}, {"interface", mesh}});
        old = state;
    }

    int ifindex = static_cast<int>(link->ifindex);
    if (!netlink_.isOpen() && netlink_.open() < 0)
        return problem("cannot open the batadv generic netlink family");
    if (settingsPending_) {
        settingsPending_ = false;
        if (!config_.mesh.settings.empty())
            lastApply_["mesh"] = applyMeshSettings(ifindex, config_.mesh.settings);
    }
    for (const auto &h : config_.mesh.hardifs) {
        if (!hardifSettingsPending_.count(h.name) || hardifState_[h.name] != "attached")
            continue;
        hardifSettingsPending_.erase(h.name);
        if (!h.settings.empty())
            lastApply_["hardifs"][h.name] = applyHardifSettings(ifindex, h.name, h.settings);
    }
    meshProblem_.clear();
    return {};
}

namespace {

std::map<std::string, batman::SettingValue> toSettingValues(const json &settings)
{
    std::map<std::string, batman::SettingValue> out;
    for (auto it = settings.begin(); it != settings.end(); ++it) {
        if (it->is_boolean())
            out[it.key()] = it->get<bool>();
        else if (it->is_number_unsigned())
            out[it.key()] = it->get<std::uint64_t>();
        else if (it->is_string())
            out[it.key()] = it->get<std::string>();
    }
    return out;
}

// {"requested", "effective", "differences"} for settings read back after a set.
json compareSettings(const json &wanted, const json &effective)
{
    json differences = json::array();
    json eff = json::object();
    for (auto it = wanted.begin(); it != wanted.end(); ++it) {
        json got = effective.contains(it.key()) ? effective[it.key()] : json(nullptr);
        eff[it.key()] = got;
        if (got != *it)
            differences.push_back(
                {{"setting", it.key()}, {"requested", *it}, {"effective", got}});
    }
    return {{"requested", wanted}, {"effective", eff}, {"differences", differences}};
}

} // namespace

json MeshService::applyMeshSettings(int ifindex, const json &wanted)
{
    if (int err = netlink_.setMesh(ifindex, toSettingValues(wanted)); err < 0) {
        netlinkErrors_.Add({{"op", "set_mesh"}}).Increment();
        LOG(Warning, "mesh", "setting %s failed: %s", config_.mesh.interface.c_str(),
            strerror(-err));
        return {{"error", strerror(-err)}, {"requested", wanted}};
    }
    batman::MeshInfo info;
    json effective = json::object();
    if (netlink_.getMesh(ifindex, info) == 0)
        for (const auto &[k, v] : info.settings)
            effective[k] = settingJson(v);
    json result = compareSettings(wanted, effective);
    for (const auto &d : result["differences"])
        LOG(Warning, "mesh", "%s: the kernel keeps %s = %s (asked for %s)",
            config_.mesh.interface.c_str(), d["setting"].get<std::string>().c_str(),
            d["effective"].dump().c_str(), d["requested"].dump().c_str());
    return result;
}

json MeshService::applyHardifSettings(int ifindex, const std::string &hardif, const json &wanted)
{
    int hardifIndex = static_cast<int>(if_nametoindex(hardif.c_str()));
    if (!hardifIndex)
        return {{"error", hardif + " does not exist"}, {"requested", wanted}};
    if (int err = netlink_.setHardif(ifindex, hardifIndex, toSettingValues(wanted)); err < 0) {
        netlinkErrors_.Add({{"op", "set_hardif"}}).Increment();
        return {{"error", strerror(-err)}, {"requested", wanted}};
    }
    std::vector<batman::HardifEntry> hardifs;
    json effective = json::object();
    if (netlink_.hardifs(ifindex, hardifs) == 0)
        for (const auto &h : hardifs)
            if (static_cast<int>(h.ifindex) == hardifIndex)
                effective = {{"hop_penalty", optional(h.hopPenalty)},
                             {"elp_interval_ms", optional(h.elpIntervalMs)},
                             {"throughput_override_kbps", optional(h.throughputOverrideKbps)}};
    return compareSettings(wanted, effective);
}

CommandResult MeshService::setVlan(const json &args)
{
    if (!args["vlan"].is_number_unsigned() || args["vlan"].get<std::uint64_t>() > 4095)
        return CommandResult::failure(errc::invalidArgument, "vlan must be a VLAN id 0..4095");
    auto vid = static_cast<std::uint16_t>(args["vlan"].get<std::uint64_t>());
    for (auto it = args.begin(); it != args.end(); ++it)
        if (it.key() != "vlan" && it.key() != "ap_isolation")
            return CommandResult::failure(errc::invalidArgument,
                                          it.key() + ": a VLAN only has ap_isolation");
    if (!args.contains("ap_isolation") || !args["ap_isolation"].is_boolean())
        return CommandResult::failure(errc::invalidArgument,
                                      "ap_isolation: expected a boolean (true or false)");
    int ifindex = 0;
    if (std::string why = prepare(ifindex); !why.empty())
        return CommandResult::failure(errc::unavailable, why);
    // batman-adv knows tagged VLANs by the vid with bit 15 set.
    std::uint16_t tagged = static_cast<std::uint16_t>(vid | 0x8000);
    if (int err = netlink_.setVlan(ifindex, tagged, args["ap_isolation"].get<bool>()); err < 0) {
        if (err == -ENOENT)
            return CommandResult::failure(errc::invalidArgument,
                                          "VLAN " + std::to_string(vid) + " does not exist on " +
                                              config_.mesh.interface);
        return failure("set_vlan", err);
    }
    bool effective = false;
    if (int err = netlink_.getVlan(ifindex, tagged, effective); err < 0)
        return failure("get_vlan", err);
    json differences = json::array();
    if (effective != args["ap_isolation"].get<bool>())
        differences.push_back({{"setting", "ap_isolation"},
                               {"requested", args["ap_isolation"]},
                               {"effective", effective}});
    return CommandResult::success({{"vlan", vid},
                                   {"settings", {{"ap_isolation", effective}}},
                                   {"differences", differences},
                                   {"hardif", nullptr}});
}

CommandResult MeshService::set(const json &args)
{
    if (args.contains("vlan"))
        return setVlan(args);
    json settings = args;
    std::string hardif;
    if (settings.contains("hardif")) {
        if (!settings["hardif"].is_string() || !isValidInterfaceName(settings["hardif"].get<std::string>()))
            return CommandResult::failure(errc::invalidArgument, "hardif must be an interface name");
        hardif = settings["hardif"].get<std::string>();
        settings.erase("hardif");
    }
    if (settings.empty())
        return CommandResult::failure(errc::invalidArgument, "nothing to set");
    json valid = json::object();
    auto errors = validateSettings(settings, !hardif.empty(), valid);
    if (!errors.empty())
        return CommandResult::failure(errc::invalidArgument, errors[0].describe());
    int ifindex = 0;
    if (std::string why = prepare(ifindex); !why.empty())
        return CommandResult::failure(errc::unavailable, why);
    if (!hardif.empty() && !if_nametoindex(hardif.c_str()))
        return CommandResult::failure(errc::invalidArgument, "hardif " + hardif + " does not exist");
    json result = hardif.empty() ? applyMeshSettings(ifindex, valid)
                                 : applyHardifSettings(ifindex, hardif, valid);
    if (result.contains("error"))
        return CommandResult::failure(errc::unavailable,
                                      "set failed: " + result["error"].get<std::string>());
    // The read-back values are the answer: the kernel may clamp or ignore some.
    json out = result["effective"];
    return CommandResult::success({{"settings", out},
                                   {"differences", result["differences"]},
                                   {"hardif", hardif.empty() ? json(nullptr) : json(hardif)}});
}

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
        dumpDuration_.Add({{"table", name}}, prometheus::Histogram::BucketBoundaries{
                                                 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                 0.05, 0.1, 0.25, 0.5, 1})
            .Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
                         .count());
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
    originatorsGauge_.Add({{"mesh", mesh}}).Set(static_cast<double>(snapshot_->routes.size()));
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
                                     {{"hop_penalty", optional(h->hopPenalty)},
                                      {"elp_interval_ms", optional(h->elpIntervalMs)},
                                      {"throughput_override_kbps",
                                       optional(h->throughputOverrideKbps)}}}});
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

void MeshService::registerCommands(CommandRegistry &commands)
{
    commands.add("originators", "originator table (like batctl oj)", [this](const json &) {
        return table("originators", [this](int ifindex, batman::DumpStats &stats, json &rows) {
            std::vector<batman::OriginatorEntry> entries;
            int err = netlink_.originators(ifindex, entries, &stats);
            for (const auto &e : entries)
                rows.push_back({{"originator", e.originator.str()},
                                {"neighbor", e.neighbor.str()},
                                {"hardif", e.hardif},
                                {"tq", optional(e.tq)},
                                {"throughput_kbps", optional(e.throughputKbps)},
                                {"last_seen_ms", e.lastSeenMs},
                                {"best", e.best}});
            return err;
        });
    });
    commands.add("neighbors", "neighbour table (like batctl nj)", [this](const json &) {
        return table("neighbors", [this](int ifindex, batman::DumpStats &stats, json &rows) {
            std::vector<batman::NeighborEntry> entries;
            int err = netlink_.neighbors(ifindex, entries, &stats);
            for (const auto &e : entries)
                rows.push_back({{"neighbor", e.neighbor.str()},
                                {"hardif", e.hardif},
                                {"last_seen_ms", e.lastSeenMs},
                                {"throughput_kbps", optional(e.throughputKbps)}});
            return err;
        });
    });
    commands.add("interfaces", "hard interfaces of the mesh", [this](const json &) {
        return table("interfaces", [this](int ifindex, batman::DumpStats &stats, json &rows) {
            std::vector<batman::HardifEntry> entries;
            int err = netlink_.hardifs(ifindex, entries, &stats);
            for (const auto &e : entries)
                rows.push_back({{"hardif", e.name},
                                {"ifindex", e.ifindex},
                                {"active", e.active},
                                {"mac", e.address.str()},
                                {"hop_penalty", optional(e.hopPenalty)},
                                {"elp_interval_ms", optional(e.elpIntervalMs)},
                                {"throughput_override_kbps", optional(e.throughputOverrideKbps)}});
            return err;
        });
    });
    commands.add("gateways", "gateway table", [this](const json &) {
        return table("gateways", [this](int ifindex, batman::DumpStats &stats, json &rows) {
            std::vector<batman::GatewayEntry> entries;
            int err = netlink_.gateways(ifindex, entries, &stats);
            for (const auto &e : entries)
                rows.push_back({{"originator", e.originator.str()},
                                {"router", e.router.str()},
                                {"hardif", e.hardif},
                                {"best", e.best},
                                {"tq", optional(e.tq)},
                                {"throughput_kbps", optional(e.throughputKbps)},
                                {"bandwidth_down_kbps", optional(e.bandwidthDownKbps)},
                                {"bandwidth_up_kbps", optional(e.bandwidthUpKbps)}});
            return err;
        });
    });
    commands.add("translations", "translation tables (args.table: local or global)",
                 [this](const json &args) {
                     std::string which = "local";
                     if (args.contains("table")) {
                         if (!args["table"].is_string() ||
                             (args["table"] != "local" && args["table"] != "global"))
                             return CommandResult::failure(errc::invalidArgument,
                                                           "table must be \"local\" or \"global\"");
                         which = args["table"].get<std::string>();
                     }
                     if (which == "local")
                         return table("translations_local", [this](int ifindex,
                                                                   batman::DumpStats &stats,
                                                                   json &rows) {
                             std::vector<batman::LocalTranslation> entries;
                             int err = netlink_.localTranslations(ifindex, entries, &stats);
                             for (const auto &e : entries)
                                 rows.push_back({{"client", e.client.str()},
                                                 {"vid", vidJson(e.vid)},
                                                 {"flags", ttFlagNames(e.flags)},
                                                 {"crc32", e.crc32},
                                                 {"last_seen_ms", optional(e.lastSeenMs)}});
                             return err;
                         });
                     return table("translations_global", [this](int ifindex,
                                                                batman::DumpStats &stats,
                                                                json &rows) {
                         std::vector<batman::GlobalTranslation> entries;
                         int err = netlink_.globalTranslations(ifindex, entries, &stats);
                         for (const auto &e : entries)
                             rows.push_back({{"client", e.client.str()},
                                             {"originator", e.originator.str()},
                                             {"vid", vidJson(e.vid)},
                                             {"flags", ttFlagNames(e.flags)},
                                             {"ttvn", e.ttvn},
                                             {"last_ttvn", e.lastTtvn},
                                             {"crc32", e.crc32},
                                             {"best", e.best}});
                         return err;
                     });
                 });
    commands.add("claims", "bridge loop avoidance claims", [this](const json &) {
        return table("claims", [this](int ifindex, batman::DumpStats &stats, json &rows) {
            std::vector<batman::ClaimEntry> entries;
            int err = netlink_.claims(ifindex, entries, &stats);
            for (const auto &e : entries)
                rows.push_back({{"client", e.client.str()},
                                {"vid", vidJson(e.vid)},
                                {"backbone", e.backbone.str()},
                                {"crc", e.crc},
                                {"own", e.own}});
            return err;
        });
    });
    commands.add("backbones", "bridge loop avoidance backbone gateways", [this](const json &) {
        return table("backbones", [this](int ifindex, batman::DumpStats &stats, json &rows) {
            std::vector<batman::BackboneEntry> entries;
            int err = netlink_.backbones(ifindex, entries, &stats);
            for (const auto &e : entries)
                rows.push_back({{"backbone", e.backbone.str()},
                                {"vid", vidJson(e.vid)},
                                {"crc", e.crc},
                                {"own", e.own},
                                {"last_seen_ms", e.lastSeenMs}});
            return err;
        });
    });
    commands.add("dat", "distributed ARP table cache", [this](const json &) {
        return table("dat", [this](int ifindex, batman::DumpStats &stats, json &rows) {
            std::vector<batman::DatEntry> entries;
            int err = netlink_.dat(ifindex, entries, &stats);
            for (const auto &e : entries)
                rows.push_back({{"ip", ipString(e.ip4)},
                                {"mac", e.hw.str()},
                                {"vid", vidJson(e.vid)},
                                {"last_seen_ms", e.lastSeenMs}});
            return err;
        });
    });
    commands.add("multicast", "multicast flags announced by each originator", [this](const json &) {
        return table("multicast", [this](int ifindex, batman::DumpStats &stats, json &rows) {
            std::vector<batman::McastEntry> entries;
            int err = netlink_.multicastFlags(ifindex, entries, &stats);
            for (const auto &e : entries)
                rows.push_back({{"originator", e.originator.str()},
                                {"flags", batman::mcastFlagNames(e.flags)},
                                {"flags_raw", e.flags}});
            return err;
        });
    });
    commands.add("mesh", "mesh interface settings", [this](const json &) {
        int ifindex = 0;
        if (std::string why = prepare(ifindex); !why.empty())
            return CommandResult::failure(errc::unavailable, why);
        batman::MeshInfo info;
        if (int err = netlink_.getMesh(ifindex, info); err < 0)
            return failure("mesh", err);
        json settings = json::object();
        for (const auto &[k, v] : info.settings)
            settings[k] = settingJson(v);
        return CommandResult::success({{"interface", info.ifname},
                                       {"ifindex", info.ifindex},
                                       {"mac", info.address.str()},
                                       {"batman_adv_version", info.version},
                                       {"algorithm", info.algorithm},
                                       {"primary_hardif", optional(info.primaryHardif)},
                                       {"ttvn", optional(info.ttvn)},
                                       {"settings", settings}});
    });
    commands.add("set", "change mesh or hardif settings; returns the read-back values",
                 [this](const json &args) { return set(args); });
    commands.add("tp", "start batman-adv's throughput meter towards an originator",
                 [this](const json &args) {
                     auto orig = args.contains("originator") && args["originator"].is_string()
                                     ? batman::Mac::parse(args["originator"].get<std::string>())
                                     : std::nullopt;
                     if (!orig)
                         return CommandResult::failure(errc::invalidArgument,
                                                       "originator must be a MAC address");
                     if (args.contains("cancel") && args["cancel"] == true) {
                         int ifindex = 0;
                         if (std::string why = prepare(ifindex); !why.empty())
                             return CommandResult::failure(errc::unavailable, why);
                         if (int err = netlink_.cancelTpMeter(ifindex, *orig); err < 0)
                             return failure("tp_cancel", err);
                         return CommandResult::success(
                             {{"originator", orig->str()}, {"state", "cancel requested"}});
                     }
                     std::uint64_t ms = 10000;
                     if (args.contains("time_ms")) {
                         if (!args["time_ms"].is_number_unsigned() ||
                             args["time_ms"].get<std::uint64_t>() < 100 ||
                             args["time_ms"].get<std::uint64_t>() > 120000)
                             return CommandResult::failure(errc::invalidArgument,
                                                           "time_ms must be 100..120000");
                         ms = args["time_ms"].get<std::uint64_t>();
                     }
                     int ifindex = 0;
                     if (std::string why = prepare(ifindex); !why.empty())
                         return CommandResult::failure(errc::unavailable, why);
                     if (!configSock_)
                         return CommandResult::failure(
                             errc::unavailable, "not subscribed to the tpmeter group; results "
                                                "could not be reported");
                     std::uint32_t cookie = 0;
                     if (int err = netlink_.startTpMeter(ifindex, *orig,
                                                         static_cast<std::uint32_t>(ms), cookie);
                         err < 0)
                         return failure("tp", err);
                     return CommandResult::success({{"originator", orig->str()},
                                                    {"cookie", cookie},
                                                    {"time_ms", ms},
                                                    {"state", "started"}});
                 });
    commands.add("topology", "mesh topology as nodes and links seen from this node",
                 [this](const json &) {
                     int ifindex = 0;
                     if (std::string why = prepare(ifindex); !why.empty())
                         return CommandResult::failure(errc::unavailable, why);
                     batman::MeshInfo info;
                     if (int err = netlink_.getMesh(ifindex, info); err < 0)
                         return failure("topology", err);
                     std::vector<batman::OriginatorEntry> origs;
                     if (int err = netlink_.originators(ifindex, origs); err < 0 && err != -ENOENT)
                         return failure("topology", err);
                     std::string self = info.primaryAddress ? info.primaryAddress->str()
                                                            : info.address.str();
                     json nodes = json::array({{{"id", self}, {"self", true}}});
                     json links = json::array();
                     for (const auto &o : origs) {
                         if (!o.best)
                             continue;
                         nodes.push_back({{"id", o.originator.str()},
                                          {"self", false},
                                          {"next_hop", o.neighbor.str()}});
                         // Direct neighbours are links of this node; the rest are reached through them.
                         if (o.originator == o.neighbor)
                             links.push_back({{"source", self},
                                              {"target", o.originator.str()},
                                              {"hardif", o.hardif},
                                              {"tq", optional(o.tq)},
                                              {"throughput_kbps", optional(o.throughputKbps)}});
                     }
                     return CommandResult::success({{"nodes", nodes}, {"links", links}});
                 });
}

} // namespace meshd
