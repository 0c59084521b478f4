extension KernelBTF {
    /// The id of the type named exactly `name` of `BTF_KIND_*` `kind` (8 typedef, 12 func):
    /// what a tracing program's `attach_btf_id` names. nil when this BTF has none.
    public func typeID(named name: String, kind: Int) throws(ObjectReadError) -> UInt32? {
        let key = CandidateKey(kindClass: kind, essentialName: name)
        for id in try candidates(for: [key])[key] ?? [] where try type(id)?.name == name {
            return id
        }
        return nil
    }
}
