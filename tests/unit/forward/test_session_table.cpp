// SPDX-License-Identifier: GPL-2.0-or-later
#include "session_table.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <cerrno>
#include <thread>
#include <vector>

using namespace meshd::forward;

namespace {
std::unique_ptr<const SessionTable> tableOf(const std::vector<std::unique_ptr<Session>> &sessions)
{
    std::vector<Session *> raw;
    for (const auto &s : sessions)
        raw.push_back(s.get());
    std::unique_ptr<const SessionTable> table;
    REQUIRE(SessionTable::build(raw, table) == 0);
    return table;
}

// Counts its destructions, to see what the reclaimer freed.
struct Tracked {
    explicit Tracked(std::atomic<int> &count) : freed(count) {}
    ~Tracked() { freed.fetch_add(1); }
    std::atomic<int> &freed;
};
} // namespace

TEST_CASE("session table: lookup by receiver index", "[forward][sessions]")
{
    std::vector<std::unique_ptr<Session>> sessions;
    for (std::uint32_t i = 0; i < 1000; ++i)
        sessions.push_back(std::make_unique<Session>(i * 2654435761u, i));
    auto table = tableOf(sessions);
    CHECK(table->size() == 1000);
    for (const auto &s : sessions)
        REQUIRE(table->find(s->localIndex) == s.get());
    int misses = 0;
    for (std::uint32_t i = 0; i < 100000; ++i)
        misses += table->find(i * 2654435761u + 1) == nullptr;
    CHECK(misses == 100000);

    std::unique_ptr<const SessionTable> empty;
    REQUIRE(SessionTable::build({}, empty) == 0);
    CHECK(empty->find(0) == nullptr);
}

TEST_CASE("session table: duplicate and null sessions are refused", "[forward][sessions]")
{
    Session a(5, 1), b(5, 2), c(6, 3);
    std::unique_ptr<const SessionTable> table;
    Session *dup[] = {&a, &c, &b};
    CHECK(SessionTable::build(dup, table) == -EEXIST);
    Session *null[] = {&a, nullptr};
    CHECK(SessionTable::build(null, table) == -EINVAL);
    CHECK_FALSE(table);
}

TEST_CASE("reclaimer: frees only after every worker passed a quiescent point",
          "[forward][sessions][reclaim]")
{
    std::atomic<int> freed{0};
    Reclaimer reclaimer(2);
    reclaimer.retire(std::make_unique<Tracked>(freed));
    CHECK(reclaimer.reclaim() == 0); // workers start at epoch 0
    reclaimer.quiescent(0);
    CHECK(reclaimer.reclaim() == 0); // worker 1 may still hold it
    reclaimer.quiescent(1);
    CHECK(reclaimer.reclaim() == 1);
    CHECK(freed == 1);

    reclaimer.retire(std::make_unique<Tracked>(freed));
    reclaimer.quiescent(0);
    reclaimer.offline(1); // an idle worker does not hold reclamation up
    CHECK(reclaimer.reclaim() == 1);
    reclaimer.online(1);
    reclaimer.retire(std::make_unique<Tracked>(freed));
    reclaimer.quiescent(0);
    CHECK(reclaimer.reclaim() == 0); // back online at an older epoch
    CHECK(reclaimer.pending() == 1);
    reclaimer.quiescent(1);
    CHECK(reclaimer.reclaim() == 1);
    CHECK(freed == 3);

    reclaimer.retire(std::make_unique<Tracked>(freed));
    { Reclaimer gone(1); gone.retire(std::make_unique<Tracked>(freed)); }
    CHECK(freed == 4); // the destructor frees the rest
}

TEST_CASE("session directory: publish, lookup and reclaim with a reader thread",
          "[forward][sessions][reclaim][threads]")
{
    constexpr int rounds = 20000;
    Reclaimer reclaimer(1);
    SessionDirectory directory(reclaimer);
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> lookups{0}, wrong{0};

    // The worker: one table load per batch, lookups, a quiescent point.
    std::thread worker([&] {
        std::uint64_t n = 0;
        while (!stop.load(std::memory_order_relaxed)) {
            const SessionTable *table = directory.load();
            if (table) {
                for (std::uint32_t i = 0; i < 8; ++i) {
                    Session *s = table->find(i);
                    // Every table has sessions 0..7, each with peerIndex == localIndex + 100.
                    if (!s || s->peerIndex != i + 100)
                        wrong.fetch_add(1, std::memory_order_relaxed);
                    ++n;
                }
            }
            reclaimer.quiescent(0);
        }
        reclaimer.offline(0);
        lookups = n;
    });

    // The control plane: a new table with new sessions each round; the old
    // sessions are retired after the table that dropped them is published.
    std::vector<std::unique_ptr<Session>> current;
    std::size_t maxPending = 0;
    for (int round = 0; round < rounds; ++round) {
        std::vector<std::unique_ptr<Session>> next;
        for (std::uint32_t i = 0; i < 8; ++i)
            next.push_back(std::make_unique<Session>(i, i + 100));
        directory.publish(tableOf(next));
        for (auto &s : current)
            reclaimer.retire(std::move(s));
        current = std::move(next);
        reclaimer.reclaim();
        maxPending = std::max(maxPending, reclaimer.pending());
    }
    // Keep the worker going until it has seen the last table.
    while (reclaimer.pending() != 0) {
        reclaimer.reclaim();
        std::this_thread::yield();
    }
    stop = true;
    worker.join();
    CHECK(wrong == 0);
    CHECK(lookups > 0);
    CHECK(reclaimer.pending() == 0);
    INFO("most objects waiting at once: " << maxPending);
    CHECK(maxPending < std::size_t(rounds) * 9); // reclamation kept up while running
}
