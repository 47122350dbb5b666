// SPDX-License-Identifier: GPL-2.0-or-later
#include "aead.h"

#include "aead_backends.h"

#include <cerrno>
#include <sodium.h>

namespace meshd::forward {

const char *cipherName(Cipher cipher)
{
    switch (cipher) {
    case Cipher::ChaCha20Poly1305:
        return "chacha20-poly1305";
    case Cipher::Aes256Gcm:
        return "aes-256-gcm";
    }
    return "unknown";
}

const char *libraryName(Library library)
{
    switch (library) {
    case Library::Sodium:
        return "libsodium";
    case Library::OpenSsl:
        return "openssl";
    }
    return "unknown";
}

Nonce nonceFor(std::uint64_t counter) noexcept
{
    Nonce nonce{};
    for (int i = 11; i >= 4; --i, counter >>= 8)
        nonce[i] = std::uint8_t(counter);
    return nonce;
}

AeadResult makeAead(Cipher cipher, Library library, const std::uint8_t *key)
{
    if (!key)
        return {nullptr, -EINVAL};
    switch (library) {
    case Library::Sodium:
        return detail::makeSodiumAead(cipher, key);
    case Library::OpenSsl:
        return detail::makeOpenSslAead(cipher, key);
    }
    return {nullptr, -EINVAL};
}

bool aeadAvailable(Cipher cipher, Library library)
{
    if (library == Library::Sodium && cipher == Cipher::Aes256Gcm)
        return detail::sodiumReady() && crypto_aead_aes256gcm_is_available();
    return library == Library::OpenSsl || detail::sodiumReady();
}

bool cpuHasAes()
{
    return detail::sodiumReady() && sodium_runtime_has_aesni() && sodium_runtime_has_pclmul();
}

} // namespace meshd::forward
