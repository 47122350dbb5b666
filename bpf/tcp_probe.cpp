// SPDX-License-Identifier: GPL-2.0-or-later
#include "tcp_probe.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <cerrno>
#include <cstring>
#include <sys/stat.h>
#include <vector>

#include "tcp.skel.h"

namespace bpfprobe {

int tracepointParams(const btf *b, const char *event)
{
    std::string name = std::string("btf_trace_") + event;
    int id = btf__find_by_name_kind(b, name.c_str(), BTF_KIND_TYPEDEF);
    if (id < 0)
        return -1;
    const btf_type *t = btf__type_by_id(b, static_cast<__u32>(id));
    while (t && (btf_is_typedef(t) || btf_is_ptr(t)))
        t = btf__type_by_id(b, t->type);
    return t && btf_is_func_proto(t) ? btf_vlen(t) : -1;
}

TcpProbe::~TcpProbe()
{
    if (skel_)
        tcp_bpf__destroy(skel_);
}

std::string TcpProbe::load(const std::string &btfPath)
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
    int params = tracepointParams(kernelBtf, "tcp_retransmit_skb");
    btf__free(kernelBtf);
    if (params < 0)
        return "the kernel has no tcp:tcp_retransmit_skb event in its BTF";

    LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = btfPath.empty() ? nullptr
                                                                                : btfPath.c_str());
    tcp_bpf *skel = tcp_bpf__open_opts(&opts);
    if (!skel)
        return std::string("cannot open the embedded BPF object: ") + std::strerror(errno);
    bool withErr = params >= 4;
    variant_ = withErr ? "sk, skb, err" : "sk, skb";
    struct stat ns{};
    if (stat("/proc/self/ns/net", &ns) == 0)
        skel->rodata->meshd_netns_inum = static_cast<__u32>(ns.st_ino);
    bpf_program__set_autoload(withErr ? skel->progs.meshd_tcp_retransmit
                                      : skel->progs.meshd_tcp_retransmit_err,
                              false);
    if (int err = tcp_bpf__load(skel); err < 0) {
        tcp_bpf__destroy(skel);
        return std::string("the kernel refused the TCP probe: ") + std::strerror(-err);
    }
    bpf_program *prog = withErr ? skel->progs.meshd_tcp_retransmit_err
                                : skel->progs.meshd_tcp_retransmit;
    bpf_link *link = bpf_program__attach(prog);
    if (!link) {
        int err = errno;
        tcp_bpf__destroy(skel);
        return std::string("cannot attach to tcp:tcp_retransmit_skb: ") + std::strerror(err);
    }
    (withErr ? skel->links.meshd_tcp_retransmit_err : skel->links.meshd_tcp_retransmit) = link;
    skel_ = skel;
    return {};
}

int TcpProbe::programFd() const
{
    if (!skel_)
        return -1;
    return bpf_program__fd(variant_ == "sk, skb, err" ? skel_->progs.meshd_tcp_retransmit_err
                                                      : skel_->progs.meshd_tcp_retransmit);
}

int TcpProbe::read(std::map<std::uint32_t, std::uint64_t> &out) const
{
    out.clear();
    if (!skel_)
        return -ENOENT;
    int fd = bpf_map__fd(skel_->maps.tcp_retransmits);
    int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0)
        return -EINVAL;
    std::vector<std::uint64_t> values(static_cast<std::size_t>(cpus));
    std::uint32_t key = 0, next = 0;
    std::uint32_t *prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        if (bpf_map_lookup_elem(fd, &next, values.data()) == 0)
            for (auto v : values)
                out[next] += v;
        key = next;
        prev = &key;
    }
    return errno == ENOENT ? 0 : -errno;
}

} // namespace bpfprobe
