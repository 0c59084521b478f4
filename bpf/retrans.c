// SPDX-License-Identifier: GPL-2.0
/*
 * Counts TCP retransmissions: one event per hit of tracepoint
 * tcp/tcp_retransmit_skb, sent to user space through per-CPU perf rings
 * (map `events`) or one BPF ring buffer shared by every CPU (map `ring`,
 * Linux 5.8+). Four programs, of which the loader loads one and creates only
 * the maps it uses:
 *
 *                         perf rings                 ring buffer
 *   tracepoint/ (record)  tcp_retransmit_skb         tcp_retransmit_skb_rb
 *   tp_btf/ (BTF, CO-RE)  tcp_retransmit_btf         tcp_retransmit_btf_rb
 *     and its SYN-ACKs    tcp_retransmit_synack_btf  tcp_retransmit_synack_btf_rb
 *
 * The tracepoint/ programs read the flat record the kernel fills for the
 * tracepoint; the tp_btf/ programs get the kernel's own `struct sock *` and
 * read its fields at the running kernel's offsets (CO-RE, kernel_types.h), and
 * the kernel guards them against recursion per program rather than per CPU.
 * Only they can say how many segments the skb carried, why it was sent again
 * (the kind), and which network namespace and cgroup the socket belongs to;
 * with them the loader also attaches the SYN-ACK program of the same transport.
 *
 * Built with `clang -target bpf -O2 -g`; no libbpf headers (see bpf_defs.h).
 */
#include "retrans_output.h"
#include "kernel_types.h"
#include "bpf_core.h"

/*
 * The tracepoint's record, written from
 * /sys/kernel/tracing/events/tcp/tcp_retransmit_skb/format (Linux 6.18).
 * `err` is the newest field: older kernels end the record at offset 76.
 */
struct tcp_retransmit_skb_ctx {
	__u16 common_type;          /* @0 */
	__u8 common_flags;          /* @2 */
	__u8 common_preempt_count;  /* @3 */
	__s32 common_pid;           /* @4 */
	const void *skbaddr;        /* @8 */
	const void *skaddr;         /* @16 */
	__s32 state;                /* @24 */
	__u16 sport;                /* @28 */
	__u16 dport;                /* @30 */
	__u16 family;               /* @32 */
	__u8 saddr[4];              /* @34 */
	__u8 daddr[4];              /* @38 */
	__u8 saddr_v6[16];          /* @42 */
	__u8 daddr_v6[16];          /* @58 */
	__s32 err;                  /* @76 */
};

/*
 * The maps, the constants the loader sets and the two ways out (retrans_output.h).
 * tracepoint_has_err lives in .rodata, which the loader freezes, so the verifier
 * knows its value and never checks the ctx->err read on a kernel whose record is
 * too short for it.
 */
static __always_inline void fill(struct retrans_event *event,
                                  const struct tcp_retransmit_skb_ctx *ctx)
{
	event->timestamp_ns = event_time();
	event->state = ctx->state;
	event->err = tracepoint_has_err ? ctx->err : 0;
	event->family = ctx->family;
	event->sport = ctx->sport;
	event->dport = ctx->dport;
	/* No socket state without BTF: segments, netns, kind and cgroup_id stay 0. */
	event->segments = 0;
	event->netns = 0;
	event->kind = RETRANS_KIND_UNKNOWN;
	event->reserved[0] = event->reserved[1] = event->reserved[2] = 0;
	event->cgroup_id = 0;
	/* The kernel fills saddr_v6/daddr_v6 for both families (IPv4 as
	 * ::ffff:a.b.c.d), and they are adjacent: one copy takes both. Plain
	 * loads would be merged into misaligned wide ctx reads, which the
	 * verifier rejects. */
	bpf_probe_read_kernel(event->saddr, sizeof(event->saddr) + sizeof(event->daddr),
	                      ctx->saddr_v6);
}

SEC("tracepoint/tcp/tcp_retransmit_skb")
int tcp_retransmit_skb(struct tcp_retransmit_skb_ctx *ctx)
{
	struct retrans_event event = {};

	fill(&event, ctx);
	emit_to_perf(ctx, &event);
	return 0;
}

/* The same event, written in place into the shared ring: a failed reserve
 * (ring full) is the only loss, and it is counted here. */
SEC("tracepoint/tcp/tcp_retransmit_skb")
int tcp_retransmit_skb_rb(struct tcp_retransmit_skb_ctx *ctx)
{
	struct retrans_event *event = bpf_ringbuf_reserve(&ring, sizeof(*event), 0);

	if (!event) {
		count(RETRANS_STAT_EMIT_FAILED);
		return 0;
	}
	fill(event, ctx);
	/* The reserve has moved the producer: what waits includes this record. */
	bpf_ringbuf_submit(event, ring_wakeup(bpf_ringbuf_query(&ring, BPF_RB_AVAIL_DATA)));
	count(RETRANS_STAT_EMITTED);
	return 0;
}

#define AF_INET 2
#define TCPHDR_SYN 0x02
/* include/net/inet_connection_sock.h; the same value since Linux 3.10. */
#define ICSK_TIME_LOSS_PROBE 5

static __always_inline void copy_in6(__u8 *to, const struct in6_addr *from)
{
	__be32 *words = (__be32 *)to;

	words[0] = from->in6_u.u6_addr32[0];
	words[1] = from->in6_u.u6_addr32[1];
	words[2] = from->in6_u.u6_addr32[2];
	words[3] = from->in6_u.u6_addr32[3];
}

/* The same fields the tracepoint's TP_fast_assign stores, from the socket's
 * (or the connection request's) sock_common, and its network namespace. */
static __always_inline void fill_from_common(struct retrans_event *event, const struct sock_common *common, int err)
{
	event->timestamp_ns = event_time();
	event->state = common->skc_state;
	event->err = err;
	event->family = common->skc_family;
	event->sport = common->skc_num;
	event->dport = __builtin_bswap16(common->skc_dport);
	event->reserved[0] = event->reserved[1] = event->reserved[2] = 0;
	/* Plain loads, not bpf_probe_read_kernel(): the socket is a typed pointer, so
	 * each word is one load the verifier has checked, where a helper call costs
	 * some 20 ns. The event's addresses are 4-byte aligned (retrans_event.h). */
	if (event->family == AF_INET) {
		/* As the tracepoint stores them: ::ffff:a.b.c.d. */
		__builtin_memset(event->saddr, 0, 10);
		__builtin_memset(event->daddr, 0, 10);
		event->saddr[10] = event->saddr[11] = event->daddr[10] = event->daddr[11] = 0xff;
		*(__be32 *)&event->saddr[12] = common->skc_rcv_saddr;
		*(__be32 *)&event->daddr[12] = common->skc_daddr;
	} else {
		copy_in6(event->saddr, &common->skc_v6_rcv_saddr);
		copy_in6(event->daddr, &common->skc_v6_daddr);
	}
}

/* The socket's own cgroup v2 (never the current task's: a retransmission
 * mostly runs in softirq or timer context, on behalf of nobody). Its id is the
 * inode number of the cgroup's directory. A NULL pointer on the way reads 0. */
static __always_inline __u64 socket_cgroup_id(const struct sock *sk)
{
	return sk->sk_cgrp_data.cgroup->kn->id;
}

/* The inode number of the socket's network namespace (as /proc/PID/ns/net). */
static __always_inline __u32 socket_netns(const struct sock *sk)
{
	return sk->__sk_common.skc_net.net->ns.inum;
}

/*
 * The two functions above load pointers. The verifier decides, for every
 * pointer loaded from a *trusted* one (a tp_btf argument is trusted), whether
 * the result stays trusted, by looking up `sock__safe_trusted` and three
 * such names in the kernel's BTF: a linear search of some 130k types each,
 * ~0.7 ms per load here, 9-11 ms of start-up for both programs. The socket
 * that bpf_skc_to_tcp_sock() returns is the same memory but not trusted, so
 * loads through it skip the search; it also carries the congestion state.
 * That costs one helper call per event and cuts the verifier's time 4x.
 */
static __always_inline const struct sock *untrusted_socket(const struct tcp_sock *tp)
{
	return (const struct sock *)tp; /* struct tcp_sock begins with struct sock */
}

/* Whether the retransmit timer's own handler is running: the kernel takes an
 * expired timer off its wheel before calling it, and the handler re-arms it
 * only after it has retransmitted. Where a kernel lays the timer out otherwise,
 * the test cannot be made and says "running" (the state test alone decides). */
static __always_inline int retransmit_timer_running(const struct inet_connection_sock *icsk)
{
	if (!core_field_exists(icsk->icsk_retransmit_timer.entry.pprev))
		return 1;
	return icsk->icsk_retransmit_timer.entry.pprev == 0;
}

/* Why the kernel sends this skb again, from the socket's state at this moment
 * (docs/METRICS.md, "kind"). The order matters: a SYN is a SYN whatever the
 * state; Loss is the RTO and the slow start after it; Recovery is fast
 * retransmission. A loss probe is only armed outside those two, and it is a
 * probe only while its timer's handler runs: an ACK that starts recovery can
 * leave a probe marked pending, and the retransmissions it causes are fast. */
static __always_inline __u8 retransmission_kind(const struct tcp_sock *tp, const struct tcp_skb_cb *cb)
{
	const struct inet_connection_sock *icsk;
	unsigned long long state;

	if (cb->tcp_flags & TCPHDR_SYN)
		return RETRANS_KIND_SYN;
	if (!tp)
		return RETRANS_KIND_OTHER;
	icsk = &tp->inet_conn;
	state = core_read_bitfield(icsk, icsk_ca_state);
	if (state == TCP_CA_Loss)
		return RETRANS_KIND_TIMEOUT;
	if (state == TCP_CA_Recovery)
		return RETRANS_KIND_FAST;
	if (icsk->icsk_pending == ICSK_TIME_LOSS_PROBE && retransmit_timer_running(icsk))
		return RETRANS_KIND_TLP;
	/* Disorder and CWR retransmit from the queue too (TCPFastRetrans). */
	return state == TCP_CA_Open ? RETRANS_KIND_OTHER : RETRANS_KIND_FAST;
}

/* tcp_retransmit_skb, from the socket and the skb themselves. */
static __always_inline void fill_from_sock(struct retrans_event *event, const struct sock *sk,
                                            const struct sk_buff *skb, int err)
{
	const struct tcp_skb_cb *cb = (const void *)skb->cb;
	const struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);

	fill_from_common(event, &sk->__sk_common, err);
	event->segments = cb->tcp_gso_segs;
	event->kind = retransmission_kind(tp, cb);
	event->netns = tp ? socket_netns(untrusted_socket(tp)) : 0;
	event->cgroup_id = tp ? socket_cgroup_id(untrusted_socket(tp)) : 0;
}

/* tcp_retransmit_synack: the connection request carries the flow; the
 * listener (or a Fast Open child) carries the cgroup. One segment each. */
static __always_inline void fill_from_request(struct retrans_event *event, const struct sock *sk,
                                               const struct request_sock *req)
{
	const struct tcp_sock *listener = bpf_skc_to_tcp_sock((void *)sk);

	fill_from_common(event, &req->__req_common, 0);
	event->segments = 1;
	event->kind = RETRANS_KIND_SYNACK;
	/* A request lives in its listener's namespace. */
	event->netns = listener ? socket_netns(untrusted_socket(listener)) : 0;
	event->cgroup_id = listener ? socket_cgroup_id(untrusted_socket(listener)) : 0;
}

/* btf_trace_tcp_retransmit_skb: (void *, const struct sock *, const struct sk_buff *, int err);
 * the program sees the arguments after the first. */
SEC("tp_btf/tcp_retransmit_skb")
int tcp_retransmit_btf(unsigned long long *ctx)
{
	struct retrans_event event = {};

	fill_from_sock(&event, (const struct sock *)ctx[0], (const struct sk_buff *)ctx[1], (int)ctx[2]);
	emit_to_perf(ctx, &event);
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int tcp_retransmit_btf_rb(unsigned long long *ctx)
{
	struct retrans_event *event = bpf_ringbuf_reserve(&ring, sizeof(*event), 0);

	if (!event) {
		count(RETRANS_STAT_EMIT_FAILED);
		return 0;
	}
	fill_from_sock(event, (const struct sock *)ctx[0], (const struct sk_buff *)ctx[1], (int)ctx[2]);
	bpf_ringbuf_submit(event, ring_wakeup(bpf_ringbuf_query(&ring, BPF_RB_AVAIL_DATA)));
	count(RETRANS_STAT_EMITTED);
	return 0;
}

/* btf_trace_tcp_retransmit_synack: (void *, const struct sock *, const struct request_sock *). */
SEC("tp_btf/tcp_retransmit_synack")
int tcp_retransmit_synack_btf(unsigned long long *ctx)
{
	struct retrans_event event = {};

	fill_from_request(&event, (const struct sock *)ctx[0], (const struct request_sock *)ctx[1]);
	emit_to_perf(ctx, &event);
	return 0;
}

SEC("tp_btf/tcp_retransmit_synack")
int tcp_retransmit_synack_btf_rb(unsigned long long *ctx)
{
	struct retrans_event *event = bpf_ringbuf_reserve(&ring, sizeof(*event), 0);

	if (!event) {
		count(RETRANS_STAT_EMIT_FAILED);
		return 0;
	}
	fill_from_request(event, (const struct sock *)ctx[0], (const struct request_sock *)ctx[1]);
	bpf_ringbuf_submit(event, ring_wakeup(bpf_ringbuf_query(&ring, BPF_RB_AVAIL_DATA)));
	count(RETRANS_STAT_EMITTED);
	return 0;
}

/*
 * Which process is in which network namespace, for the per-namespace TCP
 * counters: the kernel keeps them per namespace (/proc/PID/net/snmp), anyone
 * may read them for any PID, but only a privileged reader may ask which
 * namespace a PID is in (/proc/PID/ns/net). After its privileges are dropped
 * the exporter runs this iterator (BPF_ITER_CREATE on its link, then read)
 * and gets one record per namespace: a process in it, and when that process
 * started, so a PID reused meanwhile is caught.
 */
struct netns_task {
	__u32 netns;
	__u32 tgid;
	__u64 start_boottime; /* ns since boot, as /proc/PID/stat's starttime in ticks */
};

/* Namespaces already written in this session (value: the session id). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	/* Far more network namespaces than a node runs (a pod has one); a
	 * namespace beyond them is left out of the tcp_netns_* families. */
	__uint(max_entries, 1 << 13);
	__type(key, __u32);
	__type(value, __u64);
	/* Entries on demand: preallocated, they cost the kernel memory and the
	 * exporter's start-up the time to clear them (0.5 ms for 65536). */
	__uint(map_flags, BPF_F_NO_PREALLOC);
} netns_seen SEC(".maps");

/* bpf_iter_task: (struct bpf_iter_meta *meta, struct task_struct *task), task NULL at the end. */
SEC("iter/task")
int netns_tasks(unsigned long long *ctx)
{
	struct bpf_iter_meta *meta = (struct bpf_iter_meta *)ctx[0];
	struct task_struct *task = (struct task_struct *)ctx[1];
	struct netns_task record = {};
	struct nsproxy *nsproxy;
	struct net *net;
	__u64 session;
	__u64 *seen;

	if (!task)
		return 0;
	/* Copied, not loaded: a pointer loaded from the trusted task would make
	 * the verifier search the kernel's whole BTF (see untrusted_socket). */
	if (core_read(&nsproxy, &task->nsproxy) || !nsproxy)
		return 0;
	if (core_read(&net, &nsproxy->net_ns) || !net)
		return 0;
	if (core_read(&record.netns, &net->ns.inum) || record.netns == 0)
		return 0;
	session = meta->session_id;
	seen = bpf_map_lookup_elem(&netns_seen, &record.netns);
	if (seen && *seen == session)
		return 0;
	bpf_map_update_elem(&netns_seen, &record.netns, &session, BPF_ANY);
	record.tgid = task->tgid;
	record.start_boottime = task->start_boottime;
	bpf_seq_write(meta->seq, &record, sizeof(record));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
