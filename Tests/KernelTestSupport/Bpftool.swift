import Foundation

/// `bpftool ... -j`, parsed: an independent witness of what the kernel holds.
public enum Bpftool {
    /// `bpftool prog show -j`: one dictionary per loaded program (`id`, `type`, `name`, `run_cnt`, ...).
    public static func programs() throws -> [[String: Any]] { try list(["prog", "show"]) }

    /// `bpftool link show -j`: one dictionary per link (`id`, `type`, `prog_id`, ...).
    public static func links() throws -> [[String: Any]] { try list(["link", "show"]) }

    /// `bpftool perf show -j`: programs attached to perf events by any process
    /// (`pid`, `fd`, `prog_id`, `fd_type`, `tracepoint`), including the ioctl attach that has no link.
    public static func perfAttachments() throws -> [[String: Any]] { try list(["perf", "show"]) }

    /// `bpftool map show -j`.
    public static func maps() throws -> [[String: Any]] { try list(["map", "show"]) }

    static func list(_ arguments: [String]) throws -> [[String: Any]] {
        let result = try Command.run(["bpftool"] + arguments + ["-j"])
        let text = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.isEmpty { return [] }
        guard let array = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]] else {
            throw CommandError.failed(result)
        }
        return array
    }
}

extension Dictionary where Key == String, Value == Any {
    /// A JSON number field as Int (bpftool prints ids and counts as numbers).
    public func int(_ key: String) -> Int? { (self[key] as? NSNumber)?.intValue }
    public func string(_ key: String) -> String? { self[key] as? String }
}

/// One line of libbpf's debug output about a CO-RE relocation (`bpftool -d prog loadall`):
///     prog 'P': relo #K: patched insn #N (CLASS) off|imm|imm64 A -> B
///     prog 'P': relo #K: substituting insn #N w/ invalid insn
public struct LibbpfCOREDecision: Hashable, Sendable, CustomStringConvertible {
    public var program: String
    public var relocation: Int
    public var instruction: Int
    /// nil: the instruction was poisoned.
    public var value: UInt64?

    public init(program: String, relocation: Int, instruction: Int, value: UInt64?) {
        self.program = program
        self.relocation = relocation
        self.instruction = instruction
        self.value = value
    }

    public var description: String { "\(program) relo #\(relocation) insn #\(instruction) -> \(value.map(String.init) ?? "poison")" }

    /// Every decision in libbpf's debug output, in order. Lines that only adjust a load's
    /// memory size (`mem_sz`) are not decisions about a value and are left out.
    public static func parse(_ output: String) -> [LibbpfCOREDecision] {
        var decisions: [LibbpfCOREDecision] = []
        for line in output.split(separator: "\n") {
            let text = String(line)
            guard let programStart = text.range(of: "prog '"),
                  let programEnd = text.range(of: "': relo #", range: programStart.upperBound..<text.endIndex) else { continue }
            let program = String(text[programStart.upperBound..<programEnd.lowerBound])
            let rest = text[programEnd.upperBound...]
            guard let colon = rest.firstIndex(of: ":"), let relocation = Int(rest[..<colon]) else { continue }
            let detail = rest[rest.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            let words = detail.split(separator: " ")
            if detail.hasPrefix("patched insn #"), words.count >= 7, let instruction = Int(words[2].dropFirst()),
               let value = UInt64(words[words.count - 1]) {
                if words.contains("mem_sz") { continue }
                decisions.append(LibbpfCOREDecision(program: program, relocation: relocation, instruction: instruction, value: value))
            } else if detail.hasPrefix("substituting insn #"), let instruction = Int(words[2].dropFirst()) {
                decisions.append(LibbpfCOREDecision(program: program, relocation: relocation, instruction: instruction, value: nil))
            }
        }
        return decisions
    }
}

/// libbpf's own load of a whole object: `bpftool -d prog loadall OBJECT DIR` loads every
/// program (and the maps they use) and pins each program at DIR/<name>. The pins are what
/// keep them loaded: `remove()` deletes them (call it in a `defer`).
public struct BpftoolLoad: Sendable {
    public let directory: String
    /// bpftool's stdout and stderr: libbpf's debug log, its CO-RE decisions among it.
    public let output: String

    /// Mounts bpffs at /sys/fs/bpf first if it is not mounted.
    public init(object: String, directory: String) throws {
        let mounted = try Command.run(["findmnt", "-n", "-t", "bpf", "/sys/fs/bpf"], check: false)
        if !mounted.succeeded || mounted.stdout.isEmpty {
            _ = try Command.run(["mount", "-t", "bpf", "bpffs", "/sys/fs/bpf"])
        }
        self.directory = directory
        let result = try Command.run(["bpftool", "-d", "prog", "loadall", object, directory], check: false)
        output = result.stderr + result.stdout
        guard result.succeeded else {
            try? FileManager.default.removeItem(atPath: directory)
            throw CommandError.failed(result)
        }
    }

    /// `bpftool prog show pinned DIR/NAME -j`: the kernel's id of libbpf's copy of the program.
    public func programID(_ name: String) throws -> Int {
        let result = try Command.run(["bpftool", "prog", "show", "pinned", directory + "/" + name, "-j"])
        guard let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
              let id = object.int("id") else { throw CommandError.failed(result) }
        return id
    }

    public func remove() { try? FileManager.default.removeItem(atPath: directory) }
}

extension Bpftool {
    /// `bpftool prog dump xlated id N file PATH`: the raw translated instructions of any loaded program.
    public static func translatedInstructions(programID: Int) throws -> [UInt8] {
        let path = NSTemporaryDirectory() + "retrans-xlated-\(getpid())-\(programID).bin"
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = try Command.run(["bpftool", "prog", "dump", "xlated", "id", String(programID), "file", path])
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }
}
