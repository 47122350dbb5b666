// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <array>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "commands.h"
#include "config.h"
#include "event_loop.h"

namespace bpfprobe {
class LinkProbe;
class TcpProbe;
class DropProbe;
class SojournProbe;
struct LinkCounter;
} // namespace bpfprobe
namespace batman
{
struct NeighborEntry;
} // namespace batman
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
    // batman-adv's neighbours as of the mesh's last poll: only they get
    // counters and loss state of their own (the probe counts the rest as
    // neighbor "other").
    void setNeighbors(const std::vector<batman::NeighborEntry> &neighbors);
    void registerCommands(CommandRegistry &commands);
    nlohmann::json status() const;

private:
    void tick();
    void attachHardifs(const std::map<int, std::string> &want); // ifindex -> name
    void readMaps();
    // Keeps what removed map entries had counted, for monotonic totals.
    void retire(const std::vector<bpfprobe::LinkCounter> &gone);
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
    std::set<std::pair<std::uint32_t, std::array<std::uint8_t, 6>>> neighbors_; // ifindex, MAC
    // What removed entries had counted, by hard interface name so that an
    // interface made anew (a new ifindex) continues its totals: frames by
    // (hardif, direction, type), and packets and bytes of the "other" and
    // broadcast rows by (hardif, row, direction). Bounded by the names of
    // hard interfaces seen (at most retiredInterfacesMax).
    static constexpr std::size_t retiredInterfacesMax = 256;
    std::map<std::tuple<std::string, std::uint8_t, std::uint8_t>, std::uint64_t> retiredTypes_;
    std::map<std::tuple<std::string, std::string, std::uint8_t>,
             std::pair<std::uint64_t, std::uint64_t>>
        retiredRows_;

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
