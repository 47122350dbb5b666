// SPDX-License-Identifier: GPL-2.0-or-later
#include "drops_probe.h"

#include <algorithm>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <vector>

#include "drops.skel.h"
#include "drops_abi.h"
#include "kernel_btf.h"
#include "map_read.h"

namespace bpfprobe {

DropProbe::~DropProbe()
{
    if (skel_)
        drops_bpf__destroy(skel_);
}

std::string DropProbe::load(const KernelBtf &kernel)
{
    if (skel_)
        return {};
    int params = kernel.tracepointParams("kfree_skb");
    if (params < 0)
        return "the kernel has no skb:kfree_skb event in its BTF";
    // The reasons, named by this kernel.
    names_.clear();
    const btf *b = kernel.get();
    if (int id = btf__find_by_name_kind(b, "skb_drop_reason", BTF_KIND_ENUM); id > 0) {
        const btf_type *t = btf__type_by_id(b, static_cast<__u32>(id));
        const struct btf_enum *e = ::btf_enum(t);
        for (int i = 0; i < btf_vlen(t); i++, e++) {
            std::string name = btf__name_by_offset(b, e->name_off);
            const std::string prefix = "SKB_DROP_REASON_";
            if (name.rfind(prefix, 0) == 0)
                name = name.substr(prefix.size());
            std::transform(name.begin(), name.end(), name.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            names_[static_cast<std::uint32_t>(e->val)] = name;
        }
    }
    hasReasons_ = params >= 4 && !names_.empty();

    LIBBPF_OPTS(bpf_object_open_opts, opts,
                .btf_custom_path = kernel.path().empty() ? nullptr : kernel.path().c_str());
    drops_bpf *skel = drops_bpf__open_opts(&opts);
    if (!skel)
        return std::string("cannot open the embedded BPF object: ") + std::strerror(errno);
    skel->rodata->meshd_netns_inum = ownNetnsInum();
    bpf_program__set_autoload(hasReasons_ ? skel->progs.meshd_drops : skel->progs.meshd_drops_reason,
                              false);
    if (int err = drops_bpf__load(skel); err < 0) {
        drops_bpf__destroy(skel);
        return std::string("the kernel refused the drops probe: ") + std::strerror(-err);
    }
    if (int err = drops_bpf__attach(skel); err < 0) { // attaches only what was loaded
        drops_bpf__destroy(skel);
        return std::string("cannot attach to skb:kfree_skb: ") + std::strerror(-err);
    }
    skel_ = skel;
    return {};
}

void DropProbe::addRunStats(std::uint64_t &runs, std::uint64_t &nanos) const
{
    if (skel_)
        bpfprobe::addRunStats(bpf_program__fd(hasReasons_ ? skel_->progs.meshd_drops_reason
                                                          : skel_->progs.meshd_drops),
                              runs, nanos);
}

int DropProbe::read(std::map<std::pair<std::uint32_t, std::string>, std::uint64_t> &out) const
{
    out.clear();
    if (!skel_)
        return -ENOENT;
    return readPerCpu<meshd_drop_key, std::uint64_t>(
        bpf_map__fd(skel_->maps.drops),
        [&](const meshd_drop_key &k, const std::vector<std::uint64_t> &perCpu) {
            std::string name;
            if (k.reason == MESHD_DROP_REASON_UNKNOWN)
                name = "unknown";
            else if (auto it = names_.find(k.reason); it != names_.end())
                name = it->second;
            else
                name = "reason_" + std::to_string(k.reason);
            for (auto v : perCpu)
                out[{k.ifindex, name}] += v;
        });
}

} // namespace bpfprobe
