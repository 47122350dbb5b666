// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include "key_slots.h"
#include "reclaimer.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace meshd::forward {

// One tunnel session with one peer. Which thread touches what:
//   localIndex, peerIndex: set by the control plane before the session is
//     first published, read-only afterwards.
//   keys: the slot pointers are swapped by the control plane (KeySlots);
//     workers read them, update the receive keys' replay windows (lock-free,
//     any worker may receive for any session) and take send counters
//     (atomic). Per-worker counters are not here: they are per worker.
// Sessions are owned by the control plane and freed through the Reclaimer
// after a table without them has been published.
struct Session {
    Session(std::uint32_t local, std::uint32_t peer) : localIndex(local), peerIndex(peer) {}

    const std::uint32_t localIndex; // the receiver index peers send to us
    const std::uint32_t peerIndex;  // the receiver index we send to the peer
    KeySlots keys;
};

// An immutable map from the header's receiver index to a session: open
// addressing with linear probing in a power-of-two array at most half full,
// so that a lookup for an unknown index (any datagram from anyone) stops
// after a short probe.
class SessionTable {
public:
    // 0, -EINVAL for a null session, -EEXIST for two sessions with one index.
    static int build(std::span<Session *const> sessions, std::unique_ptr<const SessionTable> &out);

    Session *find(std::uint32_t receiverIndex) const noexcept
    {
        std::size_t i = slotFor(receiverIndex);
        for (;;) {
            const Slot &slot = slots_[i];
            if (!slot.session)
                return nullptr;
            if (slot.index == receiverIndex)
                return slot.session;
            i = (i + 1) & mask_;
        }
    }
    std::size_t size() const { return size_; }

private:
    struct Slot {
        std::uint32_t index = 0;
        Session *session = nullptr;
    };
    SessionTable() = default;
    std::size_t slotFor(std::uint32_t index) const noexcept
    {
        // Fibonacci hashing: the top bits of a multiplication by 2^32 / phi.
        return std::size_t((index * 0x9E3779B9u) >> shift_) & mask_;
    }

    std::vector<Slot> slots_;
    std::size_t mask_ = 0;
    unsigned shift_ = 0;
    std::size_t size_ = 0;
};

// Where the control plane publishes the current table to the workers.
// Workers load() it once per batch and call Reclaimer::quiescent() after
// the batch; the control plane publish()es a new table, which retires the
// previous one to the Reclaimer. Neither ever waits for the other.
class SessionDirectory {
public:
    explicit SessionDirectory(Reclaimer &reclaimer) : reclaimer_(reclaimer) {}
    // Frees the current table: only once the workers have stopped.
    ~SessionDirectory();
    SessionDirectory(const SessionDirectory &) = delete;
    SessionDirectory &operator=(const SessionDirectory &) = delete;

    // Workers. Sequentially consistent, see Reclaimer.
    const SessionTable *load() const noexcept { return current_.load(std::memory_order_seq_cst); }

    // Control plane.
    void publish(std::unique_ptr<const SessionTable> table);

private:
    Reclaimer &reclaimer_;
    std::atomic<const SessionTable *> current_{nullptr};
};

} // namespace meshd::forward
