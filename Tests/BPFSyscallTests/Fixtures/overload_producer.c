// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only stand-in for bpf/retrans.c that fires as fast as the test wants:
 * the same maps (`events`, the per-CPU `stats` emit counters), the same program
 * name (`tcp_retransmit_skb`, which the exporter attaches) and the same event
 * layout, but attached to syscalls/sys_enter_getppid (the loader attaches a
 * program to the tracepoint its section names) and producing only for threads
 * named `rtx-hd-burst`. The exporter loads it with --bpf.object; a tiny ring
 * and a getppid(2) burst then overload the rings on purpose
 * (Tests/ExporterTests/LossAccountingTests.swift).
 *
 * Rebuilt by `make fixtures`.
 */
#include "bpf_defs.h"
#include "retrans_maps.h"

static long (*bpf_get_current_comm)(void *buf, __u32 size) = (void *)BPF_FUNC_get_current_comm;

/* Set by the exporter's loader; unused here, present so the object takes the same constants. */
const volatile __u32 tracepoint_has_err = 1;

/* Every record says: 10.203.7.250:<cpu> -> 10.203.7.251:7788. */
#define OVERLOAD_PORT 7788

static __always_inline void count(__u32 which)
{
	__u64 *counter = bpf_map_lookup_elem(&stats, &which);
	if (counter)
		*counter += 1;
}

static __always_inline int is_burst_thread(void)
{
	static const char name[16] = "rtx-hd-burst";
	char comm[16] = {};
	bpf_get_current_comm(comm, sizeof(comm));
#pragma unroll
	for (int i = 0; i < 16; i++) {
		if (comm[i] != name[i])
			return 0;
		if (name[i] == 0)
			return 1;
	}
	return 1;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int tcp_retransmit_skb(void *ctx)
{
	if (!is_burst_thread())
		return 0;

	struct retrans_event event = {};
	event.timestamp_ns = bpf_ktime_get_boot_ns();
	event.state = 1; /* TCP_ESTABLISHED */
	event.family = 2; /* AF_INET: addresses as ::ffff:a.b.c.d */
	event.sport = (__u16)bpf_get_smp_processor_id();
	event.dport = OVERLOAD_PORT;
	event.saddr[10] = 0xff;
	event.saddr[11] = 0xff;
	event.saddr[12] = 10;
	event.saddr[13] = 203;
	event.saddr[14] = 7;
	event.saddr[15] = 250;
	event.daddr[10] = 0xff;
	event.daddr[11] = 0xff;
	event.daddr[12] = 10;
	event.daddr[13] = 203;
	event.daddr[14] = 7;
	event.daddr[15] = 251;

	if (bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &event, sizeof(event)) == 0)
		count(RETRANS_STAT_EMITTED);
	else
		count(RETRANS_STAT_EMIT_FAILED);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
