// SPDX-License-Identifier: GPL-2.0-or-later
#include "counter_snapshot.h"

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

} // namespace meshd
