// SPDX-License-Identifier: GPL-2.0-or-later
#include "peer_frame.h"

namespace meshd {

void encodeFrame(std::uint8_t type, std::span<const std::uint8_t> payload,
                 std::vector<std::uint8_t> &out)
{
    auto n = static_cast<std::uint32_t>(payload.size());
    std::uint8_t header[frame::headerSize] = {
        frame::version,
        type,
        0,
        0,
        static_cast<std::uint8_t>(n >> 24),
        static_cast<std::uint8_t>(n >> 16),
        static_cast<std::uint8_t>(n >> 8),
        static_cast<std::uint8_t>(n),
    };
    out.insert(out.end(), header, header + sizeof(header));
    out.insert(out.end(), payload.begin(), payload.end());
}

bool FrameDecoder::feed(std::span<const std::uint8_t> data)
{
    if (!error_.empty())
        return false;
    // Drop what was consumed before growing the buffer.
    if (offset_ > 0 && offset_ == buffer_.size()) {
        buffer_.clear();
        offset_ = 0;
    } else if (offset_ > 64 * 1024) {
        buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(offset_));
        offset_ = 0;
    }
    buffer_.insert(buffer_.end(), data.begin(), data.end());
    return check();
}

// Validates the header at the front as soon as it is complete, so that a
// bad stream is refused before its payload is buffered.
bool FrameDecoder::check()
{
    if (buffered() < frame::headerSize)
        return true;
    const std::uint8_t *h = buffer_.data() + offset_;
    if (h[0] != frame::version) {
        error_ = "unsupported peer protocol version " + std::to_string(h[0]);
        return false;
    }
    if (h[2] != 0 || h[3] != 0) {
        error_ = "reserved header bits set";
        return false;
    }
    std::uint32_t n = (std::uint32_t(h[4]) << 24) | (std::uint32_t(h[5]) << 16) |
                      (std::uint32_t(h[6]) << 8) | h[7];
    if (n > frame::maxPayload) {
        error_ = "frame of " + std::to_string(n) + " bytes (at most " +
                 std::to_string(frame::maxPayload) + ")";
        return false;
    }
    return true;
}

std::optional<Frame> FrameDecoder::next()
{
    if (!error_.empty() || buffered() < frame::headerSize)
        return std::nullopt;
    const std::uint8_t *h = buffer_.data() + offset_;
    std::uint32_t n = (std::uint32_t(h[4]) << 24) | (std::uint32_t(h[5]) << 16) |
                      (std::uint32_t(h[6]) << 8) | h[7];
    if (buffered() < frame::headerSize + n)
        return std::nullopt;
    Frame f;
    f.type = h[1];
    f.payload.assign(h + frame::headerSize, h + frame::headerSize + n);
    offset_ += frame::headerSize + n;
    check(); // a bad next header shows in error() at once
    return f;
}

} // namespace meshd
