// SPDX-License-Identifier: GPL-2.0-or-later
// scale-probe: measurements for the scale scenario and tests/bench/originators,
// run inside the VM lab. Every command prints one JSON object on stdout.
//
//   scale-probe status --socket PATH --duration-ms D [--gap-ms G]
//       sends {"cmd":"status"} over one control connection, one request
//       at a time with G ms between them, for D ms; prints how long the
//       replies took (count, p50_ms, p99_ms, max_ms).
//   scale-probe request --socket PATH --cmd NAME [--count N]
//       sends {"cmd":NAME} N times, one at a time, and reads each reply
//       whole without parsing it; prints p50_ms, max_ms and its bytes (the
//       daemon's side of a table command, without meshctl's formatting).
//   scale-probe scrape --addr IP:PORT [--count N]
//       GET /metrics N times; prints p50_ms, max_ms and the body's bytes.
//   scale-probe run [--count N] -- CMD ARGS...
//       runs CMD N times with stdout to /dev/null; prints p50_ms, min_ms,
//       max_ms of the wall time, and fails if any run fails.
//   scale-probe proc --pid P
//       prints rss_kb and cpu_s (user + system) of process P.
//   scale-probe spin
//       a fixed CPU workload (sorting 1M integers, best of 3; spin_ms) and
//       the cost of one system call (getppid; syscall_us). Run on the host
//       and in the VM, it tells how much slower the VM is at each.
#include <algorithm>
#include <arpa/inet.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const char *fmt, const char *arg = "")
{
    std::fprintf(stderr, "scale-probe: ");
    std::fprintf(stderr, fmt, arg);
    std::fprintf(stderr, "\n");
    std::exit(2);
}

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double percentile(std::vector<double> v, double p)
{
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
}

const char *option(int argc, char **argv, const char *name, const char *fallback)
{
    for (int i = 2; i + 1 < argc; i++)
        if (std::strcmp(argv[i], name) == 0)
            return argv[i + 1];
    if (!fallback)
        die("missing %s", name);
    return fallback;
}

long number(const char *text, const char *what)
{
    char *end = nullptr;
    long v = std::strtol(text, &end, 10);
    if (!*text || *end || v <= 0)
        die("%s must be a positive number", what);
    return v;
}

int status(int argc, char **argv)
{
    const char *path = option(argc, argv, "--socket", nullptr);
    long duration = number(option(argc, argv, "--duration-ms", nullptr), "--duration-ms");
    long gap = number(option(argc, argv, "--gap-ms", "5"), "--gap-ms");
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (std::strlen(path) >= sizeof(sa.sun_path))
        die("socket path too long: %s", path);
    std::strcpy(sa.sun_path, path);
    if (connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof(sa)) < 0)
        die("cannot connect to %s", path);
    std::vector<double> took;
    std::string pending;
    auto end = Clock::now() + std::chrono::milliseconds(duration);
    const char request[] = "{\"cmd\":\"status\"}\n";
    char buf[65536];
    while (Clock::now() < end) {
        auto start = Clock::now();
        if (write(fd, request, sizeof(request) - 1) != static_cast<ssize_t>(sizeof(request) - 1))
            die("write to %s failed", path);
        for (;;) {
            ssize_t n = read(fd, buf, sizeof(buf));
            if (n <= 0)
                die("meshd closed %s", path);
            pending.append(buf, static_cast<std::size_t>(n));
            auto nl = pending.find('\n');
            if (nl == std::string::npos)
                continue;
            if (pending.find("\"ok\":true") == std::string::npos)
                die("status failed: %s", pending.substr(0, nl).c_str());
            pending.erase(0, nl + 1);
            break;
        }
        took.push_back(ms(Clock::now() - start));
        usleep(static_cast<useconds_t>(gap * 1000));
    }
    std::printf("{\"count\":%zu,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}\n", took.size(),
                percentile(took, 0.5), percentile(took, 0.99),
                took.empty() ? 0.0 : *std::max_element(took.begin(), took.end()));
    return 0;
}

int request(int argc, char **argv)
{
    const char *path = option(argc, argv, "--socket", nullptr);
    std::string cmd = option(argc, argv, "--cmd", nullptr);
    long count = number(option(argc, argv, "--count", "5"), "--count");
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (std::strlen(path) >= sizeof(sa.sun_path))
        die("socket path too long: %s", path);
    std::strcpy(sa.sun_path, path);
    if (connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof(sa)) < 0)
        die("cannot connect to %s", path);
    std::string line = "{\"cmd\":\"" + cmd + "\"}\n";
    std::vector<double> took;
    std::size_t bytes = 0;
    std::vector<char> buf(1 << 20);
    for (long i = 0; i < count; i++) {
        auto start = Clock::now();
        if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
            die("write to %s failed", path);
        std::string reply;
        for (;;) {
            ssize_t n = read(fd, buf.data(), buf.size());
            if (n <= 0)
                die("meshd closed %s", path);
            reply.append(buf.data(), static_cast<std::size_t>(n));
            if (reply.back() == '\n')
                break;
        }
        took.push_back(ms(Clock::now() - start));
        if (reply.find("\"ok\":true") == std::string::npos)
            die("%s failed", reply.substr(0, 200).c_str());
        bytes = reply.size();
    }
    std::printf("{\"count\":%ld,\"p50_ms\":%.3f,\"max_ms\":%.3f,\"bytes\":%zu}\n", count,
                percentile(took, 0.5), *std::max_element(took.begin(), took.end()), bytes);
    return 0;
}

int scrape(int argc, char **argv)
{
    std::string addr = option(argc, argv, "--addr", nullptr);
    long count = number(option(argc, argv, "--count", "10"), "--count");
    auto colon = addr.rfind(':');
    if (colon == std::string::npos)
        die("--addr must be IP:PORT");
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<std::uint16_t>(number(addr.c_str() + colon + 1, "port")));
    if (inet_pton(AF_INET, addr.substr(0, colon).c_str(), &sa.sin_addr) != 1)
        die("bad address %s", addr.c_str());
    std::vector<double> took;
    std::size_t bytes = 0;
    for (long i = 0; i < count; i++) {
        auto start = Clock::now();
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof(sa)) < 0)
            die("cannot connect to %s", addr.c_str());
        std::string req = "GET /metrics HTTP/1.0\r\nHost: " + addr + "\r\n\r\n";
        if (write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size()))
            die("write failed");
        std::string body;
        char buf[65536];
        ssize_t n;
        while ((n = read(fd, buf, sizeof(buf))) > 0)
            body.append(buf, static_cast<std::size_t>(n));
        close(fd);
        took.push_back(ms(Clock::now() - start));
        if (body.compare(0, 12, "HTTP/1.1 200") != 0 && body.compare(0, 12, "HTTP/1.0 200") != 0)
            die("scrape failed: %s", body.substr(0, 80).c_str());
        auto head = body.find("\r\n\r\n");
        bytes = head == std::string::npos ? body.size() : body.size() - head - 4;
    }
    std::printf("{\"count\":%ld,\"p50_ms\":%.3f,\"max_ms\":%.3f,\"bytes\":%zu}\n", count,
                percentile(took, 0.5), *std::max_element(took.begin(), took.end()), bytes);
    return 0;
}

int run(int argc, char **argv)
{
    long count = number(option(argc, argv, "--count", "5"), "--count");
    int cmd = 0;
    for (int i = 2; i < argc; i++)
        if (std::strcmp(argv[i], "--") == 0) {
            cmd = i + 1;
            break;
        }
    if (!cmd || cmd >= argc)
        die("run needs -- CMD");
    std::vector<double> took;
    for (long i = 0; i < count; i++) {
        auto start = Clock::now();
        pid_t pid = fork();
        if (pid == 0) {
            int null = open("/dev/null", O_WRONLY);
            dup2(null, 1);
            execvp(argv[cmd], argv + cmd);
            _exit(127);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        took.push_back(ms(Clock::now() - start));
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            die("%s failed", argv[cmd]);
    }
    std::printf("{\"count\":%ld,\"p50_ms\":%.3f,\"min_ms\":%.3f,\"max_ms\":%.3f}\n", count,
                percentile(took, 0.5), *std::min_element(took.begin(), took.end()),
                *std::max_element(took.begin(), took.end()));
    return 0;
}

int proc(int argc, char **argv)
{
    std::string pid = option(argc, argv, "--pid", nullptr);
    FILE *f = std::fopen(("/proc/" + pid + "/stat").c_str(), "r");
    if (!f)
        die("no process %s", pid.c_str());
    char line[4096];
    if (!std::fgets(line, sizeof(line), f))
        die("cannot read /proc/%s/stat", pid.c_str());
    std::fclose(f);
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    const char *p = std::strrchr(line, ')');
    if (!p)
        die("bad /proc/%s/stat", pid.c_str());
    unsigned long long utime = 0, stime = 0;
    std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime);
    long rss = 0;
    f = std::fopen(("/proc/" + pid + "/status").c_str(), "r");
    while (f && std::fgets(line, sizeof(line), f))
        if (std::strncmp(line, "VmRSS:", 6) == 0)
            rss = std::strtol(line + 6, nullptr, 10);
    if (f)
        std::fclose(f);
    double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
    std::printf("{\"rss_kb\":%ld,\"cpu_s\":%.2f}\n", rss, static_cast<double>(utime + stime) / hz);
    return 0;
}

int spin()
{
    double best = 1e9;
    for (int round = 0; round < 3; round++) {
        std::vector<std::uint32_t> v(1 << 20);
        std::uint32_t x = 12345;
        for (auto &e : v)
            e = x = x * 1664525u + 1013904223u;
        auto start = Clock::now();
        std::sort(v.begin(), v.end());
        best = std::min(best, ms(Clock::now() - start));
        if (!std::is_sorted(v.begin(), v.end()))
            die("sort failed");
    }
    // System calls: what netlink requests and socket replies are made of.
    auto start = Clock::now();
    constexpr int calls = 20000;
    for (int i = 0; i < calls; i++)
        (void)getppid();
    double perCall = ms(Clock::now() - start) * 1000.0 / calls;
    std::printf("{\"spin_ms\":%.3f,\"syscall_us\":%.3f}\n", best, perCall);
    return 0;
}

} // namespace

int main(int argc, char **argv)
{
    std::string cmd = argc > 1 ? argv[1] : "";
    if (cmd == "status")
        return status(argc, argv);
    if (cmd == "scrape")
        return scrape(argc, argv);
    if (cmd == "request")
        return request(argc, argv);
    if (cmd == "run")
        return run(argc, argv);
    if (cmd == "proc")
        return proc(argc, argv);
    if (cmd == "spin")
        return spin();
    std::fprintf(stderr, "usage: scale-probe status|request|scrape|run|proc|spin ... (see the source's header)\n");
    return cmd == "--help" ? 0 : 2;
}
