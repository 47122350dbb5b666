// SPDX-License-Identifier: GPL-2.0-or-later
#include <catch2/catch.hpp>
#include <algorithm>
#include <map>
#include <random>

#include "deadline_heap.h"

using namespace meshd;
using namespace std::chrono_literals;

TEST_CASE("timers fire in deadline order, ties in insertion order", "[heap]")
{
    DeadlineHeap h;
    auto t0 = Clock::time_point{} + 1h;
    std::vector<int> fired;
    h.add(t0 + 30ms, [&] { fired.push_back(3); });
    h.add(t0 + 10ms, [&] { fired.push_back(1); });
    h.add(t0 + 20ms, [&] { fired.push_back(2); });
    h.add(t0 + 20ms, [&] { fired.push_back(22); });
    CHECK(h.earliest() == t0 + 10ms);

    for (auto &cb : h.popExpired(t0 + 20ms))
        cb();
    CHECK(fired == std::vector<int>{1, 2, 22});
    CHECK(h.size() == 1);
    CHECK(h.popExpired(t0 + 29ms).empty());
    for (auto &cb : h.popExpired(t0 + 30ms))
        cb();
    CHECK(fired.back() == 3);
    CHECK(h.empty());
    CHECK_FALSE(h.earliest().has_value());
}

TEST_CASE("cancel and reschedule", "[heap]")
{
    DeadlineHeap h;
    auto t0 = Clock::time_point{} + 1h;
    int fired = 0;
    auto a = h.add(t0 + 10ms, [&] { fired += 1; });
    auto b = h.add(t0 + 20ms, [&] { fired += 10; });
    CHECK(h.cancel(a));
    CHECK_FALSE(h.cancel(a));
    CHECK_FALSE(h.contains(a));
    CHECK(h.reschedule(b, t0 + 5ms));
    CHECK(h.earliest() == t0 + 5ms);
    CHECK_FALSE(h.reschedule(a, t0));
    for (auto &cb : h.popExpired(t0 + 5ms))
        cb();
    CHECK(fired == 10);
}

TEST_CASE("heap stays ordered under random operations", "[heap]")
{
    DeadlineHeap h;
    std::mt19937 rng(42);
    auto t0 = Clock::time_point{} + 1h;
    std::map<DeadlineHeap::TimerId, Clock::time_point> model;
    for (int i = 0; i < 5000; i++) {
        int op = static_cast<int>(rng() % 3);
        if (op == 0 || model.empty()) {
            auto d = t0 + std::chrono::microseconds(rng() % 100000);
            model[h.add(d, [] {})] = d;
        } else {
            auto it = model.begin();
            std::advance(it, static_cast<long>(rng() % model.size()));
            if (op == 1) {
                REQUIRE(h.cancel(it->first));
                model.erase(it);
            } else {
                auto d = t0 + std::chrono::microseconds(rng() % 100000);
                REQUIRE(h.reschedule(it->first, d));
                it->second = d;
            }
        }
        REQUIRE(h.size() == model.size());
        if (!model.empty()) {
            auto min = std::min_element(model.begin(), model.end(), [](auto &a, auto &b) {
                           return a.second < b.second;
                       })->second;
            REQUIRE(h.earliest() == min);
        }
    }
    auto before = h.size();
    auto due = h.popExpired(t0 + 50ms);
    std::size_t expected = 0;
    for (auto &[id, d] : model)
        expected += d <= t0 + 50ms;
    CHECK(due.size() == expected);
    CHECK(h.size() == before - expected);
}
