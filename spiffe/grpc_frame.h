// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace spiffe
{

// Splits the body of a gRPC response (the payloads of its DATA frames, cut
// anywhere) into messages. Each message is framed as a compressed flag byte,
// a 4-byte big-endian length, then the message bytes (gRPC's PROTOCOL-HTTP2,
// Length-Prefixed-Message). Compressed messages are an error: we never offer
// a grpc-accept-encoding. Buffers that held message bytes are cleansed, as a
// message may carry a private key.
class GrpcFrameDecoder
{
public:
    static constexpr std::size_t headerSize = 5;
    static constexpr std::size_t defaultMaxMessage = 4 * 1024 * 1024;

    explicit GrpcFrameDecoder(std::size_t maxMessage = defaultMaxMessage);
    ~GrpcFrameDecoder();
    GrpcFrameDecoder(const GrpcFrameDecoder &) = delete;
    GrpcFrameDecoder &operator=(const GrpcFrameDecoder &) = delete;

    // Called with each complete message; the bytes are valid for the call only.
    using MessageHandler = std::function<void(std::span<const std::uint8_t> message)>;

    // Feeds the next bytes of the body, calling `onMessage` for every message
    // they complete, in order. Returns "" or why the body is not a stream of
    // gRPC messages; after an error the decoder stays failed (returns it again).
    std::string feed(std::span<const std::uint8_t> data, const MessageHandler &onMessage);

    // True between messages, where the body may end.
    bool atBoundary() const { return headerFill_ == 0 && !inMessage_; }
    bool failed() const { return !error_.empty(); }
    // Forgets any partial message and error.
    void reset();

private:
    void dropMessage();

    std::size_t maxMessage_;
    std::array<std::uint8_t, headerSize> header_{};
    std::size_t headerFill_ = 0;
    bool inMessage_ = false;
    std::size_t expected_ = 0;          // length of the message being reassembled
    std::vector<std::uint8_t> message_; // reserved to expected_ up front: never reallocated
    std::string error_;
};

} // namespace spiffe
