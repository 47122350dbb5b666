// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace meshd {

// The peer channel's framing, inside mTLS. Each frame:
//
//   0        1        2                 4                                 8
//   | version | type  | reserved (0)    | payload length (big endian)     | payload
//
// Version 1. Payloads are at most maxFramePayload bytes. Types below 16 are
// the channel's own; the tunnel's key exchange will add types from 16 up.
// A receiver ignores (and counts) types it does not know, so that newer
// peers can talk to older ones.
namespace frame {
inline constexpr std::uint8_t version = 1;
inline constexpr std::size_t headerSize = 8;
inline constexpr std::size_t maxPayload = 64 * 1024;

enum Type : std::uint8_t {
    Hello = 1,     // JSON: {"protocol", "node", "version", "mesh_mac", "capabilities"}
    Keepalive = 2, // empty
    Goodbye = 3,   // JSON: {"reason"}
};
} // namespace frame

struct Frame {
    std::uint8_t type;
    std::vector<std::uint8_t> payload;
};

// Appends one frame to `out`.
void encodeFrame(std::uint8_t type, std::span<const std::uint8_t> payload,
                 std::vector<std::uint8_t> &out);

// Reassembles frames from a byte stream in whatever pieces it arrives.
class FrameDecoder {
public:
    // Adds bytes; returns false (and error() says why) on a frame that
    // breaks the format, after which the connection must be closed.
    bool feed(std::span<const std::uint8_t> data);
    // The next complete frame, if any.
    std::optional<Frame> next();
    const std::string &error() const { return error_; }
    std::size_t buffered() const { return buffer_.size() - offset_; }

private:
    bool check();

    std::vector<std::uint8_t> buffer_;
    std::size_t offset_ = 0;
    std::string error_;
};

} // namespace meshd
