// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <memory>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <string>
#include <vector>

namespace prometheus {
class Histogram;
class Exposer;
}

namespace meshd {

// The daemon's metric registry and its HTTP exposer. Metric objects are
// the only state shared with prometheus-cpp's server threads.
class Metrics {
public:
    Metrics();
    ~Metrics();
    Metrics(const Metrics &) = delete;
    Metrics &operator=(const Metrics &) = delete;

    // Binds the exposer; returns an empty string or what went wrong.
    std::string listen(const std::string &address);
    bool listening() const { return exposer_ != nullptr; }
    void stopListening();

    prometheus::Registry &registry() { return *registry_; }
    // Exports a collectable of the caller's through the exposer as well.
    void addCollectable(std::shared_ptr<prometheus::Collectable> collectable);

private:
    std::shared_ptr<prometheus::Registry> registry_;
    std::shared_ptr<prometheus::Collectable> process_;
    std::vector<std::shared_ptr<prometheus::Collectable>> extra_;
    std::unique_ptr<prometheus::Exposer> exposer_;
    std::string listenHost_;

public:
    // Families that more than one module updates.
    prometheus::Family<prometheus::Counter> &controlRequests;
    prometheus::Gauge &controlClients;
    prometheus::Family<prometheus::Counter> &controlClientsDropped;
    prometheus::Family<prometheus::Counter> &configReloads;
    // Time the event loop spent on one batch of ready events: how long
    // everything else (the control socket first) had to wait.
    prometheus::Histogram &loopIteration;
    // The CPU time the loop's thread used in those iterations.
    prometheus::Histogram &loopIterationCpu;
};

} // namespace meshd
