// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "commands.h"
#include "config.h"
#include "control_server.h"
#include "event_loop.h"
#include "mesh_service.h"
#include "metrics.h"
#include "sd_notify.h"

namespace meshd {

struct DaemonOptions {
    std::string configPath;
    std::optional<LogLevel> logLevelOverride;
    int readyFd = -1; // written once when started, for a daemonising parent
    bool daemonised = false; // stderr is /dev/null: log.target stderr means syslog
};

// Owns every module of the running daemon and wires them to the loop.
class Daemon {
public:
    Daemon(DaemonOptions options, Config config);
    ~Daemon();

    // Starts everything; on failure prints one message, undoes what was
    // done and returns a non-zero exit code. Otherwise runs until SIGTERM.
    int run();

private:
    std::string start();
    void registerCommands();
    void onSignal(int signo);
    nlohmann::json reload(const char *trigger);
    nlohmann::json status() const;
    nlohmann::json version() const;
    void scheduleWatchdog();
    void applyLogging();
    ControlServer::Options controlOptions() const;

    DaemonOptions options_;
    Config config_;
    EventLoop loop_;
    Metrics metrics_;
    CommandRegistry commands_;
    std::unique_ptr<ControlServer> control_;
    std::unique_ptr<MeshService> mesh_;
    std::unique_ptr<class ProbeService> probes_; // null in builds without BPF
    std::unique_ptr<class IdentityService> identity_; // null without spiffe.trust_domain
    std::unique_ptr<class PeerService> peers_;         // likewise
    std::unique_ptr<class TunnelService> tunnel_;      // null unless tunnel.enabled
    Notifier notifier_;
    std::chrono::steady_clock::time_point started_;
    double startedUnix_ = 0;
    double configLoadedUnix_ = 0;
    std::string metricsError_;
};

} // namespace meshd
