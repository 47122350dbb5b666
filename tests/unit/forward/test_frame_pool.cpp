// SPDX-License-Identifier: GPL-2.0-or-later
#include "frame_pool.h"

#include "spsc_ring.h"

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <set>
#include <thread>
#include <unistd.h>

using namespace meshd::forward;

TEST_CASE("pool: init rejects sizes out of range", "[forward][pool]")
{
    CHECK(FramePool(0).init() == -EINVAL);
    CHECK(FramePool(4, 0).init() == -EINVAL);
    CHECK(FramePool(4, maxDataRoom + 1).init() == -EINVAL);
    CHECK(FramePool(maxFrames + 1).init() == -EINVAL);
    FramePool pool(4, maxDataRoom);
    CHECK(pool.init() == 0);
    CHECK(pool.init() == -EALREADY);
}

TEST_CASE("pool: one page-aligned block of cache-aligned frames", "[forward][pool]")
{
    FramePool pool(100, 1500);
    REQUIRE(pool.init() == 0);
    CHECK(reinterpret_cast<std::uintptr_t>(pool.block()) % std::uintptr_t(::sysconf(_SC_PAGESIZE)) == 0);
    CHECK(pool.stride() % 64 == 0);
    CHECK(pool.stride() >= frameHeadroom + 1500 + frameTailroom);
    std::uint32_t a = pool.acquire(), b = pool.acquire();
    FrameView va = pool.view(a), vb = pool.view(b);
    CHECK(std::size_t(std::abs(vb.head - va.head)) == pool.stride());
    CHECK(reinterpret_cast<std::uintptr_t>(va.data()) % 64 == 0);
    CHECK(va.offset == frameHeadroom);
    CHECK(va.length == 0);
    CHECK(va.tailroom() == 1500 + frameTailroom);
}

TEST_CASE("pool: acquire until empty, release, accounting", "[forward][pool]")
{
    FramePool pool(16);
    REQUIRE(pool.init() == 0);
    CHECK(pool.capacity() == 16);
    std::set<std::uint32_t> seen;
    for (int i = 0; i < 16; ++i) {
        std::uint32_t idx = pool.acquire();
        REQUIRE(idx < 16);
        seen.insert(idx);
    }
    CHECK(seen.size() == 16);
    CHECK(pool.inUse() == 16);
    CHECK(pool.acquire() == noFrame);
    for (std::uint32_t idx : seen)
        CHECK(pool.release(idx) == 0);
    CHECK(pool.inUse() == 0);
    CHECK(pool.available() == 16);
    CHECK(pool.release(16) == -EINVAL);
}

#ifndef NDEBUG
TEST_CASE("pool: double release is caught in debug builds", "[forward][pool]")
{
    FramePool pool(4);
    REQUIRE(pool.init() == 0);
    std::uint32_t idx = pool.acquire();
    CHECK(pool.release(idx) == 0);
    CHECK(pool.release(idx) == -EALREADY);
    std::uint32_t again = pool.acquire();
    CHECK(pool.release((again + 1) % 4) == -EALREADY); // never acquired
    CHECK(pool.inUse() == 1);
}
#endif

TEST_CASE("pool: a frame view prepends the header, appends the tag, within its room",
          "[forward][pool]")
{
    FramePool pool(2, 1600);
    REQUIRE(pool.init() == 0);
    std::uint32_t idx = pool.acquire();
    FrameView v = pool.view(idx);
    REQUIRE(v.append(1600));
    CHECK(v.prepend(16));
    CHECK(v.append(16));
    CHECK(v.length == 16 + 1600 + 16);
    CHECK(v.data() == v.head + frameHeadroom - 16);
    CHECK_FALSE(v.prepend(frameHeadroom)); // only 48 left
    CHECK(v.tailroom() == 0);
    CHECK_FALSE(v.append(1));
    CHECK(v.trimFront(16));
    CHECK(v.trimBack(16));
    CHECK(v.length == 1600);
    CHECK_FALSE(v.trimBack(1601));
    CHECK_FALSE(v.trimFront(1601));
    CHECK(v.length == 1600);

    // The largest datagram a frame takes: received at headroom - 16.
    FrameView rx = pool.view(pool.acquire());
    REQUIRE(rx.prepend(16));
    CHECK(rx.length + rx.tailroom() == 16 + 1600 + 16);
    pool.save(idx, v);
    FrameView again = pool.view(idx);
    CHECK(again.offset == v.offset);
    CHECK(again.length == v.length);
    CHECK(pool.release(idx) == 0);
    CHECK(pool.view(pool.acquire()).length == 0); // acquire resets the view
}

TEST_CASE("pool: no frame lost across two threads and 10M hand-overs", "[forward][pool][threads]")
{
    constexpr std::uint64_t cycles = 10'000'000;
    FramePool pool(512);
    REQUIRE(pool.init() == 0);
    SpscRing<std::uint32_t> toPeer(256), back(256);
    std::atomic<bool> peerOk{true};

    // The peer stage: checks what the owner wrote, prepends a header, hands back.
    std::thread peer([&] {
        std::uint64_t handled = 0;
        std::uint32_t batch[32];
        while (handled < cycles) {
            std::size_t n = toPeer.popBurst(batch, 32);
            for (std::size_t i = 0; i < n; ++i) {
                FrameView v = pool.view(batch[i]);
                std::uint64_t seq;
                std::memcpy(&seq, v.data(), sizeof seq);
                if (seq != handled + i || v.length != 64 || !v.prepend(16))
                    peerOk = false;
                std::memcpy(v.data(), &seq, sizeof seq);
                pool.save(batch[i], v);
            }
            std::size_t sent = 0;
            while (sent < n)
                sent += back.pushBurst(batch + sent, n - sent);
            handled += n;
        }
    });

    // The owner: acquires, fills, hands over, releases what comes back.
    std::uint64_t started = 0, finished = 0;
    bool ownerOk = true;
    std::uint32_t batch[32];
    while (finished < cycles) {
        std::size_t want = std::size_t(std::min<std::uint64_t>(32, cycles - started));
        std::size_t got = 0;
        while (got < want) {
            std::uint32_t idx = pool.acquire();
            if (idx == noFrame)
                break;
            FrameView v = pool.view(idx);
            v.append(64);
            std::uint64_t seq = started + got;
            std::memcpy(v.data(), &seq, sizeof seq);
            pool.save(idx, v);
            batch[got++] = idx;
        }
        std::size_t pushed = toPeer.pushBurst(batch, got);
        for (std::size_t i = pushed; i < got; ++i) // ring full: give them back
            pool.release(batch[i]);
        started += pushed;
        std::size_t n = back.popBurst(batch, 32);
        for (std::size_t i = 0; i < n; ++i) {
            FrameView v = pool.view(batch[i]);
            std::uint64_t seq;
            std::memcpy(&seq, v.data(), sizeof seq);
            if (seq != finished + i || v.length != 80)
                ownerOk = false;
            if (pool.release(batch[i]) != 0)
                ownerOk = false;
        }
        finished += n;
    }
    peer.join();
    CHECK(peerOk);
    CHECK(ownerOk);
    CHECK(finished == cycles);
    CHECK(pool.inUse() == 0);
    CHECK(pool.available() == pool.capacity());
}
