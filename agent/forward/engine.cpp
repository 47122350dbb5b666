// SPDX-License-Identifier: GPL-2.0-or-later
#include "engine.h"

#include "frame_pool.h"
#include "link_netlink.h"
#include "packet_ring_port.h"
#include "tap_port.h"
#include "udp_port.h"
#include "worker.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <netinet/in.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <thread>
#include <unistd.h>

namespace meshd::forward {

namespace {
constexpr unsigned maxWorkers = 16;
constexpr std::uint32_t vlanEthHeader = 14 + 4;
constexpr std::size_t eventRingSize = 256;

unsigned clampWorkers(unsigned n) { return std::clamp(n, 1u, maxWorkers); }

std::string errnoText(int rc) { return std::strerror(rc < 0 ? -rc : rc); }

// The CPUs this process may run on, in order.
std::vector<int> allowedCpus()
{
    std::vector<int> cpus;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof(set), &set) == 0)
        for (int c = 0; c < CPU_SETSIZE; ++c)
            if (CPU_ISSET(c, &set))
                cpus.push_back(c);
    return cpus;
}
} // namespace

const char *meshIoName(MeshIo io)
{
    switch (io) {
    case MeshIo::PacketRing:
        return "packet-ring";
    case MeshIo::Tap:
        return "tap";
    }
    return "unknown";
}

bool parseMeshIo(const char *name, MeshIo &out)
{
    for (MeshIo io : {MeshIo::PacketRing, MeshIo::Tap}) {
        if (std::strcmp(name, meshIoName(io)) == 0) {
            out = io;
            return true;
        }
    }
    return false;
}

std::string farEndName(const std::string &interface) { return interface.substr(0, 12) + "_dp"; }

struct Engine::WorkerState {
    WorkerState(std::uint32_t frames, std::uint32_t dataRoom) : pool(frames, dataRoom) {}
    FramePool pool;
    std::unique_ptr<MeshPort> mesh;
    PacketRingPort *ring = nullptr; // mesh, when it is one
    UdpPort udp;
    SpscRing<EngineEvent> events{eventRingSize};
    std::unique_ptr<Worker> worker;
    std::thread thread;
};

Engine::Engine(EngineConfig config)
    : config_(std::move(config)),
      reclaimer_(std::make_unique<Reclaimer>(clampWorkers(config_.workers))),
      peers_(std::make_unique<PeerDirectory>(*reclaimer_)),
      counters_(std::make_unique<WorkerCounters[]>(clampWorkers(config_.workers)))
{
    unsigned n = clampWorkers(config_.workers);
    for (unsigned w = 0; w < n; ++w) {
        peerCounterStore_.push_back(std::make_unique<PeerCounters[]>(config_.maxPeers));
        peerCounters_.push_back(peerCounterStore_.back().get());
    }
}

Engine::~Engine()
{
    stop();
    workers_.clear(); // closes the TAP queues: the TAP goes with the last one
    removeInterfaces();
    if (eventFd_ >= 0)
        ::close(eventFd_);
    if (stopFd_ >= 0)
        ::close(stopFd_);
}

int Engine::fail(int rc, std::string what)
{
    error_ = std::move(what) + ": " + errnoText(rc);
    workers_.clear();
    removeInterfaces();
    return rc;
}

void Engine::removeInterfaces()
{
    if (createdVeth_ && ifindex_ > 0)
        link::deleteLink(ifindex_); // takes the far end with it
    createdVeth_ = false;
}

namespace {

// A veth pair that an earlier meshd made and could not remove (it was
// killed): `interface` and its far end, paired with each other. Anything
// else of those names is left alone (start() then fails with -EEXIST).
void removeStaleVeth(const std::string &interface, const std::string &far)
{
    int ifIndex = link::linkIndex(interface), farIndex = link::linkIndex(far);
    if (ifIndex <= 0 || farIndex <= 0)
        return;
    std::ifstream in("/sys/class/net/" + far + "/iflink");
    int peer = 0;
    if (in >> peer && peer == ifIndex)
        link::deleteLink(farIndex); // takes its peer with it
}

} // namespace

int Engine::start()
{
    if (started_)
        return -EALREADY;
    started_ = true;
    const EngineConfig &c = config_;
    auto invalid = [this](const char *what) {
        error_ = what;
        return -EINVAL;
    };
    if (c.workers < 1 || c.workers > maxWorkers)
        return invalid("workers must be 1..16");
    if (c.interface.empty() || c.interface.size() > 15)
        return invalid("interface name must be 1..15 bytes");
    if (!((c.listen.ss_family == AF_INET && c.listenLen == sizeof(sockaddr_in)) ||
          (c.listen.ss_family == AF_INET6 && c.listenLen == sizeof(sockaddr_in6))))
        return invalid("listen address must be a sockaddr_in or sockaddr_in6");
    if (c.mtu < 68 || c.mtu + vlanEthHeader > maxDataRoom)
        return invalid("mtu out of range");
    if (c.poolFrames < 4 * txStage || c.poolFrames > maxFrames)
        return invalid("poolFrames must be at least 1024");
    if (c.maxPeers == 0)
        return invalid("maxPeers must be at least 1");

    const std::uint32_t dataRoom = c.mtu + vlanEthHeader;
    std::string far = farEndName(c.interface);
    removeStaleVeth(c.interface, far);
    if (link::linkIndex(c.interface) > 0)
        return fail(-EEXIST, "interface " + c.interface);
    if (c.io == MeshIo::PacketRing && link::linkIndex(far) > 0)
        return fail(-EEXIST, "interface " + far);

    eventFd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    stopFd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (eventFd_ < 0 || stopFd_ < 0)
        return fail(-errno, "eventfd");

    for (unsigned w = 0; w < c.workers; ++w) {
        auto state = std::make_unique<WorkerState>(c.poolFrames, dataRoom);
        if (int rc = state->pool.init(); rc < 0)
            return fail(rc, "frame pool");
        workers_.push_back(std::move(state));
    }

    const link::Mac *mac = std::any_of(c.mac.begin(), c.mac.end(), [](auto b) { return b != 0; })
                               ? &c.mac
                               : nullptr;
    if (c.io == MeshIo::PacketRing) {
        if (int rc = link::createVeth(c.interface, far, c.mtu); rc < 0)
            return fail(rc, "creating veth " + c.interface + "/" + far);
        createdVeth_ = true;
        ifindex_ = link::linkIndex(c.interface);
        int farIndex = link::linkIndex(far);
        if (ifindex_ < 0 || farIndex < 0)
            return fail(ifindex_ < 0 ? ifindex_ : farIndex, "veth " + c.interface);
        if (int rc = link::disableTxChecksum(c.interface); rc < 0)
            return fail(rc, "checksum offload of " + c.interface);
        link::LinkChange farChange;
        farChange.up = true;
        farChange.noLinkLocal = true;
        if (int rc = link::changeLink(farIndex, farChange); rc < 0)
            return fail(rc, "setting up " + far);
        PacketRingOptions options;
        if (c.workers > 1)
            options.fanoutId = std::uint16_t(farIndex & 0xffff);
        for (auto &w : workers_) {
            auto port = std::make_unique<PacketRingPort>();
            if (int rc = port->open(farIndex, dataRoom, options); rc < 0)
                return fail(rc, "AF_PACKET ring on " + far);
            w->ring = port.get();
            w->mesh = std::move(port);
        }
    } else {
        for (auto &w : workers_) {
            auto port = std::make_unique<TapPort>();
            if (int rc = port->open(c.interface); rc < 0)
                return fail(rc, "TAP queue " + c.interface);
            w->mesh = std::move(port);
        }
        ifindex_ = link::linkIndex(c.interface);
        if (ifindex_ < 0)
            return fail(ifindex_, "TAP " + c.interface);
    }
    link::LinkChange change;
    change.up = true;
    change.mac = mac;
    change.mtu = c.mtu;
    if (int rc = link::changeLink(ifindex_, change); rc < 0)
        return fail(rc, "setting up " + c.interface);
    if (int rc = link::linkMac(c.interface, mac_); rc < 0)
        return fail(rc, "MAC of " + c.interface);

    UdpOptions udpOptions;
    udpOptions.gso = c.udpGso;
    sockaddr_storage listen = c.listen;
    for (auto &w : workers_) {
        if (int rc = w->udp.open(reinterpret_cast<sockaddr *>(&listen), c.listenLen, udpOptions);
            rc < 0)
            return fail(rc, "UDP socket");
        // Later sockets join the first one's port (SO_REUSEPORT).
        port_ = w->udp.port();
        if (listen.ss_family == AF_INET)
            reinterpret_cast<sockaddr_in &>(listen).sin_port = htons(port_);
        else
            reinterpret_cast<sockaddr_in6 &>(listen).sin6_port = htons(port_);
    }

    std::vector<int> cpus = allowedCpus();
    for (unsigned i = 0; i < workers_.size(); ++i) {
        WorkerState &w = *workers_[i];
        WorkerSetup s;
        s.index = i;
        s.mesh = w.mesh.get();
        s.udp = &w.udp;
        s.pool = &w.pool;
        s.peers = peers_.get();
        s.reclaimer = reclaimer_.get();
        s.counters = &counters_[i];
        s.peerCounters = peerCounters_[i];
        s.maxPeers = c.maxPeers;
        s.allPeerCounters = peerCounters_.data();
        s.workers = c.workers;
        s.events = &w.events;
        s.eventFd = eventFd_;
        s.stopFd = stopFd_;
        s.stopping = &stopping_;
        s.cpu = c.pin && !cpus.empty() ? cpus[i % cpus.size()] : -1;
        s.keepaliveNs = i == 0 ? std::uint64_t(c.keepaliveSeconds) * 1000000000ull : 0;
        w.worker = std::make_unique<Worker>(s);
        if (int rc = w.worker->init(); rc < 0)
            return fail(rc, "worker");
    }
    for (auto &w : workers_)
        w->thread = std::thread([worker = w->worker.get()] { worker->run(); });
    running_ = true;
    return 0;
}

void Engine::stop()
{
    if (!running_)
        return;
    running_ = false;
    stopping_.store(true, std::memory_order_relaxed);
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(stopFd_, &one, sizeof(one));
    for (auto &w : workers_)
        if (w->thread.joinable())
            w->thread.join();
}

std::uint64_t Engine::now() { return forwardNow(); }

void Engine::publish(std::unique_ptr<const PeerTable> table) { peers_->publish(std::move(table)); }

void Engine::retire(std::unique_ptr<Session> session) { reclaimer_->retire(std::move(session)); }

void Engine::retireKeys(KeySlots::Retired retired)
{
    for (auto &rx : retired.rx)
        reclaimer_->retire(std::move(rx));
    reclaimer_->retire(std::move(retired.tx));
}

std::size_t Engine::reclaim() { return reclaimer_->reclaim(); }

std::size_t Engine::drainEvents(std::vector<EngineEvent> &out)
{
    if (eventFd_ >= 0) {
        std::uint64_t value;
        [[maybe_unused]] ssize_t n = ::read(eventFd_, &value, sizeof(value));
    }
    std::size_t before = out.size();
    EngineEvent e;
    for (auto &w : workers_)
        while (w->events.pop(e))
            out.push_back(e);
    return out.size() - before;
}

std::uint64_t Engine::eventsDropped() const
{
    std::uint64_t n = 0;
    for (const auto &w : workers_)
        if (w->worker)
            n += w->worker->eventsDropped();
    return n;
}

CounterTotals Engine::totals() const
{
    return sumCounters(std::span<const WorkerCounters>(counters_.get(), peerCounters_.size()));
}

PeerTotals Engine::peerTotals(std::uint32_t slot) const
{
    PeerTotals t;
    if (slot >= config_.maxPeers)
        return t;
    for (const PeerCounters *pc : peerCounters_) {
        t.rxPackets += pc[slot].rxPackets.load(std::memory_order_relaxed);
        t.rxBytes += pc[slot].rxBytes.load(std::memory_order_relaxed);
        t.txPackets += pc[slot].txPackets.load(std::memory_order_relaxed);
        t.txBytes += pc[slot].txBytes.load(std::memory_order_relaxed);
        for (std::size_t i = 0; i < dropReasonCount; ++i)
            t.drops[i] += pc[slot].drops[i].load(std::memory_order_relaxed);
    }
    return t;
}

std::vector<double> Engine::ringOccupancy() const
{
    std::vector<double> out;
    for (const auto &w : workers_) {
        if (!w->mesh)
            continue;
        out.push_back(w->mesh->stats().rxRatio());
        out.push_back(w->mesh->stats().txRatio());
        out.push_back(w->events.occupancyRatio());
    }
    return out;
}

std::vector<std::string> Engine::ringNames() const
{
    std::vector<std::string> out;
    for (std::size_t i = 0; i < workers_.size(); ++i) {
        if (!workers_[i]->mesh)
            continue;
        std::string w = "w" + std::to_string(i) + "/";
        out.push_back(w + "mesh_rx");
        out.push_back(w + "mesh_tx");
        out.push_back(w + "events");
    }
    return out;
}

std::uint64_t Engine::meshKernelDrops()
{
    std::uint64_t n = 0;
    for (auto &w : workers_)
        if (w->ring)
            n += w->ring->kernelDrops();
    return n;
}

} // namespace meshd::forward
