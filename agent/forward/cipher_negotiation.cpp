// SPDX-License-Identifier: GPL-2.0-or-later
#include "cipher_negotiation.h"

namespace meshd::forward {

namespace {
bool offers(const CipherOffer &offer, Cipher cipher)
{
    return cipher == Cipher::Aes256Gcm ? offer.aes256Gcm : offer.chacha20Poly1305;
}
Cipher forced(CipherChoice choice)
{
    return choice == CipherChoice::Aes256Gcm ? Cipher::Aes256Gcm : Cipher::ChaCha20Poly1305;
}
} // namespace

std::optional<CipherChoice> parseCipherChoice(std::string_view text)
{
    if (text == "auto")
        return CipherChoice::Auto;
    if (text == "chacha20-poly1305")
        return CipherChoice::ChaCha20Poly1305;
    if (text == "aes-256-gcm")
        return CipherChoice::Aes256Gcm;
    return std::nullopt;
}

const char *cipherChoiceName(CipherChoice choice)
{
    return choice == CipherChoice::Auto ? "auto" : cipherName(forced(choice));
}

CipherDecision negotiateCipher(CipherChoice local, bool localHasAes, const CipherOffer &peer)
{
    if (local != CipherChoice::Auto) {
        Cipher want = forced(local);
        if (!offers(peer, want))
            return {want, std::string("tunnel.cipher is ") + cipherName(want) +
                              " but the peer does not offer it"};
        if (peer.choice != CipherChoice::Auto && forced(peer.choice) != want)
            return {want, std::string("tunnel.cipher is ") + cipherName(want) +
                              " but the peer requires " + cipherName(forced(peer.choice))};
        return {want, {}};
    }
    if (peer.choice != CipherChoice::Auto)
        return {forced(peer.choice), {}}; // this node runs both
    bool aes = localHasAes && peer.hasAes && peer.aes256Gcm;
    if (aes || !peer.chacha20Poly1305) {
        if (!peer.aes256Gcm)
            return {Cipher::ChaCha20Poly1305, "the peer offers no cipher"};
        return {Cipher::Aes256Gcm, {}};
    }
    return {Cipher::ChaCha20Poly1305, {}};
}

} // namespace meshd::forward
