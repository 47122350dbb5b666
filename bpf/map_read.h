// SPDX-License-Identifier: GPL-2.0-or-later
// Reading the probes' per-CPU hash maps from userspace (header-only: the
// key and value types are each probe's own).
#pragma once

#include <algorithm>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cerrno>
#include <cstdint>
#include <vector>

namespace bpfprobe {

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

// Calls `add(key, per-CPU values)` for each entry: batched where the kernel
// can, else one lookup per key. 0 or -errno.
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

// Every key of a map, walked with BPF_MAP_GET_NEXT_KEY. 0 or -errno.
template <typename Key> int mapKeys(int fd, std::vector<Key> &out)
{
    out.clear();
    Key key{}, next{};
    Key *prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        out.push_back(next);
        key = next;
        prev = &key;
    }
    return errno == ENOENT ? 0 : -errno;
}

// Run count and run time (bpf_stats) of a loaded program.
inline void addRunStats(int progFd, std::uint64_t &runs, std::uint64_t &nanos)
{
    bpf_prog_info info{};
    std::uint32_t len = sizeof(info);
    if (progFd >= 0 && bpf_obj_get_info_by_fd(progFd, &info, &len) == 0) {
        runs += info.run_cnt;
        nanos += info.run_time_ns;
    }
}

} // namespace bpfprobe
