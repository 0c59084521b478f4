/*
 * Test-only helpers the Swift tests cannot write without _GNU_SOURCE:
 * pinning the calling thread to one CPU, its thread id, and a tight loop of
 * raw getppid(2) calls (what the test producer program counts).
 */
#ifndef RING_TEST_SUPPORT_H
#define RING_TEST_SUPPORT_H

#include <stdint.h>

/* The application's event record, for tests that read retrans.o's rings
 * (the kernel layer itself knows nothing of it). */
#include "../../../bpf/retrans_event.h"

/* Pins the calling thread to `cpu`; 0 or -errno. */
int rtx_pin_current_thread(int cpu);
/* The CPU the calling thread runs on now. */
int rtx_current_cpu(void);
/* The calling thread's id (what bpf_get_current_pid_tgid() puts in its low half). */
int32_t rtx_thread_id(void);
/* Makes `count` getppid(2) system calls. */
void rtx_getppid_calls(uint64_t count);
/* Makes `count` getppid(2) calls at `per_second` on average (busy-waiting
 * between them: sleeping would make the rate bursty); returns the nanoseconds taken. */
uint64_t rtx_getppid_paced(uint64_t count, uint64_t per_second);

#endif
