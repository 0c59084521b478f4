#!/usr/bin/env python3
"""Scrape cost with N network namespaces (one sleeping process in each, as a node's pods):
exporter CPU per scrape (utime+stime from /proc/PID/stat over 21 scrapes) and the median wall
time, two rounds of each binary, alternating. Root; creates netns rtxb-0..N-1 and deletes them.
Usage: namespace_scrapes.py N BINARY...   (docs/BENCHMARKS.md, "Session 6")"""
import os, subprocess, sys, time, http.client, statistics
N = int(sys.argv[1]); binaries = sys.argv[2:]
PORT = 2395
tick = os.sysconf("SC_CLK_TCK")
sleepers = []
try:
    for i in range(N):
        subprocess.run(["ip", "netns", "add", f"rtxb-{i}"], check=True)
        sleepers.append(subprocess.Popen(["ip", "netns", "exec", f"rtxb-{i}", "sleep", "600"]))
    time.sleep(0.5)
    def get():
        c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5); c.request("GET", "/metrics")
        r = c.getresponse(); body = r.read(); return r.status, body
    for rnd in range(2):
        for b in binaries:
            p = subprocess.Popen([b, "run", "--web.listen-address", f"127.0.0.1:{PORT}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(500):
                try:
                    if get()[0] == 200: break
                except OSError: time.sleep(0.02)
            def cpu():
                f = open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()
                return (int(f[11]) + int(f[12])) / tick
            c0 = cpu(); walls = []
            for _ in range(21):
                t = time.monotonic(); status, body = get(); walls.append((time.monotonic() - t) * 1000)
            c1 = cpu()
            series = body.decode().count("\ntcp_netns_segments_sent_total{")
            print(f"{os.path.basename(b):12s} round {rnd}: {series} namespaces exported, CPU {1000*(c1-c0)/21:6.2f} ms/scrape, wall median {statistics.median(walls):6.2f} ms")
            p.terminate(); p.wait(); time.sleep(0.3)
finally:
    for s in sleepers: s.terminate(); s.wait()
    for i in range(N): subprocess.run(["ip", "netns", "del", f"rtxb-{i}"])
