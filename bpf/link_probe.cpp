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
                for (std::uint8_t t = 0; t < MESHD_FT_MAX; t++) {
                    c.types[t] += x.types[t];
                    if (x.types[t])
                        byType[{k.ifindex, k.dir, t}] += x.types[t];
                }
            }
            if (links)
                links->push_back(c);
        });
    if (types)
        for (const auto &[key, n] : byType)
            types->push_back({std::get<0>(key), std::get<1>(key), std::get<2>(key), n});
    return err;
}

void LinkProbe::retireCounter(const meshd_link_key &key, std::vector<LinkCounter> &retired)
{
    int fd = bpf_map__fd(skel_->maps.link_counters);
    int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0)
        return;
    std::vector<meshd_link_value> values(static_cast<std::size_t>(cpus));
    if (bpf_map_lookup_elem(fd, &key, values.data()) == 0) {
        LinkCounter c;
        c.ifindex = key.ifindex;
        std::memcpy(c.neighbor.data(), key.mac, 6);
        c.dir = key.dir;
        for (const auto &x : values) {
            c.packets += x.packets;
            c.bytes += x.bytes;
            for (unsigned t = 0; t < MESHD_FT_MAX; t++)
                c.types[t] += x.types[t];
        }
        retired.push_back(c);
    }
    // Frames counted between the lookup and the delete are lost: a few at
    // most, once, when a neighbour leaves.
    bpf_map_delete_elem(fd, &key);
}

int LinkProbe::setNeighbors(const std::set<NeighborKey> &want, std::vector<LinkCounter> &retired)
{
    if (!skel_)
        return -ENOENT;
    // neighbors_ mirrors the map: only this method and dropInterface write it.
    int nfd = bpf_map__fd(skel_->maps.neighbors);
    int err = 0;
    for (auto it = neighbors_.begin(); it != neighbors_.end();) {
        if (want.count(*it)) {
            ++it;
            continue;
        }
        const auto &[ifindex, mac] = *it;
        meshd_loss_key k{};
        k.ifindex = ifindex;
        std::memcpy(k.mac, mac.data(), 6);
        bpf_map_delete_elem(nfd, &k);
        bpf_map_delete_elem(bpf_map__fd(skel_->maps.loss), &k);
        for (std::uint8_t dir : {MESHD_DIR_RX, MESHD_DIR_TX}) {
            meshd_link_key lk{};
            lk.ifindex = ifindex;
            std::memcpy(lk.mac, mac.data(), 6);
            lk.dir = dir;
            retireCounter(lk, retired);
        }
        it = neighbors_.erase(it);
    }
    const std::uint8_t one = 1;
    for (const auto &n : want) {
        if (neighbors_.count(n))
            continue;
        meshd_loss_key k{};
        k.ifindex = n.first;
        std::memcpy(k.mac, n.second.data(), 6);
        if (bpf_map_update_elem(nfd, &k, &one, BPF_NOEXIST) < 0) {
            if (err == 0)
                err = -errno; // E2BIG: more neighbours than the map holds
            continue;
        }
        neighbors_.insert(n);
    }
    return err;
}

void LinkProbe::dropInterface(std::uint32_t ifindex, std::vector<LinkCounter> &retired)
{
    if (!skel_)
        return;
    std::vector<meshd_link_key> counters;
    mapKeys(bpf_map__fd(skel_->maps.link_counters), counters);
    for (const auto &k : counters)
        if (k.ifindex == ifindex)
            retireCounter(k, retired);
    for (int fd : {bpf_map__fd(skel_->maps.neighbors), bpf_map__fd(skel_->maps.loss)}) {
        std::vector<meshd_loss_key> keys;
        mapKeys(fd, keys);
        for (const auto &k : keys)
            if (k.ifindex == ifindex)
                bpf_map_delete_elem(fd, &k);
    }
    std::erase_if(neighbors_, [ifindex](const NeighborKey &n) { return n.first == ifindex; });
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
    std::vector<meshd_loss_key> keys;
    int err = mapKeys(fd, keys);
    for (const auto &k : keys) {
        LossCounter c;
        if (bpf_map_lookup_elem(fd, &k, &c.value) == 0) {
            c.ifindex = k.ifindex;
            std::memcpy(c.neighbor.data(), k.mac, 6);
            out.push_back(c);
        }
    }
    return err;
}

} // namespace bpfprobe
