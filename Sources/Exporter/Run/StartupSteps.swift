/// The privileged phase of start-up, step by step, as it happened: `run` logs it, `check`
/// prints it as its table. Both walk the same steps through `KernelSession`, so they cannot
/// disagree about what works.
struct StartupSteps: Sendable {
    enum Outcome: Sendable, Equatable {
        case done(String)
        /// Worked only partly; `run` goes on (e.g. no run-time statistics without CAP_SYS_ADMIN).
        case degraded(String)
        /// `run` stops here; the text is exactly the error `run` prints.
        case failed(String)
    }

    struct Step: Sendable, Equatable {
        var name: String
        var outcome: Outcome
        /// How long it took (for the debug log: where start-up time goes).
        var duration: Duration = .zero
    }

    private(set) var steps: [Step] = []

    /// Runs `body` as the step `name`; records what it did (`detail` of the result) or the
    /// error it threw, which is rethrown.
    mutating func run<Result: ~Copyable>(_ name: String, _ body: () throws -> Result,
                                         detail: (borrowing Result) -> String) throws -> Result {
        let clock = ContinuousClock()
        let start = clock.now
        do {
            let result = try body()
            steps.append(Step(name: name, outcome: .done(detail(result)), duration: clock.now - start))
            return result
        } catch {
            steps.append(Step(name: name, outcome: .failed("\(error)"), duration: clock.now - start))
            throw error
        }
    }

    mutating func record(_ name: String, _ outcome: Outcome) {
        steps.append(Step(name: name, outcome: outcome))
    }
}
