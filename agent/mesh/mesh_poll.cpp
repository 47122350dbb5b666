// SPDX-License-Identifier: GPL-2.0-or-later
// MeshService's polling: table snapshots diffed into monitor events, the
// batman metric families, and batman-adv's config and tpmeter groups.
#include "mesh_service.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
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
#include "mesh_poll.h"
#include "traffic.h"

namespace meshd {

using nlohmann::json;

void MeshService::schedulePoll()
{
    if (pollTimer_)
        loop_.cancelTimer(pollTimer_);
    pollTimer_ = loop_.addTimer(std::chrono::milliseconds(config_.mesh.pollIntervalMs),
                                [this] { onPollTimer(); });
}

void MeshService::onPollTimer()
{
    pollTimer_ = 0;
    if (run_) {
        // Still polling: the next one is set when this one ends, spaced out
        // if it was slow, rather than started at once behind it.
        pollOverdue_ = true;
        return;
    }
    poll();
}

void MeshService::pollAfterRun()
{
    if (pollAgain_) { // asked for (a link changed) while the poll ran
        pollAgain_ = false;
        pollOverdue_ = false;
        pollSoon();
    } else if (pollOverdue_) {
        pollOverdue_ = false;
        if (!pollTimer_)
            schedulePoll();
    }
}

namespace {
constexpr auto pumpBudget = std::chrono::milliseconds(1);

std::chrono::nanoseconds threadCpu()
{
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

template <typename T> unsigned sortUnique(std::vector<T> &v)
{
    std::sort(v.begin(), v.end());
    auto before = v.size();
    v.erase(std::unique(v.begin(), v.end()), v.end());
    return static_cast<unsigned>(before - v.size());
}
} // namespace

void MeshService::poll()
{
    schedulePoll();
    if (run_) {
        pollAgain_ = true; // the one in progress is older than what asked for this
        return;
    }
    if (config_.mesh.manage)
        reconcile(false);
    int ifindex = 0;
    if (std::string why = prepare(ifindex); !why.empty()) {
        if (snapshot_) {
            publishInOrder("mesh_unavailable",
                           {{"interface", config_.mesh.interface}, {"reason", why}});
            snapshot_.reset();
        }
        return;
    }
    if (!configSock_)
        subscribeConfigGroup(); // batman-adv may have been loaded since start
    if (!stream_.isOpen()) {
        if (int err = stream_.open(); err < 0) {
            netlinkErrors_.Add({{"op", "poll_socket"}}).Increment();
            LOG_LIMITED("poll-socket", Warning, "mesh", "cannot open a netlink socket for polling: %s",
                        strerror(-err));
            return;
        }
        loop_.addFd(stream_.fd(), EPOLLIN, [this](std::uint32_t) { pumpPoll(); }, "poll-dump");
    }
    run_ = std::make_unique<PollRun>();
    run_->ifindex = ifindex;
    startStep();
}

void MeshService::startStep()
{
    PollRun &r = *run_;
    r.stepStart = std::chrono::steady_clock::now();
    r.badEntries = 0;
    r.resetStep();
    if (int err = stream_.start(PollRun::commands[r.step], r.ifindex); err < 0)
        endPoll(PollRun::names[r.step], err);
}

void MeshService::pumpPoll()
{
    // No exception may leave the event loop: a failure ends this poll.
    try {
        // What the poll costs (parsing, and the kernel filling the dump
        // inside recv), not the time other work of the loop took between
        // its turns: that is what spacePolls() bounds.
        turnCpuStart_ = threadCpu();
        PollRun *r = run_.get();
        pumpPollTurn();
        if (r && r == run_.get()) // finishPoll() counts its own turn
            r->cpu += threadCpu() - turnCpuStart_;
    } catch (const std::exception &e) {
        LOG_LIMITED("poll-exception", Error, "mesh", "polling failed: %s", e.what());
        if (run_)
            endPoll("poll", -EIO);
    }
}

void MeshService::pumpPollTurn()
{
    if (!run_) {
        // Nothing expected: drain whatever is there (a reply to an abandoned dump).
        stream_.pump(std::chrono::steady_clock::now(), [](nlattr **) {});
        return;
    }
    PollRun &r = *run_;
    auto progress = stream_.pump(std::chrono::steady_clock::now() + pumpBudget,
                                 [&r](nlattr **tb) { r.entry(tb); });
    if (progress == batman::DumpReader::Progress::More)
        return; // more on the next turn
    const char *name = PollRun::names[r.step];
    batman::DumpReader &reader = stream_.reader();
    unsigned bad = r.badEntries + reader.stats().badEntries;
    if (bad)
        netlinkErrors_.Add({{"op", std::string(name) + "_bad_entry"}})
            .Increment(static_cast<double>(bad));
    int err = reader.error();
    if (err == -ENOENT) {
        r.resetStep(); // no primary interface yet: the table is empty
        err = 0;
        // ...or batman-adv was reloaded and its family has a new id: the
        // next poll resolves it again on a new socket.
        reopenStream_ = true;
    }
    if (err < 0) {
        // The originator, neighbour, gateway and hardif tables make the
        // snapshot; translation tables are only counted.
        netlinkErrors_.Add({{"op", name}}).Increment();
        if (r.step < PollRun::LocalTt)
            return endPoll(name, err);
        r.resetStep();
    } else if (reader.interrupted() && r.attempt < 3) {
        r.attempt++;
        dumpRetries_++;
        return startStep();
    } else {
        observeDump(name, std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                        r.stepStart)
                              .count());
    }
    r.attempt = 0;
    if (++r.step < PollRun::Finished)
        return startStep();
    finishPoll();
}

void MeshService::endPoll(const char *step, int err)
{
    LOG_LIMITED(std::string("poll-") + step, Warning, "mesh", "polling %s of %s failed: %s", step,
                config_.mesh.interface.c_str(), strerror(-err));
    if (err == -EIO || err == -ENOBUFS || err == -ENOTCONN) {
        loop_.removeFd(stream_.fd());
        stream_.close(); // reopened by the next poll
    }
    run_.reset();
    pollAfterRun();
}

void MeshService::finishPoll()
{
    std::unique_ptr<PollRun> r = std::move(run_);
    if (reopenStream_) {
        reopenStream_ = false;
        loop_.removeFd(stream_.fd());
        stream_.close();
    }
    batman::MeshSnapshot next;
    unsigned repeats = next.setOriginators(std::move(r->routes));
    for (const auto &n : r->neighbors)
        next.neighbors[{n.neighbor, n.hardif}] = true;
    for (const auto &g : r->gateways)
        next.gateways[g.originator] = g.best;
    for (const auto &h : r->hardifs)
        next.hardifs[h.name] = h.active;
    repeats += sortUnique(r->localTt) + sortUnique(r->globalTt);
    dumpDuplicates_ += repeats;

    if (snapshot_) {
        batman::carryOver(*snapshot_, next);
        for (auto &e : batman::diff(*snapshot_, next))
            pendingEvents_.push_back(std::move(e));
    }
    snapshot_ = std::move(next);
    lastHardifs_ = r->hardifs;
    std::vector<NeighborTq> tq;
    tq.reserve(r->neighborTq.size());
    for (const auto &n : r->neighborTq)
        tq.push_back({n.neighbor, n.hardif.str(), n.tq});
    updateMetrics(tq, r->neighbors, r->hardifs, r->gateways.size(), r->localTt.size(),
                  r->globalTt.size());
    if (neighborsObserver_)
        neighborsObserver_(r->neighbors);
    polls_++;
    spacePolls(r->started, r->cpu + (threadCpu() - turnCpuStart_), snapshot_->routes.size(),
               r->globalTt.size());
    pollAfterRun();
    drainEvents(false);
}

void MeshService::drainEvents(bool all)
{
    auto end = std::chrono::steady_clock::now() + pumpBudget;
    for (unsigned n = 0; !pendingEvents_.empty(); n++) {
        if (!all && n % 32 == 31 && std::chrono::steady_clock::now() >= end)
            break;
        batman::MeshEvent e = std::move(pendingEvents_.front());
        pendingEvents_.pop_front();
        queueEvent(e);
    }
    if (pendingEvents_.empty()) {
        if (eventsTimer_) {
            loop_.cancelTimer(eventsTimer_);
            eventsTimer_ = 0;
        }
    } else if (!eventsTimer_) {
        eventsTimer_ = loop_.addTimer(std::chrono::milliseconds(0), [this] {
            eventsTimer_ = 0;
            drainEvents(false);
        });
    }
}

void MeshService::publishInOrder(std::string_view name, nlohmann::json fields)
{
    drainEvents(true);
    publish_(name, std::move(fields));
}

void MeshService::spacePolls(std::chrono::steady_clock::time_point started,
                             std::chrono::nanoseconds took, std::size_t originators,
                             std::size_t clients)
{
    using std::chrono::milliseconds;
    auto interval = milliseconds(config_.mesh.pollIntervalMs);
    auto spaced = std::chrono::duration_cast<milliseconds>(took * pollDutyDivisor);
    if (spaced > interval) {
        if (pollTimer_)
            loop_.rescheduleTimer(pollTimer_, started + spaced);
        else
            pollTimer_ = loop_.addTimerAt(started + spaced, [this] { onPollTimer(); });
        pollOverdue_ = false; // the timer above is the next poll
        if (!spacedPollMs_)
            LOG(Warning, "mesh",
                "a poll of %s took %.0f ms of CPU (%zu originators, %zu global clients): polling every "
                "%.1f s instead of every %.1f s while polls are this slow",
                config_.mesh.interface.c_str(), std::chrono::duration<double, std::milli>(took).count(),
                originators, clients, static_cast<double>(spaced.count()) / 1000.0,
                static_cast<double>(interval.count()) / 1000.0);
        spacedPollMs_ = static_cast<std::uint64_t>(spaced.count());
    } else if (spacedPollMs_) {
        LOG(Info, "mesh", "polls of %s are quick again: polling every %.1f s",
            config_.mesh.interface.c_str(), static_cast<double>(interval.count()) / 1000.0);
        spacedPollMs_ = 0;
    }
    pollIntervalGauge_.Add({{"mesh", config_.mesh.interface}})
        .Set(static_cast<double>(spacedPollMs_ ? spacedPollMs_ : config_.mesh.pollIntervalMs) /
             1000.0);
}

void MeshService::queueEvent(const batman::MeshEvent &e)
{
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
            fields["from"] = {{"neighbor", e.from->neighbor.str()}, {"hardif", e.from->hardif}};
        if (e.to)
            fields["to"] = {{"neighbor", e.to->neighbor.str()}, {"hardif", e.to->hardif}};
        break;
    }
    if (e.kind == K::BestHopChanged)
        pathChanges_.Add({{"mesh", config_.mesh.interface}}).Increment();
    publish_(batman::eventName(e.kind), fields);
}

void MeshService::updateMetrics(const std::vector<NeighborTq> &neighborTq,
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
    for (const auto &o : neighborTq) {
        std::map<std::string, std::string> l = {
            {"mesh", mesh}, {"hardif", o.hardif}, {"neighbor", o.neighbor.str()}};
        if (labels.count(l))
            tqGauge_.Add(l).Set(o.tq / 255.0);
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
                    self->publishInOrder("tp_result", {{"originator", r->originator.str()},
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
                    self->publishInOrder("settings_changed", {{"interface", info->ifname},
                                                        {"settings", settings}});
                }
            } else if (gnl->cmd == BATADV_CMD_SET_HARDIF) {
                if (auto h = batman::parseHardif(tb)) {
                    std::string name = h->name.empty() ? batman::interfaceName(h->ifindex) : h->name;
                    self->publishInOrder("hardif_settings_changed",
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
    loop_.addFd(
        nl_socket_get_fd(configSock_), EPOLLIN, [this](std::uint32_t) { onConfigGroup(); },
        "batadv-config");
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
