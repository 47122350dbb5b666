// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <atomic>
#include <cstdint>

namespace meshd::forward {

// A sender must rekey long before this; a receiver rejects any counter at
// or above it. 2^60 - 1 leaves the nonce's top bits unused and keeps the
// replay window's block arithmetic far from overflow; at 10 Mpps it is
// 3,600 years away, so only a broken or hostile sender gets near it.
inline constexpr std::uint64_t rejectAfterMessages = (std::uint64_t(1) << 60) - 1;

enum class ReplayVerdict : std::uint8_t {
    Ok,
    TooOld,    // behind the window
    Duplicate, // seen before
    Limit,     // at or above rejectAfterMessages
};
const char *replayVerdictName(ReplayVerdict verdict);

// The RFC 6479 anti-replay window: a ring of blocks, each a bitmap of
// consecutive counters, so that sliding forward resets whole blocks instead
// of shifting bits. Window: every counter less than windowSize behind the
// highest accepted one is judged exactly; older ones are rejected.
//
// Lock-free, for several workers receiving for the same session: each
// 64-bit block holds the low 32 bits of its block number next to a 32-bit
// bitmap, and is changed by one compare-exchange. A block is reset by the
// first update that lands in a newer block of the same slot (RFC 6479 resets
// it while sliding), so no thread ever resets a block another thread is
// marking; and an update that finds its slot already taken by a newer block
// rejects as too old. Duplicates are thus caught by the blocks alone; the
// highest counter bounds the window, and tells a really newer block from an
// old one whose number aliases modulo 2^32 (an update raises it before it
// marks). The one alias left, a slot untouched for exactly a multiple of 2^37
// counters, can only drop a packet, never accept a replay.
class ReplayWindow {
public:
    static constexpr unsigned blockBits = 32;
    static constexpr unsigned blockCount = 128; // a power of two
    static constexpr std::uint64_t windowSize = (blockCount - 1) * blockBits; // 4064

    // Before decryption: may this counter be new? Reads only.
    ReplayVerdict check(std::uint64_t counter) const noexcept;
    // After the tag verified: checks again (another thread may have taken
    // the counter since), slides the window, marks the counter. Only an Ok
    // here accepts the packet.
    ReplayVerdict update(std::uint64_t counter) noexcept;

    // The highest counter accepted so far (0 before any).
    std::uint64_t highest() const noexcept { return top_.load(std::memory_order_acquire); }

private:
    static std::uint64_t blockOf(std::uint64_t counter) { return counter / blockBits; }
    static std::uint32_t bitOf(std::uint64_t counter)
    {
        return std::uint32_t(1) << (counter % blockBits);
    }

    std::atomic<std::uint64_t> top_{0};
    std::atomic<std::uint64_t> blocks_[blockCount] = {};
};

} // namespace meshd::forward
