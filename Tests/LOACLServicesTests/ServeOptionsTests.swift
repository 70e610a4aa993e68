import Foundation
import Testing

/// `loacld serve` options read as an operator writes them, through the real binary (on the
/// tenancy guard's throwaway database, as the runtime role).
@Suite struct ServeOptionsTests {
    /// `--run-publish-interval 0` means "no pause" (its help says so); a negative value is refused.
    @Test func aZeroPublishIntervalIsTakenANegativeOneRefused() async throws {
        try await TenancyGuardTests().withFixture { fixture in
            let zero = try await LoacldProcess.serve(databaseURL: fixture.url("loacl_app"), arguments: ["--run-publish-interval", "0"])
            #expect(zero.listened, "loacld did not serve with --run-publish-interval 0: \(zero.stderr)")
            #expect(zero.status == nil, "loacld exited: \(zero.stderr)")

            let negative = try await LoacldProcess.serve(databaseURL: fixture.url("loacl_app"), arguments: ["--run-publish-interval=-5"])
            #expect(!negative.listened)
            #expect(negative.status != nil && negative.status != 0, "\(negative.stderr)")
            #expect(negative.stderr.contains("run-publish-interval must be a non-negative integer, not -5"), "\(negative.stderr)")
        }
    }

    /// A misspelt log level stops loacld with the levels it knows, instead of logging at info.
    @Test func anUnknownLogLevelIsRefused() async throws {
        try await TenancyGuardTests().withFixture { fixture in
            let outcome = try await LoacldProcess.serve(databaseURL: fixture.url("loacl_app"), arguments: ["--log-level", "verbose"])
            #expect(!outcome.listened)
            #expect(outcome.status != nil && outcome.status != 0, "\(outcome.stderr)")
            #expect(outcome.stderr.contains("--log-level must be one of trace, debug, info, notice, warning, error, critical, not verbose"), "\(outcome.stderr)")
        }
    }
}
