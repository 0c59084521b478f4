import BPFSyscall
import CRetransObject
import ELFReader

/// What `run` and `tail` ask of the kernel side.
struct KernelOptions: Sendable {
    /// `--bpf.object`; nil loads the object embedded in this binary.
    var objectPath: String?
    var rings = PerfRingOptions()
    /// How often every ring is read even when no wakeup came (batched wakeups leave
    /// up to a watermark of records waiting).
    var drainInterval: Duration = .milliseconds(500)
    var attachMethod: AttachMethod = .automatic
}

/// The BPF side of the exporter, live: the loaded object, its rings, the attachment.
///
/// Built in the order that loses nothing: load, open the rings (and store them in
/// `events`), then attach, so the first event already has a ring to land in.
/// `close()` undoes it in reverse: detach first, then stop reading, then free the maps.
struct KernelSession<Sink: PerfEventSink>: ~Copyable {
    static var programName: String { "tcp_retransmit_skb" }
    /// The tracepoint whose format tells whether `err` exists. The program itself attaches to
    /// the tracepoint its section names (`attachment` says which): `make bench` loads a stand-in
    /// object whose program of this name sits on syscalls/sys_enter_getppid.
    static var tracepoint: (category: String, name: String) { ("tcp", "tcp_retransmit_skb") }

    let object: LoadedObject
    let poller: PerfEventPoller<Sink>
    let attachment: TracepointAttachment
    /// Where the object came from, for the startup log.
    let objectOrigin: String
    /// Whether this kernel's tracepoint reports `err` (failed retransmissions).
    let tracepointHasErr: Bool

    init(options: KernelOptions, sink: sending Sink) throws {
        let (bytes, origin) = try Self.objectBytes(path: options.objectPath)
        let spec = try withContext("read BPF object \(origin)") { try ObjectReader.read(bytes) }

        let tracefs = try Tracefs.locate()
        let format = try tracefs.format(category: Self.tracepoint.category, name: Self.tracepoint.name)
        let hasErr = format.hasField("err")

        let object = try LoadedObject(loading: spec, options: LoadOptions(
            constants: ["tracepoint_has_err": .u32(hasErr ? 1 : 0)]))
        guard let events = object.map(named: "events") else {
            throw KernelSessionError.missingEventsMap(origin: origin)
        }
        let poller: PerfEventPoller<Sink>
        do {
            poller = try PerfEventPoller(perfEventArray: events, options: options.rings, sink: sink)
        } catch {
            throw ContextError("open the per-CPU perf rings", error)
        }
        let attachment = try object.attach(program: Self.programName, method: options.attachMethod,
                                           tracefs: tracefs)
        self.object = object
        self.poller = poller
        self.attachment = attachment
        self.objectOrigin = origin
        self.tracepointHasErr = hasErr
    }

    /// Detaches, stops the ring thread's loop, frees every kernel object.
    consuming func close() {
        let attachment = self.attachment
        attachment.close()
        poller.stop()
    }

    private static func objectBytes(path: String?) throws -> ([UInt8], String) {
        guard let path else {
            let embedded = Array(UnsafeBufferPointer(start: retrans_object_data(), count: retrans_object_size()))
            return (embedded, "(embedded retrans.o, \(embedded.count) bytes)")
        }
        return (try SystemFile.readBytes(path), path)
    }
}

enum KernelSessionError: Error, CustomStringConvertible {
    case missingEventsMap(origin: String)

    var description: String {
        switch self {
        case .missingEventsMap(let origin):
            "BPF object \(origin) has no map named `events`: the exporter reads its perf event array"
        }
    }
}
