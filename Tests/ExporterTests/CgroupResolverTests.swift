import Testing
@testable import Exporter

/// Finding the cgroup2 mount in mountinfo text, and the resolver's cache, bounded rescans and
/// expiry over a scripted hierarchy (the real one is in CgroupKernelTests).
@Suite struct CgroupMountTests {
    // This machine (hybrid: v1 controllers, v2 at .../unified), with the lines around it.
    static let hybrid = """
        22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
        31 22 0:27 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
        42 31 0:39 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
        45 31 0:42 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory

        """
    // Debian 12 / Fedora: the unified layout, optional fields before the separator.
    static let unified = """
        25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
        29 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot

        """

    @Test func hybridLayout() throws {
        #expect(try CgroupMount.find(inMountInfo: Self.hybrid) == CgroupMount(mountPoint: "/sys/fs/cgroup/unified", root: "/"))
    }

    @Test func unifiedLayout() throws {
        let mount = try CgroupMount.find(inMountInfo: Self.unified)
        #expect(mount == CgroupMount(mountPoint: "/sys/fs/cgroup", root: "/"))
        #expect(mount.pathPrefix == "")
    }

    @Test func escapedMountPoint() throws {
        let text = "50 22 0:50 / /mnt/cgroup\\040two\\011tab\\134back rw - cgroup2 none rw\n"
        #expect(try CgroupMount.find(inMountInfo: text).mountPoint == "/mnt/cgroup two\ttab\\back")
    }

    @Test func theWholeHierarchyWinsOverASubtree() throws {
        let text = """
            60 22 0:26 /kubepods.slice /run/sub rw - cgroup2 cgroup2 rw
            61 22 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw
            """
        #expect(try CgroupMount.find(inMountInfo: text).mountPoint == "/sys/fs/cgroup")
    }

    /// A pod with its own cgroup namespace sees its own cgroup at /sys/fs/cgroup as `/`; the
    /// host's hierarchy mounted through hostPath shows as above it (the kernel writes `/..`).
    @Test func theHostsHierarchyWinsOverAContainersOwnView() throws {
        let text = """
            1200 1100 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw
            1201 1100 0:26 /../../.. /host/sys/fs/cgroup ro,relatime - cgroup2 cgroup2 rw
            """
        let mount = try CgroupMount.find(inMountInfo: text)
        #expect(mount.mountPoint == "/host/sys/fs/cgroup")
        #expect(mount.height == 3)
        #expect(mount.pathPrefix == "")
    }

    @Test func aSubtreeBindMountPrefixesItsPaths() throws {
        let mount = try CgroupMount.find(inMountInfo: "60 22 0:26 /kubepods.slice /run/sub rw - cgroup2 cgroup2 rw\n")
        #expect(mount.pathPrefix == "/kubepods.slice")
        // Outside the exporter's cgroup namespace: the kernel writes /.., which names nothing.
        #expect(CgroupMount(mountPoint: "/sys/fs/cgroup", root: "/../../..").pathPrefix == "")
    }

    @Test func noCgroup2SaysWhatToDo() {
        let v1Only = "42 31 0:39 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\nnonsense\n"
        #expect(throws: CgroupMountError.notMounted(path: "/proc/self/mountinfo", malformedLines: 1)) {
            try CgroupMount.find(inMountInfo: v1Only)
        }
        let message = CgroupMountError.notMounted(path: "/proc/self/mountinfo", malformedLines: 1).description
        #expect(message == "cgroup2 mount: no cgroup2 file system in /proc/self/mountinfo (1 lines could not be parsed); mount one (mount -t cgroup2 none /sys/fs/cgroup) or the cgroup labels stay empty")
        #expect(throws: CgroupMountError.self) { try CgroupMount.find(mountInfoPath: "/nonexistent/mountinfo") }
    }

    @Test func malformedLinesAreSkipped() throws {
        let text = """
            41 31 0:38 / /bad\\04 rw - cgroup2 cgroup2 rw
            41 31 0:38 / /bad\\098 rw - cgroup2 cgroup2 rw
            41 31 0:38 / rw - cgroup2
            41 31 0:38 / /ok rw - cgroup2 cgroup2 rw
            """
        #expect(try CgroupMount.find(inMountInfo: text).mountPoint == "/ok")
        #expect(MountInfoLine.unescape("a\\04") == nil)
        #expect(MountInfoLine.unescape("a\\400") == nil)  // 256 is no byte
        #expect(MountInfoLine.unescape("\\040\\040") == "  ")
    }
}

@Suite struct CgroupPathResolverTests {
    /// The hierarchy the fake walk sees, changed by the test between lookups.
    final class FakeTree: @unchecked Sendable {
        var paths: [UInt64: String] = [1: "/"]
        var truncated = false
        var fails = false
        var walks = 0

        func scan() throws(CgroupScanError) -> CgroupScan {
            walks += 1
            if fails { throw .rootUnreadable("/sys/fs/cgroup", errno: 13) }
            return CgroupScan(paths: paths, truncated: truncated)
        }
    }

    let start = ContinuousClock.now
    func at(_ milliseconds: Int) -> ContinuousClock.Instant { start.advanced(by: .milliseconds(milliseconds)) }

    func resolver(_ tree: FakeTree, rescan: Duration = .milliseconds(500), grace: Duration = .seconds(60)) -> CgroupPathResolver {
        CgroupPathResolver(configuration: .init(minimumRescanInterval: rescan, gracePeriod: grace),
                           scanner: { () throws(CgroupScanError) in try tree.scan() })
    }

    @Test func aMissWalksAtMostOncePerInterval() {
        let tree = FakeTree()
        tree.paths[100] = "/system.slice/nginx.service"
        var resolver = resolver(tree)
        #expect(resolver.path(of: 100, now: at(0)) == "/system.slice/nginx.service")  // first walk
        #expect(resolver.path(of: 100, now: at(1)) == "/system.slice/nginx.service")  // cached
        tree.paths[200] = "/rtx.slice/new.service"
        // Within the interval: a burst of misses costs no walk.
        for step in 2..<10 { #expect(resolver.path(of: 200, now: at(step)) == nil) }
        #expect(tree.walks == 1)
        #expect(resolver.path(of: 200, now: at(500)) == "/rtx.slice/new.service")
        #expect(tree.walks == 2)
        #expect(resolver.statistics.hits == 1)
        #expect(resolver.statistics.misses == 10)
        #expect(resolver.statistics.resolvedByRescan == 2)
        #expect(resolver.statistics.unresolved == 8)
        // An id no walk finds (a dying cgroup): one walk when due (at 1000), then none.
        for step in 501..<2000 { _ = resolver.path(of: 999, now: at(step)) }
        #expect(tree.walks == 3)
        #expect(resolver.unknownCount == 1)
    }

    @Test func anIdNoWalkFindsWalksOncePerRetryIntervalWhileNewIdsStillWalk() {
        let tree = FakeTree()
        var resolver = CgroupPathResolver(
            configuration: .init(minimumRescanInterval: .milliseconds(500), gracePeriod: .seconds(60),
                                 unknownRetryInterval: .seconds(10), unknownLimit: 2),
            scanner: { () throws(CgroupScanError) in try tree.scan() })
        for step in stride(from: 0, to: 10_000, by: 100) { _ = resolver.path(of: 999, now: at(step)) }
        #expect(tree.walks == 1)
        tree.paths[300] = "/new"
        #expect(resolver.path(of: 300, now: at(9_999)) == "/new")  // a new id still walks
        #expect(tree.walks == 2)
        #expect(resolver.path(of: 999, now: at(10_000)) == nil)  // retry due, but a walk is not yet
        #expect(tree.walks == 2)
        #expect(resolver.path(of: 999, now: at(10_500)) == nil)  // both due: walks again
        #expect(tree.walks == 3)
        // The memory of unknown ids is bounded, and refresh forgets the old ones.
        _ = resolver.path(of: 998, now: at(11_000))
        #expect(resolver.unknownCount == 2)
        _ = resolver.path(of: 997, now: at(11_500))
        #expect(tree.walks == 5)
        #expect(resolver.unknownCount == 1)
        _ = resolver.refresh(now: at(30_000))
        #expect(resolver.unknownCount == 0)
    }

    @Test func aRemovedCgroupKeepsItsPathForTheGracePeriodThenExpires() {
        let tree = FakeTree()
        tree.paths[100] = "/kubepods/pod1"
        tree.paths[101] = "/kubepods/pod2"
        var resolver = resolver(tree, grace: .seconds(60))
        #expect(resolver.refresh(now: at(0)) == [])
        #expect(resolver.count == 3)
        tree.paths[100] = nil
        #expect(resolver.refresh(now: at(1_000)) == [])  // noticed gone at 1 s
        #expect(resolver.path(of: 100, now: at(30_000)) == "/kubepods/pod1")  // late event still resolves
        #expect(resolver.refresh(now: at(60_999)) == [])
        #expect(resolver.refresh(now: at(61_000)) == [100])
        #expect(resolver.count == 2)
        #expect(resolver.statistics.expired == 1)
        #expect(resolver.path(of: 100, now: at(61_001)) == nil)
    }

    @Test func aCgroupThatComesBackIsNotExpired() {
        let tree = FakeTree()
        tree.paths[100] = "/a"
        var resolver = resolver(tree, grace: .seconds(1))
        _ = resolver.refresh(now: at(0))
        tree.paths[100] = nil
        _ = resolver.refresh(now: at(500))
        tree.paths[100] = "/a"
        _ = resolver.refresh(now: at(1_000))
        #expect(resolver.refresh(now: at(5_000)) == [])
        #expect(resolver.path(of: 100, now: at(5_001)) == "/a")
    }

    @Test func aTruncatedWalkExpiresNothing() {
        let tree = FakeTree()
        tree.paths[100] = "/a"
        var resolver = resolver(tree, grace: .seconds(1))
        _ = resolver.refresh(now: at(0))
        tree.paths = [1: "/"]
        tree.truncated = true
        _ = resolver.refresh(now: at(500))
        #expect(resolver.refresh(now: at(5_000)) == [])
        #expect(resolver.statistics.lastScanTruncated)
    }

    @Test func aFailedWalkKeepsWhatIsKnownAndSaysWhy() {
        let tree = FakeTree()
        tree.paths[100] = "/a"
        var resolver = resolver(tree, grace: .seconds(1))
        _ = resolver.refresh(now: at(0))
        tree.fails = true
        #expect(resolver.refresh(now: at(5_000)) == [])
        #expect(resolver.path(of: 100, now: at(5_001)) == "/a")
        #expect(resolver.statistics.scanFailures == 1)
        #expect(resolver.lastError?.description == "cgroup2 hierarchy: cannot read /sys/fs/cgroup: Permission denied (the cgroup labels stay empty)")
    }
}
