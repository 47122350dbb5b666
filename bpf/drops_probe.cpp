// SPDX-License-Identifier: GPL-2.0-or-later
#include "drops_probe.h"

#include <algorithm>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <sys/stat.h>
#include <vector>

#include "drops.skel.h"
#include "drops_abi.h"
#include "tcp_probe.h" // tracepointParams

namespace bpfprobe {

DropProbe::~DropProbe()
{
    if (skel_)
        drops_bpf__destroy(skel_);
}

std::string DropProbe::load(const std::string &btfPath)
{
    if (skel_)
        return {};
    btf *kernelBtf = btfPath.empty() ? btf__load_vmlinux_btf() : btf__parse(btfPath.c_str(), nullptr);
    if (!kernelBtf) {
        int err = errno;
        return btfPath.empty()
                   ? std::string("no BTF: this kernel does not describe itself "
                                 "(/sys/kernel/btf/vmlinux): ") + std::strerror(err)
                   : "no BTF: probes.btf " + btfPath + ": " + std::strerror(err);
    }
    int params = tracepointParams(kernelBtf, "kfree_skb");
    // The reasons, named by this kernel.
    names_.clear();
    int id = btf__find_by_name_kind(kernelBtf, "skb_drop_reason", BTF_KIND_ENUM);
    if (id > 0) {
        const btf_type *t = btf__type_by_id(kernelBtf, static_cast<__u32>(id));
        const struct btf_enum *e = ::btf_enum(t);
        for (int i = 0; i < btf_vlen(t); i++, e++) {
            std::string name = btf__name_by_offset(kernelBtf, e->name_off);
            const std::string prefix = "SKB_DROP_REASON_";
            if (name.rfind(prefix, 0) == 0)
                name = name.substr(prefix.size());
            std::transform(name.begin(), name.end(), name.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            names_[static_cast<std::uint32_t>(e->val)] = name;
        }
    }
    btf__free(kernelBtf);
    if (params < 0)
        return "the kernel has no skb:kfree_skb event in its BTF";
    hasReasons_ = params >= 4 && !names_.empty();

    LIBBPF_OPTS(bpf_object_open_opts, opts,
                .btf_custom_path = btfPath.empty() ? nullptr : btfPath.c_str());
    drops_bpf *skel = drops_bpf__open_opts(&opts);
    if (!skel)
        return std::string("cannot open the embedded BPF object: ") + std::strerror(errno);
    struct stat ns{};
    if (stat("/proc/self/ns/net", &ns) == 0)
        skel->rodata->meshd_netns_inum = static_cast<__u32>(ns.st_ino);
    bpf_program__set_autoload(hasReasons_ ? skel->progs.meshd_drops : skel->progs.meshd_drops_reason,
                              false);
    if (int err = drops_bpf__load(skel); err < 0) {
        drops_bpf__destroy(skel);
        return std::string("the kernel refused the drops probe: ") + std::strerror(-err);
    }
    bpf_program *prog = hasReasons_ ? skel->progs.meshd_drops_reason : skel->progs.meshd_drops;
    bpf_link *link = bpf_program__attach(prog);
    if (!link) {
        int err = errno;
        drops_bpf__destroy(skel);
        return std::string("cannot attach to skb:kfree_skb: ") + std::strerror(err);
    }
    (hasReasons_ ? skel->links.meshd_drops_reason : skel->links.meshd_drops) = link;
    skel_ = skel;
    return {};
}

int DropProbe::programFd() const
{
    if (!skel_)
        return -1;
    return bpf_program__fd(hasReasons_ ? skel_->progs.meshd_drops_reason : skel_->progs.meshd_drops);
}

int DropProbe::read(std::map<std::pair<std::uint32_t, std::string>, std::uint64_t> &out) const
{
    out.clear();
    if (!skel_)
        return -ENOENT;
    int fd = bpf_map__fd(skel_->maps.drops);
    int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0)
        return -EINVAL;
    std::vector<std::uint64_t> values(static_cast<std::size_t>(cpus));
    meshd_drop_key key{}, next{};
    meshd_drop_key *prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        if (bpf_map_lookup_elem(fd, &next, values.data()) == 0) {
            std::string name;
            if (next.reason == MESHD_DROP_REASON_UNKNOWN)
                name = "unknown";
            else if (auto it = names_.find(next.reason); it != names_.end())
                name = it->second;
            else
                name = "reason_" + std::to_string(next.reason);
            for (auto v : values)
                out[{next.ifindex, name}] += v;
        }
        key = next;
        prev = &key;
    }
    return errno == ENOENT ? 0 : -errno;
}

} // namespace bpfprobe
