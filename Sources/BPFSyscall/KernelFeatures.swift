#if canImport(Glibc)
import Glibc
#endif
import ELFReader

/// What this kernel supports, asked the cheapest way: make the object and close it.
public enum KernelFeatures {
    /// Whether `BPF_MAP_TYPE_RINGBUF` exists (Linux 5.8+): a one-page ring buffer is created
    /// and closed. Only EINVAL (an unknown map type) means no: without the privilege to ask
    /// (EPERM) the answer is yes, so that the load itself reports the missing privilege.
    public static func ringBuffer(syscalls: Syscalls = .kernel) -> Bool {
        let pageSize = UInt32(clamping: Int(sysconf(Int32(_SC_PAGESIZE))))
        let request = MapCreateRequest(type: MapType.ringBuffer.rawValue, name: "rtx_probe", keySize: 0,
                                       valueSize: 0, maxEntries: pageSize, flags: 0)
        do {
            try syscalls.createMap(request).close()
            return true
        } catch {
            return error.errno != EINVAL
        }
    }
}
