/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The exporter's side of a retransmission program, in one place: the maps and
 * constants the loader looks for (Sources/Exporter/Run/RetransObjectBinding.swift)
 * and the two ways an event reaches user space. bpf/retrans.c and every
 * stand-in producer (tests, benchmarks) include it, so none of them repeats it.
 *
 *   events             BPF_MAP_TYPE_PERF_EVENT_ARRAY: one perf ring per CPU
 *   ring               BPF_MAP_TYPE_RINGBUF: one ring for every CPU (Linux 5.8+)
 *   stats              per-CPU emit counters: emitted == received + lost
 *   tracepoint_has_err set from the tcp tracepoint's format
 *   ring_wakeup_bytes  wake the reader once this many bytes wait in `ring`
 *   event_timestamps   stamp each event with the boot clock (optional)
 *
 * A program named tcp_retransmit_skb writes to `events`, one named
 * tcp_retransmit_skb_rb to `ring`; the loader loads one of the two and creates
 * only the maps it uses.
 */
#ifndef RETRANS_OUTPUT_H
#define RETRANS_OUTPUT_H

#include "bpf_defs.h"
#include "retrans_event.h"

const volatile __u32 tracepoint_has_err = 1;
/* 0: every event wakes the reader. The loader sets a quarter ring for batched wakeups. */
const volatile __u64 ring_wakeup_bytes = 0;
/* Only `tail` shows an event's time; `run` counts. The loader sets 0 for `run`, and
 * the verifier, which knows frozen .rodata, then drops the clock read (35-64 ns per
 * event on these machines, docs/BENCHMARKS.md). */
const volatile __u32 event_timestamps = 1;

RETRANS_EVENT_LAYOUT;

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

/* Its size is set by the loader (--ring.pages). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RETRANS_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void count(__u32 which)
{
	__u64 *counter = bpf_map_lookup_elem(&stats, &which);
	if (counter)
		*counter += 1; /* per-CPU slot: no other writer */
}

/* CLOCK_BOOTTIME in ns, or 0 when the loader asked for no timestamps. */
static __always_inline __u64 event_time(void)
{
	return event_timestamps ? bpf_ktime_get_boot_ns() : 0;
}

/* The bytes one event takes in `ring`: an 8-byte header, the event, rounded up to 8. */
#define RING_RECORD_BYTES ((sizeof(struct retrans_event) + 8 + 7) & ~7ULL)

/* A perf ring's wakeup watermark, for the ring buffer: force a wakeup when this
 * record takes the `waiting` bytes (this record included) past the threshold;
 * below it the reader's timer collects them. Only the crossing wakes: the reader
 * reads once per wakeup and hands the space back at the end, so until then every
 * record above the threshold would raise an irq_work of its own. Two CPUs'
 * records can cross together with neither seeing itself cross: past twice the
 * threshold every record wakes, so a missed crossing costs latency, not the ring.
 * With a threshold of 0 every record wakes. */
static __always_inline __u64 ring_wakeup(__u64 waiting)
{
	if (waiting >= 2 * ring_wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return waiting >= ring_wakeup_bytes && waiting < ring_wakeup_bytes + RING_RECORD_BYTES
		? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

static __always_inline void emit_to_perf(void *ctx, struct retrans_event *event)
{
	if (bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, event, sizeof(*event)) == 0)
		count(RETRANS_STAT_EMITTED);
	else
		count(RETRANS_STAT_EMIT_FAILED);
}

/* A copy into the ring, for producers that build the event on the stack
 * (bpf/retrans.c writes in place with reserve/submit). */
static __always_inline void emit_to_ring(struct retrans_event *event)
{
	__u64 waiting = bpf_ringbuf_query(&ring, BPF_RB_AVAIL_DATA) + RING_RECORD_BYTES;

	if (bpf_ringbuf_output(&ring, event, sizeof(*event), ring_wakeup(waiting)) == 0)
		count(RETRANS_STAT_EMITTED);
	else
		count(RETRANS_STAT_EMIT_FAILED);
}

#endif
