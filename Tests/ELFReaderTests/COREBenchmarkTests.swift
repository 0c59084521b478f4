import Foundation
import Testing
@testable import ELFReader

/// Prints how long CO-RE costs at start-up against this machine's kernel BTF
/// (docs/BENCHMARKS.md). Runs only when asked, and means something only in
/// a release build:
///     swift build -c release --build-tests
///     RETRANS_BENCH=1 swift test -c release --skip-build --filter COREBenchmarkTests
@Suite struct COREBenchmarkTests {
    static let vmlinuxPath = "/sys/kernel/btf/vmlinux"

    @Test(.enabled(if: ProcessInfo.processInfo.environment["RETRANS_BENCH"] == "1"
                   && FileManager.default.isReadableFile(atPath: vmlinuxPath),
                   "benchmark: set RETRANS_BENCH=1 (and build with -c release) to print figures"))
    func printFigures() throws {
        let clock = ContinuousClock()
        func milliseconds(_ duration: Duration) -> Double {
            Double(duration.components.seconds) * 1e3 + Double(duration.components.attoseconds) / 1e15
        }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        let rounds = 21

        var readTimes: [Double] = []
        var bytes: [UInt8] = []
        for _ in 0..<rounds {
            let start = clock.now
            bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.vmlinuxPath)))
            readTimes.append(milliseconds(clock.now - start))
        }
        var indexTimes: [Double] = []
        var btf = try KernelBTF(vmlinux: bytes)
        for _ in 0..<rounds {
            let start = clock.now
            btf = try KernelBTF(vmlinux: bytes)
            indexTimes.append(milliseconds(clock.now - start))
        }
        print(String(format: "CO-RE bench: vmlinux BTF %d bytes, %d types", bytes.count, btf.typeCount - 1))
        print(String(format: "  read file (Foundation, for reference)  median %.3f ms", median(readTimes)))
        print(String(format: "  index (checkpoints)                     median %.3f ms", median(indexTimes)))

        let keys: Set<KernelBTF.CandidateKey> = Set(["sock", "sk_buff", "net", "cgroup", "kernfs_node", "sock___future"]
            .map { KernelBTF.CandidateKey(kindClass: 4, essentialName: $0) })
        var scanTimes: [Double] = []
        for _ in 0..<rounds {
            let start = clock.now
            _ = try btf.candidates(for: keys)
            scanTimes.append(milliseconds(clock.now - start))
        }
        print(String(format: "  candidate scan (6 struct names)         median %.3f ms", median(scanTimes)))
        var indexedTimes: [Double] = []
        for _ in 0..<rounds {
            let start = clock.now
            _ = try KernelBTF(vmlinux: bytes, indexing: keys)
            indexedTimes.append(milliseconds(clock.now - start))
        }
        print(String(format: "  index with the 6 names (one walk)       median %.3f ms", median(indexedTimes)))
        var decodeTimes: [Double] = []
        let sockID = try #require(try btf.candidates(for: [KernelBTF.CandidateKey(kindClass: 4, essentialName: "sk_buff")]).values.first?.first)
        for _ in 0..<rounds {
            let start = clock.now
            _ = try btf.type(sockID)
            decodeTimes.append(milliseconds(clock.now - start))
        }
        print(String(format: "  decode struct sk_buff                   median %.3f ms", median(decodeTimes)))

        for fixture in Fixture.core {
            let object = try fixture.spec()
            let count = object.programs.reduce(0) { $0 + $1.coreRelocations.count }
            var resolveTimes: [Double] = []
            var totalTimes: [Double] = []
            for _ in 0..<rounds {
                let start = clock.now
                let fresh = try KernelBTF(vmlinux: bytes)
                let indexed = clock.now
                _ = try CORERelocator.relocate(object, target: CORETarget(vmlinux: fresh))
                let end = clock.now
                resolveTimes.append(milliseconds(end - indexed))
                totalTimes.append(milliseconds(end - start))
            }
            print(String(format: "  %@: %d relocations: resolve+patch median %.3f ms, index+resolve+patch median %.3f ms (max %.3f)",
                         fixture.rawValue, count, median(resolveTimes), median(totalTimes), totalTimes.max() ?? 0))
        }
    }
}
