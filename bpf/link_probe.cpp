// SPDX-License-Identifier: GPL-2.0-or-later
#include "link_probe.h"

#include <algorithm>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cerrno>
#include <cstring>
#include <tuple>

#include "link.skel.h"

namespace bpfprobe {

namespace {

std::string errorText(int err) { return std::strerror(err < 0 ? -err : err); }

// Reads a per-CPU hash map in batches of up to 256 entries per system call
// (BPF_MAP_LOOKUP_BATCH, Linux 5.6+). Returns false when the kernel has no
// batched lookups for it, before `add` saw anything.
template <typename Key, typename Value, typename Add>
bool readBatched(int fd, int cpus, Add add, int &err)
{
    static_assert(sizeof(Value) % 8 == 0, "per-CPU values are 8-byte aligned");
    constexpr std::uint32_t chunk = 256;
    std::vector<Key> keys(chunk);
    std::vector<Value> values(chunk * static_cast<std::size_t>(cpus));
    std::vector<Value> one(static_cast<std::size_t>(cpus));
    Key batch{};
    bool first = true;
    for (;;) {
        std::uint32_t count = chunk;
        LIBBPF_OPTS(bpf_map_batch_opts, opts);
        int rc = bpf_map_lookup_batch(fd, first ? nullptr : &batch, &batch, keys.data(),
                                      values.data(), &count, &opts);
        int e = rc < 0 ? errno : 0;
        if (rc < 0 && first && e != ENOENT && count == 0) {
            if (e == EINVAL || e == ENOTSUP || e == EOPNOTSUPP || e == ENOSYS)
                return false; // no batched lookups here: walk the keys instead
            err = -e;
            return true;
        }
        for (std::uint32_t i = 0; i < count; i++) {
            std::copy_n(values.begin() + static_cast<std::ptrdiff_t>(i) * cpus, cpus, one.begin());
            add(keys[i], one);
        }
        first = false;
        if (rc < 0) {
            err = e == ENOENT ? 0 : -e; // ENOENT: that was the last batch
            return true;
        }
    }
}

// Sums each key's per-CPU values with `add`: batched where the kernel can,
// else one lookup per key.
template <typename Key, typename Value, typename Add>
int readPerCpu(int fd, Add add)
{
    int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0)
        return cpus < 0 ? cpus : -EINVAL;
    int err = 0;
    if (readBatched<Key, Value>(fd, cpus, add, err))
        return err;
    std::vector<Value> values(static_cast<std::size_t>(cpus));
    Key key{}, next{};
    Key *prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        if (bpf_map_lookup_elem(fd, &next, values.data()) == 0)
            add(next, values);
        key = next;
        prev = &key;
    }
    return errno == ENOENT ? 0 : -errno;
}

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
