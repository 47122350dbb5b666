// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <map>
#include <mutex>
#include <prometheus/collectable.h>
#include <string>
#include <vector>

namespace meshd {

// Counters the kernel keeps (and may reset), exported as they are read:
// the event loop replaces the values, scrapes read a copy. Levels the
// kernel reports (queue backlogs) can go out the same way, as gauges.
class CounterSnapshot : public prometheus::Collectable {
public:
    using Labels = std::map<std::string, std::string>;

    CounterSnapshot(std::string name, std::string help, bool gauge = false)
        : name_(std::move(name)), help_(std::move(help)), gauge_(gauge)
    {
    }

    void replace(std::map<Labels, double> values)
    {
        std::lock_guard lock(mutex_);
        values_ = std::move(values);
    }

    std::vector<prometheus::MetricFamily> Collect() const override;

private:
    std::string name_, help_;
    bool gauge_; // exported as a gauge (a level, not a count)
    mutable std::mutex mutex_;
    std::map<Labels, double> values_;
};

} // namespace meshd
