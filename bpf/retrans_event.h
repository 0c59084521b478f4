/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The record the BPF program sends to user space for each hit of
 * tcp/tcp_retransmit_skb. The Swift decoder (RetransEvent.Layout) reads these
 * offsets, and the loader checks them against this struct's BTF in the object
 * (RetransObjectBinding), which `retrans_event_layout` below makes clang emit.
 *
 *   offset size field
 *        0    8 timestamp_ns  CLOCK_BOOTTIME, ns (user space converts to wall time)
 *        8    4 state         TCP state (TCP_ESTABLISHED = 1, ...)
 *       12    4 err           0, or the -errno of a failed retransmit (kernels with `err`)
 *       16    2 family        AF_INET (2) or AF_INET6 (10)
 *       18    2 sport         host byte order
 *       20    2 dport         host byte order
 *       22    2 reserved      zero
 *       24   16 saddr         IPv6, or IPv4-mapped IPv6 (::ffff:a.b.c.d)
 *       40   16 daddr         same
 *   size 56, alignment 8
 */
#ifndef RETRANS_EVENT_H
#define RETRANS_EVENT_H

#include <linux/types.h>

struct retrans_event {
	__u64 timestamp_ns;
	__s32 state;
	__s32 err;
	__u16 family;
	__u16 sport;
	__u16 dport;
	__u16 reserved;
	__u8 saddr[16];
	__u8 daddr[16];
};

#define RETRANS_EVENT_SIZE 56

/*
 * Declare this once in every object the exporter loads (bpf/retrans.c does):
 * a pointer in .rodata costs 8 bytes and no map, and gives the object BTF for
 * struct retrans_event, which is otherwise only a stack variable.
 */
#define RETRANS_EVENT_LAYOUT \
	struct retrans_event *const volatile retrans_event_layout = 0

/* Indexes of the per-CPU counters in the `stats` map. */
enum retrans_stat {
	RETRANS_STAT_EMITTED = 0,   /* bpf_perf_event_output succeeded */
	RETRANS_STAT_EMIT_FAILED,   /* ring full or no reader on this CPU */
	RETRANS_STAT_COUNT,
};

#endif
