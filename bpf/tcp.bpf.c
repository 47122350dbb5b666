// SPDX-License-Identifier: GPL-2.0-or-later
/* Tier B: TCP retransmissions per output interface, from the BTF-typed
 * tracepoint tcp:tcp_retransmit_skb. CO-RE: the few kernel fields read are
 * declared here with preserve_access_index and relocated against the
 * running kernel's BTF at load time. Since 6.17 the event also fires for
 * failed attempts and carries their error: only err == 0 counts there, and
 * the loader picks the program that matches the kernel's event. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "core_types.h"
#include "tcp_abi.h"

struct dst_entry {
	struct net_device *dev;
} __attribute__((preserve_access_index));

struct sock_common {
	possible_net_t skc_net;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
	struct dst_entry *sk_dst_cache;
} __attribute__((preserve_access_index));

struct sk_buff;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, MESHD_TCP_MAX_INTERFACES);
	__type(key, __u32); /* output ifindex, 0 when the socket has no route cached */
	__type(value, __u64);
} tcp_retransmits SEC(".maps");

static __always_inline void count(const struct sock *sk)
{
	struct dst_entry *dst;

	if (bpf_core_field_exists(sk->__sk_common.skc_net) &&
	    !meshd_net_ours(BPF_CORE_READ(sk, __sk_common.skc_net.net)))
		return;
	dst = BPF_CORE_READ(sk, sk_dst_cache);
	__u32 ifindex = dst ? (__u32)BPF_CORE_READ(dst, dev, ifindex) : 0;
	__u64 one = 1, *v = bpf_map_lookup_elem(&tcp_retransmits, &ifindex);

	if (v)
		*v += 1;
	else
		bpf_map_update_elem(&tcp_retransmits, &ifindex, &one, BPF_NOEXIST);
}

/* Kernels before 6.17: (sk, skb). */
SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(meshd_tcp_retransmit, const struct sock *sk, const struct sk_buff *skb)
{
	count(sk);
	return 0;
}

/* 6.17 and later: (sk, skb, err); failed attempts are not retransmissions. */
SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(meshd_tcp_retransmit_err, const struct sock *sk, const struct sk_buff *skb, int err)
{
	if (err == 0)
		count(sk);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
