/// What `run` can say about the workload of a retransmission, decided once at start-up, with
/// the reason when it can say less.
///
/// Nothing here needs a privilege: the cgroup2 directories are world-readable, so the
/// resolver keeps walking them after phase 1 has dropped every capability.
struct WorkloadAttribution {
    var resolver: CgroupPathResolver?
    /// One line each, for the start-up log.
    var notices: [String] = []

    static func start(attachment: ProgramAttachmentKind,
                      mountInfoPath: String = CgroupMount.mountInfoPath) -> WorkloadAttribution {
        var attribution = WorkloadAttribution()
        if attachment == .tracepoint {
            attribution.notices.append("""
                the tracepoint/ program cannot read the socket (it needs kernel BTF for tp_btf): \
                segments, kind, netns and cgroup are not known, so tcp_retransmitted_segments_total and \
                tcp_retransmitted_segments_by_cgroup_total stay empty, the labels kind, netns, cgroup, \
                pod_uid and container_id are empty, and SYN-ACK retransmissions are not counted
                """)
            return attribution
        }
        do {
            let mount = try CgroupMount.find(mountInfoPath: mountInfoPath)
            attribution.resolver = CgroupPathResolver(tree: CgroupTree(mount: mount))
        } catch {
            attribution.notices.append("\(error)")
        }
        return attribution
    }
}
