// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstddef>
#include <cstdint>

namespace meshd::forward::wire {

// One tunnel datagram on UDP:
//
//   0      1       2            4                      8                       16
//   | type | flags | reserved 0 | receiver index (BE)  | counter (BE)          | ciphertext | tag (16)
//
// The 16-byte header is the AEAD's associated data; the nonce is four zero
// bytes and the counter (big endian), unique because each direction has its
// own key. A keepalive is a header and a tag over an empty payload.
inline constexpr std::size_t headerSize = 16;
inline constexpr std::size_t tagSize = 16;
inline constexpr std::size_t minDatagram = headerSize + tagSize;

enum class PacketType : std::uint8_t {
    Data = 1,
    Keepalive = 2,
};

inline constexpr std::uint8_t flagKeyPhase = 0x01;

struct Header {
    PacketType type = PacketType::Data;
    std::uint8_t keyPhase = 0; // 0 or 1
    std::uint32_t receiverIndex = 0;
    std::uint64_t counter = 0;

    bool operator==(const Header &) const = default;
};

enum class ParseError : std::uint8_t {
    None,
    Short,       // shorter than header + tag
    BadType,     // neither data nor keepalive
    BadFlags,    // a flag other than the key phase set
    BadReserved, // bytes 2-3 not zero
    BadLength,   // a keepalive that carries a payload
};
const char *parseErrorName(ParseError error);

// Writes the 16 header bytes at out.
void encode(const Header &header, std::uint8_t *out) noexcept;
// Parses the header of a whole datagram of len bytes.
ParseError decode(const std::uint8_t *datagram, std::size_t len, Header &out) noexcept;

} // namespace meshd::forward::wire
