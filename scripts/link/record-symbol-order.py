#!/usr/bin/env python3
"""Writes scripts/link/symbol-order.txt: the functions a release binary runs at start-up, in its
first scrapes and on the event path, for lld's --symbol-ordering-file (`make release`).

Two witnesses, because neither sees everything: callgrind names every function it runs (but
under valgrind's CPU and timing some paths differ), and perf's page-fault events name the
function whose first instruction fetch brought each 64 KiB block in, in a real run. Functions
the list already names are kept while the binary still has them, so recording again after a
relink adds the next function of each block still outside: two or three rounds settle it.

Why: the kernel maps an executable's pages in 64 KiB blocks around each page fault
(fault-around), so idle RSS counts every block that holds one function the process ever ran.
Laid out at random, the functions a start and a scrape run touch most of the 9.7 MB of text;
placed side by side, a few megabytes. The code itself is unchanged.

Run as root on a release binary (it loads and attaches the programs), then rebuild; repeat
until it adds (almost) nothing:
    make release && sudo python3 scripts/link/record-symbol-order.py .build/release/retrans-exporter
    make release
Symbols the list names that a later build no longer has are skipped by the linker; the list
goes stale slowly (`make bench`, section `size`, says how much of it the binary still has).
"""
import http.client, os, re, shutil, signal, subprocess, sys, tempfile, time

PORT = 29390
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "symbol-order.txt")


# What Prometheus sends, and what curl sends: the negotiation takes different paths.
PROMETHEUS_HEADERS = {"Accept": "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
                      "Accept-Encoding": "gzip"}


def observe(command, log_path, scrape, stop=signal.SIGTERM, exit_codes=(0,)):
    """Runs `command`; for `run`, scrapes it 20 times each way, then sends `stop`."""
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
    if scrape:
        deadline = time.monotonic() + 120
        def get(path, headers={}):
            connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            return response.status
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"the exporter did not serve: {open(log_path).read()[-2000:]}")
            try:
                if get("/") == 200:
                    break
            except OSError:
                time.sleep(0.05)
        for _ in range(20):
            if get("/metrics") != 200 or get("/metrics", PROMETHEUS_HEADERS) != 200:
                sys.exit("a scrape failed")
        time.sleep(1.5)  # a few drain intervals of the ring thread
        process.send_signal(stop)
    if process.wait() not in exit_codes:
        sys.exit(f"{' '.join(command)} exited {process.returncode}: {open(log_path).read()[-2000:]}")


def callgrind(binary, args, out, scrape):
    observe(["valgrind", "--tool=callgrind", "--demangle=no", f"--callgrind-out-file={out}", binary, *args],
            out + ".log", scrape)


def faulting_functions(binary, args, out, scrape):
    """The functions whose instruction fetches faulted, in a real run (perf, page-fault events)."""
    if shutil.which("perf") is None:
        print("perf not installed (linux-perf): page-fault pass skipped")
        return set()
    # SIGINT stops perf, which then ends the exporter (SIGTERM) and writes its data.
    observe(["perf", "record", "-q", "-e", "page-faults", "-c", "1", "-o", out, "--", binary, *args], out + ".log", scrape,
            stop=signal.SIGINT, exit_codes=(0, -signal.SIGINT, 128 + signal.SIGINT))
    script = subprocess.run(["perf", "script", "-i", out, "-F", "ip,sym", "--no-demangle"],
                            check=True, capture_output=True, text=True).stdout
    return {fields[1] for fields in (line.split() for line in script.splitlines()) if len(fields) >= 2}


def functions_run(profile):
    names = set()
    with open(profile) as lines:
        for line in lines:
            match = re.match(r"^c?fn=\(\d+\) (.+)$", line)
            if match:
                names.add(match.group(1).strip())
    return names


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    if os.geteuid() != 0:
        sys.exit("run as root: `run` loads and attaches the programs")
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="rtx-order-") as scratch:
        # Valgrind 3.19 cannot read this toolchain's DWARF 5: profile a copy without debug info.
        copy = os.path.join(scratch, "retrans-exporter")
        shutil.copyfile(binary, copy)
        shutil.copymode(binary, copy)
        subprocess.run(["strip", "--strip-debug", copy], check=True)
        runs = [(["run", "--web.listen-address", f"127.0.0.1:{PORT}"], True),
                (["bench-hot-path", "--events", "20000"], False)]
        names = set()
        for index, (args, scrape) in enumerate(runs):
            profile = os.path.join(scratch, f"callgrind.{index}")
            callgrind(copy, args, profile, scrape)
            names |= functions_run(profile)
            names |= faulting_functions(binary, args, os.path.join(scratch, f"perf.{index}"), scrape)
        if os.path.exists(OUT):
            names |= {line.strip() for line in open(OUT) if line.strip()}
        defined = set()
        listing = subprocess.run(["nm", "--defined-only", copy], check=True, capture_output=True, text=True).stdout
        for line in listing.splitlines():
            fields = line.split()
            if len(fields) == 3 and fields[1] in "tTwW":
                defined.add(fields[2])
    # Sorted, so that a re-recording changes only the lines whose functions changed.
    ordered = sorted(names & defined)
    with open(OUT, "w") as out:
        out.write("\n".join(ordered) + "\n")
    print(f"{len(ordered)} functions of {len(defined)} written to {OUT}")


if __name__ == "__main__":
    main()
