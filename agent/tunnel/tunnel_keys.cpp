// SPDX-License-Identifier: GPL-2.0-or-later
#include "tunnel_keys.h"

#include <cerrno>
#include <cstring>

namespace meshd::tunnel {

std::string exporterContextFor(std::string_view clientId, std::string_view serverId,
                               std::uint64_t epoch)
{
    return forward::exporterContext(clientId, serverId, epoch);
}

std::variant<EpochKeys, std::string> deriveEpochKeys(forward::Role role,
                                                     const forward::KxKeyPair &local,
                                                     const KxPublic &peer,
                                                     const std::uint8_t *exporterSecret,
                                                     std::uint64_t epoch, forward::Cipher cipher,
                                                     forward::Library library, unsigned workers)
{
    forward::KxSessionKeys kx;
    if (forward::kxSessionKeys(role, local, peer.data(), kx) < 0)
        return std::string("the peer's key exchange key is not acceptable");
    forward::DirectionKeys keys;
    if (forward::deriveDirectionKeys(role, kx, exporterSecret, epoch, keys) < 0)
        return std::string("cannot derive the epoch's keys");
    EpochKeys out;
    int err = 0;
    out.rx = forward::RxKey::create(cipher, library, keys.rx.data(), workers, &err);
    if (!out.rx)
        return std::string("cannot make the receive key: ") + strerror(-err);
    out.tx = forward::TxKey::create(cipher, library, keys.tx.data(), workers, &err);
    if (!out.tx)
        return std::string("cannot make the send key: ") + strerror(-err);
    return out;
}

forward::Library libraryFor(forward::Cipher cipher)
{
    // OpenSSL's EVP was the faster of the two for both ciphers in
    // tests/bench/forward here (see BENCHMARKS.md); libsodium where OpenSSL
    // cannot make the key.
    if (forward::aeadAvailable(cipher, forward::Library::OpenSsl))
        return forward::Library::OpenSsl;
    return forward::Library::Sodium;
}

} // namespace meshd::tunnel
