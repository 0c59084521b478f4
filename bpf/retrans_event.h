/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The record the BPF program sends to user space for each hit of
 * tcp/tcp_retransmit_skb. The Swift decoder (RetransEvent.Layout) reads these
 * offsets, and the loader checks them against this struct's BTF in the object
 * (RetransObjectBinding), which `retrans_event_layout` below makes clang emit.
 *
 *   offset size field
 *        0    8 timestamp_ns  CLOCK_BOOTTIME, ns (user space converts to wall time); 0 = not
 *                            stamped (event_timestamps = 0: `run`, which shows no times)
 *        8    4 state         TCP state (TCP_ESTABLISHED = 1, ..., TCP_NEW_SYN_RECV = 12)
 *       12    4 err           0, or the -errno of a failed retransmit (kernels with `err`)
 *       16    2 family        AF_INET (2) or AF_INET6 (10)
 *       18    2 sport         host byte order
 *       20    2 dport         host byte order
 *       22    2 segments      tcp_skb_pcount(skb); 1 for a SYN-ACK; 0 = not known (tracepoint/)
 *       24   16 saddr         IPv6, or IPv4-mapped IPv6 (::ffff:a.b.c.d)
 *       40   16 daddr         same
 *       56    4 netns         the socket's network namespace inode; 0 = not known
 *       60    1 kind          enum retrans_kind
 *       61    3 reserved      zero
 *       64    8 cgroup_id     the socket's cgroup v2 id (its directory's inode); 0 = not known
 *   size 72, alignment 8
 *
 * The tracepoint/ programs (kernels without BTF) fill only the first 56 bytes'
 * fields; segments, netns, kind and cgroup_id stay 0.
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
	__u16 segments;
	__u8 saddr[16];
	__u8 daddr[16];
	__u32 netns;
	__u8 kind;
	__u8 reserved[3];
	__u64 cgroup_id;
};

#define RETRANS_EVENT_SIZE 72

/*
 * Why the segment was sent again, decided in the kernel from the socket's
 * state at that moment (docs/METRICS.md, "kind", says how and which TcpExt
 * counter each one matches). Checked in this order.
 */
enum retrans_kind {
	RETRANS_KIND_UNKNOWN = 0, /* tracepoint/ programs: no socket state to read */
	RETRANS_KIND_TIMEOUT = 1, /* icsk_ca_state == TCP_CA_Loss: the RTO and what follows it */
	RETRANS_KIND_FAST = 2,    /* Disorder, CWR or Recovery: from the retransmit queue */
	RETRANS_KIND_TLP = 3,     /* icsk_pending == ICSK_TIME_LOSS_PROBE: a tail loss probe */
	RETRANS_KIND_SYN = 4,     /* the skb carries SYN (a connect's SYN again) */
	RETRANS_KIND_SYNACK = 5,  /* tcp_retransmit_synack: a listener's SYN-ACK again */
	RETRANS_KIND_OTHER = 6,   /* none of the above (Open state, no probe pending) */
};

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
