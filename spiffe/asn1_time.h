// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <chrono>
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
    const std::time_t t = timegm(&tm);
    const auto limit = std::chrono::duration_cast<std::chrono::seconds>(
                           clock::time_point::max().time_since_epoch())
                           .count();
    if (t >= limit)
        return clock::time_point::max();
    if (t <= -limit)
        return clock::time_point::min();
    return clock::from_time_t(t);
}

} // namespace spiffe
