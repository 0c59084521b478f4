// SPDX-License-Identifier: GPL-2.0
/*
 * CO-RE type and enum relocations (constants, no kernel reads), plus field
 * offsets on `r += off` instructions of bpf_probe_read_kernel calls, in a
 * plain tracepoint program. Covers: type_exists, type_size, type_matches
 * (clang >= 15 only), local_type_id, target_type_id, enumval_exists,
 * enumval_value (with the object's value differing from the kernel's, and an
 * enumerator the kernel lacks), and a missing type.
 * Built twice by `make fixtures`: core_types.o (clang 21), core_types.clang14.o.
 */
#include "bpf_defs.h"
#include "bpf_core.h"
#include "kernel_types.h"

/* No kernel has this type. */
struct retrans_no_such_type {
	int x;
} __attribute__((preserve_access_index));

/* An older numbering than the kernel's: CO-RE reads the kernel's value. */
enum tcp_ca_state___renumbered {
	TCP_CA_Loss___renumbered = 9,
	TCP_CA_Gone___renumbered = 10, /* not in any kernel */
};

struct tcp_retransmit_skb_ctx {
	__u64 common;
	const void *skbaddr;
	const void *skaddr;
};

__u64 seen[16];

SEC("tracepoint/tcp/tcp_retransmit_skb")
int core_types(struct tcp_retransmit_skb_ctx *ctx)
{
	struct sock *sk = (struct sock *)ctx->skaddr;
	__u32 mark = 0;
	unsigned int inum = 0;
	struct net *net = 0;

	seen[0] = core_type_exists(struct sock);
	seen[1] = core_type_size(struct sock);
	seen[2] = core_type_exists(struct retrans_no_such_type);
	seen[3] = core_type_size(struct retrans_no_such_type);
	seen[4] = core_type_id_local(struct sock);
	seen[5] = core_type_id_kernel(struct sock);
	seen[6] = core_enum_value_exists(enum tcp_ca_state, TCP_CA_Loss);
	seen[7] = core_enum_value(enum tcp_ca_state, TCP_CA_Loss);
	seen[8] = core_enum_value(enum tcp_ca_state___renumbered, TCP_CA_Loss___renumbered);
	seen[9] = core_enum_value_exists(enum tcp_ca_state___renumbered, TCP_CA_Gone___renumbered);
	if (core_enum_value_exists(enum tcp_ca_state___renumbered, TCP_CA_Gone___renumbered))
		seen[10] = core_enum_value(enum tcp_ca_state___renumbered, TCP_CA_Gone___renumbered);
#if __clang_major__ >= 15
	seen[11] = core_type_matches(struct sock);
	seen[12] = core_type_matches(enum tcp_ca_state);
#endif
	core_read(&mark, &sk->sk_mark);                   /* r += 524 */
	core_read(&net, &sk->__sk_common.skc_net.net);
	core_read(&inum, &net->ns.inum);
	seen[13] = mark;
	seen[14] = inum;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
