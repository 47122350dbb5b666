// SPDX-License-Identifier: GPL-2.0-or-later
#include "spsc_ring.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <thread>
#include <vector>

using meshd::forward::SpscRing;

TEST_CASE("ring: capacity is a power of two", "[forward][ring]")
{
    CHECK(SpscRing<std::uint32_t>(5).capacity() == 8);
    CHECK(SpscRing<std::uint32_t>(8).capacity() == 8);
    CHECK(SpscRing<std::uint32_t>(0).capacity() == 2);
}

TEST_CASE("ring: full ring pushes less, order is kept", "[forward][ring]")
{
    SpscRing<std::uint32_t> ring(8);
    std::uint32_t in[12];
    for (std::uint32_t i = 0; i < 12; ++i)
        in[i] = i;
    CHECK(ring.pushBurst(in, 5) == 5);
    CHECK(ring.occupancy() == 5);
    CHECK(ring.pushBurst(in + 5, 7) == 3); // backpressure
    CHECK(ring.occupancy() == 8);
    CHECK(ring.occupancyRatio() == 1.0);
    CHECK_FALSE(ring.push(99));

    std::uint32_t out[12] = {};
    CHECK(ring.popBurst(out, 3) == 3);
    CHECK(out[0] == 0);
    CHECK(out[2] == 2);
    CHECK(ring.pushBurst(in + 8, 4) == 3);
    CHECK(ring.popBurst(out, 12) == 8);
    const std::uint32_t expected[8] = {3, 4, 5, 6, 7, 8, 9, 10};
    for (int i = 0; i < 8; ++i)
        CHECK(out[i] == expected[i]);
    CHECK(ring.popBurst(out, 1) == 0);
    CHECK(ring.occupancy() == 0);
}

TEST_CASE("ring: wraps around many times", "[forward][ring]")
{
    SpscRing<std::uint32_t> ring(4);
    std::uint32_t next = 0, expect = 0;
    for (int round = 0; round < 10000; ++round) {
        std::uint32_t in[3] = {next, next + 1, next + 2};
        REQUIRE(ring.pushBurst(in, 3) == 3);
        next += 3;
        std::uint32_t out[3];
        REQUIRE(ring.popBurst(out, 3) == 3);
        for (std::uint32_t v : out)
            REQUIRE(v == expect++);
    }
}

TEST_CASE("ring: two threads pass 10M indices in order", "[forward][ring][threads]")
{
    constexpr std::uint32_t total = 10'000'000;
    SpscRing<std::uint32_t> ring(1024);
    std::thread producer([&] {
        std::uint32_t batch[64];
        std::uint32_t next = 0, burst = 1;
        while (next < total) {
            // Bursts of varying size, to cover partial pushes.
            std::uint32_t n = std::min(burst, total - next);
            for (std::uint32_t i = 0; i < n; ++i)
                batch[i] = next + i;
            next += std::uint32_t(ring.pushBurst(batch, n));
            burst = burst % 64 + 1;
        }
    });
    std::uint32_t expect = 0;
    bool inOrder = true;
    std::uint32_t out[48];
    while (expect < total) {
        std::size_t n = ring.popBurst(out, 48);
        for (std::size_t i = 0; i < n; ++i) {
            if (out[i] != expect)
                inOrder = false;
            ++expect;
        }
    }
    producer.join();
    CHECK(inOrder);
    CHECK(expect == total);
    CHECK(ring.occupancy() == 0);
}
