// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include "aead.h"

#include <optional>
#include <string>
#include <string_view>

namespace meshd::forward {

// tunnel.cipher in the config.
enum class CipherChoice : std::uint8_t { Auto, ChaCha20Poly1305, Aes256Gcm };
// "auto", "chacha20-poly1305", "aes-256-gcm"; nullopt for anything else.
std::optional<CipherChoice> parseCipherChoice(std::string_view text);
const char *cipherChoiceName(CipherChoice choice);

// What a peer announces in its hello: the ciphers it can run, whether it has
// AES instructions, and its own tunnel.cipher.
struct CipherOffer {
    bool chacha20Poly1305 = true;
    bool aes256Gcm = true;
    bool hasAes = false;
    CipherChoice choice = CipherChoice::Auto;
};

struct CipherDecision {
    Cipher cipher = Cipher::ChaCha20Poly1305;
    std::string error; // empty when a cipher was agreed
    bool ok() const { return error.empty(); }
};

// The cipher for one peer. Both ends reach the same answer from each other's
// offers (this node runs both ciphers): a cipher forced on either side wins
// if the other side offers it, and is an error if it does not (or forces
// another); with auto on both sides, AES-256-GCM only when both have AES
// instructions, else ChaCha20-Poly1305.
CipherDecision negotiateCipher(CipherChoice local, bool localHasAes, const CipherOffer &peer);

} // namespace meshd::forward
