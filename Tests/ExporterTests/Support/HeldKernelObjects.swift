import BPFSyscall
import Foundation
import KernelTestSupport

/// The BPF programs, maps and links a process holds, read from its
/// `/proc/<pid>/fdinfo` (the kernel prints `prog_id`, `map_id`, `link_id` there),
/// and whether any of them is still in the kernel after the process is gone
/// (ids, not names: other tests load programs of the same name meanwhile).
struct HeldKernelObjects: Equatable, CustomStringConvertible {
    var programIDs: Set<UInt32> = []
    var mapIDs: Set<UInt32> = []
    var linkIDs: Set<UInt32> = []

    var isEmpty: Bool { programIDs.isEmpty && mapIDs.isEmpty && linkIDs.isEmpty }
    var description: String {
        "programs \(programIDs.sorted()), maps \(mapIDs.sorted()), links \(linkIDs.sorted())"
    }

    /// What `pid` holds now.
    static func held(by pid: Int32) throws -> HeldKernelObjects {
        var held = HeldKernelObjects()
        let directory = "/proc/\(pid)/fdinfo"
        for fd in try FileManager.default.contentsOfDirectory(atPath: directory) {
            // An fd closed while we list is simply gone.
            guard let info = try? String(contentsOfFile: "\(directory)/\(fd)", encoding: .utf8) else { continue }
            let fields = fdinfoFields(info)
            // A link's fdinfo names its program too: held through the link, it is held.
            if let link = fields["link_id"] { held.linkIDs.insert(link) }
            if let program = fields["prog_id"] { held.programIDs.insert(program) }
            if let map = fields["map_id"] { held.mapIDs.insert(map) }
        }
        return held
    }

    /// Which of these objects the kernel still has, walking its id spaces.
    func stillLoaded() throws -> HeldKernelObjects {
        HeldKernelObjects(
            programIDs: programIDs.intersection(try Syscalls.kernel.loadedPrograms().map(\.id)),
            mapIDs: mapIDs.intersection(try Syscalls.kernel.loadedMaps().map(\.id)),
            linkIDs: linkIDs.intersection(try Syscalls.kernel.loadedLinkIDs()))
    }

    /// The kernel frees a program after its last reference is gone (partly after an RCU
    /// grace period), so it may outlive the process by a moment.
    func waitUntilUnloaded(timeout: Double = 2) throws -> HeldKernelObjects {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let left = try stillLoaded()
            if left.isEmpty || Date() >= deadline { return left }
            usleep(20_000)
        }
    }

    /// Runs of these programs the kernel skipped because the tracepoint fired while
    /// another BPF tracing program ran on that CPU (other suites load them on this host).
    /// Only such skips may make the exporter count less than ftrace.
    func recursionMisses() throws -> UInt64 {
        try Syscalls.kernel.loadedPrograms().filter { programIDs.contains($0.id) }
            .reduce(0) { $0 + $1.recursionMisses }
    }

    private static func fdinfoFields(_ text: String) -> [String: UInt32] {
        var fields: [String: UInt32] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, let value = UInt32(parts[1].trimmingCharacters(in: .whitespaces)) else { continue }
            fields[String(parts[0])] = value
        }
        return fields
    }
}
