// SPDX-License-Identifier: GPL-2.0
/*
 * CO-RE field relocations, read directly in a tp_btf program (the verifier
 * knows `sk` and `skb` are kernel pointers): every field kind, an array in
 * the path, anonymous unions, a bitfield in a different unit than the
 * kernel's, a typedef'd struct, and a field this kernel lacks behind an
 * existence check (its load is poisoned, and dead).
 * Built twice by `make fixtures`: core_fields.o (clang 21), core_fields.clang14.o.
 */
#include "bpf_defs.h"
#include "bpf_core.h"
#include "kernel_types.h"

/* A layout the kernel never had: the field does not exist. */
struct sock___future {
	__u32 sk_field_from_the_future;
} __attribute__((preserve_access_index));

/* What the program saw, so no read is optimized away. */
__u64 seen[16];

SEC("tp_btf/tcp_retransmit_skb")
int core_fields(unsigned long long *ctx)
{
	struct sock *sk = (struct sock *)ctx[0];
	struct sk_buff *skb = (struct sk_buff *)ctx[1];

	seen[0] = sk->sk_mark;                                   /* byte_off on a load */
	seen[1] = sk->__sk_common.skc_net.net->ns.inum;          /* through a typedef, two loads */
	seen[2] = skb->len;
	seen[3] = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[3]; /* an array element */
	seen[4] = sk->__sk_common.skc_daddr;                     /* inside an anonymous struct and union */
	seen[5] = sk->sk_cgrp_data.cgroup->kn->id;               /* three structs deep */
	seen[6] = core_read_bitfield(sk, sk_scm_unused);         /* offset, size, shifts, signed */
	seen[7] = core_read_bitfield(skb, pkt_type);
	seen[8] = core_field_size(sk->__sk_common.skc_family);
	seen[9] = core_field_exists(sk->sk_mark);
	seen[10] = core_field_signed(sk->__sk_common.skc_state);
	if (core_field_exists(((struct sock___future *)sk)->sk_field_from_the_future))
		seen[11] = ((struct sock___future *)sk)->sk_field_from_the_future;
	seen[12] = core_field_offset(sk->__sk_common.skc_v6_daddr.in6_u.u6_addr8[5]);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
