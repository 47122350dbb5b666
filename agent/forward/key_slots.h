// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include "aead.h"
#include "replay_window.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace meshd::forward {

// One Aead per worker for one key: Aead objects are single-threaded (OpenSSL
// contexts), and every worker may send or receive for any session.
class WorkerAeads {
public:
    // 0, -EINVAL (no workers), or makeAead's error.
    int init(Cipher cipher, Library library, const std::uint8_t *key, unsigned workers);
    Aead *forWorker(unsigned worker) const noexcept
    {
        return worker < aeads_.size() ? aeads_[worker].get() : nullptr;
    }
    unsigned workers() const { return unsigned(aeads_.size()); }

private:
    std::vector<std::unique_ptr<Aead>> aeads_;
};

// The receive key of one key phase and the replay window of its counters
// (counters start again at 0 with each key).
//   aeads: written before publication, then read-only.
//   replay: updated by every worker that receives for the session (lock-free).
//   expiresAt: written by the control plane, read by workers.
class RxKey {
public:
    // nullptr and *error set on failure.
    static std::unique_ptr<RxKey> create(Cipher cipher, Library library, const std::uint8_t *key,
                                         unsigned workers, int *error = nullptr);

    Aead *aead(unsigned worker) const noexcept { return aeads_.forWorker(worker); }
    ReplayWindow &replay() noexcept { return replay_; }
    // Whether it may still open packets at `now` (the caller's clock, any unit).
    bool usableAt(std::uint64_t now) const noexcept
    {
        return now < expiresAt_.load(std::memory_order_acquire);
    }
    std::uint64_t expiresAt() const noexcept { return expiresAt_.load(std::memory_order_acquire); }

private:
    friend class KeySlots;
    RxKey() = default;

    WorkerAeads aeads_;
    ReplayWindow replay_;
    std::atomic<std::uint64_t> expiresAt_{UINT64_MAX}; // UINT64_MAX: no expiry
};

// The send key: its phase and the next counter, shared by every worker that
// sends for the session.
class TxKey {
public:
    static std::unique_ptr<TxKey> create(Cipher cipher, Library library, const std::uint8_t *key,
                                         unsigned workers, int *error = nullptr);

    Aead *aead(unsigned worker) const noexcept { return aeads_.forWorker(worker); }
    std::uint8_t phase() const noexcept { return phase_; }
    // Takes n consecutive counters, the first in `first`; false once the key
    // is used up (rejectAfterMessages): the session must rekey.
    bool reserve(std::uint32_t n, std::uint64_t &first) noexcept
    {
        first = next_.fetch_add(n, std::memory_order_relaxed);
        return first + n <= rejectAfterMessages && first < rejectAfterMessages;
    }
    std::uint64_t sent() const noexcept { return next_.load(std::memory_order_relaxed); }

private:
    friend class KeySlots;
    TxKey() = default;

    WorkerAeads aeads_;
    std::uint8_t phase_ = 0; // set by KeySlots before publication
    std::atomic<std::uint64_t> next_{0};
};

// The keys of one session: a receive key per key phase (the current one and
// the previous one during its grace period) and the send key.
//
// The control plane changes the slots (rekey, clear) with atomic pointer
// stores; workers read them with openFor()/sealKey() and never block. Keys a
// change displaces come back as Retired, to be freed through the Reclaimer
// once no worker can still hold them. Time is the caller's (no clock is read
// here): pass the same clock to rekey() and openFor().
class KeySlots {
public:
    // What a change took out of the slots.
    struct Retired {
        std::unique_ptr<RxKey> rx[2];
        std::unique_ptr<TxKey> tx;
    };

    KeySlots() = default;
    // Frees the keys in the slots: only once no worker can reach this object.
    ~KeySlots();
    KeySlots(const KeySlots &) = delete;
    KeySlots &operator=(const KeySlots &) = delete;

    // Control plane. Installs the keys of `epoch` in phase epoch % 2: the
    // receive key in that slot, the send key with that phase. The receive key
    // of the other phase stays usable while now < previousExpiresAt.
    // Both ends count epochs from the handshake, so their phases agree.
    // 0, or -EINVAL for a missing key, or an epoch whose phase is the current
    // one (a rekey must switch phase).
    int rekey(std::uint64_t epoch, std::unique_ptr<RxKey> rx, std::unique_ptr<TxKey> tx,
              std::uint64_t previousExpiresAt, Retired &retired);
    // Control plane: the two halves of rekey(), for a handshake in three
    // messages where each side may send with new keys only once the other
    // can open them. installRx() puts the receive key of `epoch` in phase
    // epoch % 2 (the other phase's key stays usable while now <
    // previousExpiresAt); installTx() then switches the send key to it.
    // 0, or -EINVAL for a missing key, or (installTx) the phase in use.
    int installRx(std::uint64_t epoch, std::unique_ptr<RxKey> rx, std::uint64_t previousExpiresAt,
                  Retired &retired);
    int installTx(std::uint64_t epoch, std::unique_ptr<TxKey> tx, Retired &retired);
    // Control plane: empties both slots and the send key (session down).
    void clear(Retired &retired);

    // Workers: the receive key for a packet's key phase, or nullptr when that
    // slot is empty or its grace period is over.
    RxKey *openFor(unsigned phase, std::uint64_t now) const noexcept
    {
        RxKey *key = rx_[phase & 1].load(std::memory_order_acquire);
        return key && key->usableAt(now) ? key : nullptr;
    }
    // Workers: the key to send with, or nullptr before the first rekey().
    TxKey *sealKey() const noexcept { return tx_.load(std::memory_order_acquire); }

    // Control plane.
    bool empty() const { return sealKey() == nullptr; }

private:
    std::atomic<RxKey *> rx_[2] = {nullptr, nullptr};
    std::atomic<TxKey *> tx_{nullptr};
};

} // namespace meshd::forward
