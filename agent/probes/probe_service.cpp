// SPDX-License-Identifier: GPL-2.0-or-later
#include "probe_service.h"

#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <net/if.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <set>

#include "control_protocol.h"
#include "counter_snapshot.h"
#include "drops_probe.h"
#include "kernel_btf.h"
#include "link_probe.h"
#include "log.h"
#include "metrics.h"
#include "netdev.h"
#include "sojourn_probe.h"
#include "tables.h"
#include "tcp_probe.h"

namespace meshd {

using nlohmann::json;

namespace {

constexpr auto readInterval = std::chrono::seconds(1);
constexpr auto lossWindow = std::chrono::seconds(60);

std::string macString(const bpfprobe::MacBytes &m)
{
    char buf[18];
    std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
                  m[5]);
    return buf;
}

// The hard interfaces of a batman-adv mesh interface are its lower devices.
std::map<int, std::string> lowerInterfaces(const std::string &mesh)
{
    std::map<int, std::string> out;
    std::string dir = "/sys/class/net/" + mesh;
    DIR *d = opendir(dir.c_str());
    if (!d)
        return out;
    while (dirent *e = readdir(d)) {
        std::string name = e->d_name;
        if (name.rfind("lower_", 0) != 0)
            continue;
        name = name.substr(6);
        if (unsigned idx = if_nametoindex(name.c_str()))
            out[static_cast<int>(idx)] = name;
    }
    closedir(d);
    return out;
}

struct TierB {
    const char *probe, *what;
};
// Tier B probes need BTF and BPF tracing; all are in this build.
const std::array<TierB, 0> tierB{};

std::string interfaceLabel(std::uint32_t ifindex)
{
    if (ifindex == 0)
        return "(none)";
    char name[IF_NAMESIZE];
    return if_indextoname(ifindex, name) ? std::string(name) : "ifindex " + std::to_string(ifindex);
}

} // namespace

ProbeService::ProbeService(EventLoop &loop, const Config &config, Metrics &metrics)
    : loop_(loop), config_(config),
      loaded_(prometheus::BuildGauge()
                  .Name("meshd_probe_loaded")
                  .Help("1 when the eBPF probe is loaded and attached where it should be, else 0.")
                  .Register(metrics.registry())),
      lossRatio_(prometheus::BuildGauge()
                     .Name("meshd_link_loss_ratio")
                     .Help("Share of a neighbour's own OGMs (BATMAN_IV) or ELP probes "
                           "(BATMAN_V) that did not arrive, over the last 60 s.")
                     .Register(metrics.registry())),
      packets_(std::make_shared<CounterSnapshot>(
          "meshd_link_packets_total", "Frames per hard interface, neighbour and direction, "
                                      "counted by the link probe (tc).")),
      bytes_(std::make_shared<CounterSnapshot>(
          "meshd_link_bytes_total", "Bytes per hard interface, neighbour and direction, counted "
                                    "by the link probe (tc).")),
      frameTypes_(std::make_shared<CounterSnapshot>(
          "meshd_link_frames_total", "Frames per hard interface and direction by batman-adv "
                                     "packet type (non_batman, malformed: as named).")),
      runs_(std::make_shared<CounterSnapshot>(
          "meshd_probe_runs_total",
          "Runs of the probe's BPF programs (counted while sysctl kernel.bpf_stats_enabled=1).")),
      runTime_(std::make_shared<CounterSnapshot>(
          "meshd_probe_run_seconds_total",
          "Time spent in the probe's BPF programs (while kernel.bpf_stats_enabled=1).")),
      tcpRetransmits_(std::make_shared<CounterSnapshot>(
          "meshd_tcp_retransmits_total",
          "TCP segments retransmitted by this host (tier B probe tcp_retransmits).")),
      packetDrops_(std::make_shared<CounterSnapshot>(
          "meshd_packet_drops_total",
          "Packets the kernel dropped, by reason as the running kernel names it (tier B "
          "probe drops; \"unknown\" before 5.17)."))
{
    std::vector<double> bounds;
    for (int b = 0; b < MESHD_SOJOURN_BUCKETS - 1; b++)
        bounds.push_back(std::ldexp(1.0, b) / 1e6); // 2^b µs, in seconds
    sojournHistogram_ = std::make_shared<HistogramSnapshot>(
        "meshd_qdisc_sojourn_seconds",
        "Time packets waited in the qdiscs of an interface (tier B probe qdisc_sojourn).",
        std::move(bounds));
    metrics.addCollectable(sojournHistogram_);
    auto snapshot = [&](std::shared_ptr<CounterSnapshot> &to, const char *name, const char *help,
                        bool gauge = false) {
        to = std::make_shared<CounterSnapshot>(name, help, gauge);
        metrics.addCollectable(to);
    };
    snapshot(ifPackets_, "meshd_interface_packets_total",
             "Packets of a hard interface by direction (device counters, rtnetlink).");
    snapshot(ifBytes_, "meshd_interface_bytes_total",
             "Bytes of a hard interface by direction (device counters, rtnetlink).");
    snapshot(ifErrors_, "meshd_interface_errors_total",
             "Errors of a hard interface by direction (device counters, rtnetlink).");
    snapshot(ifDropped_, "meshd_interface_dropped_total",
             "Packets a hard interface dropped, by direction (device counters, rtnetlink).");
    snapshot(qdiscDrops_, "meshd_qdisc_drops_total",
             "Packets dropped by a qdisc of a hard interface (rtnetlink).");
    snapshot(qdiscOverlimits_, "meshd_qdisc_overlimits_total",
             "Overlimit events of a qdisc of a hard interface (rtnetlink).");
    snapshot(qdiscRequeues_, "meshd_qdisc_requeues_total",
             "Requeues of a qdisc of a hard interface (rtnetlink).");
    snapshot(qdiscBacklog_, "meshd_qdisc_backlog_bytes",
             "Bytes queued in a qdisc of a hard interface now (rtnetlink).", true);
    snapshot(cakeDelay_, "meshd_qdisc_cake_delay_seconds",
             "Queueing delay of a CAKE tin as CAKE reports it (peak, avg, base).", true);
    metrics.addCollectable(packetDrops_);
    metrics.addCollectable(tcpRetransmits_);
    metrics.addCollectable(runs_);
    metrics.addCollectable(runTime_);
    metrics.addCollectable(packets_);
    metrics.addCollectable(bytes_);
    metrics.addCollectable(frameTypes_);
    loaded_.Add({{"probe", "link"}}).Set(0);
    loaded_.Add({{"probe", "tcp_retransmits"}}).Set(0);
    loaded_.Add({{"probe", "drops"}}).Set(0);
    loaded_.Add({{"probe", "qdisc_sojourn"}}).Set(0);
    for (const auto &b : tierB)
        loaded_.Add({{"probe", b.probe}}).Set(0);
}

ProbeService::~ProbeService()
{
    if (timer_)
        loop_.cancelTimer(timer_);
}

void ProbeService::start()
{
    if (!config_.probes.enabled) {
        linkReason_ = "probes.enabled is false";
        return;
    }
    // Each probe loads on its own: what one kernel lacks does not stop the
    // others. The tier B ones share one parse of the kernel's BTF.
    bpfprobe::KernelBtf kernelBtf;
    std::string noBtf = kernelBtf.load(config_.probes.btf);
    auto loadTierB = [&](auto &probe) {
        return noBtf.empty() ? probe->load(kernelBtf) : noBtf;
    };
    tcp_ = std::make_unique<bpfprobe::TcpProbe>();
    tcpReason_ = loadTierB(tcp_);
    if (!tcpReason_.empty()) {
        LOG(Warning, "probes", "tcp_retransmits probe not loaded: %s", tcpReason_.c_str());
        tcp_.reset();
    } else {
        LOG(Info, "probes", "tcp_retransmits probe loaded (event arguments: %s)",
            tcp_->variant().c_str());
        loaded_.Add({{"probe", "tcp_retransmits"}}).Set(1);
    }
    drops_ = std::make_unique<bpfprobe::DropProbe>();
    dropsReason_ = loadTierB(drops_);
    if (!dropsReason_.empty()) {
        LOG(Warning, "probes", "drops probe not loaded: %s", dropsReason_.c_str());
        drops_.reset();
    } else {
        LOG(Info, "probes", "drops probe loaded (%s)",
            drops_->hasReasons() ? "with reasons" : "this kernel gives no reasons");
        loaded_.Add({{"probe", "drops"}}).Set(1);
    }
    sojourn_ = std::make_unique<bpfprobe::SojournProbe>();
    sojournReason_ = loadTierB(sojourn_);
    if (!sojournReason_.empty()) {
        LOG(Warning, "probes", "qdisc_sojourn probe not loaded: %s", sojournReason_.c_str());
        sojourn_.reset();
    } else {
        LOG(Info, "probes", "qdisc_sojourn probe loaded");
        loaded_.Add({{"probe", "qdisc_sojourn"}}).Set(1);
    }
    link_ = std::make_unique<bpfprobe::LinkProbe>();
    linkReason_ = link_->load();
    if (!linkReason_.empty()) {
        LOG(Warning, "probes", "link probe not loaded: %s", linkReason_.c_str());
        link_.reset();
    } else {
        LOG(Info, "probes", "link probe loaded");
    }
    tick(); // device and qdisc counters need no BPF
}

void ProbeService::stop()
{
    if (timer_) {
        loop_.cancelTimer(timer_);
        timer_ = 0;
    }
    if (link_)
        link_->detachAll(); // the qdiscs stay; our filters go
}

void ProbeService::tick()
{
    timer_ = loop_.addTimer(readInterval, [this] { tick(); });
    // No exception may leave the event loop: a failed read is logged and
    // the next tick tries again.
    try {
        // The mesh's hard interfaces, listed once per turn for all readers.
        std::map<int, std::string> hardifs = lowerInterfaces(config_.mesh.interface);
        readDevices(hardifs);
        if (link_) {
            attachHardifs(hardifs);
            readMaps();
        }
        if (tcp_)
            readTcp();
        if (drops_)
            readDrops();
        if (sojourn_)
            readSojourn();
        readRunStats();
    } catch (const std::exception &e) {
        LOG_LIMITED("probe-tick", Error, "probes", "reading the probes failed: %s", e.what());
    }
}

void ProbeService::readDevices(const std::map<int, std::string> &hardifs)
{
    std::map<int, std::vector<batman::QdiscStats>> qdiscs;
    if (!hardifs.empty() && batman::qdiscStats(qdiscs) < 0)
        LOG_LIMITED("qdisc-stats", Warning, "probes", "reading qdisc statistics failed");
    std::map<CounterSnapshot::Labels, double> packets, bytes, errors, dropped;
    std::map<CounterSnapshot::Labels, double> qDrops, qOver, qRequeues, qBacklog, cakeDelay;
    json devices = json::object();
    for (const auto &[ifindex, name] : hardifs) {
        batman::DeviceStats d;
        if (batman::deviceStats(ifindex, d) < 0)
            continue; // gone since the listing
        auto put = [&](auto &m, std::uint64_t rx, std::uint64_t tx) {
            m[{{"interface", name}, {"direction", "rx"}}] = static_cast<double>(rx);
            m[{{"interface", name}, {"direction", "tx"}}] = static_cast<double>(tx);
        };
        put(packets, d.rxPackets, d.txPackets);
        put(bytes, d.rxBytes, d.txBytes);
        put(errors, d.rxErrors, d.txErrors);
        put(dropped, d.rxDropped, d.txDropped);
        json qlist = json::array();
        for (const auto &q : qdiscs[ifindex]) {
            char id[32];
            std::snprintf(id, sizeof(id), "%s:%x", q.kind.c_str(), q.handle >> 16);
            CounterSnapshot::Labels l = {{"interface", name}, {"qdisc", id}};
            qDrops[l] = static_cast<double>(q.drops);
            qOver[l] = static_cast<double>(q.overlimits);
            qRequeues[l] = static_cast<double>(q.requeues);
            qBacklog[l] = static_cast<double>(q.backlogBytes);
            json row = {{"qdisc", id},
                        {"root", q.root},
                        {"packets", q.packets},
                        {"drops", q.drops},
                        {"overlimits", q.overlimits},
                        {"requeues", q.requeues},
                        {"backlog_bytes", q.backlogBytes},
                        {"qlen", q.qlen}};
            if (!q.tins.empty()) {
                json tins = json::array();
                for (const auto &t : q.tins) {
                    tins.push_back({{"tin", t.index},
                                    {"peak_delay_us", t.peakDelayUs},
                                    {"avg_delay_us", t.avgDelayUs},
                                    {"base_delay_us", t.baseDelayUs},
                                    {"sent_packets", t.sentPackets},
                                    {"dropped_packets", t.droppedPackets},
                                    {"backlog_bytes", t.backlogBytes}});
                    for (auto [which, us] : {std::pair{"peak", t.peakDelayUs},
                                             {"avg", t.avgDelayUs},
                                             {"base", t.baseDelayUs}})
                        cakeDelay[{{"interface", name},
                                   {"qdisc", id},
                                   {"tin", std::to_string(t.index)},
                                   {"delay", which}}] = us / 1e6;
                }
                row["tins"] = tins;
            }
            qlist.push_back(row);
        }
        devices[name] = {{"rx_packets", d.rxPackets}, {"tx_packets", d.txPackets},
                         {"rx_bytes", d.rxBytes},     {"tx_bytes", d.txBytes},
                         {"rx_errors", d.rxErrors},   {"tx_errors", d.txErrors},
                         {"rx_dropped", d.rxDropped}, {"tx_dropped", d.txDropped},
                         {"qdiscs", qlist}};
    }
    ifPackets_->replace(std::move(packets));
    ifBytes_->replace(std::move(bytes));
    ifErrors_->replace(std::move(errors));
    ifDropped_->replace(std::move(dropped));
    qdiscDrops_->replace(std::move(qDrops));
    qdiscOverlimits_->replace(std::move(qOver));
    qdiscRequeues_->replace(std::move(qRequeues));
    qdiscBacklog_->replace(std::move(qBacklog));
    cakeDelay_->replace(std::move(cakeDelay));
    devices_ = std::move(devices);
}

// Self-measurement: the kernel counts runs and run time per program while
// bpf_stats are enabled.
void ProbeService::readRunStats()
{
    std::map<CounterSnapshot::Labels, double> runs, seconds;
    auto put = [&](const char *probe, const auto &p) {
        if (!p)
            return;
        std::uint64_t n = 0, ns = 0;
        p->addRunStats(n, ns);
        runs[{{"probe", probe}}] = static_cast<double>(n);
        seconds[{{"probe", probe}}] = static_cast<double>(ns) / 1e9;
    };
    put("link", link_);
    put("tcp_retransmits", tcp_);
    put("drops", drops_);
    put("qdisc_sojourn", sojourn_);
    runs_->replace(std::move(runs));
    runTime_->replace(std::move(seconds));
}

void ProbeService::readSojourn()
{
    std::map<std::uint32_t, bpfprobe::SojournHistogram> byIfindex;
    if (sojourn_->read(byIfindex) < 0) {
        LOG_LIMITED("probe-read-sojourn", Warning, "probes", "reading the sojourn map failed");
        return;
    }
    std::map<HistogramSnapshot::Labels, HistogramSnapshot::Value> values;
    json byInterface = json::object();
    for (const auto &[ifindex, h] : byIfindex) {
        std::string name = interfaceLabel(ifindex);
        HistogramSnapshot::Value v;
        v.counts.assign(h.buckets.begin(), h.buckets.end());
        v.sum = static_cast<double>(h.sumNs) / 1e9;
        std::uint64_t n = 0;
        for (auto c : h.buckets)
            n += c;
        byInterface[name] = {{"packets", n},
                             {"mean_us", n ? static_cast<double>(h.sumNs) / 1e3 / static_cast<double>(n) : 0.0}};
        values[{{"interface", name}}] = std::move(v);
    }
    sojournHistogram_->replace(std::move(values));
    sojournByInterface_ = std::move(byInterface);
}

void ProbeService::readDrops()
{
    std::map<std::pair<std::uint32_t, std::string>, std::uint64_t> counts;
    if (drops_->read(counts) < 0) {
        LOG_LIMITED("probe-read-drops", Warning, "probes", "reading the drops map failed");
        return;
    }
    std::map<CounterSnapshot::Labels, double> byReason;
    json byInterface = json::object();
    for (const auto &[key, n] : counts) {
        byReason[{{"reason", key.second}}] += static_cast<double>(n);
        json &reasons = byInterface[interfaceLabel(key.first)];
        if (!reasons.is_object())
            reasons = json::object();
        reasons[key.second] = reasons.value(key.second, std::uint64_t{0}) + n;
    }
    packetDrops_->replace(std::move(byReason));
    dropsByInterface_ = std::move(byInterface);
}

void ProbeService::readTcp()
{
    std::map<std::uint32_t, std::uint64_t> byIfindex;
    if (tcp_->read(byIfindex) < 0) {
        LOG_LIMITED("probe-read-tcp", Warning, "probes", "reading the tcp_retransmits map failed");
        return;
    }
    std::uint64_t total = 0;
    tcpByInterface_.clear();
    for (const auto &[ifindex, n] : byIfindex) {
        total += n;
        tcpByInterface_[ifindex == 0 ? "(no route)" : interfaceLabel(ifindex)] += n;
    }
    tcpRetransmits_->replace({{{}, static_cast<double>(total)}});
}

void ProbeService::attachHardifs(const std::map<int, std::string> &want)
{
    for (auto it = hardifs_.begin(); it != hardifs_.end();) {
        if (want.count(it->first)) {
            ++it;
            continue;
        }
        // Gone, or no longer in the mesh: detach what may still be there.
        if (if_nametoindex(it->second.c_str()) == static_cast<unsigned>(it->first))
            link_->detach(it->first);
        else
            link_->forget(it->first);
        std::vector<bpfprobe::LinkCounter> gone;
        link_->dropInterface(static_cast<std::uint32_t>(it->first), gone);
        retire(gone); // while its name is still known
        LOG(Info, "probes", "link probe detached from %s", it->second.c_str());
        it = hardifs_.erase(it);
    }
    for (auto it = attachErrors_.begin(); it != attachErrors_.end();) {
        bool stillWanted = false;
        for (const auto &[ifindex, name] : want)
            stillWanted = stillWanted || name == it->first;
        it = stillWanted ? std::next(it) : attachErrors_.erase(it); // left the mesh
    }
    for (const auto &[ifindex, name] : want) {
        if (hardifs_.count(ifindex))
            continue;
        if (std::string why = link_->attach(ifindex); !why.empty()) {
            if (attachErrors_[name] != why)
                LOG(Warning, "probes", "cannot attach the link probe to %s: %s", name.c_str(),
                    why.c_str());
            attachErrors_[name] = why;
            continue;
        }
        attachErrors_.erase(name);
        hardifs_[ifindex] = name;
        LOG(Info, "probes", "link probe attached to %s", name.c_str());
    }
    loaded_.Add({{"probe", "link"}}).Set(attachErrors_.empty() ? 1 : 0);
}

void ProbeService::setNeighbors(const std::vector<batman::NeighborEntry> &neighbors)
{
    neighbors_.clear();
    for (const auto &n : neighbors)
        if (neighbors_.size() < MESHD_LINK_MAX_NEIGHBORS)
            neighbors_.insert({n.hardifIndex, n.neighbor.bytes});
}

namespace
{

std::string rowName(const bpfprobe::MacBytes &mac)
{
    return mac == bpfprobe::otherMac ? "other" : macString(mac);
}

} // namespace

void ProbeService::retire(const std::vector<bpfprobe::LinkCounter> &gone)
{
    for (const auto &c : gone) {
        auto it = hardifs_.find(static_cast<int>(c.ifindex));
        if (it == hardifs_.end())
            continue;
        const std::string &h = it->second;
        bool known = false;
        for (const auto &[key, n] : retiredTypes_)
            known = known || std::get<0>(key) == h;
        if (!known) {
            std::set<std::string> names;
            for (const auto &[key, n] : retiredTypes_)
                names.insert(std::get<0>(key));
            if (names.size() >= retiredInterfacesMax)
                continue; // a bound on names, not on counts
        }
        for (std::uint8_t t = 0; t < MESHD_FT_MAX; t++)
            retiredTypes_[{h, c.dir, t}] += c.types[t];
        // A neighbour's own row leaves with it; "other" and broadcast stay.
        if (c.neighbor == bpfprobe::otherMac ||
            c.neighbor == bpfprobe::MacBytes{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) {
            auto &r = retiredRows_[{h, rowName(c.neighbor), c.dir}];
            r.first += c.packets;
            r.second += c.bytes;
        }
    }
}

void ProbeService::readMaps()
{
    // Only batman-adv's neighbours on attached interfaces get entries of
    // their own; what the probe had counted for those that left is kept.
    std::set<bpfprobe::NeighborKey> want;
    for (const auto &n : neighbors_)
        if (hardifs_.count(static_cast<int>(n.first)))
            want.insert(n);
    std::vector<bpfprobe::LinkCounter> gone;
    if (int err = link_->setNeighbors(want, gone); err < 0)
        LOG_LIMITED("probe-neighbors", Warning, "probes",
                    "cannot give the link probe every neighbour (%zu): %s", want.size(),
                    strerror(-err));
    retire(gone);

    std::vector<bpfprobe::LinkCounter> links;
    std::vector<bpfprobe::LossCounter> loss;
    if (link_->readLinks(links) < 0 || link_->readLoss(loss) < 0) {
        LOG_LIMITED("probe-read", Warning, "probes", "reading the link probe's maps failed");
        return;
    }
    auto name = [this](std::uint32_t ifindex) -> const std::string * {
        auto it = hardifs_.find(static_cast<int>(ifindex));
        return it == hardifs_.end() ? nullptr : &it->second;
    };
    std::map<CounterSnapshot::Labels, double> packets, bytes, frames;
    std::map<NeighborKey, json> rows;
    std::set<std::string> attachedNames;
    for (const auto &[ifindex, h] : hardifs_)
        attachedNames.insert(h);
    // Totals of removed entries first, then what the map holds now.
    for (const auto &[key, n] : retiredTypes_)
        if (attachedNames.count(std::get<0>(key)))
            frames[{{"hardif", std::get<0>(key)},
                    {"direction", std::get<1>(key) == MESHD_DIR_RX ? "rx" : "tx"},
                    {"type", bpfprobe::frameTypeName(std::get<2>(key))}}] += static_cast<double>(n);
    std::map<std::tuple<std::string, std::string, std::uint8_t>,
             std::pair<std::uint64_t, std::uint64_t>>
        rowTotals;
    for (const auto &[key, v] : retiredRows_)
        if (attachedNames.count(std::get<0>(key)))
            rowTotals[key] = v;
    std::map<std::tuple<std::string, std::string>, std::uint32_t> rowIfindex;
    for (const auto &c : links) {
        const std::string *h = name(c.ifindex);
        if (!h)
            continue; // an interface no longer attached
        auto &t = rowTotals[{*h, rowName(c.neighbor), c.dir}];
        t.first += c.packets;
        t.second += c.bytes;
        rowIfindex[{*h, rowName(c.neighbor)}] = c.ifindex;
        for (std::uint8_t ty = 0; ty < MESHD_FT_MAX; ty++)
            if (c.types[ty])
                frames[{{"hardif", *h},
                        {"direction", c.dir == MESHD_DIR_RX ? "rx" : "tx"},
                        {"type", bpfprobe::frameTypeName(ty)}}] += static_cast<double>(c.types[ty]);
    }
    for (const auto &[key, v] : rowTotals) {
        const auto &[h, mac, d] = key;
        const char *dir = d == MESHD_DIR_RX ? "rx" : "tx";
        CounterSnapshot::Labels l = {{"hardif", h}, {"neighbor", mac}, {"direction", dir}};
        packets[l] = static_cast<double>(v.first);
        bytes[l] = static_cast<double>(v.second);
        auto ifi = rowIfindex.find({h, mac});
        std::uint32_t ifindex = ifi != rowIfindex.end() ? ifi->second : 0;
        if (ifi == rowIfindex.end())
            for (const auto &[i, n] : hardifs_)
                if (n == h)
                    ifindex = static_cast<std::uint32_t>(i);
        json &row = rows[{ifindex, mac}];
        row["hardif"] = h;
        row["neighbor"] = mac;
        row[std::string(dir) + "_packets"] = v.first;
        row[std::string(dir) + "_bytes"] = v.second;
    }
    packets_->replace(std::move(packets));
    bytes_->replace(std::move(bytes));
    frameTypes_->replace(std::move(frames));

    auto now = std::chrono::steady_clock::now();
    std::set<NeighborKey> seen;
    for (const auto &c : loss) {
        const std::string *h = name(c.ifindex);
        if (!h)
            continue;
        NeighborKey key{c.ifindex, macString(c.neighbor)};
        seen.insert(key);
        auto &hist = lossHistory_[key];
        // Fewer than before: the entry was evicted and made anew; start over.
        if (!hist.empty() && (c.value.received < hist.back().received))
            hist.clear();
        hist.push_back({now, c.value.received, c.value.lost});
        while (hist.size() > 1 && now - hist.front().at > lossWindow)
            hist.pop_front();
        std::uint64_t got = hist.back().received - hist.front().received;
        std::uint64_t lost = hist.back().lost >= hist.front().lost
                                 ? hist.back().lost - hist.front().lost
                                 : 0; // late arrivals can lower the count
        if (hist.size() == 1) { // first sight: everything so far
            got = c.value.received;
            lost = c.value.lost;
        }
        json &row = rows[key];
        row["hardif"] = *h;
        row["neighbor"] = std::get<1>(key);
        row["seq_received"] = c.value.received;
        row["seq_lost"] = c.value.lost;
        row["seq_late"] = c.value.late;
        row["seq_duplicates"] = c.value.duplicates;
        row["seq_restarts"] = c.value.restarts;
        if (got + lost > 0) {
            double ratio = static_cast<double>(lost) / static_cast<double>(got + lost);
            lossRatio_.Add({{"hardif", *h}, {"neighbor", std::get<1>(key)}}).Set(ratio);
            row["loss_ratio"] = ratio;
        }
    }
    for (auto it = lossHistory_.begin(); it != lossHistory_.end();) {
        if (seen.count(it->first)) {
            ++it;
            continue;
        }
        // Evicted from the LRU map or its interface went away: drop the series.
        if (const std::string *h = name(std::get<0>(it->first)))
            lossRatio_.Remove(&lossRatio_.Add({{"hardif", *h}, {"neighbor", std::get<1>(it->first)}}));
        it = lossHistory_.erase(it);
    }
    json list = json::array();
    for (auto &[key, row] : rows) {
        for (const char *f : {"rx_packets", "rx_bytes", "tx_packets", "tx_bytes"})
            if (!row.contains(f))
                row[f] = 0;
        if (!row.contains("loss_ratio"))
            row["loss_ratio"] = nullptr;
        list.push_back(std::move(row));
    }
    links_ = std::move(list);
}

json ProbeService::status() const
{
    if (!config_.probes.enabled)
        return {{"state", "disabled"}};
    if (!link_)
        return {{"state", "unavailable"}, {"reason", linkReason_}};
    json attached = json::array();
    for (const auto &[ifindex, name] : hardifs_)
        attached.push_back(name);
    json loaded = {"link"};
    if (tcp_)
        loaded.push_back("tcp_retransmits");
    if (drops_)
        loaded.push_back("drops");
    if (sojourn_)
        loaded.push_back("qdisc_sojourn");
    json out = {{"state", attachErrors_.empty() ? "ok" : "degraded"},
                {"loaded", loaded},
                {"attached", attached}};
    if (!attachErrors_.empty())
        out["reason"] = attachErrors_.begin()->first + ": " + attachErrors_.begin()->second;
    else if (!tcp_ || !drops_)
        out["note"] = "tier B: " + (!tcp_ ? "tcp_retransmits: " + tcpReason_ : std::string()) +
                      (!tcp_ && !drops_ ? "; " : "") +
                      (!drops_ ? "drops: " + dropsReason_ : std::string());
    return out;
}

void ProbeService::registerCommands(CommandRegistry &commands)
{
    commands.add("probes", "loaded eBPF probes and why others are not", [this](const json &) {
        json list = json::array();
        json link = {{"probe", "link"},
                     {"tier", "A"},
                     {"what", "frames, bytes and batman-adv packet types per neighbour (tc); "
                              "loss from OGM/ELP sequence numbers"}};
        if (link_) {
            json attached = json::array();
            for (const auto &[ifindex, name] : hardifs_)
                attached.push_back(name);
            link["loaded"] = true;
            link["attached"] = attached;
            json errors = json::object();
            for (const auto &[h, why] : attachErrors_)
                errors[h] = why;
            if (!errors.empty())
                link["attach_errors"] = errors;
        } else {
            link["loaded"] = false;
            link["reason"] = linkReason_;
        }
        list.push_back(link);
        json tcp = {{"probe", "tcp_retransmits"},
                    {"tier", "B"},
                    {"what", "TCP retransmissions per output interface (tcp:tcp_retransmit_skb)"}};
        if (tcp_) {
            tcp["loaded"] = true;
            tcp["event_arguments"] = tcp_->variant();
            json by = json::object();
            for (const auto &[ifname, n] : tcpByInterface_)
                by[ifname] = n;
            tcp["retransmits"] = by;
        } else {
            tcp["loaded"] = false;
            tcp["reason"] = tcpReason_;
        }
        list.push_back(tcp);
        json drop = {{"probe", "drops"},
                     {"tier", "B"},
                     {"what", "packet drops by reason and interface (skb:kfree_skb)"}};
        if (drops_) {
            drop["loaded"] = true;
            drop["reasons_named"] = drops_->hasReasons();
            drop["drops"] = dropsByInterface_;
        } else {
            drop["loaded"] = false;
            drop["reason"] = dropsReason_;
        }
        list.push_back(drop);
        json soj = {{"probe", "qdisc_sojourn"},
                    {"tier", "B"},
                    {"what", "time packets wait in qdiscs, per interface "
                             "(qdisc:qdisc_enqueue/qdisc_dequeue)"}};
        if (sojourn_) {
            soj["loaded"] = true;
            soj["interfaces"] = sojournByInterface_;
        } else {
            soj["loaded"] = false;
            soj["reason"] = sojournReason_;
        }
        list.push_back(soj);
        list.push_back({{"probe", "netdev"},
                        {"tier", "A"},
                        {"what", "device counters and qdisc statistics of the hard interfaces "
                                 "(rtnetlink, no BPF)"},
                        {"loaded", true},
                        {"interfaces", devices_}});
        for (const auto &b : tierB)
            list.push_back({{"probe", b.probe},
                            {"tier", "B"},
                            {"what", b.what},
                            {"loaded", false},
                            {"reason", "tier B probes are not part of this meshd build yet"}});
        return CommandResult::success(list);
    });
    commands.add("links", "per-neighbour link quality measured by the probes",
                 [this](const json &) {
                     if (!link_)
                         return CommandResult::failure(errc::unavailable,
                                                       "the link probe is not loaded: " +
                                                           linkReason_);
                     return CommandResult::success(links_);
                 });
}

} // namespace meshd
