// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>

#include "commands.h"
#include "config.h"
#include "diff.h"
#include "dump.h"
#include "event_loop.h"
#include "netlink.h"
#include "rtnl.h"

namespace prometheus {
template <typename T> class Family;
class Counter;
class Gauge;
class Histogram;
} // namespace prometheus

namespace meshd {

class Metrics;

// The agent's side of batman-adv: control commands and JSON for every
// table, manage mode (create the mesh interface, attach hardifs, apply
// settings and read them back), polling that turns table changes into
// monitor events, and the batman metric families.
class MeshService {
public:
    using Publish = std::function<void(std::string_view event, nlohmann::json fields)>;

    MeshService(EventLoop &loop, const Config &config, Metrics &metrics, Publish publish);
    ~MeshService();

    // Manage mode: creates what is missing. Returns an empty string, or the
    // reason start-up must fail (having removed what it created).
    std::string start();
    // Leaves the mesh up unless mesh.teardown_on_exit.
    void stop();
    // After a config reload: re-applies settings and hardifs.
    void configChanged();

    void registerCommands(CommandRegistry &commands);
    nlohmann::json status();
    // Called with batman-adv's neighbour table after each poll.
    void onNeighbors(std::function<void(const std::vector<batman::NeighborEntry> &)> observer)
    {
        neighborsObserver_ = std::move(observer);
    }
    // The kernel's routing algorithms, [] without batman-adv.
    nlohmann::json routingAlgorithms();

private:
    std::string prepare(int &ifindex);
    CommandResult failure(const char *op, int err);
    void observeDump(const std::string &table, double seconds);
    template <typename Fn> CommandResult table(const char *name, Fn dump);
    CommandResult set(const nlohmann::json &args);
    CommandResult setVlan(const nlohmann::json &args);

    // Manage mode, once per poll. `fatal` makes problems start-up errors.
    std::string reconcile(bool fatal);
    nlohmann::json applyMeshSettings(int ifindex, const nlohmann::json &wanted);
    nlohmann::json applyHardifSettings(int ifindex, const std::string &hardif,
                                       const nlohmann::json &wanted);

    void schedulePoll();
    // Starts a poll (or asks for another after the one in progress).
    void poll();
    void startStep();
    void pumpPoll();
    void pumpPollTurn();
    std::function<void(const std::vector<batman::NeighborEntry> &)> neighborsObserver_;
    bool reopenStream_ = false; // the batadv family may have changed: resolve it again
    void endPoll(const char *step, int err);
    void finishPoll();
    void queueEvent(const batman::MeshEvent &e);
    // A poll's events are published a turn of the loop at a time (about
    // 1 ms each), so that 50,000 new originators do not stall the loop for
    // the second it takes to serialise them; other events of this service
    // go out after them, in order (publishInOrder).
    std::deque<batman::MeshEvent> pendingEvents_;
    EventLoop::TimerId eventsTimer_ = 0;
    void drainEvents(bool all);
    void publishInOrder(std::string_view name, nlohmann::json fields);
    struct NeighborTq {
        batman::Mac neighbor;
        std::string hardif;
        std::uint8_t tq;
    };
    void updateMetrics(const std::vector<NeighborTq> &neighborTq,
                       const std::vector<batman::NeighborEntry> &neighbors,
                       const std::vector<batman::HardifEntry> &hardifs,
                       std::size_t gateways, std::size_t localTt, std::size_t globalTt);
    void subscribeConfigGroup();
    void watchLinks();
    // Polls soon (debounced) after a relevant link change.
    void pollSoon();
    void onConfigGroup();

    EventLoop &loop_;
    const Config &config_;
    Metrics &metrics_;
    Publish publish_;
    batman::Netlink netlink_;
    batman::DumpStream stream_; // polls stream their dumps on a socket of their own
    // Table commands streamed to the control socket, the first one running.
    struct TableJob {
        const char *name = "";
        int cmd = 0;
        // Serialises one entry into `text` and returns its de-duplication
        // key, or nullopt for an entry that failed validation.
        std::function<std::optional<std::string>(struct nlattr **tb, std::string &text)> row;
        // Instead of rows (a result that is not one array): every entry goes
        // to collect, finish makes the result, reset runs when the dump
        // starts over.
        std::function<void(struct nlattr **tb)> collect;
        std::function<CommandResult()> finish;
        std::function<void()> reset;
        CommandRegistry::Reply reply;
        int ifindex = 0;
        int attempt = 0;
        unsigned bad = 0;
        std::string out;     // serialised rows not yet handed to `reply`
        std::size_t rows = 0;
        bool streamed = false; // pieces went out: a restarted dump cannot take them back
        std::set<std::string> seen;
        std::map<std::uint32_t, std::string> names;
        std::chrono::steady_clock::time_point start;
        std::string hardifName(std::uint32_t ifindex);
    };
    std::deque<std::unique_ptr<TableJob>> tableJobs_;
    batman::DumpStream tableStream_;
    void streamTable(std::unique_ptr<TableJob> job, CommandRegistry::Reply reply);
    void startTable();
    void pumpTable();
    void pumpTableTurn();
    void finishTable(int err);
    struct PollRun;
    std::unique_ptr<PollRun> run_; // the poll in progress
    bool pollAgain_ = false;   // a poll was asked for while one ran
    bool pollOverdue_ = false; // the poll timer fired while one ran
    void onPollTimer();
    // After a poll ended (or failed): what was asked for meanwhile.
    void pollAfterRun();
    std::uint64_t polls_ = 0;
    // Polls are spaced out so that they take at most 1/pollDutyDivisor of
    // the loop's CPU time: a mesh flooded with originators makes each poll dearer, and
    // the configured interval then yields to spacedPollMs_ (0: not spaced).
    static constexpr int pollDutyDivisor = 4;
    std::uint64_t spacedPollMs_ = 0;
    std::chrono::nanoseconds turnCpuStart_{0}; // thread CPU time when the poll's turn began
    void spacePolls(std::chrono::steady_clock::time_point started, std::chrono::nanoseconds took,
                    std::size_t originators, std::size_t clients);
    std::uint64_t dumpRetries_ = 0;
    std::uint64_t dumpDuplicates_ = 0;
    struct nl_sock *configSock_ = nullptr;
    EventLoop::TimerId pollTimer_ = 0;
    bool pollSoonPending_ = false;
    std::unique_ptr<batman::LinkEvents> linkEvents_;

    // Mesh state as last seen.
    std::optional<batman::MeshSnapshot> snapshot_;
    std::vector<batman::HardifEntry> lastHardifs_; // of the last complete poll
    std::string meshProblem_;               // why the mesh is degraded ("" when fine)
    std::map<std::string, std::string> hardifState_; // configured hardif -> state word
    bool createdByUs_ = false;
    bool settingsPending_ = true;
    std::set<std::string> hardifSettingsPending_;
    nlohmann::json lastApply_ = nlohmann::json::object();

    prometheus::Family<prometheus::Counter> &netlinkErrors_;
    prometheus::Family<prometheus::Histogram> &dumpDuration_;
    prometheus::Family<prometheus::Gauge> &originatorsGauge_;
    prometheus::Family<prometheus::Gauge> &pollIntervalGauge_;
    prometheus::Family<prometheus::Gauge> &neighborsGauge_;
    prometheus::Family<prometheus::Gauge> &degreeGauge_;
    prometheus::Family<prometheus::Gauge> &tqGauge_;
    prometheus::Family<prometheus::Gauge> &throughputGauge_;
    prometheus::Family<prometheus::Counter> &pathChanges_;
    prometheus::Family<prometheus::Gauge> &ttGauge_;
    prometheus::Family<prometheus::Gauge> &gatewaysGauge_;
    std::shared_ptr<class CounterSnapshot> trafficPackets_;
    std::shared_ptr<class CounterSnapshot> trafficBytes_;
    std::set<std::map<std::string, std::string>> neighborLabels_;
    std::set<std::string> hardifLabels_;
};

} // namespace meshd
