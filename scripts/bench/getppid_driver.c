// SPDX-License-Identifier: MIT
/*
 * Drives the benchmark producer (producer_bench.c): calls getppid(2) at a given
 * rate for a given time, pinned to one CPU, under the process name the producer
 * filters on. Prints "calls=N seconds=S" on stdout.
 *
 *   getppid_driver RATE_PER_SECOND SECONDS CPU     (RATE 0: as fast as possible)
 *
 * Pacing: every 100 us the driver catches up to rate x elapsed time, so events
 * come in bursts of at most rate/10000 calls, then it sleeps.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s RATE_PER_SECOND SECONDS CPU\n", argv[0]);
		return 2;
	}
	double rate = atof(argv[1]);
	double seconds = atof(argv[2]);
	int cpu = atoi(argv[3]);

	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0) {
		perror("sched_setaffinity");
		return 1;
	}
	/* The producer emits only for this name (comm, at most 15 characters). */
	if (prctl(PR_SET_NAME, "rtxbn-getppid", 0, 0, 0) != 0) {
		perror("prctl(PR_SET_NAME)");
		return 1;
	}

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
				syscall(SYS_getppid);
			calls += 1024;
			continue;
		}
		long long due = (long long)((double)(now - start) * rate / 1e9);
		while (calls < due) {
			syscall(SYS_getppid);
			calls++;
		}
		nanosleep(&pause, NULL);
	}
	printf("calls=%lld seconds=%.6f\n", calls, (double)(now_ns() - start) / 1e9);
	return 0;
}
