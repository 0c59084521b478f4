import Testing
@testable import Exporter

/// `pod_uid` and `container_id` from cgroup paths as the kubelet (both drivers) and the
/// runtimes write them, and the near misses that must say nothing.
@Suite struct WorkloadLabelsTests {
    static let uid = "6a2b5c3e-1f4d-4c8b-9a7e-2d3f4b5c6d7e"
    static let uidUnderscored = "6a2b5c3e_1f4d_4c8b_9a7e_2d3f4b5c6d7e"
    static let id = "4f1c2b3a5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708"
    static let staticPodUID = "d41d8cd98f00b204e9800998ecf8427e"

    struct Case: Sendable, CustomTestStringConvertible {
        var path: String
        var podUID = ""
        var containerID = ""
        var testDescription: String { path }
    }

    static let cases: [Case] = [
        // kubelet, systemd driver
        Case(path: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(uidUnderscored).slice/cri-containerd-\(id).scope",
             podUID: uid, containerID: id),
        Case(path: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod\(uidUnderscored).slice/crio-\(id).scope",
             podUID: uid, containerID: id),
        Case(path: "/kubepods.slice/kubepods-pod\(uidUnderscored).slice/cri-containerd-\(id).scope",  // guaranteed
             podUID: uid, containerID: id),
        Case(path: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(uidUnderscored).slice",
             podUID: uid),
        Case(path: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(uidUnderscored).slice/docker-\(id).scope",
             podUID: uid, containerID: id),
        Case(path: "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod\(uidUnderscored).slice/cri-containerd-\(id).scope",
             podUID: uid, containerID: id),  // kind: --cgroup-root=/kubelet
        Case(path: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(staticPodUID).slice/cri-containerd-\(id).scope",
             podUID: staticPodUID, containerID: id),
        Case(path: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(uidUnderscored).slice/crio-conmon-\(id).scope",
             podUID: uid),  // CRI-O's monitor, not the container
        // kubelet, cgroupfs driver
        Case(path: "/kubepods/burstable/pod\(uid)/\(id)", podUID: uid, containerID: id),
        Case(path: "/kubepods/besteffort/pod\(uid)/crio-\(id)", podUID: uid, containerID: id),
        Case(path: "/kubepods/pod\(uid)/\(id)", podUID: uid, containerID: id),  // guaranteed
        Case(path: "/kubepods/burstable/pod\(uid)", podUID: uid),
        // Docker, Podman
        Case(path: "/system.slice/docker-\(id).scope", containerID: id),
        Case(path: "/system.slice/docker-\(id).scope/init.scope", containerID: id),  // systemd inside
        Case(path: "/docker/\(id)", containerID: id),
        Case(path: "/machine.slice/libpod-\(id).scope", containerID: id),
        Case(path: "/machine.slice/libpod-\(id).scope/container", containerID: id),
        Case(path: "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-\(id).scope", containerID: id),
        Case(path: "/libpod_parent/libpod-\(id)", containerID: id),
        // plain hosts
        Case(path: "/"),
        Case(path: ""),
        Case(path: "/system.slice/nginx.service"),
        Case(path: "/user.slice/user-1000.slice/session-3.scope"),
        Case(path: "/system.slice/containerd.service"),
        Case(path: "/kubepods.slice"),
        Case(path: "/kubepods.slice/kubepods-burstable.slice"),
        Case(path: "/kubepods/burstable"),
        // near misses
        Case(path: "/system.slice/docker-\(id.dropLast()).scope"),  // 63 hex
        Case(path: "/system.slice/docker-\(id)0.scope"),  // 65 hex
        Case(path: "/system.slice/docker-\(id.uppercased()).scope"),
        Case(path: "/system.slice/docker-\(id).mount"),
        Case(path: "/system.slice/var-lib-docker-overlay2-\(id)-merged.mount"),
        Case(path: "/system.slice/run-containerd-io.containerd.runtime.v2.task-k8s.io-\(id)-rootfs.mount"),
        Case(path: "/machine.slice/libpod-conmon-\(id).scope"),
        Case(path: "/system.slice/\(id)"),  // a bare id not under /docker or a pod
        Case(path: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(uid).slice"),  // dashes in a slice name
        Case(path: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(uidUnderscored.uppercased()).slice"),
        Case(path: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(uidUnderscored.dropLast()).slice"),
        Case(path: "/kubepods.slice/kubepods-guaranteed.slice/kubepods-guaranteed-pod\(uidUnderscored).slice"),  // no such class level
        Case(path: "/system.slice/system-pod\(uidUnderscored).slice"),
        Case(path: "/kubepods/burstable/pod\(uidUnderscored)/\(id)"),  // cgroupfs keeps the dashes
        Case(path: "/system.slice/pod\(uid)"),
        Case(path: "/kubepods/burstable/notapod/\(id)"),
    ]

    @Test(arguments: cases)
    func labelsFromPath(_ item: Case) {
        #expect(WorkloadLabels(cgroupPath: item.path) == WorkloadLabels(podUID: item.podUID, containerID: item.containerID))
    }

    @Test func podUIDForms() {
        #expect(WorkloadLabels.isPodUID(Self.uid))
        #expect(WorkloadLabels.isPodUID(Self.staticPodUID))
        #expect(!WorkloadLabels.isPodUID(Self.uidUnderscored))
        #expect(!WorkloadLabels.isPodUID(Self.uid.uppercased()))
        #expect(!WorkloadLabels.isPodUID(String(Self.uid.dropLast())))
        #expect(!WorkloadLabels.isPodUID(""))
    }
}
