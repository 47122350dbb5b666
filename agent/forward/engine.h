// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include "counters.h"
#include "engine_event.h"
#include "peer_table.h"
#include "session_table.h"

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <sys/socket.h>
#include <vector>

namespace meshd::forward {

// How the mesh side reaches the kernel.
enum class MeshIo : std::uint8_t {
    // A veth pair: `interface` for batman-adv/the operator, its far end
    // (farEndName) driven by AF_PACKET TPACKET_V2 RX + TX rings (a status
    // word per frame, so a lone frame is not held back). tunnel.io auto's
    // fallback: it measured slower than the TAP here (BENCHMARKS.md).
    PacketRing,
    // A multi-queue TAP `interface`, one queue per worker, one syscall per
    // frame. tunnel.io auto's first choice: the faster of the two here.
    Tap,
};
const char *meshIoName(MeshIo io); // "packet-ring", "tap"
// The inverse of meshIoName; false for an unknown name.
bool parseMeshIo(const char *name, MeshIo &out);

// The far end of the PacketRing veth pair: the interface name's first 12
// bytes + "_dp" ("mesh-vpn" -> "mesh-vpn_dp"). Two interface names that share
// their first 12 bytes collide; start() then fails with -EEXIST.
std::string farEndName(const std::string &interface);

struct EngineConfig {
    std::string interface = "mesh-vpn"; // the mesh-side interface to create (at most 15 bytes)
    MeshIo io = MeshIo::PacketRing;
    unsigned workers = 1; // 1..16
    // The UDP address every worker's socket binds (SO_REUSEPORT): AF_INET or
    // AF_INET6 (IPv6 only, no v4-mapped); port 0 picks one (boundPort()).
    sockaddr_storage listen{};
    socklen_t listenLen = 0;
    std::uint32_t mtu = 1280;       // of the interface; the pool's data room follows (mtu + 14 + 4)
    std::uint32_t poolFrames = 4096; // per worker
    std::uint32_t maxPeers = 1024;   // peer counter slots; a PeerTable holds at most this many
    bool pin = true;                 // worker i on CPU i % (CPUs this process may use)
    std::uint32_t keepaliveSeconds = 10; // worker 0 sends one to peers with no tx for this long; 0: never
    // The interface's MAC; all zero: the kernel picks a random one.
    std::array<std::uint8_t, 6> mac{};
    // UDP GSO (UDP_SEGMENT) for runs of equal-size datagrams to one peer.
    bool udpGso = true;
};

// The tunnel's packet path: the mesh-side interface, one UDP socket and one
// worker thread per worker, and what the control plane publishes to them.
// All members are for the control plane (one thread), except where said.
class Engine {
public:
    explicit Engine(EngineConfig config);
    // stop(), then removes the interface(s) start() created.
    ~Engine();
    Engine(const Engine &) = delete;
    Engine &operator=(const Engine &) = delete;

    // Creates the interface (up, with the MTU and MAC of the config) and the
    // sockets, then starts the workers. 0 or -errno; error() says what
    // failed. -EEXIST: an interface with that name (or far-end name) exists;
    // -EINVAL: a bad config; -EALREADY: started before.
    int start();
    // Stops and joins the workers; the interface stays until destruction.
    // Idempotent.
    void stop();
    const std::string &error() const { return error_; }
    const EngineConfig &config() const { return config_; }

    // Of `interface`; 0 before start().
    int ifindex() const { return ifindex_; }
    // Of `interface`: the MAC peers must send to (announce it in the key exchange).
    std::array<std::uint8_t, 6> mac() const { return mac_; }
    // The UDP port every worker listens on, host order; 0 before start().
    std::uint16_t boundPort() const { return port_; }

    // The workers' clock (CLOCK_MONOTONIC, ns): what key expiries
    // (KeySlots::rekey's previousExpiresAt) are measured in.
    static std::uint64_t now();

    // Makes `table` the one workers use from their next batch on; the
    // previous table is freed through reclaim(). Build it with this
    // config's maxPeers. Every peer's endpoint must be of the listen family.
    // Allowed before start().
    void publish(std::unique_ptr<const PeerTable> table);
    // Frees `session` once no worker can see it: call after publishing a
    // table without it (same for keys a KeySlots change returned: retireKeys).
    void retire(std::unique_ptr<Session> session);
    void retireKeys(KeySlots::Retired retired);
    // Frees what no worker can still hold; e.g. once a second. Returns how many.
    std::size_t reclaim();

    // Readable (eventfd) when workers have queued events; drainEvents()
    // resets it.
    int eventFd() const { return eventFd_; }
    // Appends queued events to out; returns how many.
    std::size_t drainEvents(std::vector<EngineEvent> &out);
    // Events lost because a worker's event ring was full.
    std::uint64_t eventsDropped() const;

    // Any thread: the workers' counters summed.
    CounterTotals totals() const;
    // Any thread: one peer slot's traffic summed over workers (zero for a
    // slot >= maxPeers).
    PeerTotals peerTotals(std::uint32_t slot) const;
    // Any thread: how full each ring is, 0..1, in the order ringNames() gives
    // (per worker: mesh rx ring, mesh tx ring, event ring; a TAP has no
    // rings of its own to look at and reports 0). For
    // meshd_tunnel_ring_occupancy_ratio.
    std::vector<double> ringOccupancy() const;
    // "w0/mesh_rx", "w0/mesh_tx", "w0/events", "w1/mesh_rx", ...
    std::vector<std::string> ringNames() const;
    // Frames the kernel dropped before a worker's mesh-side RX ring
    // (PacketRing only; the TAP's own drops are in its interface statistics).
    std::uint64_t meshKernelDrops();
    std::uint32_t workerCount() const { return config_.workers; }

private:
    struct WorkerState;
    int fail(int rc, std::string what);
    void removeInterfaces();

    EngineConfig config_;
    std::string error_;
    int ifindex_ = 0;
    bool createdVeth_ = false;
    std::array<std::uint8_t, 6> mac_{};
    std::uint16_t port_ = 0;
    int eventFd_ = -1;
    int stopFd_ = -1;
    bool started_ = false; // start() was called
    bool running_ = false; // workers are running
    std::atomic<bool> stopping_{false};
    std::unique_ptr<Reclaimer> reclaimer_;
    std::unique_ptr<PeerDirectory> peers_;
    std::unique_ptr<WorkerCounters[]> counters_; // per worker
    std::vector<std::unique_ptr<PeerCounters[]>> peerCounterStore_; // per worker, maxPeers each
    std::vector<PeerCounters *> peerCounters_; // the same, as worker 0's keepalives read them
    std::vector<std::unique_ptr<WorkerState>> workers_;
};

} // namespace meshd::forward
