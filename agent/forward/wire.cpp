// SPDX-License-Identifier: GPL-2.0-or-later
#include "wire.h"

namespace meshd::forward::wire {

namespace {
void putBe32(std::uint8_t *p, std::uint32_t v)
{
    for (int i = 3; i >= 0; --i, v >>= 8)
        p[i] = std::uint8_t(v);
}
void putBe64(std::uint8_t *p, std::uint64_t v)
{
    for (int i = 7; i >= 0; --i, v >>= 8)
        p[i] = std::uint8_t(v);
}
std::uint32_t getBe32(const std::uint8_t *p)
{
    return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3];
}
std::uint64_t getBe64(const std::uint8_t *p)
{
    return std::uint64_t(getBe32(p)) << 32 | getBe32(p + 4);
}
} // namespace

const char *parseErrorName(ParseError error)
{
    switch (error) {
    case ParseError::None:
        return "none";
    case ParseError::Short:
        return "short";
    case ParseError::BadType:
        return "bad_type";
    case ParseError::BadFlags:
        return "bad_flags";
    case ParseError::BadReserved:
        return "bad_reserved";
    case ParseError::BadLength:
        return "bad_length";
    }
    return "unknown";
}

void encode(const Header &header, std::uint8_t *out) noexcept
{
    out[0] = std::uint8_t(header.type);
    out[1] = header.keyPhase ? flagKeyPhase : 0;
    out[2] = 0;
    out[3] = 0;
    putBe32(out + 4, header.receiverIndex);
    putBe64(out + 8, header.counter);
}

ParseError decode(const std::uint8_t *datagram, std::size_t len, Header &out) noexcept
{
    if (len < minDatagram)
        return ParseError::Short;
    std::uint8_t type = datagram[0];
    if (type != std::uint8_t(PacketType::Data) && type != std::uint8_t(PacketType::Keepalive))
        return ParseError::BadType;
    if (datagram[1] & ~flagKeyPhase)
        return ParseError::BadFlags;
    if (datagram[2] != 0 || datagram[3] != 0)
        return ParseError::BadReserved;
    if (type == std::uint8_t(PacketType::Keepalive) && len != minDatagram)
        return ParseError::BadLength;
    out.type = PacketType(type);
    out.keyPhase = datagram[1] & flagKeyPhase;
    out.receiverIndex = getBe32(datagram + 4);
    out.counter = getBe64(datagram + 8);
    return ParseError::None;
}

} // namespace meshd::forward::wire
