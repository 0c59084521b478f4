import Foundation
import KernelTestSupport
@testable import Exporter
#if canImport(Glibc)
import Glibc
#endif

/// Certificates made by `openssl` for one test, in a temporary directory removed by `remove()`:
/// a CA, a server certificate for 127.0.0.1/localhost signed by it, a client certificate
/// signed by it (SAN DNS:prometheus.test), and a self-signed client certificate no CA vouches for.
final class TestPKI {
    let directory: URL
    var path: String { directory.path }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("rtx-web-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        do {
            try openssl("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=rtx-test-ca")
            try makeServerCertificate(serial: "0x1001", name: "server")
            try write("client.ext", "subjectAltName=DNS:prometheus.test\nextendedKeyUsage=clientAuth\n")
            try openssl("req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout client.key -out client.csr -subj /CN=prometheus")
            try openssl("x509 -req -in client.csr -CA ca.crt -CAkey ca.key -set_serial 0x3003 -days 2 -extfile client.ext -out client.crt")
            try openssl("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout rogue.key -out rogue.crt -days 2 -subj /CN=rogue -addext subjectAltName=DNS:prometheus.test")
        } catch {
            remove()
            throw error
        }
    }

    /// `<name>.crt`/`<name>.key` for 127.0.0.1 and localhost, signed by the CA, with `serial`.
    func makeServerCertificate(serial: String, name: String) throws {
        try write("server.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
        try openssl("req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout \(name).key -out \(name).csr -subj /CN=localhost")
        try openssl("x509 -req -in \(name).csr -CA ca.crt -CAkey ca.key -set_serial \(serial) -days 2 -extfile server.ext -out \(name).crt")
    }

    func file(_ name: String) -> String { directory.appendingPathComponent(name).path }

    func write(_ name: String, _ text: String) throws {
        try text.write(toFile: file(name), atomically: true, encoding: .utf8)
    }

    /// Writes a web configuration file and returns its path.
    func config(_ text: String, name: String = "web.yml") throws -> String {
        try write(name, text)
        return file(name)
    }

    /// openssl with file names relative to the directory.
    private func openssl(_ arguments: String) throws {
        try Command.shell("cd '\(path)' && openssl \(arguments) 2>&1", timeout: 30)
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }

    /// A bcrypt hash of `password` made by Apache's htpasswd (an implementation independent of
    /// the libxcrypt the exporter verifies with).
    static func bcrypt(_ password: String, cost: Int = 5) throws -> String {
        let output = try Command.run(["htpasswd", "-nbBC", String(cost), "user", password]).stdout
        guard let hash = output.split(separator: ":", maxSplits: 1).last?
            .trimmingCharacters(in: .whitespacesAndNewlines), hash.hasPrefix("$2") else {
            throw ExporterTestError("htpasswd gave no bcrypt hash: \(output)")
        }
        return hash
    }
}

/// A free TCP port on 127.0.0.1 (bound to port 0, read back, released).
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw ExporterTestError("socket: errno \(errno)") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw ExporterTestError("bind: errno \(errno)") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    guard named == 0 else { throw ExporterTestError("getsockname: errno \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
}
