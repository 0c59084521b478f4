import BPFSyscall
import Foundation
import KernelTestSupport
import Testing
@testable import Exporter

/// The resolver against the real cgroup2 hierarchy: cgroups the test creates (a
/// Kubernetes-shaped one and a systemd-service-shaped one), their ids witnessed by stat(1)
/// and by `find -printf %i`, their paths by the kernel's own /proc/PID/cgroup, the expiry of a
/// removed one, and a churn of 10k short-lived cgroups. Everything created is removed, also
/// on failure. Run under `flock /tmp/retrans-kernel.lock`.
@Suite(.serialized, .enabled(if: KernelTestEnvironment.isRoot, Comment(rawValue: KernelTestEnvironment.skipReason)))
struct CgroupKernelTests {
    static let podUID = "0c1d2e3f-4a5b-4c6d-8e7f-a1b2c3d4e5f6"
    static let containerID = "9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0"
    static let kubernetesPath = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
        + podUID.replacing("-", with: "_") + ".slice/cri-containerd-" + containerID + ".scope"
    static let servicePath = "/rtx-test.slice/rtx-test-web.service"

    func mount() throws -> CgroupMount {
        let mount = try CgroupMount.find()
        // util-linux's reading of the same mount table.
        let witness = try Command.run(["findmnt", "-n", "-t", "cgroup2", "-o", "TARGET"]).stdout
        #expect(witness.split(separator: "\n").first.map(String.init) == mount.mountPoint)
        return mount
    }

    static func statInode(_ path: String) throws -> UInt64 {
        let text = try Command.run(["stat", "-c", "%i", path]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return try #require(UInt64(text), "stat -c %i \(path): \(text)")
    }

    @Test func resolvesCreatedCgroupsToTheirPathsAndLabels() throws {
        let mount = try mount()
        let cgroups = CgroupFixture(mount: mount)
        defer { cgroups.removeAll() }
        try cgroups.create(Self.kubernetesPath)
        try cgroups.create(Self.servicePath)
        let kubernetesID = try Self.statInode(mount.mountPoint + Self.kubernetesPath)
        let serviceID = try Self.statInode(mount.mountPoint + Self.servicePath)
        let rootID = try Self.statInode(mount.mountPoint)

        // The kernel names a process's cgroup2 in /proc/PID/cgroup ("0::PATH"): move one in.
        let sleeper = try Command.start(["sleep", "60"])
        defer { sleeper.kill(); _ = try? sleeper.wait(timeout: 10) }
        try cgroups.write(String(sleeper.pid), to: Self.kubernetesPath + "/cgroup.procs")
        let kernelView = try String(contentsOfFile: "/proc/\(sleeper.pid)/cgroup", encoding: .utf8)
        #expect(kernelView.split(separator: "\n").contains { $0 == "0::" + Self.kubernetesPath }, "\(kernelView)")

        let start = ContinuousClock.now
        var resolver = CgroupPathResolver(tree: CgroupTree(mount: mount),
                                          configuration: .init(minimumRescanInterval: .milliseconds(500), gracePeriod: .seconds(60)))
        #expect(resolver.path(of: kubernetesID, now: start) == Self.kubernetesPath)
        #expect(resolver.path(of: serviceID, now: start) == Self.servicePath)
        #expect(resolver.path(of: rootID, now: start) == "/")
        #expect(resolver.statistics.scans == 1)
        #expect(WorkloadLabels(cgroupPath: Self.kubernetesPath) == WorkloadLabels(podUID: Self.podUID, containerID: Self.containerID))
        #expect(WorkloadLabels(cgroupPath: Self.servicePath) == WorkloadLabels())

        // A cgroup created after the first walk: the miss walks again (the interval has passed).
        let later = Self.servicePath.replacing("web", with: "api")
        try cgroups.create(later)
        let laterID = try Self.statInode(mount.mountPoint + later)
        #expect(resolver.path(of: laterID, now: start + .milliseconds(10)) == nil, "no walk within the interval")
        #expect(resolver.path(of: laterID, now: start + .milliseconds(500)) == later)
        #expect(resolver.statistics.scans == 2)

        // Removed: still resolves for the grace period, then refresh reports it expired.
        try cgroups.remove(Self.servicePath)
        #expect(resolver.refresh(now: start + .seconds(1)) == [])
        #expect(resolver.path(of: serviceID, now: start + .seconds(30)) == Self.servicePath)
        #expect(resolver.refresh(now: start + .seconds(60)) == [])
        #expect(resolver.refresh(now: start + .seconds(61)) == [serviceID])
        #expect(resolver.path(of: serviceID, now: start + .seconds(62)) == nil)
        #expect(resolver.path(of: kubernetesID, now: start + .seconds(62)) == Self.kubernetesPath)
    }

    /// What a container with its own cgroup namespace sees (a shell moved into a test cgroup,
    /// then `unshare --cgroup --mount`, mounting a cgroup2 of its own as a runtime does): the
    /// kernel writes the host's mount root as `/../..` and the new mount's as `/`, and the
    /// host's, which shows every cgroup, is the one chosen.
    @Test func insideACgroupNamespaceTheHostsMountIsChosen() throws {
        let mount = try mount()
        let cgroups = CgroupFixture(mount: mount)
        defer { cgroups.removeAll() }
        let inner = "/rtx-test.slice/rtx-test-container.scope"
        try cgroups.create(inner)
        let target = FileManager.default.temporaryDirectory.appendingPathComponent("rtx-cgns-test.\(getpid())").path
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: target) }
        let script = "echo $$ > '\(mount.mountPoint + inner)/cgroup.procs' && exec unshare --cgroup --mount --propagation private "
            + "sh -c \"mount -t cgroup2 none '\(target)' && cat /proc/self/mountinfo\""
        let mountInfo = try Command.shell(script).stdout
        let own = try #require(mountInfo.split(separator: "\n").compactMap(MountInfoLine.init).first { $0.mountPoint == target })
        #expect(own.root == "/" && own.fileSystemType == "cgroup2")
        let chosen = try CgroupMount.find(inMountInfo: mountInfo)
        #expect(chosen == CgroupMount(mountPoint: mount.mountPoint, root: "/../.."), "\(mountInfo)")
    }

    /// The walk equals find(1)'s, as root and as nobody without any capability: cgroupfs is
    /// world-readable, so the resolver keeps working after the exporter drops its privileges.
    @Test func theWalkEqualsFindAsRootAndWithoutPrivileges() throws {
        let mount = try mount()
        let cgroups = CgroupFixture(mount: mount)
        defer { cgroups.removeAll() }
        try cgroups.create(Self.kubernetesPath)
        try cgroups.create(Self.servicePath)
        let find = ["find", mount.mountPoint, "-type", "d", "-printf", "%i %P\\n"]
        let nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"]
        for command in [find, nobody + find] {
            let listed = try Command.run(command)
            #expect(listed.stderr.isEmpty, "\(listed)")
            var expected: [UInt64: String] = [:]
            for line in listed.stdout.split(separator: "\n") {
                let fields = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
                let id = try #require(UInt64(fields[0]), "\(line)")
                expected[id] = fields.count > 1 && !fields[1].isEmpty ? "/" + fields[1] : "/"
            }
            let scan = try CgroupTree(mount: mount).scan()
            #expect(scan.paths == expected, "\(command.joined(separator: " "))")
            #expect(scan.unreadable == 0 && !scan.truncated)
            #expect(expected.values.contains(Self.kubernetesPath))
        }
    }

    /// 10k cgroups created and removed in batches of 100, each looked up while it lives, on a
    /// virtual clock (100 ms per batch, walks at most every 500 ms, one minute of grace).
    /// Prints the walks' time, the entries held and the RSS; asserts only what is exact.
    @Test func churnOfTenThousandShortLivedCgroups() throws {
        let mount = try mount()
        let cgroups = CgroupFixture(mount: mount)
        defer { cgroups.removeAll() }
        let parent = "/rtx-test-churn.slice"
        try cgroups.create(parent)
        let start = ContinuousClock.now
        var resolver = CgroupPathResolver(tree: CgroupTree(mount: mount),
                                          configuration: .init(minimumRescanInterval: .milliseconds(500), gracePeriod: .seconds(60)))
        _ = resolver.refresh(now: start)
        let baseline = resolver.count
        let rssBefore = Self.residentKilobytes()
        var walkTimes: [Duration] = []
        var churnIDs: Set<UInt64> = []
        var resolved: Set<UInt64> = []
        var peakEntries = 0
        var rssPeak = rssBefore
        let batches = 100, perBatch = 100
        let wall = ContinuousClock().measure {
            for batch in 0..<batches {
                let now = start + .milliseconds(100 * (batch + 1))
                var batchIDs: [(UInt64, String)] = []
                for index in 0..<perBatch {
                    let path = parent + "/rtx-test-pod-\(batch * perBatch + index).scope"
                    guard (try? cgroups.create(path)) != nil, let id = SystemFile.inode(mount.mountPoint + path) else { continue }
                    batchIDs.append((id, path))
                }
                for (id, path) in batchIDs {
                    churnIDs.insert(id)
                    let scans = resolver.statistics.scans
                    if let found = resolver.path(of: id, now: now) {
                        #expect(found == path)
                        resolved.insert(id)
                    }
                    if resolver.statistics.scans > scans { walkTimes.append(resolver.statistics.lastScanDuration) }
                }
                for (_, path) in batchIDs { try? cgroups.remove(path) }
                _ = resolver.refresh(now: now)
                peakEntries = max(peakEntries, resolver.count)
                rssPeak = max(rssPeak, Self.residentKilobytes())
            }
        }
        #expect(churnIDs.count == batches * perBatch, "every cgroup created has its own id")
        // Without this the expiry checks below would pass vacuously had nothing resolved.
        #expect(!resolved.isEmpty, "the resolver found some of the churn's cgroups (\(resolved.count) of \(churnIDs.count))")
        // The walk after the last batch notices the last removals; a minute later all have expired.
        let end = start + .milliseconds(100 * batches)
        var expired = Set(resolver.refresh(now: end + .seconds(1)))
        expired.formUnion(resolver.refresh(now: end + .seconds(62)))
        #expect(resolved.subtracting(expired).isEmpty, "every cgroup seen and removed expires")
        #expect(expired.isSubset(of: churnIDs), "only the churn's cgroups expire")
        #expect(resolver.count == baseline, "after the grace period the resolver holds what it held before the churn")
        let rssAfter = Self.residentKilobytes()
        let sorted = walkTimes.sorted()
        let statistics = resolver.statistics
        print("""
            cgroup churn: \(churnIDs.count) cgroups created and removed in \(wall) (mkdir+lookup+rmdir), \
            baseline \(baseline) cgroups; \(statistics.scans) walks, walk time min \(sorted.first ?? .zero) \
            median \(sorted.isEmpty ? .zero : sorted[sorted.count / 2]) max \(sorted.last ?? .zero); \
            lookups: \(statistics.hits) hits, \(statistics.misses) misses, \(statistics.resolvedByRescan) resolved by a walk, \
            \(statistics.unresolved) unresolved (removed before a walk was due); peak entries \(peakEntries), \
            \(statistics.expired) expired, \(resolver.count) held after the grace period; \
            RSS \(rssBefore) kB before, \(rssPeak) kB peak, \(rssAfter) kB after expiry
            """)
    }

    /// A node with 10k cgroups at once, Kubernetes-shaped (1000 pods of 9 containers): the
    /// walk's time, the memory the resolver holds, the cost of a hit; then all removed and
    /// expired. Prints the figures; asserts only what is exact.
    @Test func walkOfTenThousandLiveCgroups() throws {
        let mount = try mount()
        let cgroups = CgroupFixture(mount: mount)
        defer { cgroups.removeAll() }
        let classSlice = "/kubepods.slice/kubepods-besteffort.slice"
        var containers: [(UInt64, String)] = []
        for pod in 0..<1000 {
            let uid = String(format: "%08x_0000_4000_8000_%012x", pod, pod)
            let podSlice = classSlice + "/kubepods-besteffort-pod\(uid).slice"
            for container in 0..<9 {
                let path = podSlice + "/cri-containerd-" + String(format: "%064x", pod * 16 + container) + ".scope"
                try cgroups.create(path)
                containers.append((try #require(SystemFile.inode(mount.mountPoint + path)), path))
            }
        }
        let rssBefore = Self.residentKilobytes()
        var resolver = CgroupPathResolver(tree: CgroupTree(mount: mount),
                                          configuration: .init(minimumRescanInterval: .zero, gracePeriod: .seconds(60)))
        let start = ContinuousClock.now
        var walks: [Duration] = []
        for step in 0..<5 {
            _ = resolver.refresh(now: start + .seconds(step))
            walks.append(resolver.statistics.lastScanDuration)
        }
        let rssHeld = Self.residentKilobytes()
        let held = resolver.count
        #expect(held >= containers.count + 1000 + 2, "every container, pod and class cgroup and the root")
        var lookups = resolver
        let lookupTime = ContinuousClock().measure {
            for (id, path) in containers where lookups.path(of: id, now: start + .seconds(5)) != path {
                Issue.record("\(id) is not \(path)")
            }
        }
        #expect(lookups.statistics.hits == containers.count)
        let pathBytes = containers.reduce(0) { $0 + $1.1.utf8.count }
        cgroups.removeAll()
        _ = resolver.refresh(now: start + .seconds(10))
        let expired = resolver.refresh(now: start + .seconds(71))
        #expect(Set(containers.map(\.0)).isSubset(of: Set(expired)))
        let sorted = walks.sorted()
        print("""
            cgroup walk: \(held) cgroups (\(containers.count) container scopes of 1000 pods), walk time \
            min \(sorted[0]) median \(sorted[2]) max \(sorted[4]); \(containers.count) hits in \(lookupTime); \
            RSS \(rssBefore) kB before the resolver, \(rssHeld) kB holding \(held) entries \
            (paths alone \(pathBytes / 1024) kB); after removal and the grace period \(resolver.count) held, \
            \(expired.count) expired, RSS \(Self.residentKilobytes()) kB
            """)
    }

    static func residentKilobytes() -> Int {
        guard let status = try? SystemFile.readString("/proc/self/status"),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return 0 }
        return Int(line.split(separator: " ")[1]) ?? 0
    }
}

/// cgroups a test creates under the cgroup2 root, removed deepest first by `removeAll`
/// (idempotent, for `defer`), each level of each path; rmdir(2) never removes a cgroup that
/// has children or processes, so a parent in use stays. Leftovers of a killed run are reused.
final class CgroupFixture: @unchecked Sendable {
    let mount: CgroupMount
    private var created: [String] = []

    init(mount: CgroupMount) { self.mount = mount }

    /// mkdir -p, recording each level it made.
    func create(_ path: String) throws {
        var current = ""
        for component in path.split(separator: "/") {
            current += "/" + component
            // EEXIST: a leftover of a killed run, or a parent in use (whose rmdir fails: EBUSY).
            guard mkdir(mount.mountPoint + current, 0o755) == 0 || errno == EEXIST else {
                throw FileReadError(path: mount.mountPoint + current, errno: errno)
            }
            if !created.contains(current) { created.append(current) }
        }
    }

    func remove(_ path: String) throws {
        guard rmdir(mount.mountPoint + path) == 0 || errno == ENOENT else {
            throw FileReadError(path: mount.mountPoint + path, errno: errno)
        }
        created.removeAll { $0 == path }
    }

    func write(_ text: String, to path: String) throws {
        let file = mount.mountPoint + path
        guard let handle = FileHandle(forWritingAtPath: file) else { throw FileReadError(path: file, errno: errno) }
        defer { try? handle.close() }
        try handle.write(contentsOf: Array(text.utf8))
    }

    /// Deepest first; a cgroup with a process still in it moves it to the root first.
    func removeAll() {
        for path in created.sorted(by: { $0.split(separator: "/").count > $1.split(separator: "/").count }) {
            if let procs = try? SystemFile.readString(mount.mountPoint + path + "/cgroup.procs") {
                for pid in procs.split(separator: "\n") { try? write(String(pid), to: "/cgroup.procs") }
            }
            _ = rmdir(mount.mountPoint + path)
        }
        created.removeAll()
    }
}
