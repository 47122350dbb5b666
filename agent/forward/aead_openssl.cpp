// SPDX-License-Identifier: GPL-2.0-or-later
// OpenSSL EVP ChaCha20-Poly1305 and AES-256-GCM. Each object keeps one
// encryption and one decryption context, keyed once; a packet only sets the
// IV on them, which allocates nothing.
#include "aead_backends.h"

#include <cerrno>
#include <climits>
#include <new>
#include <openssl/evp.h>

namespace meshd::forward::detail {

namespace {

class OpenSslAead final : public Aead {
public:
    explicit OpenSslAead(Cipher cipher) : cipher_(cipher) {}
    ~OpenSslAead() override
    {
        // EVP_CIPHER_CTX_free cleanses the key schedule it holds.
        EVP_CIPHER_CTX_free(enc_);
        EVP_CIPHER_CTX_free(dec_);
    }
    OpenSslAead(const OpenSslAead &) = delete;
    OpenSslAead &operator=(const OpenSslAead &) = delete;

    int init(const std::uint8_t *key)
    {
        const EVP_CIPHER *type =
            cipher_ == Cipher::Aes256Gcm ? EVP_aes_256_gcm() : EVP_chacha20_poly1305();
        enc_ = EVP_CIPHER_CTX_new();
        dec_ = EVP_CIPHER_CTX_new();
        if (!enc_ || !dec_)
            return -ENOMEM;
        // Both ciphers default to a 12-byte IV, which is ours.
        if (EVP_EncryptInit_ex(enc_, type, nullptr, key, nullptr) != 1 ||
            EVP_DecryptInit_ex(dec_, type, nullptr, key, nullptr) != 1 ||
            EVP_CIPHER_CTX_get_iv_length(enc_) != int(aeadNonceSize))
            return -EINVAL;
        return 0;
    }

    Cipher cipher() const noexcept override { return cipher_; }
    Library library() const noexcept override { return Library::OpenSsl; }
    bool keepsBufferOnFailure() const noexcept override { return true; }

    bool sealNonce(const std::uint8_t *nonce, const std::uint8_t *aad, std::size_t aadLen,
                   std::uint8_t *buf, std::size_t len) noexcept override
    {
        if (len > INT_MAX || aadLen > INT_MAX)
            return false;
        int out = 0;
        std::uint8_t none[16];
        return EVP_EncryptInit_ex(enc_, nullptr, nullptr, nullptr, nonce) == 1 &&
               (aadLen == 0 || EVP_EncryptUpdate(enc_, nullptr, &out, aad, int(aadLen)) == 1) &&
               (len == 0 || EVP_EncryptUpdate(enc_, buf, &out, buf, int(len)) == 1) &&
               EVP_EncryptFinal_ex(enc_, none, &out) == 1 &&
               EVP_CIPHER_CTX_ctrl(enc_, EVP_CTRL_AEAD_GET_TAG, int(aeadTagSize), buf + len) == 1;
    }

    bool openNonce(const std::uint8_t *nonce, const std::uint8_t *aad, std::size_t aadLen,
                   std::uint8_t *buf, std::size_t len) noexcept override
    {
        if (len > INT_MAX || aadLen > INT_MAX)
            return false;
        int out = 0;
        std::uint8_t none[16];
        if (!start(nonce, aad, aadLen) ||
            EVP_CIPHER_CTX_ctrl(dec_, EVP_CTRL_AEAD_SET_TAG, int(aeadTagSize), buf + len) != 1)
            return false;
        if (len != 0 && EVP_DecryptUpdate(dec_, buf, &out, buf, int(len)) != 1)
            return false;
        if (EVP_DecryptFinal_ex(dec_, none, &out) == 1)
            return true;
        // EVP decrypts before it checks the tag. Both ciphers XOR a keystream,
        // so running it over the buffer again restores the ciphertext.
        if (len != 0 && start(nonce, aad, aadLen))
            EVP_DecryptUpdate(dec_, buf, &out, buf, int(len));
        return false;
    }

private:
    bool start(const std::uint8_t *nonce, const std::uint8_t *aad, std::size_t aadLen) noexcept
    {
        int out = 0;
        return EVP_DecryptInit_ex(dec_, nullptr, nullptr, nullptr, nonce) == 1 &&
               (aadLen == 0 || EVP_DecryptUpdate(dec_, nullptr, &out, aad, int(aadLen)) == 1);
    }

    Cipher cipher_;
    EVP_CIPHER_CTX *enc_ = nullptr;
    EVP_CIPHER_CTX *dec_ = nullptr;
};

} // namespace

AeadResult makeOpenSslAead(Cipher cipher, const std::uint8_t *key)
{
    if (cipher != Cipher::ChaCha20Poly1305 && cipher != Cipher::Aes256Gcm)
        return {nullptr, -EINVAL};
    std::unique_ptr<OpenSslAead> aead(new (std::nothrow) OpenSslAead(cipher));
    if (!aead)
        return {nullptr, -ENOMEM};
    if (int err = aead->init(key); err < 0)
        return {nullptr, err};
    return {std::move(aead), 0};
}

} // namespace meshd::forward::detail
