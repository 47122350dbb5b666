// SPDX-License-Identifier: GPL-2.0-or-later
#include <catch2/catch.hpp>

#include <cstring>
#include <nlohmann/json.hpp>

#include "tunnel_keys.h"
#include "tunnel_messages.h"

using namespace meshd;
using namespace meshd::tunnel;
using nlohmann::json;

namespace {

std::span<const std::uint8_t> view(const std::string &s)
{
    return {reinterpret_cast<const std::uint8_t *>(s.data()), s.size()};
}

OfferMessage sampleOffer()
{
    OfferMessage m;
    m.epoch = 7;
    m.index = 0xdeadbeef;
    for (std::size_t i = 0; i < m.kx.size(); ++i)
        m.kx[i] = std::uint8_t(i * 3);
    m.port = 7947;
    m.mac = {0x02, 0x00, 0x5e, 0x10, 0xab, 0xcd};
    m.ciphers.hasAes = true;
    m.ciphers.choice = forward::CipherChoice::Aes256Gcm;
    return m;
}

} // namespace

TEST_CASE("tunnel messages round-trip", "[tunnel]")
{
    OfferMessage o = sampleOffer();
    auto parsed = parseOffer(encode(o));
    REQUIRE(std::holds_alternative<OfferMessage>(parsed));
    const auto &p = std::get<OfferMessage>(parsed);
    CHECK(p.epoch == 7);
    CHECK(p.index == 0xdeadbeef);
    CHECK(p.kx == o.kx);
    CHECK(p.port == 7947);
    CHECK(p.mac == o.mac);
    CHECK(p.ciphers.chacha20Poly1305);
    CHECK(p.ciphers.aes256Gcm);
    CHECK(p.ciphers.hasAes);
    CHECK(p.ciphers.choice == forward::CipherChoice::Aes256Gcm);

    AcceptMessage a;
    a.epoch = 1;
    a.index = 5;
    a.kx = o.kx;
    a.port = 1;
    a.mac = o.mac;
    a.cipher = forward::Cipher::Aes256Gcm;
    auto pa = parseAccept(encode(a));
    REQUIRE(std::holds_alternative<AcceptMessage>(pa));
    CHECK(std::get<AcceptMessage>(pa).cipher == forward::Cipher::Aes256Gcm);
    CHECK(std::get<AcceptMessage>(pa).index == 5);

    auto pc = parseConfirm(encode(ConfirmMessage{9}));
    REQUIRE(std::holds_alternative<ConfirmMessage>(pc));
    CHECK(std::get<ConfirmMessage>(pc).epoch == 9);

    auto pl = parseClose(encode(CloseMessage{"bye\nnow"}));
    REQUIRE(std::holds_alternative<CloseMessage>(pl));
    CHECK(std::get<CloseMessage>(pl).reason == "bye?now"); // control bytes replaced
    CHECK(macString(o.mac) == "02:00:5e:10:ab:cd");
}

TEST_CASE("bad tunnel messages are refused with a reason", "[tunnel]")
{
    json good = json::parse(std::string(reinterpret_cast<const char *>(encode(sampleOffer()).data()),
                                        encode(sampleOffer()).size()));
    auto offerWith = [&](const char *key, json value) {
        json j = good;
        if (value.is_discarded())
            j.erase(key);
        else
            j[key] = std::move(value);
        auto r = parseOffer(view(j.dump()));
        return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : std::string();
    };
    CHECK(offerWith("epoch", 3).empty());
    CHECK_THAT(offerWith("epoch", 0), Catch::Contains("epoch"));
    CHECK_THAT(offerWith("epoch", -1), Catch::Contains("epoch"));
    CHECK_THAT(offerWith("epoch", "1"), Catch::Contains("epoch"));
    CHECK_THAT(offerWith("index", 0), Catch::Contains("index"));
    CHECK_THAT(offerWith("index", 4294967296ull), Catch::Contains("index"));
    CHECK_THAT(offerWith("kx", "00"), Catch::Contains("kx"));
    CHECK_THAT(offerWith("kx", std::string(64, 'G')), Catch::Contains("kx"));
    CHECK_THAT(offerWith("kx", std::string(64, 'A')), Catch::Contains("kx")); // upper case
    CHECK_THAT(offerWith("port", 0), Catch::Contains("port"));
    CHECK_THAT(offerWith("port", 65536), Catch::Contains("port"));
    CHECK_THAT(offerWith("mac", "02:00:5e:10:ab"), Catch::Contains("mac"));
    CHECK_THAT(offerWith("mac", "03:00:5e:10:ab:cd"), Catch::Contains("multicast"));
    CHECK_THAT(offerWith("mac", "02-00-5e-10-ab-cd"), Catch::Contains("mac"));
    CHECK_THAT(offerWith("ciphers", json::array()), Catch::Contains("ciphers"));
    CHECK_THAT(offerWith("ciphers", json::array({1})), Catch::Contains("ciphers"));
    CHECK(offerWith("ciphers", json::array({"future-cipher", "chacha20-poly1305"})).empty());
    CHECK_THAT(offerWith("has_aes", 1), Catch::Contains("has_aes"));
    CHECK_THAT(offerWith("cipher", "rot13"), Catch::Contains("cipher"));
    CHECK_THAT(offerWith("extra", 1), Catch::Contains("unknown field"));
    CHECK_THAT(offerWith("port", json(json::value_t::discarded)), Catch::Contains("no \"port\""));

    CHECK_THAT(std::get<std::string>(parseOffer(view("[1,2]"))), Catch::Contains("JSON object"));
    CHECK_THAT(std::get<std::string>(parseOffer(view("{"))), Catch::Contains("JSON object"));
    // The size is checked before parsing: deep nesting never reaches the parser.
    std::string deep(maxMessage + 1, '[');
    CHECK_THAT(std::get<std::string>(parseOffer(view(deep))), Catch::Contains("longer than"));
    std::string nested = "{\"epoch\":" + std::string(40, '[') + std::string(40, ']') + "}";
    CHECK_THAT(std::get<std::string>(parseOffer(view(nested))), Catch::Contains("nests deeper than 32"));
    CHECK_THAT(std::get<std::string>(parseAccept(view(R"({"epoch":1})"))), Catch::Contains("no \""));
    CHECK_THAT(std::get<std::string>(parseConfirm(view(R"({"epoch":0})"))), Catch::Contains("epoch"));
    CHECK_THAT(std::get<std::string>(parseClose(view(R"({"reason":5})"))), Catch::Contains("reason"));
}

TEST_CASE("both ends of a tunnel derive matching epoch keys", "[tunnel]")
{
    forward::KxKeyPair client, server;
    REQUIRE(forward::makeKxKeyPair(client) == 0);
    REQUIRE(forward::makeKxKeyPair(server) == 0);
    std::uint8_t secret[forward::exporterSecretSize];
    std::memset(secret, 0x42, sizeof(secret));
    auto c = deriveEpochKeys(forward::Role::Client, client, server.publicKey, secret, 1,
                             forward::Cipher::ChaCha20Poly1305, forward::Library::Sodium, 1);
    auto s = deriveEpochKeys(forward::Role::Server, server, client.publicKey, secret, 1,
                             forward::Cipher::ChaCha20Poly1305, forward::Library::OpenSsl, 1);
    REQUIRE(std::holds_alternative<EpochKeys>(c));
    REQUIRE(std::holds_alternative<EpochKeys>(s));
    auto &ck = std::get<EpochKeys>(c);
    auto &sk = std::get<EpochKeys>(s);
    // What the client seals the server opens, across libraries.
    std::uint8_t hdr[16] = {1};
    std::uint8_t buf[48] = "frame from the client to the server";
    REQUIRE(ck.tx->aead(0)->seal(0, hdr, sizeof(hdr), buf, 32));
    CHECK(sk.rx->aead(0)->open(0, hdr, sizeof(hdr), buf, 32));
    CHECK(std::string(reinterpret_cast<char *>(buf), 10) == "frame from");
    // and not with the keys of the other direction.
    REQUIRE(sk.tx->aead(0)->seal(1, hdr, sizeof(hdr), buf, 32));
    CHECK_FALSE(sk.rx->aead(0)->open(1, hdr, sizeof(hdr), buf, 32));

    KxPublic lowOrder{}; // all zeros: refused by crypto_kx
    auto bad = deriveEpochKeys(forward::Role::Client, client, lowOrder, secret, 1,
                               forward::Cipher::ChaCha20Poly1305, forward::Library::Sodium, 1);
    CHECK(std::holds_alternative<std::string>(bad));
    CHECK(exporterContextFor("spiffe://a/x", "spiffe://a/y", 2) !=
          exporterContextFor("spiffe://a/y", "spiffe://a/x", 2));
}
