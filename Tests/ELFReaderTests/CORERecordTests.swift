import Foundation
import Testing
@testable import ELFReader

/// The reader's view of `.BTF.ext` CO-RE records: where they land in the
/// linked program, and what it says about records that cannot be right.
@Suite struct CORERecordTests {
    @Test(arguments: Fixture.core)
    func recordsLandOnTheInstructionsTheyDescribe(_ fixture: Fixture) throws {
        let object = try fixture.spec()
        let program = try #require(object.programs.first)
        #expect(!program.coreRelocations.isEmpty)
        for relocation in program.coreRelocations {
            let instruction = program.instructions[relocation.instructionIndex]
            #expect(relocation.accessIndices != nil)
            // Each kind sits on an instruction class that can carry its value.
            switch instruction.opcode & 0x07 {
            case 0x01, 0x02, 0x03: #expect(relocation.kind == .fieldByteOffset)
            case 0x04, 0x07: #expect(instruction.opcode & 0x08 == 0)
            case 0x00: #expect(instruction.isLoadImmediate64)
            default: Issue.record("CO-RE relocation on opcode \(instruction.opcode)")
            }
        }
    }

    /// Byte position of the first core_relo record in the file, and the section's contents.
    private func firstRecord(_ bytes: [UInt8]) throws -> Int {
        let elf = try ELFFile(bytes)
        let section = try #require(elf.section(named: ".BTF.ext"))
        let ext = try elf.contents(of: section)
        func u32(_ at: Int) -> Int { Int(ext[at]) | Int(ext[at + 1]) << 8 | Int(ext[at + 2]) << 16 | Int(ext[at + 3]) << 24 }
        let headerLength = u32(4)
        #expect(headerLength >= 32)
        let coreOffset = u32(24)
        // rec_size, then the first section block: name offset, count, records.
        return Int(section.offset) + headerLength + coreOffset + 4 + 8
    }

    private func expectReadError(_ bytes: [UInt8], _ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(sourceLocation: sourceLocation) { try ObjectReader.read(bytes) } throws: { error in
            guard let error = error as? ObjectReadError else { return false }
            return error.description.contains(text) && error.section == ".BTF.ext"
        }
    }

    private func setU32(_ bytes: inout [UInt8], at offset: Int, _ value: UInt32) {
        for index in 0..<4 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
    }

    @Test func malformedRecordsAreErrorsNamingTheirPlace() throws {
        let clean = try Fixture.coreTypes.bytes()
        let record = try firstRecord(clean)

        var badKind = clean
        setU32(&badKind, at: record + 12, 13)
        expectReadError(badKind, "kind 13 is not a CO-RE relocation kind")

        var badType = clean
        setU32(&badType, at: record + 4, 99_999)
        expectReadError(badType, "CO-RE relocation names type 99999, which is not in .BTF")

        var badAccess = clean
        setU32(&badAccess, at: record + 8, 0x7fff_ffff)
        expectReadError(badAccess, "access string")

        var misaligned = clean
        setU32(&misaligned, at: record, 9)
        expectReadError(misaligned, "not on an instruction boundary")

        var pastTheEnd = clean
        setU32(&pastTheEnd, at: record, 8 * 100_000)
        // A record past every function belongs to no program: libbpf skips it too.
        let spec = try ObjectReader.read(pastTheEnd)
        #expect(spec.programs[0].coreRelocations.count == (try Fixture.coreTypes.spec()).programs[0].coreRelocations.count - 1)
    }
}
