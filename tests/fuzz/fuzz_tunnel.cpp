// SPDX-License-Identifier: GPL-2.0-or-later
// The tunnel's outside input: a UDP datagram's header, the key-exchange
// messages peers send over the peer channel, and a replay window driven by
// the counters of the input (its verdicts must be consistent).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "replay_window.h"
#include "tunnel_messages.h"
#include "wire.h"

using namespace meshd;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    forward::wire::Header h;
    if (forward::wire::decode(data, size, h) == forward::wire::ParseError::None) {
        std::uint8_t again[16];
        forward::wire::encode(h, again);
        forward::wire::Header back;
        // A header that parsed must come back the same from its encoding.
        std::uint8_t datagram[64] = {};
        std::memcpy(datagram, again, sizeof(again));
        std::memcpy(datagram + 16, data + 16, std::min<std::size_t>(size - 16, 48));
        if (forward::wire::decode(datagram, std::min<std::size_t>(size, 64), back) ==
                forward::wire::ParseError::None &&
            !(back == h))
            __builtin_trap();
    }
    std::span<const std::uint8_t> payload(data, size);
    (void)tunnel::parseOffer(payload);
    (void)tunnel::parseAccept(payload);
    (void)tunnel::parseConfirm(payload);
    (void)tunnel::parseClose(payload);

    auto window = std::make_unique<forward::ReplayWindow>();
    for (std::size_t at = 0; at + 8 <= size; at += 8) {
        std::uint64_t c;
        std::memcpy(&c, data + at, 8);
        c &= 0xffffffffffffULL; // counters of a session stay far below 2^64
        forward::ReplayVerdict pre = window->check(c);
        forward::ReplayVerdict v = window->update(c);
        if (v == forward::ReplayVerdict::Ok && pre != forward::ReplayVerdict::Ok)
            __builtin_trap(); // accepted what check() had refused
        if (v == forward::ReplayVerdict::Ok && window->update(c) != forward::ReplayVerdict::Duplicate)
            __builtin_trap(); // the same counter twice
        if (window->highest() < c && v == forward::ReplayVerdict::Ok)
            __builtin_trap();
    }
    return 0;
}
