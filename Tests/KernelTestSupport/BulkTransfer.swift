/// A bounded TCP transfer from the sender namespace to the receiver namespace:
/// python3 sockets, the sender pinned to one CPU with `taskset -c`. It waits
/// until the receiver has read every byte and closed, so when `run()` returns
/// no data is left in flight.
public struct BulkTransfer: Sendable {
    public enum Family: String, Sendable { case ipv4, ipv6 }

    public var lab: VethNamespaces
    public var family: Family
    public var port: UInt16
    public var bytes: Int
    /// `taskset -c` for the sender; nil leaves it unpinned.
    public var senderCPU: Int?
    /// Seconds before either side gives up (and the harness kills it).
    public var timeout: Double

    public init(lab: VethNamespaces, family: Family, port: UInt16, bytes: Int = 4 << 20,
                senderCPU: Int? = nil, timeout: Double = 60) {
        self.lab = lab
        self.family = family
        self.port = port
        self.bytes = bytes
        self.senderCPU = senderCPU
        self.timeout = timeout
    }

    public var receiverAddress: String { family == .ipv4 ? lab.receiverIPv4 : lab.receiverIPv6 }
    public var senderAddress: String { family == .ipv4 ? lab.senderIPv4 : lab.senderIPv6 }

    /// Runs the transfer; returns the bytes the receiver counted (throws if it is not `bytes`).
    @discardableResult
    public func run() throws -> Int {
        let receiver = try Command.start(["ip", "netns", "exec", lab.receiver, "python3", "-c", Self.receiverScript,
                                          receiverAddress, "\(port)", "\(timeout)"])
        defer { receiver.kill() }
        var senderCommand = ["ip", "netns", "exec", lab.sender]
        if let senderCPU { senderCommand += ["taskset", "-c", "\(senderCPU)"] }
        senderCommand += ["python3", "-c", Self.senderScript, receiverAddress, "\(port)", "\(bytes)", "\(timeout)"]
        try Command.run(senderCommand, timeout: timeout + 5)
        let received = try receiver.wait(timeout: timeout + 5)
        guard received.succeeded, let count = Int(received.stdout.trimmingCharacters(in: .whitespacesAndNewlines)),
              count == bytes else {
            throw CommandError.failed(received)
        }
        return count
    }

    /// Accepts one connection, reads to EOF, prints the byte count.
    static let receiverScript = """
        import socket, sys
        addr, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
        family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        server = socket.socket(family, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((addr, port))
        server.listen(1)
        server.settimeout(timeout)
        conn, _ = server.accept()
        conn.settimeout(timeout)
        total = 0
        while True:
            data = conn.recv(1 << 16)
            if not data:
                break
            total += len(data)
        conn.close()
        server.close()
        print(total)
        """

    /// Connects (retrying while the receiver is not listening yet), sends, half-closes,
    /// and waits for the receiver's close: then every byte has been acknowledged.
    static let senderScript = """
        import socket, sys, time
        addr, port, size, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
        deadline = time.monotonic() + timeout
        while True:
            try:
                conn = socket.create_connection((addr, port), timeout=timeout)
                break
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        chunk = b"x" * 65536
        sent = 0
        while sent < size:
            n = min(len(chunk), size - sent)
            conn.sendall(chunk[:n])
            sent += n
        conn.shutdown(socket.SHUT_WR)
        while conn.recv(4096):
            pass
        conn.close()
        print(sent)
        """
}

import Foundation
