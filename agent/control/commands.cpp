// SPDX-License-Identifier: GPL-2.0-or-later
#include "commands.h"

#include <exception>
#include <memory>

#include "control_protocol.h"
#include "log.h"

namespace meshd {

void CommandRegistry::add(const std::string &name, std::string summary, Handler handler,
                          Access access)
{
    commands_[name] = Command{std::move(summary), std::move(handler), {}, {}, access};
}

void CommandRegistry::addAsync(const std::string &name, std::string summary, AsyncHandler handler,
                               Access access)
{
    commands_[name] = Command{std::move(summary), {}, {}, std::move(handler), access};
}

Access CommandRegistry::access(const std::string &name) const
{
    auto it = commands_.find(name);
    return it == commands_.end() ? Access::Read : it->second.access;
}

void CommandRegistry::dispatch(const std::string &name, const nlohmann::json &args,
                               Reply reply) const
{
    auto it = commands_.find(name);
    if (it == commands_.end() || !it->second.async)
        return reply(dispatch(name, args));
    // The handler owns `reply` from here; if it throws before answering,
    // the answer is the error (a handler must not throw after replying).
    auto answered = std::make_shared<bool>(false);
    auto once = [answered, reply](CommandResult r) {
        if (*answered)
            return;
        *answered = !r.more;
        reply(std::move(r));
    };
    try {
        it->second.async(args, once);
    } catch (const std::exception &e) {
        LOG_LIMITED("command-exception:" + name, Error, "control", "command %s failed: %s",
                    name.c_str(), e.what());
        once(CommandResult::failure(errc::internal, name + " failed: " + e.what()));
    }
}

void CommandRegistry::addUnavailable(const std::string &name, std::string summary,
                                     std::string reason, Access access)
{
    commands_[name] = Command{std::move(summary), {}, std::move(reason), {}, access};
}

CommandResult CommandRegistry::dispatch(const std::string &name, const nlohmann::json &args) const
{
    auto it = commands_.find(name);
    if (it == commands_.end())
        return CommandResult::failure(errc::unknownCommand,
                                      "unknown command \"" + name +
                                          "\" (the \"commands\" command lists them)");
    if (it->second.async)
        return CommandResult::failure(errc::internal, name + " answers asynchronously");
    if (!it->second.handler)
        return CommandResult::failure(errc::unavailable, it->second.unavailableReason);
    // No exception may cross into the event loop.
    try {
        return it->second.handler(args);
    } catch (const std::exception &e) {
        LOG_LIMITED("command-exception:" + name, Error, "control", "command %s failed: %s",
                    name.c_str(), e.what());
        return CommandResult::failure(errc::internal, name + " failed: " + e.what());
    }
}

nlohmann::json CommandRegistry::describe() const
{
    nlohmann::json list = nlohmann::json::array();
    for (const auto &[name, cmd] : commands_) {
        nlohmann::json entry = {{"name", name},
                                {"summary", cmd.summary},
                                {"available", cmd.handler || cmd.async},
                                {"access", cmd.access == Access::Change ? "admin" : "read"}};
        if (!cmd.handler && !cmd.async)
            entry["reason"] = cmd.unavailableReason;
        list.push_back(entry);
    }
    return list;
}

std::vector<std::string> CommandRegistry::names() const
{
    std::vector<std::string> out;
    for (const auto &[name, cmd] : commands_)
        out.push_back(name);
    return out;
}

} // namespace meshd
