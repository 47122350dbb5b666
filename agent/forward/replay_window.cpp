// SPDX-License-Identifier: GPL-2.0-or-later
#include "replay_window.h"

namespace meshd::forward {

namespace {
std::uint32_t tagOf(std::uint64_t block) { return std::uint32_t(block >> 32); }
std::uint32_t bitsOf(std::uint64_t block) { return std::uint32_t(block); }
std::uint64_t makeBlock(std::uint32_t tag, std::uint32_t bits)
{
    return (std::uint64_t(tag) << 32) | bits;
}
// >0 when the slot holds a newer block than `number`, 0 when that block, <0 older.
std::int32_t age(std::uint64_t slot, std::uint64_t number)
{
    return std::int32_t(tagOf(slot) - std::uint32_t(number));
}
} // namespace

const char *replayVerdictName(ReplayVerdict verdict)
{
    switch (verdict) {
    case ReplayVerdict::Ok:
        return "ok";
    case ReplayVerdict::TooOld:
        return "too_old";
    case ReplayVerdict::Duplicate:
        return "duplicate";
    case ReplayVerdict::Limit:
        return "limit";
    }
    return "unknown";
}

// Whether a slot's block, `a` newer than `number` modulo 2^32, is really
// newer. Every block in a slot is at most the highest counter's block, read
// after the slot (update() raises the highest counter before it marks), so a
// block that would be beyond it is an old one that aliases modulo 2^32.
static bool reallyNewer(std::int32_t a, std::uint64_t number, std::uint64_t top)
{
    return a > 0 && number + std::uint64_t(a) <= top / ReplayWindow::blockBits;
}

ReplayVerdict ReplayWindow::check(std::uint64_t counter) const noexcept
{
    if (counter >= rejectAfterMessages)
        return ReplayVerdict::Limit;
    std::uint64_t number = blockOf(counter);
    std::uint64_t slot = blocks_[number % blockCount].load(std::memory_order_acquire);
    std::uint64_t top = top_.load(std::memory_order_acquire);
    if (counter + windowSize <= top)
        return ReplayVerdict::TooOld;
    std::int32_t a = age(slot, number);
    if (reallyNewer(a, number, top))
        return ReplayVerdict::TooOld;
    if (a == 0 && (bitsOf(slot) & bitOf(counter)))
        return ReplayVerdict::Duplicate;
    return ReplayVerdict::Ok;
}

ReplayVerdict ReplayWindow::update(std::uint64_t counter) noexcept
{
    if (counter >= rejectAfterMessages)
        return ReplayVerdict::Limit;
    std::uint64_t top = top_.load(std::memory_order_acquire);
    if (counter + windowSize <= top)
        return ReplayVerdict::TooOld;
    // Raise the highest counter first, so that whoever sees this counter's
    // block in its slot also sees a highest counter at least this high.
    while (top < counter && !top_.compare_exchange_weak(top, counter, std::memory_order_acq_rel,
                                                        std::memory_order_acquire)) {
    }
    std::uint64_t number = blockOf(counter);
    std::uint32_t bit = bitOf(counter);
    std::atomic<std::uint64_t> &block = blocks_[number % blockCount];
    std::uint64_t slot = block.load(std::memory_order_acquire);
    for (;;) {
        top = top_.load(std::memory_order_acquire);
        if (counter + windowSize <= top)
            return ReplayVerdict::TooOld;
        std::int32_t a = age(slot, number);
        if (reallyNewer(a, number, top))
            return ReplayVerdict::TooOld;
        std::uint64_t next;
        if (a == 0) {
            if (bitsOf(slot) & bit)
                return ReplayVerdict::Duplicate;
            next = slot | bit;
        } else {
            // The slide: this slot's older block leaves the window.
            next = makeBlock(std::uint32_t(number), bit);
        }
        if (block.compare_exchange_weak(slot, next, std::memory_order_acq_rel,
                                        std::memory_order_acquire))
            return ReplayVerdict::Ok;
    }
}

} // namespace meshd::forward
