// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "retrans-exporter",
    products: [
        .executable(name: "retrans-exporter", targets: ["Exporter"]),
        .library(name: "ELFReader", targets: ["ELFReader"]),
        .library(name: "BPFSyscall", targets: ["BPFSyscall"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        // --web.config.file: TLS (BoringSSL inside) and gzip responses (system zlib).
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
    ],
    targets: [
        // Pure Swift: bytes in, specs out. No Glibc, no syscalls.
        .target(name: "ELFReader"),
        // The C shim: raw bpf(2), perf_event_open, ioctl, epoll, ring atomics.
        .target(name: "CBPFSyscall"),
        // bpf/retrans.o, embedded at build time (`make` builds it first).
        .target(name: "CRetransObject"),
        // Every raw call and unsafe pointer: loader, attach, perf rings.
        .target(name: "BPFSyscall", dependencies: ["CBPFSyscall", "ELFReader"]),
        // libFuzzer over the reader: `make fuzz` (built with -sanitize=fuzzer,address).
        .target(name: "CFuzzDriver"),
        // What the fuzzer does with a spec (the inspect walk, invariants); the regression test reuses it.
        .target(name: "ReaderFuzzSupport", dependencies: ["ELFReader"]),
        .executableTarget(name: "ReaderFuzzer", dependencies: ["ELFReader", "ReaderFuzzSupport", "CFuzzDriver"]),
        // libxcrypt's crypt_r (bcrypt verification for basic_auth_users) and libyaml (the web
        // configuration file), linked statically so the binary still needs no libyaml at run time.
        .target(name: "CWebSupport", linkerSettings: [.linkedLibrary("crypt"), .linkedLibrary(":libyaml.a")]),
        .executableTarget(
            name: "Exporter",
            dependencies: [
                "ELFReader", "BPFSyscall", "CRetransObject", "CWebSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTPCompression", package: "swift-nio-extras"),
            ]
        ),
        .testTarget(name: "ELFReaderTests", dependencies: ["ELFReader", "ReaderFuzzSupport", "KernelTestSupport"],
                    exclude: ["Fixtures", "FuzzRegressions"]),
        // Shared test harness: commands (the one spawner), a seeded generator; and for real-kernel
        // tests veth namespaces, bulk transfers, ftrace counts, bpftool.
        .target(name: "KernelTestSupport", path: "Tests/KernelTestSupport"),
        // Test-only C: pin a thread to a CPU, raw getppid(2) bursts (the ring tests' producer trigger).
        .target(name: "CRingTestSupport", path: "Tests/CRingTestSupport"),
        .testTarget(name: "BPFSyscallTests",
                    dependencies: ["BPFSyscall", "ELFReader", "CBPFSyscall", "KernelTestSupport", "CRingTestSupport"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "ExporterTests",
                    dependencies: ["Exporter", "ELFReader", "BPFSyscall", "CBPFSyscall", "KernelTestSupport", "CRingTestSupport"],
                    exclude: ["Golden", "Fixtures"]),
    ],
    swiftLanguageModes: [.v6]
)
