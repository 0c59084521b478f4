/*
 * The C shim: the raw calls Swift cannot make directly (variadic syscall(2),
 * ioctl(2), union bpf_attr, perf_event_attr bitfields, atomics on a mapped
 * page). Modelled on the kernel's tools/lib/bpf/skel_internal.h: one small
 * function per command that zeroes the attribute, sets fields from scalar
 * arguments, passes the exact size and returns the result or -errno.
 * No logic, no loops, no policy: all of that lives in Swift (BPFSyscall).
 */
#ifndef CBPF_H
#define CBPF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>

#include "cbpf_privileges.h"

/* ---- bpf(2) ------------------------------------------------------------ */

int cbpf_map_create(uint32_t map_type, const char *name, uint32_t key_size,
                    uint32_t value_size, uint32_t max_entries,
                    uint32_t map_flags, int btf_fd, uint32_t btf_key_type_id,
                    uint32_t btf_value_type_id);
int cbpf_map_update_elem(int map_fd, const void *key, const void *value,
                         uint64_t flags);
int cbpf_map_lookup_elem(int map_fd, const void *key, void *value);
int cbpf_map_get_next_key(int map_fd, const void *key, void *next_key);
int cbpf_map_freeze(int map_fd);

int cbpf_btf_load(const void *btf, uint32_t btf_size, char *log_buf,
                  uint32_t log_size, uint32_t log_level);

int cbpf_prog_load(uint32_t prog_type, const char *name, const void *insns,
                   uint32_t insn_count, const char *license,
                   uint32_t kern_version, int prog_btf_fd,
                   const void *func_info, uint32_t func_info_rec_size,
                   uint32_t func_info_count, const void *line_info,
                   uint32_t line_info_rec_size, uint32_t line_info_count,
                   uint32_t expected_attach_type, uint32_t attach_btf_id,
                   int attach_btf_obj_fd,
                   char *log_buf, uint32_t log_size, uint32_t log_level);

/* Attach a program to a perf event (BPF_LINK_CREATE, attach type BPF_PERF_EVENT). */
int cbpf_link_create_perf_event(int prog_fd, int perf_event_fd);

/* Attach a tracing program where its attach_btf_id says (BPF_LINK_CREATE with
 * BPF_TRACE_RAW_TP, BPF_TRACE_FENTRY, ...; no target fd). */
int cbpf_link_create_tracing(int prog_fd, uint32_t attach_type);

/* The older way for a tracing program (Linux 5.5+): BPF_RAW_TRACEPOINT_OPEN
 * with no name; returns a link-like fd. */
int cbpf_raw_tracepoint_open(int prog_fd);
/* BPF_ITER_CREATE: a new session of an iterator link; read(2) it to run the program. */
int cbpf_iter_create(int link_fd);
/* read(2), retried on EINTR; the byte count, or -errno. */
long cbpf_read(int fd, void *buffer, size_t length);

int cbpf_obj_get_info_by_fd(int fd, void *info, uint32_t *info_len);
/* The program's instructions as the kernel holds them after verification
 * (bpf_prog_info.xlated_prog_insns): *insns_len in is the buffer's size, out
 * the kernel's full size, 0 when it withholds them. */
int cbpf_prog_get_xlated_insns(int prog_fd, void *insns, uint32_t *insns_len);
int cbpf_enable_stats(uint32_t stats_type);
int cbpf_prog_get_next_id(uint32_t start_id, uint32_t *next_id);
int cbpf_prog_get_fd_by_id(uint32_t id);
int cbpf_link_get_next_id(uint32_t start_id, uint32_t *next_id);
int cbpf_link_get_fd_by_id(uint32_t id);
int cbpf_map_get_next_id(uint32_t start_id, uint32_t *next_id);
int cbpf_map_get_fd_by_id(uint32_t id);

/* ---- perf_event_open(2), ioctl(2) -------------------------------------- */

/*
 * wakeup: with use_watermark 0, wake the reader every `wakeup` samples;
 * with use_watermark 1, once `wakeup` bytes are in the ring.
 */
int cbpf_perf_event_open(uint32_t type, uint64_t config, uint64_t sample_type,
                         uint64_t sample_period, uint32_t wakeup,
                         int use_watermark, int pid, int cpu, int group_fd,
                         unsigned long flags);

int cbpf_ioctl_int(int fd, unsigned long request, int arg);

static const unsigned long CBPF_PERF_EVENT_IOC_ENABLE = PERF_EVENT_IOC_ENABLE;
static const unsigned long CBPF_PERF_EVENT_IOC_SET_BPF = PERF_EVENT_IOC_SET_BPF;

/* ---- epoll, eventfd (Glibc's Swift overlay lacks them) ------------------ */

int cbpf_epoll_create(void);
int cbpf_epoll_add(int epoll_fd, int fd, uint32_t events, uint64_t data);
/* Fills `events`; returns the count, 0 on timeout, or -errno. */
int cbpf_epoll_wait(int epoll_fd, struct epoll_event *events, int max_events,
                    int timeout_ms);
int cbpf_eventfd(void);
/* Adds one to the eventfd's counter (it becomes readable). 0 or -errno. */
int cbpf_eventfd_signal(int fd);

/* ---- mmap of a ring ----------------------------------------------------- */

/* mmap(NULL, length, PROT_READ [| PROT_WRITE], MAP_SHARED or MAP_PRIVATE, fd,
 * offset): 0 with *address set, or -errno. */
int cbpf_mmap(int fd, size_t length, long offset, int writable, int shared, void **address);
int cbpf_munmap(void *address, size_t length);

/* ---- ring head and tail ------------------------------------------------- */

/* data_head is written by the kernel: read it with acquire ordering so the
 * record bytes before it are visible. */
uint64_t cbpf_ring_load_head(const struct perf_event_mmap_page *page);
/* data_tail tells the kernel what was consumed: store it with release
 * ordering so our reads of the records finish first. */
void cbpf_ring_store_tail(struct perf_event_mmap_page *page, uint64_t tail);

/* A BPF ring buffer's positions and record lengths, shared with the kernel:
 * loads with acquire, stores with release ordering (as libbpf's ringbuf.c). */
uint64_t cbpf_load_acquire_u64(const void *address);
uint32_t cbpf_load_acquire_u32(const void *address);
void cbpf_store_release_u64(void *address, uint64_t value);

#endif
