import Foundation
@testable import ELFReader

/// Test inputs committed under Fixtures/ (rebuilt by `make fixtures`).
enum Fixture: String, CaseIterable {
    case retrans = "retrans.o"
    case legacyMaps = "legacy_maps.o"
    case multi = "multi.o"
    case eventLayout = "event_layout.o"
    /// CO-RE fixtures, each built by clang 21 and by clang 14 (`make fixtures`).
    case coreFields = "core_fields.o"
    case coreFieldsClang14 = "core_fields.clang14.o"
    case coreTypes = "core_types.o"
    case coreTypesClang14 = "core_types.clang14.o"
    case coreSubprog = "core_subprog.o"
    case coreSubprogClang14 = "core_subprog.clang14.o"

    static let core: [Fixture] = [.coreFields, .coreFieldsClang14, .coreTypes, .coreTypesClang14,
                                  .coreSubprog, .coreSubprogClang14]

    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    var path: String { Self.directory.appendingPathComponent(rawValue).path }

    func bytes() throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    func spec() throws -> ObjectSpec {
        try ObjectReader.read(try bytes())
    }
}
