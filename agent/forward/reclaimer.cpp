// SPDX-License-Identifier: GPL-2.0-or-later
#include "reclaimer.h"

#include <algorithm>

namespace meshd::forward {

Reclaimer::Reclaimer(unsigned workers)
    : workers_(workers), epochs_(std::make_unique<WorkerEpoch[]>(workers))
{
}

Reclaimer::~Reclaimer()
{
    for (const Retired &r : retired_)
        r.destroy(r.object);
}

void Reclaimer::retire(void *object, void (*destroy)(void *))
{
    std::uint64_t epoch = global_.fetch_add(1, std::memory_order_seq_cst) + 1;
    retired_.push_back({epoch, object, destroy});
}

std::size_t Reclaimer::reclaim()
{
    std::uint64_t oldest = offlineEpoch;
    for (unsigned w = 0; w < workers_; ++w)
        oldest = std::min(oldest, epochs_[w].epoch.load(std::memory_order_seq_cst));
    std::size_t freed = 0;
    while (!retired_.empty() && retired_.front().epoch <= oldest) {
        Retired r = retired_.front();
        retired_.pop_front();
        r.destroy(r.object);
        ++freed;
    }
    return freed;
}

} // namespace meshd::forward
