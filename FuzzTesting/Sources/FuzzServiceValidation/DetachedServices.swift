import Foundation
import LOACLPostgres
@testable import LOACLServerCore
@testable import LOACLServices
import LOACLUpstream

/// The data services as loacld wires them, over a pool that is already closed: every call runs
/// its request checks for real and fails at its first database access (UNAVAILABLE), so a run
/// needs no PostgreSQL and every outcome comes from validation.
enum DetachedServices {
    static let methods: [ServerMethod] = {
        let pool = PostgresPool(configuration: .init(conninfo: "host=/nonexistent dbname=loacl", maxConnections: 1))
        let closed = DispatchSemaphore(value: 0)
        Task {
            await pool.close()
            closed.signal()
        }
        closed.wait()
        let storage = FileManager.default.temporaryDirectory.appendingPathComponent("loacl-fuzz-files-\(getpid())").path
        let services = DataServices(
            pool: pool, vault: try! TenantKeyVault(masterKey: [UInt8](repeating: 7, count: 32)), jwtVerifier: nil,
            providers: ChatProviderRegistry([OfflineProvider()], defaultName: "offline"),
            storage: FileStorage(root: storage, maxFileSize: 1 << 16))
        return services.methods.sorted { $0.descriptor.path < $1.descriptor.path }
    }()

    /// Who calls: no credentials, a tenant, a guest session or a user's session.
    static func identity(_ selector: UInt8) -> CallerIdentity {
        let session = { (kind: SessionRecord.Kind) in
            SessionRecord(id: "6f1c1b84-3a47-4d0a-a8a4-0c2b5f7e9d11", assistantID: "0b9d7a4e-3f52-4c1a-9e57-2b8c6f1d4a30",
                          kind: kind, status: "active", createdAtMs: 0, expiresAtMs: 0, lastActiveAtMs: 0, metadataJSON: "{}")
        }
        switch selector % 4 {
        case 0: return .anonymous
        case 1: return .tenant(TenantCredential(apiKey: "sk-fuzz", keyHash: [UInt8](repeating: 1, count: 32)))
        case 2: return .session(session(.guest(fingerprint: "fuzz-fingerprint")))
        default: return .session(session(.user(id: "user-1")))
        }
    }
}
