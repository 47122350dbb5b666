// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <signal.h>

#include "deadline_heap.h"
#include "unique_fd.h"

namespace meshd {

// One epoll loop: fd handlers, one timerfd armed at the earliest deadline
// of a DeadlineHeap, and a signalfd.
class EventLoop {
public:
    using FdHandler = std::function<void(std::uint32_t events)>;
    using SignalHandler = std::function<void(int signo)>;
    using TimerId = DeadlineHeap::TimerId;

    EventLoop() = default;
    EventLoop(const EventLoop &) = delete;
    EventLoop &operator=(const EventLoop &) = delete;

    // Returns 0 or -errno.
    int init();

    // `name` (a string literal) names the handler in slow-iteration logs.
    int addFd(int fd, std::uint32_t events, FdHandler handler, const char *name = "fd");
    int modifyFd(int fd, std::uint32_t events);
    void removeFd(int fd);

    // `signals` must already be blocked in every thread.
    int watchSignals(const sigset_t &signals, SignalHandler handler);

    TimerId addTimer(Clock::duration delay, DeadlineHeap::Callback callback);
    TimerId addTimerAt(Clock::time_point deadline, DeadlineHeap::Callback callback);
    void cancelTimer(TimerId id);
    bool rescheduleTimer(TimerId id, Clock::time_point deadline);

    // Runs until stop(). Returns 0 or -errno of a fatal epoll failure.
    int run();
    void stop() { running_ = false; }

    // Longest time one iteration's handlers took, for self-measurement.
    Clock::duration longestDispatch() const { return longest_; }
    // Sees how long each iteration's handlers took: wall time, and the CPU
    // time this thread used in it (the rest is time the thread was not
    // running: preempted by other work on a busy machine).
    using IterationObserver = std::function<void(Clock::duration wall, Clock::duration cpu)>;
    void setIterationObserver(IterationObserver observer) { observer_ = std::move(observer); }

private:
    void armTimer();
    void onTimer();
    void onSignal();

    UniqueFD epoll_;
    UniqueFD timerFd_;
    UniqueFD signalFd_;
    SignalHandler signalHandler_;
    DeadlineHeap timers_;
    // Keyed by fd; the generation tells a stale event for a closed fd from
    // one for a new fd that reused its number within the same batch.
    struct Registration {
        std::uint32_t generation;
        std::shared_ptr<FdHandler> handler;
        const char *name;
    };
    std::map<int, Registration> handlers_;
    std::uint32_t nextGeneration_ = 1;
    bool running_ = false;
    Clock::duration longest_{};
    IterationObserver observer_;
};

} // namespace meshd
