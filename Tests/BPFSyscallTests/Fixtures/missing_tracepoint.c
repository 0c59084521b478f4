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
#include "retrans_output.h"

SEC("tracepoint/tcp/rtx_hd_no_such_tracepoint")
int tcp_retransmit_skb(void *ctx)
{
	struct retrans_event event = {};

	if (tracepoint_has_err)
		emit_to_perf(ctx, &event);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
