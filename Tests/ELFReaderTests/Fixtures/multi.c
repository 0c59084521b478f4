// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture: several programs sharing bpf-to-bpf subprograms in .text,
 * a .rodata constant, .data and .bss variables, a HASH map and an ARRAY map.
 * Rebuilt by `make fixtures`.
 */
#include "bpf_defs.h"

struct totals {
	__u64 calls;
	__u64 weighted;
};

/* .rodata: the loader may set it before loading; the verifier sees a constant. */
const volatile __u32 weight = 3;
/* .data and .bss: ordinary globals, one-entry array maps underneath. */
__u64 last_cpu = 99;
__u64 hits;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} calls_by_cpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct totals);
} totals SEC(".maps");

/* static + noinline: a subprogram reached only through another subprogram. */
static __attribute__((noinline)) __u64 weigh(__u64 calls)
{
	return calls * weight;
}

/* global + noinline: its own function in .text, called by every program. */
__attribute__((noinline)) int record_call(__u32 cpu)
{
	__u64 one = 1;
	__u64 *count = bpf_map_lookup_elem(&calls_by_cpu, &cpu);
	if (count)
		*count += 1;
	else
		bpf_map_update_elem(&calls_by_cpu, &cpu, &one, BPF_ANY);

	__u32 key = 0;
	struct totals *t = bpf_map_lookup_elem(&totals, &key);
	if (!t)
		return 0;
	t->calls += 1;
	t->weighted = weigh(t->calls);
	return 1;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int on_getppid(void *ctx)
{
	hits += 1;
	last_cpu = bpf_get_smp_processor_id();
	return record_call((__u32)last_cpu);
}

SEC("tp/syscalls/sys_enter_getpid")
int on_getpid(void *ctx)
{
	return record_call(bpf_get_smp_processor_id()) + (int)weigh(1);
}

SEC("tracepoint/syscalls/sys_enter_getpid")
int on_getpid_too(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
