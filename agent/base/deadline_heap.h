// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <unordered_map>
#include <vector>

namespace meshd {

using Clock = std::chrono::steady_clock;

// A binary min-heap of timer deadlines. Each timer has a stable id so it
// can be cancelled or moved in O(log n) without leaving tombstones.
class DeadlineHeap {
public:
    using TimerId = std::uint64_t;
    using Callback = std::function<void()>;

    TimerId add(Clock::time_point deadline, Callback callback);
    bool cancel(TimerId id);
    bool reschedule(TimerId id, Clock::time_point deadline);
    bool contains(TimerId id) const { return position_.count(id) != 0; }

    std::optional<Clock::time_point> earliest() const;
    std::size_t size() const { return heap_.size(); }
    bool empty() const { return heap_.empty(); }

    // Removes and returns the callbacks of every timer due at `now`, in
    // deadline order (ties in insertion order).
    std::vector<Callback> popExpired(Clock::time_point now);
    // Removes and returns the callback of the earliest timer if it is due at
    // `now`. Popping one at a time lets a callback cancel timers due in the
    // same batch.
    std::optional<Callback> popDue(Clock::time_point now);

private:
    struct Entry {
        Clock::time_point deadline;
        std::uint64_t seq;
        TimerId id;
        Callback callback;
    };
    bool less(std::size_t a, std::size_t b) const;
    void swapEntries(std::size_t a, std::size_t b);
    void siftUp(std::size_t i);
    void siftDown(std::size_t i);
    void removeAt(std::size_t i);

    std::vector<Entry> heap_;
    std::unordered_map<TimerId, std::size_t> position_;
    TimerId nextId_ = 1;
    std::uint64_t nextSeq_ = 0;
};

} // namespace meshd
