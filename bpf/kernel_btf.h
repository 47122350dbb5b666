// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>
#include <string>

struct btf;

namespace bpfprobe {

// The running kernel's BTF (or the file probes.btf names), parsed once for
// all tier B probes: which tracepoints exist with which arguments, and the
// enums they use.
class KernelBtf {
public:
    KernelBtf() = default;
    ~KernelBtf();
    KernelBtf(const KernelBtf &) = delete;
    KernelBtf &operator=(const KernelBtf &) = delete;

    // "" or why not ("no BTF: ...").
    std::string load(const std::string &path);
    const btf *get() const { return btf_; }
    // The file it came from; empty for the kernel's own.
    const std::string &path() const { return path_; }

    // Parameters of a tracepoint's BTF prototype, the context pointer first
    // (so kfree_skb has 3 before 5.17, 4 after). -1 when the event is not
    // described.
    int tracepointParams(const char *event) const;

private:
    btf *btf_ = nullptr;
    std::string path_;
};

// The inode number of this process's network namespace (0 if unknown): the
// tier B programs count only events of that namespace.
std::uint32_t ownNetnsInum();

} // namespace bpfprobe
