import ELFReader

/// The running kernel's BTF, as CO-RE resolves against it: `/sys/kernel/btf/vmlinux`,
/// and a module's split BTF (`/sys/kernel/btf/<module>`) on request. The reader
/// indexes it lazily (ELFReader's `KernelBTF`) and reads it where it is mapped; this only
/// maps the files.
public enum RunningKernelBTF {
    public static let directory = "/sys/kernel/btf"

    /// vmlinux, plus the named modules' BTF on top of it. `indexing`: the names the load will
    /// look up (CO-RE candidates, attach points), found in the one walk over each file's records.
    public static func target(modules: [String] = [], indexing keys: Set<KernelBTF.CandidateKey> = []) throws -> CORETarget {
        let vmlinux = try withContext("read the kernel's BTF") {
            try KernelBTF(vmlinux: SystemFile.readMapped(directory + "/vmlinux"), indexing: keys)
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
