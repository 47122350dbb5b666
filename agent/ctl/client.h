// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace meshctl {

// A blocking client of the control socket with a deadline on every step.
class Client {
public:
    ~Client();
    // Returns an empty string or why it could not connect.
    std::string connect(const std::string &path, std::chrono::steady_clock::time_point deadline);
    std::string send(const nlohmann::json &request, std::chrono::steady_clock::time_point deadline);
    // Reads one line; an error message in `error` on failure or timeout.
    // With `idle`, the deadline moves to `idle` after each read that brought
    // bytes: a long reply that keeps arriving (50,000 originators on a slow
    // router) is not cut off, a meshd that stops sending is.
    std::optional<std::string> readLine(std::optional<std::chrono::steady_clock::time_point> deadline,
                                        std::string &error,
                                        std::optional<std::chrono::steady_clock::duration> idle = {});

private:
    int fd_ = -1;
    std::string buffer_;
};

} // namespace meshctl
