// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <chrono>
#include <cstdarg>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace meshd {

enum class LogLevel { Error = 0, Warning = 1, Info = 2, Debug = 3 };
enum class LogTarget { Stderr, Syslog };

std::optional<LogLevel> parseLogLevel(std::string_view name);
const char *logLevelName(LogLevel level);

// Process-wide logger. Used from the event loop thread; the sink is
// serialised so that prometheus-cpp threads may log too.
class Log {
public:
    static void setLevel(LogLevel level);
    static LogLevel level();
    static void setTarget(LogTarget target);
    static bool enabled(LogLevel level) { return static_cast<int>(level) <= static_cast<int>(level_); }

    static void write(LogLevel level, const char *category, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

    // At most `burst` messages per `key` in each `window`; the rest are
    // counted and summarised when the next window opens.
    static void writeLimited(const std::string &key, LogLevel level, const char *category,
                             const char *fmt, ...) __attribute__((format(printf, 4, 5)));

    static unsigned long suppressedTotal();

    static constexpr int burst = 5;
    static constexpr std::chrono::seconds window{10};

private:
    static void vwrite(LogLevel level, const char *category, const char *fmt, va_list ap);
    static LogLevel level_;
};

} // namespace meshd

#define LOG(lvl, cat, ...)                                                                      \
    do {                                                                                        \
        if (::meshd::Log::enabled(::meshd::LogLevel::lvl))                                      \
            ::meshd::Log::write(::meshd::LogLevel::lvl, cat, __VA_ARGS__);                      \
    } while (0)

#define LOG_LIMITED(key, lvl, cat, ...)                                                         \
    do {                                                                                        \
        if (::meshd::Log::enabled(::meshd::LogLevel::lvl))                                      \
            ::meshd::Log::writeLimited(key, ::meshd::LogLevel::lvl, cat, __VA_ARGS__);          \
    } while (0)
