// SPDX-License-Identifier: GPL-2.0-or-later
// DumpReader against crafted netlink datagrams on a socket pair: entries,
// the end of a dump, kernel errors, stale replies, DUMP_INTR, truncation.
#include <catch2/catch.hpp>

#include <cstring>
#include <linux/batman_adv.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <netlink/attr.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#include "dump.h"
#include "mac.h"

using namespace batman;

namespace {

struct Pair {
    int fds[2];
    Pair() { REQUIRE(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, fds) == 0); }
    ~Pair()
    {
        close(fds[0]);
        close(fds[1]);
    }
    void send(const std::vector<char> &d) { REQUIRE(::send(fds[1], d.data(), d.size(), 0) == static_cast<ssize_t>(d.size())); }
};

void put(std::vector<char> &out, const void *p, std::size_t n)
{
    const char *c = static_cast<const char *>(p);
    out.insert(out.end(), c, c + n);
    out.resize((out.size() + 3) & ~std::size_t(3));
}

// One generic netlink message carrying an originator address (and a
// neighbour address unless `bad`: then the address is 5 bytes long).
std::vector<char> entry(std::uint32_t seq, std::uint8_t last, bool bad = false, std::uint16_t flags = NLM_F_MULTI)
{
    std::vector<char> body;
    genlmsghdr g{BATADV_CMD_GET_ORIGINATORS, 1, 0};
    put(body, &g, sizeof(g));
    std::uint8_t mac[6] = {2, 0, 0, 0, 0, last};
    nlattr a{static_cast<std::uint16_t>(NLA_HDRLEN + (bad ? 5 : 6)), BATADV_ATTR_ORIG_ADDRESS};
    put(body, &a, sizeof(a));
    body.insert(body.end(), mac, mac + (bad ? 5 : 6));
    body.resize((body.size() + 3) & ~std::size_t(3));
    nlmsghdr h{static_cast<std::uint32_t>(NLMSG_HDRLEN + body.size()), 0x20, flags, seq, 0};
    std::vector<char> out;
    put(out, &h, sizeof(h));
    out.insert(out.end(), body.begin(), body.end());
    return out;
}

std::vector<char> done(std::uint32_t seq, int status = 0)
{
    nlmsghdr h{NLMSG_LENGTH(sizeof(int)), NLMSG_DONE, NLM_F_MULTI, seq, 0};
    std::vector<char> out;
    put(out, &h, sizeof(h));
    put(out, &status, sizeof(status));
    return out;
}

std::vector<char> join(std::initializer_list<std::vector<char>> parts)
{
    std::vector<char> out;
    for (const auto &p : parts)
        out.insert(out.end(), p.begin(), p.end());
    return out;
}

auto forever() { return DumpReader::Clock::now() + std::chrono::seconds(5); }

} // namespace

TEST_CASE("a dump's entries are parsed in place until NLMSG_DONE", "[dump]")
{
    Pair p;
    DumpReader r;
    r.begin(p.fds[0], 7);
    std::vector<int> seen;
    auto onEntry = [&](nlattr **tb) {
        REQUIRE(tb[BATADV_ATTR_ORIG_ADDRESS]);
        seen.push_back(static_cast<const std::uint8_t *>(nla_data(tb[BATADV_ATTR_ORIG_ADDRESS]))[5]);
    };
    p.send(join({entry(7, 1), entry(6, 99), entry(7, 2)})); // seq 6: a stale reply, skipped
    CHECK(r.pump(forever(), onEntry) == DumpReader::Progress::More); // drained, not done
    p.send(join({entry(7, 3, false, NLM_F_MULTI | NLM_F_DUMP_INTR), done(7)}));
    CHECK(r.pump(forever(), onEntry) == DumpReader::Progress::Done);
    CHECK(seen == std::vector<int>{1, 2, 3});
    CHECK(r.error() == 0);
    CHECK(r.interrupted());
    CHECK(r.stats().messages == 3);
    CHECK(r.stats().datagrams == 2);
    CHECK(r.stats().badEntries == 0);
}

TEST_CASE("malformed entries are counted, never passed on", "[dump]")
{
    Pair p;
    DumpReader r;
    r.begin(p.fds[0], 1);
    int calls = 0;
    auto onEntry = [&](nlattr **) { calls++; };
    auto good = entry(1, 1);
    auto cut = entry(1, 2);
    cut.resize(cut.size() - 6); // the datagram ends inside this message
    p.send(join({entry(1, 9, true), good, cut}));
    p.send(done(1));
    while (r.pump(forever(), onEntry) == DumpReader::Progress::More) {
    }
    CHECK(calls == 1);
    CHECK(r.stats().badEntries == 2); // the 5-byte MAC and the truncated message
    CHECK(r.error() == 0);
}

TEST_CASE("kernel errors end a dump with -errno", "[dump]")
{
    SECTION("NLMSG_DONE carrying an error")
    {
        Pair p;
        DumpReader r;
        r.begin(p.fds[0], 3);
        p.send(done(3, -ENODEV));
        CHECK(r.pump(forever(), [](nlattr **) {}) == DumpReader::Progress::Done);
        CHECK(r.error() == -ENODEV);
    }
    SECTION("NLMSG_ERROR")
    {
        Pair p;
        DumpReader r;
        r.begin(p.fds[0], 4);
        std::vector<char> m;
        nlmsghdr h{NLMSG_LENGTH(sizeof(nlmsgerr)), NLMSG_ERROR, 0, 4, 0};
        nlmsgerr e{};
        e.error = -EOPNOTSUPP;
        put(m, &h, sizeof(h));
        put(m, &e, sizeof(e));
        p.send(m);
        CHECK(r.pump(forever(), [](nlattr **) {}) == DumpReader::Progress::Done);
        CHECK(r.error() == -EOPNOTSUPP);
    }
    SECTION("a datagram larger than the buffer")
    {
        Pair p;
        DumpReader r;
        r.begin(p.fds[0], 5);
        p.send(std::vector<char>(40000, 0));
        CHECK(r.pump(forever(), [](nlattr **) {}) == DumpReader::Progress::Done);
        CHECK(r.error() == -EMSGSIZE);
    }
}

TEST_CASE("a pump yields at its deadline after one datagram", "[dump]")
{
    Pair p;
    DumpReader r;
    r.begin(p.fds[0], 2);
    for (int i = 0; i < 5; i++)
        p.send(entry(2, static_cast<std::uint8_t>(i)));
    p.send(done(2));
    int calls = 0;
    auto past = DumpReader::Clock::now() - std::chrono::seconds(1);
    int turns = 0;
    while (r.pump(past, [&](nlattr **) { calls++; }) == DumpReader::Progress::More)
        turns++;
    CHECK(calls == 5);
    CHECK(turns == 5); // one datagram per call once the deadline has passed
}
