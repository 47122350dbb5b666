// SPDX-License-Identifier: GPL-2.0-or-later
#include "counters.h"

#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace meshd::forward;

TEST_CASE("counters: one cache line block per worker, reasons named", "[forward][counters]")
{
    STATIC_REQUIRE(alignof(WorkerCounters) == cacheLineSize);
    std::set<std::string> names;
    for (std::size_t i = 0; i < dropReasonCount; ++i)
        names.insert(dropReasonName(DropReason(i)));
    CHECK(names.size() == dropReasonCount);
    CHECK(std::string(dropReasonName(DropReason::UnknownSession)) == "unknown_session");
    CHECK(std::string(dropReasonName(DropReason::Count)) == "unknown");
    CHECK(dropReasonFor(wire::ParseError::Short) == DropReason::Short);
    CHECK(dropReasonFor(wire::ParseError::BadFlags) == DropReason::BadHeader);
    CHECK(dropReasonFor(ReplayVerdict::TooOld) == DropReason::ReplayTooOld);
    CHECK(dropReasonFor(ReplayVerdict::Duplicate) == DropReason::ReplayDuplicate);
    CHECK(dropReasonFor(ReplayVerdict::Limit) == DropReason::CounterLimit);
}

TEST_CASE("counters: written by each worker, summed by the control plane",
          "[forward][counters][threads]")
{
    std::vector<WorkerCounters> workers(2);
    auto run = [&](WorkerCounters &c) {
        for (int i = 0; i < 100000; ++i) {
            WorkerCounters::add(c.rxPackets);
            WorkerCounters::add(c.rxBytes, 1400);
            c.drop(DropReason::BadTag);
        }
    };
    std::thread a(run, std::ref(workers[0])), b(run, std::ref(workers[1]));
    // The control plane reads while they count.
    std::uint64_t seen = 0;
    for (int i = 0; i < 1000; ++i)
        seen = std::max(seen, sumCounters(workers).rxPackets);
    a.join();
    b.join();
    CounterTotals t = sumCounters(workers);
    CHECK(t.rxPackets == 200000);
    CHECK(t.rxBytes == 200000ull * 1400);
    CHECK(t.dropped(DropReason::BadTag) == 200000);
    CHECK(t.dropped(DropReason::Short) == 0);
    CHECK(seen <= t.rxPackets);
}
