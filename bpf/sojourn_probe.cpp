// SPDX-License-Identifier: GPL-2.0-or-later
#include "sojourn_probe.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <cerrno>
#include <cstring>
#include <sys/stat.h>
#include <vector>

#include "sojourn.skel.h"
#include "tcp_probe.h" // tracepointParams

namespace bpfprobe {

SojournProbe::~SojournProbe()
{
    if (skel_)
        sojourn_bpf__destroy(skel_);
}

std::string SojournProbe::load(const std::string &btfPath)
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
    int enq = tracepointParams(kernelBtf, "qdisc_enqueue");
    int deq = tracepointParams(kernelBtf, "qdisc_dequeue");
    btf__free(kernelBtf);
    if (enq < 4 || deq < 5)
        return "the kernel lacks the qdisc:qdisc_enqueue/qdisc_dequeue events (Linux 5.14 and later)";
    LIBBPF_OPTS(bpf_object_open_opts, opts,
                .btf_custom_path = btfPath.empty() ? nullptr : btfPath.c_str());
    sojourn_bpf *skel = sojourn_bpf__open_opts(&opts);
    if (!skel)
        return std::string("cannot open the embedded BPF object: ") + std::strerror(errno);
    struct stat ns{};
    if (stat("/proc/self/ns/net", &ns) == 0)
        skel->rodata->meshd_netns_inum = static_cast<__u32>(ns.st_ino);
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

void SojournProbe::stats(std::uint64_t &runs, std::uint64_t &nanos) const
{
    runs = nanos = 0;
    if (!skel_)
        return;
    for (bpf_program *p : {skel_->progs.meshd_qdisc_enqueue, skel_->progs.meshd_qdisc_dequeue}) {
        bpf_prog_info info{};
        std::uint32_t len = sizeof(info);
        if (bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len) == 0) {
            runs += info.run_cnt;
            nanos += info.run_time_ns;
        }
    }
}

int SojournProbe::read(std::map<std::uint32_t, SojournHistogram> &out) const
{
    out.clear();
    if (!skel_)
        return -ENOENT;
    int fd = bpf_map__fd(skel_->maps.sojourn);
    int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0)
        return -EINVAL;
    std::vector<meshd_sojourn_value> values(static_cast<std::size_t>(cpus));
    std::uint32_t key = 0, next = 0;
    std::uint32_t *prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        if (bpf_map_lookup_elem(fd, &next, values.data()) == 0) {
            SojournHistogram &h = out[next];
            for (const auto &v : values) {
                for (int b = 0; b < MESHD_SOJOURN_BUCKETS; b++)
                    h.buckets[static_cast<std::size_t>(b)] += v.buckets[b];
                h.sumNs += v.sum_ns;
            }
        }
        key = next;
        prev = &key;
    }
    return errno == ENOENT ? 0 : -errno;
}

} // namespace bpfprobe
