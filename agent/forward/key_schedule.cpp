// SPDX-License-Identifier: GPL-2.0-or-later
#include "key_schedule.h"

#include "aead_backends.h"

#include <cerrno>
#include <sodium.h>

namespace meshd::forward {

namespace {
constexpr std::string_view clientToServer = "meshd tunnel v1 client->server";
constexpr std::string_view serverToClient = "meshd tunnel v1 server->client";

void putBe64(std::uint8_t *p, std::uint64_t v)
{
    for (int i = 7; i >= 0; --i, v >>= 8)
        p[i] = std::uint8_t(v);
}

int derive(std::string_view label, const SecretKey &kxKey, const std::uint8_t *exporterSecret,
           std::uint64_t epoch, SecretKey &out)
{
    std::uint8_t epochBytes[8];
    putBe64(epochBytes, epoch);
    crypto_generichash_state state;
    int rc = crypto_generichash_init(&state, kxKey.data(), tunnelKeySize, tunnelKeySize);
    rc |= crypto_generichash_update(&state, reinterpret_cast<const unsigned char *>(label.data()),
                                    label.size());
    rc |= crypto_generichash_update(&state, epochBytes, sizeof epochBytes);
    rc |= crypto_generichash_update(&state, exporterSecret, exporterSecretSize);
    rc |= crypto_generichash_final(&state, out.data(), tunnelKeySize);
    sodium_memzero(&state, sizeof state);
    return rc == 0 ? 0 : -EINVAL;
}
} // namespace

SecretKey::~SecretKey() { sodium_memzero(bytes.data(), bytes.size()); }

int makeKxKeyPair(KxKeyPair &out)
{
    if (!detail::sodiumReady())
        return -ENOTSUP;
    crypto_kx_keypair(out.publicKey.data(), out.secretKey.data());
    return 0;
}

int kxSessionKeys(Role role, const KxKeyPair &local, const std::uint8_t *peerPublicKey,
                  KxSessionKeys &out)
{
    if (!detail::sodiumReady())
        return -ENOTSUP;
    if (!peerPublicKey)
        return -EINVAL;
    int rc = role == Role::Client
                 ? crypto_kx_client_session_keys(out.rx.data(), out.tx.data(),
                                                 local.publicKey.data(), local.secretKey.data(),
                                                 peerPublicKey)
                 : crypto_kx_server_session_keys(out.rx.data(), out.tx.data(),
                                                 local.publicKey.data(), local.secretKey.data(),
                                                 peerPublicKey);
    return rc == 0 ? 0 : -EINVAL;
}

std::string exporterContext(std::string_view clientId, std::string_view serverId,
                            std::uint64_t epoch)
{
    std::string context;
    context.reserve(clientId.size() + serverId.size() + 10);
    context.append(clientId);
    context.push_back('\0');
    context.append(serverId);
    context.push_back('\0');
    std::uint8_t epochBytes[8];
    putBe64(epochBytes, epoch);
    context.append(reinterpret_cast<const char *>(epochBytes), sizeof epochBytes);
    return context;
}

int deriveDirectionKeys(Role role, const KxSessionKeys &kx, const std::uint8_t *exporterSecret,
                        std::uint64_t epoch, DirectionKeys &out)
{
    if (!exporterSecret)
        return -EINVAL;
    if (!detail::sodiumReady())
        return -ENOTSUP;
    std::string_view txLabel = role == Role::Client ? clientToServer : serverToClient;
    std::string_view rxLabel = role == Role::Client ? serverToClient : clientToServer;
    if (int rc = derive(txLabel, kx.tx, exporterSecret, epoch, out.tx); rc < 0)
        return rc;
    return derive(rxLabel, kx.rx, exporterSecret, epoch, out.rx);
}

} // namespace meshd::forward
