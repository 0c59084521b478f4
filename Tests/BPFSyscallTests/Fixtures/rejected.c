// SPDX-License-Identifier: GPL-2.0
/*
 * A program the verifier must reject: it reads 4 bytes at offset 4096 of the
 * tracepoint context, far past the tcp_retransmit_skb record (80 bytes).
 * The loader test checks that the rejection surfaces as a VerifierError whose
 * log names the bad access.
 *
 * Rebuild (from the repository root):
 *   clang -target bpf -O2 -g -Wall -I/usr/include/$(gcc -dumpmachine) -Ibpf \
 *     -c Tests/BPFSyscallTests/Fixtures/rejected.c -o Tests/BPFSyscallTests/Fixtures/rejected.o
 */
#include "bpf_defs.h"

SEC("tracepoint/tcp/tcp_retransmit_skb")
int read_past_context(void *ctx)
{
	return *(volatile int *)((char *)ctx + 4096);
}

char LICENSE[] SEC("license") = "GPL";
