// SPDX-License-Identifier: GPL-2.0-or-later
// MeshService: construction, status, start and stop, and the control
// commands that read batman-adv tables. Manage mode is in mesh_manage.cpp,
// polling and kernel notifications in mesh_poll.cpp.
#include "mesh_service.h"

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <linux/batman_adv.h>
#include <net/if.h>
#include <netlink/socket.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <sys/epoll.h>
#include <utility>

#include "control_protocol.h"
#include "counter_snapshot.h"
#include "log.h"
#include "mesh_json.h"
#include "mesh_poll.h"
#include "metrics.h"

namespace meshd {

using nlohmann::json;

namespace {

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

// De-duplication key of a streamed table row: two addresses and a number.
std::string tableKey(const batman::Mac &a, const batman::Mac &b, std::uint32_t n)
{
    std::string k(16, '\0');
    std::memcpy(k.data(), a.bytes.data(), 6);
    std::memcpy(k.data() + 6, b.bytes.data(), 6);
    std::memcpy(k.data() + 12, &n, 4);
    return k;
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
      pollIntervalGauge_(prometheus::BuildGauge()
                             .Name("meshd_poll_interval_seconds")
                             .Help("Time between polls of the mesh: the configured interval, or "
                                   "more while polls are slow (at most a quarter of the time "
                                   "goes to polling, by CPU time).")
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
    if (eventsTimer_)
        loop_.cancelTimer(eventsTimer_);
    if (stream_.isOpen())
        loop_.removeFd(stream_.fd());
    if (tableStream_.isOpen())
        loop_.removeFd(tableStream_.fd());
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

void MeshService::observeDump(const std::string &table, double seconds)
{
    static const prometheus::Histogram::BucketBoundaries buckets{
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1};
    dumpDuration_.Add({{"table", table}}, buckets).Observe(seconds);
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
    observeDump(name, took);
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
    // The last poll's list: status stays cheap while big tables are polled.
    std::vector<batman::HardifEntry> dumped;
    const std::vector<batman::HardifEntry> *kernelHardifs = nullptr;
    if (why.empty() && snapshot_)
        kernelHardifs = &lastHardifs_;
    else if (why.empty() && netlink_.hardifs(ifindex, dumped) == 0)
        kernelHardifs = &dumped;
    if (kernelHardifs)
        for (const auto &h : *kernelHardifs) {
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
    mesh["primary_hardif"] = optionalJson(info.primaryHardif);
    if (snapshot_) {
        mesh["originators"] = snapshot_->originators();
        mesh["neighbors"] = snapshot_->neighbors.size();
    }
    mesh["poll_interval_ms"] = spacedPollMs_ ? spacedPollMs_ : config_.mesh.pollIntervalMs;
    if (spacedPollMs_)
        mesh["poll_note"] = "polls are slow: spaced out from the configured " +
                            std::to_string(config_.mesh.pollIntervalMs) + " ms";
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
    }, "link-events");
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
    // Shutting down ("stopping" went out already): the rest of a poll's
    // events would follow it, so they go unsent.
    pendingEvents_.clear();
    if (eventsTimer_) {
        loop_.cancelTimer(eventsTimer_);
        eventsTimer_ = 0;
    }
    run_.reset();
    if (stream_.isOpen()) {
        loop_.removeFd(stream_.fd());
        stream_.close();
    }
    tableJobs_.clear(); // shutting down: their clients are about to be closed
    if (tableStream_.isOpen()) {
        loop_.removeFd(tableStream_.fd());
        tableStream_.close();
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

std::string MeshService::TableJob::hardifName(std::uint32_t ifindex)
{
    auto it = names.find(ifindex);
    if (it == names.end())
        it = names.emplace(ifindex, batman::interfaceName(ifindex)).first;
    return it->second;
}

// Big tables (originators, translation tables) are streamed like polls:
// rows are serialised as the replies arrive, a turn of the event loop at
// a time, and the reply goes out already serialised. One dump runs at a
// time; later requests queue behind it.
void MeshService::streamTable(std::unique_ptr<TableJob> job, CommandRegistry::Reply reply)
{
    int ifindex = 0;
    if (std::string why = prepare(ifindex); !why.empty())
        return reply(CommandResult::failure(errc::unavailable, why));
    if (!tableStream_.isOpen()) {
        if (int err = tableStream_.open(); err < 0)
            return reply(failure(job->name, err));
        loop_.addFd(tableStream_.fd(), EPOLLIN, [this](std::uint32_t) { pumpTable(); },
                    "table-dump");
    }
    // Bounded: clients that ask and leave must not queue work without end.
    constexpr std::size_t maxQueued = 16;
    if (tableJobs_.size() >= maxQueued)
        return reply(CommandResult::failure(
            errc::unavailable, std::to_string(tableJobs_.size()) +
                                   " table requests are already queued; try again shortly"));
    job->ifindex = ifindex;
    job->reply = std::move(reply);
    tableJobs_.push_back(std::move(job));
    if (tableJobs_.size() == 1)
        startTable();
}

void MeshService::startTable()
{
    TableJob &j = *tableJobs_.front();
    if (!j.streamed) {
        j.out = "[";
        j.rows = 0;
        j.seen.clear();
    } // else a retry after an interrupted dump: rows already sent are not repeated
    j.bad = 0;
    if (j.reset)
        j.reset();
    j.start = std::chrono::steady_clock::now();
    if (int err = tableStream_.start(j.cmd, j.ifindex); err < 0)
        finishTable(err);
}

void MeshService::pumpTable()
{
    // No exception may leave the event loop: a failure ends the job.
    try {
        pumpTableTurn();
    } catch (const std::exception &e) {
        LOG_LIMITED("table-exception", Error, "mesh", "streaming a table failed: %s", e.what());
        if (!tableJobs_.empty()) {
            loop_.removeFd(tableStream_.fd());
            tableStream_.close(); // whatever is left of that dump goes with it
            finishTable(-EIO);
        }
    }
}

void MeshService::pumpTableTurn()
{
    if (tableJobs_.empty()) {
        tableStream_.pump(std::chrono::steady_clock::now(), [](nlattr **) {});
        return;
    }
    TableJob &j = *tableJobs_.front();
    std::string text;
    auto progress = tableStream_.pump(
        std::chrono::steady_clock::now() + std::chrono::milliseconds(1), [&](nlattr **tb) {
            if (j.collect)
                return j.collect(tb);
            text.clear();
            auto key = j.row(tb, text);
            if (!key) {
                j.bad++;
            } else if (text.empty()) {
                // not a row (a dump's header)
            } else if (j.seen.insert(std::move(*key)).second) {
                if (j.rows++)
                    j.out += ',';
                j.out += text;
            }
        });
    // A big table goes out as it is read: the client sees its first rows
    // within a turn instead of after the whole dump (50,000 originators
    // take seconds on a slow CPU), and meshd holds one piece, not the table.
    constexpr std::size_t pieceBytes = 64 * 1024;
    if (!j.collect && j.out.size() >= pieceBytes) {
        j.streamed = true;
        j.reply(CommandResult::piece(std::exchange(j.out, {})));
    }
    if (progress == batman::DumpReader::Progress::More)
        return;
    batman::DumpReader &reader = tableStream_.reader();
    if (reader.error() == 0 && reader.interrupted() && j.attempt < 3) {
        j.attempt++;
        return startTable();
    }
    finishTable(reader.error());
}

void MeshService::finishTable(int err)
{
    std::unique_ptr<TableJob> j = std::move(tableJobs_.front());
    tableJobs_.pop_front();
    unsigned bad = j->bad + tableStream_.reader().stats().badEntries;
    if (bad) {
        netlinkErrors_.Add({{"op", std::string(j->name) + "_bad_entry"}})
            .Increment(static_cast<double>(bad));
        LOG_LIMITED(std::string("bad-entry-") + j->name, Warning, "mesh",
                    "%u malformed %s entries from the kernel were skipped", bad, j->name);
    }
    if (err == -ENOENT) { // no active primary interface yet, so the table is empty
        err = 0;
        if (!j->streamed) {
            j->out = "[";
            j->rows = 0;
        }
    }
    if (err < 0) {
        if (err == -EIO || err == -ENOBUFS) {
            loop_.removeFd(tableStream_.fd());
            tableStream_.close();
        }
        j->reply(failure(j->name, err));
    } else {
        observeDump(j->name, std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                           j->start)
                                 .count());
        j->out += ']';
        j->reply(j->finish ? j->finish() : CommandResult::successRaw(std::move(j->out)));
    }
    if (!tableJobs_.empty()) {
        if (tableStream_.isOpen())
            startTable();
        else
            while (!tableJobs_.empty()) { // the socket broke: fail the rest
                tableJobs_.front()->reply(failure(tableJobs_.front()->name, -EIO));
                tableJobs_.pop_front();
            }
    }
}

void MeshService::registerCommands(CommandRegistry &commands)
{
    commands.addAsync(
        "originators", "originator table (like batctl oj)",
        [this](const json &, CommandRegistry::Reply reply) {
            auto job = std::make_unique<TableJob>();
            job->name = "originators";
            job->cmd = BATADV_CMD_GET_ORIGINATORS;
            TableJob *j = job.get();
            job->row = [j](nlattr **tb, std::string &text) -> std::optional<std::string> {
                auto e = batman::parseOriginator(tb);
                if (!e)
                    return std::nullopt;
                text = json{{"originator", e->originator.str()},
                            {"neighbor", e->neighbor.str()},
                            {"hardif", e->hardif.empty() ? j->hardifName(e->hardifIndex) : e->hardif},
                            {"tq", optionalJson(e->tq)},
                            {"throughput_kbps", optionalJson(e->throughputKbps)},
                            {"last_seen_ms", e->lastSeenMs},
                            {"best", e->best}}
                           .dump(-1, ' ', false, json::error_handler_t::replace);
                return tableKey(e->originator, e->neighbor, e->hardifIndex);
            };
            streamTable(std::move(job), std::move(reply));
        });
    // The tables that grow with the mesh are streamed (see streamTable):
    // rows are serialised as the kernel's replies arrive, so no request
    // holds the event loop for a whole dump.
    auto streamed = [this, &commands](const char *name, const char *summary, int cmd, auto row) {
        commands.addAsync(
            name, summary, [this, name, cmd, row](const json &, CommandRegistry::Reply reply) {
                auto job = std::make_unique<TableJob>();
                job->name = name;
                job->cmd = cmd;
                TableJob *j = job.get();
                job->row = [j, row](nlattr **tb, std::string &text) { return row(*j, tb, text); };
                streamTable(std::move(job), std::move(reply));
            });
    };
    auto dump = [](const json &row) {
        return row.dump(-1, ' ', false, json::error_handler_t::replace);
    };
    streamed("neighbors", "neighbour table (like batctl nj)", BATADV_CMD_GET_NEIGHBORS,
             [dump](TableJob &j, nlattr **tb, std::string &text) -> std::optional<std::string> {
                 auto e = batman::parseNeighbor(tb);
                 if (!e)
                     return std::nullopt;
                 text =
                     dump({{"neighbor", e->neighbor.str()},
                           {"hardif", e->hardif.empty() ? j.hardifName(e->hardifIndex) : e->hardif},
                           {"last_seen_ms", e->lastSeenMs},
                           {"throughput_kbps", optionalJson(e->throughputKbps)}});
                 return tableKey(e->neighbor, {}, e->hardifIndex);
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
                                {"hop_penalty", optionalJson(e.hopPenalty)},
                                {"elp_interval_ms", optionalJson(e.elpIntervalMs)},
                                {"throughput_override_kbps", optionalJson(e.throughputOverrideKbps)}});
            return err;
        });
    });
    streamed("gateways", "gateway table", BATADV_CMD_GET_GATEWAYS,
             [dump](TableJob &j, nlattr **tb, std::string &text) -> std::optional<std::string> {
                 auto e = batman::parseGateway(tb);
                 if (!e)
                     return std::nullopt;
                 text =
                     dump({{"originator", e->originator.str()},
                           {"router", e->router.str()},
                           {"hardif", e->hardif.empty() ? j.hardifName(e->hardifIndex) : e->hardif},
                           {"best", e->best},
                           {"tq", optionalJson(e->tq)},
                           {"throughput_kbps", optionalJson(e->throughputKbps)},
                           {"bandwidth_down_kbps", optionalJson(e->bandwidthDownKbps)},
                           {"bandwidth_up_kbps", optionalJson(e->bandwidthUpKbps)}});
                 return tableKey(e->originator, e->router, e->hardifIndex);
             });
    commands.addAsync(
        "translations", "translation tables (args.table: local or global)",
        [this](const json &args, CommandRegistry::Reply reply) {
            std::string which = "local";
            if (args.contains("table")) {
                if (!args["table"].is_string() ||
                    (args["table"] != "local" && args["table"] != "global"))
                    return reply(CommandResult::failure(errc::invalidArgument,
                                                        "table must be \"local\" or \"global\""));
                which = args["table"].get<std::string>();
            }
            auto job = std::make_unique<TableJob>();
            if (which == "local") {
                job->name = "translations_local";
                job->cmd = BATADV_CMD_GET_TRANSTABLE_LOCAL;
                job->row = [](nlattr **tb, std::string &text) -> std::optional<std::string> {
                    auto e = batman::parseLocalTranslation(tb);
                    if (!e)
                        return std::nullopt;
                    text = json{{"client", e->client.str()},
                                {"vid", vidJson(e->vid)},
                                {"flags", ttFlagNames(e->flags)},
                                {"crc32", e->crc32},
                                {"last_seen_ms", optionalJson(e->lastSeenMs)}}
                               .dump(-1, ' ', false, json::error_handler_t::replace);
                    return tableKey(e->client, {}, e->vid.raw);
                };
            } else {
                job->name = "translations_global";
                job->cmd = BATADV_CMD_GET_TRANSTABLE_GLOBAL;
                job->row = [](nlattr **tb, std::string &text) -> std::optional<std::string> {
                    auto e = batman::parseGlobalTranslation(tb);
                    if (!e)
                        return std::nullopt;
                    text = json{{"client", e->client.str()},
                                {"originator", e->originator.str()},
                                {"vid", vidJson(e->vid)},
                                {"flags", ttFlagNames(e->flags)},
                                {"ttvn", e->ttvn},
                                {"last_ttvn", e->lastTtvn},
                                {"crc32", e->crc32},
                                {"best", e->best}}
                               .dump(-1, ' ', false, json::error_handler_t::replace);
                    return tableKey(e->client, e->originator, e->vid.raw);
                };
            }
            streamTable(std::move(job), std::move(reply));
        });
    streamed("claims", "bridge loop avoidance claims", BATADV_CMD_GET_BLA_CLAIM,
             [dump](TableJob &, nlattr **tb, std::string &text) -> std::optional<std::string> {
                 auto e = batman::parseClaim(tb);
                 if (!e)
                     return std::nullopt;
                 text = dump({{"client", e->client.str()},
                              {"vid", vidJson(e->vid)},
                              {"backbone", e->backbone.str()},
                              {"crc", e->crc},
                              {"own", e->own}});
                 return tableKey(e->client, e->backbone, e->vid.raw);
             });
    streamed("backbones", "bridge loop avoidance backbone gateways", BATADV_CMD_GET_BLA_BACKBONE,
             [dump](TableJob &, nlattr **tb, std::string &text) -> std::optional<std::string> {
                 auto e = batman::parseBackbone(tb);
                 if (!e)
                     return std::nullopt;
                 text = dump({{"backbone", e->backbone.str()},
                              {"vid", vidJson(e->vid)},
                              {"crc", e->crc},
                              {"own", e->own},
                              {"last_seen_ms", e->lastSeenMs}});
                 return tableKey(e->backbone, {}, e->vid.raw);
             });
    streamed("dat", "distributed ARP table cache", BATADV_CMD_GET_DAT_CACHE,
             [dump](TableJob &, nlattr **tb, std::string &text) -> std::optional<std::string> {
                 auto e = batman::parseDat(tb);
                 if (!e)
                     return std::nullopt;
                 text = dump({{"ip", ipString(e->ip4)},
                              {"mac", e->hw.str()},
                              {"vid", vidJson(e->vid)},
                              {"last_seen_ms", e->lastSeenMs}});
                 std::string key = tableKey(e->hw, {}, e->vid.raw);
                 key.append(reinterpret_cast<const char *>(&e->ip4), sizeof(e->ip4));
                 return key;
             });
    streamed("multicast", "multicast flags announced by each originator",
             BATADV_CMD_GET_MCAST_FLAGS,
             [dump](TableJob &, nlattr **tb, std::string &text) -> std::optional<std::string> {
                 // The dump starts with a header about this node, without an
                 // originator: not a row, and not a bad entry.
                 if (!tb[BATADV_ATTR_ORIG_ADDRESS]) {
                     text.clear();
                     return std::string("header");
                 }
                 auto e = batman::parseMcast(tb);
                 if (!e)
                     return std::nullopt;
                 text = dump({{"originator", e->originator.str()},
                              {"flags", batman::mcastFlagNames(e->flags)},
                              {"flags_raw", e->flags}});
                 return tableKey(e->originator, {}, 0);
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
                                       {"primary_hardif", optionalJson(info.primaryHardif)},
                                       {"ttvn", optionalJson(info.ttvn)},
                                       {"settings", settings}});
    });
    commands.add(
        "set", "change mesh or hardif settings; returns the read-back values",
        [this](const json &args) { return set(args); }, Access::Change);
    commands.add(
        "tp", "start batman-adv's throughput meter towards an originator",
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
                return CommandResult::failure(errc::unavailable,
                                              "not subscribed to the tpmeter group; results "
                                              "could not be reported");
            std::uint32_t cookie = 0;
            if (int err =
                    netlink_.startTpMeter(ifindex, *orig, static_cast<std::uint32_t>(ms), cookie);
                err < 0)
                return failure("tp", err);
            return CommandResult::success({{"originator", orig->str()},
                                           {"cookie", cookie},
                                           {"time_ms", ms},
                                           {"state", "started"}});
        },
        Access::Change);
    commands.addAsync(
        "topology", "mesh topology as nodes and links seen from this node",
        [this](const json &, CommandRegistry::Reply reply) {
            int ifindex = 0;
            if (std::string why = prepare(ifindex); !why.empty())
                return reply(CommandResult::failure(errc::unavailable, why));
            batman::MeshInfo info; // one reply, not a dump
            if (int err = netlink_.getMesh(ifindex, info); err < 0)
                return reply(failure("topology", err));
            std::string self =
                info.primaryAddress ? info.primaryAddress->str() : info.address.str();
            struct Graph {
                json nodes, links;
            };
            auto g = std::make_shared<Graph>();
            auto job = std::make_unique<TableJob>();
            job->name = "topology";
            job->cmd = BATADV_CMD_GET_ORIGINATORS;
            TableJob *j = job.get();
            job->reset = [g, self] {
                g->nodes = json::array({{{"id", self}, {"self", true}}});
                g->links = json::array();
            };
            job->collect = [g, j, self](nlattr **tb) {
                auto o = batman::parseOriginator(tb);
                if (!o) {
                    j->bad++;
                    return;
                }
                if (!o->best)
                    return;
                g->nodes.push_back({{"id", o->originator.str()},
                                    {"self", false},
                                    {"next_hop", o->neighbor.str()}});
                // Direct neighbours are links of this node; the rest are reached through them.
                if (o->originator == o->neighbor)
                    g->links.push_back(
                        {{"source", self},
                         {"target", o->originator.str()},
                         {"hardif", o->hardif.empty() ? j->hardifName(o->hardifIndex) : o->hardif},
                         {"tq", optionalJson(o->tq)},
                         {"throughput_kbps", optionalJson(o->throughputKbps)}});
            };
            job->finish = [g] {
                if (g->nodes.is_null())
                    g->nodes = json::array(), g->links = json::array();
                return CommandResult::success(
                    {{"nodes", std::move(g->nodes)}, {"links", std::move(g->links)}});
            };
            streamTable(std::move(job), std::move(reply));
        });
}

} // namespace meshd
