import CBPFSyscall
#if canImport(Glibc)
import Glibc
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
    let fd: FileDescriptor
    private let mapping: UnsafeMutableRawPointer
    private let mappingLength: Int
    private let metadata: UnsafeMutablePointer<perf_event_mmap_page>
    private let reader: RingRecordReader
    /// Our copy of `data_tail`: only we write it, so there is no need to read it back.
    private var tail: UInt64
    private(set) var statistics: PerfRingStatistics
    private let syscalls: Syscalls

    init(cpu: Int, options: PerfRingOptions, syscalls: Syscalls = .kernel) throws(PerfRingError) {
        guard (0...PerfRingOptions.maximumDataPageExponent).contains(options.dataPageExponent) else {
            throw .badOptions("data page exponent \(options.dataPageExponent) outside 0...\(PerfRingOptions.maximumDataPageExponent)")
        }
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        let dataSize = options.dataSize(pageSize: pageSize)
        let wakeup = options.wakeup.attribute(dataSize: dataSize)

        // A BPF output event for any process on this CPU; every sample is one `bpf_perf_event_output`.
        let request = PerfEventOpenRequest(
            type: PERF_TYPE_SOFTWARE.rawValue, config: UInt64(PERF_COUNT_SW_BPF_OUTPUT.rawValue),
            sampleType: UInt64(PERF_SAMPLE_RAW.rawValue), samplePeriod: 1,
            wakeup: wakeup.value, useWatermark: wakeup.isWatermark, pid: -1, cpu: Int32(cpu),
            flags: UInt(PERF_FLAG_FD_CLOEXEC))
        let fd: FileDescriptor
        do {
            fd = try syscalls.openPerfEvent(request)
        } catch { throw .syscall(cpu: cpu, error) }
        let length = pageSize + dataSize
        let mapping: UnsafeMutableRawPointer
        do {
            mapping = try syscalls.mapShared(fd: fd.rawValue, length: length, what: "perf ring")
        } catch { throw .syscall(cpu: cpu, error) }
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
            syscalls.unmap(mapping, length: length)
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
        self.syscalls = syscalls
    }

    deinit {
        syscalls.unmap(mapping, length: mappingLength)
        // `fd` closes as it is destroyed, after the unmap.
    }

    var dataSize: Int { reader.ringSize }

    /// Makes the event count (and so accept BPF output); it is usually enabled at open already.
    func enable(syscalls: Syscalls) throws(PerfRingError) {
        do {
            try syscalls.ioctl(fd.rawValue, CBPF_PERF_EVENT_IOC_ENABLE, 0, name: "PERF_EVENT_IOC_ENABLE")
        } catch { throw .syscall(cpu: cpu, error) }
    }

    /// Reads every record the kernel has published, then hands the space back.
    /// Sample bytes are valid only during `onSample`.
    @discardableResult
    func read(onSample: (UnsafeRawBufferPointer) -> Void) -> RingPass {
        let head = RingPositions.loadHead(metadata)
        if head == tail { return RingPass() }
        let pass = reader.read(head: head, tail: tail, onSample: onSample)
        RingPositions.storeTail(metadata, head)
        tail = head
        statistics.add(pass)
        return pass
    }
}

/// Why the perf rings could not be set up.
public enum PerfRingError: Error, Sendable, Equatable, CustomStringConvertible {
    case syscall(cpu: Int?, SyscallError)
    case badOptions(String)
    /// The kernel described a data area we cannot read as a ring.
    case badGeometry(cpu: Int, offset: Int, size: Int, mapped: Int)
    case onlineCPUs(reason: String)
    case notAPerfEventArray(map: String, type: UInt32)
    case notARingBuffer(map: String, type: UInt32)
    case storeInMap(map: String, cpu: Int, reason: String)

    public var description: String {
        switch self {
        case let .syscall(cpu?, error):
            return "perf ring on cpu \(cpu): \(error)"
        case let .syscall(nil, error):
            return "perf rings: \(error)"
        case let .badOptions(reason):
            return "perf ring options: \(reason)"
        case let .badGeometry(cpu, offset, size, mapped):
            return "perf ring on cpu \(cpu): the kernel reports a data area of \(size) bytes at offset \(offset) "
                + "in a mapping of \(mapped) bytes; expected a power of two inside the mapping"
        case let .onlineCPUs(reason):
            return "perf rings: cannot list online CPUs: \(reason)"
        case let .notAPerfEventArray(map, type):
            return "perf rings: map `\(map)` has type \(type), not BPF_MAP_TYPE_PERF_EVENT_ARRAY (4)"
        case let .notARingBuffer(map, type):
            return "ring buffer: map `\(map)` has type \(type), not BPF_MAP_TYPE_RINGBUF (27)"
        case let .storeInMap(map, cpu, reason):
            return "perf ring on cpu \(cpu): cannot store it in map `\(map)`: \(reason)"
                + " (a perf event array needs an entry for every CPU)"
        }
    }
}
