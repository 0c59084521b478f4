// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture: puts `struct retrans_event` into BTF so that a test can read
 * its member offsets as clang laid them out for the BPF target, an
 * independent witness of the layout documented in retrans_event.h.
 * (retrans.o itself only uses the struct for a stack variable, which BTF
 * does not describe.) Rebuilt by `make fixtures`.
 */
#include "bpf_defs.h"
#include "retrans_event.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct retrans_event);
} last_event SEC(".maps");

char LICENSE[] SEC("license") = "GPL";
