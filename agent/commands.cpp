// SPDX-License-Identifier: GPL-2.0-or-later
#include "commands.h"

#include <exception>

#include "control_protocol.h"
#include "log.h"

namespace meshd {

void CommandRegistry::add(const std::string &name, std::string summary, Handler handler)
{
    commands_[name] = Command{std::move(summary), std::move(handler), {}};
}

void CommandRegistry::addUnavailable(const std::string &name, std::string summary,
                                     std::string reason)
{
    commands_[name] = Command{std::move(summary), {}, std::move(reason)};
}

CommandResult CommandRegistry::dispatch(const std::string &name, const nlohmann::json &args) const
{
    auto it = commands_.find(name);
    if (it == commands_.end())
        return CommandResult::failure(errc::unknownCommand,
                                      "unknown command \"" + name +
                                          "\" (the \"commands\" command lists them)");
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
                                {"available", static_cast<bool>(cmd.handler)}};
        if (!cmd.handler)
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
