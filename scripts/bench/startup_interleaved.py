#!/usr/bin/env python3
"""Start-up of several binaries or flag sets, interleaved run by run (so that a noisy machine
hurts them alike): exec -> attached (`attached_monotonic_ns` in the debug log), exec -> first
HTTP 200 (polled as bench.py's startup section does; of `/`, or of STARTUP_PATH, e.g. /metrics)
and the `load` step's duration.
Usage (root): [STARTUP_PATH=/metrics] startup_interleaved.py RUNS "BINARY [FLAGS...]" ..."""
import http.client, os, re, sys, time, statistics
runs = int(sys.argv[1]); variants = [v.split(" ") for v in sys.argv[2:]]
port = 29120
PAUSE = float(os.environ.get("STARTUP_PAUSE", "0.3"))
PATH = os.environ.get("STARTUP_PATH", "/")
res = {i: ([], [], []) for i in range(len(variants))}


def http_ok(port):
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        connection.request("GET", PATH)
        response = connection.getresponse()
        response.read()
        return response.status == 200
    except OSError:
        return False


devnull = os.open(os.devnull, os.O_WRONLY)
for run in range(runs):
    for i, (binary, *extra) in enumerate(variants):
        log_path = f"/tmp/rtx-startup-interleaved-{i}.log"
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        cmd = [binary, "run", "--web.listen-address", f"127.0.0.1:{port}", "--log.level", "debug", *extra]
        started = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        pid = os.posix_spawn(binary, cmd, os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, log, 2)])
        os.close(log)
        deadline = time.monotonic() + 10
        while not http_ok(port) and time.monotonic() < deadline:
            time.sleep(0.0002)
        serving = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        text = ""
        while time.monotonic() < deadline:
            text = open(log_path).read()
            if "step statistics" in text and "attached_monotonic_ns" in text: break
            time.sleep(0.002)
        os.kill(pid, 15); os.waitpid(pid, 0); os.unlink(log_path)
        # The kernel frees a detached tracing program's trampoline after an RCU-tasks grace
        # period; a start inside it waits for it. Let it pass, so every start is a cold one.
        time.sleep(PAUSE)
        attached = int(re.search(r"attached_monotonic_ns=(\d+)", text).group(1))
        load = float(re.search(r"step load took ([0-9.e-]+) seconds", text).group(1))
        res[i][0].append((attached - started) / 1e6); res[i][1].append(load * 1e3)
        res[i][2].append((serving - started) / 1e6)
for i, v in enumerate(variants):
    a, l, served = sorted(res[i][0]), sorted(res[i][1]), sorted(res[i][2])
    q = lambda xs, f: xs[int(f * (len(xs) - 1))]
    print(f"{' '.join(v):60s} exec->attached median {statistics.median(a):5.2f} ms min {a[0]:5.2f} "
          f"(p25 {q(a, .25):5.2f}, p75 {q(a, .75):5.2f}) | first 200 median {statistics.median(served):5.2f} "
          f"min {served[0]:5.2f} | load step median {statistics.median(l):5.2f} min {l[0]:5.2f}  (n={runs})")
