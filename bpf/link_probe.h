// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "link_abi.h"

struct link_bpf;

namespace bpfprobe {

using MacBytes = std::array<std::uint8_t, 6>;

// The MAC that the frames of every source (or destination) that is not a
// neighbour are counted under.
inline constexpr MacBytes otherMac{};

struct LinkCounter {
    std::uint32_t ifindex = 0;
    MacBytes neighbor{};  // otherMac: everyone who is not a neighbour
    std::uint8_t dir = 0; // MESHD_DIR_RX or MESHD_DIR_TX
    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;
    std::array<std::uint64_t, MESHD_FT_MAX> types{}; // frames by enum meshd_frame_type
};

// An interface and a neighbour's MAC on it.
using NeighborKey = std::pair<std::uint32_t, MacBytes>;

struct TypeCounter {
    std::uint32_t ifindex = 0;
    std::uint8_t dir = 0;
    std::uint8_t type = 0; // enum meshd_frame_type
    std::uint64_t packets = 0;
};

struct LossCounter {
    std::uint32_t ifindex = 0;
    MacBytes neighbor{};
    meshd_loss_value value{};
};

const char *frameTypeName(unsigned type);

// The tier A link probe: two tc clsact programs (ingress, egress) from an
// embedded skeleton, attached to hard interfaces with meshd's own handle
// and priority so that other tc programs on the same hook are left alone.
class LinkProbe {
public:
    static constexpr std::uint32_t tcHandle = 0x6d65; // "me"
    static constexpr std::uint32_t tcPriority = 0x6d73;

    LinkProbe() = default;
    ~LinkProbe();
    LinkProbe(const LinkProbe &) = delete;
    LinkProbe &operator=(const LinkProbe &) = delete;

    // Loads the programs and maps into the kernel: "" or why not.
    std::string load();
    bool loaded() const { return skel_ != nullptr; }

    // Attaches both programs to an interface (replacing meshd's own earlier
    // attachment there): "" or why not.
    std::string attach(int ifindex);
    // Removes meshd's programs from an interface. The clsact qdisc stays
    // (other programs may use it, and an empty one costs nothing).
    void detach(int ifindex);
    void detachAll();
    // Forgets an interface that is gone (its filters went with it).
    void forget(int ifindex) { attached_.erase(ifindex); }
    const std::map<int, bool> &attached() const { return attached_; } // ifindex -> hook created by us

    // Makes `want` the neighbours that get counters and loss state of their
    // own (at most MESHD_LINK_MAX_NEIGHBORS; the rest count as other). The
    // counters of neighbours that are no longer wanted are removed and
    // appended to `retired`, so that totals can stay monotonic. 0 or -errno
    // (of the first failure; the rest is still applied).
    int setNeighbors(const std::set<NeighborKey> &want, std::vector<LinkCounter> &retired);
    // Removes every entry of an interface (detached or gone), appending its
    // counters to `retired`.
    void dropInterface(std::uint32_t ifindex, std::vector<LinkCounter> &retired);

    // Reads the maps (summing per-CPU values). 0 or -errno.
    int readLinks(std::vector<LinkCounter> &out) const;
    int readTypes(std::vector<TypeCounter> &out) const;
    int readLoss(std::vector<LossCounter> &out) const;

    // Program file descriptors, for BPF_PROG_TEST_RUN in tests and for
    // bpf_stats (run count and time).
    int ingressFd() const;
    int egressFd() const;
    void addRunStats(std::uint64_t &runs, std::uint64_t &nanos) const; // bpf_stats, both programs

private:
    int read(std::vector<LinkCounter> *links, std::vector<TypeCounter> *types) const;
    // Deletes one counter entry, appending its last value to `retired`.
    void retireCounter(const meshd_link_key &key, std::vector<LinkCounter> &retired);

    link_bpf *skel_ = nullptr;
    std::map<int, bool> attached_;
    std::set<NeighborKey> neighbors_; // what the neighbors map holds
};

} // namespace bpfprobe
