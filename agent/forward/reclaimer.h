// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include "cache_line.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <type_traits>

namespace meshd::forward {

// Quiescent-state based reclamation: how the control plane frees what it
// unpublished (session tables, sessions, keys) while workers may still be
// reading it, without workers ever taking a lock.
//
// A global epoch counts retirements. Each worker, between batches (when it
// holds no pointer into published state), copies the global epoch into its
// own slot, one cache line per worker. An object retired at epoch e is freed
// once every worker's slot is >= e: each has since started a batch that
// could only see what was published after the object was unpublished.
// A worker about to block marks itself offline, so that an idle worker
// does not hold reclamation up; it comes back with online() before it reads
// published state again. Workers start online at epoch 0 (they hold
// reclamation up until their first quiescent()).
//
// All epoch accesses are sequentially consistent: with the worker's
// seq_cst loads of published pointers this is what makes online() safe.
// They happen once per batch, not per packet.
class Reclaimer {
public:
    explicit Reclaimer(unsigned workers);
    // Frees everything still retired: only once the workers have stopped.
    ~Reclaimer();
    Reclaimer(const Reclaimer &) = delete;
    Reclaimer &operator=(const Reclaimer &) = delete;

    unsigned workers() const { return workers_; }

    // Worker `worker` only.
    void quiescent(unsigned worker) noexcept
    {
        epochs_[worker].epoch.store(global_.load(std::memory_order_seq_cst),
                                    std::memory_order_seq_cst);
    }
    void offline(unsigned worker) noexcept
    {
        epochs_[worker].epoch.store(offlineEpoch, std::memory_order_seq_cst);
    }
    void online(unsigned worker) noexcept { quiescent(worker); }

    // Control plane only (one thread). `object` must already be unreachable
    // for batches that start from now on.
    template <typename T> void retire(std::unique_ptr<T> object)
    {
        if (object)
            retire(const_cast<std::remove_const_t<T> *>(object.release()),
                   [](void *p) { delete static_cast<T *>(p); });
    }
    void retire(void *object, void (*destroy)(void *));
    // Frees every retired object that no worker can still hold; returns how many.
    std::size_t reclaim();
    std::size_t pending() const { return retired_.size(); }

private:
    static constexpr std::uint64_t offlineEpoch = UINT64_MAX;

    struct alignas(cacheLineSize) WorkerEpoch {
        std::atomic<std::uint64_t> epoch{0};
    };
    struct Retired {
        std::uint64_t epoch;
        void *object;
        void (*destroy)(void *);
    };

    unsigned workers_;
    std::unique_ptr<WorkerEpoch[]> epochs_;
    alignas(cacheLineSize) std::atomic<std::uint64_t> global_{0};
    std::deque<Retired> retired_; // in epoch order
};

} // namespace meshd::forward
