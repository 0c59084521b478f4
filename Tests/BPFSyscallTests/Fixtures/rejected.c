// SPDX-License-Identifier: GPL-2.0
/*
 * A program the verifier must reject: it reads 4 bytes at offset 8192 of the
 * tracepoint context: past the record (80 bytes) and past PERF_MAX_TRACE_SIZE
 * (8192), the most the verifier allows for any tracepoint.
 * The loader test checks that the rejection surfaces as a VerifierError whose
 * log names the bad access.
 *
 * Rebuilt by `make fixtures`.
 */
#include "bpf_defs.h"

SEC("tracepoint/tcp/tcp_retransmit_skb")
int read_past_context(void *ctx)
{
	return *(volatile int *)((char *)ctx + 8192);
}

char LICENSE[] SEC("license") = "GPL";
