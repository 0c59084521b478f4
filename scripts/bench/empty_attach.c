// SPDX-License-Identifier: MIT
/*
 * An empty BPF program (r0 = 0; exit) attached where the getppid stand-in
 * (producer_bench.c) attaches, for bench section `hostcost`: what any program
 * there costs before it does any work, the comparison cloudflare/ebpf_exporter's
 * benchmark makes. Raw bpf(2), no libbpf.
 *
 *   empty_attach tracepoint ID [--stats]  tracepoint/raw_syscalls/sys_enter
 *                                         (ID from tracefs events/.../id)
 *   empty_attach tp_btf ID [--stats]      tp_btf/sys_enter (ID: btf_trace_sys_enter
 *                                         in /sys/kernel/btf/vmlinux)
 *
 * --stats also holds a BPF_ENABLE_STATS fd, as the exporter does for its
 * run-time metrics: while any such fd is open the kernel times every program.
 * Prints "attached" once attached, then waits until stdin closes; exiting
 * closes every fd, which detaches and frees the program (nothing is pinned).
 */
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int bpf(int command, union bpf_attr *attr)
{
	return (int)syscall(SYS_bpf, command, attr, sizeof(*attr));
}

static int load_empty(enum bpf_prog_type type, enum bpf_attach_type attach_type, __u32 btf_id)
{
	static const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	static char log[4096];
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.prog_type = type;
	attr.expected_attach_type = attach_type;
	attr.attach_btf_id = btf_id;
	attr.insns = (__u64)(unsigned long)insns;
	attr.insn_cnt = sizeof(insns) / sizeof(insns[0]);
	attr.license = (__u64)(unsigned long)"GPL";
	attr.log_buf = (__u64)(unsigned long)log;
	attr.log_size = sizeof(log);
	attr.log_level = 1;
	int fd = bpf(BPF_PROG_LOAD, &attr);
	if (fd < 0)
		fprintf(stderr, "BPF_PROG_LOAD: %m\n%s", log);
	return fd;
}

/* A perf event on CPU 0 is enough: the program runs for the tracepoint on every CPU. */
static int attach_tracepoint(int prog, __u64 tracepoint_id)
{
	struct perf_event_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.type = PERF_TYPE_TRACEPOINT;
	attr.size = sizeof(attr);
	attr.config = tracepoint_id;
	attr.sample_period = 1;
	int event = (int)syscall(SYS_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
	if (event < 0 || ioctl(event, PERF_EVENT_IOC_SET_BPF, prog) != 0 || ioctl(event, PERF_EVENT_IOC_ENABLE, 0) != 0) {
		perror("perf_event_open / PERF_EVENT_IOC_SET_BPF");
		return -1;
	}
	return event;
}

static int attach_raw_tracepoint(int prog)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.raw_tracepoint.prog_fd = prog; /* no name: the program's attach_btf_id says where */
	int link = bpf(BPF_RAW_TRACEPOINT_OPEN, &attr);
	if (link < 0)
		perror("BPF_RAW_TRACEPOINT_OPEN");
	return link;
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3], "--stats") != 0)) {
		fprintf(stderr, "usage: %s tracepoint|tp_btf ID [--stats]\n", argv[0]);
		return 2;
	}
	unsigned long long id = strtoull(argv[2], NULL, 10);
	int attached;
	if (strcmp(argv[1], "tracepoint") == 0) {
		int prog = load_empty(BPF_PROG_TYPE_TRACEPOINT, 0, 0);
		attached = prog < 0 ? -1 : attach_tracepoint(prog, id);
	} else if (strcmp(argv[1], "tp_btf") == 0) {
		int prog = load_empty(BPF_PROG_TYPE_TRACING, BPF_TRACE_RAW_TP, (__u32)id);
		attached = prog < 0 ? -1 : attach_raw_tracepoint(prog);
	} else {
		fprintf(stderr, "unknown attachment %s\n", argv[1]);
		return 2;
	}
	if (attached < 0)
		return 1;
	if (argc == 4) {
		union bpf_attr attr;
		memset(&attr, 0, sizeof(attr));
		attr.enable_stats.type = BPF_STATS_RUN_TIME;
		if (bpf(BPF_ENABLE_STATS, &attr) < 0) {
			perror("BPF_ENABLE_STATS");
			return 1;
		}
	}
	printf("attached\n");
	fflush(stdout);
	char buffer[64];
	while (read(0, buffer, sizeof(buffer)) > 0)
		;
	return 0;
}
