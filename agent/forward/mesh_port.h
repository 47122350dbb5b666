// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include "frame_pool.h"

#include <atomic>
#include <cstdint>
#include <utility>

namespace meshd::forward {

// How full a port's rings are, as the worker last saw them: a snapshot for
// metrics, written by the worker (relaxed), read by any thread.
struct MeshPortStats {
    std::atomic<std::uint32_t> rxUsed{0}; // RX ring slots (blocks) held by the worker or full
    std::atomic<std::uint32_t> rxSize{0};
    std::atomic<std::uint32_t> txUsed{0}; // TX ring slots not yet given back by the kernel
    std::atomic<std::uint32_t> txSize{0};
    std::atomic<std::uint64_t> kernelDrops{0}; // frames the kernel dropped before the ring

    static double ratio(const std::atomic<std::uint32_t> &used, const std::atomic<std::uint32_t> &size)
    {
        std::uint32_t s = size.load(std::memory_order_relaxed);
        return s ? double(used.load(std::memory_order_relaxed)) / double(s) : 0.0;
    }
    double rxRatio() const { return ratio(rxUsed, rxSize); }
    double txRatio() const { return ratio(txUsed, txSize); }
};

// One worker's queue on the mesh side: where the L2 frames batman-adv (or any
// L2 user of the mesh-side interface) sends come out, and where frames from
// peers go back in. One thread (the worker) calls everything but stats().
class MeshPort {
public:
    virtual ~MeshPort() = default;

    // The fd to poll for readability (frames waiting in receive()).
    virtual int fd() const = 0;

    // Takes up to max frames from the kernel without blocking, each an L2
    // frame (destination MAC first) at the pool frame's headroom; returns how
    // many it wrote to frames[]. Fewer than max: nothing more is waiting, or
    // the pool is empty (counted in poolEmpty()), or a frame larger than the
    // data room was dropped (counted in tooBig()). The caller owns the frames.
    virtual unsigned receive(FramePool &pool, std::uint32_t *frames, unsigned max) noexcept = 0;

    // Hands frames (L2 frames at each view's offset) to the kernel; returns
    // how many it took. The frames stay the caller's: it releases all n
    // afterwards (the data has been copied or written by then). The frames
    // not taken (n - return) found no room: the caller counts them as
    // RingFull.
    virtual unsigned transmit(FramePool &pool, const std::uint32_t *frames, unsigned n) noexcept = 0;

    // Drops receive() could not avoid, reset by reading (worker only).
    std::uint32_t takePoolEmpty() noexcept { return std::exchange(poolEmpty_, 0u); }
    std::uint32_t takeTooBig() noexcept { return std::exchange(tooBig_, 0u); }

    const MeshPortStats &stats() const { return stats_; }

protected:
    MeshPortStats stats_;
    std::uint32_t poolEmpty_ = 0;
    std::uint32_t tooBig_ = 0;
};

} // namespace meshd::forward
