import Foundation
@testable import ELFReader

/// Test inputs committed under Fixtures/ (rebuilt by `make fixtures`).
enum Fixture: String, CaseIterable {
    case retrans = "retrans.o"
    case legacyMaps = "legacy_maps.o"
    case multi = "multi.o"
    case eventLayout = "event_layout.o"

    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    var path: String { Self.directory.appendingPathComponent(rawValue).path }

    func bytes() throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    func spec() throws -> ObjectSpec {
        try ObjectReader.read(try bytes())
    }
}
