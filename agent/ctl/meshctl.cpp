// SPDX-License-Identifier: GPL-2.0-or-later
// meshctl: the command line client of meshd's control socket.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "meshd_build.h"
#include "render.h"

using namespace meshctl;
using nlohmann::json;

namespace {

int fail(int code, const std::string &message)
{
    fprintf(stderr, "meshctl: %s\n", message.c_str());
    return code;
}

void print(const std::string &s)
{
    fwrite(s.data(), 1, s.size(), stdout);
}

} // namespace

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    std::vector<std::string> args(argv, argv + argc);
    const char *env = getenv("MESHD_SOCKET");
    ParseResult parsed = parseCommandLine(args, env ? env : "", MESHD_DEFAULT_SOCKET);
    if (!parsed.invocation) {
        fprintf(stderr, "meshctl: %s\nTry 'meshctl --help'.\n", parsed.error.c_str());
        return ExitUsage;
    }
    const Invocation &inv = *parsed.invocation;
    if (inv.help) {
        if (*inv.help == "version")
            printf("meshctl %s\n", MESHD_VERSION);
        else
            print(*inv.help);
        return ExitOk;
    }

    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::microseconds(static_cast<long long>(inv.timeoutSeconds * 1e6));
    Client client;
    if (std::string err = client.connect(inv.socket, deadline); !err.empty())
        return fail(ExitConnect, err);
    json request = {{"id", 1}, {"cmd", inv.command}};
    if (!inv.args.empty())
        request["args"] = inv.args;
    if (std::string err = client.send(request, deadline); !err.empty())
        return fail(ExitConnect, err);

    std::string error;
    auto line = client.readLine(deadline, error);
    if (!line)
        return fail(ExitConnect, error);
    json reply = json::parse(*line, nullptr, false);
    if (!reply.is_object() || !reply.contains("ok"))
        return fail(ExitDaemonError, "meshd sent a reply that is not a protocol object");
    if (!reply["ok"].is_boolean() || !reply["ok"].get<bool>()) {
        std::string code = "error", message = "unknown error";
        if (reply.contains("error") && reply["error"].is_object()) {
            code = reply["error"].value("code", code);
            message = reply["error"].value("message", message);
        }
        return fail(ExitDaemonError, inv.command + ": " + message + " [" + code + "]");
    }
    json result = reply.value("result", json());

    if (inv.command == "monitor") {
        setvbuf(stdout, nullptr, _IOLBF, 0);
        if (!inv.json)
            fprintf(stderr, "meshctl: monitoring %s (Ctrl-C to stop)\n", inv.socket.c_str());
        for (;;) {
            auto ev = client.readLine(std::nullopt, error);
            if (!ev)
                return fail(ExitConnect, error);
            if (inv.json) {
                print(*ev + "\n");
                continue;
            }
            json event = json::parse(*ev, nullptr, false);
            print(event.is_discarded() ? *ev + "\n" : renderEvent(event));
        }
    }

    if (inv.json)
        print(result.dump(2, ' ', false, json::error_handler_t::replace) + "\n");
    else
        print(renderResult(inv.command, result));
    return ExitOk;
}
