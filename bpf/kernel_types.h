/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel structures our programs read, declared here instead of taken
 * from vmlinux.h: only the fields we use, in any order, at any offset. With
 * preserve_access_index clang records every access by member NAME (.BTF.ext
 * CO-RE relocations), and the loader puts in the running kernel's offsets.
 *
 * A `name___flavor` type matches the kernel's `name`: the suffix lets one
 * program declare two layouts of the same struct (a field renamed or gone
 * between kernels) and ask with core_field_exists() which one it runs on.
 */
#ifndef RETRANS_KERNEL_TYPES_H
#define RETRANS_KERNEL_TYPES_H

#include <linux/types.h>

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct in6_addr {
	union {
		__u8 u6_addr8[16];
		__be32 u6_addr32[4];
	} in6_u;
};

struct ns_common {
	unsigned int inum;
};

struct net {
	struct ns_common ns;
};

typedef struct {
	struct net *net;
} possible_net_t;

struct sock_common {
	union {
		__u64 skc_addrpair;
		struct {
			__be32 skc_daddr;
			__be32 skc_rcv_saddr;
		};
	};
	unsigned short skc_family;
	volatile unsigned char skc_state;
	possible_net_t skc_net;
	struct in6_addr skc_v6_daddr;
	/* Read by bpf/retrans.c's tp_btf programs (added last: the fixtures'
	 * local offsets of the members above stay as they are). In the kernel
	 * the two ports share an anonymous struct in a union: CO-RE finds them. */
	__be16 skc_dport;
	__u16 skc_num;
	struct in6_addr skc_v6_rcv_saddr;
};

struct kernfs_node {
	__u64 id;
};

struct cgroup {
	struct kernfs_node *kn;
};

struct sock_cgroup_data {
	struct cgroup *cgroup;
};

struct sock {
	struct sock_common __sk_common;
	__u32 sk_mark;
	struct sock_cgroup_data sk_cgrp_data;
	/* A 4-bit bitfield in a u8 inside an anonymous struct and union here;
	 * declared directly in a u16 unit: CO-RE finds the kernel's unit. */
	unsigned short sk_scm_unused : 4;
};

/* Extends struct sock (read it with core_read from a struct sock pointer).
 * The congestion-avoidance state is a 5-bit bitfield in a u8 here; declared
 * in a u32 unit on purpose: CO-RE finds the kernel's unit and shifts. */
struct inet_connection_sock {
	unsigned int icsk_ca_state : 5;
	__u8 icsk_retransmits;
};

struct sk_buff {
	unsigned int len;
	__u8 pkt_type : 3;
};

enum tcp_ca_state {
	TCP_CA_Open = 0,
	TCP_CA_Disorder = 1,
	TCP_CA_CWR = 2,
	TCP_CA_Recovery = 3,
	TCP_CA_Loss = 4,
};

#pragma clang attribute pop

#endif
