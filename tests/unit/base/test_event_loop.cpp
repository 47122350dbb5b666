// SPDX-License-Identifier: GPL-2.0-or-later
#include <catch2/catch.hpp>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#include "event_loop.h"

using namespace meshd;
using namespace std::chrono_literals;

TEST_CASE("event loop runs timers in order and dispatches fds", "[loop]")
{
    EventLoop loop;
    REQUIRE(loop.init() == 0);
    std::vector<std::string> seen;
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
    UniqueFD a(sv[0]), b(sv[1]);

    REQUIRE(loop.addFd(b.get(), EPOLLIN, [&](std::uint32_t) {
        char buf[16];
        auto n = read(b.get(), buf, sizeof(buf));
        seen.push_back("read " + std::string(buf, static_cast<std::size_t>(n)));
        loop.removeFd(b.get());
    }) == 0);
    // Taken before the timers are added: their deadlines count from then.
    auto start = Clock::now();
    loop.addTimer(30ms, [&] {
        seen.push_back("t30");
        loop.stop();
    });
    auto cancelled = loop.addTimer(5ms, [&] { seen.push_back("cancelled"); });
    loop.addTimer(10ms, [&] {
        seen.push_back("t10");
        REQUIRE(write(a.get(), "hi", 2) == 2);
    });
    loop.cancelTimer(cancelled);
    REQUIRE(loop.run() == 0);
    CHECK(Clock::now() - start >= 30ms);
    CHECK(seen == std::vector<std::string>{"t10", "read hi", "t30"});
}

TEST_CASE("a timer added from a timer callback fires", "[loop]")
{
    EventLoop loop;
    REQUIRE(loop.init() == 0);
    int count = 0;
    std::function<void()> tick = [&] {
        if (++count == 3)
            loop.stop();
        else
            loop.addTimer(1ms, tick);
    };
    loop.addTimer(1ms, tick);
    REQUIRE(loop.run() == 0);
    CHECK(count == 3);
}

TEST_CASE("a stale event for a closed fd does not reach a handler that reused its number",
          "[loop]")
{
    EventLoop loop;
    REQUIRE(loop.init() == 0);
    int a[2], b[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a) == 0);
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, b) == 0);
    UniqueFD a1(a[1]), b1(b[1]);
    int first = a[0], second = b[0];
    // Both readable in the same batch; whichever runs first closes the
    // other and puts a new handler on the same fd number.
    REQUIRE(write(a1.get(), "x", 1) == 1);
    REQUIRE(write(b1.get(), "x", 1) == 1);
    int staleCalls = 0, handled = 0;
    std::vector<UniqueFD> keep;
    auto replace = [&](int victim) {
        loop.removeFd(victim);
        close(victim);
        int p[2];
        REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p) == 0);
        keep.emplace_back(p[1]); // open and silent: the new fd is never readable
        int reused = p[0];
        if (reused != victim) {
            // The kernel gave another number: make it the same one.
            REQUIRE(dup2(reused, victim) == victim);
            close(reused);
        }
        REQUIRE(loop.addFd(victim, EPOLLIN, [&](std::uint32_t) { staleCalls++; }) == 0);
    };
    char byte;
    REQUIRE(loop.addFd(first, EPOLLIN, [&](std::uint32_t) {
        handled++;
        REQUIRE(read(first, &byte, 1) == 1);
        replace(second);
    }) == 0);
    REQUIRE(loop.addFd(second, EPOLLIN, [&](std::uint32_t) {
        handled++;
        REQUIRE(read(second, &byte, 1) == 1);
        replace(first);
    }) == 0);
    loop.addTimer(std::chrono::milliseconds(20), [&] { loop.stop(); });
    REQUIRE(loop.run() == 0);
    CHECK(handled == 1);
    CHECK(staleCalls == 0);
    close(first);
    close(second);
}

TEST_CASE("a timer cancelled by another timer due at the same time does not run", "[loop]")
{
    EventLoop loop;
    REQUIRE(loop.init() == 0);
    std::vector<std::string> seen;
    auto at = Clock::now() + 5ms;
    EventLoop::TimerId second = 0;
    loop.addTimerAt(at, [&] {
        seen.push_back("first");
        loop.cancelTimer(second);
    });
    second = loop.addTimerAt(at, [&] { seen.push_back("second"); });
    loop.addTimerAt(at + 20ms, [&] { loop.stop(); });
    REQUIRE(loop.run() == 0);
    CHECK(seen == std::vector<std::string>{"first"});
}
