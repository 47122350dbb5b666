// SPDX-License-Identifier: GPL-2.0-or-later
#include "grpc_frame.h"

#include <algorithm>

#include <openssl/crypto.h>

namespace spiffe
{

GrpcFrameDecoder::GrpcFrameDecoder(std::size_t maxMessage) : maxMessage_(maxMessage) {}

GrpcFrameDecoder::~GrpcFrameDecoder()
{
    dropMessage();
}

void GrpcFrameDecoder::dropMessage()
{
    if (!message_.empty())
        OPENSSL_cleanse(message_.data(), message_.size());
    std::vector<std::uint8_t>().swap(message_);
}

void GrpcFrameDecoder::reset()
{
    dropMessage();
    headerFill_ = 0;
    inMessage_ = false;
    expected_ = 0;
    error_.clear();
}

std::string GrpcFrameDecoder::feed(std::span<const std::uint8_t> data,
                                   const MessageHandler &onMessage)
{
    if (!error_.empty())
        return error_;
    std::size_t pos = 0;
    while (pos < data.size()) {
        std::size_t left = data.size() - pos;
        if (!inMessage_) {
            std::size_t take = std::min(headerSize - headerFill_, left);
            std::copy_n(data.begin() + static_cast<std::ptrdiff_t>(pos), take,
                        header_.begin() + static_cast<std::ptrdiff_t>(headerFill_));
            headerFill_ += take;
            pos += take;
            if (headerFill_ < headerSize)
                break;
            headerFill_ = 0;
            std::uint8_t flag = header_[0];
            std::size_t length = (std::size_t{header_[1]} << 24) | (std::size_t{header_[2]} << 16) |
                                 (std::size_t{header_[3]} << 8) | std::size_t{header_[4]};
            if (flag == 1) {
                error_ = "a compressed message arrived, but no compression was offered "
                         "(grpc-accept-encoding)";
                return error_;
            }
            if (flag != 0) {
                error_ = "a message has the invalid compressed flag " + std::to_string(flag);
                return error_;
            }
            if (length > maxMessage_) {
                error_ = "a message of " + std::to_string(length) + " bytes is over the limit of " +
                         std::to_string(maxMessage_) + " bytes";
                return error_;
            }
            expected_ = length;
            if (data.size() - pos >= length) {
                // The whole message is in this piece: hand it over without a copy.
                auto message = data.subspan(pos, length);
                pos += length;
                onMessage(message);
                continue;
            }
            inMessage_ = true;
            message_.reserve(length);
            continue;
        }
        std::size_t take = std::min(expected_ - message_.size(), left);
        message_.insert(message_.end(), data.begin() + static_cast<std::ptrdiff_t>(pos),
                        data.begin() + static_cast<std::ptrdiff_t>(pos + take));
        pos += take;
        if (message_.size() == expected_) {
            inMessage_ = false;
            try {
                onMessage(message_);
            } catch (...) {
                dropMessage();
                throw;
            }
            dropMessage();
        }
    }
    return {};
}

} // namespace spiffe
