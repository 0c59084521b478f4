/// Opens one perf ring per CPU and stores each ring's event in a
/// `BPF_MAP_TYPE_PERF_EVENT_ARRAY` at index `cpu`, where a program's
/// `bpf_perf_event_output(ctx, &map, BPF_F_CURRENT_CPU, ...)` finds it.
enum PerfRingSet {
    /// `cpus` defaults to the online CPUs: offline ones cannot run the program.
    static func open(perfEventArray map: LoadedMap, cpus: [Int]?, options: PerfRingOptions,
                     syscalls: Syscalls) throws(PerfRingError) -> [PerfRing] {
        guard map.spec.type == .perfEventArray else {
            throw .notAPerfEventArray(map: map.name, type: map.spec.type.rawValue)
        }
        let cpus = if let cpus { cpus } else { try onlineCPUs() }
        var rings: [PerfRing] = []
        rings.reserveCapacity(cpus.count)
        for cpu in cpus {
            let ring = try PerfRing(cpu: cpu, options: options, syscalls: syscalls)
            do {
                try map.update(index: UInt32(cpu), value: UInt32(bitPattern: ring.fd.rawValue))
            } catch {
                throw .storeInMap(map: map.name, cpu: cpu, reason: "\(error)")
            }
            try ring.enable(syscalls: syscalls)
            rings.append(ring)
        }
        return rings
    }

    private static func onlineCPUs() throws(PerfRingError) -> [Int] {
        do {
            return try CPUList.online().cpus
        } catch {
            throw .onlineCPUs(reason: "\(error)")
        }
    }
}
