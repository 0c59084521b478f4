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
    /// nil (`--bpf.attach auto`): tp_btf where the kernel has BTF and the object the program.
    var attachment: ProgramAttachmentKind?
    var attachMethod: AttachMethod = .automatic
    /// `--bpf.run-time-stats`: off by default, because the kernel then times every BPF
    /// program on the host, other tools' too.
    var runTimeStatistics = false
    /// Whether events carry their time (`tail` shows it). `run` only counts, and without
    /// timestamps the program skips a clock read per event.
    var eventTimestamps = true
}

/// Phase 1 of start-up, the privileged one: everything that needs a capability, on the
/// calling thread while it is the only lasting one (the listening socket is bound just before, the
/// privileges dropped just after). In the order that loses nothing: read and check the
/// object, find the tracepoint (tracefs, for the tracepoint/ program only), load, open the
/// rings, attach, so the first event already has a ring to land in; then, if asked, run-time
/// statistics. The loader's own threads (programs verified side by side) end before it returns.
/// `close()` undoes it in reverse: detach, stop the ring thread's loop, free the maps.
struct KernelSession<Sink: PerfEventSink>: ~Copyable {
    let object: LoadedObject
    let binding: RetransObjectBinding
    let poller: PerfEventPoller<Sink>
    let attachment: ProgramAttachment
    /// tp_btf's SYN-ACK program on tcp_retransmit_synack.
    let synAckAttachment: ProgramAttachment?
    /// The task iterator's link, for the per-namespace counters (nil: not loaded or refused).
    let namespaceTasks: ProgramAttachment?
    private let namespaceTasksLinkFD: Int32?
    /// Held while the session lives: the kernel counts run time only while some fd asks it to.
    let runtimeStatistics: SharedFileDescriptor?
    /// Where the object came from, for the startup log.
    let objectOrigin: String
    /// Whether this kernel's tracepoint reports `err` (failed retransmissions).
    let tracepointHasErr: Bool
    /// What `auto` decided, and why, for the startup log.
    let automaticChoices: [String]

    init(options: KernelOptions, sink: sending Sink, steps: inout StartupSteps) throws {
        let read = try steps.run("object", { try Self.readObject(options) }) { read in
            "\(read.origin): \(read.spec.programs.count) programs, \(read.spec.maps.count) maps, "
                + "layout of struct retrans_event checked; program \(RetransObjectBinding.programName(read.choice))"
                + (read.automatic.isEmpty ? "" : " (auto: \(read.automatic.joined(separator: "; ")))")
        }
        let (spec, origin, choice) = (read.spec, read.origin, read.choice)
        let transport = choice.transport
        var tracefs: Tracefs?
        var hasErr = true
        if choice.attachment == .tracepoint {
            let found = try steps.run("tracefs", { try Tracefs.locate() }) { "mounted at \($0.root)" }
            let tracepoint = RetransObjectBinding.formatTracepoint
            hasErr = try steps.run("tracepoint", {
                try found.format(category: tracepoint.category, name: tracepoint.name).hasField("err")
            }) { hasErr in
                "\(tracepoint.category)/\(tracepoint.name); "
                    + (hasErr ? "err field present: failed retransmissions counted apart"
                              : "no err field (older kernel): every hit counts as a retransmission")
            }
            tracefs = found
        } else {
            steps.record("tracefs", .done("not needed: tp_btf attaches by BTF id, not through tracefs"))
            steps.record("tracepoint", .done("btf_trace_tcp_retransmit_skb, looked up in the kernel's BTF at load; "
                + "err is an argument: failed retransmissions counted apart"))
        }
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        let ringBytes = options.rings.dataSize(pageSize: pageSize)
        var constants: [String: GlobalValue] = [RetransObjectBinding.hasErrConstant: .u32(hasErr ? 1 : 0)]
        if transport == .ringBuffer {
            let wakeup = options.rings.wakeup == .everyEvent ? 0 : ringBytes / 4
            constants[RetransObjectBinding.ringWakeupConstant] = .u64(UInt64(wakeup))
        }
        if RetransObjectBinding.declaresConstant(spec, named: RetransObjectBinding.timestampsConstant) {
            constants[RetransObjectBinding.timestampsConstant] = .u32(options.eventTimestamps ? 1 : 0)
        }
        let programs = RetransObjectBinding.programsToLoad(choice, in: spec)
        let object = try steps.run("load", {
            try LoadedObject(loading: spec, options: LoadOptions(
                constants: constants, programs: Set(programs),
                maxEntries: transport == .ringBuffer ? [RetransObjectBinding.outputMap(transport): UInt32(ringBytes)] : [:]))
        }) { object in
            "BTF \(object.btfStatus); maps \(object.maps.map(\.name).joined(separator: ", ")); "
                + "program\(programs.count == 1 ? "" : "s") \(programs.joined(separator: ", ")) verified"
        }
        let binding = try RetransObjectBinding(object, choice: choice, origin: origin)
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
            try binding.program.attachAnyKind(method: options.attachMethod, tracefs: tracefs)
        }) { $0.description }
        var synAckAttachment: ProgramAttachment?
        if let synAckProgram = binding.synAckProgram {
            do {
                let attached = try synAckProgram.attachAnyKind(method: options.attachMethod, tracefs: tracefs)
                steps.record("attach SYN-ACK", .done(attached.description))
                synAckAttachment = consume attached
            } catch {
                attachment.close()
                steps.record("attach SYN-ACK", .failed("\(error)"))
                throw error
            }
        }
        // Not needed to count: a kernel that refuses the link still runs the exporter, without
        // the per-namespace families, and says so.
        var namespaceTasks: ProgramAttachment?
        var namespaceTasksLinkFD: Int32?
        if let iterator = binding.namespaceTasksProgram {
            do {
                let attached = try iterator.attachAnyKind(method: options.attachMethod, tracefs: tracefs)
                steps.record("attach iterator", .done(attached.description))
                namespaceTasksLinkFD = attached.tracingLinkFD
                namespaceTasks = consume attached
            } catch {
                steps.record("attach iterator", .degraded(
                    "per-namespace TCP counters unavailable (\(error)): tcp_netns_* left out"))
            }
        }
        var runtimeStatistics: SharedFileDescriptor?
        if options.runTimeStatistics {
            do {
                runtimeStatistics = try RuntimeStatistics().shared()
                steps.record("statistics", .done("BPF run-time statistics enabled"))
            } catch {
                // Needs CAP_SYS_ADMIN: without it the run-time metrics are left out, not faked.
                steps.record("statistics", .degraded(
                    "BPF run-time statistics unavailable (\(error)): retrans_exporter_bpf_run_* left out"))
            }
        } else {
            steps.record("statistics", .done("BPF run-time statistics off (--bpf.run-time-stats exports retrans_exporter_bpf_run_*)"))
        }
        self.object = object
        self.binding = binding
        self.poller = poller
        self.attachment = attachment
        self.synAckAttachment = synAckAttachment
        self.namespaceTasks = namespaceTasks
        self.namespaceTasksLinkFD = namespaceTasksLinkFD
        self.runtimeStatistics = runtimeStatistics
        self.objectOrigin = origin
        self.tracepointHasErr = hasErr
        self.automaticChoices = read.automatic
    }

    /// Runs the task iterator once (phase 2 too: reading a link's fd needs no privilege); the
    /// link lives as long as the session.
    var namespaceTaskReader: (@Sendable () throws -> [UInt8])? {
        guard let fd = namespaceTasksLinkFD else { return nil }
        return { try Syscalls.kernel.readIterator(linkFD: fd) }
    }

    /// For the startup log: the rings and their memory.
    var ringsDescription: String {
        switch binding.transport {
        case .perf: "perf rings: \(poller.cpus.count) of \(poller.ringDataSize >> 10) KiB, one per CPU"
        case .ringBuffer: "ring buffer: one of \(poller.ringDataSize >> 10) KiB for every CPU"
        }
    }

    /// Detaches, stops the ring thread's loop, frees every kernel object.
    consuming func close() {
        let attachment = self.attachment
        attachment.close()
        switch consume self.synAckAttachment {
        case .some(let synAck): synAck.close()
        case .none: break
        }
        switch consume self.namespaceTasks {
        case .some(let iterator): iterator.close()
        case .none: break
        }
        poller.stop()
        runtimeStatistics?.close()
    }

    /// The object's bytes, read and checked against what the exporter needs for the chosen
    /// program. `auto` takes the ring buffer where the kernel (a one-page probe) and the object
    /// have it, and tp_btf where the kernel has BTF and the object the program.
    private static func readObject(_ options: KernelOptions) throws
        -> (spec: ObjectSpec, origin: String, choice: RetransObjectBinding.Choice, automatic: [String]) {
        let bytes: [UInt8]
        let origin: String
        if let path = options.objectPath {
            bytes = try SystemFile.readBytes(path)
            origin = path
        } else {
            bytes = Array(UnsafeBufferPointer(start: retrans_object_data(), count: retrans_object_size()))
            origin = "(embedded retrans.o, \(bytes.count) bytes)"
        }
        let spec = try withContext("read BPF object \(origin)") { try ObjectReader.read(bytes) }
        var automatic: [String] = []
        let attachment = options.attachment ?? {
            let hasProgram = RetransObjectBinding.supports(.init(transport: .perf, attachment: .btf), in: spec)
            let hasBTF = SystemFile.exists(RunningKernelBTF.directory + "/vmlinux")
            automatic.append(hasProgram && hasBTF ? "tp_btf: the kernel has BTF and the object the program"
                : "tracepoint: " + (hasBTF ? "the object has no tp_btf program" : "no /sys/kernel/btf/vmlinux"))
            return hasProgram && hasBTF ? .btf : .tracepoint
        }()
        let transport = options.transport ?? {
            let hasRing = RetransObjectBinding.supports(.init(transport: .ringBuffer, attachment: attachment), in: spec)
            let kernelHasRing = hasRing && KernelFeatures.ringBuffer()
            automatic.append(kernelHasRing ? "ring buffer: the kernel and the object have one"
                : "perf rings: " + (hasRing ? "no BPF ring buffer in this kernel" : "the object has no ring buffer program"))
            return kernelHasRing ? .ringBuffer : .perf
        }()
        let choice = RetransObjectBinding.Choice(transport: transport, attachment: attachment)
        try RetransObjectBinding.validate(spec, choice: choice, origin: origin)
        return (spec, origin, choice, automatic)
    }
}
