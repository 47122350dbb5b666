// SPDX-License-Identifier: GPL-2.0-or-later
// libsodium's ChaCha20-Poly1305 (IETF, RFC 8439) and AES-256-GCM.
#include "aead_backends.h"

#include <cerrno>
#include <new>
#include <sodium.h>

namespace meshd::forward::detail {

bool sodiumReady()
{
    // sodium_init() is safe to call from several threads and returns 1 once done.
    static const bool ready = sodium_init() >= 0;
    return ready;
}

namespace {

class SodiumChaCha20Poly1305 final : public Aead {
public:
    explicit SodiumChaCha20Poly1305(const std::uint8_t *key)
    {
        for (std::size_t i = 0; i < sizeof key_; ++i)
            key_[i] = key[i];
    }
    ~SodiumChaCha20Poly1305() override { sodium_memzero(key_, sizeof key_); }

    Cipher cipher() const noexcept override { return Cipher::ChaCha20Poly1305; }
    Library library() const noexcept override { return Library::Sodium; }
    bool keepsBufferOnFailure() const noexcept override { return true; }

    bool sealNonce(const std::uint8_t *nonce, const std::uint8_t *aad, std::size_t aadLen,
                   std::uint8_t *buf, std::size_t len) noexcept override
    {
        return crypto_aead_chacha20poly1305_ietf_encrypt_detached(
                   buf, buf + len, nullptr, buf, len, aad, aadLen, nullptr, nonce, key_) == 0;
    }

    bool openNonce(const std::uint8_t *nonce, const std::uint8_t *aad, std::size_t aadLen,
                   std::uint8_t *buf, std::size_t len) noexcept override
    {
        // Verify only (no output buffer): libsodium zeroes the output of a
        // failed decryption, which in place would destroy the ciphertext.
        if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(nullptr, nullptr, buf, len, buf + len,
                                                               aad, aadLen, nonce, key_) != 0)
            return false;
        // Then decrypt: RFC 8439 encrypts from block counter 1 (block 0 made the Poly1305 key).
        return crypto_stream_chacha20_ietf_xor_ic(buf, buf, len, nonce, 1, key_) == 0;
    }

private:
    std::uint8_t key_[crypto_aead_chacha20poly1305_ietf_KEYBYTES];
};

class SodiumAes256Gcm final : public Aead {
public:
    explicit SodiumAes256Gcm(const std::uint8_t *key) { crypto_aead_aes256gcm_beforenm(&state_, key); }
    ~SodiumAes256Gcm() override { sodium_memzero(&state_, sizeof state_); }

    Cipher cipher() const noexcept override { return Cipher::Aes256Gcm; }
    Library library() const noexcept override { return Library::Sodium; }
    bool keepsBufferOnFailure() const noexcept override { return false; }

    bool sealNonce(const std::uint8_t *nonce, const std::uint8_t *aad, std::size_t aadLen,
                   std::uint8_t *buf, std::size_t len) noexcept override
    {
        return crypto_aead_aes256gcm_encrypt_detached_afternm(buf, buf + len, nullptr, buf, len, aad,
                                                              aadLen, nullptr, nonce, &state_) == 0;
    }

    bool openNonce(const std::uint8_t *nonce, const std::uint8_t *aad, std::size_t aadLen,
                   std::uint8_t *buf, std::size_t len) noexcept override
    {
        // On a bad tag libsodium wipes buf (it decrypts while it authenticates).
        return crypto_aead_aes256gcm_decrypt_detached_afternm(buf, nullptr, buf, len, buf + len, aad,
                                                              aadLen, nonce, &state_) == 0;
    }

private:
    // The expanded key schedule (libsodium aligns the type to 16 bytes).
    crypto_aead_aes256gcm_state state_;
};

} // namespace

AeadResult makeSodiumAead(Cipher cipher, const std::uint8_t *key)
{
    if (!sodiumReady())
        return {nullptr, -ENOTSUP};
    std::unique_ptr<Aead> aead;
    switch (cipher) {
    case Cipher::ChaCha20Poly1305:
        aead.reset(new (std::nothrow) SodiumChaCha20Poly1305(key));
        break;
    case Cipher::Aes256Gcm:
        if (!crypto_aead_aes256gcm_is_available())
            return {nullptr, -ENOTSUP};
        aead.reset(new (std::nothrow) SodiumAes256Gcm(key));
        break;
    default:
        return {nullptr, -EINVAL};
    }
    if (!aead)
        return {nullptr, -ENOMEM};
    return {std::move(aead), 0};
}

} // namespace meshd::forward::detail
