// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include "cache_line.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <memory>
#include <type_traits>

namespace meshd::forward {

// A bounded lock-free ring between exactly one producer thread and one
// consumer thread, for frame indices. The capacity is a power of two fixed at
// construction; a full ring makes push return less than asked
// (backpressure), it never grows.
//
// Indices run freely, wrap around as size_t (the differences stay right since
// the capacity is a power of two) and are masked on access; size_t rather than
// a 64-bit type so that they are lock-free atomics on 32-bit targets too. Each side keeps its own index and a cached copy of the other's on
// its own cache line, and reads the other side's index only when the cached
// copy says the ring looks full (producer) or empty (consumer). The release
// store of an index publishes the slots written before it; the acquire load
// on the other side makes them visible.
template <typename T> class SpscRing {
    static_assert(std::is_trivially_copyable_v<T>, "slots are copied as plain values");

public:
    // capacity is rounded up to a power of two, at least 2.
    explicit SpscRing(std::size_t capacity)
        : mask_(std::bit_ceil(std::max<std::size_t>(capacity, 2)) - 1),
          slots_(std::make_unique<T[]>(mask_ + 1))
    {
    }
    SpscRing(const SpscRing &) = delete;
    SpscRing &operator=(const SpscRing &) = delete;

    std::size_t capacity() const { return mask_ + 1; }

    // Producer: appends up to n items, returns how many fit.
    std::size_t pushBurst(const T *items, std::size_t n) noexcept
    {
        std::size_t tail = producer_.tail.load(std::memory_order_relaxed);
        std::size_t room = capacity() - (tail - producer_.headCache);
        if (room < n) {
            producer_.headCache = consumer_.head.load(std::memory_order_acquire);
            room = capacity() - (tail - producer_.headCache);
        }
        n = std::min(n, room);
        for (std::size_t i = 0; i < n; ++i)
            slots_[(tail + i) & mask_] = items[i];
        producer_.tail.store(tail + n, std::memory_order_release);
        return n;
    }
    bool push(const T &item) noexcept { return pushBurst(&item, 1) == 1; }

    // Consumer: takes up to n items into out, returns how many there were.
    std::size_t popBurst(T *out, std::size_t n) noexcept
    {
        std::size_t head = consumer_.head.load(std::memory_order_relaxed);
        std::size_t ready = (consumer_.tailCache - head);
        if (ready < n) {
            consumer_.tailCache = producer_.tail.load(std::memory_order_acquire);
            ready = (consumer_.tailCache - head);
        }
        n = std::min(n, ready);
        for (std::size_t i = 0; i < n; ++i)
            out[i] = slots_[(head + i) & mask_];
        consumer_.head.store(head + n, std::memory_order_release);
        return n;
    }
    bool pop(T &out) noexcept { return popBurst(&out, 1) == 1; }

    // Items in the ring, from any thread (a snapshot, for metrics).
    std::size_t occupancy() const noexcept
    {
        // Head first: it never passes the tail read after it.
        std::size_t head = consumer_.head.load(std::memory_order_acquire);
        std::size_t tail = producer_.tail.load(std::memory_order_acquire);
        return std::min(tail - head, capacity());
    }
    double occupancyRatio() const noexcept { return double(occupancy()) / double(capacity()); }

private:
    struct alignas(cacheLineSize) Producer {
        std::atomic<std::size_t> tail{0};
        std::size_t headCache = 0;
    };
    struct alignas(cacheLineSize) Consumer {
        std::atomic<std::size_t> head{0};
        std::size_t tailCache = 0;
    };

    // Read by both sides, written by none after construction.
    alignas(cacheLineSize) const std::size_t mask_;
    const std::unique_ptr<T[]> slots_;
    Producer producer_;
    Consumer consumer_;
};

} // namespace meshd::forward
