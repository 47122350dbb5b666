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
    std::string rawResult; // when set: the result, already serialised
    // A piece of a long result, already serialised, with more to come: the
    // control server sends it at once, so that a reply of megabytes starts
    // within a turn of the loop and the client's idle timeout sees progress.
    // The pieces and the final successRaw concatenated make the result; a
    // failure after a piece can no longer be an error reply and closes the
    // connection instead.
    bool more = false;

    static CommandResult success(nlohmann::json value) { return {true, std::move(value), {}, {}, {}}; }
    static CommandResult failure(std::string code, std::string message)
    {
        return {false, nullptr, std::move(code), std::move(message), {}};
    }
    static CommandResult successRaw(std::string serialised)
    {
        return {true, nullptr, {}, {}, std::move(serialised)};
    }
    static CommandResult piece(std::string serialised)
    {
        return {true, nullptr, {}, {}, std::move(serialised), true};
    }
};

// Who may run a command: every client that can connect, or only root, meshd's
// own user and members of the admin group (control.admin_group).
enum class Access { Read, Change };

// Control commands by name. Handlers run on the event loop and must
// return quickly.
class CommandRegistry {
public:
    using Handler = std::function<CommandResult(const nlohmann::json &args)>;
    // Commands whose work spans several turns of the event loop answer
    // through `reply`, exactly once, possibly before the handler returns;
    // pieces (CommandResult::piece) may come before that answer.
    using Reply = std::function<void(CommandResult)>;
    using AsyncHandler = std::function<void(const nlohmann::json &args, Reply reply)>;

    struct Command {
        std::string summary;
        Handler handler; // empty (and no async): registered but not available
        std::string unavailableReason;
        AsyncHandler async;
        Access access = Access::Read;
    };

    void add(const std::string &name, std::string summary, Handler handler,
             Access access = Access::Read);
    void addAsync(const std::string &name, std::string summary, AsyncHandler handler,
                  Access access = Access::Read);
    // A command of the contract whose feature is not in this build or not running.
    void addUnavailable(const std::string &name, std::string summary, std::string reason,
                        Access access = Access::Read);

    bool contains(const std::string &name) const { return commands_.count(name) != 0; }
    // Read for a command that is not registered (it fails as unknown anyway).
    Access access(const std::string &name) const;
    CommandResult dispatch(const std::string &name, const nlohmann::json &args) const;
    // Answers through `reply`; synchronous commands answer at once.
    void dispatch(const std::string &name, const nlohmann::json &args, Reply reply) const;
    nlohmann::json describe() const;
    std::vector<std::string> names() const;

private:
    std::map<std::string, Command> commands_;
};

} // namespace meshd
