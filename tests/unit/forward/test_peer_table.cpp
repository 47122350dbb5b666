// SPDX-License-Identifier: GPL-2.0-or-later
#include "peer_table.h"

#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <vector>

using namespace meshd::forward;

namespace {
Peer peerFor(Session &session, std::uint32_t slot, std::uint8_t macLow)
{
    Peer p;
    p.session = &session;
    p.mac = {0x02, 0, 0, 0, std::uint8_t(slot >> 8), macLow};
    auto &in = reinterpret_cast<sockaddr_in &>(p.endpoint);
    in.sin_family = AF_INET;
    in.sin_port = htons(std::uint16_t(4000 + slot));
    in.sin_addr.s_addr = htonl(0xC6120100 + slot); // 198.18.1.x
    p.endpointLen = sizeof(sockaddr_in);
    p.slot = slot;
    return p;
}
} // namespace

TEST_CASE("peer table: lookup by receiver index and by MAC", "[forward][peers]")
{
    std::vector<std::unique_ptr<Session>> sessions;
    std::vector<Peer> peers;
    for (std::uint32_t i = 0; i < 500; ++i) {
        sessions.push_back(std::make_unique<Session>(i * 2654435761u + 7, i));
        peers.push_back(peerFor(*sessions.back(), i, std::uint8_t(i)));
    }
    std::unique_ptr<const PeerTable> table;
    REQUIRE(PeerTable::build(peers, 1024, table) == 0);
    REQUIRE(table->size() == 500);
    for (std::uint32_t i = 0; i < 500; ++i) {
        const Peer *byIndex = table->byIndex(sessions[i]->localIndex);
        REQUIRE(byIndex);
        CHECK(byIndex->session == sessions[i].get());
        CHECK(byIndex->slot == i);
        const Peer *byMac = table->byMac(peers[i].mac.data());
        REQUIRE(byMac);
        CHECK(byMac->session == sessions[i].get());
        CHECK(byMac == byIndex);
    }
    int misses = 0;
    for (std::uint32_t i = 0; i < 100000; ++i)
        misses += table->byIndex(i * 2654435761u + 8) == nullptr;
    CHECK(misses == 100000);
    const std::uint8_t unknown[6] = {0x02, 0, 0, 0x7f, 0, 1};
    CHECK(table->byMac(unknown) == nullptr);
    CHECK(table->peers().size() == 500);

    std::unique_ptr<const PeerTable> empty;
    REQUIRE(PeerTable::build({}, 16, empty) == 0);
    CHECK(empty->byIndex(0) == nullptr);
    CHECK(empty->byMac(unknown) == nullptr);
    CHECK(empty->peers().empty());
}

TEST_CASE("peer table: duplicates and bad peers are refused", "[forward][peers]")
{
    Session a(1, 10), b(2, 20), sameIndex(1, 30);
    std::unique_ptr<const PeerTable> table;
    auto build = [&](std::vector<Peer> peers, std::uint32_t maxPeers = 16) {
        return PeerTable::build(peers, maxPeers, table);
    };

    CHECK(build({peerFor(a, 0, 1), peerFor(sameIndex, 1, 2)}) == -EEXIST); // receiver index
    CHECK(build({peerFor(a, 0, 1), peerFor(b, 1, 1)}) == -EEXIST);         // MAC
    CHECK(build({peerFor(a, 3, 1), peerFor(b, 3, 2)}) == -EEXIST);         // slot
    CHECK(build({peerFor(a, 16, 1)}) == -EINVAL);                          // slot out of range
    CHECK(build({peerFor(a, 0, 1), peerFor(b, 1, 2)}, 1) == -EINVAL);      // more than maxPeers

    Peer null = peerFor(a, 0, 1);
    null.session = nullptr;
    CHECK(build({null}) == -EINVAL);
    Peer multicast = peerFor(a, 0, 1);
    multicast.mac[0] = 0x01;
    CHECK(build({multicast}) == -EINVAL);
    Peer zero = peerFor(a, 0, 1);
    zero.mac = {};
    CHECK(build({zero}) == -EINVAL);
    Peer shortEndpoint = peerFor(a, 0, 1);
    shortEndpoint.endpointLen = 4;
    CHECK(build({shortEndpoint}) == -EINVAL);
    Peer noFamily = peerFor(a, 0, 1);
    noFamily.endpoint.ss_family = AF_UNIX;
    CHECK(build({noFamily}) == -EINVAL);
    CHECK_FALSE(table);

    Peer v6 = peerFor(b, 1, 2);
    v6.endpoint = {};
    auto &in6 = reinterpret_cast<sockaddr_in6 &>(v6.endpoint);
    in6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "fd00:1::2", &in6.sin6_addr);
    v6.endpointLen = sizeof(sockaddr_in6);
    CHECK(build({peerFor(a, 0, 1), v6}) == 0);
    REQUIRE(table);
    CHECK(table->byIndex(2)->endpoint.ss_family == AF_INET6);
}

TEST_CASE("peer directory: the previous table is freed once workers passed quiescence",
          "[forward][peers][reclaim]")
{
    Reclaimer reclaimer(1);
    PeerDirectory directory(reclaimer);
    CHECK(directory.load() == nullptr);
    Session a(1, 10);
    std::unique_ptr<const PeerTable> first, second;
    Peer p = peerFor(a, 0, 1);
    REQUIRE(PeerTable::build(std::span<const Peer>(&p, 1), 4, first) == 0);
    REQUIRE(PeerTable::build(std::span<const Peer>(&p, 1), 4, second) == 0);
    const PeerTable *firstRaw = first.get();
    directory.publish(std::move(first));
    CHECK(directory.load() == firstRaw);
    reclaimer.quiescent(0);
    directory.publish(std::move(second));
    CHECK(directory.load() != firstRaw);
    CHECK(reclaimer.reclaim() == 0); // worker 0 may still read the first table
    reclaimer.quiescent(0);
    CHECK(reclaimer.reclaim() == 1);
}
