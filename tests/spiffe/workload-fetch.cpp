// SPDX-License-Identifier: GPL-2.0-or-later
// workload-fetch [--count N] [--timeout S] ENDPOINT
//
// Fetches from a SPIFFE Workload API with WorkloadClient in its own epoll
// loop and prints one JSON line per event:
//   {"event":"x509_context","svids":[{"spiffe_id","not_after","hint"}],"trust_domains":[...]}
//   {"event":"bundles","trust_domains":[...]}
//   {"event":"rejected"|"closed","code":N,"label":"...","message":"..."}
//   {"event":"timeout"}
// Exits 0 after N x509_context events (default 1), 1 on closed or timeout, 2 on bad usage.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include <sys/epoll.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "workload.h"

namespace
{

void print(const nlohmann::json &line)
{
    std::cout << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
}

nlohmann::json trustDomains(const spiffe::BundleSet &bundles)
{
    auto out = nlohmann::json::array();
    for (const auto &[td, certs] : bundles)
        out.push_back(td);
    return out;
}

nlohmann::json errorLine(const char *event, const spiffe::WorkloadError &error)
{
    return {{"event", event},
            {"code", error.code},
            {"label", error.label},
            {"message", error.message},
            {"retry", error.retry}};
}

int usage()
{
    std::cerr << "usage: workload-fetch [--count N] [--timeout S] ENDPOINT\n";
    return 2;
}

} // namespace

int main(int argc, char **argv)
{
    long count = 1;
    double timeout = 10;
    std::string uri;
    for (int i = 1; i < argc; i++) {
        std::string arg = argv[i];
        if ((arg == "--count" || arg == "--timeout") && i + 1 < argc) {
            char *end = nullptr;
            const char *value = argv[++i];
            if (arg == "--count")
                count = std::strtol(value, &end, 10);
            else
                timeout = std::strtod(value, &end);
            if (end == value || *end != '\0' || count < 1 || timeout <= 0)
                return usage();
        } else if (uri.empty() && !arg.starts_with("-")) {
            uri = arg;
        } else {
            return usage();
        }
    }
    if (uri.empty())
        return usage();

    auto parsed = spiffe::parseEndpoint(uri);
    if (auto *err = std::get_if<std::string>(&parsed)) {
        std::cerr << "workload-fetch: " << *err << "\n";
        return 2;
    }

    long seen = 0;
    int exitCode = -1;
    spiffe::WorkloadClient::Handlers handlers;
    handlers.x509Context = [&](spiffe::X509Context context) {
        auto svids = nlohmann::json::array();
        for (const auto &svid : context.svids)
            svids.push_back({{"spiffe_id", svid->id.str()},
                             {"not_after", std::chrono::duration_cast<std::chrono::seconds>(
                                               svid->notAfter.time_since_epoch())
                                               .count()},
                             {"hint", svid->hint}});
        print({{"event", "x509_context"},
               {"svids", svids},
               {"trust_domains", trustDomains(context.bundles)}});
        if (++seen >= count)
            exitCode = 0;
    };
    handlers.bundles = [&](spiffe::BundleSet bundles) {
        print({{"event", "bundles"}, {"trust_domains", trustDomains(bundles)}});
    };
    handlers.rejected = [&](const spiffe::WorkloadError &error) {
        print(errorLine("rejected", error));
    };
    handlers.closed = [&](const spiffe::WorkloadError &error) {
        print(errorLine("closed", error));
        exitCode = 1;
    };
    spiffe::WorkloadClient client(std::get<spiffe::Endpoint>(parsed), std::move(handlers));

    if (std::string err = client.connect(); !err.empty()) {
        print({{"event", "closed"},
               {"code", 14},
               {"label", "unavailable"},
               {"message", err},
               {"retry", true}});
        return 1;
    }

    int epoll = epoll_create1(EPOLL_CLOEXEC);
    if (epoll < 0) {
        std::perror("epoll_create1");
        return 1;
    }
    int registeredFd = -1;
    std::uint32_t registeredEvents = 0;
    // Keeps the epoll registration in step with the client's fd and events.
    auto sync = [&] {
        if (registeredFd != client.fd() && registeredFd >= 0) {
            epoll_ctl(epoll, EPOLL_CTL_DEL, registeredFd, nullptr);
            registeredFd = -1;
        }
        if (client.fd() < 0)
            return;
        epoll_event ev{};
        ev.events = client.events();
        ev.data.fd = client.fd();
        if (registeredFd < 0) {
            epoll_ctl(epoll, EPOLL_CTL_ADD, client.fd(), &ev);
            registeredFd = client.fd();
        } else if (registeredEvents != ev.events) {
            epoll_ctl(epoll, EPOLL_CTL_MOD, client.fd(), &ev);
        }
        registeredEvents = ev.events;
    };

    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout);
    sync();
    while (exitCode < 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            print({{"event", "timeout"}});
            exitCode = 1;
            break;
        }
        epoll_event ev{};
        int n = epoll_wait(epoll, &ev, 1, static_cast<int>(left.count()));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            std::perror("epoll_wait");
            exitCode = 1;
            break;
        }
        if (n == 1)
            client.handle(ev.events);
        sync();
    }
    client.close();
    ::close(epoll);
    return exitCode;
}
