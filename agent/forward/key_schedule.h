// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace meshd::forward {

inline constexpr std::size_t tunnelKeySize = 32;
inline constexpr std::size_t kxPublicKeySize = 32;
inline constexpr std::size_t kxSecretKeySize = 32;
inline constexpr std::size_t exporterSecretSize = 32;
// The label for SSL_export_keying_material (RFC 5705 / RFC 8446 section 7.5).
inline constexpr std::string_view exporterLabel = "EXPORTER-meshd-tunnel";

// Which side of the handshake this node took: the crypto_kx client is the
// mTLS client. Explicit so that each end knows which label is its tx.
enum class Role : std::uint8_t { Client, Server };

// 32 secret bytes, wiped when destroyed.
struct SecretKey {
    std::array<std::uint8_t, tunnelKeySize> bytes{};
    SecretKey() = default;
    SecretKey(const SecretKey &other) = default;
    SecretKey &operator=(const SecretKey &other) = default;
    ~SecretKey();
    const std::uint8_t *data() const { return bytes.data(); }
    std::uint8_t *data() { return bytes.data(); }
};

// One X25519 key pair for one handshake (crypto_kx_keypair).
struct KxKeyPair {
    std::array<std::uint8_t, kxPublicKeySize> publicKey{};
    SecretKey secretKey;
};

// crypto_kx's two session keys, named from this node's point of view.
struct KxSessionKeys {
    SecretKey rx;
    SecretKey tx;
};

// The keys of one epoch: tx seals what this node sends, rx opens what it
// receives. The peer derives the same pair the other way round.
struct DirectionKeys {
    SecretKey tx;
    SecretKey rx;
};

// 0 or -ENOTSUP (libsodium unusable).
int makeKxKeyPair(KxKeyPair &out);
// crypto_kx_client_session_keys / crypto_kx_server_session_keys by role:
// 0, or -EINVAL for a peer public key that is not acceptable (low order).
int kxSessionKeys(Role role, const KxKeyPair &local, const std::uint8_t *peerPublicKey,
                  KxSessionKeys &out);

// The exporter context that binds the keys to both identities and the epoch:
// client SPIFFE ID, NUL, server SPIFFE ID, NUL, epoch (8 bytes big-endian).
std::string exporterContext(std::string_view clientId, std::string_view serverId,
                            std::uint64_t epoch);

// tx/rx keys for one epoch: keyed BLAKE2b-256, keyed by the crypto_kx session
// key of that direction, over a direction label ("meshd tunnel v1
// client->server" or "... server->client"), the epoch and the 32-byte
// exporter secret. The labels name the direction, not the side, so the
// client's tx is the server's rx. 0 or -EINVAL (no exporter secret).
int deriveDirectionKeys(Role role, const KxSessionKeys &kx, const std::uint8_t *exporterSecret,
                        std::uint64_t epoch, DirectionKeys &out);

} // namespace meshd::forward
