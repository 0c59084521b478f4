// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture: maps defined the legacy way, as `struct bpf_map_def` values
 * in a section named "maps" (what samples/bpf and old libbpf used).
 * Rebuilt by `make fixtures`.
 */
#include "bpf_defs.h"

/* Not in the kernel UAPI: every loader defined it for itself. */
struct bpf_map_def {
	__u32 type;
	__u32 key_size;
	__u32 value_size;
	__u32 max_entries;
	__u32 map_flags;
};

struct bpf_map_def SEC("maps") calls_by_cpu = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 128,
	.map_flags = BPF_F_NO_PREALLOC,
};

struct bpf_map_def SEC("maps") total_calls = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 1,
};

SEC("tracepoint/syscalls/sys_enter_getppid")
int count_getppid(void *ctx)
{
	__u32 key = 0;
	__u64 one = 1;
	__u64 *total = bpf_map_lookup_elem(&total_calls, &key);
	if (total)
		__sync_fetch_and_add(total, 1);

	__u32 cpu = bpf_get_smp_processor_id();
	__u64 *count = bpf_map_lookup_elem(&calls_by_cpu, &cpu);
	if (count)
		*count += 1;
	else
		bpf_map_update_elem(&calls_by_cpu, &cpu, &one, BPF_NOEXIST);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
