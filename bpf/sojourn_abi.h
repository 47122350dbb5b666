/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared between sojourn.bpf.c and its loader. */
#ifndef MESHD_SOJOURN_ABI_H
#define MESHD_SOJOURN_ABI_H

#include <linux/types.h>

/* Bucket b holds sojourn times below 2^b microseconds, for b up to 24
 * (about 16.8 s); the last bucket, 25, takes everything longer. */
#define MESHD_SOJOURN_BUCKETS 26
#define MESHD_SOJOURN_MAX_INTERFACES 64
/* Packets in flight through qdiscs that are tracked at once. */
#define MESHD_SOJOURN_INFLIGHT 16384

struct meshd_sojourn_value {
	__u64 buckets[MESHD_SOJOURN_BUCKETS];
	__u64 sum_ns;
};

#endif
