// SPDX-License-Identifier: GPL-2.0-or-later
#include "counter_snapshot.h"

#include <limits>
#include <prometheus/metric_family.h>

namespace meshd {

std::vector<prometheus::MetricFamily> CounterSnapshot::Collect() const
{
    prometheus::MetricFamily f;
    f.name = name_;
    f.help = help_;
    f.type = gauge_ ? prometheus::MetricType::Gauge : prometheus::MetricType::Counter;
    std::lock_guard lock(mutex_);
    if (values_.empty())
        return {};
    for (const auto &[labels, value] : values_) {
        prometheus::ClientMetric m;
        for (const auto &[k, v] : labels)
            m.label.push_back({k, v});
        if (gauge_)
            m.gauge.value = value;
        else
            m.counter.value = value;
        f.metric.push_back(std::move(m));
    }
    return {f};
}

std::vector<prometheus::MetricFamily> HistogramSnapshot::Collect() const
{
    prometheus::MetricFamily f;
    f.name = name_;
    f.help = help_;
    f.type = prometheus::MetricType::Histogram;
    std::lock_guard lock(mutex_);
    if (values_.empty())
        return {};
    for (const auto &[labels, value] : values_) {
        prometheus::ClientMetric m;
        for (const auto &[k, v] : labels)
            m.label.push_back({k, v});
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < value.counts.size(); i++) {
            cumulative += value.counts[i];
            prometheus::ClientMetric::Bucket b;
            b.cumulative_count = cumulative;
            b.upper_bound = i < bounds_.size() ? bounds_[i] : std::numeric_limits<double>::infinity();
            m.histogram.bucket.push_back(b);
        }
        m.histogram.sample_count = cumulative;
        m.histogram.sample_sum = value.sum;
        f.metric.push_back(std::move(m));
    }
    return {f};
}

} // namespace meshd
