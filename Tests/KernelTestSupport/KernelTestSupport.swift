/// KernelTestSupport: shared harness for tests that run against the real kernel.
///
/// What it offers (each in its own file):
/// - `KernelTestEnvironment`: whether we may run kernel tests at all (root), for `.enabled(if:)`.
/// - `Command`: THE way tests run programs (posix_spawnp): run a program or shell line,
///   optional stdin and environment, stdout/stderr captured, a timeout; `Command.start`
///   for a background process (`stop`, `send`, output so far) signalled only by its PID.
/// - `SeededRandom`: a seeded SplitMix64 generator, so random inputs replay.
/// - `Benchmark`: the `RTX_BENCH=1` switch of figure-printing tests.
/// - `VethNamespaces`: two network namespaces joined by a veth pair, IPv4 + IPv6,
///   optionally with an nftables rule in the receiver dropping ~1 in N inbound packets to a port.
/// - `BulkTransfer`: a bounded TCP transfer between those namespaces (python3 sockets),
///   the sender pinned to one CPU with `taskset`.
/// - `FtraceCounter`: a private ftrace instance counting one tracepoint (filtered or not),
///   the independent ground truth; checks that no record was overrun; its records parsed
///   as `TracepointHit`s (addresses, ports, state, err).
/// - `Bpftool`: `bpftool ... -j` as an independent witness of programs, links and perf attachments.
/// - `NetnsCounters`: `/proc/net/snmp` + `/proc/net/netstat` of one namespace (`Tcp.RetransSegs`,
///   `TcpExt.TCPFastRetrans`, ...) and their deltas: the kernel's own retransmission counters.
/// - `RetransmissionScenario`: a flow in a lab of its own provoking one kind of retransmission on
///   purpose (timeout, fast, tail loss probe, SYN, SYN-ACK) with nftables drops in the receiver,
///   returning the counter deltas of both namespaces.
/// - `RetransmissionKindWitness`: bpftrace at tcp_retransmit_skb/_synack classifying each
///   retransmission from the kernel's socket state (BTF), an independent check of a kind rule.
///
/// Every resource has a `delete()`/`remove()` that is idempotent and safe to call
/// from `defer`; each also cleans up leftovers with the same name from an earlier
/// crashed run before creating. Use the names, subnets and ports assigned to your
/// suite so that suites running at the same time do not see each other's traffic.
///
/// Typical test:
///
///     let lab = try VethNamespaces.create(name: "rtx-ld-v4", ipv4Network: "10.203.1", ipv6Network: "fd00:203::1")
///     defer { lab.delete() }
///     try lab.dropInbound(port: 7101, oneIn: 10)
///     let ftrace = try FtraceCounter.create(name: "rtx-ld-v4", filter: FtraceCounter.portFilter(7101))
///     defer { ftrace.remove() }
///     try BulkTransfer(lab: lab, family: .ipv4, port: 7101, bytes: 4 << 20, senderCPU: 1).run()
///     lab.delete()  // no socket left to retransmit
///     let count = try ftrace.stopAndCount()
public enum KernelTestEnvironment {
    /// Kernel tests need root (bpf(2), netns, tracefs).
    public static var isRoot: Bool { geteuid() == 0 }

    public static let skipReason = "needs root (bpf(2), network namespaces, tracefs): run the tests as root"
}

#if canImport(Glibc)
import Glibc
#endif
