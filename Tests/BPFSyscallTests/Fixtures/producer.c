// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only producer: one retrans_event-sized record per getppid(2) call made
 * by one chosen thread, into a perf event array, counting its own successful
 * and failed emits. It drives the perf rings at a rate and a moment the test
 * controls, so that "received + lost == emitted" can be checked exactly.
 *
 * Rebuilt by `make fixtures`.
 */
#include "bpf_defs.h"
#define RETRANS_MAPS_EVENTS_ONLY  /* its counters are in `control` */
#include "retrans_maps.h"

static __u64 (*bpf_get_current_pid_tgid)(void) = (void *)BPF_FUNC_get_current_pid_tgid;

/* Indexes of `control`. */
enum producer_slot {
	PRODUCER_TARGET_TID = 0,  /* written by the test: only this thread produces */
	PRODUCER_EMITTED,         /* bpf_perf_event_output returned 0 */
	PRODUCER_FAILED,          /* it failed: ring full (counted as lost by the kernel) */
	PRODUCER_SLOTS,
};

/* A marker the test finds in every record, at the dport offset. */
#define PRODUCER_MARK 7201

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PRODUCER_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} control SEC(".maps");

static __always_inline void count(__u32 slot)
{
	__u64 *counter = bpf_map_lookup_elem(&control, &slot);
	if (counter)
		__sync_fetch_and_add(counter, 1);
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int produce(void *ctx)
{
	__u32 slot = PRODUCER_TARGET_TID;
	__u64 *target = bpf_map_lookup_elem(&control, &slot);
	/* The low half of pid_tgid is the thread id: other threads of the test
	 * process (and every other process) do not produce. */
	if (!target || *target == 0 || (__u32)bpf_get_current_pid_tgid() != *target)
		return 0;

	struct retrans_event event = {};
	event.timestamp_ns = bpf_ktime_get_boot_ns();
	event.family = 2;
	event.sport = (__u16)bpf_get_smp_processor_id();
	event.dport = PRODUCER_MARK;

	if (bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &event, sizeof(event)) == 0)
		count(PRODUCER_EMITTED);
	else
		count(PRODUCER_FAILED);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
