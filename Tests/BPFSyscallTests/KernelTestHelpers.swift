import Foundation
import Testing
import ELFReader
import KernelTestSupport
@testable import BPFSyscall

/// Every test that touches the kernel lives in a suite nested in this one, so that
/// they run one at a time: the leak checks count this process's open BPF and perf
/// descriptors, which a test running alongside would change.
@Suite(.serialized, .enabled(if: KernelTestEnvironment.isRoot, Comment(rawValue: KernelTestEnvironment.skipReason)))
struct KernelTests {}

/// Paths and objects the kernel tests share.
enum TestObjects {
    /// The repository root, from this file's path (Tests/BPFSyscallTests/…).
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// bpf/retrans.o, parsed by ELFReader (run `make bpf` first).
    static func retrans() throws -> ObjectSpec {
        try read(repositoryRoot + "/bpf/retrans.o")
    }

    /// Tests/BPFSyscallTests/Fixtures/<name>.
    static func fixture(_ name: String) throws -> ObjectSpec {
        try read(repositoryRoot + "/Tests/BPFSyscallTests/Fixtures/" + name)
    }

    static func read(_ path: String) throws -> ObjectSpec {
        try ObjectReader.read(try SystemFile.readBytes(path))
    }

    /// The constant bpf/retrans.c needs, read from this kernel's tracepoint format.
    static func retransConstants() throws -> [String: GlobalValue] {
        let format = try Tracefs.locate().format(category: "tcp", name: "tcp_retransmit_skb")
        return ["tracepoint_has_err": .u32(format.hasField("err") ? 1 : 0)]
    }
}

/// What the kernel still holds of ours, for leak checks.
enum KernelWitness {
    /// Waits (up to `seconds`) until no program with `id` is loaded; the kernel frees
    /// programs after an RCU grace period, so the id can outlive the last close briefly.
    static func programIsGone(_ id: UInt32, seconds: Double = 3) throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            if try !Syscalls.kernel.loadedPrograms().contains(where: { $0.id == id }) { return true }
            usleep(20_000)
        } while Date() < deadline
        return false
    }

    static func mapIsGone(_ id: UInt32, seconds: Double = 3) throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            if try !Syscalls.kernel.loadedMaps().contains(where: { $0.id == id }) { return true }
            usleep(20_000)
        } while Date() < deadline
        return false
    }

    /// How many BPF maps, programs, links, BTF objects and perf events this process has open (from /proc/self/fd).
    static func openBPFDescriptors() -> [String: Int] {
        var counts: [String: Int] = [:]
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for entry in entries {
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + entry),
                  target.hasPrefix("anon_inode:bpf") || target == "anon_inode:[perf_event]" else { continue }
            counts[target, default: 0] += 1
        }
        return counts
    }

    /// `/proc/self/fdinfo/<fd>` as key → value.
    static func fdinfo(_ fd: Int32) throws -> [String: String] {
        let text = try SystemFile.readString("/proc/self/fdinfo/\(fd)")
        var result: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            result[String(parts[0])] = parts[1].trimmingCharacters(in: .whitespaces)
        }
        return result
    }
}

struct MissingInObject: Error, CustomStringConvertible {
    var description: String
}

extension LoadedObject {
    /// `program(named:)` for tests: throws instead of returning nil (and keeps `#require` away from a `~Copyable` value).
    func requiredProgram(_ name: String) throws -> LoadedProgram {
        guard let program = program(named: name) else { throw MissingInObject(description: "no program `\(name)`") }
        return program
    }

    func requiredMap(_ name: String) throws -> LoadedMap {
        guard let map = map(named: name) else { throw MissingInObject(description: "no map `\(name)`") }
        return map
    }
}

/// The real syscalls, recording each BTF and program load: (log buffer size, result).
final class LoadSpy: Sendable {
    let programLoads = Mutex<[(logSize: Int, result: Int32)]>([])
    let btfLoads = Mutex<[(logSize: Int, result: Int32)]>([])

    var syscalls: Syscalls {
        var syscalls = Syscalls.kernel
        syscalls.programLoad = { [self] request, level, log in
            let result = Syscalls.kernel.programLoad(request, level, &log)
            programLoads.withLock { $0.append((log.count, result)) }
            return result
        }
        syscalls.btfLoad = { [self] bytes, level, log in
            let result = Syscalls.kernel.btfLoad(bytes, level, &log)
            btfLoads.withLock { $0.append((log.count, result)) }
            return result
        }
        return syscalls
    }
}

import Synchronization
