import BPFSyscall
import Foundation
import KernelTestSupport
import Testing
@testable import Exporter

/// The shipped deployments, tested as deployed: the real `run`, under exactly the user and
/// capabilities that deploy/systemd/retrans-exporter.service and deploy/kubernetes/daemonset.yaml
/// grant (read from those files, applied with setpriv), must serve /metrics and count a lossy
/// flow exactly as a private ftrace instance does. `check` is not asked: it is the thing
/// that once said yes while `run` failed.
@Suite(.serialized, .enabled(if: RunningExporter.canRun && Command.which("setpriv") != nil
                             && Command.which("prlimit") != nil && Command.which("python3") != nil,
                             "needs root, setpriv, prlimit, python3-yaml and the built exporter"))
struct DeploymentTests {
    /// The unit's user (DynamicUser: some unprivileged uid; 65534 here), its ambient and
    /// bounding capabilities, NoNewPrivileges and LimitMEMLOCK.
    @Test func systemdUnitRunsAndCountsExactly() throws {
        let settings = try DeployFilesTests.unitSettings()
        #expect(settings["DynamicUser"] == "yes")
        let ambient = try Self.capabilities(#require(settings["AmbientCapabilities"]))
        let bounding = try Self.capabilities(#require(settings["CapabilityBoundingSet"]))
        var wrapper = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                       "--inh-caps=-all,\(Self.list(ambient))", "--ambient-caps=\(Self.list(ambient))",
                       "--bounding-set=-all,\(Self.list(bounding))"]
        if settings["NoNewPrivileges"] == "yes" { wrapper.append("--no-new-privs") }
        if let memlock = settings["LimitMEMLOCK"] {
            let limit = memlock == "infinity" ? "unlimited" : memlock
            let prlimit = ["prlimit", "--memlock=\(limit):\(limit)", "--"]
            // Raising the hard limit needs CAP_SYS_RESOURCE, which a container may lack (this
            // one does): then the unit's limit cannot be reproduced and the current one applies.
            if try Command.run(prlimit + ["true"], check: false).succeeded {
                wrapper = prlimit + wrapper
            } else {
                print("LimitMEMLOCK=\(memlock) not reproducible here (no CAP_SYS_RESOURCE): running under the current limit")
            }
        }
        try Self.countsExactly(wrapper: wrapper, uid: "65534", port: 7721, httpPort: 21371, lab: "rtx-hd-unit")
    }

    /// And nothing more than it needs: without any one of the unit's capabilities, `run` stops
    /// before it serves, saying why. CAP_DAC_READ_SEARCH is for tracefs, which only the
    /// tracepoint program reads (the fallback on kernels without BTF), so it is checked there.
    @Test func eachCapabilityOfTheUnitIsNeeded() throws {
        let ambient = try Self.capabilities(#require(DeployFilesTests.unitSettings()["AmbientCapabilities"]))
        let binary = try WorldReadableBinary()
        defer { binary.remove() }
        for missing in ambient {
            let granted = Self.list(ambient.filter { $0 != missing })
            let exporter = try RunningExporter(
                port: 21373, arguments: missing == "dac_read_search" ? ["--bpf.attach", "tracepoint"] : [],
                wrapper: ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                          "--inh-caps=-all,\(granted)", "--ambient-caps=\(granted)"],
                binary: binary.path)
            let status = exporter.waitForExit(timeout: 30)
            #expect(status == 1, "without \(missing): exit \(status)\n\(exporter.log)")
            #expect(exporter.log.contains("error: "), "without \(missing): \(exporter.log)")
            print("without CAP_\(missing.uppercased()): \(exporter.log.split(separator: "\n").last ?? "")")
        }
    }

    /// The container's securityContext: runAsUser, capabilities added after dropping ALL,
    /// allowPrivilegeEscalation false (no_new_privs).
    @Test func daemonSetRunsAndCountsExactly() throws {
        let context = try Command.run(["python3", "-c", """
            import yaml
            docs = [d for d in yaml.safe_load_all(open("\(DeployFilesTests.daemonSetPath)")) if d]
            (daemonset,) = [d for d in docs if d["kind"] == "DaemonSet"]
            (container,) = daemonset["spec"]["template"]["spec"]["containers"]
            security = container["securityContext"]
            assert security["capabilities"]["drop"] == ["ALL"], security
            print(security["runAsUser"])
            print(",".join(c.lower() for c in security["capabilities"]["add"]))
            print(security["allowPrivilegeEscalation"])
            """]).stdout.split(separator: "\n").map(String.init)
        try #require(context.count == 3, "\(context)")
        let added = context[1].split(separator: ",").map(String.init)
        var wrapper = ["setpriv", "--reuid=\(context[0])", "--regid=\(context[0])", "--clear-groups",
                       "--inh-caps=-all", "--bounding-set=-all,\(Self.list(added))"]
        if context[2] == "False" { wrapper.append("--no-new-privs") }
        try Self.countsExactly(wrapper: wrapper, uid: context[0], port: 7722, httpPort: 21372, lab: "rtx-hd-ds")
    }

    /// `CAP_BPF CAP_PERFMON` -> ["bpf", "perfmon"].
    static func capabilities(_ setting: String) -> [String] {
        setting.split(separator: " ").map { $0.dropFirst("CAP_".count).lowercased() }
    }

    static func list(_ capabilities: [String]) -> String {
        capabilities.map { "+" + $0 }.joined(separator: ",")
    }

    static func countsExactly(wrapper: [String], uid: String, port: UInt16, httpPort: UInt16, lab name: String) throws {
        let lab = try VethNamespaces.create(name: name, ipv4Network: "10.203.12", ipv6Network: "fd00:203::12")
        defer { lab.delete() }
        try lab.dropInbound(port: port, oneIn: 10)
        let ftrace = try FtraceCounter.create(name: name, filter: FtraceCounter.portFilter(port))
        defer { ftrace.remove() }
        let binary = try WorldReadableBinary()
        defer { binary.remove() }

        let exporter = try RunningExporter(port: httpPort, wrapper: wrapper, binary: binary.path)
        defer { exporter.stop() }
        try exporter.waitForLog()
        let threads = try ObservedThread.all(of: exporter.pid)
        for thread in threads {
            #expect(thread.ids("Uid") == Array(repeating: uid, count: 4), "\(thread)")
            for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] { #expect(thread.mask(set) == 0, "\(set): \(thread)") }
            #expect(thread.fields["NoNewPrivs"] == "1", "\(thread)")
        }

        try BulkTransfer(lab: lab, family: .ipv4, port: port, bytes: 4 << 20).run()
        try BulkTransfer(lab: lab, family: .ipv6, port: port, bytes: 4 << 20).run()
        try lab.waitUntilQuiet(port: port)
        lab.delete()  // no socket left to retransmit
        let recorded = try ftrace.stopAndCount()
        let truth = try ftrace.retransmissions()
        #expect(truth.succeeded + truth.failed == recorded)
        #expect(truth.succeeded > 0, "the lossy transfers retransmitted nothing")
        let metrics = try exporter.scrape()
        let counts = metrics.expectFlowCounts(truth, port: port)
        print("as deployed (\(wrapper.joined(separator: " "))): \(threads.count) threads, ftrace \(truth.succeeded)"
              + " + \(truth.failed) failed, exporter \(counts.counted) + \(counts.failed), recursion misses \(counts.missed)")
        #expect(exporter.stop().status == 0, "\(exporter.log)")
    }
}
