#define _GNU_SOURCE
#include "ring_test_support.h"

#include <errno.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int rtx_pin_current_thread(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) == 0 ? 0 : -errno;
}

int rtx_current_cpu(void)
{
	return sched_getcpu();
}

int32_t rtx_thread_id(void)
{
	return (int32_t)syscall(SYS_gettid);
}

void rtx_getppid_calls(uint64_t count)
{
	for (uint64_t i = 0; i < count; i++)
		syscall(SYS_getppid);
}

static uint64_t monotonic_ns(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

uint64_t rtx_getppid_paced(uint64_t count, uint64_t per_second)
{
	uint64_t start = monotonic_ns();
	uint64_t done = 0;
	while (done < count) {
		uint64_t due = (monotonic_ns() - start) * per_second / 1000000000u;
		if (due > count)
			due = count;
		for (; done < due; done++)
			syscall(SYS_getppid);
	}
	return monotonic_ns() - start;
}
