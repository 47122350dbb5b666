// SPDX-License-Identifier: GPL-2.0-or-later
#include "mesh_service.h"

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <net/if.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>

#include "control_protocol.h"
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

MeshService::MeshService(const Config &config, Metrics &metrics)
    : config_(config), metrics_(metrics),
      netlinkErrors_(prometheus::BuildCounter()
                         .Name("meshd_netlink_errors_total")
                         .Help("Failed batman-adv netlink operations and rejected netlink "
                               "entries, by operation.")
                         .Register(metrics.registry())),
      dumpDuration_(prometheus::BuildHistogram()
                        .Name("meshd_netlink_dump_duration_seconds")
                        .Help("Time to dump and parse one batman-adv table.")
                        .Register(metrics.registry()))
{
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
    int ifindex = 0;
    if (std::string why = prepare(ifindex); !why.empty()) {
        mesh["state"] = "unavailable";
        mesh["reason"] = why;
        return mesh;
    }
    batman::MeshInfo info;
    if (int err = netlink_.getMesh(ifindex, info); err < 0) {
        mesh["state"] = "unavailable";
        mesh["reason"] = config_.mesh.interface + ": " + strerror(-err);
        return mesh;
    }
    mesh["state"] = "ok";
    mesh["algorithm"] = info.algorithm;
    mesh["mac"] = info.address.str();
    mesh["batman_adv_version"] = info.version;
    mesh["primary_hardif"] = optional(info.primaryHardif);
    if (info.algorithm != config_.mesh.algorithm)
        mesh["note"] = "the kernel runs " + info.algorithm + ", the config asks for " +
                       config_.mesh.algorithm + " (the algorithm is fixed at creation)";
    return mesh;
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
