// SPDX-License-Identifier: GPL-2.0-or-later
#include "metrics.h"

#include <prometheus/histogram.h>

#include <arpa/inet.h>
#include <atomic>
#include <exception>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <prometheus/exposer.h>

#include "address.h"
#include "meshd_build.h"
#include "process_metrics.h"

namespace meshd {

namespace {

// Opens and closes one TCP connection to a local listener.
void pokeListener(const std::string &host, int port)
{
    bool v6 = host.find(':') != std::string::npos;
    std::string target = host;
    if (host == "0.0.0.0")
        target = "127.0.0.1";
    else if (host == "::")
        target = "::1";
    int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    if (v6) {
        sockaddr_in6 sa = {};
        sa.sin6_family = AF_INET6;
        sa.sin6_port = htons(static_cast<std::uint16_t>(port));
        inet_pton(AF_INET6, target.c_str(), &sa.sin6_addr);
        (void)!connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof(sa));
    } else {
        sockaddr_in sa = {};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(static_cast<std::uint16_t>(port));
        inet_pton(AF_INET, target.c_str(), &sa.sin_addr);
        (void)!connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof(sa));
    }
    close(fd);
}

} // namespace

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
                        .Register(*registry_)),
      loopIteration(prometheus::BuildHistogram()
                        .Name("meshd_event_loop_iteration_seconds")
                        .Help("Time the event loop spent handling one batch of ready events, "
                              "during which nothing else was answered.")
                        .Register(*registry_)
                        .Add({}, prometheus::Histogram::BucketBoundaries{
                                     0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.25, 1})),
      loopIterationCpu(prometheus::BuildHistogram()
                           .Name("meshd_event_loop_iteration_cpu_seconds")
                           .Help("CPU time the event loop's thread used in one iteration; "
                                 "well below the wall time when the machine is busy.")
                           .Register(*registry_)
                           .Add({}, prometheus::Histogram::BucketBoundaries{
                                        0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.25, 1}))
{
    for (const char *reason : {"client_limit", "write_timeout", "slow_monitor", "memory"})
        controlClientsDropped.Add({{"reason", reason}});
    for (const char *result : {"ok", "error"})
        configReloads.Add({{"result", result}});
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
        for (const auto &c : extra_)
            exposer->RegisterCollectable(c);
        exposer_ = std::move(exposer);
        parseListenAddress(address, &listenHost_, nullptr);
        return {};
    } catch (const std::exception &e) {
        return "cannot listen on " + address + " for metrics (address in use or not local?)";
    }
}

void Metrics::addCollectable(std::shared_ptr<prometheus::Collectable> collectable)
{
    if (exposer_)
        exposer_->RegisterCollectable(collectable);
    extra_.push_back(std::move(collectable));
}

void Metrics::stopListening()
{
    if (!exposer_)
        return;
    // civetweb's master thread notices the stop flag only when its poll()
    // returns, which takes up to 2 s; connections wake it up at once.
    std::vector<int> ports = exposer_->GetListeningPorts();
    std::atomic<bool> stopped{false};
    std::thread waker([&] {
        while (!stopped) {
            for (int port : ports)
                pokeListener(listenHost_, port);
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    });
    exposer_.reset();
    stopped = true;
    waker.join();
}

} // namespace meshd
