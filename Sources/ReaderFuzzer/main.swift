#if canImport(Glibc)
import Glibc
#endif
import CFuzzDriver
import ELFReader

/// libFuzzer's entry: every input must give a spec or a thrown error, never a crash.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    _ = try? ObjectReader.read(bytes)
    return 0
}

exit(retrans_fuzz_run(CommandLine.argc, CommandLine.unsafeArgv))
