// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark-only stand-in for bpf/retrans.o: the same maps (`events` perf event
 * array, `stats` per-CPU emit counters), the same record, and a program with the
 * same name (tcp_retransmit_skb), but attached to the syscall entry, so that a
 * driver process can raise events at a rate it chooses. The real exporter loads
 * it with `--bpf.object` and attaches it to the tracepoint its section names.
 *
 * Both attachments sit where every syscall of every process passes: the
 * tracepoint/ programs on raw_syscalls/sys_enter, the tp_btf/ ones the binding
 * asks for with `--bpf.attach tp_btf` (tcp_retransmit_btf, _rb) on the raw
 * tracepoint sys_enter. Each returns at once unless the syscall is getppid with
 * BENCH_DRIVER_MAGIC in its first argument register, which getppid ignores and
 * getppid_driver sets: two compares, so that the figure is the event's cost and
 * not a filter's (the real program has none: its tracepoint fires only on a
 * retransmission). The SYN-ACK companions, which the binding also requires,
 * return 0 and never fire. Every variant copies the event into its output (the
 * real tp_btf/ ring buffer program writes in place, and reads the socket with
 * CO-RE: a few more loads). Built by `make bench`:
 *   clang -target bpf -O2 -g -Ibpf [-DFLOW_SWEEP] -c scripts/bench/producer_bench.c -o ...
 * Default: 64 flows (10.203.6.1:10000..10063 -> 10.203.6.2:7601). With FLOW_SWEEP,
 * every event is a new flow (source port and address from the emit count), for
 * the memory figure at 100k series.
 *
 * With HOSTCOST_STEP=N the tp_btf/ ring buffer program stops after step N of an
 * event, for `bench.py --only hostcost --hostcost-steps` (what each step adds):
 *   1 attached: returns at once       2 + the driver's calls selected (counted)
 *   3 + the event built on the stack  4 + the clock read `run` leaves out
 * (the whole program, with the output, is the default row).
 */
#include "retrans_output.h"

/* __NR_getppid: the stand-in is built for x86_64 only (`make bench` on these machines). */
#define NR_GETPPID 110
/* getppid_driver.c passes it as getppid's (ignored) first argument: "rtxbench". */
#define BENCH_DRIVER_MAGIC 0x72747862656e6368ULL

/* raw_syscalls/sys_enter's record (events/raw_syscalls/sys_enter/format). */
struct sys_enter_record {
	__u64 common;
	long id;
	unsigned long args[6];
};

/* The flow of the next event, from the emit count: 64 flows, or (FLOW_SWEEP) a new one each time. */
static __always_inline int make_event(struct retrans_event *event)
{
	__u32 key = RETRANS_STAT_EMITTED;
	__u64 *emitted = bpf_map_lookup_elem(&stats, &key);
	if (!emitted)
		return 0;
#ifdef FLOW_SWEEP
	__u64 flow = *emitted;
#else
	__u64 flow = *emitted & 63;
#endif
	event->timestamp_ns = event_time();
	event->state = 1; /* TCP_ESTABLISHED */
	event->family = 2;
	event->sport = (__u16)(10000 + flow);
	event->dport = 7601;
	/* ::ffff:10.203.6.x, as the kernel writes IPv4 addresses. */
	event->saddr[10] = 0xff; event->saddr[11] = 0xff;
	event->saddr[12] = 10; event->saddr[13] = 203; event->saddr[14] = 6;
	event->saddr[15] = (__u8)(1 + ((flow >> 16) & 0x7f));
	event->daddr[10] = 0xff; event->daddr[11] = 0xff;
	event->daddr[12] = 10; event->daddr[13] = 203; event->daddr[14] = 6; event->daddr[15] = 200;
	return 1;
}

static __always_inline void produce_to_perf(void *ctx)
{
	struct retrans_event event = {};
	if (make_event(&event))
		emit_to_perf(ctx, &event);
}

static __always_inline void produce_to_ring(void)
{
	struct retrans_event event = {};
	if (make_event(&event))
		emit_to_ring(&event);
}

static __always_inline int from_driver(const struct sys_enter_record *record)
{
	return record->id == NR_GETPPID && record->args[0] == BENCH_DRIVER_MAGIC;
}

SEC("tracepoint/raw_syscalls/sys_enter")
int tcp_retransmit_skb(struct sys_enter_record *ctx)
{
	if (from_driver(ctx))
		produce_to_perf(ctx);
	return 0;
}

SEC("tracepoint/raw_syscalls/sys_enter")
int tcp_retransmit_skb_rb(struct sys_enter_record *ctx)
{
	if (from_driver(ctx))
		produce_to_ring();
	return 0;
}

/* btf_trace_sys_enter: (void *, struct pt_regs *regs, long id); the program sees regs and
 * id. The first argument is in regs->di, the 15th word of x86_64's struct pt_regs: a load
 * the verifier checks against the kernel's BTF for that struct. */
#define PT_REGS_DI_WORD 14

static __always_inline int btf_from_driver(const unsigned long long *ctx)
{
	return ctx[1] == NR_GETPPID && ((const unsigned long *)ctx[0])[PT_REGS_DI_WORD] == BENCH_DRIVER_MAGIC;
}

#ifdef HOSTCOST_STEP
/* Always 0; the loader's binding wants the program to use `ring` and `stats`,
 * which an early step otherwise would not (the verifier drops the dead code). */
const volatile __u32 hostcost_never = 0;

static __always_inline void produce_step(const unsigned long long *ctx)
{
	if (hostcost_never) {
		bpf_ringbuf_output(&ring, (void *)&hostcost_never, sizeof(hostcost_never), 0);
		count(RETRANS_STAT_EMIT_FAILED);
	}
	if (HOSTCOST_STEP < 2 || !btf_from_driver(ctx))
		return;
	struct retrans_event event = {};
	if (HOSTCOST_STEP >= 3 && !make_event(&event))
		return;
	if (HOSTCOST_STEP >= 4)
		event.timestamp_ns = bpf_ktime_get_boot_ns();
	/* Keep the event's stores: nothing reads it before the output. */
	asm volatile("" : : "r"(&event) : "memory");
	count(RETRANS_STAT_EMITTED);
}
#endif

SEC("tp_btf/sys_enter")
int tcp_retransmit_btf(unsigned long long *ctx)
{
	if (btf_from_driver(ctx))
		produce_to_perf(ctx);
	return 0;
}

SEC("tp_btf/sys_enter")
int tcp_retransmit_btf_rb(unsigned long long *ctx)
{
#ifdef HOSTCOST_STEP
	produce_step(ctx);
#else
	if (btf_from_driver(ctx))
		produce_to_ring();
#endif
	return 0;
}

SEC("tp_btf/tcp_retransmit_synack")
int tcp_retransmit_synack_btf(unsigned long long *ctx)
{
	return 0;
}

SEC("tp_btf/tcp_retransmit_synack")
int tcp_retransmit_synack_btf_rb(unsigned long long *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
