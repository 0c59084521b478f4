/// The Kubernetes pod and the container a cgroup path names, for the `pod_uid` and
/// `container_id` labels; each empty where the path says nothing.
///
/// The path is all there is (no API server, no container runtime socket): the kubelet and the
/// runtimes name their cgroups after the pod UID and the container id.
///
/// Pods, kubelet with the systemd cgroup driver (systemd spells a slice's ancestry as its
/// dash-separated prefix and does not allow dashes in a name, so the UID's become `_`):
///     /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid, _ for ->.slice/...
///     /kubepods.slice/kubepods-pod<uid>.slice/...                 (guaranteed: no class level)
/// with the cgroupfs driver:
///     /kubepods/burstable/pod<uid>/...   /kubepods/pod<uid>/...
/// Containers, the 64 lower-case hex digits of the id in the innermost component that is
///     cri-containerd-<id>.scope   crio-<id>.scope   docker-<id>.scope   libpod-<id>.scope
///     (systemd driver; without `.scope` for the cgroupfs drivers of CRI-O and Podman)
///     <id> directly under /docker/ or under a cgroupfs pod directory (containerd, Docker)
/// `crio-conmon-<id>` and `libpod-conmon-<id>` hold the runtime's monitor, not the container:
/// they name no container. A pod UID is the API's 8-4-4-4-12 form, or the 32 hex digits the
/// kubelet gives static pods (their mirror pod has another UID in the API).
struct WorkloadLabels: Sendable, Equatable {
    var podUID = ""
    var containerID = ""

    init(podUID: String = "", containerID: String = "") {
        self.podUID = podUID
        self.containerID = containerID
    }

    init(cgroupPath: String) {
        let components = cgroupPath.split(separator: "/")
        for (index, component) in components.enumerated() {
            let parents = components[..<index]
            if let uid = Self.systemdPodUID(component) ?? Self.cgroupfsPodUID(component, parents: parents) {
                podUID = uid
            }
            if let id = Self.containerID(component, parents: parents) {
                containerID = id
            }
        }
    }

    private static let qosClasses: Set<Substring> = ["burstable", "besteffort"]
    private static let runtimePrefixes = ["cri-containerd-", "crio-", "docker-", "libpod-"]

    /// `kubepods[-<class>]-pod<uid>.slice`, possibly under a kubelet cgroup root slice
    /// (`kubelet-kubepods-...`).
    private static func systemdPodUID(_ component: Substring) -> String? {
        guard component.hasSuffix(".slice") else { return nil }
        let parts = component.dropLast(".slice".count).split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 2, let last = parts.last, last.hasPrefix("pod") else { return nil }
        let parent = parts[parts.count - 2]
        let underKubepods = parent == "kubepods"
            || (qosClasses.contains(parent) && parts.count >= 3 && parts[parts.count - 3] == "kubepods")
        guard underKubepods else { return nil }
        let uid = String(last.dropFirst("pod".count).map { $0 == "_" ? "-" : $0 })
        return isPodUID(uid) ? uid : nil
    }

    /// `pod<uid>` directly under `kubepods` or under its class directory.
    private static func cgroupfsPodUID(_ component: Substring, parents: ArraySlice<Substring>) -> String? {
        guard component.hasPrefix("pod"), isUnderKubepods(parents) else { return nil }
        let uid = String(component.dropFirst("pod".count))
        return isPodUID(uid) ? uid : nil
    }

    private static func isUnderKubepods(_ parents: ArraySlice<Substring>) -> Bool {
        guard let parent = parents.last else { return false }
        if parent == "kubepods" { return true }
        return qosClasses.contains(parent) && parents.dropLast().last == "kubepods"
    }

    private static func containerID(_ component: Substring, parents: ArraySlice<Substring>) -> String? {
        let name = component.hasSuffix(".scope") ? component.dropLast(".scope".count) : component
        for prefix in runtimePrefixes where name.hasPrefix(prefix) {
            let id = name.dropFirst(prefix.count)
            return isContainerID(id) ? String(id) : nil
        }
        // Bare ids: Docker's cgroupfs driver and containerd under a cgroupfs pod directory.
        guard component == name, isContainerID(component), let parent = parents.last else { return nil }
        let underDocker = parent == "docker"
        let underPod = cgroupfsPodUID(parent, parents: parents.dropLast()) != nil
        return underDocker || underPod ? String(component) : nil
    }

    private static func isContainerID(_ text: Substring) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy(isLowerHex)
    }

    /// 8-4-4-4-12 lower-case hex (the API's form), or 32 lower-case hex (a static pod).
    static func isPodUID(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        if bytes.count == 32 { return bytes.allSatisfy(isLowerHex) }
        guard bytes.count == 36 else { return false }
        for (offset, byte) in bytes.enumerated() {
            let isDash = [8, 13, 18, 23].contains(offset)
            guard isDash ? byte == UInt8(ascii: "-") : isLowerHex(byte) else { return false }
        }
        return true
    }

    private static func isLowerHex(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
    }
}
