// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark-only stand-in for bpf/retrans.o: the same maps (`events` perf event
 * array, `stats` per-CPU emit counters), the same record, and a program with the
 * same name (tcp_retransmit_skb), but attached to syscalls/sys_enter_getppid, so
 * that a driver process can raise events at a rate it chooses. The real exporter
 * loads it with `--bpf.object` and attaches it to the tracepoint its section names.
 *
 * The tp_btf/ programs the binding asks for with `--bpf.attach tp_btf`
 * (tcp_retransmit_btf, _rb) sit on the raw tracepoint sys_enter, which every
 * syscall of every process passes: they return at once unless the syscall is
 * getppid, then check the name as the tracepoint/ ones do. Their SYN-ACK
 * companions, which the binding also requires, return 0 and never fire.
 * Every variant copies the event into its output (the real tp_btf/ ring buffer
 * program writes in place, and reads the socket with CO-RE: a few more loads).
 *
 * Only processes named BENCH_DRIVER_COMM produce (every other getppid caller on
 * the machine returns at once). Built by `make bench`:
 *   clang -target bpf -O2 -g -Ibpf [-DFLOW_SWEEP] -c scripts/bench/producer_bench.c -o ...
 * Default: 64 flows (10.203.6.1:10000..10063 -> 10.203.6.2:7601). With FLOW_SWEEP,
 * every event is a new flow (source port and address from the emit count), for
 * the memory figure at 100k series.
 */
#include "retrans_output.h"

static long (*bpf_get_current_comm)(void *buf, __u32 size) = (void *)BPF_FUNC_get_current_comm;

#define BENCH_DRIVER_COMM "rtxbn-getppid"

static __always_inline int is_driver(void)
{
	static const char wanted[] = BENCH_DRIVER_COMM;
	char comm[16] = {};
	if (bpf_get_current_comm(comm, sizeof(comm)) != 0)
		return 0;
#pragma unroll
	for (int i = 0; i < (int)sizeof(wanted); i++)
		if (comm[i] != wanted[i])
			return 0;
	return 1;
}

/* The flow of the next event, from the emit count: 64 flows, or (FLOW_SWEEP) a new one each time. */
static __always_inline int make_event(struct retrans_event *event)
{
	__u32 key = RETRANS_STAT_EMITTED;
	__u64 *emitted = bpf_map_lookup_elem(&stats, &key);
	if (!emitted)
		return 0;
#ifdef FLOW_SWEEP
	__u64 flow = *emitted;
#else
	__u64 flow = *emitted & 63;
#endif
	event->timestamp_ns = event_time();
	event->state = 1; /* TCP_ESTABLISHED */
	event->family = 2;
	event->sport = (__u16)(10000 + flow);
	event->dport = 7601;
	/* ::ffff:10.203.6.x, as the kernel writes IPv4 addresses. */
	event->saddr[10] = 0xff; event->saddr[11] = 0xff;
	event->saddr[12] = 10; event->saddr[13] = 203; event->saddr[14] = 6;
	event->saddr[15] = (__u8)(1 + ((flow >> 16) & 0x7f));
	event->daddr[10] = 0xff; event->daddr[11] = 0xff;
	event->daddr[12] = 10; event->daddr[13] = 203; event->daddr[14] = 6; event->daddr[15] = 200;
	return 1;
}

static __always_inline void produce_to_perf(void *ctx)
{
	struct retrans_event event = {};
	if (is_driver() && make_event(&event))
		emit_to_perf(ctx, &event);
}

static __always_inline void produce_to_ring(void)
{
	struct retrans_event event = {};
	if (is_driver() && make_event(&event))
		emit_to_ring(&event);
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int tcp_retransmit_skb(void *ctx)
{
	produce_to_perf(ctx);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int tcp_retransmit_skb_rb(void *ctx)
{
	produce_to_ring();
	return 0;
}

/* __NR_getppid: the stand-in is built for x86_64 only (`make bench` on these machines). */
#define NR_GETPPID 110

/* btf_trace_sys_enter: (void *, struct pt_regs *regs, long id); the program sees regs and id. */
SEC("tp_btf/sys_enter")
int tcp_retransmit_btf(unsigned long long *ctx)
{
	if (ctx[1] == NR_GETPPID)
		produce_to_perf(ctx);
	return 0;
}

SEC("tp_btf/sys_enter")
int tcp_retransmit_btf_rb(unsigned long long *ctx)
{
	if (ctx[1] == NR_GETPPID)
		produce_to_ring();
	return 0;
}

SEC("tp_btf/tcp_retransmit_synack")
int tcp_retransmit_synack_btf(unsigned long long *ctx)
{
	return 0;
}

SEC("tp_btf/tcp_retransmit_synack")
int tcp_retransmit_synack_btf_rb(unsigned long long *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
