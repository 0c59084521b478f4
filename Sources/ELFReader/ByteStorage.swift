/// Bytes the reader reads but does not own, shown to it one call at a time as a
/// bounds-checked `Span` (a read past the end traps, it never reads stray memory).
///
/// An array is one. The loader's other kind is a read-only mapping of
/// `/sys/kernel/btf/vmlinux` (BPFSyscall's `MappedFile`): the kernel's 5.5 MB
/// of BTF read in place, where copying them into an array would cost some
/// 1,350 page faults (~3 ms) at every start. The reader itself maps nothing.
public protocol ByteStorage: Sendable {
    /// Runs `body` with the bytes; the span must not outlive the call.
    func withSpan<Result, Failure: Error>(_ body: (Span<UInt8>) throws(Failure) -> Result) throws(Failure) -> Result
}

extension Array: ByteStorage where Element == UInt8 {
    public func withSpan<Result, Failure: Error>(_ body: (Span<UInt8>) throws(Failure) -> Result) throws(Failure) -> Result {
        try body(span)
    }
}

extension Span<UInt8> {
    /// Little-endian u32 at `offset`: one bounds check and one load, not four of each (the
    /// kernel BTF walk reads two per record, ~130,000 records at every start).
    @inline(__always)
    func littleEndianU32(at offset: Int) -> UInt32 {
        precondition(offset >= 0 && offset <= count - 4, "read past the end of the bytes")
        return UInt32(littleEndian: bytes.unsafeLoadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    /// A copy of `range` as an array (for the decoders written over `ByteReader`).
    func copy(_ range: Range<Int>) -> [UInt8] {
        // Into the array's own storage, without `append`'s capacity and uniqueness checks per byte.
        [UInt8](capacity: range.count) { (output: inout OutputSpan<UInt8>) in
            for index in range { output.append(self[index]) }
        }
    }
}
