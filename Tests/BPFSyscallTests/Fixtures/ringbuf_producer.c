// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only producer for the BPF ring buffer: one record per getppid(2) call by
 * one chosen thread, counting its own successful and failed outputs. Lengths
 * change from call to call (8 to 263 bytes) and the bytes follow from a sequence
 * number, so that in a small ring records start at every 8-byte offset, samples
 * are split across the end of the data area, and the test can check each one's
 * bytes against what was produced (RingBufferWrapTests).
 *
 * Rebuild (from the repository root):
 *   clang -target bpf -O2 -g -Wall -Werror -I/usr/include/$(gcc -dumpmachine) -Ibpf -fdebug-prefix-map=$PWD=. \
 *         -c Tests/BPFSyscallTests/Fixtures/ringbuf_producer.c -o Tests/BPFSyscallTests/Fixtures/ringbuf_producer.o
 */
#include "bpf_defs.h"

static __u64 (*bpf_get_current_pid_tgid)(void) = (void *)BPF_FUNC_get_current_pid_tgid;

/* Indexes of `control`. */
enum producer_slot {
	PRODUCER_TARGET_TID = 0,  /* written by the test: only this thread produces */
	PRODUCER_EMITTED,         /* bpf_ringbuf_output returned 0 */
	PRODUCER_FAILED,          /* it failed: ring full */
	PRODUCER_NEXT_SEQUENCE,   /* the next record's sequence number, failed ones included */
	PRODUCER_SLOTS,
};

/* Word i of record `sequence` is sequence ^ (i * 0x0101010101010101): word 0 is the sequence
 * number; the length is 8 + ((sequence * 13) & 0xff). */
#define SAMPLE_WORDS 33

struct sample {
	__u64 words[SAMPLE_WORDS];
};

/* Its size is set by the test. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PRODUCER_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} control SEC(".maps");

/* Where the sample is built: too large for the stack's 512 bytes with the rest. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sample);
} scratch SEC(".maps");

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
	if (!target || *target == 0 || (__u32)bpf_get_current_pid_tgid() != *target)
		return 0;
	slot = PRODUCER_NEXT_SEQUENCE;
	__u64 *next = bpf_map_lookup_elem(&control, &slot);
	__u32 zero = 0;
	struct sample *sample = bpf_map_lookup_elem(&scratch, &zero);
	if (!next || !sample)
		return 0;
	__u64 sequence = *next;
	*next = sequence + 1; /* one producing thread: no other writer */

#pragma unroll
	for (int i = 0; i < SAMPLE_WORDS; i++)
		sample->words[i] = sequence ^ ((__u64)i * 0x0101010101010101ULL);
	__u64 length = 8 + ((sequence * 13) & 0xff);

	if (bpf_ringbuf_output(&ring, sample, length, 0) == 0)
		count(PRODUCER_EMITTED);
	else
		count(PRODUCER_FAILED);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
