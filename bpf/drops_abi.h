/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared between drops.bpf.c and its loader. */
#ifndef MESHD_DROPS_ABI_H
#define MESHD_DROPS_ABI_H

#include <linux/types.h>

#define MESHD_DROPS_MAX_KEYS 2048
/* Kernels before 5.17 give no reason. */
#define MESHD_DROP_REASON_UNKNOWN 0xffffffffu

struct meshd_drop_key {
	__u32 ifindex; /* 0: the skb had no device */
	__u32 reason;  /* enum skb_drop_reason of the running kernel */
};

#endif
