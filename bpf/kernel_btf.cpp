// SPDX-License-Identifier: GPL-2.0-or-later
#include "kernel_btf.h"

#include <bpf/btf.h>
#include <cerrno>
#include <cstring>
#include <sys/stat.h>

namespace bpfprobe {

KernelBtf::~KernelBtf()
{
    if (btf_)
        btf__free(btf_);
}

std::string KernelBtf::load(const std::string &path)
{
    if (btf_)
        return {};
    path_ = path;
    btf_ = path.empty() ? btf__load_vmlinux_btf() : btf__parse(path.c_str(), nullptr);
    if (btf_)
        return {};
    int err = errno;
    return path.empty() ? std::string("no BTF: this kernel does not describe itself "
                                      "(/sys/kernel/btf/vmlinux): ") +
                              std::strerror(err)
                        : "no BTF: probes.btf " + path + ": " + std::strerror(err);
}

int KernelBtf::tracepointParams(const char *event) const
{
    if (!btf_)
        return -1;
    std::string name = std::string("btf_trace_") + event;
    int id = btf__find_by_name_kind(btf_, name.c_str(), BTF_KIND_TYPEDEF);
    if (id < 0)
        return -1;
    const btf_type *t = btf__type_by_id(btf_, static_cast<__u32>(id));
    while (t && (btf_is_typedef(t) || btf_is_ptr(t)))
        t = btf__type_by_id(btf_, t->type);
    return t && btf_is_func_proto(t) ? btf_vlen(t) : -1;
}

std::uint32_t ownNetnsInum()
{
    struct stat ns{};
    return stat("/proc/self/ns/net", &ns) == 0 ? static_cast<std::uint32_t>(ns.st_ino) : 0;
}

} // namespace bpfprobe
