// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>
#include <optional>
#include <prometheus/collectable.h>
#include <string>

namespace meshd {

struct ProcessSample {
    double cpuSeconds = 0;
    double residentBytes = 0;
    double virtualBytes = 0;
    double startTimeSeconds = 0;
    double openFds = 0;
    double maxFds = 0;
    double threads = 0;
};

// Reads /proc/<pid>/stat and friends. `procRoot` is for tests.
std::optional<ProcessSample> sampleProcess(const std::string &procRoot = "/proc",
                                           const std::string &pid = "self");

// The process_* families of the Prometheus client conventions, which
// prometheus-cpp does not provide.
class ProcessCollector : public prometheus::Collectable {
public:
    std::vector<prometheus::MetricFamily> Collect() const override;
};

} // namespace meshd
