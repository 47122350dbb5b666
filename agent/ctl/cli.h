// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace meshctl {

// Exit codes of CONTRACT.md.
enum Exit { ExitOk = 0, ExitDaemonError = 1, ExitUsage = 2, ExitConnect = 3 };

struct Invocation {
    std::string socket;
    bool json = false;
    double timeoutSeconds = 5.0;
    std::string command;
    nlohmann::json args = nlohmann::json::object();
    // Set when the user asked for help: print it and exit 0.
    std::optional<std::string> help;
};

struct CommandSpec {
    std::string name;
    std::string usage;   // arguments after the command name
    std::string summary; // one line
    std::string details; // more lines for `meshctl COMMAND --help`
};

const std::vector<CommandSpec> &commandSpecs();
const CommandSpec *findCommand(const std::string &name);

std::string generalHelp();
std::string commandHelp(const CommandSpec &spec);

struct ParseResult {
    std::optional<Invocation> invocation;
    std::string error; // usage error, when invocation is empty
};

// Parses argv. `envSocket` is $MESHD_SOCKET (empty when unset).
ParseResult parseCommandLine(const std::vector<std::string> &argv, const std::string &envSocket,
                             const std::string &defaultSocket);

// "aa:bb:cc:dd:ee:ff" in any case -> lower case; nothing when malformed.
std::optional<std::string> normaliseMac(const std::string &text);

} // namespace meshctl
