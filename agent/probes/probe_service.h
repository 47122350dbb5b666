// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>

#include "commands.h"
#include "config.h"
#include "event_loop.h"

namespace bpfprobe {
class LinkProbe;
class TcpProbe;
class DropProbe;
class SojournProbe;
} // namespace bpfprobe
namespace prometheus {
template <typename T> class Family;
class Gauge;
} // namespace prometheus

namespace meshd {

class Metrics;
class CounterSnapshot;
class HistogramSnapshot;

// The eBPF probes as the agent sees them: loads what the kernel accepts,
// attaches the link probe to every hard interface of the mesh (and again
// when one comes back), reads the maps once a second into metrics, and
// answers `probes` and `links`. A probe that cannot load is reported with
// its reason; the daemon runs on without it.
class ProbeService {
public:
    ProbeService(EventLoop &loop, const Config &config, Metrics &metrics);
    ~ProbeService();

    void start();
    void stop();
    void registerCommands(CommandRegistry &commands);
    nlohmann::json status() const;

private:
    void tick();
    void attachHardifs(const std::map<int, std::string> &want); // ifindex -> name
    void readMaps();
    void readTcp();
    void readDrops();
    void readDevices(const std::map<int, std::string> &hardifs);
    void readSojourn();
    void readRunStats();

    EventLoop &loop_;
    const Config &config_;
    std::unique_ptr<bpfprobe::LinkProbe> link_;
    std::string linkReason_; // why the link probe is not loaded
    std::unique_ptr<bpfprobe::TcpProbe> tcp_;
    std::string tcpReason_;
    std::map<std::string, std::uint64_t> tcpByInterface_; // as of the last read
    std::unique_ptr<bpfprobe::SojournProbe> sojourn_;
    std::string sojournReason_;
    nlohmann::json sojournByInterface_ = nlohmann::json::object();
    std::shared_ptr<HistogramSnapshot> sojournHistogram_;
    std::unique_ptr<bpfprobe::DropProbe> drops_;
    std::string dropsReason_;
    nlohmann::json dropsByInterface_ = nlohmann::json::object(); // interface -> reason -> n
    EventLoop::TimerId timer_ = 0;
    std::map<int, std::string> hardifs_;     // attached ifindex -> name
    std::map<std::string, std::string> attachErrors_; // hardif -> why not

    struct Sample {
        std::chrono::steady_clock::time_point at;
        std::uint64_t received, lost;
    };
    using NeighborKey = std::tuple<std::uint32_t, std::string>; // ifindex, MAC
    std::map<NeighborKey, std::deque<Sample>> lossHistory_;
    nlohmann::json links_ = nlohmann::json::array(); // as of the last read

    prometheus::Family<prometheus::Gauge> &loaded_;
    prometheus::Family<prometheus::Gauge> &lossRatio_;
    std::shared_ptr<CounterSnapshot> packets_;
    std::shared_ptr<CounterSnapshot> bytes_;
    std::shared_ptr<CounterSnapshot> frameTypes_;
    std::shared_ptr<CounterSnapshot> runs_;    // bpf_stats: program runs
    std::shared_ptr<CounterSnapshot> runTime_; // bpf_stats: time in the programs
    std::shared_ptr<CounterSnapshot> tcpRetransmits_;
    std::shared_ptr<CounterSnapshot> packetDrops_;
    // Device and qdisc statistics of the hard interfaces (rtnetlink, no BPF).
    std::shared_ptr<CounterSnapshot> ifPackets_, ifBytes_, ifErrors_, ifDropped_;
    std::shared_ptr<CounterSnapshot> qdiscDrops_, qdiscOverlimits_, qdiscRequeues_, qdiscBacklog_;
    std::shared_ptr<CounterSnapshot> cakeDelay_;
    nlohmann::json devices_ = nlohmann::json::object(); // hardif -> counters, as of the last read
};

} // namespace meshd
