import BPFSyscall
import Foundation
import KernelTestSupport
import Testing

/// deploy/lima/retrans-exporter.yaml without Lima (not installable here): the
/// YAML parses, port 2112 is forwarded, and provisioning runs the project's own
/// scripts/install-deps.sh, the same script CI runs, then `make deb`; its shell
/// script is valid bash once Lima's parameters are filled in.
@Suite("Lima template")
struct LimaTemplateTests {
    static let root = TestPaths.repositoryRoot
    static let template = root + "/deploy/lima/retrans-exporter.yaml"
    static let hasPyYAML = Command.which("python3") != nil
        && (try? Command.run(["python3", "-c", "import yaml"], check: false).status) == 0

    /// The template's provisioning script and probe, as Lima would run them, in a scratch directory.
    /// CHECKOUT is filled in with a path inside `directory` that is never created.
    static func extractScripts(into directory: ScratchDirectory) throws {
        try Command.run(["python3", "-c", """
            import sys, yaml
            template = yaml.safe_load(open(sys.argv[1]))
            fill = lambda text: text.replace("{{.Param.CHECKOUT}}", sys.argv[2] + "/no-checkout").replace(
                "{{.Param.SWIFT_VERSION}}", template["param"]["SWIFT_VERSION"])
            (provision,) = template["provision"]
            open(sys.argv[2] + "/provision.sh", "w").write(fill(provision["script"]))
            (probe,) = template["probes"]
            open(sys.argv[2] + "/probe.sh", "w").write(fill(probe["script"]))
            """, template, directory.path])
    }

    @Test(.enabled(if: hasPyYAML, "python3 with PyYAML not installed (Debian: apt-get install python3-yaml)"))
    func templateParsesAndForwardsTheExportersPort() throws {
        let outcome = try Command.run(["python3", "-c", """
            import sys, yaml
            template = yaml.safe_load(open(sys.argv[1]))
            arches = sorted(image["arch"] for image in template["images"])
            assert arches == ["aarch64", "x86_64"], arches
            assert all(image["location"].startswith("https://") for image in template["images"])
            forwards = template["portForwards"]
            assert {"guestPort": 2112, "hostPort": 2112} in forwards, forwards
            assert all(set(f) == {"guestPort", "hostPort"} for f in forwards), forwards
            (mount,) = template["mounts"]
            assert mount["location"] == "~" and mount["writable"] is False, mount
            (provision,) = template["provision"]
            assert provision["mode"] == "system", provision["mode"]
            assert provision["script"].startswith("#!/bin/bash\\n"), provision["script"][:40]
            (probe,) = template["probes"]
            assert probe["script"].startswith("#!/bin/bash\\n") and "127.0.0.1:2112/metrics" in probe["script"]
            used = [key for key in template["param"] if "{{.Param.%s}}" % key in provision["script"]]
            assert used == list(template["param"]), (used, template["param"])
            """, Self.template], check: false)
        #expect(outcome.status == 0, "\(outcome)")
    }

    /// The provisioning runs scripts/install-deps.sh, exactly as .ci/run does,
    /// and then the Makefile's `deb` target; both exist.
    @Test(.enabled(if: hasPyYAML, "python3 with PyYAML not installed (Debian: apt-get install python3-yaml)"))
    func provisioningRunsTheProjectsOwnScripts() throws {
        let directory = try ScratchDirectory(prefix: "/tmp/rtx-lima-test.")
        defer { directory.remove() }
        try Self.extractScripts(into: directory)
        let provision = try SystemFile.readString(directory.path + "/provision.sh")
        let commands = Self.commandLines(provision)
        let ci = Self.commandLines(try SystemFile.readString(Self.root + "/.ci/run"))
        let installLine = "bash scripts/install-deps.sh"
        #expect(commands.contains(installLine), "\(commands)")
        #expect(ci.contains(installLine), "CI no longer runs \(installLine): \(ci)")
        #expect(SystemFile.exists(Self.root + "/scripts/install-deps.sh"))
        // Dependencies first, then the package, then the installed binary's check.
        let install = try #require(commands.firstIndex(of: installLine))
        let deb = try #require(commands.firstIndex(of: "make deb"), "\(commands)")
        let check = try #require(commands.firstIndex(of: "/usr/bin/retrans-exporter check"), "\(commands)")
        #expect(install < deb && deb < check)
        let makefile = try SystemFile.readString(Self.root + "/Makefile")
        #expect(makefile.split(separator: "\n").contains { $0.hasPrefix("deb:") }, "the Makefile has no deb target")
        #expect(commands.contains { $0.hasPrefix("cd \"$src\"") })

        for script in ["provision.sh", "probe.sh"] {
            let syntax = try Command.run(["bash", "-n", directory.path + "/" + script], check: false)
            #expect(syntax.status == 0, "\(script): \(syntax)")
        }
    }

    /// A VM without a checkout stops with a message saying how to start it, before installing anything.
    @Test(.enabled(if: hasPyYAML, "python3 with PyYAML not installed (Debian: apt-get install python3-yaml)"))
    func provisioningWithoutACheckoutSaysHowToStart() throws {
        let directory = try ScratchDirectory(prefix: "/tmp/rtx-lima-test.")
        defer { directory.remove() }
        try Self.extractScripts(into: directory)
        try #require(!SystemFile.exists(directory.path + "/no-checkout"))
        let outcome = try Command.run(["bash", directory.path + "/provision.sh"], check: false)
        #expect(outcome.status == 1, "\(outcome)")
        #expect(outcome.stderr.contains(".param.CHECKOUT"), "\(outcome)")
    }

    /// The VM gets the toolchain CI builds with.
    @Test(.enabled(if: hasPyYAML && Command.which("swift") != nil, "needs python3-yaml and swift"))
    func swiftVersionIsTheOneCIUses() throws {
        let template = try SystemFile.readString(Self.template)
        let pinned = try #require(template.split(separator: "\n").first { $0.contains("SWIFT_VERSION: ") })
            .split(separator: "\"").dropFirst().first.map(String.init)
        let installed = try Command.run(["swift", "--version"]).stdout
        #expect(pinned.map { installed.contains("Swift version \($0) ") } == true, "template \(pinned ?? "?"), here: \(installed)")
    }

    /// Lines of a shell script that are commands (no comments, no blank lines), trimmed.
    static func commandLines(_ script: String) -> [String] {
        script.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
    }
}
