// SPDX-License-Identifier: GPL-2.0-or-later
#include "sojourn_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cerrno>
#include <cstring>
#include <vector>

#include "sojourn.skel.h"
#include "kernel_btf.h"
#include "map_read.h"

namespace bpfprobe {

SojournProbe::~SojournProbe()
{
    if (skel_)
        sojourn_bpf__destroy(skel_);
}

std::string SojournProbe::load(const KernelBtf &kernel)
{
    if (skel_)
        return {};
    if (kernel.tracepointParams("qdisc_enqueue") < 4 || kernel.tracepointParams("qdisc_dequeue") < 5)
        return "the kernel lacks the qdisc:qdisc_enqueue/qdisc_dequeue events (Linux 5.14 and later)";
    LIBBPF_OPTS(bpf_object_open_opts, opts,
                .btf_custom_path = kernel.path().empty() ? nullptr : kernel.path().c_str());
    sojourn_bpf *skel = sojourn_bpf__open_opts(&opts);
    if (!skel)
        return std::string("cannot open the embedded BPF object: ") + std::strerror(errno);
    skel->rodata->meshd_netns_inum = ownNetnsInum();
    if (int err = sojourn_bpf__load(skel); err < 0) {
        sojourn_bpf__destroy(skel);
        return std::string("the kernel refused the sojourn probe: ") + std::strerror(-err);
    }
    if (int err = sojourn_bpf__attach(skel); err < 0) {
        sojourn_bpf__destroy(skel);
        return std::string("cannot attach to the qdisc events: ") + std::strerror(-err);
    }
    skel_ = skel;
    return {};
}

void SojournProbe::addRunStats(std::uint64_t &runs, std::uint64_t &nanos) const
{
    if (!skel_)
        return;
    bpfprobe::addRunStats(bpf_program__fd(skel_->progs.meshd_qdisc_enqueue), runs, nanos);
    bpfprobe::addRunStats(bpf_program__fd(skel_->progs.meshd_qdisc_dequeue), runs, nanos);
}

int SojournProbe::read(std::map<std::uint32_t, SojournHistogram> &out) const
{
    out.clear();
    if (!skel_)
        return -ENOENT;
    return readPerCpu<std::uint32_t, meshd_sojourn_value>(
        bpf_map__fd(skel_->maps.sojourn),
        [&](std::uint32_t ifindex, const std::vector<meshd_sojourn_value> &perCpu) {
            SojournHistogram &h = out[ifindex];
            for (const auto &v : perCpu) {
                for (std::size_t b = 0; b < h.buckets.size(); b++)
                    h.buckets[b] += v.buckets[b];
                h.sumNs += v.sum_ns;
            }
        });
}

} // namespace bpfprobe
