// SPDX-License-Identifier: GPL-2.0-or-later
/* Tier B: how long packets wait in qdiscs, per interface, from the
 * BTF-typed tracepoints qdisc:qdisc_enqueue and qdisc:qdisc_dequeue (CO-RE).
 * Enqueue notes the time per skb (LRU, so packets dropped inside a qdisc
 * or dequeued in bulk do not leak entries); dequeue turns it into a log2
 * histogram bucket. Only devices in meshd's network namespace count. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "core_types.h"
#include "sojourn_abi.h"

struct netdev_queue {
	struct net_device *dev;
} __attribute__((preserve_access_index));

struct Qdisc;
struct sk_buff;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MESHD_SOJOURN_INFLIGHT);
	__type(key, __u64); /* the skb's address */
	__type(value, __u64); /* enqueue time, ns */
} enqueued SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, MESHD_SOJOURN_MAX_INTERFACES);
	__type(key, __u32); /* ifindex */
	__type(value, struct meshd_sojourn_value);
} sojourn SEC(".maps");

static __always_inline int ours(const struct netdev_queue *txq, __u32 *ifindex)
{
	struct net_device *dev = BPF_CORE_READ(txq, dev);

	if (!dev)
		return 0;
	if (!meshd_dev_ours(dev))
		return 0;
	*ifindex = (__u32)BPF_CORE_READ(dev, ifindex);
	return 1;
}

SEC("tp_btf/qdisc_enqueue")
int BPF_PROG(meshd_qdisc_enqueue, struct Qdisc *q, const struct netdev_queue *txq,
	     struct sk_buff *skb)
{
	__u32 ifindex;
	__u64 key = (__u64)skb, now;

	if (!skb || !ours(txq, &ifindex))
		return 0;
	now = bpf_ktime_get_ns();
	bpf_map_update_elem(&enqueued, &key, &now, BPF_ANY);
	return 0;
}

SEC("tp_btf/qdisc_dequeue")
int BPF_PROG(meshd_qdisc_dequeue, struct Qdisc *q, const struct netdev_queue *txq, int packets,
	     struct sk_buff *skb)
{
	__u32 ifindex, b = 0;
	__u64 key = (__u64)skb, *t, us;
	struct meshd_sojourn_value *v;

	if (!skb || !ours(txq, &ifindex))
		return 0;
	t = bpf_map_lookup_elem(&enqueued, &key);
	if (!t)
		return 0;
	us = (bpf_ktime_get_ns() - *t) / 1000;
	bpf_map_delete_elem(&enqueued, &key);
	v = bpf_map_lookup_elem(&sojourn, &ifindex);
	if (!v) {
		struct meshd_sojourn_value init = {};

		bpf_map_update_elem(&sojourn, &ifindex, &init, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&sojourn, &ifindex);
		if (!v)
			return 0;
	}
	/* b: the smallest with us < 2^b */
#pragma unroll
	for (int i = 0; i < MESHD_SOJOURN_BUCKETS - 1; i++)
		if (us >= (1ULL << i))
			b = i + 1;
	v->buckets[b] += 1;
	v->sum_ns += us * 1000;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
