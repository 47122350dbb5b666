// SPDX-License-Identifier: GPL-2.0-or-later
#include "metrics.h"

#include <exception>
#include <prometheus/exposer.h>

#include "meshd_build.h"
#include "process_metrics.h"

namespace meshd {

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      process_(std::make_shared<ProcessCollector>()),
      controlRequests(prometheus::BuildCounter()
                          .Name("meshd_control_requests_total")
                          .Help("Control socket requests by command and result (ok or the "
                                "error code).")
                          .Register(*registry_)),
      controlClients(prometheus::BuildGauge()
                         .Name("meshd_control_clients")
                         .Help("Connected control socket clients.")
                         .Register(*registry_)
                         .Add({})),
      controlClientsDropped(prometheus::BuildCounter()
                                .Name("meshd_control_clients_dropped_total")
                                .Help("Control socket clients refused or disconnected by the "
                                      "daemon, by reason.")
                                .Register(*registry_)),
      configReloads(prometheus::BuildCounter()
                        .Name("meshd_config_reloads_total")
                        .Help("Configuration reloads by result (ok, error).")
                        .Register(*registry_))
{
    prometheus::BuildGauge()
        .Name("meshd_build_info")
        .Help("meshd build information; the value is always 1.")
        .Register(*registry_)
        .Add({{"version", MESHD_VERSION}})
        .Set(1);
}

Metrics::~Metrics() = default;

std::string Metrics::listen(const std::string &address)
{
    try {
        auto exposer = std::make_unique<prometheus::Exposer>(address, 2);
        exposer->RegisterCollectable(registry_);
        exposer->RegisterCollectable(process_);
        exposer_ = std::move(exposer);
        return {};
    } catch (const std::exception &e) {
        return "cannot listen on " + address + " for metrics (address in use or not local?)";
    }
}

void Metrics::stopListening() { exposer_.reset(); }

} // namespace meshd
