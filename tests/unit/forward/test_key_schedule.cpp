// SPDX-License-Identifier: GPL-2.0-or-later
#include "key_schedule.h"

#include "key_slots.h"
#include "wire.h"

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <vector>

using namespace meshd::forward;

namespace {
struct Pair {
    DirectionKeys client, server;
};

std::array<std::uint8_t, exporterSecretSize> exporter(std::uint8_t seed)
{
    std::array<std::uint8_t, exporterSecretSize> e{};
    for (std::size_t i = 0; i < e.size(); ++i)
        e[i] = std::uint8_t(seed ^ i);
    return e;
}

// A handshake between a client and a server: key pairs, kx, derivation.
Pair handshake(std::uint64_t epoch, std::uint8_t exporterSeed, std::uint8_t serverExporterSeed)
{
    KxKeyPair c, s;
    REQUIRE(makeKxKeyPair(c) == 0);
    REQUIRE(makeKxKeyPair(s) == 0);
    KxSessionKeys ck, sk;
    REQUIRE(kxSessionKeys(Role::Client, c, s.publicKey.data(), ck) == 0);
    REQUIRE(kxSessionKeys(Role::Server, s, c.publicKey.data(), sk) == 0);
    auto ce = exporter(exporterSeed), se = exporter(serverExporterSeed);
    Pair p;
    REQUIRE(deriveDirectionKeys(Role::Client, ck, ce.data(), epoch, p.client) == 0);
    REQUIRE(deriveDirectionKeys(Role::Server, sk, se.data(), epoch, p.server) == 0);
    return p;
}

bool same(const SecretKey &a, const SecretKey &b) { return a.bytes == b.bytes; }

constexpr unsigned workers = 2;

std::unique_ptr<RxKey> rxKey(const SecretKey &k)
{
    int error = 0;
    auto key = RxKey::create(Cipher::ChaCha20Poly1305, Library::Sodium, k.data(), workers, &error);
    REQUIRE(error == 0);
    return key;
}
std::unique_ptr<TxKey> txKey(const SecretKey &k)
{
    int error = 0;
    auto key = TxKey::create(Cipher::ChaCha20Poly1305, Library::OpenSsl, k.data(), workers, &error);
    REQUIRE(error == 0);
    return key;
}
} // namespace

TEST_CASE("keys: the client's tx is the server's rx and the other way round", "[forward][keys]")
{
    Pair p = handshake(1, 7, 7);
    CHECK(same(p.client.tx, p.server.rx));
    CHECK(same(p.client.rx, p.server.tx));
    CHECK_FALSE(same(p.client.tx, p.client.rx));
    SecretKey zero;
    CHECK_FALSE(same(p.client.tx, zero));
}

TEST_CASE("keys: another epoch or exporter secret gives other keys", "[forward][keys]")
{
    KxKeyPair c, s;
    REQUIRE(makeKxKeyPair(c) == 0);
    REQUIRE(makeKxKeyPair(s) == 0);
    KxSessionKeys ck;
    REQUIRE(kxSessionKeys(Role::Client, c, s.publicKey.data(), ck) == 0);
    auto e1 = exporter(1), e2 = exporter(2);
    DirectionKeys a, b, d;
    REQUIRE(deriveDirectionKeys(Role::Client, ck, e1.data(), 5, a) == 0);
    REQUIRE(deriveDirectionKeys(Role::Client, ck, e1.data(), 6, b) == 0);
    REQUIRE(deriveDirectionKeys(Role::Client, ck, e2.data(), 5, d) == 0);
    CHECK_FALSE(same(a.tx, b.tx));
    CHECK_FALSE(same(a.rx, b.rx));
    CHECK_FALSE(same(a.tx, d.tx));
    CHECK_FALSE(same(a.rx, d.rx));
    DirectionKeys again;
    REQUIRE(deriveDirectionKeys(Role::Client, ck, e1.data(), 5, again) == 0);
    CHECK(same(a.tx, again.tx)); // deterministic

    // The two ends disagreeing on the exporter secret (another TLS session) do not match.
    Pair p = handshake(1, 7, 8);
    CHECK_FALSE(same(p.client.tx, p.server.rx));
    CHECK(deriveDirectionKeys(Role::Client, ck, nullptr, 5, a) == -EINVAL);
}

TEST_CASE("keys: a low-order peer key is refused", "[forward][keys]")
{
    KxKeyPair c;
    REQUIRE(makeKxKeyPair(c) == 0);
    std::uint8_t zero[kxPublicKeySize] = {};
    KxSessionKeys out;
    CHECK(kxSessionKeys(Role::Client, c, zero, out) == -EINVAL);
    CHECK(kxSessionKeys(Role::Server, c, zero, out) == -EINVAL);
}

TEST_CASE("keys: exporter context names both identities and the epoch", "[forward][keys]")
{
    std::string ctx = exporterContext("spiffe://m/a", "spiffe://m/b", 0x0102);
    CHECK(ctx == std::string("spiffe://m/a\0spiffe://m/b\0\0\0\0\0\0\0\x01\x02", 12 + 1 + 12 + 1 + 8));
    CHECK(exporterContext("spiffe://m/ab", "spiffe://m/", 1) !=
          exporterContext("spiffe://m/a", "bspiffe://m/", 1));
}

TEST_CASE("key slots: phase switch, grace period, expiry", "[forward][keys][slots]")
{
    Pair e0 = handshake(0, 1, 1), e1 = handshake(1, 1, 1), e2 = handshake(2, 1, 1);
    KeySlots client, server;
    KeySlots::Retired retired;
    CHECK(client.sealKey() == nullptr);
    CHECK(client.openFor(0, 0) == nullptr);

    REQUIRE(client.rekey(0, rxKey(e0.client.rx), txKey(e0.client.tx), 0, retired) == 0);
    REQUIRE(server.rekey(0, rxKey(e0.server.rx), txKey(e0.server.tx), 0, retired) == 0);
    CHECK_FALSE(retired.tx);
    REQUIRE(client.sealKey());
    CHECK(client.sealKey()->phase() == 0);
    CHECK(client.openFor(0, 1000000) != nullptr); // the current key does not expire
    CHECK(client.openFor(1, 0) == nullptr);

    // A packet from client to server through the slots.
    auto send = [](KeySlots &from, KeySlots &to, std::uint64_t now) {
        TxKey *tx = from.sealKey();
        std::uint64_t counter;
        REQUIRE(tx->reserve(1, counter));
        std::vector<std::uint8_t> d(wire::headerSize + 64 + wire::tagSize, 0x5a);
        wire::encode({wire::PacketType::Data, tx->phase(), 1, counter}, d.data());
        REQUIRE(tx->aead(1)->seal(counter, d.data(), wire::headerSize, d.data() + wire::headerSize, 64));
        wire::Header h;
        REQUIRE(wire::decode(d.data(), d.size(), h) == wire::ParseError::None);
        RxKey *rx = to.openFor(h.keyPhase, now);
        if (!rx)
            return false;
        if (rx->replay().check(h.counter) != ReplayVerdict::Ok)
            return false;
        if (!rx->aead(0)->open(h.counter, d.data(), wire::headerSize, d.data() + wire::headerSize, 64))
            return false;
        return rx->replay().update(h.counter) == ReplayVerdict::Ok;
    };
    CHECK(send(client, server, 10));
    CHECK(send(server, client, 10));

    // The same phase again is not a rekey.
    CHECK(client.rekey(2, rxKey(e1.client.rx), txKey(e1.client.tx), 100, retired) == -EINVAL);

    // Epoch 1: the server switches first; the client still sends with phase 0,
    // which the server opens during the grace period (until 100).
    REQUIRE(server.rekey(1, rxKey(e1.server.rx), txKey(e1.server.tx), 100, retired) == 0);
    CHECK(retired.tx);     // the epoch-0 send key, to be reclaimed
    CHECK_FALSE(retired.rx[1]); // slot 1 was empty
    CHECK(server.sealKey()->phase() == 1);
    CHECK(server.sealKey()->sent() == 0); // counters start again with the key
    CHECK(send(client, server, 50));
    CHECK_FALSE(send(server, client, 50)); // the client has no phase-1 key yet
    REQUIRE(client.rekey(1, rxKey(e1.client.rx), txKey(e1.client.tx), 100, retired) == 0);
    CHECK(send(server, client, 60));
    CHECK(send(client, server, 60));
    REQUIRE(server.openFor(0, 99));
    CHECK(server.openFor(0, 100) == nullptr); // grace over
    CHECK(server.openFor(1, 100000) != nullptr);

    // Epoch 2 replaces the phase-0 slot and hands the old key back.
    RxKey *old0 = server.openFor(0, 0);
    REQUIRE(old0);
    REQUIRE(server.rekey(2, rxKey(e2.server.rx), txKey(e2.server.tx), 200, retired) == 0);
    CHECK(retired.rx[0].get() == old0);
    CHECK(server.openFor(0, 150) != nullptr); // the new key: no expiry
    CHECK(server.openFor(1, 199) != nullptr);
    CHECK(server.openFor(1, 200) == nullptr);

    server.clear(retired);
    CHECK(server.sealKey() == nullptr);
    CHECK(server.openFor(0, 0) == nullptr);
    CHECK(server.openFor(1, 0) == nullptr);
    CHECK(retired.rx[0]);
    CHECK(retired.rx[1]);
    CHECK(retired.tx);
}

TEST_CASE("key slots: a three-message rekey loses no packet in either direction", "[forward][keys][slots]")
{
    // Initiator (client) offers epoch e, the responder installs only its
    // receive key and accepts, the initiator installs both and confirms, the
    // responder then switches its send key. At every step both directions work.
    Pair e1 = handshake(1, 3, 3), e2 = handshake(2, 3, 3);
    KeySlots client, server;
    KeySlots::Retired retired;
    auto send = [](KeySlots &from, KeySlots &to, std::uint64_t now) {
        TxKey *tx = from.sealKey();
        if (!tx)
            return false;
        std::uint64_t counter;
        REQUIRE(tx->reserve(1, counter));
        std::vector<std::uint8_t> d(wire::headerSize + 32 + wire::tagSize, 0x11);
        wire::encode({wire::PacketType::Data, tx->phase(), 1, counter}, d.data());
        REQUIRE(tx->aead(0)->seal(counter, d.data(), wire::headerSize, d.data() + wire::headerSize, 32));
        RxKey *rx = to.openFor(tx->phase(), now);
        return rx && rx->replay().check(counter) == ReplayVerdict::Ok &&
               rx->aead(1)->open(counter, d.data(), wire::headerSize, d.data() + wire::headerSize, 32) &&
               rx->replay().update(counter) == ReplayVerdict::Ok;
    };
    auto both = [&](std::uint64_t now) { return send(client, server, now) && send(server, client, now); };

    // First epoch: offer -> responder rx only.
    REQUIRE(server.installRx(1, rxKey(e1.server.rx), 0, retired) == 0);
    CHECK_FALSE(send(server, client, 1)); // nothing to send with yet
    // accept -> initiator rx + tx.
    REQUIRE(client.installRx(1, rxKey(e1.client.rx), 0, retired) == 0);
    REQUIRE(client.installTx(1, txKey(e1.client.tx), retired) == 0);
    CHECK(send(client, server, 2));
    // confirm -> responder tx.
    REQUIRE(server.installTx(1, txKey(e1.server.tx), retired) == 0);
    CHECK(both(3));

    // Rekey to epoch 2: traffic flows at each step.
    REQUIRE(server.installRx(2, rxKey(e2.server.rx), 100, retired) == 0);
    CHECK(both(10));
    REQUIRE(client.installRx(2, rxKey(e2.client.rx), 100, retired) == 0);
    REQUIRE(client.installTx(2, txKey(e2.client.tx), retired) == 0);
    CHECK(both(20));
    CHECK(client.sealKey()->phase() == 0);
    CHECK(server.sealKey()->phase() == 1); // still the old key, which the client still opens
    REQUIRE(server.installTx(2, txKey(e2.server.tx), retired) == 0);
    CHECK(both(30));
    CHECK(server.installTx(2, txKey(e2.server.tx), retired) == -EINVAL); // phase in use
    CHECK(client.openFor(1, 99) != nullptr);
    CHECK(client.openFor(1, 100) == nullptr); // grace over
    CHECK(server.installRx(3, nullptr, 0, retired) == -EINVAL);
}

TEST_CASE("key slots: a send key runs out at the counter limit", "[forward][keys][slots]")
{
    Pair p = handshake(0, 1, 1);
    KeySlots slots;
    KeySlots::Retired retired;
    REQUIRE(slots.rekey(0, rxKey(p.client.rx), txKey(p.client.tx), 0, retired) == 0);
    TxKey *tx = slots.sealKey();
    std::uint64_t first;
    CHECK(tx->reserve(32, first));
    CHECK(first == 0);
    CHECK(tx->reserve(1, first));
    CHECK(first == 32);
    CHECK(tx->sent() == 33);
}

TEST_CASE("key slots: one Aead per worker", "[forward][keys][slots]")
{
    Pair p = handshake(0, 1, 1);
    auto rx = rxKey(p.client.rx);
    REQUIRE(rx->aead(0));
    REQUIRE(rx->aead(1));
    CHECK(rx->aead(0) != rx->aead(1));
    CHECK(rx->aead(workers) == nullptr);
    int error = 0;
    CHECK(RxKey::create(Cipher::ChaCha20Poly1305, Library::Sodium, p.client.rx.data(), 0, &error) ==
          nullptr);
    CHECK(error == -EINVAL);
}
