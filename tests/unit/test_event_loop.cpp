// SPDX-License-Identifier: GPL-2.0-or-later
#include <catch2/catch.hpp>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

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
    auto start = Clock::now();
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
