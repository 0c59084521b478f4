/// Opens one perf ring per CPU and stores each ring's event in a
/// `BPF_MAP_TYPE_PERF_EVENT_ARRAY` at index `cpu`, where a program's
/// `bpf_perf_event_output(ctx, &map, BPF_F_CURRENT_CPU, ...)` finds it.
enum PerfRingSet {
    /// `cpus` defaults to the online CPUs: offline ones cannot run the program.
    /// `perfEventArrayFD` is borrowed: the caller keeps the map open.
    static func open(perfEventArrayFD: Int32, cpus: [Int]?, options: PerfRingOptions) throws(PerfRingError)
        -> [PerfRing]
    {
        let cpus = if let cpus { cpus } else { try onlineCPUs() }
        var rings: [PerfRing] = []
        rings.reserveCapacity(cpus.count)
        for cpu in cpus {
            let ring = try PerfRing(cpu: cpu, options: options)
            do {
                try RingSyscalls.storeInPerfEventArray(mapFD: perfEventArrayFD, cpu: cpu, perfEventFD: ring.fd)
            } catch {
                throw .syscall(error)
            }
            try ring.enable()
            rings.append(ring)
        }
        return rings
    }

    private static func onlineCPUs() throws(PerfRingError) -> [Int] {
        do {
            return try CPUList.online()
        } catch {
            throw .cpuList(error)
        }
    }
}
