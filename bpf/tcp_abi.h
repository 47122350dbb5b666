/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared between tcp.bpf.c and its loader. */
#ifndef MESHD_TCP_ABI_H
#define MESHD_TCP_ABI_H

/* Output interfaces counted separately (a router has few). */
#define MESHD_TCP_MAX_INTERFACES 256

#endif
