import Testing
import CBPFSyscall

@Test func eventLayoutIsVisible() {
    #expect(MemoryLayout<retrans_event>.size == Int(RETRANS_EVENT_SIZE))
}
