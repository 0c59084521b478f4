// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz seed (not a test fixture): one object touching as many reader paths as
 * clang 14 emits, so mutations start close to them. BTF kinds: bitfields,
 * union, signed enum, FWD, float, DECL_TAG, TYPE_TAG, restrict, arrays of
 * structs; maps with key_size/value_size and map_flags; .rodata/.data/.bss
 * plus a named .data.* section; a subprogram called through a section
 * symbol; atomics (add, or, xor, xchg, cmpxchg), jmp32, signed compares,
 * byte swaps. `make fuzz-seeds` builds it.
 */
#include "bpf_defs.h"

#define TAG(x) __attribute__((btf_decl_tag(x)))
#define TYPE_TAG(x) __attribute__((btf_type_tag(x)))

struct flags {
	unsigned int low : 3;
	unsigned int high : 5;
	union {
		__u16 word;
		__u8 bytes[2];
	};
} TAG("flags-struct");

enum direction { backwards = -1, still = 0, forwards = 1 };

struct opaque;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct flags));
	__uint(map_flags, BPF_F_RDONLY_PROG);
} settings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 128);
	__type(key, enum direction);
	__type(value, double);
} scores SEC(".maps");

const volatile __u64 limits[3] = { 1, 2, 3 };
__u64 counter SEC(".data.counters") = 7;
__s32 last TAG("last-seen");
static __u64 hidden;
struct opaque *nowhere;
int * TYPE_TAG("user") restrict tagged;

static __attribute__((noinline)) int step(struct flags *f, enum direction d) TAG("step-fn")
{
	if ((int)f->low > (int)d)
		return f->high;
	return f->word ^ (int)d;
}

__attribute__((noinline)) int combine(__u32 a, __s64 b)
{
	__s32 small = (__s32)b;
	if (small < -5)
		return a >> 3;
	return (int)__builtin_bswap32(a) + small;
}

SEC("tracepoint/fuzz/kinds")
int kinds(void *ctx)
{
	__u32 key = 0;
	struct flags *f = bpf_map_lookup_elem(&settings, &key);
	if (!f)
		return 0;
	__sync_fetch_and_add(&counter, limits[1]);
	__sync_fetch_and_or(&hidden, 4);
	last = step(f, forwards) + combine(key, (__s64)counter);
	return last;
}

SEC("tp/fuzz/other")
int other(void *ctx)
{
	enum direction d = backwards;
	double *score = bpf_map_lookup_elem(&scores, &d);
	__sync_fetch_and_xor(&hidden, 1);
	__sync_lock_test_and_set(&counter, 9);
	__sync_val_compare_and_swap(&hidden, 1, 2);
	return score ? combine(2, -7) : step(0, still);
}

char LICENSE[] SEC("license") = "GPL";
