import BPFSyscall
import Foundation
import KernelTestSupport
import Testing
@testable import Exporter

/// Every retransmission attributed to its workload, against ground truth from outside the
/// exporter: two namespaced hosts, each host's processes moved into a cgroup of its own (a
/// Kubernetes-shaped one and a systemd-service-shaped one) before they make their sockets,
/// lossy transfers both ways (IPv4 one way, IPv6 the other). Per host, the exporter's counts
/// with the host's `cgroup`, `pod_uid`, `container_id` and `netns` must be the ftrace
/// instance's hits from that host's addresses; its segments must be the change of
/// `Tcp: RetransSegs` in that host's own /proc/net/snmp; the always-on per-workload family
/// must carry the same segments. Everything is removed afterwards. Serial, under the kernel lock.
@Suite(.serialized, .enabled(if: RunningExporter.canRun && Command.which("python3") != nil,
                             "needs root, python3 and the built exporter"))
struct WorkloadAttributionTests {
    static let podUID = "5d6e7f80-91a2-4b3c-8d4e-5f60718293a4"
    static let containerID = "c0ffee00" + String(repeating: "1234abcd", count: 7)
    static let kubernetesPath = "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod"
        + podUID.replacing("-", with: "_") + ".slice/cri-containerd-" + containerID + ".scope"
    static let servicePath = "/rtx-wl.slice/rtx-wl-api.service"
    static let ports: (toReceiver: UInt16, toSender: UInt16) = (7170, 7171)

    /// One host of the lab: its namespace, cgroup and what the exporter should label it with.
    struct Host {
        var namespace: String
        var cgroup: String
        var podUID: String
        var containerID: String
        var addresses: Set<String>
        var netnsInode: String
    }

    @Test func countsSegmentsAndLabelsPerHostMatchFtraceAndTheKernelsCounters() throws {
        let mount = try CgroupMount.find()
        let cgroups = CgroupFixture(mount: mount)
        defer { cgroups.removeAll() }
        try cgroups.create(Self.kubernetesPath)
        try cgroups.create(Self.servicePath)

        let lab = try VethNamespaces.create(name: "rtx-wl", ipv4Network: "10.203.70", ipv6Network: "fd00:203::46")
        defer { lab.delete() }
        let sender = Host(namespace: lab.sender, cgroup: Self.kubernetesPath, podUID: Self.podUID,
                          containerID: Self.containerID, addresses: [lab.senderIPv4, lab.senderIPv6],
                          netnsInode: try Self.netnsInode(lab.sender))
        let receiver = Host(namespace: lab.receiver, cgroup: Self.servicePath, podUID: "", containerID: "",
                            addresses: [lab.receiverIPv4, lab.receiverIPv6], netnsInode: try Self.netnsInode(lab.receiver))
        #expect(sender.netnsInode != receiver.netnsInode)
        // Data to the receiver loses 1 in 10 on its way in, and data to the sender too.
        try lab.dropInbound(port: Self.ports.toReceiver, oneIn: 10)
        try Self.dropInbound(in: lab.sender, port: Self.ports.toSender, oneIn: 10)

        // Each namespace keeps a process, as a pod's pause container does: the per-namespace
        // counters are those of namespaces the host has a process in.
        let pauses = try [lab.sender, lab.receiver].map { try Command.start(["ip", "netns", "exec", $0, "sleep", "600"]) }
        defer { for pause in pauses { pause.kill() } }
        let ftrace = try FtraceCounter.create(
            name: "rtx-wl", filter: "\(FtraceCounter.portFilter(Self.ports.toReceiver)) || \(FtraceCounter.portFilter(Self.ports.toSender))")
        defer { ftrace.remove() }
        let exporter = try RunningExporter.run(port: 21390, [
            "--metrics.labels", "src_port,dst_port,kind,netns,cgroup,pod_uid,container_id"])
        defer { _ = exporter.stop() }
        try exporter.waitUntilAttached()
        let before = try [sender, receiver].map { try Self.retransmittedSegments(in: $0.namespace) }

        // IPv4 from the sender's pod to the receiver's service, IPv6 back.
        try Self.transfer(from: sender, to: receiver, lab: lab, address: lab.receiverIPv4, port: Self.ports.toReceiver)
        try Self.transfer(from: receiver, to: sender, lab: lab, address: lab.senderIPv6, port: Self.ports.toSender)
        try lab.waitUntilQuiet(port: Self.ports.toReceiver)
        try lab.waitUntilQuiet(port: Self.ports.toSender)
        let after = try [sender, receiver].map { try Self.retransmittedSegments(in: $0.namespace) }
        let hits = try ftrace.stopAndReadHits()
        let metrics = try exporter.scrape()

        let ours: ([String: String]) -> Bool = {
            [Self.ports.toReceiver, Self.ports.toSender].map(String.init).contains($0["src_port"] ?? "")
                || [Self.ports.toReceiver, Self.ports.toSender].map(String.init).contains($0["dst_port"] ?? "")
        }
        let hostRuns = metrics.programRuns
        metrics.expectEveryWrittenRecordRead()
        let misses = metrics.value("retrans_exporter_bpf_recursion_misses_total") ?? 0
        for (index, host) in [sender, receiver].enumerated() {
            let truth = hits.filter { host.addresses.contains($0.sourceAddress) }
            let succeeded = truth.filter { $0.err == 0 }.count
            let labelled: ([String: String]) -> Bool = {
                ours($0) && $0["netns"] == host.netnsInode && $0["cgroup"] == host.cgroup
                    && $0["pod_uid"] == host.podUID && $0["container_id"] == host.containerID
            }
            let counted = Int(metrics.sum("tcp_retransmissions_total", where: labelled))
            let segments = Int(metrics.sum("tcp_retransmitted_segments_total", where: labelled))
            let kernelSegments = Int(after[index] - before[index])
            let byCgroup = Int(metrics.sum("tcp_retransmitted_segments_by_cgroup_total", where: {
                $0["netns"] == host.netnsInode && $0["cgroup"] == host.cgroup
                    && $0["pod_uid"] == host.podUID && $0["container_id"] == host.containerID
            }))
            // The namespace's own counters, as the exporter reads them after dropping every
            // privilege (task iterator + /proc/PID/net): the test's read of the same files.
            let served = metrics.series("tcp_netns_segments_retransmitted_total").filter { $0.labels["netns"] == host.netnsInode }
            #expect(served.map(\.value) == [Double(after[index])], "tcp_netns_segments_retransmitted_total \(served.map(\.value))")
            print("""
                \(host.cgroup) netns \(host.netnsInode): ftrace \(succeeded) (+\(truth.count - succeeded) failed), \
                exporter \(counted); segments \(segments), RetransSegs +\(kernelSegments), by cgroup \(byCgroup)
                """)
            #expect(succeeded > 0, "the lossy transfer retransmitted nothing from \(host.namespace)")
            // Never more than happened; a shortfall only within the known ftrace gap.
            #expect(counted <= succeeded && segments <= kernelSegments)
            #expect(UnrunHits.acceptable(shortfall: succeeded - counted, hits: succeeded, hostRuns: hostRuns,
                                         declaredMisses: misses),
                    "ftrace \(succeeded), exporter \(counted), program runs \(hostRuns), declared missed \(misses)")
            // The per-workload family sees exactly the same events as the flow family.
            #expect(byCgroup == segments)
            // Exact when every hit ran the program (the known gap: docs/BENCHMARKS.md, "Co-tenancy").
            if counted == succeeded {
                #expect(segments == kernelSegments, "every hit counted, so every segment must be")
            } else {
                withKnownIssue(Comment(rawValue: UnrunHits.knownIssue), isIntermittent: true) {
                    #expect(counted == succeeded)
                }
            }
        }
        // Nothing of these flows went to another cgroup or namespace, and every kind is known.
        let attributed = metrics.series("tcp_retransmissions_total").filter { ours($0.labels) }
        let hosts = [sender, receiver]
        for sample in attributed {
            #expect(hosts.contains { $0.netnsInode == sample.labels["netns"] && $0.cgroup == sample.labels["cgroup"] },
                    "\(sample.labels)")
            #expect(["timeout", "fast", "tlp", "syn", "synack", "other"].contains(sample.labels["kind"] ?? ""),
                    "\(sample.labels)")
        }
    }

    /// Kernels without BTF: the tracepoint/ fallback still counts every retransmission exactly,
    /// the attribution labels are empty, the segment families have no series, and one log line
    /// says why.
    @Test func theTracepointFallbackCountsExactlyWithEmptyAttribution() throws {
        let port: UInt16 = 7172
        let lab = try VethNamespaces.create(name: "rtx-wl-tp", ipv4Network: "10.203.71", ipv6Network: "fd00:203::47")
        defer { lab.delete() }
        try lab.dropInbound(port: port, oneIn: 10)
        let ftrace = try FtraceCounter.create(name: "rtx-wl-tp", filter: FtraceCounter.portFilter(port))
        defer { ftrace.remove() }
        let exporter = try RunningExporter.run(port: 21391, [
            "--bpf.attach", "tracepoint", "--metrics.labels", "src_port,dst_port,kind,netns,cgroup,pod_uid,container_id"])
        defer { _ = exporter.stop() }
        try exporter.waitUntilAttached()
        try BulkTransfer(lab: lab, family: .ipv4, port: port, bytes: 4 << 20).run()
        try lab.waitUntilQuiet(port: port)
        let truth = try ftrace.retransmissions()
        _ = try ftrace.stopAndCount()
        let metrics = try exporter.scrape()
        let figures = metrics.expectFlowCounts(truth, port: port)
        print("tracepoint fallback: ftrace \(truth.succeeded) (+\(truth.failed) failed), exporter \(figures.counted)")
        #expect(truth.succeeded > 0)
        let flows = metrics.series("tcp_retransmissions_total").filter { $0.labels["dst_port"] == "\(port)" }
        #expect(!flows.isEmpty)
        for sample in flows {
            for label in ["kind", "netns", "cgroup", "pod_uid", "container_id"] {
                #expect(sample.labels[label] == "", "\(label) of \(sample.labels)")
            }
        }
        #expect(metrics.series("tcp_retransmitted_segments_total").isEmpty)
        #expect(metrics.series("tcp_retransmitted_segments_by_cgroup_total").isEmpty)
        #expect(exporter.log.contains("the tracepoint/ program cannot read the socket"), "\(exporter.log)")
    }

    /// The network namespace's inode as the kernel names it (nsfs), the `netns` label's value.
    static func netnsInode(_ namespace: String) throws -> String {
        try Command.run(["stat", "-L", "-c", "%i", "/run/netns/\(namespace)"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `Tcp: RetransSegs` of one namespace, from its own /proc/net/snmp.
    static func retransmittedSegments(in namespace: String) throws -> UInt64 {
        let snmp = try Command.run(["ip", "netns", "exec", namespace, "cat", "/proc/net/snmp"]).stdout
        let tcp = snmp.split(separator: "\n").filter { $0.hasPrefix("Tcp:") }
        try #require(tcp.count == 2, "no Tcp: header and values in \(namespace)'s /proc/net/snmp")
        let names = tcp[0].split(separator: " ")
        let values = tcp[1].split(separator: " ")
        let index = try #require(names.firstIndex(of: "RetransSegs"))
        return try #require(UInt64(values[index]))
    }

    static func dropInbound(in namespace: String, port: UInt16, oneIn: Int) throws {
        let nft = ["ip", "netns", "exec", namespace, "nft"]
        try Command.run(nft + ["add", "table", "inet", "rtxwl"])
        try Command.run(nft + ["add", "chain", "inet", "rtxwl", "input",
                               "{ type filter hook input priority 0; policy accept; }"])
        try Command.run(nft + ["add", "rule", "inet", "rtxwl", "input", "tcp", "dport", "\(port)",
                               "numgen", "random", "mod", "\(oneIn)", "==", "0", "drop"])
    }

    /// A 4 MiB transfer from a process in `client`'s cgroup and namespace to one in
    /// `server`'s: each shell moves itself into its cgroup, then execs into the namespace, so
    /// every socket is made in the cgroup.
    static func transfer(from client: Host, to server: Host, lab: VethNamespaces, address: String, port: UInt16) throws {
        let mountPoint = try CgroupMount.find().mountPoint
        func inCgroup(_ host: Host, _ script: String, _ arguments: [String]) -> [String] {
            ["sh", "-c", "echo $$ > \"$0/cgroup.procs\" && exec ip netns exec \"$1\" python3 -c \"$2\" \"$3\" \"$4\"",
             mountPoint + host.cgroup, host.namespace, script] + arguments
        }
        let listener = try Command.start(inCgroup(server, serverScript, [address, "\(port)"]))
        defer { listener.kill() }
        try Command.run(inCgroup(client, clientScript, [address, "\(port)"]), timeout: 90)
        let received = try listener.wait(timeout: 60)
        #expect(received.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "\(4 << 20)", "\(received)")
    }

    static let serverScript = """
        import socket, sys
        addr, port = sys.argv[1], int(sys.argv[2])
        server = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((addr, port)); server.listen(1); server.settimeout(60)
        conn, _ = server.accept(); conn.settimeout(60)
        total = 0
        while True:
            data = conn.recv(1 << 16)
            if not data: break
            total += len(data)
        conn.close(); print(total)
        """
    static let clientScript = """
        import socket, sys, time
        addr, port = sys.argv[1], int(sys.argv[2])
        for attempt in range(100):
            try:
                conn = socket.create_connection((addr, port), timeout=60); break
            except (ConnectionRefusedError, OSError):
                time.sleep(0.05)
        conn.sendall(b"x" * (4 << 20)); conn.shutdown(socket.SHUT_WR)
        while conn.recv(1 << 16): pass
        conn.close()
        """
}
