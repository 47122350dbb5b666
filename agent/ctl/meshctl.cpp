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

    auto timeout = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::microseconds(static_cast<long long>(inv.timeoutSeconds * 1e6)));
    auto deadline = std::chrono::steady_clock::now() + timeout;
    // tp: the result arrives as a monitor event, so listen before starting.
    Client events;
    if (inv.command == "tp" && !inv.args.contains("cancel")) {
        if (std::string err = events.connect(inv.socket, deadline); !err.empty())
            return fail(ExitConnect, err);
        std::string error;
        if (std::string err = events.send({{"cmd", "monitor"}}, deadline); !err.empty())
            return fail(ExitConnect, err);
        if (!events.readLine(deadline, error))
            return fail(ExitConnect, error);
    }
    Client client;
    if (std::string err = client.connect(inv.socket, deadline); !err.empty())
        return fail(ExitConnect, err);
    json request = {{"id", 1}, {"cmd", inv.command}};
    if (!inv.args.empty())
        request["args"] = inv.args;
    if (std::string err = client.send(request, deadline); !err.empty())
        return fail(ExitConnect, err);

    std::string error;
    auto line = client.readLine(deadline, error, timeout);
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

    if (inv.command == "tp" && !inv.args.contains("cancel")) {
        std::uint64_t ms = result.value("time_ms", std::uint64_t{10000});
        std::uint32_t cookie = result.value("cookie", std::uint32_t{0});
        if (!inv.json)
            fprintf(stderr, "meshctl: throughput meter to %s running for %.1f s...\n",
                    result.value("originator", "?").c_str(), static_cast<double>(ms) / 1000);
        auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms) +
                     std::chrono::seconds(15);
        for (;;) {
            auto ev = events.readLine(until, error);
            if (!ev)
                return fail(ExitConnect, "no throughput meter result: " + error);
            json event = json::parse(*ev, nullptr, false);
            if (!event.is_object() || event.value("event", "") != "tp_result" ||
                event.value("cookie", std::uint32_t{0}) != cookie)
                continue;
            if (inv.json) {
                print(event.dump(2) + "\n");
            } else if (event.value("complete", false)) {
                char line[256];
                snprintf(line, sizeof(line),
                         "Test duration %llu ms.\nSent %llu bytes.\nThroughput: %s\n",
                         static_cast<unsigned long long>(event.value("test_time_ms", 0ULL)),
                         static_cast<unsigned long long>(event.value("bytes", 0ULL)),
                         formatThroughput(event["throughput_kbps"]).c_str());
                print(line);
            }
            if (!event.value("complete", false))
                return fail(ExitDaemonError, "tp: " + event.value("result", std::string("failed")));
            return ExitOk;
        }
    }

    if (inv.json)
        print(result.dump(2, ' ', false, json::error_handler_t::replace) + "\n");
    else
        print(renderResult(inv.command, result));
    return ExitOk;
}
