// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace meshd::forward {

inline constexpr std::size_t aeadKeySize = 32;
inline constexpr std::size_t aeadTagSize = 16;
inline constexpr std::size_t aeadNonceSize = 12;

enum class Cipher : std::uint8_t { ChaCha20Poly1305, Aes256Gcm };
enum class Library : std::uint8_t { Sodium, OpenSsl };
const char *cipherName(Cipher cipher);   // "chacha20-poly1305", "aes-256-gcm"
const char *libraryName(Library library); // "libsodium", "openssl"

using Nonce = std::array<std::uint8_t, aeadNonceSize>;
// Four zero bytes and the counter big-endian (RFC 8439 section 2.8 leaves
// the layout to the protocol; ours matches WireGuard's but big-endian).
Nonce nonceFor(std::uint64_t counter) noexcept;

// In-place authenticated encryption with a detached 16-byte tag kept right
// after the ciphertext. One key per object, set at creation; nothing is
// allocated per packet. An object is used by one thread at a time (the
// OpenSSL ones keep per-object cipher contexts): a worker has its own.
class Aead {
public:
    virtual ~Aead() = default;
    virtual Cipher cipher() const noexcept = 0;
    virtual Library library() const noexcept = 0;
    // Whether a failed open() leaves the buffer as it was. libsodium 1.0.18's
    // AES-256-GCM wipes it instead; the others keep it.
    virtual bool keepsBufferOnFailure() const noexcept = 0;

    // Encrypts buf[0, len) in place and writes the tag to buf[len, len + 16).
    virtual bool sealNonce(const std::uint8_t *nonce, const std::uint8_t *aad, std::size_t aadLen,
                           std::uint8_t *buf, std::size_t len) noexcept = 0;
    // Verifies the tag at buf + len over aad and buf[0, len), then decrypts
    // in place. False on a bad tag, with the buffer as keepsBufferOnFailure()
    // says.
    virtual bool openNonce(const std::uint8_t *nonce, const std::uint8_t *aad, std::size_t aadLen,
                           std::uint8_t *buf, std::size_t len) noexcept = 0;

    bool seal(std::uint64_t counter, const std::uint8_t *aad, std::size_t aadLen, std::uint8_t *buf,
              std::size_t len) noexcept
    {
        Nonce nonce = nonceFor(counter);
        return sealNonce(nonce.data(), aad, aadLen, buf, len);
    }
    bool open(std::uint64_t counter, const std::uint8_t *aad, std::size_t aadLen, std::uint8_t *buf,
              std::size_t len) noexcept
    {
        Nonce nonce = nonceFor(counter);
        return openNonce(nonce.data(), aad, aadLen, buf, len);
    }
};

struct AeadResult {
    std::unique_ptr<Aead> aead;
    int error = 0; // -ENOTSUP (not on this CPU), -ENOMEM, -EINVAL (the library refused the key)
};

// A fresh object for one key (32 bytes, copied into the library's state).
AeadResult makeAead(Cipher cipher, Library library, const std::uint8_t *key);
// Whether makeAead can succeed for this pair here: libsodium's AES-256-GCM
// needs AES-NI and PCLMUL.
bool aeadAvailable(Cipher cipher, Library library);

// AES and carry-less multiply instructions, as libsodium detects them (x86;
// false elsewhere with libsodium 1.0.18).
bool cpuHasAes();

} // namespace meshd::forward
