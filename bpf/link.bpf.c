// SPDX-License-Identifier: GPL-2.0-or-later
/* Tier A link probe: tc clsact programs for mesh hard interfaces. Uses only
 * the UAPI __sk_buff context and bpf_skb_load_bytes, so it loads on kernels
 * without BTF (stock OpenWrt) as well as on 6.x (direct packet access
 * to __sk_buff data is UAPI too). Counts frames per
 * (interface, neighbour, direction) and per batman-adv packet type, and
 * measures loss from the sequence numbers of each neighbour's own OGMs
 * (BATMAN_IV) or ELP probes (BATMAN_V). Only the batman-adv neighbours that
 * userspace lists get entries of their own (see link_abi.h). Never drops or changes a frame,
 * and answers TC_ACT_UNSPEC so that the filters after it on the same hook
 * still run (TC_ACT_OK would end the chain). */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "link_abi.h"

#define ETH_P_BATMAN 0x4305

/* Written by userspace: the batman-adv neighbours of each hard interface. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MESHD_LINK_MAX_NEIGHBORS);
	__type(key, struct meshd_loss_key);
	__type(value, __u8);
} neighbors SEC(".maps");

/* Neighbours in both directions, plus "other" both ways and broadcast
 * (sent) per interface: the keys are bounded, so no entry is ever evicted. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, MESHD_LINK_MAX_NEIGHBORS * 2 + MESHD_LINK_MAX_HARDIFS * 3);
	__type(key, struct meshd_link_key);
	__type(value, struct meshd_link_value);
} link_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MESHD_LINK_MAX_NEIGHBORS);
	__type(key, struct meshd_loss_key);
	__type(value, struct meshd_loss_value);
} loss SEC(".maps");

static __always_inline int is_neighbor(__u32 ifindex, const __u8 *mac)
{
	struct meshd_loss_key k = {.ifindex = ifindex};

	__builtin_memcpy(k.mac, mac, 6);
	return bpf_map_lookup_elem(&neighbors, &k) != NULL;
}

static __always_inline int is_broadcast(const __u8 *m)
{
	return (m[0] & m[1] & m[2] & m[3] & m[4] & m[5]) == 0xff;
}

static __always_inline void count_link(__u32 ifindex, __u8 dir, const __u8 *mac, __u32 len,
					__u8 type, int neighbor)
{
	struct meshd_link_key k = {.ifindex = ifindex, .dir = dir};
	struct meshd_link_value *v;

	/* Not a neighbour: the all-zero "other" key. */
	if (neighbor || (dir == MESHD_DIR_TX && is_broadcast(mac)))
		__builtin_memcpy(k.mac, mac, 6);
	v = bpf_map_lookup_elem(&link_counters, &k);
	if (v) {
		/* Per-CPU values: no atomics needed. */
		v->packets += 1;
		v->bytes += len;
		if (type < MESHD_FT_MAX)
			v->types[type] += 1;
	} else {
		struct meshd_link_value init = {.packets = 1, .bytes = len};

		if (type < MESHD_FT_MAX)
			init.types[type] = 1;
		bpf_map_update_elem(&link_counters, &k, &init, BPF_NOEXIST);
	}
}

static __always_inline void note_seq(__u32 ifindex, const __u8 *mac, __u32 seq)
{
	struct meshd_loss_key k = {.ifindex = ifindex};
	struct meshd_loss_value *v;
	__s32 d;

	__builtin_memcpy(k.mac, mac, 6);
	v = bpf_map_lookup_elem(&loss, &k);
	if (!v) {
		struct meshd_loss_value init = {.last_seq = seq, .window = 1, .received = 1};

		bpf_map_update_elem(&loss, &k, &init, BPF_NOEXIST);
		return;
	}
	/* Serial arithmetic: wraps around 2^32 correctly. */
	d = (__s32)(seq - v->last_seq);
	if (d == 0) {
		__sync_fetch_and_add(&v->duplicates, 1);
	} else if (d > 0 && d <= MESHD_LINK_MAX_GAP) {
		__sync_fetch_and_add(&v->lost, d - 1);
		__sync_fetch_and_add(&v->received, 1);
		v->window = d < 64 ? (v->window << d) | 1 : 1;
		v->last_seq = seq;
	} else if (d < 0 && d >= -MESHD_LINK_MAX_GAP) {
		__u32 back = (__u32)(-d);

		if (back < 64 && (v->window & (1ULL << back))) {
			__sync_fetch_and_add(&v->duplicates, 1);
			return;
		}
		if (back < 64)
			v->window |= 1ULL << back;
		/* Late: it was counted lost when the higher one came. */
		__sync_fetch_and_add(&v->late, 1);
		__sync_fetch_and_add(&v->received, 1);
		if (v->lost > 0)
			__sync_fetch_and_add(&v->lost, -1);
	} else {
		__sync_fetch_and_add(&v->restarts, 1);
		__sync_fetch_and_add(&v->received, 1);
		v->window = 1;
		v->last_seq = seq;
	}
}

static __always_inline int same_mac(const __u8 *a, const __u8 *b)
{
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3] && a[4] == b[4] &&
	       a[5] == b[5];
}

/* batman-adv packet types (batadv_packet.h) */
#define BATADV_IV_OGM 0x00
#define BATADV_BCAST 0x01
#define BATADV_CODED 0x02
#define BATADV_ELP 0x03
#define BATADV_OGM2 0x04
#define BATADV_UNICAST 0x40
#define BATADV_UNICAST_FRAG 0x41
#define BATADV_UNICAST_4ADDR 0x42

#define OGM_HLEN 24       /* struct batadv_ogm_packet */
#define OGM_MAX_WALK 8    /* aggregated OGMs looked at per frame */

static __always_inline int handle(struct __sk_buff *skb, __u8 dir)
{
	struct ethhdr eth;
	__u8 bat[2];
	__u8 type;
	int neighbor;

	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;

	/* The headers are nearly always in the linear part, where direct
	 * access costs no helper call; otherwise copy them out. */
	if (data + sizeof(eth) + sizeof(bat) <= end) {
		__builtin_memcpy(&eth, data, sizeof(eth));
		__builtin_memcpy(bat, data + sizeof(eth), sizeof(bat));
		if (eth.h_proto != bpf_htons(ETH_P_BATMAN)) {
			type = MESHD_FT_NON_BATMAN;
			goto count;
		}
	} else {
		/* Every frame on an Ethernet device has its header. */
		if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)) < 0)
			return TC_ACT_UNSPEC;
		if (eth.h_proto != bpf_htons(ETH_P_BATMAN)) {
			type = MESHD_FT_NON_BATMAN;
			goto count;
		}
		if (bpf_skb_load_bytes(skb, sizeof(eth), bat, sizeof(bat)) < 0) {
			type = MESHD_FT_MALFORMED;
			goto count;
		}
	}
	neighbor = is_neighbor(skb->ifindex, dir == MESHD_DIR_RX ? eth.h_source : eth.h_dest);
	switch (bat[0]) {
	case BATADV_IV_OGM: type = MESHD_FT_OGM; break;
	case BATADV_OGM2: type = MESHD_FT_OGM2; break;
	case BATADV_ELP: type = MESHD_FT_ELP; break;
	case BATADV_BCAST: type = MESHD_FT_BCAST; break;
	case BATADV_UNICAST: type = MESHD_FT_UNICAST; break;
	case BATADV_UNICAST_4ADDR: type = MESHD_FT_UNICAST_4ADDR; break;
	case BATADV_UNICAST_FRAG: type = MESHD_FT_FRAG; break;
	case BATADV_CODED: type = MESHD_FT_CODED; break;
	default: type = MESHD_FT_OTHER_BATMAN; break;
	}

	if (!neighbor) {
		/* No loss state for strangers. */
	} else if (dir == MESHD_DIR_RX && type == MESHD_FT_ELP) {
		/* batadv_elp_packet: type, version, orig[6], seqno (be32). ELP is
		 * never forwarded and its sequence is per sending hard interface,
		 * so the frame's source names the link; orig is the sender's
		 * primary address, which differs on its secondary interfaces. */
		__u8 elp[12];

		if (bpf_skb_load_bytes(skb, sizeof(eth), elp, sizeof(elp)) < 0) {
			type = MESHD_FT_MALFORMED;
		} else {
			__u32 seq;

			__builtin_memcpy(&seq, elp + 8, 4);
			note_seq(skb->ifindex, eth.h_source, bpf_ntohl(seq));
		}
	} else if (dir == MESHD_DIR_RX && type == MESHD_FT_OGM) {
		/* Aggregated OGMs: the neighbour's own one has orig == source. */
		__u32 off = sizeof(eth);
		int i;

#pragma unroll
		for (i = 0; i < OGM_MAX_WALK; i++) {
			__u8 ogm[OGM_HLEN];
			__u16 tvlv;

			if (bpf_skb_load_bytes(skb, off, ogm, sizeof(ogm)) < 0) {
				if (i == 0)
					type = MESHD_FT_MALFORMED;
				break;
			}
			if (ogm[0] != BATADV_IV_OGM)
				break;
			if (same_mac(ogm + 8, eth.h_source)) {
				__u32 seq;

				__builtin_memcpy(&seq, ogm + 4, 4);
				note_seq(skb->ifindex, eth.h_source, bpf_ntohl(seq));
				break;
			}
			__builtin_memcpy(&tvlv, ogm + 22, 2);
			off += OGM_HLEN + bpf_ntohs(tvlv);
			if (off > 0xffff)
				break;
		}
	}
	count_link(skb->ifindex, dir, dir == MESHD_DIR_RX ? eth.h_source : eth.h_dest, skb->len,
		   type, neighbor);
	return TC_ACT_UNSPEC;
count:
	/* Not batman-adv, or too short to be: counted, never parsed. */
	neighbor = is_neighbor(skb->ifindex, dir == MESHD_DIR_RX ? eth.h_source : eth.h_dest);
	count_link(skb->ifindex, dir, dir == MESHD_DIR_RX ? eth.h_source : eth.h_dest, skb->len,
		   type, neighbor);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int meshd_link_ingress(struct __sk_buff *skb)
{
	return handle(skb, MESHD_DIR_RX);
}

SEC("tc")
int meshd_link_egress(struct __sk_buff *skb)
{
	return handle(skb, MESHD_DIR_TX);
}

char LICENSE[] SEC("license") = "GPL";
