import CBPFSyscall
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One CPU's perf ring: a `PERF_COUNT_SW_BPF_OUTPUT` event and its mmap'd
/// buffer (a metadata page, then 2^n data pages). The kernel writes records and
/// advances `data_head`; we read them and advance `data_tail`.
///
/// Not thread-safe: one owner reads it at a time (`PerfEventPoller` holds its
/// rings under a lock). Closing unmaps and closes the event; the perf event
/// array keeps its own reference until the map is closed.
final class PerfRing {
    let cpu: Int
    let fd: Int32
    private let mapping: UnsafeMutableRawPointer
    private let mappingLength: Int
    private let metadata: UnsafeMutablePointer<perf_event_mmap_page>
    private let reader: RingRecordReader
    /// Our copy of `data_tail`: only we write it, so there is no need to read it back.
    private var tail: UInt64
    private(set) var statistics: PerfRingStatistics

    init(cpu: Int, options: PerfRingOptions) throws(PerfRingError) {
        guard (0...PerfRingOptions.maximumDataPageExponent).contains(options.dataPageExponent) else {
            throw .badOptions("data page exponent \(options.dataPageExponent) outside 0...\(PerfRingOptions.maximumDataPageExponent)")
        }
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        let dataSize = options.dataSize(pageSize: pageSize)
        let wakeup = options.wakeup.attribute(dataSize: dataSize)

        let fd: Int32
        do {
            fd = try RingSyscalls.openBPFOutputEvent(cpu: cpu, wakeup: wakeup.value, useWatermark: wakeup.isWatermark)
        } catch { throw .syscall(error) }
        let length = pageSize + dataSize
        let mapping: UnsafeMutableRawPointer
        do {
            mapping = try RingSyscalls.mapShared(fd: fd, length: length, cpu: cpu)
        } catch {
            RingSyscalls.close(fd)
            throw .syscall(error)
        }
        let metadata = mapping.bindMemory(to: perf_event_mmap_page.self, capacity: 1)
        // Kernels since 4.1 say where the data area is; it must be the part we mapped.
        var dataOffset = Int(metadata.pointee.data_offset)
        var reportedSize = Int(metadata.pointee.data_size)
        if dataOffset == 0 && reportedSize == 0 {
            dataOffset = pageSize
            reportedSize = dataSize
        }
        let reader: RingRecordReader
        do {
            guard dataOffset >= MemoryLayout<perf_event_mmap_page>.size, reportedSize <= length - dataOffset else {
                throw RingGeometryError(size: reportedSize)
            }
            reader = try RingRecordReader(
                data: UnsafeRawBufferPointer(start: mapping + dataOffset, count: reportedSize))
        } catch {
            RingSyscalls.unmap(mapping, length: length)
            RingSyscalls.close(fd)
            throw .badGeometry(cpu: cpu, offset: dataOffset, size: reportedSize, mapped: length)
        }
        self.cpu = cpu
        self.fd = fd
        self.mapping = mapping
        self.mappingLength = length
        self.metadata = metadata
        self.reader = reader
        self.tail = metadata.pointee.data_tail
        self.statistics = PerfRingStatistics(cpu: cpu)
    }

    deinit {
        RingSyscalls.unmap(mapping, length: mappingLength)
        RingSyscalls.close(fd)
    }

    var dataSize: Int { reader.ringSize }

    /// Makes the event count (and so accept BPF output); it is usually enabled at open already.
    func enable() throws(PerfRingError) {
        do {
            try RingSyscalls.enable(perfEvent: fd, cpu: cpu)
        } catch { throw .syscall(error) }
    }

    /// Reads every record the kernel has published, then hands the space back.
    /// Sample bytes are valid only during `onSample`.
    @discardableResult
    func read(onSample: (UnsafeRawBufferPointer) -> Void) -> RingPass {
        // Acquire: the record bytes before the head are visible once we see the head.
        let head = cbpf_ring_load_head(metadata)
        if head == tail { return RingPass() }
        let pass = reader.read(head: head, tail: tail, onSample: onSample)
        // Release: our reads of the records finish before the kernel may overwrite them.
        cbpf_ring_store_tail(metadata, head)
        tail = head
        statistics.add(pass)
        return pass
    }
}

/// Why a perf ring could not be set up.
public enum PerfRingError: Error, Sendable, Equatable, CustomStringConvertible {
    case syscall(RingSyscallError)
    case badOptions(String)
    /// The kernel described a data area we cannot read as a ring.
    case badGeometry(cpu: Int, offset: Int, size: Int, mapped: Int)
    case cpuList(CPUListError)

    public var description: String {
        switch self {
        case let .syscall(error):
            return "perf ring: \(error)"
        case let .badOptions(reason):
            return "perf ring options: \(reason)"
        case let .badGeometry(cpu, offset, size, mapped):
            return "perf ring on cpu \(cpu): kernel reports a data area of \(size) bytes at offset \(offset) "
                + "in a mapping of \(mapped) bytes; expected a power of two inside the mapping"
        case let .cpuList(error):
            return "perf rings: \(error)"
        }
    }
}
