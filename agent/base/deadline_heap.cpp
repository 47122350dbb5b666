// SPDX-License-Identifier: GPL-2.0-or-later
#include "deadline_heap.h"

#include <utility>

namespace meshd {

DeadlineHeap::TimerId DeadlineHeap::add(Clock::time_point deadline, Callback callback)
{
    TimerId id = nextId_++;
    heap_.push_back(Entry{deadline, nextSeq_++, id, std::move(callback)});
    position_[id] = heap_.size() - 1;
    siftUp(heap_.size() - 1);
    return id;
}

bool DeadlineHeap::cancel(TimerId id)
{
    auto it = position_.find(id);
    if (it == position_.end())
        return false;
    removeAt(it->second);
    return true;
}

bool DeadlineHeap::reschedule(TimerId id, Clock::time_point deadline)
{
    auto it = position_.find(id);
    if (it == position_.end())
        return false;
    std::size_t i = it->second;
    heap_[i].deadline = deadline;
    heap_[i].seq = nextSeq_++;
    siftUp(i);
    siftDown(position_[id]);
    return true;
}

std::optional<Clock::time_point> DeadlineHeap::earliest() const
{
    if (heap_.empty())
        return std::nullopt;
    return heap_.front().deadline;
}

std::vector<DeadlineHeap::Callback> DeadlineHeap::popExpired(Clock::time_point now)
{
    std::vector<Callback> due;
    while (!heap_.empty() && heap_.front().deadline <= now) {
        due.push_back(std::move(heap_.front().callback));
        removeAt(0);
    }
    return due;
}

std::optional<DeadlineHeap::Callback> DeadlineHeap::popDue(Clock::time_point now)
{
    if (heap_.empty() || heap_.front().deadline > now)
        return std::nullopt;
    Callback callback = std::move(heap_.front().callback);
    removeAt(0);
    return callback;
}

bool DeadlineHeap::less(std::size_t a, std::size_t b) const
{
    const Entry &x = heap_[a], &y = heap_[b];
    if (x.deadline != y.deadline)
        return x.deadline < y.deadline;
    return x.seq < y.seq;
}

void DeadlineHeap::swapEntries(std::size_t a, std::size_t b)
{
    std::swap(heap_[a], heap_[b]);
    position_[heap_[a].id] = a;
    position_[heap_[b].id] = b;
}

void DeadlineHeap::siftUp(std::size_t i)
{
    while (i > 0) {
        std::size_t parent = (i - 1) / 2;
        if (!less(i, parent))
            break;
        swapEntries(i, parent);
        i = parent;
    }
}

void DeadlineHeap::siftDown(std::size_t i)
{
    for (;;) {
        std::size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < heap_.size() && less(l, m))
            m = l;
        if (r < heap_.size() && less(r, m))
            m = r;
        if (m == i)
            return;
        swapEntries(i, m);
        i = m;
    }
}

void DeadlineHeap::removeAt(std::size_t i)
{
    TimerId id = heap_[i].id;
    std::size_t last = heap_.size() - 1;
    if (i != last)
        swapEntries(i, last);
    heap_.pop_back();
    position_.erase(id);
    if (i < heap_.size()) {
        siftUp(i);
        siftDown(i);
    }
}

} // namespace meshd
