// SPDX-License-Identifier: GPL-2.0-or-later
// The tier A link probe in the running kernel's verifier and BPF_PROG_TEST_RUN:
// frames built here go through the real programs, the maps are read back
// through the loader. Needs root (CAP_BPF, CAP_NET_ADMIN).
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <cstring>
#include <linux/pkt_cls.h>
#include <map>
#include <net/if.h>
#include <set>
#include <vector>

#include "link_probe.h"

using namespace bpfprobe;

namespace {

using Bytes = std::vector<std::uint8_t>;
const MacBytes us{0x02, 0, 0, 0, 0, 0x01};
const MacBytes a{0x02, 0, 0, 0, 0, 0x0a};
const MacBytes b{0x02, 0, 0, 0, 0, 0x0b};
const MacBytes far{0x02, 0, 0, 0, 0, 0xfa};

Bytes frame(const MacBytes &dst, const MacBytes &src, std::uint16_t ethertype, const Bytes &payload,
            std::size_t padTo = 0)
{
    Bytes f(dst.begin(), dst.end());
    f.insert(f.end(), src.begin(), src.end());
    f.push_back(static_cast<std::uint8_t>(ethertype >> 8));
    f.push_back(static_cast<std::uint8_t>(ethertype));
    f.insert(f.end(), payload.begin(), payload.end());
    if (f.size() < padTo)
        f.resize(padTo);
    return f;
}

void putBe32(Bytes &b, std::size_t at, std::uint32_t v)
{
    v = htonl(v);
    std::memcpy(b.data() + at, &v, 4);
}

// struct batadv_ogm_packet (24 bytes) for `orig` with `seq`.
Bytes ogm(const MacBytes &orig, std::uint32_t seq, std::uint16_t tvlvLen = 0)
{
    Bytes o(24 + tvlvLen);
    o[0] = 0x00; // BATADV_IV_OGM
    o[1] = 15;
    o[2] = 50;
    putBe32(o, 4, seq);
    std::memcpy(o.data() + 8, orig.data(), 6);
    std::memcpy(o.data() + 14, orig.data(), 6);
    o[21] = 255;
    o[22] = static_cast<std::uint8_t>(tvlvLen >> 8);
    o[23] = static_cast<std::uint8_t>(tvlvLen);
    return o;
}

// struct batadv_elp_packet: type, version, orig[6], seqno, interval.
Bytes elp(const MacBytes &orig, std::uint32_t seq)
{
    Bytes e(16);
    e[0] = 0x03;
    e[1] = 15;
    std::memcpy(e.data() + 2, orig.data(), 6);
    putBe32(e, 8, seq);
    putBe32(e, 12, 500);
    return e;
}

Bytes batman(std::uint8_t type, std::size_t len = 40)
{
    Bytes p(len);
    p[0] = type;
    p[1] = 15;
    return p;
}

// BPF_PROG_TEST_RUN hands tc programs a packet "received" on loopback.
std::uint32_t lo()
{
    return if_nametoindex("lo");
}

struct Fixture {
    LinkProbe probe;
    // a and b are batman-adv neighbours unless a test says otherwise.
    explicit Fixture(std::set<NeighborKey> neighbors = {{lo(), a}, {lo(), b}})
    {
        std::string why = probe.load();
        INFO(why);
        REQUIRE(why.empty());
        std::vector<LinkCounter> retired;
        REQUIRE(probe.setNeighbors(neighbors, retired) == 0);
        REQUIRE(retired.empty());
    }
    // Runs one frame through a program; returns its verdict.
    int run(int fd, Bytes data)
    {
        LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = data.data(),
                    .data_size_in = static_cast<std::uint32_t>(data.size()), .repeat = 1);
        int err = bpf_prog_test_run_opts(fd, &opts);
        REQUIRE(err == 0);
        return static_cast<int>(opts.retval);
    }
    int rx(const Bytes &f) { return run(probe.ingressFd(), f); }
    int tx(const Bytes &f) { return run(probe.egressFd(), f); }

    std::map<std::pair<MacBytes, int>, LinkCounter> links()
    {
        std::vector<LinkCounter> v;
        REQUIRE(probe.readLinks(v) == 0);
        std::map<std::pair<MacBytes, int>, LinkCounter> m;
        for (const auto &c : v)
            m[{c.neighbor, c.dir}] = c;
        return m;
    }
    std::map<std::string, std::uint64_t> types(int dir)
    {
        std::vector<TypeCounter> v;
        REQUIRE(probe.readTypes(v) == 0);
        std::map<std::string, std::uint64_t> m;
        for (const auto &c : v)
            if (c.dir == dir)
                m[frameTypeName(c.type)] += c.packets;
        return m;
    }
    meshd_loss_value loss(const MacBytes &mac)
    {
        std::vector<LossCounter> v;
        REQUIRE(probe.readLoss(v) == 0);
        for (const auto &c : v)
            if (c.neighbor == mac)
                return c.value;
        FAIL("no loss entry for the neighbour");
        return {};
    }
};

} // namespace

TEST_CASE("frames are counted per neighbour and direction, bytes exactly", "[bpf]")
{
    Fixture f;
    CHECK(f.rx(frame(us, a, 0x0800, {}, 60)) == TC_ACT_UNSPEC);
    CHECK(f.rx(frame(us, a, 0x0800, {}, 100)) == TC_ACT_UNSPEC);
    CHECK(f.rx(frame(us, a, 0x4305, batman(0x40), 1514)) == TC_ACT_UNSPEC);
    CHECK(f.rx(frame(us, b, 0x0800, {}, 70)) == TC_ACT_UNSPEC);
    CHECK(f.tx(frame(b, us, 0x0800, {}, 200)) == TC_ACT_UNSPEC);
    auto m = f.links();
    REQUIRE(m.count({a, MESHD_DIR_RX}));
    CHECK(m[{a, MESHD_DIR_RX}].packets == 3);
    CHECK(m[{a, MESHD_DIR_RX}].bytes == 60 + 100 + 1514);
    CHECK(m[{b, MESHD_DIR_RX}].packets == 1);
    CHECK(m[{b, MESHD_DIR_RX}].bytes == 70);
    CHECK(m[{b, MESHD_DIR_TX}].packets == 1); // egress counts the destination
    CHECK(m[{b, MESHD_DIR_TX}].bytes == 200);
    CHECK(m.count({us, MESHD_DIR_TX}) == 0);
    CHECK(m.size() == 3);
}

TEST_CASE("batman-adv packet types are classified", "[bpf]")
{
    Fixture f;
    for (std::uint8_t t : {0x00, 0x04, 0x03, 0x01, 0x40, 0x42, 0x41, 0x02, 0x43, 0x44})
        f.rx(frame(us, a, 0x4305, t == 0x00 ? ogm(far, 1) : t == 0x03 ? elp(far, 1) : batman(t), 60));
    f.rx(frame(us, a, 0x86dd, {}, 60));
    f.tx(frame(a, us, 0x4305, batman(0x40), 60));
    auto rx = f.types(MESHD_DIR_RX);
    CHECK(rx == std::map<std::string, std::uint64_t>{
                    {"ogm", 1}, {"ogm2", 1}, {"elp", 1}, {"broadcast", 1}, {"unicast", 1},
                    {"unicast_4addr", 1}, {"fragment", 1}, {"coded", 1}, {"other_batman", 2},
                    {"non_batman", 1}});
    CHECK(f.types(MESHD_DIR_TX) == std::map<std::string, std::uint64_t>{{"unicast", 1}});
}

TEST_CASE("truncated batman-adv frames are counted as malformed, never parsed", "[bpf]")
{
    Fixture f;
    f.rx(frame(us, a, 0x4305, {0x40}));                          // 1 byte of the 2-byte header
    Bytes shortOgm = ogm(a, 7), shortElp = elp(a, 7);
    shortOgm.resize(10);
    shortElp.resize(6);
    f.rx(frame(us, a, 0x4305, shortOgm));
    f.rx(frame(us, a, 0x4305, shortElp));
    auto rx = f.types(MESHD_DIR_RX);
    CHECK(rx == std::map<std::string, std::uint64_t>{{"malformed", 3}});
    std::vector<LossCounter> loss;
    REQUIRE(f.probe.readLoss(loss) == 0);
    CHECK(loss.empty()); // no sequence number was read out of them
    CHECK(f.links()[{a, MESHD_DIR_RX}].packets == 3);
}

TEST_CASE("OGM sequence gaps give loss: gaps, late arrivals, duplicates, wrap-around", "[bpf]")
{
    Fixture f;
    auto send = [&](std::uint32_t seq) { f.rx(frame(us, a, 0x4305, ogm(a, seq))); };
    for (std::uint32_t s : {100u, 101u, 103u, 106u})
        send(s); // 102, 104, 105 missing
    auto v = f.loss(a);
    CHECK(v.received == 4);
    CHECK(v.lost == 3);
    send(104); // late: no longer lost
    send(104); // a second copy of a late one is a duplicate
    v = f.loss(a);
    CHECK(v.late == 1);
    CHECK(v.lost == 2);
    CHECK(v.duplicates == 1);
    send(106); // duplicate of the highest
    send(101); // and of an older one
    v = f.loss(a);
    CHECK(v.duplicates == 3);
    CHECK(v.received == 5);

    // Wrap-around: 0xfffffffe, 0xffffffff, then 1 (0 missing).
    auto w = [&](std::uint32_t seq) { f.rx(frame(us, b, 0x4305, ogm(b, seq))); };
    w(0xfffffffeu);
    w(0xffffffffu);
    w(1);
    v = f.loss(b);
    CHECK(v.received == 3);
    CHECK(v.lost == 1);
    CHECK(v.restarts == 0);
    w(1000000); // a reboot, not 999,998 losses
    v = f.loss(b);
    CHECK(v.restarts == 1);
    CHECK(v.lost == 1);
    CHECK(v.last_seq == 1000000);
}

TEST_CASE("only the neighbour's own OGM in an aggregate counts", "[bpf]")
{
    Fixture f;
    // A forwarded OGM (with a TVLV) first, then a's own one.
    auto agg = [&](std::uint32_t seq) {
        Bytes p = ogm(far, 9000 + seq, 8);
        Bytes own = ogm(a, seq);
        p.insert(p.end(), own.begin(), own.end());
        f.rx(frame(us, a, 0x4305, p));
    };
    agg(10);
    agg(12);
    auto v = f.loss(a);
    CHECK(v.received == 2);
    CHECK(v.lost == 1);
    std::vector<LossCounter> all;
    REQUIRE(f.probe.readLoss(all) == 0);
    CHECK(all.size() == 1); // nothing recorded for `far`
    // Our own OGM echoed back by a neighbour (orig != source) is not its.
    f.rx(frame(us, b, 0x4305, ogm(us, 5)));
    REQUIRE(f.probe.readLoss(all) == 0);
    CHECK(all.size() == 1);
}

TEST_CASE("ELP sequence numbers give loss for BATMAN_V", "[bpf]")
{
    Fixture f;
    for (std::uint32_t s : {1u, 2u, 5u})
        f.rx(frame(us, a, 0x4305, elp(a, s)));
    auto v = f.loss(a);
    CHECK(v.received == 3);
    CHECK(v.lost == 2);
    // From a's secondary interface (source b) ELP carries a's primary
    // address as orig: the sequence belongs to the link it came over, b.
    f.rx(frame(us, b, 0x4305, elp(a, 40)));
    f.rx(frame(us, b, 0x4305, elp(a, 42)));
    CHECK(f.loss(a).received == 3);
    CHECK(f.loss(b).received == 2);
    CHECK(f.loss(b).lost == 1);
    // Sent ELP probes are ours: no loss accounting on egress.
    f.tx(frame(MacBytes{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, us, 0x4305, elp(us, 1)));
    std::vector<LossCounter> all;
    REQUIRE(f.probe.readLoss(all) == 0);
    CHECK(all.size() == 2);
}

TEST_CASE("more neighbours than one read batch are all read back", "[bpf]")
{
    auto mac = [](int i) {
        return MacBytes{
            0x02, 0x10, 0, 0, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)};
    };
    std::set<NeighborKey> many;
    for (int i = 0; i < 600; i++)
        many.insert({lo(), mac(i)});
    Fixture f(many);
    for (int i = 0; i < 600; i++)
        f.rx(frame(us, mac(i), 0x0800, {}, 64 + i % 7));
    std::vector<LinkCounter> v;
    REQUIRE(f.probe.readLinks(v) == 0);
    CHECK(v.size() == 600);
    std::uint64_t packets = 0, bytes = 0;
    for (const auto &c : v) {
        packets += c.packets;
        bytes += c.bytes;
    }
    CHECK(packets == 600);
    std::uint64_t want = 0;
    for (int i = 0; i < 600; i++)
        want += 64 + i % 7;
    CHECK(bytes == want);
}

TEST_CASE("strangers share one row and get no loss state; neighbours keep theirs", "[bpf]")
{
    Fixture f; // neighbours a and b
    // 5000 forged sources send OGMs of their own and IPv4 frames, between a's OGMs.
    std::uint32_t seq = 1;
    for (int i = 0; i < 5000; i++) {
        MacBytes forged{0x02,
                        0x66,
                        static_cast<std::uint8_t>(i >> 16),
                        static_cast<std::uint8_t>(i >> 8),
                        static_cast<std::uint8_t>(i),
                        0x01};
        f.rx(frame(us, forged, 0x4305, ogm(forged, 7)));
        f.rx(frame(us, forged, 0x0800, {}, 60));
        if (i % 100 == 0)
            f.rx(frame(us, a, 0x4305, ogm(a, seq++)));
    }
    auto m = f.links();
    CHECK(m.size() == 2); // a, and everyone else
    REQUIRE(m.count({otherMac, MESHD_DIR_RX}));
    CHECK(m[{otherMac, MESHD_DIR_RX}].packets == 10000);
    CHECK(m[{otherMac, MESHD_DIR_RX}].types[MESHD_FT_OGM] == 5000);
    CHECK(m[{otherMac, MESHD_DIR_RX}].types[MESHD_FT_NON_BATMAN] == 5000);
    CHECK(m[{a, MESHD_DIR_RX}].packets == 50);
    std::vector<LossCounter> loss;
    REQUIRE(f.probe.readLoss(loss) == 0);
    REQUIRE(loss.size() == 1); // a's only
    CHECK(loss[0].neighbor == a);
    CHECK(loss[0].value.received == 50);
    CHECK(loss[0].value.lost == 0);
    CHECK(f.types(MESHD_DIR_RX)["ogm"] == 5050);

    // Sent frames: to a neighbour its own row, to broadcast one row, the rest other.
    const MacBytes bcast{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    f.tx(frame(bcast, us, 0x4305, ogm(us, 1)));
    f.tx(frame(b, us, 0x4305, batman(0x40)));
    f.tx(frame(MacBytes{0x33, 0x33, 0, 0, 0, 1}, us, 0x86dd, {}, 80));
    f.tx(frame(far, us, 0x0800, {}, 80));
    m = f.links();
    CHECK(m[{bcast, MESHD_DIR_TX}].packets == 1);
    CHECK(m[{b, MESHD_DIR_TX}].packets == 1);
    CHECK(m[{otherMac, MESHD_DIR_TX}].packets == 2);
    CHECK(m.size() == 5);
}

TEST_CASE("a neighbour that leaves hands back its counters and its loss state goes", "[bpf]")
{
    Fixture f;
    for (std::uint32_t s : {1u, 2u, 4u})
        f.rx(frame(us, a, 0x4305, ogm(a, s)));
    f.tx(frame(a, us, 0x0800, {}, 100));
    f.rx(frame(us, b, 0x0800, {}, 60));
    std::vector<LinkCounter> retired;
    REQUIRE(f.probe.setNeighbors({{lo(), b}}, retired) == 0);
    REQUIRE(retired.size() == 2); // a's rx and tx rows
    std::uint64_t packets = 0, ogms = 0;
    for (const auto &c : retired) {
        CHECK(c.neighbor == a);
        packets += c.packets;
        ogms += c.types[MESHD_FT_OGM];
    }
    CHECK(packets == 4);
    CHECK(ogms == 3);
    auto m = f.links();
    CHECK(m.count({a, MESHD_DIR_RX}) == 0);
    CHECK(m.count({b, MESHD_DIR_RX}) == 1);
    std::vector<LossCounter> loss;
    REQUIRE(f.probe.readLoss(loss) == 0);
    CHECK(loss.empty());
    // From now on a is a stranger.
    f.rx(frame(us, a, 0x4305, ogm(a, 5)));
    m = f.links();
    CHECK(m[{otherMac, MESHD_DIR_RX}].packets == 1);
    REQUIRE(f.probe.readLoss(loss) == 0);
    CHECK(loss.empty());

    // An interface that goes: every entry of it is handed back.
    retired.clear();
    f.probe.dropInterface(lo(), retired);
    CHECK(retired.size() == 2); // b rx, other rx
    CHECK(f.links().empty());
}

TEST_CASE("the neighbour table holds MESHD_LINK_MAX_NEIGHBORS and says when it is full", "[bpf]")
{
    std::set<NeighborKey> many;
    for (int i = 0; i < MESHD_LINK_MAX_NEIGHBORS + 10; i++)
        many.insert({lo(), MacBytes{0x02, 0x20, 0, 0, static_cast<std::uint8_t>(i >> 8),
                                    static_cast<std::uint8_t>(i)}});
    LinkProbe probe;
    REQUIRE(probe.load().empty());
    std::vector<LinkCounter> retired;
    CHECK(probe.setNeighbors(many, retired) == -E2BIG);
}
