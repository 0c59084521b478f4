// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only: a valid object whose program (named like the exporter's) names a
 * tracepoint no kernel has. It loads; attaching fails, and the exporter must
 * say which tracepoint is missing and where it looked
 * (Tests/ExporterTests/FailureMessagesTests.swift).
 *
 * Rebuild (from the repository root):
 *   clang -target bpf -O2 -g -Wall -Werror -I/usr/include/$(gcc -dumpmachine) -Ibpf -fdebug-prefix-map=$PWD=. \
 *         -c Tests/BPFSyscallTests/Fixtures/missing_tracepoint.c -o Tests/BPFSyscallTests/Fixtures/missing_tracepoint.o
 */
#include "bpf_defs.h"

/* Set by the exporter's loader (it sets it in every object it loads). */
const volatile __u32 tracepoint_has_err = 1;

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

SEC("tracepoint/tcp/rtx_hd_no_such_tracepoint")
int tcp_retransmit_skb(void *ctx)
{
	return tracepoint_has_err ? 0 : 1;
}

char LICENSE[] SEC("license") = "GPL";
