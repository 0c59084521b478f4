// SPDX-License-Identifier: MIT
/*
 * Drives the benchmark producer (producer_bench.c): calls getppid(2) at a given
 * rate for a given time, pinned to one CPU, with the magic value the producer
 * filters on in getppid's unused first argument (the process is still named
 * rtxbn-getppid, for ps). Prints "calls=N seconds=S" on stdout.
 *
 *   getppid_driver RATE_PER_SECOND SECONDS CPU     (RATE 0: as fast as possible)
 *   getppid_driver --count N CPU                   (N calls back to back, timed)
 *
 * Pacing: every 100 us the driver catches up to rate x elapsed time, so events
 * come in bursts of at most rate/10000 calls, then it sleeps.
 *
 * --count (bench section hostcost): after WARMUP_CALLS untimed calls, N calls
 * in a plain loop, timed by this thread's CPU clock, which counts the syscall,
 * the tracepoint and every BPF program it runs, and interrupts taken meanwhile
 * (no IRQ time accounting in these kernels), but not time spent preempted.
 * Prints "calls=TOTAL timed=N cpu_ns=C wall_ns=W involuntary_switches=S".
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define WARMUP_CALLS 10000
/* producer_bench.c's BENCH_DRIVER_MAGIC: "rtxbench". */
#define BENCH_DRIVER_MAGIC 0x72747862656e6368ULL

static inline void getppid_from_driver(void)
{
	syscall(SYS_getppid, BENCH_DRIVER_MAGIC);
}

static long long clock_ns(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

static int pin_and_name(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0) {
		perror("sched_setaffinity");
		return 1;
	}
	/* For ps and bpftrace; the producer filters on BENCH_DRIVER_MAGIC (comm, at most 15 characters). */
	if (prctl(PR_SET_NAME, "rtxbn-getppid", 0, 0, 0) != 0) {
		perror("prctl(PR_SET_NAME)");
		return 1;
	}
	return 0;
}

static int count_calls(long long timed, int cpu)
{
	if (pin_and_name(cpu) != 0)
		return 1;
	for (int i = 0; i < WARMUP_CALLS; i++)
		getppid_from_driver();
	struct rusage before, after;
	getrusage(RUSAGE_THREAD, &before);
	long long wall = now_ns();
	long long cpu_time = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	for (long long i = 0; i < timed; i++)
		getppid_from_driver();
	cpu_time = clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu_time;
	wall = now_ns() - wall;
	getrusage(RUSAGE_THREAD, &after);
	printf("calls=%lld timed=%lld cpu_ns=%lld wall_ns=%lld involuntary_switches=%ld\n",
	       timed + WARMUP_CALLS, timed, cpu_time, wall, after.ru_nivcsw - before.ru_nivcsw);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "--count") == 0)
		return count_calls(atoll(argv[2]), atoi(argv[3]));
	if (argc != 4) {
		fprintf(stderr, "usage: %s RATE_PER_SECOND SECONDS CPU\n       %s --count N CPU\n", argv[0], argv[0]);
		return 2;
	}
	double rate = atof(argv[1]);
	double seconds = atof(argv[2]);
	int cpu = atoi(argv[3]);
	if (pin_and_name(cpu) != 0)
		return 1;

	long long start = now_ns();
	long long end = start + (long long)(seconds * 1e9);
	long long calls = 0;
	struct timespec pause = { .tv_sec = 0, .tv_nsec = 100000 };
	for (;;) {
		long long now = now_ns();
		if (now >= end)
			break;
		if (rate <= 0) {
			for (int i = 0; i < 1024; i++)
				getppid_from_driver();
			calls += 1024;
			continue;
		}
		long long due = (long long)((double)(now - start) * rate / 1e9);
		while (calls < due) {
			getppid_from_driver();
			calls++;
		}
		nanosleep(&pause, NULL);
	}
	printf("calls=%lld seconds=%.6f\n", calls, (double)(now_ns() - start) / 1e9);
	return 0;
}
