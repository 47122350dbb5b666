// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>
#include <openssl/asn1.h>

namespace spiffe {

// An X.509 time as a system_clock time point. libstdc++'s system_clock
// counts nanoseconds in 64 bits, so it ends in April 2262, and RFC 5280's
// NotAfter for "no well-defined expiration", 99991231235959Z, lies far past
// that: from_time_t would wrap it into the past and make a valid SVID look
// expired. Times past the clock's range are clamped to its ends. A time
// that cannot be read gives the epoch (it looks long expired).
inline std::chrono::system_clock::time_point asn1TimePoint(const ASN1_TIME *time)
{
    using clock = std::chrono::system_clock;
    struct tm tm {
    };
    if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1)
        return {};
    // Seconds since the epoch in 64 bits from the calendar date, not
    // timegm(): a 32-bit time_t (32-bit glibc) cannot hold a time past 2038
    // and timegm() gives -1 for RFC 5280's 99991231235959Z.
    using namespace std::chrono;
    const year_month_day date{year{tm.tm_year + 1900}, month{static_cast<unsigned>(tm.tm_mon + 1)},
                              day{static_cast<unsigned>(tm.tm_mday)}};
    if (!date.ok())
        return {};
    const std::int64_t t = static_cast<std::int64_t>(sys_days{date}.time_since_epoch().count()) * 86400 +
                           std::int64_t{tm.tm_hour} * 3600 + std::int64_t{tm.tm_min} * 60 + tm.tm_sec;
    const auto limit = std::chrono::duration_cast<std::chrono::seconds>(
                           clock::time_point::max().time_since_epoch())
                           .count();
    if (t >= limit)
        return clock::time_point::max();
    if (t <= -limit)
        return clock::time_point::min();
    return clock::time_point(duration_cast<clock::duration>(seconds{t}));
}

} // namespace spiffe
