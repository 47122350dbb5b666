// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include "cache_line.h"
#include "replay_window.h"
#include "wire.h"

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

namespace meshd::forward {

// Why a worker dropped a frame or datagram; the names are the `reason`
// label of meshd_tunnel_drops_total.
enum class DropReason : std::uint8_t {
    Short,           // datagram shorter than header + tag
    BadHeader,       // unknown type, flags or reserved bits, keepalive with a payload
    UnknownSession,  // no session has that receiver index
    NoKey,           // the session has no (unexpired) key for that phase, or no send key
    ReplayTooOld,    // counter behind the replay window
    ReplayDuplicate, // counter seen before
    CounterLimit,    // counter at the hard limit (receive), or send key used up
    BadTag,          // authentication failed
    RingFull,        // backpressure: the next stage's ring was full
    PoolEmpty,       // no free frame
    TooBig,          // frame larger than the data room
    SendFailed,      // the kernel refused a datagram (no route, wrong address family)
    Runt,            // an authenticated data packet whose frame is shorter than an Ethernet header
    Count
};
inline constexpr std::size_t dropReasonCount = std::size_t(DropReason::Count);

inline const char *dropReasonName(DropReason reason)
{
    static constexpr const char *names[dropReasonCount] = {
        "short",         "bad_header", "unknown_session", "no_key",    "replay_too_old",
        "replay_duplicate", "counter_limit", "bad_tag",   "ring_full", "pool_empty",
        "too_big",       "send_failed", "runt",
    };
    return std::size_t(reason) < dropReasonCount ? names[std::size_t(reason)] : "unknown";
}

inline DropReason dropReasonFor(wire::ParseError error)
{
    return error == wire::ParseError::Short ? DropReason::Short : DropReason::BadHeader;
}

// For a verdict other than Ok.
inline DropReason dropReasonFor(ReplayVerdict verdict)
{
    switch (verdict) {
    case ReplayVerdict::TooOld:
        return DropReason::ReplayTooOld;
    case ReplayVerdict::Limit:
        return DropReason::CounterLimit;
    default:
        return DropReason::ReplayDuplicate;
    }
}

// One worker's counters, on cache lines of their own. Written by that
// worker only (relaxed load + store: no read-modify-write is needed with a
// single writer), read by the control plane at any time.
struct alignas(cacheLineSize) WorkerCounters {
    std::atomic<std::uint64_t> rxPackets{0}; // data packets accepted from UDP
    std::atomic<std::uint64_t> rxBytes{0};   // their payload bytes
    std::atomic<std::uint64_t> txPackets{0}; // data packets sealed for UDP
    std::atomic<std::uint64_t> txBytes{0};
    std::atomic<std::uint64_t> rxKeepalives{0};
    std::atomic<std::uint64_t> txKeepalives{0};
    std::array<std::atomic<std::uint64_t>, dropReasonCount> drops{};

    static void add(std::atomic<std::uint64_t> &counter, std::uint64_t n = 1) noexcept
    {
        counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    void drop(DropReason reason, std::uint64_t n = 1) noexcept
    {
        add(drops[std::size_t(reason)], n);
    }
};

// One peer slot's traffic through one worker (same single-writer rule).
struct PeerCounters {
    std::atomic<std::uint64_t> rxPackets{0}; // data packets accepted from the peer
    std::atomic<std::uint64_t> rxBytes{0};   // their inner frame bytes
    std::atomic<std::uint64_t> txPackets{0}; // data packets sealed for the peer
    std::atomic<std::uint64_t> txBytes{0};
    // Datagrams dropped after their receiver index named this peer's session
    // (no key, replay, tag, runt), by reason.
    std::array<std::atomic<std::uint64_t>, dropReasonCount> drops{};
};

// A peer slot's counters summed over workers.
struct PeerTotals {
    std::uint64_t rxPackets = 0, rxBytes = 0, txPackets = 0, txBytes = 0;
    std::array<std::uint64_t, dropReasonCount> drops{};
};

// A plain snapshot, summed over workers by the control plane.
struct CounterTotals {
    std::uint64_t rxPackets = 0, rxBytes = 0, txPackets = 0, txBytes = 0;
    std::uint64_t rxKeepalives = 0, txKeepalives = 0;
    std::array<std::uint64_t, dropReasonCount> drops{};

    std::uint64_t dropped(DropReason reason) const { return drops[std::size_t(reason)]; }
};

inline CounterTotals sumCounters(std::span<const WorkerCounters> workers)
{
    CounterTotals t;
    auto get = [](const std::atomic<std::uint64_t> &c) { return c.load(std::memory_order_relaxed); };
    for (const WorkerCounters &w : workers) {
        t.rxPackets += get(w.rxPackets);
        t.rxBytes += get(w.rxBytes);
        t.txPackets += get(w.txPackets);
        t.txBytes += get(w.txBytes);
        t.rxKeepalives += get(w.rxKeepalives);
        t.txKeepalives += get(w.txKeepalives);
        for (std::size_t i = 0; i < dropReasonCount; ++i)
            t.drops[i] += get(w.drops[i]);
    }
    return t;
}

} // namespace meshd::forward
