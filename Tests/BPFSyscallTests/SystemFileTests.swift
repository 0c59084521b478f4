import BPFSyscall
import Foundation
import KernelTestSupport
import Testing

/// SystemFile's directory helpers against a real directory, with stat(1) as the witness of
/// the inode numbers.
@Suite struct SystemFileTests {
    @Test func directoryListingGivesNamesInodesAndTypes() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rtx-sf-test.\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory + "/sub dir", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        FileManager.default.createFile(atPath: directory + "/file", contents: Data("x".utf8))
        try FileManager.default.createSymbolicLink(atPath: directory + "/link", withDestinationPath: directory + "/sub dir")

        func statInode(_ path: String) throws -> UInt64 {
            let text = try Command.run(["stat", "-c", "%i", path]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            return try #require(UInt64(text))
        }
        let listing = try SystemFile.directoryListing(directory).sorted { $0.name < $1.name }
        #expect(listing.map(\.name) == ["file", "link", "sub dir"])
        #expect(listing.map(\.isDirectory) == [false, false, true])  // a link to a directory is no directory
        #expect(try listing[0].inode == statInode(directory + "/file"))
        #expect(try listing[2].inode == statInode(directory + "/sub dir"))
        #expect(try SystemFile.directoryListing(directory, directoriesOnly: true).map(\.name) == ["sub dir"])
        #expect(try SystemFile.directoryEntries(directory).sorted() == ["file", "link", "sub dir"])
        #expect(try SystemFile.inode(directory) == statInode(directory))
        #expect(SystemFile.isDirectory(directory + "/link"))  // stat follows the link
        #expect(!SystemFile.isDirectory(directory + "/file"))
        #expect(SystemFile.inode(directory + "/missing") == nil)
        #expect(throws: FileReadError(path: directory + "/missing", errno: ENOENT)) {
            try SystemFile.directoryListing(directory + "/missing")
        }
    }
}
