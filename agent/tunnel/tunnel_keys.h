// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "aead.h"
#include "key_schedule.h"
#include "key_slots.h"
#include "tunnel_messages.h"

namespace meshd::tunnel {

// The keys of one epoch, made for `workers` workers.
struct EpochKeys {
    std::unique_ptr<forward::RxKey> rx;
    std::unique_ptr<forward::TxKey> tx;
};

// What binds an epoch's keys to the peer channel's TLS session: the exporter
// (SSL_export_keying_material) with forward::exporterLabel and this context.
std::string exporterContextFor(std::string_view clientId, std::string_view serverId,
                               std::uint64_t epoch);

// Derives an epoch's keys from this node's ephemeral X25519 pair, the peer's
// public key and the exporter secret. role: this node's side of the TLS
// session (the dialling side is the client). The keys, or why not.
std::variant<EpochKeys, std::string> deriveEpochKeys(forward::Role role,
                                                     const forward::KxKeyPair &local,
                                                     const KxPublic &peer,
                                                     const std::uint8_t *exporterSecret,
                                                     std::uint64_t epoch, forward::Cipher cipher,
                                                     forward::Library library, unsigned workers);

// The AEAD library used for a cipher, where both can run it: the one
// measured faster here (tests/bench/forward, BENCHMARKS.md).
forward::Library libraryFor(forward::Cipher cipher);

} // namespace meshd::tunnel
