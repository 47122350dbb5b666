// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>
#include <map>
#include <string>

struct tcp_bpf;
struct btf;

namespace bpfprobe {

// Parameters of a tracepoint's BTF prototype, the context pointer first
// (so kfree_skb has 3 before 5.17, 4 after). -1 when the kernel's BTF does
// not describe the event.
int tracepointParams(const btf *kernelBtf, const char *event);

// Tier B: TCP retransmissions per output interface (tp_btf, CO-RE). Needs
// the kernel's BTF; `btfPath` (probes.btf) names a BTF file to describe
// the kernel instead of /sys/kernel/btf/vmlinux.
class TcpProbe {
public:
    TcpProbe() = default;
    ~TcpProbe();
    TcpProbe(const TcpProbe &) = delete;
    TcpProbe &operator=(const TcpProbe &) = delete;

    // Loads and attaches: "" or why not ("unavailable: no BTF ...", ...).
    std::string load(const std::string &btfPath);
    bool loaded() const { return skel_ != nullptr; }
    // Which variant of the event the kernel has: "sk, skb" or "sk, skb, err".
    const std::string &variant() const { return variant_; }

    // ifindex (0: no cached route) -> retransmissions. 0 or -errno.
    int read(std::map<std::uint32_t, std::uint64_t> &out) const;
    int programFd() const;

private:
    tcp_bpf *skel_ = nullptr;
    std::string variant_;
};

} // namespace bpfprobe
