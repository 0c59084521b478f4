import Testing
import Foundation
import ELFReader
import KernelTestSupport
@testable import BPFSyscall

extension KernelTests {
    /// The bad cases give their specific errors, and leave nothing open behind them.
    @Suite struct Failures {
        @Test func verifierRejectionCarriesTheLogWithSourceLines() throws {
            let spec = try TestObjects.fixture("rejected.o")
            let before = KernelWitness.openBPFDescriptors()
            let error = try #require(throws: VerifierError.self) { _ = try LoadedObject(loading: spec) }
            #expect(error.subject == "program `read_past_context`")
            #expect(error.errno == EACCES)
            #expect(error.log.contains("invalid bpf_context access off=8192 size=4"))
            // line_info reached the kernel: the log quotes the C source.
            #expect(error.log.contains("ctx + 8192"))
            #expect(error.description.contains("invalid bpf_context access off=8192 size=4"))
            #expect(error.description.hasPrefix("program `read_past_context` rejected by the verifier (EACCES"))
            #expect(KernelWitness.openBPFDescriptors() == before, "BTF fd left open after a failed load")
        }

        @Test func longVerifierLogsGrowTheBufferUntilTheyFit() throws {
            let spec = HandBuilt.rejectedObject(padding: 4000)
            let sizes = VerifierLogSizes(initial: 8192, maximum: 16 << 20)
            let error = try #require(throws: VerifierError.self) {
                _ = try LoadedObject(loading: spec, options: LoadOptions(logSizes: sizes))
            }
            #expect(!error.logTruncated)
            #expect(error.log.utf8.count > 4 * 8192, "the log should have needed at least two growths")
            #expect(error.logLines.prefix(2).contains { $0.hasPrefix("0: (b7) r0 = 0") }, "the whole log, from the first instruction")
            #expect(error.lastLines.contains { $0.contains("invalid bpf_context access off=8192") })
            #expect(error.omittedLineCount == error.logLines.count - VerifierError.linesShown)
            #expect(error.description.contains("(\(error.omittedLineCount) earlier lines omitted; full log with --verbose)"))
        }

        @Test func aLogLargerThanTheMaximumKeepsItsEnd() throws {
            let spec = HandBuilt.rejectedObject(padding: 4000)
            let error = try #require(throws: VerifierError.self) {
                _ = try LoadedObject(loading: spec, options: LoadOptions(logSizes: VerifierLogSizes(initial: 512, maximum: 2048)))
            }
            #expect(error.logTruncated)
            #expect(error.log.utf8.count < 2048)
            #expect(error.lastLines.contains { $0.contains("invalid bpf_context access off=8192") },
                    "the kernel's rotating log keeps the reason at the end")
        }

        @Test func missingTracepoint() throws {
            let object = try LoadedObject(loading: HandBuilt.retransLikeObject(tracepoint: "no_such_tracepoint"))
            let before = KernelWitness.openBPFDescriptors()
            let error = try #require(throws: ContextError.self) { _ = try object.attach(program: "tcp_retransmit_skb") }
            let tracefs = try Tracefs.locate().root
            #expect(error.rootCause as? TracefsError
                    == .noSuchTracepoint(category: "tcp", name: "no_such_tracepoint", tracefs: tracefs))
            #expect(error.description == "attach to tracepoint tcp/no_such_tracepoint: tracepoint tcp/no_such_tracepoint"
                    + " not found in \(tracefs)/events: tracefs not mounted or kernel lacks the tracepoint"
                    + " (see \(tracefs)/available_events)")
            #expect(KernelWitness.openBPFDescriptors() == before)
        }

        @Test func unknownMapInARelocation() throws {
            var spec = try TestObjects.retrans()
            spec.maps.removeAll { $0.name == "stats" }
            let before = KernelWitness.openBPFDescriptors()
            let error = try #require(throws: ContextError.self) {
                _ = try LoadedObject(loading: spec, options: LoadOptions(constants: TestObjects.retransConstants()))
            }
            let index = try #require(spec.programs[0].relocations.first { $0.target == .map(name: "stats") }?.instructionIndex)
            #expect(error.rootCause as? RelocationError == RelocationError(instructionIndex: index, reason: .unknownMap("stats")))
            #expect(error.description
                    == "load program `tcp_retransmit_skb`: map relocation at instruction \(index): unknown map `stats`")
            #expect(KernelWitness.openBPFDescriptors() == before, "maps created before the failure were left open")
        }

        @Test func unknownGlobalIsRefusedBeforeAnyMapIsCreated() throws {
            let error = try #require(throws: ContextError.self) {
                _ = try LoadedObject(loading: try TestObjects.retrans(), options: LoadOptions(constants: ["has_err": .u32(1)]))
            }
            #expect(error.description == "set globals: set global `has_err`: no such variable (looked in .rodata)")
        }

        @Test func tracefsMissingAndMountedOnDemand() throws {
            let missing = "/tmp/rtx-ld-no-tracefs-\(getpid())"
            #expect(throws: TracefsError.notMounted(tried: [missing], mountFailure: nil)) {
                try Tracefs.locate(candidates: [missing], mountIfMissing: false)
            }
            // Mounting on demand, for real, on a private directory (a second view of the same tracefs).
            let mountPoint = "/tmp/rtx-ld-tracefs-\(getpid())"
            #expect(mkdir(mountPoint, 0o755) == 0)
            defer {
                _ = umount2(mountPoint, Int32(MNT_DETACH))
                _ = rmdir(mountPoint)
            }
            let tracefs = try Tracefs.locate(candidates: [mountPoint])
            #expect(tracefs.root == mountPoint)
            let reference = try Tracefs.locate()
            #expect(try tracefs.tracepointID(category: "tcp", name: "tcp_retransmit_skb")
                    == reference.tracepointID(category: "tcp", name: "tcp_retransmit_skb"))
            let format = try tracefs.format(category: "tcp", name: "tcp_retransmit_skb")
            #expect(format.hasField("state"))
        }

        /// The offsets bpf/retrans.c hard-codes for its context struct match this kernel's format file.
        @Test func retransContextMatchesThisKernelsFormat() throws {
            let format = try Tracefs.locate().format(category: "tcp", name: "tcp_retransmit_skb")
            let expected: [(String, Int, Int)] = [
                ("state", 24, 4), ("sport", 28, 2), ("dport", 30, 2), ("family", 32, 2),
                ("saddr_v6", 42, 16), ("daddr_v6", 58, 16),
            ]
            for (name, offset, size) in expected {
                let field = try #require(format.field(named: name), "no field \(name)")
                #expect(field.offset == offset && field.size == size, "\(name)")
            }
            if let err = format.field(named: "err") { #expect(err.offset == 76 && err.size == 4) }
        }
    }
}
