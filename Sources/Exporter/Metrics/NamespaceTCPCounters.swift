import BPFSyscall
#if canImport(Glibc)
import Glibc
#endif

/// The kernel's own TCP counters of one network namespace: the denominator of a workload's
/// retransmission ratio, and the counters each retransmission kind reconciles with
/// (docs/METRICS.md, "Kind").
struct NamespaceTCPCounters: Sendable, Equatable {
    var sent: UInt64
    var retransmitted: UInt64
    var fastRetransmits: UInt64
    var slowStartRetransmits: UInt64
    var timeouts: UInt64
    var lossProbes: UInt64
    var synRetransmits: UInt64

    /// The families, in exposition order: name, HELP, and where the number comes from.
    static let families: [(name: String, help: String, value: @Sendable (NamespaceTCPCounters) -> UInt64)] = [
        ("tcp_netns_segments_sent_total", "Tcp OutSegs of each network namespace (label netns, its inode).", { $0.sent }),
        ("tcp_netns_segments_retransmitted_total",
         "Tcp RetransSegs of each network namespace: equals the sum of tcp_retransmitted_segments_total over the namespace.",
         { $0.retransmitted }),
        ("tcp_netns_fast_retransmits_total", "TcpExt TCPFastRetrans of each network namespace: segments of kind fast.",
         { $0.fastRetransmits }),
        ("tcp_netns_slow_start_retransmits_total",
         "TcpExt TCPSlowStartRetrans of each network namespace: segments of kind timeout after the RTO's own.",
         { $0.slowStartRetransmits }),
        ("tcp_netns_timeouts_total",
         "TcpExt TCPTimeouts of each network namespace: retransmission timer expiries (data, SYN and SYN-ACK).", { $0.timeouts }),
        ("tcp_netns_loss_probes_total",
         "TcpExt TCPLossProbes of each network namespace: tail loss probes, retransmissions (kind tlp) or new data.",
         { $0.lossProbes }),
        ("tcp_netns_syn_retransmits_total",
         "TcpExt TCPSynRetrans of each network namespace: SYN and SYN-ACK retransmissions (kinds syn and synack).",
         { $0.synRetransmits }),
    ]

    /// From `/proc/PID/net/snmp` and `/proc/PID/net/netstat`: the namespace of process `pid`,
    /// readable by anyone.
    static func read(pid: Int32) throws -> NamespaceTCPCounters {
        let snmpPath = "/proc/\(pid)/net/snmp"
        let netstatPath = "/proc/\(pid)/net/netstat"
        let tcp = try ProcNetCounters.section("Tcp", of: try SystemFile.readBytes(snmpPath), path: snmpPath)
        let ext = try ProcNetCounters.section("TcpExt", of: try SystemFile.readBytes(netstatPath), path: netstatPath)
        return NamespaceTCPCounters(
            sent: try tcp.value("OutSegs"), retransmitted: try tcp.value("RetransSegs"),
            fastRetransmits: try ext.value("TCPFastRetrans"), slowStartRetransmits: try ext.value("TCPSlowStartRetrans"),
            timeouts: try ext.value("TCPTimeouts"), lossProbes: try ext.value("TCPLossProbes"),
            synRetransmits: try ext.value("TCPSynRetrans"))
    }
}

/// One record of the `netns_tasks` iterator (bpf/retrans.c, `struct netns_task`): a process
/// in a network namespace, and when it started.
struct NamespaceTask: Sendable, Equatable {
    var networkNamespace: UInt32
    var processID: Int32
    /// `task->start_boottime`, ns since boot.
    var startBootNanoseconds: UInt64

    static let size = 16

    /// Every whole record in `bytes`; a trailing partial one is ignored.
    static func decode(_ bytes: [UInt8]) -> [NamespaceTask] {
        bytes.withUnsafeBytes { raw in
            stride(from: 0, to: raw.count - size + 1, by: size).map { offset in
                NamespaceTask(
                    networkNamespace: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)),
                    processID: Int32(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 4, as: Int32.self)),
                    startBootNanoseconds: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)))
            }
        }
    }
}

/// The TCP counters of every network namespace the host has a process in, read after the
/// privileges are gone: the iterator says which process is in which namespace (what
/// /proc/PID/ns/net would say only to a privileged reader), /proc/PID/net/* says the rest.
struct NamespaceCounterCollector: Sendable {
    /// One run of the iterator: its raw records.
    let iterate: @Sendable () throws -> [UInt8]
    /// Clock ticks per second, for /proc/PID/stat's start time.
    let ticksPerSecond = UInt64(max(1, sysconf(Int32(_SC_CLK_TCK))))

    struct Outcome: Sendable {
        var counters: [(netns: UInt32, counters: NamespaceTCPCounters)] = []
        /// Namespaces whose process was gone (or replaced) before its files were read.
        var skipped = 0
        var error: String?
    }

    func collect() -> Outcome {
        var outcome = Outcome()
        let tasks: [NamespaceTask]
        do {
            tasks = NamespaceTask.decode(try iterate())
        } catch {
            outcome.error = "\(error)"
            return outcome
        }
        for task in tasks.sorted(by: { $0.networkNamespace < $1.networkNamespace }) {
            guard startedWhenTheIteratorSaw(task), let counters = try? NamespaceTCPCounters.read(pid: task.processID),
                  startedWhenTheIteratorSaw(task) else {
                outcome.skipped += 1
                continue
            }
            outcome.counters.append((task.networkNamespace, counters))
        }
        return outcome
    }

    /// The PID still names the process the iterator saw: its start time (field 22 of
    /// /proc/PID/stat, in ticks since boot) is the same. Checked before and after the read.
    private func startedWhenTheIteratorSaw(_ task: NamespaceTask) -> Bool {
        // Bytes, not Characters: a Character search from the end cost 50 k instructions a file.
        guard let stat = try? SystemFile.readBytes("/proc/\(task.processID)/stat"),
              let close = stat.lastIndex(of: UInt8(ascii: ")")) else { return false }
        // Fields after the command name (which may hold spaces): state is field 3, starttime 22.
        let fields = stat[(close + 1)...].split(separator: UInt8(ascii: " "))
        guard fields.count > 19, let ticks = ProcNetCounters.decimal(fields[19]) else { return false }
        let expected = task.startBootNanoseconds / (1_000_000_000 / ticksPerSecond)
        return ticks == expected || ticks == expected + 1 || ticks + 1 == expected
    }
}
