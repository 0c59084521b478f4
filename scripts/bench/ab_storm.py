#!/usr/bin/env python3
"""In-kernel cost of two BPF objects through the same storms (root).

Usage: ab_storm.py BINARY FIRST.o SECOND.o [ROUNDS]

Starts one exporter per object (`--bpf.object`, run-time statistics on), attached in the order
given, blows ROUNDS storms (storm.py: 32 lossy flows, 4 s) and prints each object's programs'
`run_time_ns / run_cnt` per storm, from bpftool. Both see every hit, so the comparison is
fair except for the order: the program that runs first on a hit pays the socket's cache misses
for both, so run it twice with the objects swapped.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from exporter_process import ExporterProcess  # noqa: E402
from storm import Storm  # noqa: E402


def programs():
    shown = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True, check=True)
    return {program["id"]: program for program in json.loads(shown.stdout)}


def programs_held(pid):
    """The program ids among the process's descriptors (fdinfo's prog_id)."""
    ids = set()
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            text = open(f"/proc/{pid}/fdinfo/{fd}").read()
        except OSError:
            continue
        ids.update(int(line.split()[1]) for line in text.splitlines() if line.startswith("prog_id:"))
    return ids


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    binary, objects = sys.argv[1], sys.argv[2:4]
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    exporters = []
    try:
        for index, path in enumerate(objects):
            exporter = ExporterProcess(binary, 29300 + index, ["--bpf.object", path, "--bpf.run-time-stats"])
            exporter.start()
            exporters.append(exporter)
        held = [programs_held(exporter.process.pid) for exporter in exporters]
        for round_number in range(rounds):
            before = programs()
            with Storm(32) as storm:
                storm.blow(4)
            after = programs()
            for path, ids in zip(objects, held):
                common = [i for i in ids if i in before and i in after]
                runs = sum(after[i].get("run_cnt", 0) - before[i].get("run_cnt", 0) for i in common)
                nanoseconds = sum(after[i].get("run_time_ns", 0) - before[i].get("run_time_ns", 0) for i in common)
                per_event = nanoseconds / runs if runs else float("nan")
                print(f"storm {round_number}: {path}: {per_event:.0f} ns/event over {runs} runs", flush=True)
    finally:
        for exporter in exporters:
            exporter.stop()


if __name__ == "__main__":
    main()
