// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace meshd {

struct CommandResult {
    bool ok = true;
    nlohmann::json result;
    std::string code;
    std::string message;

    static CommandResult success(nlohmann::json value) { return {true, std::move(value), {}, {}}; }
    static CommandResult failure(std::string code, std::string message)
    {
        return {false, nullptr, std::move(code), std::move(message)};
    }
};

// Control commands by name. Handlers run on the event loop and must
// return quickly.
class CommandRegistry {
public:
    using Handler = std::function<CommandResult(const nlohmann::json &args)>;

    struct Command {
        std::string summary;
        Handler handler; // empty: registered but its feature is not available
        std::string unavailableReason;
    };

    void add(const std::string &name, std::string summary, Handler handler);
    // A command of the contract whose feature is not in this build or not running.
    void addUnavailable(const std::string &name, std::string summary, std::string reason);

    bool contains(const std::string &name) const { return commands_.count(name) != 0; }
    CommandResult dispatch(const std::string &name, const nlohmann::json &args) const;
    nlohmann::json describe() const;
    std::vector<std::string> names() const;

private:
    std::map<std::string, Command> commands_;
};

} // namespace meshd
