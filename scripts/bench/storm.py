"""A retransmission storm between two network namespaces, for bench.py.

Two namespaces joined by a veth pair (by default 10.203.6.1 -> 10.203.6.2); the receiver drops
~10% of inbound packets to the storm's ports (by default 7601-7699) with nftables (no netem on
these kernels), and many parallel bulk flows run for a few seconds. Traffic never leaves the
namespaces. `Storm` deletes the namespaces (and with them the veth pair and the nftables table)
even on failure. A second storm beside the first (cotenancy.py) takes its own name, /24 and ports.

Also runnable as the traffic endpoints themselves:
  storm.py serve ADDRESS PORT COUNT SECONDS  (in the receiver namespace)
  storm.py send HOST PORT COUNT SECONDS      (in the sender namespace)
"""
import socket
import subprocess
import sys
import threading
import time

NFT_RULES = """
table inet rtxbn {{
  chain input {{
    type filter hook input priority 0; policy accept;
    tcp dport {first}-{last} numgen random mod 10 == 0 drop
  }}
}}
"""


def run(*command, input_text=None):
    subprocess.run(command, check=True, input=input_text, text=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class Storm:
    """Context manager: namespaces up on enter, down on exit."""

    def __init__(self, flows=32, name="storm", network="10.203.6", first_port=7601, last_port=7699):
        if flows > last_port - first_port + 1:
            raise ValueError(f"{flows} flows do not fit in ports {first_port}-{last_port}")
        self.flows = flows
        self.sender_ns = f"rtx-bn-{name}-s"
        self.receiver_ns = f"rtx-bn-{name}-r"
        self.sender_address = f"{network}.1"
        self.receiver_address = f"{network}.2"
        self.first_port = first_port
        self.last_port = last_port

    def __enter__(self):
        self.teardown()
        try:
            run("ip", "netns", "add", self.sender_ns)
            run("ip", "netns", "add", self.receiver_ns)
            run("ip", "-n", self.sender_ns, "link", "add", "rtxbn-s", "type", "veth",
                "peer", "name", "rtxbn-r", "netns", self.receiver_ns)
            for namespace, device, address in ((self.sender_ns, "rtxbn-s", self.sender_address),
                                               (self.receiver_ns, "rtxbn-r", self.receiver_address)):
                run("ip", "-n", namespace, "addr", "add", f"{address}/24", "dev", device)
                run("ip", "-n", namespace, "link", "set", device, "up")
                run("ip", "-n", namespace, "link", "set", "lo", "up")
            run("ip", "netns", "exec", self.receiver_ns, "nft", "-f", "-", input_text=NFT_RULES.format(first=self.first_port, last=self.last_port))
        except Exception:
            self.teardown()
            raise
        return self

    def __exit__(self, *exc):
        self.teardown()

    def teardown(self):
        for namespace in (self.sender_ns, self.receiver_ns):
            subprocess.run(["ip", "netns", "del", namespace],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def blow(self, seconds):
        """Runs `flows` parallel bulk transfers for `seconds`; returns when both ends are done."""
        receiver = subprocess.Popen(["ip", "netns", "exec", self.receiver_ns, sys.executable, __file__,
                                     "serve", self.receiver_address, str(self.first_port), str(self.flows),
                                     str(seconds + 5)])
        try:
            time.sleep(0.3)
            subprocess.run(["ip", "netns", "exec", self.sender_ns, sys.executable, __file__, "send",
                            self.receiver_address, str(self.first_port), str(self.flows), str(seconds)],
                           check=True, timeout=seconds + 30)
        finally:
            receiver.terminate()
            receiver.wait()


    def wait_until_quiet(self, timeout=30):
        """Waits until no socket of the storm can retransmit any more (each gone or in TIME-WAIT):
        a FIN whose ACK was dropped is retransmitted after blow() returned, and deleting the
        namespaces destroys their sockets asynchronously. Call before counts must be final."""
        deadline = time.monotonic() + timeout
        ports = f"( sport >= :{self.first_port} and sport <= :{self.last_port} ) or " \
                f"( dport >= :{self.first_port} and dport <= :{self.last_port} )"
        while True:
            active = []
            for namespace in (self.sender_ns, self.receiver_ns):
                listing = subprocess.run(["ip", "netns", "exec", namespace, "ss", "-Htan", "state", "all", ports],
                                         check=True, capture_output=True, text=True).stdout
                active += [line for line in listing.splitlines()
                           if line and not line.startswith(("TIME-WAIT", "LISTEN"))]
            if not active:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"storm sockets still active after {timeout} s: {active[:5]}")
            time.sleep(0.05)


def serve(address, first_port, count, seconds):
    def drain(listener):
        listener.settimeout(seconds)
        try:
            connection, _ = listener.accept()
        except OSError:
            return
        with connection:
            while connection.recv(1 << 16):
                pass

    threads = []
    for port in range(first_port, first_port + count):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((address, port))
        listener.listen(1)
        thread = threading.Thread(target=drain, args=(listener,), daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(seconds)


def send(host, first_port, count, seconds):
    chunk = b"x" * (1 << 16)
    deadline = time.monotonic() + seconds

    def blast(port):
        with socket.create_connection((host, port), timeout=10) as connection:
            while time.monotonic() < deadline:
                connection.sendall(chunk)

    threads = [threading.Thread(target=blast, args=(port,)) for port in range(first_port, first_port + count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
    elif sys.argv[1] == "send":
        send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
