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

/* A connection request (what a listener keeps per SYN it answered): it begins
 * with the same sock_common as a socket, addresses and ports included. */
struct request_sock {
	struct sock_common __req_common;
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
struct hlist_node {
	struct hlist_node *next, **pprev;
};

/* A queued timer is on a wheel list (entry.pprev set); an expired one is taken
 * off before its handler runs. */
struct timer_list {
	struct hlist_node entry;
};

struct inet_connection_sock {
	unsigned int icsk_ca_state : 5;
	__u8 icsk_retransmits;
	/* Which timer is armed (ICSK_TIME_*); read by bpf/retrans.c. */
	__u8 icsk_pending;
	/* The one timer behind RTO, loss probe and reordering timeouts. */
	struct timer_list icsk_retransmit_timer;
};

/* struct tcp_sock begins with its inet_connection_sock. */
struct tcp_sock {
	struct inet_connection_sock inet_conn;
};

struct sk_buff {
	unsigned int len;
	__u8 pkt_type : 3;
	/* Control block: TCP keeps its struct tcp_skb_cb here (TCP_SKB_CB(skb)). */
	char cb[48];
};

/* TCP_SKB_CB(skb): in the kernel the segment count shares an anonymous
 * struct in a union; CO-RE finds it by name. */
struct tcp_skb_cb {
	__u16 tcp_gso_segs; /* tcp_skb_pcount(skb): segments this skb carries */
	__u8 tcp_flags;     /* TCP header flags (TCPHDR_SYN = 0x02, ...) */
};

/* What a task iterator sees of a task: its process, when it started, and its
 * namespaces (NULL while it exits). */
struct nsproxy {
	struct net *net_ns;
};

struct task_struct {
	int tgid;
	__u64 start_boottime;
	struct nsproxy *nsproxy;
};

/* The first argument of every BPF iterator program. */
struct bpf_iter_meta {
	struct seq_file *seq;
	__u64 session_id;
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
