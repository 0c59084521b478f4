import ELFReader

/// The running kernel's BTF, as CO-RE resolves against it: `/sys/kernel/btf/vmlinux`,
/// and a module's split BTF (`/sys/kernel/btf/<module>`) on request. The reader
/// indexes it lazily (ELFReader's `KernelBTF`) and reads it where it is mapped; this
/// maps the files, and gives vmlinux's walk a second thread.
public enum RunningKernelBTF {
    public static let directory = "/sys/kernel/btf"

    /// vmlinux, plus the named modules' BTF on top of it. `indexing`: the names the load will
    /// look up (CO-RE candidates, attach points), found in the one walk over each file's records.
    public static func target(modules: [String] = [], indexing keys: Set<KernelBTF.CandidateKey> = []) throws -> CORETarget {
        let vmlinux = try withContext("read the kernel's BTF") {
            let bytes = try SystemFile.readMapped(directory + "/vmlinux")
            // The second half of the records is walked meanwhile on a thread of its own
            // (ELFReader's `KernelBTF+Tail.swift`), joined before this returns.
            let tail = KernelBTF.tailStart(vmlinux: bytes).map { start in
                (start: start, work: BackgroundWork(name: "kernel BTF tail") {
                    KernelBTF.walkTail(vmlinux: bytes, from: start, indexing: keys)
                })
            }
            defer { _ = try? tail?.work.value() }
            return try KernelBTF(vmlinux: bytes, indexing: keys, joining: tail.map { tail in
                KernelBTF.TailHandle(start: tail.start) { try? tail.work.value() }
            })
        }
        var split: [KernelBTF] = []
        for module in modules {
            split.append(try withContext("read BTF of kernel module \(module)") {
                try KernelBTF(module: module, bytes: SystemFile.readMapped(directory + "/" + module), base: vmlinux, indexing: keys)
            })
        }
        return CORETarget(vmlinux: vmlinux, modules: split)
    }
}
