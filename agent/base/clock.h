// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <chrono>
#include <ctime>
#include <string>

namespace meshd {

// Wall-clock times as the control protocol and the logs show them.

inline double unixSeconds(std::chrono::system_clock::time_point t)
{
    return std::chrono::duration<double>(t.time_since_epoch()).count();
}

inline double unixNow() { return unixSeconds(std::chrono::system_clock::now()); }

// "2026-11-25T14:00:00Z"
inline std::string rfc3339(std::chrono::system_clock::time_point t)
{
    std::time_t secs = std::chrono::system_clock::to_time_t(t);
    struct tm tm {
    };
    gmtime_r(&secs, &tm);
    char buf[32];
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

} // namespace meshd
