// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only: a valid object with the exporter's maps (retrans_maps.h) whose
 * program (named like the exporter's) names a tracepoint no kernel has. It loads; attaching fails, and the exporter must
 * say which tracepoint is missing and where it looked
 * (Tests/ExporterTests/FailureMessagesTests.swift).
 *
 * Rebuilt by `make fixtures`.
 */
#include "bpf_defs.h"
#include "retrans_maps.h"

/* Set by the exporter's loader (it sets it in every object it loads). */
const volatile __u32 tracepoint_has_err = 1;

SEC("tracepoint/tcp/rtx_hd_no_such_tracepoint")
int tcp_retransmit_skb(void *ctx)
{
	return tracepoint_has_err ? 0 : 1;
}

char LICENSE[] SEC("license") = "GPL";
