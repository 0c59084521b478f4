/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The few definitions a BPF program needs, written out instead of taken from
 * libbpf's headers. Kernel UAPI (map types, helper ids, flags) comes from
 * linux-libc-dev's <linux/bpf.h>.
 */
#ifndef RETRANS_BPF_DEFS_H
#define RETRANS_BPF_DEFS_H

#include <linux/types.h>
#include <linux/bpf.h>

/* Place a function or variable in a named ELF section: the loader reads
 * program types and attach points from these names. */
#define SEC(name) __attribute__((section(name), used))

/*
 * BTF-defined map attributes. Every map field is a pointer to an array whose
 * element count is the value: clang records that count in BTF, where the
 * loader reads it back. The `.maps` section itself stays all zeros.
 */
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#define __array(name, val) typeof(val) *name[]

#undef __always_inline
#define __always_inline inline __attribute__((always_inline))

/* Helpers are called through their numeric id: the kernel patches the call. */
static long (*bpf_perf_event_output)(void *ctx, void *map, __u64 flags,
                                     void *data, __u64 size) =
    (void *)BPF_FUNC_perf_event_output;
static long (*bpf_probe_read_kernel)(void *dst, __u32 size,
                                     const void *unsafe_ptr) =
    (void *)BPF_FUNC_probe_read_kernel;
static __u64 (*bpf_ktime_get_boot_ns)(void) =
    (void *)BPF_FUNC_ktime_get_boot_ns;
static void *(*bpf_map_lookup_elem)(void *map, const void *key) =
    (void *)BPF_FUNC_map_lookup_elem;
static long (*bpf_map_update_elem)(void *map, const void *key,
                                   const void *value, __u64 flags) =
    (void *)BPF_FUNC_map_update_elem;
static __u32 (*bpf_get_smp_processor_id)(void) =
    (void *)BPF_FUNC_get_smp_processor_id;
static void *(*bpf_ringbuf_reserve)(void *ringbuf, __u64 size, __u64 flags) =
    (void *)BPF_FUNC_ringbuf_reserve;
static void (*bpf_ringbuf_submit)(void *data, __u64 flags) =
    (void *)BPF_FUNC_ringbuf_submit;
static __u64 (*bpf_ringbuf_query)(void *ringbuf, __u64 flags) =
    (void *)BPF_FUNC_ringbuf_query;
static long (*bpf_ringbuf_output)(void *ringbuf, void *data, __u64 size, __u64 flags) =
    (void *)BPF_FUNC_ringbuf_output;
/* Appends to an iterator's output (seq_file). */
struct seq_file;
static long (*bpf_seq_write)(struct seq_file *m, const void *data, __u32 len) =
    (void *)BPF_FUNC_seq_write;
/* The socket as a struct tcp_sock the verifier lets us read past struct sock,
 * or NULL when it is not a full TCP socket (Linux 5.9+, tracing programs). */
struct tcp_sock;
static struct tcp_sock *(*bpf_skc_to_tcp_sock)(void *sk) =
    (void *)BPF_FUNC_skc_to_tcp_sock;

#endif
