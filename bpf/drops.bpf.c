// SPDX-License-Identifier: GPL-2.0-or-later
/* Tier B: packet drops by reason and interface, from the BTF-typed
 * tracepoint skb:kfree_skb. The reason argument exists since 5.17; its
 * numbers differ between kernels, so only the number is counted here and
 * the loader names it from the running kernel's enum skb_drop_reason. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "drops_abi.h"

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

/* meshd's network namespace (its inode number), set before loading: the
 * event fires for every namespace, meshd reports drops on its own devices
 * (and those of packets without a device). 0: all. */
const volatile __u32 meshd_netns_inum = 0;

struct sk_buff {
	struct net_device *dev;
} __attribute__((preserve_access_index));

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, MESHD_DROPS_MAX_KEYS);
	__type(key, struct meshd_drop_key);
	__type(value, __u64);
} drops SEC(".maps");

static __always_inline void count(const struct sk_buff *skb, __u32 reason)
{
	struct net_device *dev = BPF_CORE_READ(skb, dev);
	struct meshd_drop_key k = {
		.ifindex = dev ? (__u32)BPF_CORE_READ(dev, ifindex) : 0,
		.reason = reason,
	};
	__u64 one = 1, *v;

	if (dev && meshd_netns_inum && bpf_core_field_exists(dev->nd_net) &&
	    BPF_CORE_READ(dev, nd_net.net, ns.inum) != meshd_netns_inum)
		return;
	v = bpf_map_lookup_elem(&drops, &k);
	if (v)
		*v += 1;
	else
		bpf_map_update_elem(&drops, &k, &one, BPF_NOEXIST);
}

/* Before 5.17: (skb, location). */
SEC("tp_btf/kfree_skb")
int BPF_PROG(meshd_drops, struct sk_buff *skb, void *location)
{
	count(skb, MESHD_DROP_REASON_UNKNOWN);
	return 0;
}

/* 5.17 and later: (skb, location, reason[, rx_sk]). */
SEC("tp_btf/kfree_skb")
int BPF_PROG(meshd_drops_reason, struct sk_buff *skb, void *location, int reason)
{
	count(skb, (__u32)reason);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
