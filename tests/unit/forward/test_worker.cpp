// SPDX-License-Identifier: GPL-2.0-or-later
#include "worker.h"

#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <cstring>
#include <deque>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <vector>

using namespace meshd::forward;

namespace {
const std::uint8_t keyAB[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
const std::uint8_t keyBA[32] = {99, 98, 97, 96, 95, 94, 93, 92, 91, 90, 89, 88, 87, 86, 85, 84,
                                83, 82, 81, 80, 79, 78, 77, 76, 75, 74, 73, 72, 71, 70, 69, 68};

void installKeys(Session &s, const std::uint8_t *tx, const std::uint8_t *rx)
{
    KeySlots::Retired retired;
    REQUIRE(s.keys.rekey(0, RxKey::create(Cipher::ChaCha20Poly1305, Library::Sodium, rx, 1),
                         TxKey::create(Cipher::ChaCha20Poly1305, Library::Sodium, tx, 1), 0,
                         retired) == 0);
}

Peer peerOf(Session &s, std::uint32_t slot, std::uint8_t macLow, std::uint16_t port)
{
    Peer p;
    p.session = &s;
    p.mac = {0x02, 0, 0, 0, 0, macLow};
    auto &in = reinterpret_cast<sockaddr_in &>(p.endpoint);
    in.sin_family = AF_INET;
    in.sin_port = htons(port);
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    p.endpointLen = sizeof(sockaddr_in);
    p.slot = slot;
    return p;
}

std::vector<std::uint8_t> ethernetFrame(const std::uint8_t *dst, std::size_t len, std::uint8_t fill)
{
    std::vector<std::uint8_t> f(len, fill);
    std::memcpy(f.data(), dst, 6);
    const std::uint8_t src[6] = {0x02, 0, 0, 0, 0, 0xaa};
    std::memcpy(f.data() + 6, src, 6);
    f[12] = 0x43; // batman-adv's ethertype 0x4305
    f[13] = 0x05;
    return f;
}

// Two ends: A sends to B. A's session sends with keyAB to B's index 20; B's
// session (index 20) receives with keyAB.
struct Pair {
    Session a{10, 20};
    Session b{20, 10};
    FramePool pool{64};
    std::unique_ptr<const PeerTable> tableB; // what B's workers see
    Pair()
    {
        REQUIRE(pool.init() == 0);
        installKeys(a, keyAB, keyBA);
        installKeys(b, keyBA, keyAB);
        Peer p = peerOf(b, 0, 1, 1);
        REQUIRE(PeerTable::build(std::span<const Peer>(&p, 1), 4, tableB) == 0);
    }
    // A datagram of A's as B's UDP port would receive it: at datagramOffset.
    std::uint32_t sealed(const std::vector<std::uint8_t> &frame, std::uint64_t counter,
                         wire::PacketType type = wire::PacketType::Data)
    {
        std::uint32_t tx = pool.acquire();
        FrameView v = pool.view(tx);
        if (!frame.empty()) // a keepalive has no payload (and memcpy no null source)
            std::memcpy(v.data(), frame.data(), frame.size());
        v.length = std::uint32_t(frame.size());
        REQUIRE(sealDatagram(v, type, a, *a.keys.sealKey(), counter, 0));
        std::uint32_t rx = pool.acquire();
        FrameView r = pool.view(rx);
        r.offset = datagramOffset;
        r.length = v.length;
        std::memcpy(r.data(), v.data(), v.length);
        pool.save(rx, r);
        pool.release(tx);
        return rx;
    }
    RxResult open(std::uint32_t idx, FrameView &v, std::uint64_t now = 0)
    {
        v = pool.view(idx);
        return openDatagram(v, tableB.get(), 0, now);
    }
};
} // namespace

TEST_CASE("worker pieces: seal then open gives the frame back at the headroom, no copy",
          "[forward][worker]")
{
    Pair p;
    const std::uint8_t dst[6] = {0x02, 0, 0, 0, 0, 1};
    auto frame = ethernetFrame(dst, 1294, 0x5a);
    std::uint32_t idx = p.sealed(frame, 0);
    FrameView v = p.pool.view(idx);
    CHECK(v.offset == datagramOffset);
    CHECK(v.length == frame.size() + wire::minDatagram);
    wire::Header h;
    REQUIRE(wire::decode(v.data(), v.length, h) == wire::ParseError::None);
    CHECK(h.receiverIndex == 20);
    CHECK(h.counter == 0);
    CHECK(h.keyPhase == 0);
    CHECK(std::memcmp(v.data() + wire::headerSize, frame.data(), 64) != 0); // encrypted

    RxResult r = p.open(idx, v);
    REQUIRE(r.verdict == RxVerdict::Data);
    CHECK(r.peer->session == &p.b);
    CHECK(v.offset == frameHeadroom);
    REQUIRE(v.length == frame.size());
    CHECK(std::memcmp(v.data(), frame.data(), frame.size()) == 0);
}

TEST_CASE("worker pieces: every bad datagram is dropped with its reason", "[forward][worker]")
{
    Pair p;
    const std::uint8_t dst[6] = {0x02, 0, 0, 0, 0, 1};
    auto frame = ethernetFrame(dst, 200, 0x11);
    FrameView v;

    SECTION("replayed")
    {
        std::uint32_t first = p.sealed(frame, 5);
        std::uint32_t again = p.sealed(frame, 5);
        CHECK(p.open(first, v).verdict == RxVerdict::Data);
        RxResult r = p.open(again, v);
        CHECK(r.verdict == RxVerdict::Drop);
        CHECK(r.reason == DropReason::ReplayDuplicate);
    }
    SECTION("too old")
    {
        std::uint32_t late = p.sealed(frame, 1);
        CHECK(p.open(p.sealed(frame, 100000), v).verdict == RxVerdict::Data);
        CHECK(p.open(late, v).reason == DropReason::ReplayTooOld);
    }
    SECTION("tampered: dropped, and the counter stays usable")
    {
        std::uint32_t idx = p.sealed(frame, 7);
        p.pool.view(idx).data()[wire::headerSize + 3] ^= 1;
        RxResult r = p.open(idx, v);
        CHECK(r.verdict == RxVerdict::Drop);
        CHECK(r.reason == DropReason::BadTag);
        CHECK(p.open(p.sealed(frame, 7), v).verdict == RxVerdict::Data);
    }
    SECTION("tampered header (associated data)")
    {
        std::uint32_t idx = p.sealed(frame, 8);
        p.pool.view(idx).data()[15] ^= 1; // counter's low byte
        CHECK(p.open(idx, v).reason == DropReason::BadTag);
    }
    SECTION("unknown receiver index")
    {
        std::uint32_t idx = p.sealed(frame, 9);
        p.pool.view(idx).data()[7] ^= 0xff;
        CHECK(p.open(idx, v).reason == DropReason::UnknownSession);
        CHECK(openDatagram(v, nullptr, 0, 0).reason != DropReason::BadTag);
    }
    SECTION("no key for the phase, or an expired one")
    {
        std::uint32_t idx = p.sealed(frame, 10);
        p.pool.view(idx).data()[1] = wire::flagKeyPhase;
        CHECK(p.open(idx, v).reason == DropReason::NoKey);
        // Rekey B to phase 1 with the old key expiring at 1000.
        KeySlots::Retired retired;
        REQUIRE(p.b.keys.rekey(1, RxKey::create(Cipher::ChaCha20Poly1305, Library::Sodium, keyBA, 1),
                               TxKey::create(Cipher::ChaCha20Poly1305, Library::Sodium, keyAB, 1),
                               1000, retired) == 0);
        CHECK(p.open(p.sealed(frame, 11), v, 999).verdict == RxVerdict::Data);
        CHECK(p.open(p.sealed(frame, 12), v, 1000).reason == DropReason::NoKey);
    }
    SECTION("garbage and short")
    {
        std::uint32_t idx = p.sealed(frame, 13);
        p.pool.view(idx).data()[0] = 0x7f;
        CHECK(p.open(idx, v).reason == DropReason::BadHeader);
        idx = p.sealed(frame, 14);
        FrameView s = p.pool.view(idx);
        s.length = 20;
        p.pool.save(idx, s);
        CHECK(p.open(idx, v).reason == DropReason::Short);
    }
    SECTION("keepalive and runt")
    {
        RxResult k = p.open(p.sealed({}, 15, wire::PacketType::Keepalive), v);
        CHECK(k.verdict == RxVerdict::Keepalive);
        CHECK(k.peer->session == &p.b);
        std::vector<std::uint8_t> runt(10, 0x22);
        CHECK(p.open(p.sealed(runt, 16), v).reason == DropReason::Runt);
    }
}

TEST_CASE("worker pieces: group MACs flood", "[forward][worker]")
{
    const std::uint8_t broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    const std::uint8_t ipv6Multicast[6] = {0x33, 0x33, 0, 0, 0, 1};
    const std::uint8_t unicast[6] = {0x02, 0, 0, 0, 0, 1};
    CHECK(isGroupMac(broadcast));
    CHECK(isGroupMac(ipv6Multicast));
    CHECK_FALSE(isGroupMac(unicast));
}

namespace {
// A mesh port that hands out queued frames and keeps what it is given.
class FakeMeshPort final : public MeshPort {
public:
    FakeMeshPort() : fd_(eventfd(0, EFD_NONBLOCK)) {}
    ~FakeMeshPort() override { close(fd_); }
    int fd() const override { return fd_; }
    unsigned receive(FramePool &pool, std::uint32_t *frames, unsigned max) noexcept override
    {
        unsigned n = 0;
        while (n < max && !queued.empty()) {
            std::uint32_t idx = pool.acquire();
            FrameView v = pool.view(idx);
            std::memcpy(v.data(), queued.front().data(), queued.front().size());
            v.length = std::uint32_t(queued.front().size());
            pool.save(idx, v);
            queued.pop_front();
            frames[n++] = idx;
        }
        return n;
    }
    unsigned transmit(FramePool &pool, const std::uint32_t *frames, unsigned n) noexcept override
    {
        for (unsigned i = 0; i < n; ++i) {
            FrameView v = pool.view(frames[i]);
            given.emplace_back(v.data(), v.data() + v.length);
        }
        return n;
    }
    std::deque<std::vector<std::uint8_t>> queued;
    std::vector<std::vector<std::uint8_t>> given;

private:
    int fd_;
};

sockaddr_in loopback(std::uint16_t port)
{
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

// Datagrams waiting on a port, without blocking.
unsigned drain(UdpPort &port, FramePool &pool)
{
    std::uint32_t frames[udpBatch];
    Endpoint from[udpBatch];
    unsigned total = 0;
    for (int tries = 0; tries < 50; ++tries) {
        unsigned n = port.receive(pool, frames, from, udpBatch);
        for (unsigned i = 0; i < n; ++i)
            pool.release(frames[i]);
        total += n;
        if (n == 0 && tries > 5)
            break;
        usleep(2000);
    }
    return total;
}
} // namespace

TEST_CASE("worker: unicast to the MAC's peer, broadcast and unknown unicast to all, over loopback",
          "[forward][worker][udp][udp-gso]")
{
    // The worker's own socket, and one socket per peer that only counts.
    sockaddr_in any = loopback(0);
    UdpPort self, peer1, peer2;
    REQUIRE(self.open(reinterpret_cast<sockaddr *>(&any), sizeof(any), {}) == 0);
    REQUIRE(peer1.open(reinterpret_cast<sockaddr *>(&any), sizeof(any), {}) == 0);
    REQUIRE(peer2.open(reinterpret_cast<sockaddr *>(&any), sizeof(any), {}) == 0);

    Session s1(1, 101), s2(2, 102);
    installKeys(s1, keyAB, keyBA);
    installKeys(s2, keyAB, keyBA);
    Peer peers[] = {peerOf(s1, 0, 1, peer1.port()), peerOf(s2, 3, 2, peer2.port())};
    Reclaimer reclaimer(1);
    PeerDirectory directory(reclaimer);
    std::unique_ptr<const PeerTable> table;
    REQUIRE(PeerTable::build(peers, 4, table) == 0);
    directory.publish(std::move(table));

    FramePool pool(1024), sink(1024);
    REQUIRE(pool.init() == 0);
    REQUIRE(sink.init() == 0);
    FakeMeshPort mesh;
    WorkerCounters counters;
    auto peerCounters = std::make_unique<PeerCounters[]>(4);
    SpscRing<EngineEvent> events(8);
    std::atomic<bool> stopping{false};
    int stopFd = eventfd(0, EFD_NONBLOCK);
    WorkerSetup setup;
    setup.mesh = &mesh;
    setup.udp = &self;
    setup.pool = &pool;
    setup.peers = &directory;
    setup.reclaimer = &reclaimer;
    setup.counters = &counters;
    setup.peerCounters = peerCounters.get();
    setup.maxPeers = 4;
    setup.events = &events;
    setup.stopFd = stopFd;
    setup.stopping = &stopping;
    Worker worker(setup);
    REQUIRE(worker.init() == 0);

    const std::uint8_t toPeer2[6] = {0x02, 0, 0, 0, 0, 2};
    const std::uint8_t broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    const std::uint8_t unknown[6] = {0x02, 0, 0, 0, 0, 9};
    for (int i = 0; i < 10; ++i)
        mesh.queued.push_back(ethernetFrame(toPeer2, 1000, 1));
    mesh.queued.push_back(ethernetFrame(broadcast, 100, 2));
    mesh.queued.push_back(ethernetFrame(unknown, 100, 3));
    CHECK(worker.meshToUdp(0) == 12);

    CHECK(drain(peer2, sink) == 12);
    CHECK(drain(peer1, sink) == 2);
    CHECK(counters.txPackets.load() == 14);
    CHECK(peerCounters[3].txPackets.load() == 12);
    CHECK(peerCounters[3].txBytes.load() == 10 * 1000 + 200);
    CHECK(peerCounters[0].txPackets.load() == 2);
    CHECK(s2.keys.sealKey()->sent() == 12); // one counter per datagram, none wasted
    CHECK(pool.inUse() == 0);               // every frame back in the pool

    SECTION("no send key: dropped as no_key")
    {
        KeySlots::Retired retired;
        s2.keys.clear(retired);
        mesh.queued.push_back(ethernetFrame(toPeer2, 100, 4));
        worker.meshToUdp(0);
        CHECK(counters.drops[std::size_t(DropReason::NoKey)].load() == 1);
        CHECK(pool.inUse() == 0);
    }
    close(stopFd);
}
