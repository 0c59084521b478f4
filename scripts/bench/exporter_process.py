"""The real retrans-exporter as a child process: start, wait until it serves, scrape, stop.

Used by bench.py. Standard library only.
"""
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def parse_exposition(text):
    """Prometheus text format -> {metric name: sum over its series} (floats)."""
    totals = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        name = series.split("{", 1)[0]
        try:
            totals[name] = totals.get(name, 0.0) + float(value)
        except ValueError:
            continue
    return totals


class ExporterProcess:
    """One `retrans-exporter run`, listening on 127.0.0.1:port; stderr kept in a file."""

    def __init__(self, binary, port, extra_args=(), log_path=None):
        self.binary = binary
        self.port = port
        self.args = [binary, "run", "--web.listen-address", f"127.0.0.1:{port}", *extra_args]
        self.log_path = log_path or f"/tmp/rtx-bn-exporter-{port}.log"
        self.process = None

    def start(self, timeout=10.0):
        log = open(self.log_path, "wb")
        self.process = subprocess.Popen(self.args, stdout=log, stderr=log)
        log.close()
        self.wait_until_serving(timeout)
        return self

    def wait_until_serving(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"exporter exited with {self.process.returncode}: {self.log()}")
            if http_status(self.port, "/") == 200:
                return
            time.sleep(0.005)
        raise RuntimeError(f"exporter not serving on port {self.port} after {timeout} s: {self.log()}")

    def scrape(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as response:
            return parse_exposition(response.read().decode())

    def cpu_seconds(self):
        """utime + stime of the whole process, from /proc/PID/stat."""
        with open(f"/proc/{self.process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        # After the ")" of comm: state is field 3, utime field 14, stime field 15 (1-based).
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def status_kib(self, field):
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return None

    def stop(self, timeout=5.0):
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise RuntimeError("exporter ignored SIGTERM for 5 s (killed)")

    def log(self):
        try:
            with open(self.log_path, errors="replace") as log:
                return log.read()[-2000:]
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def http_status(port, path):
    """Status code of one GET, or None when nothing answers yet."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
            head = connection.recv(64).decode(errors="replace")
    except OSError:
        return None
    match = re.match(r"HTTP/1\.[01] (\d{3})", head)
    return int(match.group(1)) if match else None
