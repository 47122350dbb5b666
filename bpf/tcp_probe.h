// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>
#include <map>
#include <string>

struct tcp_bpf;

namespace bpfprobe {

class KernelBtf;

// Tier B: TCP retransmissions per output interface (tp_btf, CO-RE), in
// meshd's network namespace. Needs the kernel's BTF (a loaded KernelBtf).
class TcpProbe {
public:
    TcpProbe() = default;
    ~TcpProbe();
    TcpProbe(const TcpProbe &) = delete;
    TcpProbe &operator=(const TcpProbe &) = delete;

    // Loads and attaches: "" or why not.
    std::string load(const KernelBtf &kernel);
    bool loaded() const { return skel_ != nullptr; }
    // Which variant of the event the kernel has: "sk, skb" or "sk, skb, err".
    const std::string &variant() const { return variant_; }

    // ifindex (0: no cached route) -> retransmissions. 0 or -errno.
    int read(std::map<std::uint32_t, std::uint64_t> &out) const;
    void addRunStats(std::uint64_t &runs, std::uint64_t &nanos) const; // bpf_stats

private:
    tcp_bpf *skel_ = nullptr;
    std::string variant_;
};

} // namespace bpfprobe
