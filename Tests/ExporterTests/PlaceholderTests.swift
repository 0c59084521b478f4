import Testing
import CRetransObject

@Test func objectIsEmbedded() {
    #expect(retrans_object_size() > 64)
}
