// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark-only stand-in for bpf/retrans.o: the same maps (`events` perf event
 * array, `stats` per-CPU emit counters), the same record, and a program with the
 * same name (tcp_retransmit_skb), but attached to syscalls/sys_enter_getppid, so
 * that a driver process can raise events at a rate it chooses. The real exporter
 * loads it with `--bpf.object` and attaches it to the tracepoint its section names.
 *
 * Only processes named BENCH_DRIVER_COMM produce (every other getppid caller on
 * the machine returns at once). Built by `make bench`:
 *   $(CLANG) $(BPF_CFLAGS) [-DFLOW_SWEEP] -c scripts/bench/producer_bench.c -o ...
 * Default: 64 flows (10.203.6.1:10000..10063 -> 10.203.6.2:7601). With FLOW_SWEEP,
 * every event is a new flow (source port and address from the emit count), for
 * the memory figure at 100k series.
 */
#include "bpf_defs.h"
#include "retrans_maps.h"

static long (*bpf_get_current_comm)(void *buf, __u32 size) = (void *)BPF_FUNC_get_current_comm;

/* The exporter sets it from the tcp tracepoint's format; unused here, but it must exist. */
const volatile __u32 tracepoint_has_err = 1;

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

SEC("tracepoint/syscalls/sys_enter_getppid")
int tcp_retransmit_skb(void *ctx)
{
	if (!is_driver())
		return 0;
	__u32 key = RETRANS_STAT_EMITTED;
	__u64 *emitted = bpf_map_lookup_elem(&stats, &key);
	if (!emitted)
		return 0;
#ifdef FLOW_SWEEP
	__u64 flow = *emitted;
#else
	__u64 flow = *emitted & 63;
#endif
	struct retrans_event event = {};
	event.timestamp_ns = bpf_ktime_get_boot_ns();
	event.state = 1; /* TCP_ESTABLISHED */
	event.family = 2;
	event.sport = (__u16)(10000 + flow);
	event.dport = 7601;
	/* ::ffff:10.203.6.x, as the kernel writes IPv4 addresses. */
	event.saddr[10] = 0xff; event.saddr[11] = 0xff;
	event.saddr[12] = 10; event.saddr[13] = 203; event.saddr[14] = 6;
	event.saddr[15] = (__u8)(1 + ((flow >> 16) & 0x7f));
	event.daddr[10] = 0xff; event.daddr[11] = 0xff;
	event.daddr[12] = 10; event.daddr[13] = 203; event.daddr[14] = 6; event.daddr[15] = 200;

	if (bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &event, sizeof(event)) == 0) {
		*emitted += 1; /* per-CPU slot: no other writer */
	} else {
		key = RETRANS_STAT_EMIT_FAILED;
		__u64 *failed = bpf_map_lookup_elem(&stats, &key);
		if (failed)
			*failed += 1;
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
