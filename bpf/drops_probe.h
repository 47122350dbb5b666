// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>

struct drops_bpf;

namespace bpfprobe {

class KernelBtf;

// Tier B: drops by reason and interface (tp_btf skb:kfree_skb, CO-RE). The
// reason names come from the kernel's own BTF (enum skb_drop_reason), in
// lower case without the SKB_DROP_REASON_ prefix ("no_socket", ...).
class DropProbe {
public:
    DropProbe() = default;
    ~DropProbe();
    DropProbe(const DropProbe &) = delete;
    DropProbe &operator=(const DropProbe &) = delete;

    std::string load(const KernelBtf &kernel); // "" or why not
    bool loaded() const { return skel_ != nullptr; }
    bool hasReasons() const { return hasReasons_; }

    // (ifindex, reason name) -> drops. 0 or -errno.
    int read(std::map<std::pair<std::uint32_t, std::string>, std::uint64_t> &out) const;
    void addRunStats(std::uint64_t &runs, std::uint64_t &nanos) const; // bpf_stats

private:
    drops_bpf *skel_ = nullptr;
    bool hasReasons_ = false;
    std::map<std::uint32_t, std::string> names_;
};

} // namespace bpfprobe
