"""A retransmission storm between two network namespaces, for bench.py.

Two namespaces joined by a veth pair (10.203.6.1 -> 10.203.6.2); the receiver drops ~10% of
inbound packets to ports 7601-7699 with nftables (no netem on these kernels), and many parallel
bulk flows run for a few seconds. Traffic never leaves the namespaces. `Storm` deletes the
namespaces (and with them the veth pair and the nftables table) even on failure.

Also runnable as the traffic endpoints themselves:
  storm.py serve PORT COUNT SECONDS          (in the receiver namespace)
  storm.py send HOST PORT COUNT SECONDS      (in the sender namespace)
"""
import socket
import subprocess
import sys
import threading
import time

SENDER_NS = "rtx-bn-storm-s"
RECEIVER_NS = "rtx-bn-storm-r"
SENDER_ADDRESS = "10.203.6.1"
RECEIVER_ADDRESS = "10.203.6.2"
FIRST_PORT = 7601
NFT_RULES = """
table inet rtxbn {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport 7601-7699 numgen random mod 10 == 0 drop
  }
}
"""


def run(*command, input_text=None):
    subprocess.run(command, check=True, input=input_text, text=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class Storm:
    """Context manager: namespaces up on enter, down on exit."""

    def __init__(self, flows=32):
        self.flows = flows

    def __enter__(self):
        self.teardown()
        try:
            run("ip", "netns", "add", SENDER_NS)
            run("ip", "netns", "add", RECEIVER_NS)
            run("ip", "-n", SENDER_NS, "link", "add", "rtxbn-s", "type", "veth",
                "peer", "name", "rtxbn-r", "netns", RECEIVER_NS)
            for namespace, device, address in ((SENDER_NS, "rtxbn-s", SENDER_ADDRESS),
                                               (RECEIVER_NS, "rtxbn-r", RECEIVER_ADDRESS)):
                run("ip", "-n", namespace, "addr", "add", f"{address}/24", "dev", device)
                run("ip", "-n", namespace, "link", "set", device, "up")
                run("ip", "-n", namespace, "link", "set", "lo", "up")
            run("ip", "netns", "exec", RECEIVER_NS, "nft", "-f", "-", input_text=NFT_RULES)
        except Exception:
            self.teardown()
            raise
        return self

    def __exit__(self, *exc):
        self.teardown()

    @staticmethod
    def teardown():
        for namespace in (SENDER_NS, RECEIVER_NS):
            subprocess.run(["ip", "netns", "del", namespace],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def blow(self, seconds):
        """Runs `flows` parallel bulk transfers for `seconds`; returns when both ends are done."""
        receiver = subprocess.Popen(["ip", "netns", "exec", RECEIVER_NS, sys.executable, __file__,
                                     "serve", str(FIRST_PORT), str(self.flows), str(seconds + 5)])
        try:
            time.sleep(0.3)
            subprocess.run(["ip", "netns", "exec", SENDER_NS, sys.executable, __file__, "send",
                            RECEIVER_ADDRESS, str(FIRST_PORT), str(self.flows), str(seconds)],
                           check=True, timeout=seconds + 30)
        finally:
            receiver.terminate()
            receiver.wait()


def serve(first_port, count, seconds):
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
        listener.bind((RECEIVER_ADDRESS, port))
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
        serve(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
    elif sys.argv[1] == "send":
        send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
