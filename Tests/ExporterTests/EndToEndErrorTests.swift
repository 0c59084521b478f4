import Foundation
import KernelTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension EndToEnd {
    /// Failures a user can hit, through the built binary: the exit code and a message
    /// that names what was wrong and what to do.
    @Suite struct ErrorTests {
        static let fixtures = TestPaths.repositoryRoot + "/Tests/ExporterTests/Fixtures"

        private func run(_ arguments: [String]) throws -> CommandResult {
            try Command.run([try TestPaths.requireExporterBinary()] + arguments, timeout: 60, check: false)
        }

        /// A listening TCP socket on 127.0.0.1:`port`, closed by the caller.
        private func listen(port: UInt16) throws -> Int32 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw ExporterTestError("socket: \(String(cString: strerror(errno)))") }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard bound == 0, Glibc.listen(fd, 1) == 0 else {
                let reason = String(cString: strerror(errno))
                close(fd)
                throw ExporterTestError("cannot listen on 127.0.0.1:\(port) for the test: \(reason)")
            }
            return fd
        }

        @Test func portInUseExitsOneNamingTheAddress() throws {
            let taken = try listen(port: 21210)
            defer { close(taken) }
            let outcome = try run(["run", "--web.listen-address", "127.0.0.1:21210"])
            #expect(outcome.status == 1, "\(outcome.output)")
            #expect(outcome.stderr.contains("127.0.0.1:21210"), "\(outcome.stderr)")
            #expect(outcome.stderr.contains("address already in use"), "\(outcome.stderr)")
            #expect(outcome.stderr.contains("--web.listen-address"), "no advice: \(outcome.stderr)")
        }

        @Test(arguments: [
            (["--metrics.labels", "foo"], "--metrics.labels: unknown label 'foo'"),
            (["--metrics.labels", "src_ip,src_ip"], "src_ip"),
            (["--ring.pages", "3"], "--ring.pages '3': expected a power of two"),
            (["--ring.wakeup", "sometimes"], "sometimes"),
            (["--ring.drain-interval", "soon"], "soon"),
            (["--web.listen-address", "nonsense"], "--web.listen-address 'nonsense'"),
            (["--web.listen-address", "127.0.0.1:99999"], "99999"),
            (["--web.telemetry-path", "metrics"], "metrics"),
            (["--metrics.max-series", "20000000"], "--metrics.max-series '20000000': expected a whole number"),
        ])
        func badFlagsExitNonZeroNamingTheFlag(arguments: [String], message: String) throws {
            // A port no test serves on: if a flag were accepted, the run would show here as a timeout.
            let outcome = try run(["run"] + arguments + (arguments.contains("--web.listen-address")
                                                         ? [] : ["--web.listen-address", "127.0.0.1:21211"]))
            #expect(outcome.status != 0 && outcome.status < 128, "\(outcome.output)")
            #expect(outcome.stderr.contains(message), "\(outcome.stderr)")
            #expect(!outcome.stderr.contains("attached"), "\(outcome.stderr)")
        }

        @Test func objectThatIsNotELFExitsOneWithFileAndReason() throws {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("rtx-e2e-not-elf-\(getpid()).o").path
            try "this is not a BPF object\n".write(toFile: path, atomically: true, encoding: .utf8)
            defer { unlink(path) }
            let outcome = try run(["run", "--web.listen-address", "127.0.0.1:21212", "--bpf.object", path])
            #expect(outcome.status == 1, "\(outcome.output)")
            #expect(outcome.stderr.contains(path), "\(outcome.stderr)")
            #expect(outcome.stderr.contains("not an ELF file"), "\(outcome.stderr)")
        }

        @Test func truncatedObjectExitsOneWithFileAndReason() throws {
            let object = try Data(contentsOf: URL(fileURLWithPath: TestPaths.repositoryRoot + "/bpf/retrans.o"))
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("rtx-e2e-truncated-\(getpid()).o").path
            try object.prefix(object.count / 2).write(to: URL(fileURLWithPath: path))
            defer { unlink(path) }
            let outcome = try run(["run", "--web.listen-address", "127.0.0.1:21213", "--bpf.object", path])
            #expect(outcome.status == 1, "\(outcome.output)")
            #expect(outcome.stderr.contains(path), "\(outcome.stderr)")
            #expect(outcome.stderr.contains("past the end of the file (\(object.count / 2) bytes)"), "\(outcome.stderr)")
        }

        @Test func missingObjectExitsOneWithFileAndReason() throws {
            let path = "/nonexistent/rtx-e2e/retrans.o"
            let outcome = try run(["run", "--web.listen-address", "127.0.0.1:21214", "--bpf.object", path])
            #expect(outcome.status == 1, "\(outcome.output)")
            #expect(outcome.stderr.contains(path) && outcome.stderr.contains("No such file or directory"),
                    "\(outcome.stderr)")
        }

        /// Fixtures/rejected_retrans.o: shaped like retrans.o, but its program reads the
        /// context out of bounds after a few dozen verifier log lines.
        @Test func verifierRejectionShowsTheLogsEndAndAllOfItWithVerbose() throws {
            let object = Self.fixtures + "/rejected_retrans.o"
            let outcome = try run(["run", "--web.listen-address", "127.0.0.1:21215", "--bpf.object", object])
            #expect(outcome.status == 1, "\(outcome.output)")
            #expect(outcome.stderr.contains("program `tcp_retransmit_skb` rejected by the verifier"), "\(outcome.stderr)")
            #expect(outcome.stderr.contains("invalid bpf_context access off=8192 size=4"), "\(outcome.stderr)")
            #expect(outcome.stderr.contains("earlier lines omitted; full log with --verbose"), "\(outcome.stderr)")
            // The beginning of the log, where the verifier starts at instruction 0, is not shown.
            #expect(!outcome.stderr.contains("0: R1=ctx() R10=fp0"), "\(outcome.stderr)")

            let verbose = try run(["run", "--web.listen-address", "127.0.0.1:21215", "--bpf.object", object, "--verbose"])
            #expect(verbose.status == 1, "\(verbose.output)")
            #expect(verbose.stderr.contains("full verifier log:"), "\(verbose.stderr)")
            let full = verbose.stderr.components(separatedBy: "full verifier log:").last ?? ""
            #expect(full.contains("0: R1=ctx() R10=fp0"), "\(verbose.stderr)")
            #expect(full.contains("invalid bpf_context access off=8192 size=4"), "\(verbose.stderr)")
            #expect(full.split(separator: "\n").count > 20, "\(verbose.stderr)")

            // `tail` shares the loader and reports it the same way.
            let tail = try run(["tail", "--bpf.object", object])
            #expect(tail.status == 1, "\(tail.output)")
            #expect(tail.stderr.contains("invalid bpf_context access off=8192 size=4"), "\(tail.stderr)")
        }
    }
}
