#!/usr/bin/env python3
"""Writes scripts/link/symbol-order.txt: the functions a release binary runs at start-up, in its
first scrapes and on the event path, for lld's --symbol-ordering-file (`make release`).

Why: the kernel maps an executable's pages in 64 KiB blocks around each page fault
(fault-around), so idle RSS counts every block that holds one function the process ever ran.
Laid out at random, the functions a start and a scrape run touch most of the 9.7 MB of text;
placed side by side, a few megabytes. The code itself is unchanged.

Run as root on a release binary (it loads and attaches the programs), then rebuild:
    make release && sudo python3 scripts/link/record-symbol-order.py .build/release/retrans-exporter
    make release
Symbols the list names that a later build no longer has are skipped by the linker; the list
goes stale slowly (`make bench`, section `size`, says how much of it the binary still has).
"""
import http.client, os, re, shutil, subprocess, sys, tempfile, time

PORT = 29390
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "symbol-order.txt")


def callgrind(binary, args, out, scrape):
    """Runs `binary args` under callgrind; for `run`, scrapes it 20 times, then SIGTERM."""
    command = ["valgrind", "--tool=callgrind", "--demangle=no", f"--callgrind-out-file={out}", binary, *args]
    with open(out + ".log", "w") as log:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
    if scrape:
        deadline = time.monotonic() + 120
        def get(path):
            connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            return response.status
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"the exporter did not serve: {open(out + '.log').read()[-2000:]}")
            try:
                if get("/") == 200:
                    break
            except OSError:
                time.sleep(0.05)
        for _ in range(20):
            if get("/metrics") != 200:
                sys.exit("a scrape failed")
        time.sleep(1.5)  # a few drain intervals of the ring thread
        process.terminate()
    if process.wait() != 0:
        sys.exit(f"{' '.join(args)} exited {process.returncode}: {open(out + '.log').read()[-2000:]}")


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
