#!/usr/bin/env python3
"""`make bench`: every figure of the performance issue, each printed with its unit and target.

Runs the real release binary (and its hidden `bench` / `bench-hot-path` subcommands); needs
root (BPF, network namespaces). Sections (choose with --only storm,userspace,...):

  storm      in-kernel ns/event during a retransmission storm in namespaces, both transports and wakeup modes
  userspace  decode+count events/s (bench-hot-path and the bench subcommand), render times
  highrate   end to end through the real exporter with the getppid producer, increasing rates
  memory     RSS of the real exporter idle and at 100k series
  startup    exec -> attached and exec -> serving, median of --startup-runs
  size       stripped release binary size and ldd
  profile    callgrind instructions per event on the hot path (needs valgrind)

Optional (only with --only):
  cotenancy  recursion misses of both attachments beside another BPF tool (cotenancy.py: its own
             namespaces, 10.203.30.0/24, ports 7801-7899, HTTP 21400-21449)
  hostcost   CPU ns a getppid caller pays per event: nothing attached, an empty program, and the
             real exporter with the stand-in for each attachment, transport and wakeup mode
             (hostcost.py: no namespaces, HTTP 21320-21327; --hostcost-calls, --hostcost-rounds,
             --hostcost-steps: what each step of the default's event adds)

Namespaces rtx-bn-*, addresses 10.203.6.0/24, ports 7601-7699, HTTP ports 21300-21349.
"""
import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from exporter_process import ExporterProcess, http_status, parse_exposition  # noqa: E402
from storm import Storm  # noqa: E402
import cotenancy  # noqa: E402
import hostcost  # noqa: E402

HTTP_PORT = 21300
DRIVER_CPU = 1
KINDS = ["perf", "ringbuf"]
ATTACHMENTS = ["tracepoint", "tp_btf"]
OTHER_ENV = "RETRANS_BENCH_OTHER"
SECTIONS = ["storm", "userspace", "highrate", "memory", "startup", "size", "profile", "other"]
OPTIONAL_SECTIONS = ["cotenancy", "hostcost"]


class Summary:
    """The final table: figure, measured, target, verdict."""

    def __init__(self):
        self.rows = []

    def add(self, figure, measured, target="", met=None):
        verdict = "" if met is None else ("met" if met else "MISSED")
        self.rows.append((figure, measured, target, verdict))
        line = f"  {figure}: {measured}"
        if target:
            line += f"   target {target}"
        if verdict:
            line += f"   [{verdict}]"
        print(line, flush=True)

    def print(self):
        print("\n== summary")
        widths = [max(len(str(row[i])) for row in self.rows + [("figure", "measured", "target", "")])
                  for i in range(4)]
        for row in [("figure", "measured", "target", "verdict")] + self.rows:
            print("  " + " | ".join(str(cell).ljust(width) for cell, width in zip(row, widths)))


def heading(title):
    print(f"\n== {title}   (load average {open('/proc/loadavg').read().split()[0]})", flush=True)


def machine():
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                  if line.startswith("model name")), "?")
    swift = subprocess.run(["swift", "--version"], capture_output=True, text=True).stdout.splitlines()
    print(f"machine: {os.cpu_count()} CPUs, {model}, Linux {platform.release()}, "
          f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    if swift:
        print(f"toolchain: {swift[0]}")


# MARK: 1. in-kernel cost during a retransmission storm

def storm_section(args, summary):
    heading("1. in-kernel cost per event during a retransmission storm (run_time_ns / run_cnt)")
    print(f"  {args.storm_flows} parallel flows, ~10% inbound loss (nftables), {args.storm_seconds} s per mode; "
          "the tracepoint is global, so retransmissions elsewhere on the machine count too")
    with Storm(args.storm_flows) as storm:
        combinations = [(a, k, m) for a in ATTACHMENTS for k in KINDS for m in ["every-event", "batched"]]
        for index, (attach, kind, mode) in enumerate(combinations):
            port = HTTP_PORT + 10 + index
            with ExporterProcess(args.binary, port,
                                 ["--bpf.attach", attach, "--ring.kind", kind, "--ring.wakeup", mode,
                                  "--bpf.run-time-stats"]) as exporter:
                before = exporter.scrape()
                started = time.monotonic()
                storm.blow(args.storm_seconds)
                elapsed = time.monotonic() - started
                after = exporter.scrape()
                runs = delta(after, before, "retrans_exporter_bpf_run_count_total")
                seconds = delta(after, before, "retrans_exporter_bpf_run_seconds_total")
                per_event = seconds * 1e9 / runs if runs else float("nan")
                target = "<= 1500 ns (batched, streaming)" if mode == "batched" else "(reference: Go exporter 8200 ns)"
                met = per_event <= 1500 if mode == "batched" else None
                misses = delta(after, before, "retrans_exporter_bpf_recursion_misses_total")
                summary.add(f"in-kernel cost, {attach}, {kind}, --ring.wakeup {mode}",
                            f"{per_event:.0f} ns/event over {runs:.0f} events ({runs / elapsed:.0f}/s), "
                            f"recursion misses {misses:.0f}",
                            target, met)
                streamed, detail = all_streamed(exporter)
                summary.add(f"every event streamed, {attach}, {kind}, {mode}", detail,
                            "received + lost == emitted + emit_failed", streamed)


def delta(after, before, name):
    return after.get(name, 0.0) - before.get(name, 0.0)


def all_streamed(exporter, attempts=10):
    """received == emitted and lost == emit_failed at one scrape. An event that lands between the
    scrape's drain and its read of the kernel counters makes one scrape unequal, so retry."""
    for attempt in range(1, attempts + 1):
        time.sleep(0.2)
        metrics = exporter.scrape()
        received = metrics.get("retrans_exporter_events_received_total", 0)
        lost = metrics.get("retrans_exporter_samples_lost_total", 0)
        emitted = metrics.get("retrans_exporter_bpf_emitted_total", 0)
        failed = metrics.get("retrans_exporter_bpf_emit_failed_total", 0)
        detail = (f"received {received:.0f} + lost {lost:.0f} vs emitted {emitted:.0f} + failed {failed:.0f}"
                  f" (scrape {attempt})")
        if received == emitted and lost == failed:
            return True, detail
    return False, detail


# MARK: 2 and 4. user space (synthetic rings, no kernel)

def userspace_section(args, summary):
    heading("2. user-space decode+count (release build, one core, synthetic ring bytes)")
    for flows, cap in [(1_000, 10_000), (10_000, 10_000), (100_000, 10_000)]:
        output = run_text([args.binary, "bench-hot-path", "--flows", str(flows), "--max-series", str(cap)])
        rate = float(re.search(r"([\d.]+) M events/s", output).group(1))
        nanoseconds = float(re.search(r"([\d.]+) ns/event", output).group(1))
        note = ", most to the overflow series" if flows > cap else ""
        summary.add(f"decode+count (run's hot path), {flows} flows, cap {cap}{note}",
                    f"{rate:.2f} M events/s ({nanoseconds:.0f} ns/event, thread CPU time)",
                    ">= 5 M events/s", rate >= 5)

    heading("4a. bench subcommand: decode+count, render times, RSS (MetricsBenchmark)")
    output = run_text([args.binary, "bench"])
    for line in output.splitlines():
        print(f"  | {line}")
    for series, limit in [(1_000, None), (10_000, 5.0), (100_000, 50.0)]:
        match = re.search(rf"render {series} series: steady ([\d.]+) ms \[([\d.]+)\].*?first scrape ([\d.]+) ms",
                          output)
        if not match:
            continue
        steady, wall, first = (float(group) for group in match.groups())
        summary.add(f"render {series} series", f"{steady:.2f} ms steady (wall {wall:.2f}), first scrape {first:.2f} ms",
                    f"<= {limit:g} ms" if limit else "", steady <= limit if limit else None)
    match = re.search(r"RSS with 100000 series after streamed scrapes: ([\d.]+) MiB \(peak ([\d.]+) MiB\)", output)
    if match:
        summary.add("RSS at 100k series (bench subcommand process)",
                    f"{match.group(1)} MiB (peak {match.group(2)} MiB)", "<= 30 MB (whole exporter)",
                    float(match.group(2)) * 1.048576 <= 30)


def run_text(command, **kwargs):
    return subprocess.run(command, check=True, capture_output=True, text=True, **kwargs).stdout


# MARK: 3. end to end at high rate

def high_rate_section(args, summary):
    heading("3. end to end: getppid producer -> real exporter (perf rings and ring buffer, 1 MiB each)")
    print(f"  driver pinned to CPU {DRIVER_CPU}, {args.rate_seconds} s per rate; exporter unpinned; "
          "CPU% = exporter utime+stime / wall time (100% = one core)")
    producer = os.path.join(args.bench_dir, "producer_bench.o")
    driver = os.path.join(args.bench_dir, "getppid_driver")
    # tracepoint/, as these figures have been taken since before the stand-in had tp_btf/
    # programs, so that runs stay comparable (`auto` would choose tp_btf/).
    for kind in KINDS:
        for mode in ["batched", "every-event"]:
            rates = args.rates if mode == "batched" else [200_000]
            with ExporterProcess(args.binary, HTTP_PORT + 2,
                                 ["--bpf.object", producer, "--bpf.attach", "tracepoint", "--ring.kind", kind,
                                  "--ring.wakeup", mode]) as exporter:
                for rate in rates:
                    figures = drive(exporter, driver, rate, args.rate_seconds)
                    label = f"{rate // 1000}k/s" if rate else "unpaced"
                    # perf: the kernel reports each dropped record (lost == failed); the ring buffer
                    # reports none: a full ring fails the program's reserve, which it counts.
                    lost = figures["lost"] if kind == "perf" else figures["failed"]
                    exact = (figures["received"] == figures["emitted"]
                             and (figures["lost"] == figures["failed"] if kind == "perf" else figures["lost"] == 0)
                             and figures["calls"] == figures["emitted"] + figures["failed"])
                    target, met = "", None
                    if rate == 200_000 and mode == "batched":
                        target, met = "zero loss", lost == 0
                    summary.add(
                        f"end to end {label}, {kind}, {mode}",
                        f"offered {figures['calls'] / figures['seconds']:.0f}/s, delivered "
                        f"{figures['received'] / figures['seconds']:.0f}/s, lost {lost:.0f}, "
                        f"exporter CPU {figures['cpu']:.1f}%, accounting {'exact' if exact else 'NOT exact'}",
                        target, met)


def drive(exporter, driver, rate, seconds):
    before = exporter.scrape()
    cpu_before = exporter.cpu_seconds()
    started = time.monotonic()
    output = run_text([driver, str(rate), str(seconds), str(DRIVER_CPU)])
    driven = float(re.search(r"seconds=([\d.]+)", output).group(1))
    time.sleep(0.1)
    after = exporter.scrape()  # drains every ring first
    cpu = (exporter.cpu_seconds() - cpu_before) / (time.monotonic() - started) * 100
    return {
        "calls": int(re.search(r"calls=(\d+)", output).group(1)),
        "seconds": driven,
        "received": delta(after, before, "retrans_exporter_events_received_total"),
        "lost": delta(after, before, "retrans_exporter_samples_lost_total"),
        "emitted": delta(after, before, "retrans_exporter_bpf_emitted_total"),
        "failed": delta(after, before, "retrans_exporter_bpf_emit_failed_total"),
        "cpu": cpu,
    }


# MARK: 4b. memory of the real exporter

def memory_section(args, summary):
    heading("4b. RSS of the real exporter (VmRSS from /proc/PID/status)")
    with ExporterProcess(args.binary, HTTP_PORT + 3) as exporter:
        time.sleep(1.0)
        idle = exporter.status_kib("VmRSS")
        idle_parts = memory_parts(exporter)
        exporter.scrape()
        scraped = exporter.status_kib("VmRSS")
        peak = exporter.status_kib("VmHWM")
    summary.add("RSS idle (embedded retrans.o, default flags, 1 s after start)",
                f"{idle / 1024:.1f} MiB [{idle_parts}] ({scraped / 1024:.1f} MiB after one scrape, "
                f"peak {peak / 1024:.1f} MiB)",
                "<= 9 MB (issue 13)", idle * 1024 <= 9_000_000)

    sweep = os.path.join(args.bench_dir, "producer_sweep.o")
    driver = os.path.join(args.bench_dir, "getppid_driver")
    with ExporterProcess(args.binary, HTTP_PORT + 4,
                         ["--bpf.object", sweep, "--bpf.attach", "tracepoint",
                          "--metrics.max-series", "100000"]) as exporter:
        # 150k events, each a new flow: 100k series, then 50k to the overflow series.
        run_text([driver, "150000", "1", str(DRIVER_CPU)])
        time.sleep(0.1)
        metrics = exporter.scrape()
        exporter.scrape()
        rss = exporter.status_kib("VmRSS")
        peak = exporter.status_kib("VmHWM")
        parts = memory_parts(exporter)
    series = metrics.get("retrans_exporter_series", 0)
    summary.add(f"RSS at {series:.0f} series (real exporter, flow sweep, after two scrapes)",
                f"{rss / 1024:.1f} MiB [{parts}] (peak {peak / 1024:.1f} MiB)", "<= 30 MB",
                peak * 1024 <= 30_000_000 and series == 100_000)


def memory_parts(exporter):
    """Anonymous memory versus pages of the executable and shared libraries."""
    anonymous = exporter.status_kib("RssAnon") or 0
    files = exporter.status_kib("RssFile") or 0
    return f"anon {anonymous / 1024:.1f} + files {files / 1024:.1f}"


# MARK: 8. side by side with another exporter

class Contender:
    """One exporter of the side-by-side table: its command line (`{port}` replaced), working
    directory, the BPF programs it attached, and a process kept running for the idle and storm figures."""

    def __init__(self, label, command, port, cwd=None):
        self.label = label
        self.port = port
        self.command = [part.replace("{port}", str(port)) for part in command]
        self.cwd = cwd
        self.process = None
        self.programs = []

    def spawn(self, stderr=subprocess.DEVNULL):
        return subprocess.Popen(self.command, cwd=self.cwd, stdout=subprocess.DEVNULL, stderr=stderr)

    def last_error_line(self):
        lines = open(self.log_path, errors="replace").read().strip().splitlines()
        return lines[0][:120] if lines else ""

    def wait_for_metrics(self, process, started, timeout=20):
        while http_status(self.port, "/metrics") != 200:
            if time.monotonic() > started + timeout or process.poll() is not None:
                raise RuntimeError(f"{self.label}: {' '.join(self.command)} did not serve /metrics on port {self.port}")
            time.sleep(0.0002)

    def start_up_times(self, runs):
        """exec -> first /metrics 200 (ms), sorted."""
        times = []
        for _ in range(runs):
            started = time.monotonic()
            process = self.spawn()
            try:
                self.wait_for_metrics(process, started)
                times.append((time.monotonic() - started) * 1000)
            finally:
                stop(process)
            # As in the startup section: a tp_btf start within the RCU-tasks grace period of the
            # last one's detach waits for it in attach (6-14 ms), so back-to-back starts measured
            # a restart storm, not the cold start a node sees. The same pause for every contender.
            time.sleep(0.3)
        return sorted(times)

    def start(self):
        """Starts the long-lived process; the programs it attached are the new ids in bpftool."""
        before = bpftool_program_ids()
        self.log_path = f"/tmp/rtx-bn-contender-{self.port}.log"
        with open(self.log_path, "wb") as log:
            self.process = self.spawn(stderr=log)
        self.wait_for_metrics(self.process, time.monotonic())
        self.programs = sorted(bpftool_program_ids() - before)

    def rss_mib(self):
        return int(re.search(r"VmRSS:\s+(\d+)", open(f"/proc/{self.process.pid}/status").read()).group(1)) / 1024

    def threads(self):
        return len(os.listdir(f"/proc/{self.process.pid}/task"))

    def stripped_mb(self):
        binary = os.path.join(self.cwd or os.getcwd(), self.command[0])
        stripped = f"/tmp/rtx-bn-other-{os.getpid()}"
        shutil.copy(binary, stripped)
        subprocess.run(["strip", "--strip-all", stripped], check=False)
        size = os.path.getsize(stripped)
        os.unlink(stripped)
        return size / 1e6


def stop(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def other_section(args, summary):
    """Side by side, same method for all: this exporter (default, and tracepoint + perf rings) and
    another one named by RETRANS_BENCH_OTHER ("binary [args...]", `{port}` replaced by the port,
    RETRANS_BENCH_OTHER_PORT, default 2112; RETRANS_BENCH_OTHER_CWD, its working directory, for an
    exporter that opens files by relative path). Figures: exec -> first /metrics 200 (median of
    --startup-runs), idle RSS after 20 scrapes, stripped size, and in-kernel ns/event of each one's
    programs during ONE storm with all of them attached (bpftool, kernel.bpf_stats_enabled set for the
    measurement and restored after)."""
    command_text = os.environ.get(OTHER_ENV)
    if not command_text:
        print(f"  skipped: set {OTHER_ENV} to compare another exporter")
        return
    port = int(os.environ.get(OTHER_ENV + "_PORT", "2112"))
    binary = os.path.abspath(args.binary)
    ours = [binary, "run", "--web.listen-address", "127.0.0.1:{port}"]
    contenders = [
        Contender("this exporter (default: auto)", ours, HTTP_PORT + 40),
        Contender("this exporter (tracepoint, perf)", ours + ["--bpf.attach", "tracepoint", "--ring.kind", "perf"],
                  HTTP_PORT + 41),
        Contender("other", command_text.split(), port, os.environ.get(OTHER_ENV + "_CWD")),
    ]
    heading(f"8. side by side with {' '.join(contenders[-1].command)} (port {port}): same method for each")
    for contender in contenders:
        times = contender.start_up_times(args.startup_runs)
        summary.add(f"{contender.label}: exec -> first /metrics 200",
                    f"{times[len(times) // 2]:.1f} ms median of {len(times)} (min {times[0]:.1f}, max {times[-1]:.1f})")
    try:
        for contender in contenders:
            contender.start()
            for _ in range(20):
                http_status(contender.port, "/metrics")
        time.sleep(1)
        for contender in contenders:
            summary.add(f"{contender.label}: idle RSS after 20 scrapes",
                        f"{contender.rss_mib():.1f} MiB, {contender.threads()} threads")
        stats_path = "/proc/sys/kernel/bpf_stats_enabled"
        previous = open(stats_path).read().strip()
        open(stats_path, "w").write("1")
        try:
            before = {c.label: bpftool_run_stats(c.programs) for c in contenders}
            # Sampled during the storm too: an exporter that dies mid-storm takes its programs (and
            # their statistics) with it, so its figure is the last sample while they existed.
            after = dict(before)
            with Storm(args.storm_flows) as storm:
                sampler = threading.Thread(target=storm.blow, args=(args.storm_seconds,))
                sampler.start()
                while sampler.is_alive():
                    sample_run_stats(contenders, after)
                    sampler.join(0.1)
            sample_run_stats(contenders, after)
        finally:
            open(stats_path, "w").write(previous)
        for contender in contenders:
            alive = contender.process.poll() is None
            time_ns = after[contender.label][0] - before[contender.label][0]
            runs = after[contender.label][1] - before[contender.label][1]
            per_event = time_ns / runs if runs else float("nan")
            counted = counted_retransmissions(contender.port) if alive else None
            summary.add(f"{contender.label}: in-kernel cost, same storm",
                        f"{per_event:.0f} ns/event over {runs} runs (programs {contender.programs}); "
                        + (f"counts {counted:.0f} retransmissions" if counted is not None
                           else f"EXITED during the storm (code {contender.process.returncode}: "
                                f"{contender.last_error_line()})"))
    finally:
        for contender in contenders:
            if contender.process is not None:
                stop(contender.process)
                os.unlink(contender.log_path)
    for contender in (contenders[0], contenders[-1]):
        summary.add(f"{contender.label}: binary size stripped", f"{contender.stripped_mb():.1f} MB")


def sample_run_stats(contenders, latest):
    """Updates each contender's (run_time_ns, run_cnt) while its programs still exist."""
    for contender in contenders:
        time_ns, count = bpftool_run_stats(contender.programs)
        if count >= latest[contender.label][1]:
            latest[contender.label] = (time_ns, count)


def counted_retransmissions(port):
    """What the exporter itself reports: our events counter, or the sum of the original's counter."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            totals = parse_exposition(response.read().decode())
    except OSError:
        return None
    for name in ("retrans_exporter_events_received_total", "tcp_retransmissions_total"):
        if name in totals:
            return totals[name]
    return None


def bpftool_program_ids():
    import json
    output = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True).stdout
    return {program["id"] for program in json.loads(output or "[]")}


def bpftool_run_stats(ids):
    import json
    time_ns, count = 0, 0
    for program in json.loads(subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True,
                                             text=True).stdout or "[]"):
        if program["id"] in ids:
            time_ns += program.get("run_time_ns", 0)
            count += program.get("run_cnt", 0)
    return time_ns, count


# MARK: 5. exec -> attached, exec -> serving

def startup_section(args, summary):
    extra = f", with {args.startup_args}" if args.startup_args else ""
    heading(f"5. exec -> attached and exec -> serving (median of {args.startup_runs} runs{extra})")
    port = HTTP_PORT + 5
    attached, serving = [], []
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for run in range(args.startup_runs):
            log_path = f"/tmp/rtx-bn-startup-{run}.log"
            log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            command = [args.binary, "run", "--web.listen-address", f"127.0.0.1:{port}", "--log.level", "debug",
                       *args.startup_args.split()]
            started = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
            pid = os.posix_spawn(args.binary, command, os.environ,
                                 file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, log, 2)])
            os.close(log)
            try:
                deadline = time.monotonic() + 10
                while http_status(port, "/") != 200:
                    if time.monotonic() > deadline or os.waitpid(pid, os.WNOHANG) != (0, 0):
                        raise RuntimeError(f"exporter did not serve: {open(log_path).read()[-1000:]}")
                    time.sleep(0.0002)
                serving.append((time.clock_gettime_ns(time.CLOCK_MONOTONIC) - started) / 1e6)
                match = None
                while match is None and time.monotonic() < deadline:
                    match = re.search(r"attached_monotonic_ns=(\d+)", open(log_path).read())
                    time.sleep(0.001)
                if match is None:
                    raise RuntimeError("no attached_monotonic_ns in the debug log")
                attached.append((int(match.group(1)) - started) / 1e6)
            finally:
                os.kill(pid, 15)
                os.waitpid(pid, 0)
                os.unlink(log_path)
            # The kernel frees a detached tracing program's trampoline after an RCU-tasks grace
            # period, and a tp_btf start inside it waits for it in attach (6-14 ms seen): pause,
            # so that every start is the cold start a node sees, not a restart storm.
            time.sleep(0.3)
    finally:
        os.close(devnull)
    for name, values, limit in [(f"exec -> attached{extra}", attached, 10.0),
                                (f"exec -> serving (first HTTP 200){extra}", serving, None)]:
        values = sorted(values)
        median = values[len(values) // 2]
        summary.add(name, f"{median:.1f} ms median (min {values[0]:.1f}, max {values[-1]:.1f})",
                    f"<= {limit:g} ms" if limit else "", median <= limit if limit else None)


# MARK: 6. size and libraries

def size_section(args, summary):
    heading("6. release binary (swift build -c release --static-swift-stdlib)")
    os.makedirs(args.bench_dir, exist_ok=True)  # this section may run alone (--only size)
    stripped = os.path.join(args.bench_dir, "retrans-exporter.stripped")
    shutil.copyfile(args.binary, stripped)
    shutil.copymode(args.binary, stripped)
    subprocess.run(["strip", "--strip-all", stripped], check=True)
    size = os.path.getsize(stripped)
    summary.add("binary size stripped", f"{size / 1e6:.1f} MB ({os.path.getsize(args.binary) / 1e6:.1f} MB unstripped)",
                "<= 9 MB (issue 13; the original Go exporter is 9.3 MB)", size <= 9_000_000)
    # `make release` links the C++ runtime, the unwinder and zlib statically (Makefile).
    allowed = {"linux-vdso.so.1", "libc.so.6", "libm.so.6", "libcrypt.so.1", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1"}
    libraries = [line.split()[0].rsplit("/", 1)[-1] for line in run_text(["ldd", args.binary]).splitlines() if line.strip()]
    others = [library for library in libraries if library not in allowed]
    summary.add("ldd", ", ".join(libraries), "only libc, libm and libcrypt", not others)
    # The symbol order file goes stale as the code changes: how much of it this binary still has.
    order_file = os.path.join(REPO, "scripts", "link", "symbol-order.txt")
    if os.path.exists(order_file):
        listed = [line.strip() for line in open(order_file) if line.strip()]
        defined = {fields[2] for fields in (line.split() for line in run_text(["nm", "--defined-only", args.binary]).splitlines())
                   if len(fields) == 3}
        present = sum(1 for name in listed if name in defined)
        summary.add("symbol order file (scripts/link/symbol-order.txt) still in the binary",
                    f"{present} of {len(listed)} functions ({100 * present / max(1, len(listed)):.0f} %)",
                    ">= 90 % (else re-record it)", present >= 0.9 * len(listed))


# MARK: profile

def profile_section(args, summary):
    heading("profile: callgrind instructions per event on the hot path (bench-hot-path, 1000 flows)")
    if shutil.which("valgrind") is None:
        print("  valgrind not installed: skipped")
        return
    # Valgrind 3.19 cannot read this toolchain's DWARF 5: profile a copy without debug info
    # (the symbol table stays, so functions keep their names).
    binary = os.path.join(args.bench_dir, "retrans-exporter.nodebug")
    shutil.copyfile(args.binary, binary)
    shutil.copymode(args.binary, binary)
    subprocess.run(["strip", "--strip-debug", binary], check=True)
    totals = []
    for events in (100_000, 600_000):
        out = os.path.join(args.bench_dir, f"callgrind.{events}.out")
        result = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                                 binary, "bench-hot-path", "--events", str(events)],
                                check=True, capture_output=True, text=True)
        counted = int(re.search(r"events counted: (\d+)", result.stdout).group(1))
        instructions = int(re.search(r"^summary: (\d+)", open(out).read(), re.MULTILINE).group(1))
        totals.append((counted, instructions))
    (small_events, small_ir), (large_events, large_ir) = totals
    per_event = (large_ir - small_ir) / (large_events - small_events)
    summary.add("hot path instructions per event (callgrind, difference of two runs)",
                f"{per_event:.0f} instructions/event")
    annotate = subprocess.run(["callgrind_annotate", "--inclusive=no", out], capture_output=True, text=True).stdout
    if shutil.which("swift"):
        annotate = subprocess.run(["swift", "demangle", "--simplified"], input=annotate,
                                  capture_output=True, text=True).stdout
    print(f"  top functions (self cost in the {large_events}-event run; per event = cost / events):")
    # "  112,732,214 (27.80%)  ???:Hasher._combine(_:) [binary]"; libc rows name their source file first.
    pattern = re.compile(r"^\s*([\d,]+) \(\s*([\d.]+)%\)\s+(?:\?\?\?:|[./][^:]*:)?(.*?)(?: \[.*\])?$")
    functions = [match for match in map(pattern.match, annotate.splitlines())
                 if match and "PROGRAM TOTALS" not in match.group(3)]
    for match in functions[:8]:
        instructions = int(match.group(1).replace(",", ""))
        print(f"    {instructions / large_events:6.1f}/event {match.group(2):>6}%  {match.group(3)[:110]}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=".build/release/retrans-exporter")
    parser.add_argument("--bench-dir", default=".build/bench", help="producer objects, driver, scratch files")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument("--storm-seconds", type=float, default=4)
    parser.add_argument("--storm-flows", type=int, default=32)
    parser.add_argument("--rate-seconds", type=float, default=4)
    parser.add_argument("--rates", default="50000,200000,400000,1000000,0", help="events/s; 0 = unpaced")
    parser.add_argument("--startup-runs", type=int, default=21)
    parser.add_argument("--startup-args", default="",
                        help="extra exporter arguments for the startup section, e.g. '--bpf.attach tracepoint'")
    cotenancy.add_arguments(parser, prefix="cotenancy-")
    hostcost.add_arguments(parser)
    args = parser.parse_args()
    args.rates = [int(rate) for rate in args.rates.split(",")]
    chosen = args.only.split(",")
    unknown = [name for name in chosen if name not in SECTIONS + OPTIONAL_SECTIONS]
    if unknown:
        parser.error(f"unknown sections {unknown}; choose from {SECTIONS + OPTIONAL_SECTIONS}")
    if os.geteuid() != 0 and set(chosen) & {"storm", "highrate", "memory", "startup", "cotenancy", "hostcost"}:
        parser.error("needs root (BPF, network namespaces)")

    machine()
    summary = Summary()
    sections = {"storm": storm_section, "userspace": userspace_section, "highrate": high_rate_section,
                "memory": memory_section, "startup": startup_section, "size": size_section,
                "profile": profile_section, "other": other_section,
                "cotenancy": lambda args, summary: cotenancy.cotenancy_section(cotenancy.options(args), summary),
                "hostcost": hostcost.hostcost_section}
    for name in SECTIONS + OPTIONAL_SECTIONS:
        if name in chosen:
            sections[name](args, summary)
    summary.print()


if __name__ == "__main__":
    main()
