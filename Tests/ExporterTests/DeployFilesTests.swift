import BPFSyscall
import KernelTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The deploy files checked by their own tools: promtool for Prometheus,
/// systemd-analyze for the unit, PyYAML for Kubernetes; and the capability
/// sets they grant proven sufficient by `retrans-exporter check` run with
/// exactly those capabilities.
@Suite("Deploy files")
struct DeployFilesTests {
    static let root = TestPaths.repositoryRoot
    static let prometheusDirectory = root + "/deploy/prometheus"
    static let hasPromtool = Command.which("promtool") != nil
    static let hasPyYAML = Command.which("python3") != nil
        && (try? Command.run(["python3", "-c", "import yaml"], check: false).status) == 0
    static let hasSystemdAnalyze = Command.which("systemd-analyze") != nil
    static let canDropPrivileges = KernelTestEnvironment.isRoot && Command.which("setpriv") != nil

    // MARK: Prometheus

    @Test(.enabled(if: hasPromtool, "promtool not installed (Debian: apt-get install prometheus)"))
    func prometheusConfigIsValid() throws {
        let outcome = try Command.run(["promtool", "check", "config", Self.prometheusDirectory + "/prometheus.yml"], check: false)
        #expect(outcome.status == 0, "\(outcome.output)")
        #expect(outcome.output.contains("1 rule files found"), "\(outcome.output)")
    }

    @Test(.enabled(if: hasPromtool, "promtool not installed (Debian: apt-get install prometheus)"))
    func rulesAreValid() throws {
        let outcome = try Command.run(["promtool", "check", "rules", Self.prometheusDirectory + "/rules.yml"], check: false)
        #expect(outcome.status == 0, "\(outcome.output)")
        #expect(outcome.output.contains("SUCCESS: 9 rules found"), "\(outcome.output)")
    }

    @Test(.enabled(if: hasPromtool, "promtool not installed (Debian: apt-get install prometheus)"))
    func ruleUnitTestsPass() throws {
        let outcome = try Command.run(["promtool", "test", "rules", Self.prometheusDirectory + "/rules_test.yml"], check: false)
        #expect(outcome.status == 0, "\(outcome.output)")
        #expect(outcome.output.contains("SUCCESS"), "\(outcome.output)")
    }

    /// The rule tests can fail: each broken copy of rules.yml (threshold, traffic
    /// guard, `for`) makes `promtool test rules` report a failure.
    @Test(.enabled(if: hasPromtool, "promtool not installed (Debian: apt-get install prometheus)"),
          arguments: [(">= 0.02", ">= 0.04"), ("> 10\n", "> 0\n"), ("for: 5m", "for: 3m")])
    func ruleUnitTestsCatchABrokenRule(original: String, broken: String) throws {
        let rules = try SystemFile.readString(Self.prometheusDirectory + "/rules.yml")
        #expect(rules.contains(original))
        let directory = try ScratchDirectory()
        defer { directory.remove() }
        try directory.write("rules.yml", rules.replacing(original, with: broken, maxReplacements: 1))
        try directory.write("rules_test.yml", try SystemFile.readString(Self.prometheusDirectory + "/rules_test.yml"))
        let outcome = try Command.run(["promtool", "test", "rules", directory.path + "/rules_test.yml"], check: false)
        #expect(outcome.status != 0, "a rule with \(broken) passed the tests: \(outcome.output)")
        #expect(outcome.output.contains("FAILED"), "\(outcome.output)")
    }

    /// The same for the per-workload rules, each broken everywhere it occurs: the pod
    /// alert's threshold, traffic guard and `for`; the pod filter; the join with
    /// kube_pod_info (its label, the de-duplication of kube-state-metrics replicas); the
    /// many-to-one match of hostNetwork pods; what the sums keep.
    @Test(.enabled(if: hasPromtool, "promtool not installed (Debian: apt-get install prometheus)"),
          arguments: [
              ("pod:tcp_retransmission_ratio:rate5m >= 0.02", "pod:tcp_retransmission_ratio:rate5m >= 0.08"),
              ("[5m]) > 10\n", "[5m]) > 0\n"),
              ("[5m]) > 10\n        for: 5m", "[5m]) > 10\n        for: 3m"),
              ("{pod_uid!=\"\"}", ""),
              ("\"$1\", \"uid\"", "\"$1\", \"pod\""),
              ("max by (namespace, pod, uid) (kube_pod_info)", "kube_pod_info"),
              ("netns) group_left\n", "netns)\n"),
              ("sum without (cgroup, container_id) (", "sum without (cgroup, container_id, kind) ("),
              ("sum without (kind) (", "("),
          ])
    func workloadRuleTestsCatchABrokenRule(original: String, broken: String) throws {
        let rules = try SystemFile.readString(Self.prometheusDirectory + "/rules.yml")
        #expect(rules.contains(original))
        let directory = try ScratchDirectory()
        defer { directory.remove() }
        try directory.write("rules.yml", rules.replacing(original, with: broken))
        try directory.write("rules_test.yml", try SystemFile.readString(Self.prometheusDirectory + "/rules_test.yml"))
        let outcome = try Command.run(["promtool", "test", "rules", directory.path + "/rules_test.yml"], check: false)
        #expect(outcome.status != 0, "a rule with \(broken) passed the tests: \(outcome.output)")
        #expect(outcome.output.contains("FAILED"), "\(outcome.output)")
    }

    @Test(.enabled(if: hasPyYAML, "python3 with PyYAML not installed (Debian: apt-get install python3-yaml)"))
    func prometheusConfigScrapesTheOriginalJob() throws {
        try expectPython("""
            import yaml
            config = yaml.safe_load(open("\(Self.prometheusDirectory)/prometheus.yml"))
            assert config["global"]["scrape_interval"] == "15s", config["global"]
            assert config["rule_files"] == ["rules.yml"], config["rule_files"]
            jobs = config["scrape_configs"]
            assert [job["job_name"] for job in jobs] == ["TCPRetrans"], jobs
            assert jobs[0]["static_configs"] == [{"targets": ["localhost:2112"]}], jobs[0]
            """)
    }

    // MARK: systemd

    static let unitPath = root + "/deploy/systemd/retrans-exporter.service"

    /// `systemd-analyze verify` ignores unknown keys and bad values with only a
    /// message, so the test demands silence as well as exit 0. The ExecStart
    /// binary must exist, so the copy points at the freshly built one.
    @Test(.enabled(if: hasSystemdAnalyze, "systemd-analyze not installed"))
    func systemdUnitVerifies() throws {
        let binary = try #require(TestPaths.exporterBinary, "build the exporter first (swift build)")
        let unit = try SystemFile.readString(Self.unitPath)
        #expect(unit.contains("ExecStart=/usr/local/bin/retrans-exporter "))
        let directory = try ScratchDirectory()
        defer { directory.remove() }
        try directory.write("retrans-exporter.service",
                            unit.replacing("ExecStart=/usr/local/bin/retrans-exporter", with: "ExecStart=\(binary)",
                                           maxReplacements: 1))
        let outcome = try Command.run(["systemd-analyze", "verify", directory.path + "/retrans-exporter.service"], check: false)
        #expect(outcome.status == 0, "\(outcome.output)")
        #expect(outcome.output.isEmpty, "systemd-analyze complained: \(outcome.output)")
    }

    @Test func systemdUnitGrantsOnlyWhatItNeeds() throws {
        let settings = try Self.unitSettings()
        #expect(settings["AmbientCapabilities"] == "CAP_BPF CAP_PERFMON CAP_DAC_READ_SEARCH")
        #expect(settings["CapabilityBoundingSet"] == settings["AmbientCapabilities"])
        for (key, value) in [("NoNewPrivileges", "yes"), ("DynamicUser", "yes"), ("ProtectSystem", "strict"),
                             ("ProtectHome", "yes"), ("PrivateTmp", "yes"), ("LimitMEMLOCK", "infinity"),
                             ("Restart", "on-failure")] {
            #expect(settings[key] == value, "\(key)")
        }
        #expect(settings["MemoryMax"] != nil)
        #expect(settings["User"] == nil, "DynamicUser allocates the user")
    }

    static func setprivNobody(capabilities: [String]) -> [String] {
        let list = capabilities.map { "+" + $0 }.joined(separator: ",")
        var command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        command += capabilities.isEmpty ? ["--inh-caps=-all"] : ["--inh-caps=-all,\(list)", "--ambient-caps=\(list)"]
        return command
    }

    /// `Key=value` lines of the unit (the last one wins, as in systemd).
    static func unitSettings() throws -> [String: String] {
        var settings: [String: String] = [:]
        for line in try SystemFile.readString(unitPath).split(separator: "\n") {
            guard !line.hasPrefix("#"), let equals = line.firstIndex(of: "=") else { continue }
            settings[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return settings
    }

    // MARK: Kubernetes

    static let daemonSetPath = root + "/deploy/kubernetes/daemonset.yaml"

    @Test(.enabled(if: hasPyYAML, "python3 with PyYAML not installed (Debian: apt-get install python3-yaml)"))
    func kubernetesManifestsParseAndSayWhatTheyShould() throws {
        try expectPython("""
            import yaml
            documents = [d for d in yaml.safe_load_all(open("\(Self.daemonSetPath)")) if d]
            kinds = [d["kind"] for d in documents]
            assert kinds == ["Namespace", "DaemonSet", "Service"], kinds
            namespace, daemonset, service = documents
            for d in (daemonset, service):
                assert d["metadata"]["namespace"] == namespace["metadata"]["name"], d["metadata"]
            assert daemonset["apiVersion"] == "apps/v1"
            spec = daemonset["spec"]
            pod = spec["template"]
            assert spec["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
            annotations = pod["metadata"]["annotations"]
            assert annotations["prometheus.io/scrape"] == "true", annotations
            assert annotations["prometheus.io/port"] == "2112", annotations
            assert pod["spec"]["hostNetwork"] is True  # /proc/net/snmp must be the node's
            (container,) = pod["spec"]["containers"]
            assert [p["containerPort"] for p in container["ports"]] == [2112]
            security = container["securityContext"]
            assert security["capabilities"] == {"drop": ["ALL"], "add": ["BPF", "PERFMON"]}, security
            assert security.get("privileged", False) is False
            assert security["allowPrivilegeEscalation"] is False
            assert security["runAsUser"] == 0  # no ambient capabilities in Kubernetes
            limits = container["resources"]["limits"]
            assert "memory" in limits and "cpu" in limits, limits
            # Two read-only host directories: tracefs (the tracepoint fallback) and the
            # cgroup2 hierarchy (cgroup ids to paths, for the workload labels). Nothing else.
            mounts = {m["name"]: m for m in container["volumeMounts"]}
            volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
            assert mounts.keys() == volumes.keys() == {"tracefs", "cgroup"}, (mounts, volumes)
            assert all(m["readOnly"] is True for m in mounts.values()), mounts
            assert mounts["tracefs"]["mountPath"] == "/sys/kernel/tracing"
            assert volumes["tracefs"]["hostPath"]["path"] == "/sys/kernel/tracing"
            assert volumes["cgroup"]["hostPath"]["path"] == "/sys/fs/cgroup"
            # Not over the pod's own /sys/fs/cgroup, which the runtime mounts.
            assert not mounts["cgroup"]["mountPath"].startswith("/sys/"), mounts["cgroup"]
            assert service["spec"]["clusterIP"] == "None"
            assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
            assert [p["port"] for p in service["spec"]["ports"]] == [2112]
            """)
    }

    func expectPython(_ script: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let outcome = try Command.run(["python3", "-c", script], check: false)
        #expect(outcome.status == 0, "\(outcome.output)", sourceLocation: sourceLocation)
    }
}

/// A directory under /tmp that the test removes (with its plain files).
struct ScratchDirectory {
    let path: String

    init(prefix: String = "/tmp/rtx-ch-test.") throws {
        var template = Array((prefix + "XXXXXX").utf8CString)
        guard let created = mkdtemp(&template) else {
            throw FileReadError(path: prefix + "XXXXXX", errno: errno)
        }
        path = String(cString: created)
    }

    func write(_ name: String, _ text: String, mode: mode_t = 0o644) throws {
        let file = path + "/" + name
        let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw FileReadError(path: file, errno: errno) }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw FileReadError(path: file, errno: errno) }
    }

    func makeDirectory(_ name: String) throws {
        guard mkdir(path + "/" + name, 0o755) == 0 else { throw FileReadError(path: path + "/" + name, errno: errno) }
    }

    /// Removes the tree (`rm -rf` of our own mkdtemp directory only).
    func remove() {
        _ = try? Command.run(["rm", "-rf", "--", path], timeout: 30, check: false)
    }
}

/// The built exporter copied to a directory anyone can enter, so that it can
/// be run as another user whatever the permissions of the build tree.
struct WorldReadableBinary {
    let directory: ScratchDirectory
    var path: String { directory.path + "/retrans-exporter" }

    init() throws {
        let built = try #require(TestPaths.exporterBinary, "build the exporter first (swift build)")
        directory = try ScratchDirectory()
        chmod(directory.path, 0o755)
        let copy = try Command.run(["install", "-m", "0755", built, directory.path + "/retrans-exporter"], check: false)
        try #require(copy.status == 0, "\(copy.output)")
    }

    func remove() { directory.remove() }
}
