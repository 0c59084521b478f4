import BPFSyscall
import Foundation
import KernelTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `make deb` for real: scripts/build-deb.sh packages the release binary, lintian
/// judges the package, dpkg installs it, the installed binary passes `check`, and
/// a purge leaves nothing behind. Runs only where the release binary exists
/// (`make release`, which `make deb` and CI run first) and no retrans-exporter
/// package is installed already (the test never removes a package it did not
/// install). Loads a probe program (`check`): run it under the kernel lock.
@Suite("Debian package", .serialized)
struct DebianPackageTests {
    static let root = TestPaths.repositoryRoot
    static let releaseBinary = root + "/.build/release/retrans-exporter"
    static let buildScript = root + "/scripts/build-deb.sh"
    static let package = "retrans-exporter"
    static let hasTools = ["dpkg", "dpkg-deb", "dpkg-shlibdeps", "lintian", "strip"]
        .allSatisfy { Command.which($0) != nil }
    static let canRun = KernelTestEnvironment.isRoot && hasTools && SystemFile.exists(releaseBinary)
    static let skipReason: Comment = """
        needs root, dpkg-dev and lintian (scripts/install-deps.sh), and the release binary: run `make release` first
        """

    /// Builds the package into a scratch directory; returns its path and the binary's version.
    static func buildPackage(into directory: ScratchDirectory) throws -> (deb: String, version: String) {
        let version = try Command.run([releaseBinary, "--version"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let built = try Command.run(["bash", buildScript, releaseBinary, directory.path], timeout: 300)
        let deb = built.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return (deb, version)
    }

    @Test(.enabled(if: canRun, skipReason))
    func packageIsNamedAfterTheBinarysVersionAndLintianClean() throws {
        let directory = try ScratchDirectory(prefix: "/tmp/rtx-deb-test.")
        defer { directory.remove() }
        let (deb, version) = try Self.buildPackage(into: directory)
        let arch = try Command.run(["dpkg", "--print-architecture"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(deb == "\(directory.path)/retrans-exporter_\(version)_\(arch).deb")
        #expect(version.first?.isNumber == true, "version '\(version)'")

        let field = { (name: String) throws -> String in
            try Command.run(["dpkg-deb", "--field", deb, name]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(try field("Package") == Self.package)
        #expect(try field("Version") == version)
        #expect(try field("Architecture") == arch)
        #expect(try field("Depends").contains("libc6"), "dpkg-shlibdeps should have found libc6")

        // Lintian's verdict with every tag it knows (pedantic included); the
        // package's overrides each say why a tag stays (deploy/debian/lintian-overrides).
        let lintian = try Command.run(["lintian", "--pedantic", "--fail-on", "error,warning,info,pedantic", deb],
                                      timeout: 300, check: false)
        let tags = lintian.stdout.split(separator: "\n").filter { $0.hasPrefix("E:") || $0.hasPrefix("W:") || $0.hasPrefix("I:") || $0.hasPrefix("P:") }
        #expect(lintian.status == 0 && tags.isEmpty, "lintian: \(lintian)")

        let size = try #require(FileManager.default.attributesOfItem(atPath: deb)[.size] as? Int)
        print("debian package: \(deb) \(size) bytes, lintian: \(tags.count) tags")
        #expect(size > 1_000_000 && size < 30_000_000, "\(size) bytes")
    }

    /// `make deb` passes relative paths (`.build/release/...`, `.build/deb`); the
    /// script changes directory for dpkg-shlibdeps, so it must resolve them first.
    /// CI failed exactly here once (dpkg-shlibdeps found no binary, exit 25).
    @Test(.enabled(if: canRun, skipReason))
    func relativePathsAsMakeDebPassesThemWork() throws {
        let directory = try ScratchDirectory(prefix: "/tmp/rtx-deb-test.")
        defer { directory.remove() }
        try directory.makeDirectory("release")
        try Command.run(["cp", Self.releaseBinary, directory.path + "/release/retrans-exporter"])
        let built = try Command.run(["/bin/sh", "-c",
                                     "cd \"$1\" && bash \"$2\" release/retrans-exporter out", "sh",
                                     directory.path, Self.buildScript], timeout: 300, check: false)
        #expect(built.succeeded, "build-deb.sh with relative paths: \(built)")
        let deb = built.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(deb.hasPrefix(directory.path + "/out/retrans-exporter_") && SystemFile.exists(deb), "printed '\(deb)'")
    }

    /// The packaged unit is deploy/systemd/retrans-exporter.service with only the
    /// binary path, the flags (from the defaults file) and the documentation changed:
    /// every other setting (capabilities, sandbox) is carried over as it is.
    @Test(.enabled(if: canRun, skipReason))
    func packagedUnitIsTheProjectsUnitWithThePackagePaths() throws {
        let directory = try ScratchDirectory(prefix: "/tmp/rtx-deb-test.")
        defer { directory.remove() }
        let (deb, _) = try Self.buildPackage(into: directory)
        try directory.makeDirectory("tree")
        try Command.run(["dpkg-deb", "--extract", deb, directory.path + "/tree"])
        let packaged = try Self.settings(SystemFile.readString(directory.path + "/tree/lib/systemd/system/retrans-exporter.service"))
        let original = try Self.settings(SystemFile.readString(DeployFilesTests.unitPath))

        #expect(packaged["ExecStart"] == ["/usr/bin/retrans-exporter run $ARGS"])
        #expect(packaged["EnvironmentFile"] == ["-/etc/default/retrans-exporter"])
        #expect(packaged["Documentation"]?.first?.hasPrefix("man:retrans-exporter(1)") == true)
        let changed: Set<String> = ["ExecStart", "EnvironmentFile", "Documentation"]
        #expect(packaged.filter { !changed.contains($0.key) } == original.filter { !changed.contains($0.key) })
        #expect(original["AmbientCapabilities"] != nil)

        let defaults = try SystemFile.readString(directory.path + "/tree/etc/default/retrans-exporter")
        #expect(defaults.split(separator: "\n").contains("ARGS=\"--web.listen-address=:2112\""), "\(defaults)")
        let conffiles = try Command.run(["dpkg-deb", "--info", deb, "conffiles"]).stdout
        #expect(conffiles.split(separator: "\n") == ["/etc/default/retrans-exporter"], "\(conffiles)")
    }

    /// dpkg -i, the installed binary's `check`, systemd-analyze on the installed
    /// unit, dpkg -r (conffile kept), dpkg --purge: nothing of the package is left.
    @Test(.enabled(if: canRun, skipReason))
    func installsChecksAndPurgesWithoutLeftovers() throws {
        let installed = try Command.run(["dpkg-query", "-W", "-f=${Status}", Self.package], check: false)
        try #require(!installed.stdout.contains("installed"),
                     "a retrans-exporter package is installed already; the test does not remove what it did not install")
        let directory = try ScratchDirectory(prefix: "/tmp/rtx-deb-test.")
        defer { directory.remove() }
        let (deb, version) = try Self.buildPackage(into: directory)
        let before = try Self.tracesOfThePackage()

        var purged = false
        defer { if !purged { _ = try? Command.run(["dpkg", "--purge", Self.package], check: false) } }
        let install = try Command.run(["dpkg", "-i", deb], timeout: 120, check: false)
        try #require(install.status == 0, "\(install)")
        let files = try Command.run(["dpkg", "-L", Self.package]).stdout.split(separator: "\n").map(String.init)
        for expected in ["/usr/bin/retrans-exporter", "/lib/systemd/system/retrans-exporter.service",
                         "/etc/default/retrans-exporter", "/usr/share/retrans-exporter/prometheus/rules.yml",
                         "/usr/share/retrans-exporter/prometheus/prometheus.yml",
                         "/usr/share/retrans-exporter/grafana/retrans-exporter.json",
                         "/usr/share/doc/retrans-exporter/copyright", "/usr/share/doc/retrans-exporter/changelog.gz",
                         "/usr/share/man/man1/retrans-exporter.1.gz"] {
            #expect(files.contains(expected), "dpkg -L lacks \(expected)")
            #expect(SystemFile.exists(expected), "\(expected) not installed")
        }

        let versionRun = try Command.run(["/usr/bin/retrans-exporter", "--version"])
        #expect(versionRun.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == version)
        let check = try Command.run(["/usr/bin/retrans-exporter", "check"], timeout: 60, check: false)
        #expect(check.status == 0, "\(check)")
        #expect(check.stdout.contains("✓  attach"), "\(check)")
        if Command.which("systemd-analyze") != nil {
            let verify = try Command.run(["systemd-analyze", "verify", "/lib/systemd/system/retrans-exporter.service"],
                                         check: false)
            #expect(verify.status == 0 && verify.stdout.isEmpty && verify.stderr.isEmpty, "\(verify)")
        }

        // Removal keeps the administrator's flags (a conffile); purge removes them.
        let remove = try Command.run(["dpkg", "-r", Self.package], timeout: 120, check: false)
        #expect(remove.status == 0, "\(remove)")
        #expect(!SystemFile.exists("/usr/bin/retrans-exporter"))
        #expect(SystemFile.exists("/etc/default/retrans-exporter"), "dpkg -r should keep the conffile")
        let purge = try Command.run(["dpkg", "--purge", Self.package], timeout: 120, check: false)
        purged = purge.status == 0
        #expect(purge.status == 0, "\(purge)")

        let status = try Command.run(["dpkg-query", "-W", "-f=${Status}", Self.package], check: false)
        #expect(!status.stdout.contains("installed"), "dpkg still knows the package: \(status)")
        for path in files where path.contains("retrans-exporter") {
            #expect(!SystemFile.exists(path), "\(path) left after purge")
        }
        #expect(try Self.tracesOfThePackage() == before, "files named after the package appeared or vanished")
    }

    /// Every path under /etc, /usr, /lib and /var/lib whose name mentions the
    /// package: its files, its enablement links and deb-systemd-helper state,
    /// dpkg's own records.
    static func tracesOfThePackage() throws -> [String] {
        let listing = try Command.run(["find", "/etc", "/usr", "/lib/systemd", "/var/lib/systemd", "/var/lib/dpkg/info",
                                       "-xdev", "-name", "*retrans-exporter*"], timeout: 120, check: false)
        return listing.stdout.split(separator: "\n").map(String.init).sorted()
    }

    /// `Key=value` lines of a unit, every value of a repeated key in order.
    static func settings(_ unit: String) -> [String: [String]] {
        var settings: [String: [String]] = [:]
        for line in unit.split(separator: "\n") {
            guard !line.hasPrefix("#"), let equals = line.firstIndex(of: "=") else { continue }
            settings[String(line[..<equals]), default: []].append(String(line[line.index(after: equals)...]))
        }
        return settings
    }
}
