// SPDX-License-Identifier: GPL-2.0
/*
 * Counts TCP retransmissions: one event per hit of tracepoint
 * tcp/tcp_retransmit_skb, sent to user space through a per-CPU perf ring.
 *
 * Built with `clang -target bpf -O2 -g`; no libbpf headers (see bpf_defs.h).
 */
#include "bpf_defs.h"
#include "retrans_event.h"

/*
 * The tracepoint's record, written from
 * /sys/kernel/tracing/events/tcp/tcp_retransmit_skb/format (Linux 6.18).
 * `err` is the newest field: older kernels end the record at offset 76.
 */
struct tcp_retransmit_skb_ctx {
	__u16 common_type;          /* @0 */
	__u8 common_flags;          /* @2 */
	__u8 common_preempt_count;  /* @3 */
	__s32 common_pid;           /* @4 */
	const void *skbaddr;        /* @8 */
	const void *skaddr;         /* @16 */
	__s32 state;                /* @24 */
	__u16 sport;                /* @28 */
	__u16 dport;                /* @30 */
	__u16 family;               /* @32 */
	__u8 saddr[4];              /* @34 */
	__u8 daddr[4];              /* @38 */
	__u8 saddr_v6[16];          /* @42 */
	__u8 daddr_v6[16];          /* @58 */
	__s32 err;                  /* @76 */
};

/*
 * Set by the loader before the program is loaded, from the tracepoint's
 * format file. It lives in .rodata, which the loader freezes, so the
 * verifier knows its value and never checks the ctx->err read on a kernel
 * whose record is too short for it.
 */
const volatile __u32 tracepoint_has_err = 1;

RETRANS_EVENT_LAYOUT;

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

/* Per-CPU emit counters, so that user space can prove nothing was hidden:
 * emitted == received + lost. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RETRANS_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void count(__u32 which)
{
	__u64 *counter = bpf_map_lookup_elem(&stats, &which);
	if (counter)
		*counter += 1; /* per-CPU slot: no other writer */
}

SEC("tracepoint/tcp/tcp_retransmit_skb")
int tcp_retransmit_skb(struct tcp_retransmit_skb_ctx *ctx)
{
	struct retrans_event event = {};

	event.timestamp_ns = bpf_ktime_get_boot_ns();
	event.state = ctx->state;
	event.err = tracepoint_has_err ? ctx->err : 0;
	event.family = ctx->family;
	event.sport = ctx->sport;
	event.dport = ctx->dport;
	/* The kernel fills saddr_v6/daddr_v6 for both families (IPv4 as
	 * ::ffff:a.b.c.d), and they are adjacent: one copy takes both. Plain
	 * loads would be merged into misaligned wide ctx reads, which the
	 * verifier rejects. */
	bpf_probe_read_kernel(event.saddr, sizeof(event.saddr) + sizeof(event.daddr),
	                      ctx->saddr_v6);

	if (bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &event,
	                          sizeof(event)) == 0)
		count(RETRANS_STAT_EMITTED);
	else
		count(RETRANS_STAT_EMIT_FAILED);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
