#!/usr/bin/env python3
"""Forwards 127.0.0.1:PORT on the host to 127.0.0.1:PORT inside a network namespace.

    demo-forward.py NETNS_NAME PORT

scripts/demo.sh runs the exporter inside the sending namespace of the chaos
traffic, so that its segment counters (/proc/net/snmp is per namespace) are
those of the lossy host; Prometheus and the user stay on the host's loopback.
The listening socket is made on the host; then the process enters the
namespace (setns), so every connection it opens afterwards is made there.
Nothing but loopback is used on either side.
"""
import ctypes
import os
import socket
import sys
import threading

CLONE_NEWNET = 0x40000000


def pump(source, destination):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            destination.sendall(data)
    except OSError:
        pass
    finally:
        for sock, how in ((destination, socket.SHUT_WR), (source, socket.SHUT_RD)):
            try:
                sock.shutdown(how)
            except OSError:
                pass


def serve(client, port):
    with client:
        try:
            upstream = socket.create_connection(("127.0.0.1", port), timeout=10)
        except OSError as error:
            print(f"demo-forward: cannot reach the exporter in the namespace: {error}", file=sys.stderr, flush=True)
            return
        with upstream:
            upstream.settimeout(None)
            back = threading.Thread(target=pump, args=(upstream, client), daemon=True)
            back.start()
            pump(client, upstream)
            back.join()


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: demo-forward.py NETNS_NAME PORT")
    netns, port = sys.argv[1], int(sys.argv[2])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(16)
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{netns}", os.O_RDONLY | os.O_CLOEXEC)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        sys.exit(f"demo-forward: setns({netns}): {os.strerror(ctypes.get_errno())}")
    os.close(fd)
    print("ready", flush=True)
    while True:
        client, _ = listener.accept()
        threading.Thread(target=serve, args=(client, port), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
