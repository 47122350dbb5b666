// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>
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

// Histograms the kernel keeps (bucket counts read from BPF maps), exported
// as they are read, with their upper bounds in seconds.
class HistogramSnapshot : public prometheus::Collectable {
public:
    using Labels = std::map<std::string, std::string>;
    struct Value {
        std::vector<std::uint64_t> counts; // per bucket, not cumulative; the last is +Inf
        double sum = 0;
    };

    // `bounds`: upper bounds of all but the last (+Inf) bucket, ascending.
    HistogramSnapshot(std::string name, std::string help, std::vector<double> bounds)
        : name_(std::move(name)), help_(std::move(help)), bounds_(std::move(bounds))
    {
    }

    void replace(std::map<Labels, Value> values)
    {
        std::lock_guard lock(mutex_);
        values_ = std::move(values);
    }

    std::vector<prometheus::MetricFamily> Collect() const override;

private:
    std::string name_, help_;
    std::vector<double> bounds_;
    mutable std::mutex mutex_;
    std::map<Labels, Value> values_;
};

} // namespace meshd
