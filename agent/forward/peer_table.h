// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include "reclaimer.h"
#include "session_table.h"

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <sys/socket.h>
#include <vector>

namespace meshd::forward {

using MacAddress = std::array<std::uint8_t, 6>;

// One peer as the workers see it. Plain data, copied into the table.
struct Peer {
    // Keys and receiver indices; owned by the control plane, which hands it
    // to Engine::retire() once a table without it has been published.
    Session *session = nullptr;
    // The peer's mesh-side MAC (announced in the key exchange): frames to it
    // go to this peer only. Must be unicast and not all zero.
    MacAddress mac{};
    // Where its datagrams go: AF_INET (len sizeof(sockaddr_in)) or AF_INET6
    // (sizeof(sockaddr_in6)), of the listen socket's family.
    sockaddr_storage endpoint{};
    socklen_t endpointLen = 0;
    // Its per-peer counter slot, 0..maxPeers-1; kept by the control plane
    // across republications so that the counters keep counting.
    std::uint32_t slot = 0;
};

// An immutable set of peers with two lookups, built by the control plane and
// swapped whole (PeerDirectory). Both lookups are open addressing with
// linear probing in power-of-two arrays at most half full, so a miss (any
// datagram from anyone, any unknown MAC) stops after a short probe.
class PeerTable {
public:
    // 0; -EINVAL for a null session, a multicast or zero MAC, an endpoint that
    // is not a whole sockaddr_in/sockaddr_in6, a slot >= maxPeers or more
    // peers than maxPeers; -EEXIST for two peers with one receiver index
    // (session->localIndex), one MAC or one slot. `out` is set only on success.
    static int build(std::span<const Peer> peers, std::uint32_t maxPeers,
                     std::unique_ptr<const PeerTable> &out);

    // By the receiver index in a datagram's header (our localIndex).
    const Peer *byIndex(std::uint32_t receiverIndex) const noexcept
    {
        std::size_t i = indexSlot(receiverIndex);
        for (;;) {
            std::uint32_t at = byIndex_[i];
            if (at == empty)
                return nullptr;
            if (peers_[at].session->localIndex == receiverIndex)
                return &peers_[at];
            i = (i + 1) & mask_;
        }
    }
    // By a frame's destination MAC (6 bytes at mac).
    const Peer *byMac(const std::uint8_t *mac) const noexcept
    {
        std::uint64_t key = macKey(mac);
        std::size_t i = macSlot(key);
        for (;;) {
            std::uint32_t at = byMac_[i];
            if (at == empty)
                return nullptr;
            if (macKey(peers_[at].mac.data()) == key)
                return &peers_[at];
            i = (i + 1) & mask_;
        }
    }
    // Every peer, for flooding broadcast, multicast and unknown unicast.
    std::span<const Peer> peers() const noexcept { return peers_; }
    std::size_t size() const noexcept { return peers_.size(); }

    static std::uint64_t macKey(const std::uint8_t *mac) noexcept
    {
        std::uint64_t k = 0;
        for (int i = 0; i < 6; ++i)
            k = k << 8 | mac[i];
        return k;
    }

private:
    static constexpr std::uint32_t empty = UINT32_MAX;
    PeerTable() = default;
    std::size_t indexSlot(std::uint32_t index) const noexcept
    {
        return std::size_t((index * 0x9E3779B9u) >> shift_) & mask_;
    }
    std::size_t macSlot(std::uint64_t key) const noexcept
    {
        return std::size_t((key * 0x9E3779B97F4A7C15ull) >> (32 + shift_)) & mask_;
    }

    std::vector<Peer> peers_;
    std::vector<std::uint32_t> byIndex_; // positions in peers_, or empty
    std::vector<std::uint32_t> byMac_;
    std::size_t mask_ = 0;
    unsigned shift_ = 0;
};

// Where the control plane publishes the current PeerTable to the workers,
// like SessionDirectory: workers load() once per batch and pass a quiescent
// point after it; publish() retires the previous table to the Reclaimer.
class PeerDirectory {
public:
    explicit PeerDirectory(Reclaimer &reclaimer) : reclaimer_(reclaimer) {}
    // Frees the current table: only once the workers have stopped.
    ~PeerDirectory();
    PeerDirectory(const PeerDirectory &) = delete;
    PeerDirectory &operator=(const PeerDirectory &) = delete;

    // Workers; nullptr before the first publish().
    const PeerTable *load() const noexcept { return current_.load(std::memory_order_seq_cst); }
    // Control plane.
    void publish(std::unique_ptr<const PeerTable> table);

private:
    Reclaimer &reclaimer_;
    std::atomic<const PeerTable *> current_{nullptr};
};

} // namespace meshd::forward
