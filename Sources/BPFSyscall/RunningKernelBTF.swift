import ELFReader

/// The running kernel's BTF, as CO-RE resolves against it: `/sys/kernel/btf/vmlinux`,
/// and a module's split BTF (`/sys/kernel/btf/<module>`) on request. The reader
/// indexes it lazily (ELFReader's `KernelBTF`); this only reads the bytes.
public enum RunningKernelBTF {
    public static let directory = "/sys/kernel/btf"

    /// vmlinux, plus the named modules' BTF on top of it.
    public static func target(modules: [String] = []) throws -> CORETarget {
        let vmlinux = try withContext("read the kernel's BTF") {
            try KernelBTF(vmlinux: SystemFile.readBytesMapped(directory + "/vmlinux"))
        }
        var split: [KernelBTF] = []
        for module in modules {
            split.append(try withContext("read BTF of kernel module \(module)") {
                try KernelBTF(module: module, bytes: SystemFile.readBytesMapped(directory + "/" + module), base: vmlinux)
            })
        }
        return CORETarget(vmlinux: vmlinux, modules: split)
    }
}
