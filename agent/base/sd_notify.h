// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "unique_fd.h"

namespace meshd {

// The systemd notification protocol, without libsystemd: datagrams of
// "KEY=VALUE\n" lines to $NOTIFY_SOCKET (a path or an abstract "@name").
class Notifier {
public:
    // Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID. Returns 0 or -errno.
    int init();
    bool enabled() const { return fd_.isValid(); }

    // Returns 0, or -errno. A no-op without NOTIFY_SOCKET.
    int send(const std::string &state);

    // Interval to send WATCHDOG=1 at (half the configured timeout), if asked for.
    std::optional<std::chrono::microseconds> watchdogInterval() const { return watchdog_; }

private:
    UniqueFD fd_;
    std::string address_;
    std::optional<std::chrono::microseconds> watchdog_;
};

} // namespace meshd
