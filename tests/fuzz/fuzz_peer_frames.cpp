// SPDX-License-Identifier: GPL-2.0-or-later
// The peer channel after TLS: the frame stream of an authenticated peer, fed
// in pieces, and each hello and goodbye parsed the way the peer service does.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include <nlohmann/json.hpp>

#include "json_depth.h"
#include "peer_frame.h"
#include "peer_hello.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    meshd::FrameDecoder decoder;
    // The first byte picks how the stream is cut (TCP may deliver any pieces).
    std::size_t piece = size ? 1 + data[0] % 97 : 1;
    for (std::size_t at = size ? 1 : 0; at < size; at += piece) {
        std::size_t n = std::min(piece, size - at);
        if (!decoder.feed(std::span<const std::uint8_t>(data + at, n)))
            return 0;
        while (auto f = decoder.next()) {
            if (f->payload.size() > meshd::frame::maxPayload)
                __builtin_trap();
            if (f->type != meshd::frame::Hello && f->type != meshd::frame::Goodbye)
                continue;
            std::string_view text(reinterpret_cast<const char *>(f->payload.data()),
                                  f->payload.size());
            if (!meshd::jsonDepthWithin(text))
                continue;
            nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
            if (j.is_discarded())
                continue;
            if (f->type == meshd::frame::Hello && meshd::checkHello(j).empty())
                (void)meshd::helloFields(j).dump();
        }
    }
    return 0;
}
