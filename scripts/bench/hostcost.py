"""Cost to the host (issue 13, item 5): what a process pays per event, on top of its syscall.

`run_time_ns` counts only the BPF program. For a classic tracepoint the kernel first fills the
trace record, and any program on a syscall tracepoint sends every syscall through the traced
entry path; none of that is counted. So this measures the caller instead: `getppid_driver
--count N CPU` makes N back-to-back getppid calls pinned to one CPU and times them by its own
thread CPU clock (the syscall, the tracepoint, the program, the wakeups it raises), as
cloudflare/ebpf_exporter's `benchmark/` does with getpid. Rows:

  baseline                 nothing attached
  empty A                  `r0 = 0; exit` on the stand-in's attach point (empty_attach.c):
                           tracepoint/raw_syscalls/sys_enter, or tp_btf/sys_enter (both run
                           for every syscall on the host; the stand-in selects the driver's
                           getppid calls by their number and a magic first argument)
  empty A, stats           the same with BPF run-time statistics on (what --bpf.run-time-stats holds)
  exporter A, K, W         the real exporter with the stand-in (producer_bench.c): --bpf.attach A,
                           --ring.kind K, --ring.wakeup W, as deployed (run-time statistics off, the
                           default); every call is an event streamed to it
  exporter ..., stats on   the default combination (tp_btf, ringbuf, batched) once more with
                           --bpf.run-time-stats, the only way to see the program's own run_time_ns

With --hostcost-steps the rows are instead the baseline, the default combination and four
stand-ins that stop early (producer_stepN.o, HOSTCOST_STEP in producer_bench.c): attached and
returning at once; + selecting the driver's calls; + building the event on the stack (as `run`
loads it, without the clock); + the clock read. Each step's figure less the one before is what
that step costs; the default row less step 3 is the output itself (query, copy, wakeup rule).

Added ns per event = row - the baseline of the same round; each figure is the median over
interleaved rounds. For the exporter rows also the exporter's own CPU per event (utime+stime
from /proc/PID/stat over the run), the program's run_time_ns per event (from its own
self-metrics; only the stats-on row has them, "—" elsewhere), and whether every event was streamed: "all" when no round dropped any and
every round's accounting was exact (received == emitted, lost == failed, calls == emitted +
failed); a dropped event (ring full) is cheaper than a streamed one, so such a row flatters.
Each measurement holds /tmp/retrans-kernel.lock, which kernel tests on these machines share.
HTTP ports 21320-21327.
"""
import contextlib
import fcntl
import os
import re
import statistics
import subprocess
import time

from exporter_process import ExporterProcess

HTTP_PORT = 21320
KERNEL_LOCK = "/tmp/retrans-kernel.lock"
TRACEPOINT_ID = "/sys/kernel/tracing/events/raw_syscalls/sys_enter/id"
TARGET_NS = 250
DEFAULT_COMBINATION = ("tp_btf", "ringbuf", "batched")  # what --bpf.attach/--ring.* default to on this kernel


class Row:
    def __init__(self, label, empty=None, stats=False, exporter=None, calls=0, step=None):
        self.label = label
        self.step = step              # HOSTCOST_STEP of the stand-in (streams nothing), or None: the whole one
        self.outputs = step is None
        self.producer = f"producer_step{step}.o" if step else "producer_bench.o"
        self.empty = empty            # attachment of the empty program, or None
        self.stats = stats            # BPF run-time statistics held on (empty_attach --stats, --bpf.run-time-stats)
        self.exporter = exporter      # (attach, ring kind, wakeup), or None
        self.calls = calls
        self.rounds = []              # one dict of figures per round


STEPS = ["attached, returns at once", "+ the driver's calls selected", "+ the event built (no clock, as `run`)",
         "+ the clock read"]


def step_rows(args):
    result = [Row("baseline (nothing attached)", calls=args.hostcost_calls)]
    for number, label in enumerate(STEPS, start=1):
        result.append(Row(f"step {number}: {label}", exporter=DEFAULT_COMBINATION, calls=args.hostcost_calls,
                          step=number))
    result.append(Row("exporter tp_btf/, ringbuf, batched (the whole default)", exporter=DEFAULT_COMBINATION,
                      calls=args.hostcost_calls))
    return result


def rows(args):
    if args.hostcost_steps:
        return step_rows(args)
    result = [Row("baseline (nothing attached)", calls=args.hostcost_calls)]
    for attach in ("tracepoint", "tp_btf"):
        result.append(Row(f"empty {attach}/", empty=attach, calls=args.hostcost_calls))
        result.append(Row(f"empty {attach}/, run-time stats on", empty=attach, stats=True,
                          calls=args.hostcost_calls))
    for wakeup in ("batched", "every-event"):
        # A wakeup per event costs microseconds: fewer calls give the same precision.
        calls = args.hostcost_calls if wakeup == "batched" else args.hostcost_every_event_calls
        for attach in ("tracepoint", "tp_btf"):
            for kind in ("perf", "ringbuf"):
                combination = (attach, kind, wakeup)
                result.append(Row(f"exporter {attach}/, {kind}, {wakeup}", exporter=combination, calls=calls))
                # Statistics time every BPF program on the host, so the rows above measure the exporter
                # as deployed (without them). The default combination is measured once more with them,
                # for the program's own run_time_ns and for what holding them costs.
                if combination == DEFAULT_COMBINATION:
                    result.append(Row(f"exporter {attach}/, {kind}, {wakeup}, run-time stats on",
                                      exporter=combination, stats=True, calls=calls))
    return result


@contextlib.contextmanager
def kernel_lock():
    """flock(1) on the shared lock file: the same lock, taken the same way."""
    fd = os.open(KERNEL_LOCK, os.O_RDONLY | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def empty_program(tool, attach, attach_id, stats):
    """empty_attach runs until its stdin closes; its exit detaches and frees the program."""
    command = [tool, attach, str(attach_id)] + (["--stats"] if stats else [])
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline().strip()
        if line != "attached":
            raise RuntimeError(f"{' '.join(command)} did not attach (exit {process.wait()})")
        yield
    finally:
        process.stdin.close()
        process.wait(10)


def btf_type_id(name):
    """The vmlinux BTF id of a type, from bpftool's dump (`[11324] TYPEDEF 'btf_trace_sys_enter' ...`)."""
    dump = subprocess.run(["bpftool", "btf", "dump", "file", "/sys/kernel/btf/vmlinux"],
                          check=True, capture_output=True, text=True).stdout
    match = re.search(rf"^\[(\d+)\] TYPEDEF '{re.escape(name)}'", dump, re.MULTILINE)
    if not match:
        raise RuntimeError(f"no {name} in /sys/kernel/btf/vmlinux")
    return int(match.group(1))


def run_driver(driver, calls, cpu):
    output = subprocess.run([driver, "--count", str(calls), str(cpu)], check=True,
                            capture_output=True, text=True).stdout
    figures = {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", output)}
    figures["ns_per_call"] = figures["cpu_ns"] / figures["timed"]
    return figures


def counters(metrics):
    names = {"received": "retrans_exporter_events_received_total",
             "lost": "retrans_exporter_samples_lost_total",
             "emitted": "retrans_exporter_bpf_emitted_total",
             "failed": "retrans_exporter_bpf_emit_failed_total",
             "run_seconds": "retrans_exporter_bpf_run_seconds_total"}
    return {key: metrics.get(name, 0.0) for key, name in names.items()}


def measure_exporter(args, row, port, driver, cpu):
    attach, kind, wakeup = row.exporter
    producer = os.path.join(args.bench_dir, row.producer)
    flags = ["--bpf.object", producer, "--bpf.attach", attach, "--ring.kind", kind, "--ring.wakeup", wakeup]
    if row.stats:
        flags.append("--bpf.run-time-stats")  # for the program's own ns per event; they add to the host's cost
    with ExporterProcess(args.binary, port, flags) as exporter:
        before = counters(exporter.scrape())
        cpu_before = exporter.cpu_seconds()
        figures = run_driver(driver, row.calls, cpu)
        # A scrape drains the rings first; an event landing between its drain and its read of
        # the kernel's counters makes one scrape unequal, so look again.
        for _ in range(10):
            time.sleep(0.2)
            now = counters(exporter.scrape())
            if now["received"] - before["received"] == now["emitted"] - before["emitted"] or not row.outputs:
                break
        exporter_cpu = exporter.cpu_seconds() - cpu_before
    os.unlink(exporter.log_path)  # kept only when the exporter failed (ExporterProcess raised)
    got = {key: now[key] - before[key] for key in now}
    # perf: the kernel reports each dropped record (lost == failed); the ring buffer reports
    # none: a full ring fails the program's reserve, which it counts.
    dropped = got["lost"] if kind == "perf" else got["failed"]
    figures.update(
        received=got["received"], emitted=got["emitted"], dropped=dropped,
        exact=(got["received"] == got["emitted"] and figures["calls"] == got["emitted"] + got["failed"]
               and (got["lost"] == got["failed"] if kind == "perf" else got["lost"] == 0)),
        exporter_ns=exporter_cpu * 1e9 / got["received"] if got["received"] else float("nan"),
        # Per event, not per run: on tp_btf/sys_enter every syscall of the host runs the program.
        # Without statistics the exporter has no run_seconds metric: NaN, not a misleading 0.
        program_ns=got["run_seconds"] * 1e9 / got["emitted"] if row.stats and got["emitted"] else float("nan"))
    return figures


def measure(args, row, port, ids):
    driver = os.path.join(args.bench_dir, "getppid_driver")
    with kernel_lock():
        if row.exporter:
            return measure_exporter(args, row, port, driver, args.hostcost_cpu)
        if row.empty:
            tool = os.path.join(args.bench_dir, "empty_attach")
            with empty_program(tool, row.empty, ids[row.empty], row.stats):
                return run_driver(driver, row.calls, args.hostcost_cpu)
        return run_driver(driver, row.calls, args.hostcost_cpu)


def median(values):
    values = [value for value in values if value == value]  # drop NaN
    return statistics.median(values) if values else float("nan")


def hostcost_section(args, summary):
    print(f"\n== cost to the host: CPU ns per getppid call, driver pinned to CPU {args.hostcost_cpu}   "
          f"({time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, "
          f"load average {' '.join(open('/proc/loadavg').read().split()[:3])})", flush=True)
    ids = {"tracepoint": int(open(TRACEPOINT_ID).read()), "tp_btf": btf_type_id("btf_trace_sys_enter")}
    table = rows(args)
    print(f"  {len(table)} rows x {args.hostcost_rounds} rounds, interleaved; {args.hostcost_calls} calls per row "
          f"({args.hostcost_every_event_calls} with every-event wakeups)")
    for round_index in range(args.hostcost_rounds):
        print(f"  round {round_index + 1} (load average {open('/proc/loadavg').read().split()[0]})", flush=True)
        for index, row in enumerate(table):
            figures = measure(args, row, HTTP_PORT + index % 8, ids)
            row.rounds.append(figures)
            extra = ""
            if row.exporter and not row.outputs:
                # Steps 2-4 count each call they select (step 1 selects none): all of the driver's.
                extra = f", {figures['emitted']:.0f} of {figures['calls']} calls counted, nothing output (a step)"
            elif row.exporter:
                program = f", program {figures['program_ns']:.0f} ns/event" if row.stats else ""
                extra = (f", exporter {figures['exporter_ns']:.0f} ns/event{program}, "
                         f"dropped {figures['dropped']:.0f}, {'exact' if figures['exact'] else 'NOT exact'}")
            print(f"    {row.label}: {figures['ns_per_call']:.1f} ns/call "
                  f"(wall {figures['wall_ns'] / figures['timed']:.0f}, {figures['involuntary_switches']} "
                  f"preemptions){extra}", flush=True)
    print_table(table, summary)


def print_table(table, summary):
    baseline = table[0]
    print("\n  | row | ns per call (median, min-max) | added ns per event | exporter CPU ns per event "
          "| total added | program run_time_ns per event | streamed (all rounds) |")
    print("  |---|---:|---:|---:|---:|---:|---|")
    best, verdicts = None, []
    for row in table:
        calls = [figures["ns_per_call"] for figures in row.rounds]
        added = median([figures["ns_per_call"] - base["ns_per_call"]
                        for figures, base in zip(row.rounds, baseline.rounds)])
        cells = [row.label, f"{median(calls):.0f} ({min(calls):.0f}-{max(calls):.0f})",
                 "" if row is baseline else f"{added:+.0f}"]
        if row.exporter and not row.outputs:
            cells += ["", "", "", "no output (a step)"]
        elif row.exporter:
            exporter_ns = median([figures["exporter_ns"] for figures in row.rounds])
            program_ns = median([figures["program_ns"] for figures in row.rounds])
            exact = all(figures["exact"] for figures in row.rounds)
            dropped = sum(figures["dropped"] for figures in row.rounds)
            streamed = "all" if exact and not dropped else f"{dropped:.0f} dropped" if exact else "NOT exact"
            cells += [f"{exporter_ns:.0f}", f"{added + exporter_ns:.0f}",
                      f"{program_ns:.0f}" if row.stats else "—", streamed]
            attach, kind, wakeup = row.exporter
            if row.stats:
                # Not a deployment: no verdict, only what the statistics add and what the program takes.
                verdicts.append((f"host cost, {attach}/, {kind}, {wakeup}, with --bpf.run-time-stats",
                                 f"+{added:.0f} ns/event in the caller, +{exporter_ns:.0f} ns in the exporter "
                                 f"(program run_time_ns {program_ns:.0f})"))
            elif wakeup == "batched":
                verdicts.append((f"host cost, {attach}/, {kind}, batched",
                                 f"+{added:.0f} ns/event in the caller, +{exporter_ns:.0f} ns in the exporter",
                                 f"<= {TARGET_NS} ns added, every event streamed",
                                 added <= TARGET_NS and exact and dropped == 0))
                if exact and dropped == 0 and (best is None or added + exporter_ns < best[1]):
                    best = (row.label, added + exporter_ns)
        else:
            cells += ["", "", "", ""]
        print("  | " + " | ".join(cells) + " |")
    print()
    for verdict in verdicts:  # after the table, which is meant to be copied whole
        summary.add(*verdict)
    if best:
        print(f"  cheapest streaming combination (caller + exporter): {best[0]}, {best[1]:.0f} ns/event")


def add_arguments(parser):
    parser.add_argument("--hostcost-calls", type=int, default=3_000_000, help="getppid calls per row")
    parser.add_argument("--hostcost-every-event-calls", type=int, default=500_000,
                        help="calls per row with --ring.wakeup every-event")
    parser.add_argument("--hostcost-rounds", type=int, default=5,
                        help="interleaved rounds; each figure is the median (this VM is noisy)")
    parser.add_argument("--hostcost-cpu", type=int, default=1, help="the CPU the driver is pinned to")
    parser.add_argument("--hostcost-steps", action="store_true",
                        help="instead of the rows above: what each step of the default's event adds (producer_stepN.o)")
