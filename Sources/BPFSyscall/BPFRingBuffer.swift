#if canImport(Glibc)
import Glibc
#endif
import ELFReader

/// A ring the poller reads: one CPU's perf ring, or the BPF ring buffer all CPUs share.
protocol EventRing: AnyObject {
    /// The CPU whose events it holds; -1 for the ring buffer, which holds every CPU's.
    var cpu: Int { get }
    /// What epoll waits on.
    var pollDescriptor: Int32 { get }
    /// Whether epoll should report it only when the kernel wakes it (see `BPFRingBuffer`).
    var pollsEdgeTriggered: Bool { get }
    var dataSize: Int { get }
    var statistics: PerfRingStatistics { get }
    /// Reads every complete record and hands the space back; sample bytes are valid only
    /// during `onSample`.
    func read(onSample: (UnsafeRawBufferPointer) -> Void) -> RingPass
}

extension PerfRing: EventRing {
    var pollDescriptor: Int32 { fd.rawValue }
    /// A perf event is readable only once its wakeup watermark has been reached.
    var pollsEdgeTriggered: Bool { false }
}

/// A `BPF_MAP_TYPE_RINGBUF` map, mapped for reading: the consumer page (ours,
/// read-write), then the producer page and the data area (the kernel's,
/// read-only), as the kernel lays them out at offsets 0 and one page. The kernel
/// lays the data area out twice in a row, but only the first copy is mapped: it
/// inserts every page at `mmap`, so a second copy would count the area twice in
/// the RSS; `RingBufferReader` joins a sample that wraps. Its memory is the map's
/// `max_entries` bytes whatever the number of CPUs.
///
/// A full ring makes `bpf_ringbuf_reserve` fail in the program, which counts it:
/// there is no lost record to read here. Not thread-safe: the poller holds it
/// under its lock.
final class BPFRingBuffer: EventRing {
    let cpu = -1
    private let map: LoadedMap
    private let consumerPage: UnsafeMutableRawPointer
    private let producerMapping: UnsafeMutableRawPointer
    private let pageSize: Int
    private let reader: RingBufferReader
    /// Our copy of the consumer position: only we write it.
    private var consumer: UInt64
    private(set) var statistics = PerfRingStatistics(cpu: -1)
    private let syscalls: Syscalls

    init(map: LoadedMap, syscalls: Syscalls) throws(PerfRingError) {
        guard map.spec.type == .ringBuffer else {
            throw .notARingBuffer(map: map.name, type: map.spec.type.rawValue)
        }
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        let size = Int(map.spec.maxEntries)
        let consumerPage: UnsafeMutableRawPointer
        let producerMapping: UnsafeMutableRawPointer
        do {
            consumerPage = try syscalls.mapShared(fd: map.fd, length: pageSize, what: "ring buffer consumer page")
        } catch { throw .syscall(cpu: nil, error) }
        do {
            producerMapping = try syscalls.mapShared(fd: map.fd, length: pageSize + size, offset: pageSize,
                                                     writable: false, what: "ring buffer data")
        } catch {
            syscalls.unmap(consumerPage, length: pageSize)
            throw .syscall(cpu: nil, error)
        }
        do {
            reader = try RingBufferReader(data: UnsafeRawBufferPointer(start: producerMapping + pageSize, count: size))
        } catch {
            syscalls.unmap(consumerPage, length: pageSize)
            syscalls.unmap(producerMapping, length: pageSize + size)
            throw .badGeometry(cpu: -1, offset: pageSize, size: size, mapped: pageSize + size)
        }
        self.map = map
        self.consumerPage = consumerPage
        self.producerMapping = producerMapping
        self.pageSize = pageSize
        self.consumer = RingPositions.loadAcquire(consumerPage)
        self.syscalls = syscalls
    }

    deinit {
        syscalls.unmap(consumerPage, length: pageSize)
        syscalls.unmap(producerMapping, length: pageSize + reader.ringSize)
    }

    var pollDescriptor: Int32 { map.fd }
    /// The ring buffer is readable whenever one byte waits: polled level-triggered, a reader
    /// woken for a batch would then chase the producer record by record (an epoll_wait and a
    /// pass for each, 300-400 ns of its CPU per event, docs/BENCHMARKS.md). Edge-triggered, it
    /// reads what the wakeup announced and waits for the kernel's next one (the program forces
    /// one at the watermark) or its drain timer, as perf rings do.
    var pollsEdgeTriggered: Bool { true }
    var dataSize: Int { reader.ringSize }

    func read(onSample: (UnsafeRawBufferPointer) -> Void) -> RingPass {
        let producer = RingPositions.loadAcquire(producerMapping)
        if producer == consumer { return RingPass() }
        let (next, pass) = reader.read(consumer: consumer, producer: producer,
                                       loadLength: { RingPositions.loadAcquire32($0) }, onSample: onSample)
        if next != consumer {
            RingPositions.storeRelease(consumerPage, next)
            consumer = next
        }
        statistics.add(pass)
        return pass
    }
}
