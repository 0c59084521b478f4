import Foundation
import KernelTestSupport
import Testing
@testable import Exporter

/// The real binary with `--web.config.file`: a bad file stops it before any bpf(2) call
/// (strace is the witness); a good one serves over TLS with basic auth after dropping
/// privileges to `nobody`, and still picks up a renewed certificate.
///
/// Loads BPF: run under the shared lock,
/// `flock /tmp/retrans-kernel.lock swift test --skip-build --filter WebConfigBinaryTests`.
@Suite(.serialized, .enabled(if: KernelTestEnvironment.isRoot, Comment(rawValue: KernelTestEnvironment.skipReason)))
struct WebConfigBinaryTests {
    @Test func aBadFileExitsNonZeroBeforeAnyBPFCall() throws {
        let binary = try TestPaths.requireExporterBinary()
        let pki = try TestPKI()
        defer { pki.remove() }
        try pki.makeServerCertificate(serial: "0x2002", name: "other")
        let cases: [(String, String)] = [
            ("tls_server_config:\n  cert_file: server.crt\n  key_file: other.key\n", "line 3: the private key does not match the certificate"),
            ("tls_server_config:\n  cert_file: missing.crt\n  key_file: server.key\n", "line 2: cannot read cert_file"),
            ("basic_auth_users:\n  alice: hunter2\n", "line 2: the password of user 'alice' is not a bcrypt hash"),
            ("tls_server_config:\n  cert_file: [unclosed\n", "line 3"),
        ]
        for (text, message) in cases {
            let config = try pki.config(text)
            let trace = pki.file("strace.txt")
            let port = try freeLoopbackPort()
            let result = try Command.run(
                ["strace", "-f", "-qq", "-e", "trace=bpf,perf_event_open", "-o", trace, binary, "run",
                 "--web.listen-address", "127.0.0.1:\(port)", "--web.config.file", config],
                timeout: 30, check: false)
            #expect(result.status == 1, "\(result)")
            #expect(result.stderr.hasPrefix("error: --web.config.file \(config) "), "\(result.stderr)")
            #expect(result.stderr.contains(message), "\(result.stderr)")
            let calls = try String(contentsOfFile: trace, encoding: .utf8)
            #expect(!calls.contains("bpf(") && !calls.contains("perf_event_open("), "\(calls)")
        }
        // The control: with a good file the same trace does show the loader's calls.
        let good = try pki.config("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n")
        let trace = pki.file("strace-good.txt")
        let port = try freeLoopbackPort()
        let control = try Command.run(
            ["strace", "-f", "-qq", "-e", "trace=bpf,perf_event_open", "-o", trace, "timeout", "-s", "INT", "3",
             binary, "run", "--web.listen-address", "127.0.0.1:\(port)", "--web.config.file", good],
            timeout: 30, check: false)
        #expect(control.stderr.contains("serving https://"), "\(control)")
        #expect(try String(contentsOfFile: trace, encoding: .utf8).contains("bpf(BPF_PROG_LOAD"))
        // Missing file.
        let result = try Command.run([binary, "run", "--web.config.file", pki.file("absent.yml")], timeout: 30, check: false)
        #expect(result.status == 1 && result.stderr.contains("cannot read it"), "\(result)")
    }

    @Test func servesTLSWithBasicAuthAfterDroppingToNobody() throws {
        let binary = try TestPaths.requireExporterBinary()
        let pki = try TestPKI()
        defer { pki.remove() }
        // The files are read again after the drop: readable by nobody (0644 in a 0755 directory).
        try Command.run(["chmod", "0755", pki.path])
        let config = try pki.config("""
            tls_server_config:
              cert_file: server.crt
              key_file: server.key
            basic_auth_users:
              scraper: \(try TestPKI.bcrypt("pass"))
            """)
        try Command.run(["chmod", "0644", pki.file("server.key"), config])
        let port = try freeLoopbackPort()
        let exporter = try Command.start([binary, "run", "--web.listen-address", "127.0.0.1:\(port)",
                                          "--web.config.file", config, "--run-as-user", "nobody"])
        defer { exporter.kill() }
        let url = "https://127.0.0.1:\(port)/metrics"
        let ok = try poll(timeout: 60, interval: 0.2, "the exporter serving over TLS") { () -> Curl.Response? in
            let response = try Curl.fetch(url, ["--cacert", pki.file("ca.crt"), "-u", "scraper:pass"])
            return response.status == 200 ? response : nil
        }
        #expect(ok.body.contains("retrans_exporter_build_info"))
        #expect(try Curl.fetch(url, ["--cacert", pki.file("ca.crt"), "-u", "scraper:wrong"]).status == 401)
        #expect(try WebConfigTests.servedSerial(port: port) == "1001")
        try pki.makeServerCertificate(serial: "0x2002", name: "renewed")
        try Command.run(["chmod", "0644", pki.file("renewed.key")])
        try Command.shell("cd '\(pki.path)' && mv renewed.key server.key && mv renewed.crt server.crt")
        #expect(try WebConfigTests.servedSerial(port: port) == "2002")
        #expect(exporter.isRunning)
    }
}
