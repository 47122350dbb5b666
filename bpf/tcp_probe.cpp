// SPDX-License-Identifier: GPL-2.0-or-later
#include "tcp_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cerrno>
#include <cstring>
#include <vector>

#include "kernel_btf.h"
#include "map_read.h"
#include "tcp.skel.h"

namespace bpfprobe {

TcpProbe::~TcpProbe()
{
    if (skel_)
        tcp_bpf__destroy(skel_);
}

std::string TcpProbe::load(const KernelBtf &kernel)
{
    if (skel_)
        return {};
    int params = kernel.tracepointParams("tcp_retransmit_skb");
    if (params < 0)
        return "the kernel has no tcp:tcp_retransmit_skb event in its BTF";

    LIBBPF_OPTS(bpf_object_open_opts, opts,
                .btf_custom_path = kernel.path().empty() ? nullptr : kernel.path().c_str());
    tcp_bpf *skel = tcp_bpf__open_opts(&opts);
    if (!skel)
        return std::string("cannot open the embedded BPF object: ") + std::strerror(errno);
    skel->rodata->meshd_netns_inum = ownNetnsInum();
    bool withErr = params >= 4;
    variant_ = withErr ? "sk, skb, err" : "sk, skb";
    bpf_program__set_autoload(withErr ? skel->progs.meshd_tcp_retransmit
                                      : skel->progs.meshd_tcp_retransmit_err,
                              false);
    if (int err = tcp_bpf__load(skel); err < 0) {
        tcp_bpf__destroy(skel);
        return std::string("the kernel refused the TCP probe: ") + std::strerror(-err);
    }
    if (int err = tcp_bpf__attach(skel); err < 0) { // attaches only what was loaded
        tcp_bpf__destroy(skel);
        return std::string("cannot attach to tcp:tcp_retransmit_skb: ") + std::strerror(-err);
    }
    skel_ = skel;
    return {};
}

void TcpProbe::addRunStats(std::uint64_t &runs, std::uint64_t &nanos) const
{
    if (skel_)
        bpfprobe::addRunStats(bpf_program__fd(variant_ == "sk, skb, err"
                                                  ? skel_->progs.meshd_tcp_retransmit_err
                                                  : skel_->progs.meshd_tcp_retransmit),
                              runs, nanos);
}

int TcpProbe::read(std::map<std::uint32_t, std::uint64_t> &out) const
{
    out.clear();
    if (!skel_)
        return -ENOENT;
    return readPerCpu<std::uint32_t, std::uint64_t>(
        bpf_map__fd(skel_->maps.tcp_retransmits),
        [&](std::uint32_t ifindex, const std::vector<std::uint64_t> &perCpu) {
            for (auto v : perCpu)
                out[ifindex] += v;
        });
}

} // namespace bpfprobe
