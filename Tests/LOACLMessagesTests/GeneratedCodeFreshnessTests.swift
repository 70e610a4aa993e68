import Foundation
import Testing

@Suite("Generated code")
struct GeneratedCodeFreshnessTests {
    /// Fails when proto/ or the generator changed without `scripts/generate.sh` being rerun.
    @Test func committedGeneratedCodeIsUpToDate() async throws {
        let result = try await Repository.run("bash", ["scripts/generate.sh", "--check"])
        let stdout = String(decoding: result.stdout, as: UTF8.self)
        #expect(result.status == 0, "stale generated code:\n\(stdout)\(result.stderr)")
    }
}
