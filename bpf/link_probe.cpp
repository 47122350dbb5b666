// SPDX-License-Identifier: GPL-2.0-or-later
#include "link_probe.h"

#include <algorithm>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cerrno>
#include <cstring>
#include <tuple>

#include "link.skel.h"
#include "map_read.h"

namespace bpfprobe {

namespace {

std::string errorText(int err) { return std::strerror(err < 0 ? -err : err); }

} // namespace

const char *frameTypeName(unsigned type)
{
    static const char *const names[] = {"ogm",   "ogm2",          "elp",      "broadcast",
                                        "unicast", "unicast_4addr", "fragment", "coded",
                                        "other_batman", "non_batman", "malformed"};
    static_assert(sizeof(names) / sizeof(names[0]) == MESHD_FT_MAX);
    return type < MESHD_FT_MAX ? names[type] : "unknown";
}

LinkProbe::~LinkProbe()
{
    detachAll();
    if (skel_)
        link_bpf__destroy(skel_);
}

std::string LinkProbe::load()
{
    if (skel_)
        return {};
    link_bpf *skel = link_bpf__open();
    if (!skel)
        return "cannot open the embedded BPF object: " + errorText(errno);
    if (int err = link_bpf__load(skel); err < 0) {
        link_bpf__destroy(skel);
        if (err == -EPERM)
            return "loading BPF programs needs CAP_BPF and CAP_NET_ADMIN (run as root)";
        return "the kernel refused the link probe: " + errorText(err);
    }
    skel_ = skel;
    return {};
}

int LinkProbe::ingressFd() const
{
    return skel_ ? bpf_program__fd(skel_->progs.meshd_link_ingress) : -1;
}

int LinkProbe::egressFd() const
{
    return skel_ ? bpf_program__fd(skel_->progs.meshd_link_egress) : -1;
}

void LinkProbe::addRunStats(std::uint64_t &runs, std::uint64_t &nanos) const
{
    bpfprobe::addRunStats(ingressFd(), runs, nanos);
    bpfprobe::addRunStats(egressFd(), runs, nanos);
}

std::string LinkProbe::attach(int ifindex)
{
    if (!skel_)
        return "not loaded";
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
                .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
    int err = bpf_tc_hook_create(&hook);
    bool created = err == 0;
    if (err < 0 && err != -EEXIST)
        return "cannot add a clsact qdisc: " + errorText(err);
    for (auto [point, fd] : {std::pair{BPF_TC_INGRESS, ingressFd()}, {BPF_TC_EGRESS, egressFd()}}) {
        hook.attach_point = point;
        LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = fd, .flags = BPF_TC_F_REPLACE,
                    .handle = tcHandle, .priority = tcPriority);
        if (int e = bpf_tc_attach(&hook, &opts); e < 0) {
            detach(ifindex);
            return std::string("cannot attach the ") +
                   (point == BPF_TC_INGRESS ? "ingress" : "egress") + " program: " + errorText(e);
        }
    }
    auto it = attached_.find(ifindex);
    attached_[ifindex] = created || (it != attached_.end() && it->second);
    return {};
}

void LinkProbe::detach(int ifindex)
{
    for (auto point : {BPF_TC_INGRESS, BPF_TC_EGRESS}) {
        LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
        LIBBPF_OPTS(bpf_tc_opts, opts, .handle = tcHandle, .priority = tcPriority);
        bpf_tc_detach(&hook, &opts); // ENOENT: already gone with the interface
    }
    attached_.erase(ifindex);
}

void LinkProbe::detachAll()
{
    while (!attached_.empty())
        detach(attached_.begin()->first);
}

// One walk of the link map gives both the per-neighbour totals and the
// per-interface type counts.
int LinkProbe::read(std::vector<LinkCounter> *links, std::vector<TypeCounter> *types) const
{
    if (!skel_)
        return -ENOENT;
    std::map<std::tuple<std::uint32_t, std::uint8_t, std::uint8_t>, std::uint64_t> byType;
    int err = readPerCpu<meshd_link_key, meshd_link_value>(
        bpf_map__fd(skel_->maps.link_counters),
        [&](const meshd_link_key &k, const std::vector<meshd_link_value> &v) {
            LinkCounter c;
            c.ifindex = k.ifindex;
            std::memcpy(c.neighbor.data(), k.mac, 6);
            c.dir = k.dir;
            for (const auto &x : v) {
                c.packets += x.packets;
                c.bytes += x.bytes;
                for (std::uint8_t t = 0; t < MESHD_FT_MAX; t++)
                    if (x.types[t])
                        byType[{k.ifindex, k.dir, t}] += x.types[t];
            }
            if (links)
                links->push_back(c);
        });
    if (types)
        for (const auto &[key, n] : byType)
            types->push_back({std::get<0>(key), std::get<1>(key), std::get<2>(key), n});
    return err;
}

int LinkProbe::readLinks(std::vector<LinkCounter> &out) const
{
    out.clear();
    return read(&out, nullptr);
}

int LinkProbe::readTypes(std::vector<TypeCounter> &out) const
{
    out.clear();
    return read(nullptr, &out);
}

int LinkProbe::readLoss(std::vector<LossCounter> &out) const
{
    out.clear();
    if (!skel_)
        return -ENOENT;
    int fd = bpf_map__fd(skel_->maps.loss);
    meshd_loss_key key{}, next{};
    meshd_loss_key *prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        LossCounter c;
        if (bpf_map_lookup_elem(fd, &next, &c.value) == 0) {
            c.ifindex = next.ifindex;
            std::memcpy(c.neighbor.data(), next.mac, 6);
            out.push_back(c);
        }
        key = next;
        prev = &key;
    }
    return errno == ENOENT ? 0 : -errno;
}

} // namespace bpfprobe
