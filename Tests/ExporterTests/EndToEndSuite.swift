import Foundation
import KernelTestSupport
import Testing

/// The built `retrans-exporter` binary run as a child process against the real
/// kernel, with real traffic in namespaces and outside witnesses (ftrace,
/// Prometheus, promtool, bpftool). One suite at a time: each starts exporters,
/// lossy transfers and Prometheus, too heavy to overlap on a 2-core machine.
///
/// Resources of this suite (no other suite uses them): namespaces `rtx-e2e-*`,
/// 10.203.5.0/24 and fd00:203::5:0/112 inside them, flow ports 7501-7599,
/// ftrace instances `rtx-e2e-*`, exporter HTTP ports 21200-21249 and Prometheus
/// ports 21250-21299 on 127.0.0.1.
@Suite(.serialized, .enabled(if: KernelTestEnvironment.isRoot, Comment(rawValue: KernelTestEnvironment.skipReason)))
struct EndToEnd {
    static let ipv4Network = "10.203.5"
    static let ipv6Network = "fd00:203::5"
}
