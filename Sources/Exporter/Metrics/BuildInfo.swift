/// What `retrans_exporter_build_info` reports.
struct BuildInfo: Sendable, Equatable {
    var version: String
    var swiftVersion: String

    init(version: String, swiftVersion: String = BuildInfo.compilerVersion) {
        self.version = version
        self.swiftVersion = swiftVersion
    }

    /// The compiler that built this binary, to the minor version.
    static var compilerVersion: String {
        #if compiler(>=6.5)
        "6.5+"
        #elseif compiler(>=6.4)
        "6.4"
        #elseif compiler(>=6.3)
        "6.3"
        #elseif compiler(>=6.2)
        "6.2"
        #elseif compiler(>=6.1)
        "6.1"
        #else
        "6.0"
        #endif
    }
}
