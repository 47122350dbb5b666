// SPDX-License-Identifier: GPL-2.0-or-later
#include "event_loop.h"

#include <ctime>

#include <cerrno>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

#include "log.h"

namespace meshd {

int EventLoop::init()
{
    epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
    if (!epoll_.isValid())
        return -errno;
    timerFd_.reset(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
    if (!timerFd_.isValid())
        return -errno;
    return addFd(timerFd_.get(), EPOLLIN, [this](std::uint32_t) { onTimer(); }, "timers");
}

int EventLoop::addFd(int fd, std::uint32_t events, FdHandler handler, const char *name)
{
    std::uint32_t generation = nextGeneration_++;
    struct epoll_event ev = {};
    ev.events = events;
    ev.data.u64 = (std::uint64_t{generation} << 32) | static_cast<std::uint32_t>(fd);
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) < 0)
        return -errno;
    handlers_[fd] = {generation, std::make_shared<FdHandler>(std::move(handler)), name};
    return 0;
}

int EventLoop::modifyFd(int fd, std::uint32_t events)
{
    auto it = handlers_.find(fd);
    if (it == handlers_.end())
        return -ENOENT;
    struct epoll_event ev = {};
    ev.events = events;
    ev.data.u64 = (std::uint64_t{it->second.generation} << 32) | static_cast<std::uint32_t>(fd);
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev) < 0)
        return -errno;
    return 0;
}

void EventLoop::removeFd(int fd)
{
    epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    handlers_.erase(fd);
}

int EventLoop::watchSignals(const sigset_t &signals, SignalHandler handler)
{
    signalFd_.reset(signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!signalFd_.isValid())
        return -errno;
    signalHandler_ = std::move(handler);
    return addFd(signalFd_.get(), EPOLLIN, [this](std::uint32_t) { onSignal(); }, "signals");
}

EventLoop::TimerId EventLoop::addTimer(Clock::duration delay, DeadlineHeap::Callback callback)
{
    return addTimerAt(Clock::now() + delay, std::move(callback));
}

EventLoop::TimerId EventLoop::addTimerAt(Clock::time_point deadline,
                                         DeadlineHeap::Callback callback)
{
    TimerId id = timers_.add(deadline, std::move(callback));
    armTimer();
    return id;
}

void EventLoop::cancelTimer(TimerId id)
{
    if (timers_.cancel(id))
        armTimer();
}

bool EventLoop::rescheduleTimer(TimerId id, Clock::time_point deadline)
{
    bool found = timers_.reschedule(id, deadline);
    if (found)
        armTimer();
    return found;
}

void EventLoop::armTimer()
{
    struct itimerspec its = {};
    if (auto next = timers_.earliest()) {
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      next->time_since_epoch())
                      .count();
        // 0 would disarm: a deadline at the epoch is simply "now".
        if (ns <= 0)
            ns = 1;
        its.it_value.tv_sec = ns / 1000000000;
        its.it_value.tv_nsec = ns % 1000000000;
    }
    // steady_clock is CLOCK_MONOTONIC on Linux, so absolute time works.
    timerfd_settime(timerFd_.get(), TFD_TIMER_ABSTIME, &its, nullptr);
}

void EventLoop::onTimer()
{
    std::uint64_t expirations;
    while (read(timerFd_.get(), &expirations, sizeof(expirations)) > 0) {
    }
    // One at a time: a callback that cancels another timer due now stops it.
    // Timers added by callbacks are due after `now`, so this ends.
    const Clock::time_point now = Clock::now();
    while (auto callback = timers_.popDue(now))
        (*callback)();
    armTimer();
}

void EventLoop::onSignal()
{
    struct signalfd_siginfo si;
    while (read(signalFd_.get(), &si, sizeof(si)) == sizeof(si)) {
        if (signalHandler_)
            signalHandler_(static_cast<int>(si.ssi_signo));
    }
}

int EventLoop::run()
{
    running_ = true;
    struct epoll_event events[64];
    while (running_) {
        int n = epoll_wait(epoll_.get(), events, 64, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        auto start = Clock::now();
        const char *slowest = "";
        Clock::duration slowestTook{};
        timespec cpuStart{};
        if (observer_)
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpuStart);
        for (int i = 0; i < n && running_; i++) {
            int fd = static_cast<int>(events[i].data.u64 & 0xffffffffu);
            auto generation = static_cast<std::uint32_t>(events[i].data.u64 >> 32);
            auto it = handlers_.find(fd);
            if (it == handlers_.end() || it->second.generation != generation)
                continue; // removed (and maybe reused) by an earlier handler in this batch
            // Keep the handler alive even if it removes itself.
            auto handler = it->second.handler;
            const char *name = it->second.name;
            auto handlerStart = Clock::now();
            (*handler)(events[i].events);
            auto handlerTook = Clock::now() - handlerStart;
            if (handlerTook > slowestTook) {
                slowestTook = handlerTook;
                slowest = name;
            }
        }
        auto took = Clock::now() - start;
        if (took > longest_)
            longest_ = took;
        if (observer_) {
            timespec cpuEnd{};
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpuEnd);
            auto cpu = std::chrono::seconds(cpuEnd.tv_sec - cpuStart.tv_sec) +
                       std::chrono::nanoseconds(cpuEnd.tv_nsec - cpuStart.tv_nsec);
            observer_(took, std::chrono::duration_cast<Clock::duration>(cpu));
        }
        auto ms = [](Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); };
        if (took > std::chrono::milliseconds(50))
            LOG_LIMITED("loop-slow", Warning, "loop",
                        "event loop iteration took %.1f ms (%d ready; slowest: %s, %.1f ms)",
                        ms(took), n, slowest, ms(slowestTook));
        else if (took > std::chrono::milliseconds(5))
            LOG(Debug, "loop", "event loop iteration took %.1f ms (%d ready; slowest: %s, %.1f ms)",
                ms(took), n, slowest, ms(slowestTook));
    }
    return 0;
}

} // namespace meshd
