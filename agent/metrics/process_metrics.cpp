// SPDX-License-Identifier: GPL-2.0-or-later
#include "process_metrics.h"

#include <dirent.h>
#include <fstream>
#include <prometheus/metric_family.h>
#include <sstream>
#include <sys/resource.h>
#include <unistd.h>
#include <vector>

namespace meshd {

namespace {

std::optional<double> bootTime(const std::string &procRoot)
{
    std::ifstream in(procRoot + "/stat");
    std::string key;
    double value;
    while (in >> key) {
        if (key == "btime" && in >> value)
            return value;
        in.ignore(1 << 20, '\n');
    }
    return std::nullopt;
}

prometheus::MetricFamily family(const char *name, const char *help, prometheus::MetricType type,
                                double value)
{
    prometheus::MetricFamily f;
    f.name = name;
    f.help = help;
    f.type = type;
    prometheus::ClientMetric m;
    if (type == prometheus::MetricType::Counter)
        m.counter.value = value;
    else
        m.gauge.value = value;
    f.metric.push_back(m);
    return f;
}

} // namespace

std::optional<ProcessSample> sampleProcess(const std::string &procRoot, const std::string &pid)
{
    std::ifstream in(procRoot + "/" + pid + "/stat");
    std::string line;
    if (!std::getline(in, line))
        return std::nullopt;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    auto close = line.rfind(')');
    if (close == std::string::npos)
        return std::nullopt;
    std::istringstream fields(line.substr(close + 2));
    std::vector<std::string> f;
    std::string tok;
    while (fields >> tok)
        f.push_back(tok);
    // f[0] is field 3 (state); utime=14, stime=15, num_threads=20, starttime=22, vsize=23, rss=24.
    if (f.size() < 22)
        return std::nullopt;
    double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    ProcessSample s;
    try {
        s.cpuSeconds = (std::stod(f[11]) + std::stod(f[12])) / ticks;
        s.threads = std::stod(f[17]);
        double start = std::stod(f[19]) / ticks;
        s.virtualBytes = std::stod(f[20]);
        s.residentBytes = std::stod(f[21]) * page;
        if (auto bt = bootTime(procRoot))
            s.startTimeSeconds = *bt + start;
    } catch (const std::exception &) {
        return std::nullopt;
    }

    if (DIR *d = opendir((procRoot + "/" + pid + "/fd").c_str())) {
        int n = 0;
        while (struct dirent *e = readdir(d))
            if (e->d_name[0] != '.')
                n++;
        closedir(d);
        s.openFds = n - (pid == "self" ? 1 : 0); // opendir's own fd
    }
    struct rlimit rl;
    if (pid == "self" && getrlimit(RLIMIT_NOFILE, &rl) == 0)
        s.maxFds = static_cast<double>(rl.rlim_cur);
    return s;
}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const
{
    auto s = sampleProcess();
    if (!s)
        return {};
    using prometheus::MetricType;
    return {
        family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
               MetricType::Counter, s->cpuSeconds),
        family("process_resident_memory_bytes", "Resident memory size in bytes.",
               MetricType::Gauge, s->residentBytes),
        family("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::Gauge,
               s->virtualBytes),
        family("process_start_time_seconds",
               "Start time of the process since unix epoch in seconds.", MetricType::Gauge,
               s->startTimeSeconds),
        family("process_open_fds", "Number of open file descriptors.", MetricType::Gauge,
               s->openFds),
        family("process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge,
               s->maxFds),
        family("process_threads", "Number of OS threads in the process.", MetricType::Gauge,
               s->threads),
    };
}

} // namespace meshd
