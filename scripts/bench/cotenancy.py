"""Co-tenancy: recursion misses of both attachments while another BPF tool runs beside ours.

For each attachment (tracepoint/, tp_btf/) and each co-tenant, a fresh exporter
(`run --bpf.attach A`) counts a lossy retransmission storm in namespaces while a private ftrace
instance counts the same tracepoint for the storm's ports. Co-tenants:

  none        nothing else
  exporter    a second instance of this exporter, `tail --bpf.attach tracepoint`
  bpftrace    `tracepoint:tcp:tcp_retransmit_skb { @c = count(); }` (the same tracepoint)
  busy-tp     a bpftrace program doing map work on a hot tracepoint (net:net_dev_queue)
  busy-tp_btf libbpf-tools' `softirqs`: BTF tracing programs (the trampoline kind, like fentry)
              on softirq_entry/softirq_exit, which fire around every softirq, where most
              retransmissions run. (An fentry program proper was not available: bpftrace 0.17
              and libbpf-tools 0.26 both fail their fentry probe on Linux 6.18 and fall back or
              stop; it is guarded per program like tp_btf.)

With tracepoint/, the kernel skips our program while any perf-event BPF program (tracepoint or
kprobe) or a bpf(2) map operation runs on that CPU (`bpf_prog_active`); tp_btf/ and fentry guard
recursion per program. The identity checked for every row: ftrace hits of the storm's ports ==
received for those ports + misses, where the misses are host-wide (an upper bound for the
storm's share). Printed: ftrace hits, received, recursion misses, in-kernel ns/event (host-wide).

Namespaces rtx-bn-cot-*, addresses 10.203.30.0/24, ports 7801-7899, HTTP ports 21400-21449.
Needs root, bpftrace, libbpf-tools (softirqs). Used by bench.py (section `cotenancy`); runnable alone:
  python3 scripts/bench/cotenancy.py --binary .build/release/retrans-exporter
"""
import argparse
import os
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from exporter_process import ExporterProcess, parse_exposition  # noqa: E402
from storm import Storm  # noqa: E402

HTTP_PORT = 21400
NETWORK = "10.203.30"
FIRST_PORT, LAST_PORT = 7801, 7899
ATTACHMENTS = ["tracepoint", "tp_btf"]
BUSY_WORK = "unroll(32) { @work[cpu, tid % 8] = count(); }"
CO_TENANTS = {
    "none": None,
    "exporter": lambda binary: [binary, "tail", "--bpf.attach", "tracepoint"],
    "bpftrace": lambda binary: ["bpftrace", "-e", "tracepoint:tcp:tcp_retransmit_skb { @c = count(); }"],
    "busy-tp": lambda binary: ["bpftrace", "-e", "tracepoint:net:net_dev_queue { " + BUSY_WORK + " }"],
    "busy-tp_btf": lambda binary: ["stdbuf", "-oL", "softirqs", "1"],
}
TRACING = "/sys/kernel/tracing"


class FtraceCount:
    """A private ftrace instance counting tcp_retransmit_skb for the storm's ports."""

    def __init__(self, name):
        self.path = f"{TRACING}/instances/{name}"

    def __enter__(self):
        if not os.path.isdir(f"{TRACING}/events"):
            subprocess.run(["mount", "-t", "tracefs", "nodev", TRACING], check=True)
        os.mkdir(self.path)
        try:
            self.write("buffer_size_kb", "16384")
            event = f"{self.path}/events/tcp/tcp_retransmit_skb"
            ports = f"(sport >= {FIRST_PORT} && sport <= {LAST_PORT}) || (dport >= {FIRST_PORT} && dport <= {LAST_PORT})"
            self.write(f"{event}/filter", ports)
            self.write(f"{event}/enable", "1")
        except Exception:
            self.remove()
            raise
        return self

    def write(self, relative, text):
        path = relative if relative.startswith("/") else f"{self.path}/{relative}"
        with open(path, "w") as file:
            file.write(text)

    def stop_and_count(self):
        self.write("events/tcp/tcp_retransmit_skb/enable", "0")
        overruns = 0
        for cpu in os.listdir(f"{self.path}/per_cpu"):
            for line in open(f"{self.path}/per_cpu/{cpu}/stats"):
                if line.startswith("overrun:"):
                    overruns += int(line.split()[1])
        if overruns:
            raise RuntimeError(f"ftrace overran {overruns} events: raise buffer_size_kb")
        with open(f"{self.path}/trace") as trace:
            return sum(1 for line in trace if not line.startswith("#") and "tcp_retransmit_skb" in line)

    def remove(self):
        try:
            self.write("events/tcp/tcp_retransmit_skb/enable", "0")
        except OSError:
            pass
        try:
            os.rmdir(self.path)
        except OSError:
            pass

    def __exit__(self, *exc):
        self.remove()


def storm_port_events(text):
    """Sum of the flow counters (successes and failures) whose src_port or dst_port is the storm's."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(("tcp_retransmissions_total{", "tcp_retransmission_failures_total{")):
            continue
        series, _, value = line.rpartition(" ")
        labels = dict(part.split("=", 1) for part in series[series.index("{") + 1:-1].split(","))
        ports = [int(labels[key].strip('"')) for key in ("src_port", "dst_port")
                 if labels.get(key, '""').strip('"').isdigit()]
        if any(FIRST_PORT <= port <= LAST_PORT for port in ports):
            total += float(value)
    return total


def start_co_tenant(name, binary, log_path):
    command = CO_TENANTS[name]
    if command is None:
        return None
    log = open(log_path, "wb")
    process = subprocess.Popen(command(binary), stdout=subprocess.DEVNULL if name == "exporter" else log,
                               stderr=log, stdin=subprocess.DEVNULL)
    log.close()
    # Attached: bpftrace prints "Attaching N probes...", softirqs "Tracing soft irq event time...";
    # `tail` is attached well within 1.5 s.
    started = time.monotonic()
    deadline = started + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"co-tenant {name} exited with {process.returncode}: {open(log_path).read()[-1000:]}")
        text = open(log_path, errors="replace").read()
        if "Attaching" in text or "Tracing" in text or (name == "exporter" and time.monotonic() - started > 1.5):
            time.sleep(0.3)
            return process
        time.sleep(0.05)
    process.terminate()
    process.wait()
    raise RuntimeError(f"co-tenant {name} did not attach in 20 s: {open(log_path).read()[-1000:]}")


def stop(process):
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def measure(args, attach, co_tenant, index):
    """One row: fresh exporter, co-tenant, storm, ftrace; returns a dict of figures."""
    port = HTTP_PORT + index
    extra = ["--bpf.attach", attach, "--metrics.labels", "src_port,dst_port", "--ring.drain-interval", "100ms",
             "--bpf.run-time-stats"]
    with ExporterProcess(args.binary, port, extra, log_path=f"/tmp/rtx-bn-cot-exporter-{port}.log") as exporter:
        tenant = start_co_tenant(co_tenant, args.binary, f"/tmp/rtx-bn-cot-tenant-{port}.log")
        try:
            with FtraceCount(f"rtx-bn-cot-{os.getpid()}") as ftrace:
                with Storm(args.flows, name="cot", network=NETWORK, first_port=FIRST_PORT,
                           last_port=LAST_PORT) as storm:
                    storm.blow(args.seconds)
                    storm.wait_until_quiet()
                time.sleep(0.2)
                hits = ftrace.stop_and_count()
        finally:
            stop(tenant)
        time.sleep(0.3)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text = response.read().decode()
    metrics = parse_exposition(text)
    received = storm_port_events(text)
    runs = metrics.get("retrans_exporter_bpf_run_count_total", 0.0)
    seconds = metrics.get("retrans_exporter_bpf_run_seconds_total", 0.0)
    misses = metrics.get("retrans_exporter_bpf_recursion_misses_total", 0.0)
    return {
        "attach": attach, "co_tenant": co_tenant, "ftrace": hits, "received": int(received),
        "misses": int(misses), "ns_per_event": seconds * 1e9 / runs if runs else float("nan"),
        "runs": int(runs),
        # Host-wide accounting, to tell a loss in the rings from a hit the program never saw.
        "received_all": int(metrics.get("retrans_exporter_events_received_total", 0)),
        "emitted": int(metrics.get("retrans_exporter_bpf_emitted_total", 0)),
        "emit_failed": int(metrics.get("retrans_exporter_bpf_emit_failed_total", 0)),
        "decode_errors": int(metrics.get("retrans_exporter_decode_errors_total", 0)),
        "identity": int(received) <= hits and hits - int(received) <= int(misses),
    }


def cotenancy_section(args, summary):
    print(f"\n== co-tenancy: recursion misses with another BPF tool beside ours   "
          f"(load average {open('/proc/loadavg').read().split()[0]})", flush=True)
    print(f"  {args.flows} flows, ~10% inbound loss, {args.seconds} s per row; misses and ns/event are host-wide")
    rows = []
    index = 0
    for attach in ATTACHMENTS:
        for co_tenant in args.co_tenants:
            row = measure(args, attach, co_tenant, index)
            index += 1
            rows.append(row)
            summary.add(f"co-tenancy, {attach}, beside {co_tenant}",
                        f"ftrace {row['ftrace']}, received {row['received']}, recursion misses {row['misses']}, "
                        f"{row['ns_per_event']:.0f} ns/event over {row['runs']} runs; host-wide received "
                        f"{row['received_all']}, emitted {row['emitted']}, emit failed {row['emit_failed']}, "
                        f"decode errors {row['decode_errors']}",
                        "ftrace == received + misses (misses host-wide)", row["identity"])
    print("\n  | attachment | co-tenant | ftrace hits | received | recursion misses | ns/event |")
    print("  |---|---|---:|---:|---:|---:|")
    for row in rows:
        print(f"  | {row['attach']} | {row['co_tenant']} | {row['ftrace']} | {row['received']} | "
              f"{row['misses']} | {row['ns_per_event']:.0f} |")
    return rows


def add_arguments(parser, prefix=""):
    parser.add_argument(f"--{prefix}seconds", dest="cotenancy_seconds", type=float, default=4)
    parser.add_argument(f"--{prefix}flows", dest="cotenancy_flows", type=int, default=32)
    parser.add_argument(f"--{prefix}co-tenants", dest="cotenancy_co_tenants", default=",".join(CO_TENANTS),
                        help=f"comma-separated, from {','.join(CO_TENANTS)}")


def options(args):
    """The section's own view of bench.py's (or this script's) arguments."""
    co_tenants = args.cotenancy_co_tenants.split(",")
    unknown = [name for name in co_tenants if name not in CO_TENANTS]
    if unknown:
        raise SystemExit(f"unknown co-tenants {unknown}; choose from {list(CO_TENANTS)}")
    return argparse.Namespace(binary=args.binary, seconds=args.cotenancy_seconds, flows=args.cotenancy_flows,
                              co_tenants=co_tenants)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=".build/release/retrans-exporter")
    add_arguments(parser)
    args = parser.parse_args()
    if os.geteuid() != 0:
        parser.error("needs root (BPF, network namespaces, tracefs)")

    class Printer:
        def add(self, figure, measured, target="", met=None):
            verdict = "" if met is None else ("met" if met else "MISSED")
            print(f"  {figure}: {measured}   {target}   [{verdict}]", flush=True)

    cotenancy_section(options(args), Printer())


if __name__ == "__main__":
    main()
