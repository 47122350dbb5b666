/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared between link.bpf.c and its userspace loader: map keys and values
 * of the tier A link probe (tc clsact on mesh hard interfaces). */
#ifndef MESHD_LINK_ABI_H
#define MESHD_LINK_ABI_H

#include <linux/types.h>

/* batman-adv neighbours tracked (all hard interfaces together). Only they
 * get counters and loss state of their own: userspace writes them into the
 * neighbors map from batman-adv's neighbour table, and every other source
 * (or destination) MAC of a link is counted under the all-zero MAC, one
 * entry per interface and direction. So a station that sends from
 * thousands of forged addresses can neither grow the maps nor push a real
 * neighbour's state out. */
#define MESHD_LINK_MAX_NEIGHBORS 1024
/* Hard interfaces with an "other" and a broadcast entry each. */
#define MESHD_LINK_MAX_HARDIFS 64
/* A sequence number jump larger than this is a restart, not a loss. */
#define MESHD_LINK_MAX_GAP 256

enum meshd_link_dir {
	MESHD_DIR_RX = 0,
	MESHD_DIR_TX = 1,
};

/* What a frame is, for the per-type counters. */
enum meshd_frame_type {
	MESHD_FT_OGM = 0,       /* BATMAN_IV OGM (0x00) */
	MESHD_FT_OGM2,          /* BATMAN_V OGM2 (0x04) */
	MESHD_FT_ELP,           /* BATMAN_V ELP (0x03) */
	MESHD_FT_BCAST,         /* broadcast (0x01) */
	MESHD_FT_UNICAST,       /* unicast (0x40) */
	MESHD_FT_UNICAST_4ADDR, /* unicast 4-address (0x42) */
	MESHD_FT_FRAG,          /* fragment (0x41) */
	MESHD_FT_CODED,         /* network coded (0x02) */
	MESHD_FT_OTHER_BATMAN,  /* any other batman-adv packet (ICMP, TVLV, ...) */
	MESHD_FT_NON_BATMAN,    /* not ethertype 0x4305 */
	MESHD_FT_MALFORMED,     /* too short for what its type needs */
	MESHD_FT_MAX,
};

struct meshd_link_key {
	__u32 ifindex;
	__u8 mac[6]; /* source on receive, destination on send */
	__u8 dir;    /* enum meshd_link_dir */
	__u8 pad;
};

/* One lookup per frame: the per-type counts live next to the totals, and
 * userspace sums them per interface. */
struct meshd_link_value {
	__u64 packets;
	__u64 bytes;
	__u64 types[MESHD_FT_MAX]; /* frames by enum meshd_frame_type */
};

/* Sequence numbers of the OGMs (IV) or ELP probes (V) a neighbour sends
 * about itself on one link. */
struct meshd_loss_key {
	__u32 ifindex;
	__u8 mac[6];
	__u16 pad;
};

struct meshd_loss_value {
	__u32 last_seq;
	__u32 pad;
	__u64 window;     /* bit i: last_seq - i was seen (duplicates of late ones) */
	__u64 received;   /* distinct sequence numbers seen */
	__u64 lost;       /* sequence numbers skipped (less those that came late) */
	__u64 late;       /* arrived after a higher one */
	__u64 duplicates; /* the same sequence number again */
	__u64 restarts;   /* jumps beyond MESHD_LINK_MAX_GAP */
};

#endif
