// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>

#include "sojourn_abi.h"

struct sojourn_bpf;

namespace bpfprobe {

class KernelBtf;

struct SojournHistogram {
    std::array<std::uint64_t, MESHD_SOJOURN_BUCKETS> buckets{}; // bucket b: below 2^b µs
    std::uint64_t sumNs = 0;
};

// Tier B: qdisc sojourn time per interface (tp_btf qdisc:qdisc_enqueue and
// qdisc:qdisc_dequeue, CO-RE), for devices in meshd's network namespace.
class SojournProbe {
public:
    SojournProbe() = default;
    ~SojournProbe();
    SojournProbe(const SojournProbe &) = delete;
    SojournProbe &operator=(const SojournProbe &) = delete;

    std::string load(const KernelBtf &kernel); // "" or why not
    bool loaded() const { return skel_ != nullptr; }
    int read(std::map<std::uint32_t, SojournHistogram> &out) const; // by ifindex
    void addRunStats(std::uint64_t &runs, std::uint64_t &nanos) const; // bpf_stats, both programs

private:
    sojourn_bpf *skel_ = nullptr;
};

} // namespace bpfprobe
