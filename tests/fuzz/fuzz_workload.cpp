// SPDX-License-Identifier: GPL-2.0-or-later
// The Workload API as the agent's gRPC responses arrive: the byte stream of
// DATA frames cut into gRPC messages, each decoded as an X509SVIDResponse and
// as an X509BundlesResponse (protobuf, then X.509 and SPIFFE ID checks).
#include <cstddef>
#include <cstdint>
#include <span>

#include "grpc_frame.h"
#include "workload.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    spiffe::GrpcFrameDecoder decoder(64 * 1024);
    std::size_t piece = size ? 1 + data[0] % 61 : 1;
    auto onMessage = [](std::span<const std::uint8_t> message) {
        (void)spiffe::parseX509SvidResponse(message);
        (void)spiffe::parseX509BundlesResponse(message);
    };
    for (std::size_t at = size ? 1 : 0; at < size; at += piece) {
        std::size_t n = std::min(piece, size - at);
        if (!decoder.feed(std::span<const std::uint8_t>(data + at, n), onMessage).empty())
            break;
    }
    // And the whole input as one message, as protobuf-c sees it.
    onMessage(std::span<const std::uint8_t>(data, size));
    return 0;
}
