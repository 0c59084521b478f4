/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The maps user space finds by name in bpf/retrans.o, defined once for it and
 * for the objects tests and benchmarks load in its place (the test producers,
 * scripts/bench/producer_bench.c), so that every stand-in has exactly its maps:
 *
 *   events  perf event array, one ring per CPU, of struct retrans_event records
 *   stats   per-CPU emit counters (enum retrans_stat), so that user space can
 *           prove nothing was hidden: emitted == received + lost
 *
 * Define RETRANS_MAPS_EVENTS_ONLY before including it for `events` alone (a
 * producer that keeps counters of its own).
 */
#ifndef RETRANS_MAPS_H
#define RETRANS_MAPS_H

#include "bpf_defs.h"
#include "retrans_event.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

#ifndef RETRANS_MAPS_EVENTS_ONLY
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RETRANS_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");
#endif

#endif /* RETRANS_MAPS_H */
