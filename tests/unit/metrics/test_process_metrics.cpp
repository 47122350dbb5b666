// SPDX-License-Identifier: GPL-2.0-or-later
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <prometheus/metric_family.h>
#include <unistd.h>

#include "process_metrics.h"

using namespace meshd;

TEST_CASE("process sample of a synthetic /proc", "[metrics]")
{
    auto root = std::filesystem::temp_directory_path() /
                ("meshd-proc-" + std::to_string(getpid()));
    std::filesystem::create_directories(root / "42" / "fd");
    for (int i = 0; i < 3; i++)
        std::ofstream(root / "42" / "fd" / std::to_string(i)) << "";
    std::ofstream(root / "stat") << "cpu 1 2 3\nbtime 1700000000\nprocesses 5\n";
    long tck = sysconf(_SC_CLK_TCK);
    // pid (comm with spaces) state ppid ... utime stime ... threads ... starttime vsize rss
    std::ofstream(root / "42" / "stat")
        << "42 (mesh d) S 1 42 42 0 -1 4194560 100 0 0 0 " << 3 * tck << " " << 1 * tck
        << " 0 0 20 0 5 0 " << 10 * tck << " 123456 250 18446744073709551615\n";

    auto s = sampleProcess(root.string(), "42");
    std::filesystem::remove_all(root);
    REQUIRE(s.has_value());
    CHECK(s->cpuSeconds == Approx(4.0));
    CHECK(s->threads == 5);
    CHECK(s->startTimeSeconds == Approx(1700000010.0));
    CHECK(s->virtualBytes == 123456);
    CHECK(s->residentBytes == 250.0 * static_cast<double>(sysconf(_SC_PAGESIZE)));
    CHECK(s->openFds == 3);
}

TEST_CASE("process collector reports this process", "[metrics][procfs]")
{
    int before = open("/dev/null", O_RDONLY);
    ProcessCollector c;
    auto families = c.Collect();
    close(before);
    std::map<std::string, double> values;
    for (const auto &f : families) {
        REQUIRE_FALSE(f.help.empty());
        values[f.name] = f.type == prometheus::MetricType::Counter ? f.metric[0].counter.value
                                                                   : f.metric[0].gauge.value;
    }
    CHECK(values.count("process_cpu_seconds_total"));
    CHECK(values["process_resident_memory_bytes"] > 1e5);
    CHECK(values["process_open_fds"] >= 4);
    CHECK(values["process_start_time_seconds"] > 1.6e9);
}
