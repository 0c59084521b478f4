// SPDX-License-Identifier: GPL-2.0
/*
 * CO-RE relocations inside a subprogram (.text) called by two programs:
 * the reader copies the function, and its records, into each program that
 * calls it; libbpf relocates the function once. Both must agree.
 * Built twice by `make fixtures`: core_subprog.o (clang 21), core_subprog.clang14.o.
 */
#include "bpf_defs.h"
#include "bpf_core.h"
#include "kernel_types.h"

struct tcp_retransmit_skb_ctx {
	__u64 common;
	const void *skbaddr;
	const void *skaddr;
};

__u64 seen[4];

static __attribute__((noinline)) __u64 socket_facts(struct sock *sk)
{
	__u32 mark = 0;
	unsigned short family = 0;

	core_read(&mark, &sk->sk_mark);
	core_read(&family, &sk->__sk_common.skc_family);
	return (__u64)mark << 16 | family | (__u64)core_field_size(sk->sk_cgrp_data.cgroup) << 48;
}

SEC("tracepoint/tcp/tcp_retransmit_skb")
int subprog_first(struct tcp_retransmit_skb_ctx *ctx)
{
	seen[0] = socket_facts((struct sock *)ctx->skaddr);
	return 0;
}

SEC("tracepoint/tcp/tcp_retransmit_synack")
int subprog_second(struct tcp_retransmit_skb_ctx *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx->skbaddr;
	unsigned int len = 0;

	core_read(&len, &skb->len);
	seen[1] = socket_facts((struct sock *)ctx->skaddr) + len;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
