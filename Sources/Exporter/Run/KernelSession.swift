import BPFSyscall
import CRetransObject
import ELFReader
#if canImport(Glibc)
import Glibc
#endif

/// What `run`, `tail` and `check` ask of the kernel side.
struct KernelOptions: Sendable {
    /// `--bpf.object`; nil loads the object embedded in this binary.
    var objectPath: String?
    var rings = PerfRingOptions()
    /// nil (`--ring.kind auto`): the ring buffer where the kernel and the object have it.
    var transport: RingTransport?
    var attachMethod: AttachMethod = .automatic
}

/// Phase 1 of start-up, the privileged one: everything that needs a capability, on the
/// calling thread while it is the only one (the listening socket is bound just before, the
/// privileges dropped just after). In the order that loses nothing: read and check the
/// object, find the tracepoint, load, open the rings (stored in `events`), attach, so the
/// first event already has a ring to land in; then ask for run-time statistics.
/// `close()` undoes it in reverse: detach, stop the ring thread's loop, free the maps.
struct KernelSession<Sink: PerfEventSink>: ~Copyable {
    let object: LoadedObject
    let binding: RetransObjectBinding
    let poller: PerfEventPoller<Sink>
    let attachment: TracepointAttachment
    /// Held while the session lives: the kernel counts run time only while some fd asks it to.
    let runtimeStatistics: SharedFileDescriptor?
    /// Where the object came from, for the startup log.
    let objectOrigin: String
    /// Whether this kernel's tracepoint reports `err` (failed retransmissions).
    let tracepointHasErr: Bool
    /// `--ring.kind auto` chose the transport.
    let chosenAutomatically: Bool

    init(options: KernelOptions, sink: sending Sink, steps: inout StartupSteps) throws {
        let (spec, origin, transport) = try steps.run("object", {
            try Self.readObject(path: options.objectPath, transport: options.transport)
        }) { read in
            "\(read.origin): \(read.spec.programs.count) programs, \(read.spec.maps.count) maps, "
                + "layout of struct retrans_event checked; transport \(read.transport.rawValue)"
                + (options.transport == nil ? " (auto: \(Self.automaticReason(read.transport)))" : "")
        }
        let tracefs = try steps.run("tracefs", { try Tracefs.locate() }) { "mounted at \($0.root)" }
        let tracepoint = RetransObjectBinding.formatTracepoint
        let hasErr = try steps.run("tracepoint", {
            try tracefs.format(category: tracepoint.category, name: tracepoint.name).hasField("err")
        }) { hasErr in
            "\(tracepoint.category)/\(tracepoint.name); "
                + (hasErr ? "err field present: failed retransmissions counted apart"
                          : "no err field (older kernel): every hit counts as a retransmission")
        }
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        let ringBytes = options.rings.dataSize(pageSize: pageSize)
        var constants: [String: GlobalValue] = [RetransObjectBinding.hasErrConstant: .u32(hasErr ? 1 : 0)]
        if transport == .ringBuffer {
            let wakeup = options.rings.wakeup == .everyEvent ? 0 : ringBytes / 4
            constants[RetransObjectBinding.ringWakeupConstant] = .u64(UInt64(wakeup))
        }
        let program = RetransObjectBinding.programName(transport)
        let object = try steps.run("load", {
            try LoadedObject(loading: spec, options: LoadOptions(
                constants: constants, programs: [program],
                maxEntries: transport == .ringBuffer ? [RetransObjectBinding.outputMap(transport): UInt32(ringBytes)] : [:]))
        }) { object in
            "BTF \(object.btfStatus); maps \(object.maps.map(\.name).joined(separator: ", ")); "
                + "program \(program) verified"
        }
        let binding = try RetransObjectBinding(object, transport: transport, origin: origin)
        // Not through `steps.run`: a closure could not take the `sending` sink along.
        let poller: PerfEventPoller<Sink>
        do {
            switch transport {
            case .perf:
                poller = try PerfEventPoller(perfEventArray: binding.output, options: options.rings, sink: sink)
                steps.record("rings", .done("\(poller.cpus.count) CPU perf rings of \(poller.ringDataSize >> 10) KiB"))
            case .ringBuffer:
                poller = try PerfEventPoller(ringBuffer: binding.output, sink: sink)
                steps.record("rings", .done("one ring buffer of \(poller.ringDataSize >> 10) KiB for every CPU"))
            }
        } catch {
            let failure = ContextError("open the \(transport == .perf ? "per-CPU perf rings" : "ring buffer")", error)
            steps.record("rings", .failed("\(failure)"))
            throw failure
        }
        let attachment = try steps.run("attach", {
            try binding.program.attach(method: options.attachMethod, tracefs: tracefs)
        }) { "tracepoint \($0.category)/\($0.name) via \($0.method.rawValue)" }
        var runtimeStatistics: SharedFileDescriptor?
        do {
            runtimeStatistics = try RuntimeStatistics().shared()
            steps.record("statistics", .done("BPF run-time statistics enabled"))
        } catch {
            // Needs CAP_SYS_ADMIN: without it the run-time metrics are left out, not faked.
            steps.record("statistics", .degraded(
                "BPF run-time statistics unavailable (\(error)): retrans_exporter_bpf_run_* left out"))
        }
        self.object = object
        self.binding = binding
        self.poller = poller
        self.attachment = attachment
        self.runtimeStatistics = runtimeStatistics
        self.objectOrigin = origin
        self.tracepointHasErr = hasErr
        self.chosenAutomatically = options.transport == nil
    }

    /// For the startup log: which transport, why, and its memory.
    var ringsDescription: String {
        let chosen = chosenAutomatically ? " (auto: \(Self.automaticReason(binding.transport)))" : ""
        return switch binding.transport {
        case .perf: "perf rings\(chosen): \(poller.cpus.count) of \(poller.ringDataSize >> 10) KiB, one per CPU"
        case .ringBuffer: "ring buffer\(chosen): one of \(poller.ringDataSize >> 10) KiB for every CPU"
        }
    }

    /// Detaches, stops the ring thread's loop, frees every kernel object.
    consuming func close() {
        let attachment = self.attachment
        attachment.close()
        poller.stop()
        runtimeStatistics?.close()
    }

    static func automaticReason(_ transport: RingTransport) -> String {
        transport == .ringBuffer ? "the kernel and the object have a BPF ring buffer"
            : "no BPF ring buffer in this kernel or object"
    }

    /// The object's bytes, read and checked against what the exporter needs for `transport`
    /// (nil: the ring buffer where both the kernel and the object have it).
    private static func readObject(path: String?, transport: RingTransport?) throws
        -> (spec: ObjectSpec, origin: String, transport: RingTransport) {
        let bytes: [UInt8]
        let origin: String
        if let path {
            bytes = try SystemFile.readBytes(path)
            origin = path
        } else {
            bytes = Array(UnsafeBufferPointer(start: retrans_object_data(), count: retrans_object_size()))
            origin = "(embedded retrans.o, \(bytes.count) bytes)"
        }
        let spec = try withContext("read BPF object \(origin)") { try ObjectReader.read(bytes) }
        let chosen = transport ?? (RetransObjectBinding.supports(.ringBuffer, in: spec) && KernelFeatures.ringBuffer()
            ? .ringBuffer : .perf)
        try RetransObjectBinding.validate(spec, transport: chosen, origin: origin)
        return (spec, origin, chosen)
    }
}
