#if canImport(Glibc)
import Glibc
#endif
import CFuzzDriver
import ELFReader
import ReaderFuzzSupport

/// libFuzzer's entry: every input must give a spec or a thrown error, never a
/// crash. A spec must keep the invariants a loader relies on, and is then
/// taken through everything `inspect --disassemble` touches.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let started = SlowInputGuard.cpuNanoseconds()
    do {
        let object = try ObjectReader.read(bytes)
        let violations = SpecInvariants.violations(in: object)
        if !violations.isEmpty {
            // A crash, so libFuzzer keeps the input.
            let message = "spec invariant broken:\n  " + violations.joined(separator: "\n  ") + "\n"
            writeToStandardError(message)
            abort()
        }
        InspectWalk.visit(object)
    } catch {
        // What `inspect` prints for a malformed file.
        InspectWalk.consume(error.description)
    }
    SlowInputGuard.check(startedAt: started)
    return 0
}

exit(retrans_fuzz_run(CommandLine.argc, CommandLine.unsafeArgv))
