// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include "counters.h"
#include "engine_event.h"
#include "frame_pool.h"
#include "mesh_port.h"
#include "peer_table.h"
#include "reclaimer.h"
#include "spsc_ring.h"
#include "udp_port.h"
#include "wire.h"

#include <atomic>
#include <cstdint>
#include <memory>

namespace meshd::forward {

// The clock workers compare key expiries with (KeySlots::rekey's
// previousExpiresAt, RxKey::usableAt): CLOCK_MONOTONIC in nanoseconds.
std::uint64_t forwardNow() noexcept;

// Frames per mesh-side batch, and the most datagrams a worker seals before
// it sends them (a flood makes one datagram per peer).
inline constexpr unsigned meshBatch = 64;
inline constexpr unsigned txStage = 256;

// --- The packet path's pieces, without sockets --------------------------

// Broadcast and multicast destinations (the group bit) go to every peer.
inline bool isGroupMac(const std::uint8_t *mac) noexcept { return mac[0] & 1; }

// Writes the header for `session` (its peer's receiver index, the key's
// phase, `counter`) in the headroom in front of the frame at v, seals the
// frame in place and appends the tag: v becomes the whole datagram. False
// (v unchanged or half-built, to be dropped) without headroom, tailroom or
// an Aead for this worker.
bool sealDatagram(FrameView &v, wire::PacketType type, const Session &session, const TxKey &key,
                  std::uint64_t counter, unsigned worker) noexcept;

enum class RxVerdict : std::uint8_t { Data, Keepalive, Drop };
struct RxResult {
    RxVerdict verdict = RxVerdict::Drop;
    DropReason reason = DropReason::Short; // for Drop
    const Peer *peer = nullptr; // for Data and Keepalive, and drops once the session was found
};
// Checks one datagram (v: the whole datagram) in the order the tunnel
// requires: header, session, key for the phase, replay check, tag (open in
// place), replay update. On Data, v is the inner frame.
RxResult openDatagram(FrameView &v, const PeerTable *table, unsigned worker,
                      std::uint64_t now) noexcept;

// --- The worker ---------------------------------------------------------

// Everything one worker uses; all owned by the Engine, which outlives it.
struct WorkerSetup {
    unsigned index = 0;
    MeshPort *mesh = nullptr;
    UdpPort *udp = nullptr;
    FramePool *pool = nullptr;
    const PeerDirectory *peers = nullptr;
    Reclaimer *reclaimer = nullptr;
    WorkerCounters *counters = nullptr;
    PeerCounters *peerCounters = nullptr; // maxPeers slots, this worker's
    std::uint32_t maxPeers = 0;
    // Worker 0's keepalives look at every worker's tx counters of a slot.
    PeerCounters *const *allPeerCounters = nullptr;
    unsigned workers = 1;
    SpscRing<EngineEvent> *events = nullptr; // this worker -> control plane
    int eventFd = -1;                        // written once per batch that queued an event
    int stopFd = -1;                         // readable: stop
    const std::atomic<bool> *stopping = nullptr;
    int cpu = -1;                  // pin to this CPU, -1: do not
    std::uint64_t keepaliveNs = 0; // a keepalive to peers with no tx for this long; 0: none
};

// The run-to-completion loop of one worker thread: waits in epoll on its
// mesh port, its UDP socket and the stop fd; on each wake drains both
// directions in batches until neither has anything left.
class Worker {
public:
    explicit Worker(const WorkerSetup &setup) : s_(setup) {}
    ~Worker();
    Worker(const Worker &) = delete;
    Worker &operator=(const Worker &) = delete;

    // The epoll set and the per-slot state. 0 or -errno.
    int init();
    // Until the stop fd is readable; the thread's body.
    void run();

    // One batch of each direction (run() calls them; public for tests).
    // Each returns how many frames or datagrams it took in.
    unsigned meshToUdp(std::uint64_t now) noexcept;
    unsigned udpToMesh(std::uint64_t now) noexcept;
    // Worker 0: keepalives to every peer with no tx for keepaliveNs.
    void keepalives(std::uint64_t now) noexcept;

    // Events that found the ring full (any thread).
    std::uint64_t eventsDropped() const { return eventsDropped_.load(std::memory_order_relaxed); }

private:
    struct Staged {
        std::uint32_t frame;
        const Peer *peer;
    };
    void stage(std::uint32_t frame, const Peer *peer) noexcept;
    void sealAndSend(std::uint64_t now) noexcept;
    void flush(unsigned n) noexcept;
    bool waitWritable() noexcept;
    void report(EngineEvent::Kind kind, const Peer &peer, const Endpoint *from,
                std::uint64_t now) noexcept;
    void signalEvents() noexcept;

    WorkerSetup s_;
    int epoll_ = -1;
    Staged staged_[txStage];
    unsigned stagedCount_ = 0;
    std::uint64_t counters_[txStage];
    // The send key each staged frame's counter was reserved from: it seals
    // with that key even if the control plane switched keys meanwhile (a
    // counter of one key must never be used with another: nonce reuse).
    TxKey *txKeys_[txStage];
    Outgoing out_[txStage];
    bool eventQueued_ = false;
    std::atomic<std::uint64_t> eventsDropped_{0};
    // Per slot: when this worker last reported an event for it (rate limit).
    std::unique_ptr<std::uint64_t[]> endpointReported_;
    std::unique_ptr<std::uint64_t[]> exhaustedReported_;
    // Worker 0, per slot: the tx packets last seen and when they changed.
    std::unique_ptr<std::uint64_t[]> lastTx_;
    std::unique_ptr<std::uint64_t[]> lastTxAt_;
};

} // namespace meshd::forward
