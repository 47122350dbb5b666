// SPDX-License-Identifier: GPL-2.0-or-later
#include "aead.h"

#include "cipher_negotiation.h"
#include "wire.h"

#include <catch2/catch.hpp>
#include <string>
#include <utility>
#include <vector>

using namespace meshd::forward;

namespace {
using Bytes = std::vector<std::uint8_t>;

Bytes hex(const std::string &text)
{
    Bytes out;
    for (std::size_t i = 0; i + 1 < text.size(); i += 2)
        out.push_back(std::uint8_t(std::stoi(text.substr(i, 2), nullptr, 16)));
    return out;
}

const std::pair<Cipher, Library> allPairs[] = {
    {Cipher::ChaCha20Poly1305, Library::Sodium},
    {Cipher::ChaCha20Poly1305, Library::OpenSsl},
    {Cipher::Aes256Gcm, Library::Sodium},
    {Cipher::Aes256Gcm, Library::OpenSsl},
};

Bytes key(std::uint8_t seed)
{
    Bytes k(aeadKeySize);
    for (std::size_t i = 0; i < k.size(); ++i)
        k[i] = std::uint8_t(seed + i * 7);
    return k;
}

std::unique_ptr<Aead> make(Cipher c, Library l, const Bytes &k)
{
    AeadResult r = makeAead(c, l, k.data());
    REQUIRE(r.error == 0);
    REQUIRE(r.aead);
    CHECK(r.aead->cipher() == c);
    CHECK(r.aead->library() == l);
    return std::move(r.aead);
}

// A datagram as the tunnel sends it: header (the AAD), payload, tag room.
struct Packet {
    Bytes bytes;
    std::size_t payload;
    std::uint8_t *header() { return bytes.data(); }
    std::uint8_t *body() { return bytes.data() + wire::headerSize; }
};

Packet sealed(Aead &aead, std::uint64_t counter, std::size_t payload)
{
    Packet p{Bytes(wire::headerSize + payload + aeadTagSize), payload};
    wire::encode({wire::PacketType::Data, 1, 77, counter}, p.header());
    for (std::size_t i = 0; i < payload; ++i)
        p.body()[i] = std::uint8_t(i * 13 + 1);
    REQUIRE(aead.seal(counter, p.header(), wire::headerSize, p.body(), payload));
    return p;
}

bool plaintextOk(Packet &p)
{
    for (std::size_t i = 0; i < p.payload; ++i)
        if (p.body()[i] != std::uint8_t(i * 13 + 1))
            return false;
    return true;
}
} // namespace

TEST_CASE("aead: the implementations this machine runs", "[forward][aead]")
{
    CHECK(aeadAvailable(Cipher::ChaCha20Poly1305, Library::Sodium));
    CHECK(aeadAvailable(Cipher::ChaCha20Poly1305, Library::OpenSsl));
    CHECK(aeadAvailable(Cipher::Aes256Gcm, Library::OpenSsl));
    CHECK(aeadAvailable(Cipher::Aes256Gcm, Library::Sodium) == cpuHasAes());
    if (!cpuHasAes()) {
        Bytes k = key(1);
        CHECK(makeAead(Cipher::Aes256Gcm, Library::Sodium, k.data()).error == -ENOTSUP);
    }
    CHECK(makeAead(Cipher::ChaCha20Poly1305, Library::Sodium, nullptr).error == -EINVAL);
    CHECK(std::string(cipherName(Cipher::Aes256Gcm)) == "aes-256-gcm");
    CHECK(std::string(libraryName(Library::OpenSsl)) == "openssl");
}

TEST_CASE("aead: round trip in place, every implementation and size", "[forward][aead]")
{
    for (auto [cipher, library] : allPairs) {
        if (!aeadAvailable(cipher, library))
            continue;
        INFO(cipherName(cipher) << " " << libraryName(library));
        auto aead = make(cipher, library, key(3));
        for (std::size_t size : {0, 1, 15, 16, 17, 64, 1400, 1600, 9216}) {
            INFO("payload " << size);
            Packet p = sealed(*aead, 1000 + size, size);
            if (size >= 16)
                CHECK_FALSE(plaintextOk(p));
            CHECK(aead->open(1000 + size, p.header(), wire::headerSize, p.body(), size));
            CHECK(plaintextOk(p));
        }
        // The same object again and again: contexts are reused, not used up.
        for (std::uint64_t counter = 0; counter < 100; ++counter) {
            Packet p = sealed(*aead, counter, 64);
            REQUIRE(aead->open(counter, p.header(), wire::headerSize, p.body(), 64));
            REQUIRE(plaintextOk(p));
        }
    }
}

TEST_CASE("aead: tampering fails, and leaves the buffer where promised", "[forward][aead]")
{
    for (auto [cipher, library] : allPairs) {
        if (!aeadAvailable(cipher, library))
            continue;
        INFO(cipherName(cipher) << " " << libraryName(library));
        auto aead = make(cipher, library, key(5));
        const std::size_t size = 200;
        Packet good = sealed(*aead, 42, size);
        std::size_t positions[] = {0, 8, 15,                                 // header (AAD)
                                   wire::headerSize, wire::headerSize + 199, // ciphertext
                                   wire::headerSize + size, good.bytes.size() - 1}; // tag
        for (std::size_t at : positions) {
            for (std::uint8_t bit : {0x01, 0x80}) {
                INFO("byte " << at << " bit " << int(bit));
                Packet bad = good;
                bad.bytes[at] ^= bit;
                Bytes before = bad.bytes;
                CHECK_FALSE(aead->open(42, bad.header(), wire::headerSize, bad.body(), size));
                if (aead->keepsBufferOnFailure())
                    CHECK(bad.bytes == before);
            }
        }
        Packet copy = good;
        CHECK_FALSE(aead->open(43, copy.header(), wire::headerSize, copy.body(), size)); // wrong counter
        if (aead->keepsBufferOnFailure())
            CHECK(copy.bytes == good.bytes);
        auto other = make(cipher, library, key(6));
        copy = good;
        CHECK_FALSE(other->open(42, copy.header(), wire::headerSize, copy.body(), size)); // wrong key
        // After failures the object still opens good packets.
        copy = good;
        CHECK(aead->open(42, copy.header(), wire::headerSize, copy.body(), size));
        CHECK(plaintextOk(copy));
    }
}

TEST_CASE("aead: libsodium and OpenSSL interoperate", "[forward][aead]")
{
    for (Cipher cipher : {Cipher::ChaCha20Poly1305, Cipher::Aes256Gcm}) {
        if (!aeadAvailable(cipher, Library::Sodium))
            continue;
        INFO(cipherName(cipher));
        auto sodium = make(cipher, Library::Sodium, key(9));
        auto openssl = make(cipher, Library::OpenSsl, key(9));
        for (std::size_t size : {0, 64, 1400}) {
            Packet a = sealed(*sodium, 7, size);
            Packet b = sealed(*openssl, 7, size);
            CHECK(a.bytes == b.bytes); // same key, nonce, AAD, plaintext: same bytes
            CHECK(openssl->open(7, a.header(), wire::headerSize, a.body(), size));
            CHECK(plaintextOk(a));
            CHECK(sodium->open(7, b.header(), wire::headerSize, b.body(), size));
            CHECK(plaintextOk(b));
        }
    }
}

TEST_CASE("aead: RFC 8439 section 2.8.2 test vector", "[forward][aead]")
{
    const Bytes k = hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
    const Bytes nonce = hex("070000004041424344454647");
    const Bytes aad = hex("50515253c0c1c2c3c4c5c6c7");
    const std::string text = "Ladies and Gentlemen of the class of '99: If I could offer you only "
                             "one tip for the future, sunscreen would be it.";
    const Bytes ciphertext = hex(
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
        "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
        "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
        "3ff4def08e4b7a9de576d26586cec64b6116");
    const Bytes tag = hex("1ae10b594f09e26a7e902ecbd0600691");
    REQUIRE(text.size() == 114);
    REQUIRE(ciphertext.size() == 114);
    for (Library library : {Library::Sodium, Library::OpenSsl}) {
        INFO(libraryName(library));
        auto aead = make(Cipher::ChaCha20Poly1305, library, k);
        Bytes buf(text.begin(), text.end());
        buf.resize(text.size() + aeadTagSize);
        REQUIRE(aead->sealNonce(nonce.data(), aad.data(), aad.size(), buf.data(), text.size()));
        CHECK(Bytes(buf.begin(), buf.begin() + 114) == ciphertext);
        CHECK(Bytes(buf.begin() + 114, buf.end()) == tag);
        REQUIRE(aead->openNonce(nonce.data(), aad.data(), aad.size(), buf.data(), text.size()));
        CHECK(std::string(buf.begin(), buf.begin() + 114) == text);
    }
}

TEST_CASE("aead: AES-256-GCM test case 16 of the GCM specification", "[forward][aead]")
{
    const Bytes k = hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
    const Bytes iv = hex("cafebabefacedbaddecaf888");
    const Bytes aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    const Bytes plain = hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
                            "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
    const Bytes cipher = hex("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
                             "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662");
    const Bytes tag = hex("76fc6ece0f4e1768cddf8853bb2d551b");
    for (Library library : {Library::Sodium, Library::OpenSsl}) {
        if (!aeadAvailable(Cipher::Aes256Gcm, library))
            continue;
        INFO(libraryName(library));
        auto aead = make(Cipher::Aes256Gcm, library, k);
        Bytes buf = plain;
        buf.resize(plain.size() + aeadTagSize);
        REQUIRE(aead->sealNonce(iv.data(), aad.data(), aad.size(), buf.data(), plain.size()));
        CHECK(Bytes(buf.begin(), buf.begin() + long(plain.size())) == cipher);
        CHECK(Bytes(buf.begin() + long(plain.size()), buf.end()) == tag);
        REQUIRE(aead->openNonce(iv.data(), aad.data(), aad.size(), buf.data(), plain.size()));
        CHECK(Bytes(buf.begin(), buf.begin() + long(plain.size())) == plain);
    }
}

TEST_CASE("aead: cipher negotiation", "[forward][aead][negotiation]")
{
    using C = CipherChoice;
    const auto chacha = Cipher::ChaCha20Poly1305;
    const auto aes = Cipher::Aes256Gcm;
    struct Row {
        C local;
        bool localAes;
        CipherOffer peer;
        bool ok;
        Cipher cipher;
    };
    const Row rows[] = {
        // auto on both sides: AES only when both have AES instructions
        {C::Auto, true, {true, true, true, C::Auto}, true, aes},
        {C::Auto, true, {true, true, false, C::Auto}, true, chacha},
        {C::Auto, false, {true, true, true, C::Auto}, true, chacha},
        {C::Auto, false, {true, true, false, C::Auto}, true, chacha},
        {C::Auto, true, {true, false, true, C::Auto}, true, chacha}, // peer offers no AES
        {C::Auto, false, {false, true, false, C::Auto}, true, aes},  // peer offers only AES
        {C::Auto, true, {false, false, true, C::Auto}, false, chacha},
        // forced here
        {C::Aes256Gcm, false, {true, true, false, C::Auto}, true, aes},
        {C::ChaCha20Poly1305, true, {true, true, true, C::Auto}, true, chacha},
        {C::Aes256Gcm, true, {true, false, true, C::Auto}, false, aes},
        {C::ChaCha20Poly1305, true, {false, true, true, C::Auto}, false, chacha},
        // forced by the peer
        {C::Auto, true, {true, true, true, C::ChaCha20Poly1305}, true, chacha},
        {C::Auto, false, {true, true, false, C::Aes256Gcm}, true, aes},
        // forced on both sides
        {C::Aes256Gcm, true, {true, true, true, C::Aes256Gcm}, true, aes},
        {C::Aes256Gcm, true, {true, true, true, C::ChaCha20Poly1305}, false, aes},
    };
    int i = 0;
    for (const Row &row : rows) {
        INFO("row " << i++);
        CipherDecision d = negotiateCipher(row.local, row.localAes, row.peer);
        CHECK(d.ok() == row.ok);
        if (row.ok)
            CHECK(d.cipher == row.cipher);
        else
            CHECK_FALSE(d.error.empty());
    }
    // Both ends agree: each side's answer from the other's offer.
    for (C a : {C::Auto, C::ChaCha20Poly1305, C::Aes256Gcm})
        for (C b : {C::Auto, C::ChaCha20Poly1305, C::Aes256Gcm})
            for (bool aAes : {false, true})
                for (bool bAes : {false, true}) {
                    CipherDecision ab = negotiateCipher(a, aAes, {true, true, bAes, b});
                    CipherDecision ba = negotiateCipher(b, bAes, {true, true, aAes, a});
                    CHECK(ab.ok() == ba.ok());
                    if (ab.ok() && ba.ok())
                        CHECK(ab.cipher == ba.cipher);
                }
    CHECK(negotiateCipher(C::Aes256Gcm, true, {true, false, true, C::Auto}).error ==
          "tunnel.cipher is aes-256-gcm but the peer does not offer it");
    CHECK(parseCipherChoice("auto") == C::Auto);
    CHECK(parseCipherChoice("aes-256-gcm") == C::Aes256Gcm);
    CHECK(parseCipherChoice("chacha20-poly1305") == C::ChaCha20Poly1305);
    CHECK_FALSE(parseCipherChoice("AES").has_value());
    CHECK(std::string(cipherChoiceName(C::Auto)) == "auto");
}
