// SPDX-License-Identifier: GPL-2.0-or-later
#include "replay_window.h"

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

using namespace meshd::forward;

namespace {
// What a receiver does: check, (decrypt), update.
ReplayVerdict receive(ReplayWindow &w, std::uint64_t counter)
{
    ReplayVerdict v = w.check(counter);
    return v == ReplayVerdict::Ok ? w.update(counter) : v;
}
constexpr auto Ok = ReplayVerdict::Ok;
constexpr auto TooOld = ReplayVerdict::TooOld;
constexpr auto Duplicate = ReplayVerdict::Duplicate;
constexpr auto Limit = ReplayVerdict::Limit;
} // namespace

TEST_CASE("replay: the window is at least 2048", "[forward][replay]")
{
    STATIC_REQUIRE(ReplayWindow::windowSize >= 2048);
}

TEST_CASE("replay: in order, then each again", "[forward][replay]")
{
    ReplayWindow w;
    for (std::uint64_t c = 0; c < 10000; ++c)
        REQUIRE(receive(w, c) == Ok);
    CHECK(w.highest() == 9999);
    for (std::uint64_t c = 10000 - ReplayWindow::windowSize; c < 10000; ++c)
        REQUIRE(receive(w, c) == Duplicate);
    CHECK(receive(w, 10000 - ReplayWindow::windowSize - 1) == TooOld);
    CHECK(receive(w, 0) == TooOld);
}

TEST_CASE("replay: check does not mark, update does", "[forward][replay]")
{
    ReplayWindow w;
    CHECK(w.check(5) == Ok);
    CHECK(w.check(5) == Ok);
    CHECK(w.update(5) == Ok);
    CHECK(w.check(5) == Duplicate);
    CHECK(w.update(5) == Duplicate);
    // A counter checked, overtaken while it was being decrypted: update re-checks.
    CHECK(w.check(6) == Ok);
    CHECK(w.update(6 + ReplayWindow::windowSize) == Ok);
    CHECK(w.update(6) == TooOld);
}

TEST_CASE("replay: reordered within the window, all accepted once", "[forward][replay]")
{
    std::vector<std::uint64_t> counters(20000);
    std::iota(counters.begin(), counters.end(), 0);
    std::mt19937_64 rng(42);
    // Shuffle in chunks smaller than the window: reordering but never too far.
    for (std::size_t at = 0; at < counters.size(); at += 1000)
        std::shuffle(counters.begin() + at, counters.begin() + at + 1000, rng);
    ReplayWindow w;
    for (std::uint64_t c : counters)
        REQUIRE(receive(w, c) == Ok);
    std::shuffle(counters.end() - 2000, counters.end(), rng);
    for (auto it = counters.end() - 2000; it != counters.end(); ++it)
        REQUIRE(receive(w, *it) == Duplicate);
}

TEST_CASE("replay: the edge of the window", "[forward][replay]")
{
    ReplayWindow w;
    const std::uint64_t top = 100000;
    REQUIRE(receive(w, top) == Ok);
    CHECK(receive(w, top - ReplayWindow::windowSize) == TooOld);
    CHECK(receive(w, top - ReplayWindow::windowSize + 1) == Ok);
    CHECK(receive(w, top - ReplayWindow::windowSize + 1) == Duplicate);
    CHECK(receive(w, top - 1) == Ok);
    CHECK(receive(w, top) == Duplicate);
    CHECK(receive(w, top + 1) == Ok);
}

TEST_CASE("replay: far behind and far ahead", "[forward][replay]")
{
    ReplayWindow w;
    REQUIRE(receive(w, 10) == Ok);
    REQUIRE(receive(w, 1'000'000'000) == Ok); // a jump over many whole rings of blocks
    CHECK(receive(w, 10) == TooOld);
    CHECK(receive(w, 11) == TooOld);
    CHECK(receive(w, 1'000'000'000 - 5) == Ok);
    CHECK(receive(w, 1'000'000'000 - 5) == Duplicate);
}

TEST_CASE("replay: jumps that alias block numbers modulo 2^32", "[forward][replay]")
{
    // Block (2^32 + 5) shares slot and low tag bits with block 5.
    const std::uint64_t aliased = ((std::uint64_t(1) << 32) + 5) * ReplayWindow::blockBits;
    ReplayWindow fresh;
    CHECK(receive(fresh, aliased - 64) == Ok); // untouched slots: zero tags look newer
    ReplayWindow w;
    REQUIRE(receive(w, 5 * ReplayWindow::blockBits + 1) == Ok);
    REQUIRE(receive(w, aliased) == Ok);
    CHECK(receive(w, aliased + 2) == Ok);
    CHECK(receive(w, aliased) == Duplicate);
    CHECK(receive(w, 5 * ReplayWindow::blockBits + 1) == TooOld);
    // The alias the header documents: the slot was untouched for exactly 2^32
    // blocks, so block 5's bit reads as this block's. A drop, not an accept.
    CHECK(receive(w, aliased + 1) == Duplicate);
}

TEST_CASE("replay: the window slides over many blocks", "[forward][replay]")
{
    ReplayWindow w;
    // Every other counter, stepping a block and a bit at a time, so that every
    // slot is reused many times with stale bits in it.
    std::uint64_t c = 0;
    for (int i = 0; i < 100000; ++i, c += ReplayWindow::blockBits + 3) {
        REQUIRE(receive(w, c) == Ok);
        REQUIRE(receive(w, c) == Duplicate);
        // Counters skipped just behind are still new (their blocks were reset).
        if (c >= 2)
            REQUIRE(receive(w, c - 2) == Ok);
    }
    // Counters that were skipped long ago are too old now, not "seen".
    CHECK(receive(w, c - ReplayWindow::windowSize * 3 + 1) == TooOld);
}

TEST_CASE("replay: counter limit", "[forward][replay]")
{
    ReplayWindow w;
    CHECK(w.check(rejectAfterMessages) == Limit);
    CHECK(w.update(rejectAfterMessages) == Limit);
    CHECK(w.check(~std::uint64_t(0)) == Limit); // would wrap arithmetic
    CHECK(receive(w, rejectAfterMessages - 1) == Ok);
    CHECK(receive(w, rejectAfterMessages - 1) == Duplicate);
    CHECK(receive(w, rejectAfterMessages) == Limit);
    CHECK(receive(w, 0) == TooOld);
    CHECK(std::string(replayVerdictName(Limit)) == "limit");
}

TEST_CASE("replay: two threads receiving the same counters accept each exactly once",
          "[forward][replay][threads]")
{
    constexpr std::uint64_t total = 400000;
    ReplayWindow w;
    std::vector<std::atomic<std::uint8_t>> accepted(total);
    auto run = [&](std::uint64_t seed) {
        std::mt19937_64 rng(seed);
        std::vector<std::uint64_t> order(total);
        std::iota(order.begin(), order.end(), 0);
        for (std::size_t at = 0; at + 500 <= total; at += 500)
            std::shuffle(order.begin() + at, order.begin() + at + 500, rng);
        for (std::uint64_t c : order)
            if (receive(w, c) == Ok)
                accepted[c].fetch_add(1, std::memory_order_relaxed);
    };
    std::thread a(run, 1), b(run, 2);
    a.join();
    b.join();
    std::uint64_t once = 0, twice = 0;
    for (auto &n : accepted) {
        once += n.load() == 1;
        twice += n.load() > 1;
    }
    CHECK(twice == 0);
    CHECK(once == total);
}

TEST_CASE("replay: two threads receiving each counter at the same moment accept it once",
          "[forward][replay][threads]")
{
    // Lock step: each thread takes counter c only once the other has finished
    // c - 1, so that both update the same block at nearly the same time.
    constexpr std::uint64_t total = 100000;
    ReplayWindow w;
    std::atomic<std::uint64_t> done[2] = {0, 0};
    std::atomic<std::uint64_t> accepted{0};
    auto run = [&](int self) {
        for (std::uint64_t c = 0; c < total; ++c) {
            for (int spins = 0; done[1 - self].load(std::memory_order_acquire) < c; ++spins)
                if (spins > 1000)
                    std::this_thread::yield();
            if (receive(w, c) == Ok)
                accepted.fetch_add(1, std::memory_order_relaxed);
            done[self].store(c + 1, std::memory_order_release);
        }
    };
    std::thread a(run, 0), b(run, 1);
    a.join();
    b.join();
    CHECK(accepted == total);
}
