// SPDX-License-Identifier: GPL-2.0
/*
 * Shaped like bpf/retrans.c (program tcp_retransmit_skb in section
 * tracepoint/tcp/tcp_retransmit_skb, its maps from retrans_maps.h, the
 * `tracepoint_has_err` constant the loader sets) so that the exporter gets as
 * far as the verifier, which must reject it: the program reads 4 bytes at
 * offset 8192 of the tracepoint context, past PERF_MAX_TRACE_SIZE (8192), the
 * most the verifier allows for any tracepoint, after enough instructions for a
 * log longer than the lines the exporter shows without --verbose.
 * The end-to-end tests check how `retrans-exporter run` reports the rejection.
 *
 * Rebuilt by `make fixtures`.
 */
#include "bpf_defs.h"
#include "retrans_maps.h"

const volatile __u32 tracepoint_has_err = 1;

struct ctx_head {
	__u64 common;
	const void *skbaddr;
	const void *skaddr;
	__s32 state;
	__u16 sport;
	__u16 dport;
	__u16 family;
};

struct event {
	__u64 skbaddr;
	__u64 skaddr;
	__s32 state;
	__s32 err;
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u16 pad;
};

/*
 * Copies the first fields like the real program (enough instructions for a
 * verifier log longer than the lines the exporter shows by default), then
 * reads `err` at a wrong offset: the verifier rejects it at the end.
 */
SEC("tracepoint/tcp/tcp_retransmit_skb")
int tcp_retransmit_skb(struct ctx_head *ctx)
{
	struct event event = {};

	event.skbaddr = (__u64)ctx->skbaddr;
	event.skaddr = (__u64)ctx->skaddr;
	event.state = ctx->state;
	event.sport = ctx->sport;
	event.dport = ctx->dport;
	event.family = ctx->family;
	if (tracepoint_has_err)
		event.err = *(volatile __s32 *)((char *)ctx + 8192);
	bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &event, sizeof(event));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
