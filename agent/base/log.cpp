// SPDX-License-Identifier: GPL-2.0-or-later
#include "log.h"

#include <atomic>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <syslog.h>
#include <unistd.h>

namespace meshd {

LogLevel Log::level_ = LogLevel::Info;

namespace {

std::mutex sinkMutex;
LogTarget target = LogTarget::Stderr;
bool syslogOpen = false;
std::atomic<unsigned long> suppressed{0};

struct Bucket {
    std::chrono::steady_clock::time_point windowStart;
    int used = 0;
    unsigned long dropped = 0;
};
std::map<std::string, Bucket> buckets;

int syslogPriority(LogLevel level)
{
    switch (level) {
    case LogLevel::Error:
        return LOG_ERR;
    case LogLevel::Warning:
        return LOG_WARNING;
    case LogLevel::Info:
        return LOG_INFO;
    case LogLevel::Debug:
        return LOG_DEBUG;
    }
    return LOG_INFO;
}

} // namespace

std::optional<LogLevel> parseLogLevel(std::string_view name)
{
    if (name == "error")
        return LogLevel::Error;
    if (name == "warning" || name == "warn")
        return LogLevel::Warning;
    if (name == "info")
        return LogLevel::Info;
    if (name == "debug")
        return LogLevel::Debug;
    return std::nullopt;
}

const char *logLevelName(LogLevel level)
{
    switch (level) {
    case LogLevel::Error:
        return "error";
    case LogLevel::Warning:
        return "warning";
    case LogLevel::Info:
        return "info";
    case LogLevel::Debug:
        return "debug";
    }
    return "info";
}

void Log::setLevel(LogLevel level) { level_ = level; }
LogLevel Log::level() { return level_; }

void Log::setTarget(LogTarget t)
{
    std::lock_guard lock(sinkMutex);
    target = t;
    if (t == LogTarget::Syslog && !syslogOpen) {
        openlog("meshd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
        syslogOpen = true;
    }
}

unsigned long Log::suppressedTotal() { return suppressed.load(); }

void Log::write(LogLevel level, const char *category, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vwrite(level, category, fmt, ap);
    va_end(ap);
}

void Log::writeLimited(const std::string &key, LogLevel level, const char *category,
                       const char *fmt, ...)
{
    unsigned long summary = 0;
    {
        std::lock_guard lock(sinkMutex);
        auto now = std::chrono::steady_clock::now();
        Bucket &b = buckets[key];
        if (now - b.windowStart >= window) {
            summary = b.dropped;
            b = Bucket{now, 0, 0};
        }
        if (b.used >= burst) {
            b.dropped++;
            suppressed++;
            return;
        }
        b.used++;
    }
    if (summary)
        write(level, category, "%lu similar messages suppressed (%s)", summary, key.c_str());
    va_list ap;
    va_start(ap, fmt);
    vwrite(level, category, fmt, ap);
    va_end(ap);
}

void Log::vwrite(LogLevel level, const char *category, const char *fmt, va_list ap)
{
    char msg[2048];
    vsnprintf(msg, sizeof(msg), fmt, ap);

    std::lock_guard lock(sinkMutex);
    if (target == LogTarget::Syslog) {
        syslog(syslogPriority(level), "%s: %s", category, msg);
        return;
    }
    // Under systemd the journal stamps lines itself; <N> sets the priority.
    if (getenv("JOURNAL_STREAM")) {
        fprintf(stderr, "<%d>%s: %s\n", syslogPriority(level), category, msg);
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    char stamp[32];
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ld meshd[%d] %s %s: %s\n", stamp, ts.tv_nsec / 1000000, getpid(),
            logLevelName(level), category, msg);
}

} // namespace meshd
