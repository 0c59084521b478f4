import Foundation
import KernelTestSupport

/// A raw-socket HTTP client in python3 (independent of NIO): sends exact bytes, reports what
/// came back and whether the server closed the connection. Output is one JSON object.
enum HTTPProbe {
    static let script = #"""
import json, socket, sys, time, threading

def read_response(sock, deadline):
    data = b""
    closed = False
    while True:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        data += chunk
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            length = None
            chunked = False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
                if name.strip().lower() == b"transfer-encoding" and b"chunked" in value.lower():
                    chunked = True
            if METHOD == b"HEAD":
                break
            if length is not None and len(body) >= length:
                break
            if chunked and body.endswith(b"0\r\n\r\n") and dechunk(body) is not None:
                break
    return data, closed

def dechunk(body):
    out = b""
    while True:
        line, sep, rest = body.partition(b"\r\n")
        if not sep:
            return None
        size = int(line.split(b";")[0], 16)
        if size == 0:
            return out
        if len(rest) < size + 2:
            return None
        out += rest[:size]
        body = rest[size + 2:]

def parse(data):
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().decode().lower()] = value.strip().decode()
    if "chunked" in headers.get("transfer-encoding", "") and METHOD != b"HEAD":
        body = dechunk(body)
        if body is None:
            body = b"<incomplete chunked body>"
    return {"status_line": lines[0].decode(errors="replace") if lines and lines[0] else "",
            "headers": headers, "body": body.decode(errors="replace")}

def wait_closed(sock, seconds):
    sock.settimeout(seconds)
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return True
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True

mode = sys.argv[1]
port = int(sys.argv[2])
METHOD = b"GET"
if mode == "send":
    # send RAW (json string) then read one response; report whether the server closed after it
    raw = json.loads(sys.argv[3]).encode("latin-1")
    METHOD = raw.split(b" ", 1)[0]
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(raw)
    data, closed = read_response(s, time.monotonic() + 10)
    if not closed:
        closed = wait_closed(s, 1.0)
    result = parse(data)
    result["closed"] = closed
    print(json.dumps(result))
elif mode == "trickle":
    # one byte every INTERVAL seconds; report when the server closed, or that it never did
    interval = float(sys.argv[3])
    payload = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000
    s = socket.create_connection(("127.0.0.1", port))
    start = time.monotonic()
    closed_after = None
    for byte in payload:
        try:
            s.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            closed_after = time.monotonic() - start
            break
        s.settimeout(interval)
        try:
            if s.recv(65536) == b"":
                closed_after = time.monotonic() - start
                break
        except socket.timeout:
            pass
        except ConnectionResetError:
            closed_after = time.monotonic() - start
            break
        if time.monotonic() - start > 20:
            break
    print(json.dumps({"closed_after": closed_after}))
elif mode == "idle":
    # connect, optionally do one request, then send nothing: when does the server close?
    s = socket.create_connection(("127.0.0.1", port))
    start = time.monotonic()
    if len(sys.argv) > 3 and sys.argv[3] == "after-request":
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        read_response(s, time.monotonic() + 5)
        start = time.monotonic()
    closed = wait_closed(s, 10)
    print(json.dumps({"closed_after": time.monotonic() - start if closed else None}))
elif mode == "concurrent":
    # N threads connect first, then all send GET at once; report statuses and distinct bodies
    count = int(sys.argv[3])
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    barrier = threading.Barrier(count)
    results = [None] * count
    def run(i):
        barrier.wait()
        socks[i].sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        data, _ = read_response(socks[i], time.monotonic() + 30)
        results[i] = parse(data)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    start = time.monotonic()
    for t in threads: t.start()
    for t in threads: t.join()
    statuses = {}
    for r in results:
        key = r["status_line"] if r else "none"
        statuses[key] = statuses.get(key, 0) + 1
    print(json.dumps({"statuses": statuses, "seconds": time.monotonic() - start,
                      "bodies_with_flow": sum(1 for r in results if r and "tcp_retransmissions_total{" in r["body"])}))
elif mode == "slowreader":
    # A asks for metrics and never reads (tiny receive buffer); then B scrapes normally.
    a = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    a.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    a.connect(("127.0.0.1", port))
    a.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.2)
    b = socket.create_connection(("127.0.0.1", port))
    start = time.monotonic()
    b.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    data, _ = read_response(b, time.monotonic() + 20)
    b_seconds = time.monotonic() - start
    result = parse(data)
    # A was cut off: draining it ends in EOF or a reset, well short of the whole body.
    a_bytes = 0
    a_closed = False
    a.settimeout(5)
    try:
        while True:
            chunk = a.recv(65536)
            if not chunk:
                a_closed = True
                break
            a_bytes += len(chunk)
    except ConnectionResetError:
        a_closed = True
    except socket.timeout:
        pass
    print(json.dumps({"b_status": result["status_line"], "b_seconds": b_seconds, "b_body_bytes": len(result["body"]),
                      "a_closed": a_closed, "a_bytes": a_bytes}))
elif mode == "stall":
    # ask for metrics, never read, stay connected for SECONDS
    a = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    a.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    a.connect(("127.0.0.1", port))
    a.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(float(sys.argv[3]))
    print(json.dumps({}))
elif mode == "hold":
    # open N connections, keep them, then try one more request and report its response
    count = int(sys.argv[3])
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    time.sleep(0.3)
    s = socket.create_connection(("127.0.0.1", port))
    try:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    data, closed = read_response(s, time.monotonic() + 5)
    result = parse(data)
    result["closed"] = closed or wait_closed(s, 1.0)
    for k in socks: k.close()
    print(json.dumps(result))
"""#

    struct Response: Decodable {
        var status_line: String
        var headers: [String: String]
        var body: String
        var closed: Bool?
    }

    static func run(_ arguments: [String]) throws -> Data {
        guard let python = Command.which("python3") else { throw ProbeError.noPython }
        let result = try Command.run([python, "-c", script] + arguments, check: false)
        guard result.status == 0 else { throw ProbeError.failed(result.stderr) }
        return Data(result.stdout.utf8)
    }

    /// Sends `raw` to 127.0.0.1:`port` and returns the response.
    static func send(_ raw: String, port: Int) throws -> Response {
        let encoded = String(decoding: try JSONEncoder().encode(raw), as: UTF8.self)
        return try JSONDecoder().decode(Response.self, from: run(["send", String(port), encoded]))
    }

    enum ProbeError: Error, CustomStringConvertible {
        case noPython
        case failed(String)

        var description: String {
            switch self {
            case .noPython: "python3 is not installed: the HTTP tests use it as an independent client"
            case .failed(let stderr): "python3 probe failed: \(stderr)"
            }
        }
    }
}
