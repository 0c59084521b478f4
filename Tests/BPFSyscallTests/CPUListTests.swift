import Testing
@testable import BPFSyscall

@Suite struct CPUListTests {
    @Test(arguments: [
        ("0\n", [0]),
        ("0-1\n", [0, 1]),
        ("0,2-3\n", [0, 2, 3]),
        ("0-3,8-9,12", [0, 1, 2, 3, 8, 9, 12]),
        ("5", [5]),
    ])
    func parsesKernelLists(text: String, cpus: [Int]) throws {
        #expect(try CPUList.parse(text) == cpus)
    }

    @Test(arguments: ["", "\n", "a", "0-", "-1", "1-0", "0,,1", "0-1-2", "0 1", "+1", "2,1", "0-1,1",
                      "99999999999999999999", "0-70000"])
    func rejectsMalformedLists(text: String) {
        #expect(throws: CPUListError.self) { try CPUList.parse(text) }
    }

    /// The running machine's list agrees with the CPUs the scheduler reports online.
    @Test func onlineMatchesSysconf() throws {
        let online = try CPUList.online()
        #expect(!online.isEmpty)
        #expect(online.count == Int(sysconfOnlineCPUs()))
    }

    @Test func missingFileNamesThePath() {
        #expect(throws: CPUListError.self) { try CPUList.online(path: "/nonexistent/online") }
        do {
            _ = try CPUList.online(path: "/nonexistent/online")
        } catch {
            #expect(error.description.contains("/nonexistent/online"))
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
private func sysconfOnlineCPUs() -> Int {
    sysconf(Int32(_SC_NPROCESSORS_ONLN))
}
