// SPDX-License-Identifier: GPL-2.0-or-later
/* Tier B: packet drops by reason and interface, from the BTF-typed
 * tracepoint skb:kfree_skb. The reason argument exists since 5.17; its
 * numbers differ between kernels, so only the number is counted here and
 * the loader names it from the running kernel's enum skb_drop_reason. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "core_types.h"
#include "drops_abi.h"

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

	if (dev && !meshd_dev_ours(dev))
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
