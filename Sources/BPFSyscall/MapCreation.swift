import ELFReader
#if canImport(Glibc)
import Glibc
#endif

/// Turns a `MapSpec` into a kernel map: resolves what the spec leaves to the
/// loader, writes a data section's initial bytes, freezes `.rodata`.
enum MapCreation {
    /// `BPF_F_RDONLY_PROG`: the program cannot write it; with the map frozen,
    /// the verifier treats its contents as constants (dead-code elimination of `if (has_err)`).
    static let readOnlyForPrograms: UInt32 = 0x80

    static func create(_ spec: MapSpec, btfFD: Int32?, possibleCPUs: CPUList, syscalls: Syscalls,
                       warnings: inout [String]) throws -> LoadedMap {
        try withContext("create map `\(spec.name)`") {
            var spec = spec
            if spec.type == .perfEventArray && spec.maxEntries == 0 {
                spec.maxEntries = UInt32(possibleCPUs.slotCount)
            }
            let isReadOnlyData = spec.source == .dataSection && spec.name.hasPrefix(".rodata")
            if isReadOnlyData { spec.flags |= readOnlyForPrograms }

            var request = MapCreateRequest(
                type: spec.type.rawValue, name: kernelObjectName(spec.name), keySize: spec.keySize,
                valueSize: spec.valueSize, maxEntries: spec.maxEntries, flags: spec.flags)
            var hasBTF = false
            if let btfFD, spec.btfKeyTypeID != 0 || spec.btfValueTypeID != 0 {
                request.btfFD = btfFD
                request.btfKeyTypeID = spec.btfKeyTypeID
                request.btfValueTypeID = spec.btfValueTypeID
                hasBTF = true
            }

            var fd: FileDescriptor
            do {
                fd = try syscalls.createMap(request)
            } catch let error as SyscallError where hasBTF && error.errno == EINVAL {
                // The kernel may refuse the BTF description (not the map): the map works without it.
                warnings.append("map `\(spec.name)`: kernel rejected its BTF type ids (\(error)); created without them")
                request.btfFD = 0
                request.btfKeyTypeID = 0
                request.btfValueTypeID = 0
                hasBTF = false
                fd = try syscalls.createMap(request)
            }

            if spec.source == .dataSection {
                let value = spec.initialValue ?? [UInt8](repeating: 0, count: Int(spec.valueSize))
                guard value.count == Int(spec.valueSize) else {
                    throw MapAccessError(reason: "initial value is \(value.count) bytes, value size is \(spec.valueSize)")
                }
                try syscalls.updateElement(fd.rawValue, key: [0, 0, 0, 0], value: value)
                spec.initialValue = value
                if isReadOnlyData { try syscalls.freezeMap(fd.rawValue) }
            }
            return LoadedMap(name: spec.name, spec: spec, fd: fd, hasBTF: hasBTF, possibleCPUs: possibleCPUs,
                             syscalls: syscalls)
        }
    }

    /// The kernel keeps 15 bytes of a map or program name and accepts only
    /// letters, digits, `_` and `.`; anything else becomes `_`.
    static func kernelObjectName(_ name: String) -> String {
        String(name.unicodeScalars.prefix(15).map { scalar -> Character in
            let allowed = (scalar.value < 128 && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)))
                || scalar == "_" || scalar == "."
            return allowed ? Character(scalar) : "_"
        })
    }
}
