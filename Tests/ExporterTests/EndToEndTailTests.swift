import Foundation
import KernelTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension EndToEnd {
    /// `retrans-exporter tail --json` during a lossy transfer: every line is JSON, the
    /// flow's lines are exactly the hits a private ftrace instance recorded (same
    /// addresses, ports, state, err; same number), and times are wall-clock.
    @Suite struct TailTests {
        /// One `tail --json` line, parsed by Foundation's JSON reader.
        struct TailLine {
            var hit: TracepointHit
            var time: Date
            /// The attribution fields (tp_btf, the default): kind, segments, netns inode, cgroup path.
            var kind: String
            var segments: Int
            var netns: UInt64
            var cgroup: String

            init(_ line: Substring) throws {
                guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                    throw ExporterTestError("not a JSON object: \(line)")
                }
                guard let time = (object["time"] as? String).flatMap(Self.parseTime),
                      object["boot_ns"] is NSNumber,
                      let ipVersion = object["ip_version"] as? NSNumber,
                      let sourceAddress = object["src_ip"] as? String, let sourcePort = object["src_port"] as? NSNumber,
                      let destinationAddress = object["dst_ip"] as? String,
                      let destinationPort = object["dst_port"] as? NSNumber,
                      let state = object["state"] as? String, let err = object["err"] as? NSNumber,
                      let kind = object["kind"] as? String, let segments = object["segments"] as? NSNumber,
                      let netns = object["netns"] as? NSNumber, object["cgroup_id"] is NSNumber,
                      let cgroup = object["cgroup"] as? String else {
                    throw ExporterTestError("a field is missing or of the wrong type: \(line)")
                }
                self.time = time
                self.kind = kind
                self.segments = segments.intValue
                self.netns = netns.uint64Value
                self.cgroup = cgroup
                hit = TracepointHit(ipVersion: ipVersion.stringValue, sourceAddress: sourceAddress,
                                    sourcePort: sourcePort.stringValue, destinationAddress: destinationAddress,
                                    destinationPort: destinationPort.stringValue, state: state, err: err.intValue)
            }

            /// `2026-11-28T17:40:00.123456Z` (UTC, microseconds).
            static func parseTime(_ text: String) -> Date? {
                let digits = text.split(whereSeparator: { "-T:.Z".contains($0) }).map { Int($0) }
                guard text.hasSuffix("Z"), digits.count == 7, !digits.contains(nil) else { return nil }
                let values = digits.compactMap { $0 }
                var parts = tm()
                parts.tm_year = Int32(values[0] - 1900)
                parts.tm_mon = Int32(values[1] - 1)
                parts.tm_mday = Int32(values[2])
                parts.tm_hour = Int32(values[3])
                parts.tm_min = Int32(values[4])
                parts.tm_sec = Int32(values[5])
                let seconds = timegm(&parts)
                return Date(timeIntervalSince1970: Double(seconds) + Double(values[6]) / 1_000_000)
            }
        }

        static func lines(_ output: String) -> [Substring] { output.split(separator: "\n") }

        /// With `--ring.drain-interval 1m` a flow's few events stay below the wakeup
        /// watermark until tail stops: only the read at exit can print them.
        @Test(arguments: [(BulkTransfer.Family.ipv4, "100ms"), (.ipv6, "100ms"), (.ipv4, "1m")])
        func jsonLinesAreTheFtraceHitsOfTheFlow(family: BulkTransfer.Family, drainInterval: String) throws {
            let port: UInt16 = family == .ipv4 ? (drainInterval == "1m" ? 7506 : 7504) : 7505
            let everything = try RunningExporter.tail(["--json", "--count", "10000000",
                                                       "--ring.drain-interval", drainInterval])
            defer { everything.stop(SIGKILL) }
            // A second tail that must stop by itself after three events.
            let three = try RunningExporter.tail(["--json", "--count", "3"])
            defer { three.stop(SIGKILL) }

            let started = Date()
            let name = "rtx-e2e-tail\(port)"
            let held = try HeldKernelObjects.held(by: everything.pid)
            let flow = try LossyFlow(name: name, family: family, port: port).run()
            let recursionMisses = try held.recursionMisses()
            // The namespaces are gone and ftrace has stopped: every event is in a ring,
            // and tail reads what is left when it stops.
            let exit = everything.stop(SIGINT)
            let finished = Date()
            #expect(exit.outcome.status == 0, "\(exit.outcome.stderr)")
            #expect(exit.outcome.stderr.isEmpty, "tail warned: \(exit.outcome.stderr)")

            let parsed = try Self.lines(exit.outcome.stdout).map(TailLine.init)
            let portText = String(port)
            let ofFlow = parsed.filter { $0.hit.sourcePort == portText || $0.hit.destinationPort == portText }
            print("""
                e2e tail \(family.rawValue) port \(port), drain every \(drainInterval): ftrace \(flow.hits.count) hits \
                (\(flow.hits.filter { $0.err != 0 }.count) failed), tail \(ofFlow.count) lines of the flow \
                (\(parsed.count) in all), recursion misses \(recursionMisses)
                """)
            #expect(flow.hits.count > 0, "the lossy link should have caused retransmissions")
            if recursionMisses == 0 {
                #expect(ofFlow.count == flow.hits.count)
                #expect(ofFlow.map(\.hit).tally == flow.hits.tally)
            } else {
                // Only runs the kernel skipped (see `recursionMisses()`) may be missing.
                #expect(ofFlow.count <= flow.hits.count && UInt64(flow.hits.count - ofFlow.count) <= recursionMisses)
                #expect(ofFlow.map(\.hit).tally.allSatisfy { $0.value <= flow.hits.tally[$0.key] ?? 0 })
            }

            let (sender, receiver) = flow.lab
            let version = family == .ipv4 ? "4" : "6"
            for line in ofFlow {
                #expect(line.hit.ipVersion == version)
                #expect(Set([line.hit.sourceAddress, line.hit.destinationAddress]) == [sender, receiver], "\(line.hit)")
                // Wall-clock time of the event: within the run, not seconds since boot.
                #expect(line.time >= started.addingTimeInterval(-60) && line.time <= finished.addingTimeInterval(60),
                        "time \(line.time) is not near now (\(finished))")
                // What the BTF-typed program adds: why, how many segments, which namespace and cgroup.
                #expect(["timeout", "fast", "tlp", "syn", "synack", "other"].contains(line.kind), "kind \(line.kind)")
                #expect(line.segments >= 1 && line.netns != 0 && line.cgroup.hasPrefix("/"),
                        "segments \(line.segments), netns \(line.netns), cgroup '\(line.cgroup)'")
            }
            #expect(ofFlow.contains { $0.hit.destinationPort == portText && $0.hit.state == "ESTABLISHED" })

            // Both tails were attached before the flow began: the flow alone gave `three` its events.
            let threeExit = three.stop(SIGKILL, timeout: 10)
            if flow.hits.count >= 3 {
                #expect(threeExit.outcome.status == 0, "tail --count 3 did not exit by itself: \(threeExit.outcome.output)")
                let threeLines = Self.lines(threeExit.outcome.stdout)
                #expect(threeLines.count == 3, "\(threeExit.outcome.stdout)")
                #expect(throws: Never.self) { try threeLines.map(TailLine.init) }
            }
        }
    }
}
