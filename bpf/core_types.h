/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The few kernel types the tier B programs read, declared for CO-RE: libbpf
 * relocates every field access against the running kernel's BTF, so only
 * the fields used here need to exist (by name) there. Also meshd's own
 * network namespace, which the programs count in. */
#ifndef MESHD_CORE_TYPES_H
#define MESHD_CORE_TYPES_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct ns_common {
	unsigned int inum;
} __attribute__((preserve_access_index));

struct net {
	struct ns_common ns;
} __attribute__((preserve_access_index));

typedef struct {
	struct net *net;
} possible_net_t;

struct net_device {
	possible_net_t nd_net;
	int ifindex;
} __attribute__((preserve_access_index));

/* The inode number of meshd's network namespace, set by the loader before
 * loading: the events fire for every namespace, meshd reports its own.
 * 0: count everything. */
const volatile __u32 meshd_netns_inum = 0;

static __always_inline int meshd_net_ours(const struct net *net)
{
	return !meshd_netns_inum || !net || BPF_CORE_READ(net, ns.inum) == meshd_netns_inum;
}

static __always_inline int meshd_dev_ours(const struct net_device *dev)
{
	if (!meshd_netns_inum || !bpf_core_field_exists(dev->nd_net))
		return 1;
	return meshd_net_ours(BPF_CORE_READ(dev, nd_net.net));
}

#endif
