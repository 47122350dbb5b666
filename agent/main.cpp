// SPDX-License-Identifier: GPL-2.0-or-later
// meshd: the mesh node agent.
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "identity_service.h"
#include "log.h"
#include "meshd_build.h"
#include "module.h"
#include "netlink.h"

#include <algorithm>
#include <vector>

using namespace meshd;

namespace {

void usage(FILE *out)
{
    fprintf(out,
            "Usage: meshd [--config FILE] [--check] [--foreground] [--log-level LEVEL]\n"
            "\n"
            "The meshd mesh node agent: drives batman-adv, measures links, and serves\n"
            "the control socket (see meshctl(8)) and Prometheus metrics.\n"
            "\n"
            "Options:\n"
            "  -c, --config FILE      config file (default %s)\n"
            "  -n, --check            validate the config and the kernel, change nothing,\n"
            "                         exit 0 if usable, 1 if not\n"
            "  -f, --foreground       stay in the foreground (for systemd and procd)\n"
            "  -l, --log-level LEVEL  error, warning, info or debug (overrides log.level;\n"
            "                         MESHD_LOG_LEVEL in the environment does the same)\n"
            "  -h, --help             show this help\n"
            "  -V, --version          show the version\n"
            "\n"
            "Signals: SIGHUP reloads the config, SIGTERM and SIGINT stop the daemon.\n"
            "See meshd(8) and meshd.json(5).\n",
            MESHD_DEFAULT_CONFIG);
}

struct Args {
    std::string config = MESHD_DEFAULT_CONFIG;
    bool check = false;
    bool foreground = false;
    std::optional<LogLevel> logLevel;
};

// Returns -1 to continue, else an exit code.
int parseArgs(int argc, char **argv, Args &args)
{
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        std::string value;
        bool hasValue = false;
        if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
            value = a.substr(eq + 1);
            a = a.substr(0, eq);
            hasValue = true;
        }
        auto needValue = [&](const char *name) -> bool {
            if (hasValue)
                return true;
            if (i + 1 >= argc) {
                fprintf(stderr, "meshd: %s needs a value\n", name);
                return false;
            }
            value = argv[++i];
            return true;
        };
        if (a == "-h" || a == "--help") {
            usage(stdout);
            return 0;
        } else if (a == "-V" || a == "--version") {
            printf("meshd %s\n", MESHD_VERSION);
            return 0;
        } else if (a == "-c" || a == "--config") {
            if (!needValue("--config"))
                return 2;
            args.config = value;
        } else if (a == "-n" || a == "--check") {
            args.check = true;
        } else if (a == "-f" || a == "--foreground") {
            args.foreground = true;
        } else if (a == "-l" || a == "--log-level") {
            if (!needValue("--log-level"))
                return 2;
            args.logLevel = parseLogLevel(value);
            if (!args.logLevel) {
                fprintf(stderr, "meshd: unknown log level \"%s\" (error, warning, info, debug)\n",
                        value.c_str());
                return 2;
            }
        } else {
            fprintf(stderr, "meshd: unknown argument \"%s\" (see meshd --help)\n", argv[i]);
            return 2;
        }
    }
    return -1;
}

// Checks that the running kernel (and the environment) offers what the
// config asks for; `loaded` names the keys as the file spells them.
bool checkKernel(const Config &config, const ConfigResult &loaded)
{
    bool ok = true;
    if (batman::moduleVersion() && config.mesh.manage) {
        batman::Netlink netlink;
        std::vector<std::string> algorithms;
        if (netlink.open() == 0 && netlink.routingAlgorithms(algorithms) == 0 &&
            std::find(algorithms.begin(), algorithms.end(), config.mesh.algorithm) ==
                algorithms.end()) {
            std::string list;
            for (const auto &a : algorithms)
                list += (list.empty() ? "" : ", ") + a;
            fprintf(stderr, "meshd: %s: %s is not offered by this kernel's batman-adv "
                            "(available: %s)\n",
                    loaded.name("mesh.algorithm").c_str(), config.mesh.algorithm.c_str(),
                    list.c_str());
            ok = false;
        }
    }
    if (!batman::moduleVersion()) {
        if (config.mesh.manage) {
            fprintf(stderr,
                    "meshd: %s: the kernel has no batman-adv module loaded "
                    "(modprobe batman-adv), so %s cannot be created\n",
                    loaded.name("mesh.manage").c_str(), config.mesh.interface.c_str());
            ok = false;
        } else {
            fprintf(stderr, "meshd: warning: the kernel has no batman-adv module loaded; "
                            "mesh tables will be unavailable\n");
        }
    }
    if (!config.spiffe.trustDomain.empty()) {
        auto endpoint = workloadEndpoint(config);
        if (auto *err = std::get_if<std::string>(&endpoint)) {
            fprintf(stderr, "meshd: spiffe: %s\n", err->c_str());
            ok = false;
        } else if (auto &e = std::get<spiffe::Endpoint>(endpoint);
                   e.kind == spiffe::Endpoint::Kind::Unix && access(e.address.c_str(), F_OK) != 0) {
            fprintf(stderr, "meshd: warning: spiffe: no Workload API socket at %s yet (is the "
                            "SPIRE agent running?); meshd will keep trying\n", e.address.c_str());
        }
    }
    return ok;
}

// Forks; the parent exits once the child reports that it is running, so
// start-up errors still reach the caller's exit code.
int daemonise(int *readyFd)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return -errno;
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid > 0) {
        close(pipefd[1]);
        char byte;
        ssize_t n;
        do {
            n = read(pipefd[0], &byte, 1);
        } while (n < 0 && errno == EINTR);
        if (n == 1)
            _exit(0);
        int status = 0;
        waitpid(pid, &status, 0);
        _exit(WIFEXITED(status) && WEXITSTATUS(status) ? WEXITSTATUS(status) : 1);
    }
    close(pipefd[0]);
    setsid();
    if (chdir("/") < 0)
        return -errno;
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        close(null);
    }
    *readyFd = pipefd[1];
    return 0;
}

} // namespace

int main(int argc, char **argv)
{
    Args args;
    if (int rc = parseArgs(argc, argv, args); rc >= 0)
        return rc;
    if (!args.logLevel) {
        if (const char *env = getenv("MESHD_LOG_LEVEL"); env && *env) {
            args.logLevel = parseLogLevel(env);
            if (!args.logLevel) {
                fprintf(stderr, "meshd: MESHD_LOG_LEVEL: unknown log level \"%s\" (error, "
                                "warning, info, debug)\n", env);
                return 2;
            }
        }
    }

    const char *envSocket = getenv("MESHD_SOCKET");
    std::string defaultSocket = envSocket && *envSocket ? envSocket : MESHD_DEFAULT_SOCKET;
    ConfigResult r = loadConfigFile(args.config, defaultSocket);
    if (!r.ok()) {
        for (const auto &e : r.errors)
            fprintf(stderr, "meshd: %s: %s\n", args.config.c_str(), e.describe().c_str());
        if (args.check)
            fprintf(stderr, "meshd: %s: %zu error%s\n", args.config.c_str(), r.errors.size(),
                    r.errors.size() == 1 ? "" : "s");
        return 1;
    }
    Config config = std::move(*r.config);

    if (args.check) {
        if (!checkKernel(config, r))
            return 1;
        printf("meshd: %s: configuration OK\n", args.config.c_str());
        return 0;
    }

    // Signals go to the signalfd only; block them before any thread exists.
    sigset_t blocked;
    sigemptyset(&blocked);
    for (int s : {SIGTERM, SIGINT, SIGHUP})
        sigaddset(&blocked, s);
    sigprocmask(SIG_BLOCK, &blocked, nullptr);
    signal(SIGPIPE, SIG_IGN);

    DaemonOptions options;
    // Reloads must find the file after daemonising changes the directory.
    if (char *abs = realpath(args.config.c_str(), nullptr)) {
        options.configPath = abs;
        free(abs);
    } else {
        options.configPath = args.config;
    }
    options.logLevelOverride = args.logLevel;
    if (!args.foreground) {
        if (int err = daemonise(&options.readyFd); err < 0) {
            fprintf(stderr, "meshd: cannot daemonise: %s\n", strerror(-err));
            return 1;
        }
        options.daemonised = true;
    }

    Daemon daemon(std::move(options), std::move(config));
    return daemon.run();
}
