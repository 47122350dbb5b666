// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "aead.h"
#include "cipher_negotiation.h"

namespace meshd::tunnel {

// The tunnel's key exchange, carried by the mTLS peer channel (message types
// of the peer dispatch, JSON payloads). UDP carries data packets only, so a
// datagram from anyone never creates state or gets an answer.
//
//   initiator                          responder
//   Offer {epoch, index, kx, port, mac, ciphers}  ->
//                                      installs the receive key of epoch
//   <-  Accept {epoch, index, kx, port, mac, cipher}
//   installs receive and send keys
//   Confirm {epoch}  ->
//                                      switches its send key
//
// The initiator is the node with the smaller SPIFFE ID. Epoch 1 starts a
// session; each rekey offers the next epoch over the same connection.
// Close {reason} ends the session from either side.
enum MessageType : std::uint8_t {
    Offer = 16,
    Accept = 17,
    Confirm = 18,
    Close = 19,
};
inline constexpr std::size_t maxMessage = 1024; // bytes of JSON: bounds every parse

using Mac = std::array<std::uint8_t, 6>;
using KxPublic = std::array<std::uint8_t, 32>;

struct OfferMessage {
    std::uint64_t epoch = 0;
    std::uint32_t index = 0; // the receiver index the sender wants in its packets
    KxPublic kx{};
    std::uint16_t port = 0; // the sender's UDP port
    Mac mac{};              // the sender's mesh-side MAC
    forward::CipherOffer ciphers;
};
struct AcceptMessage {
    std::uint64_t epoch = 0;
    std::uint32_t index = 0;
    KxPublic kx{};
    std::uint16_t port = 0;
    Mac mac{};
    forward::Cipher cipher = forward::Cipher::ChaCha20Poly1305;
};
struct ConfirmMessage {
    std::uint64_t epoch = 0;
};
struct CloseMessage {
    std::string reason; // printable ASCII, at most 200 bytes
};

std::vector<std::uint8_t> encode(const OfferMessage &m);
std::vector<std::uint8_t> encode(const AcceptMessage &m);
std::vector<std::uint8_t> encode(const ConfirmMessage &m);
std::vector<std::uint8_t> encode(const CloseMessage &m);

// Each parse checks the whole message (size first, then every field and no
// unknown one): the message, or what is wrong with it.
std::variant<OfferMessage, std::string> parseOffer(std::span<const std::uint8_t> payload);
std::variant<AcceptMessage, std::string> parseAccept(std::span<const std::uint8_t> payload);
std::variant<ConfirmMessage, std::string> parseConfirm(std::span<const std::uint8_t> payload);
std::variant<CloseMessage, std::string> parseClose(std::span<const std::uint8_t> payload);

std::string macString(const Mac &mac);

} // namespace meshd::tunnel
