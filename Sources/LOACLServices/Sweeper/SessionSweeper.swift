import LOACLPostgres
import Logging
import ServiceLifecycle

/// Periodic housekeeping as a ServiceLifecycle service: marks guest sessions past their expiry
/// as `expired` (`loacl.expire_guest_sessions()`; the policies already hide them at read time),
/// then deletes guest sessions expired for longer than `retention`, with their threads,
/// messages, suggestions and stored files (`loacl.purge_expired_guest_sessions`).
public struct SessionSweeper: Service, CustomStringConvertible {
    public struct Configuration: Sendable {
        public var interval: Duration
        public var retention: Duration
        /// Sessions purged per transaction.
        public var batchSize: Int

        public init(interval: Duration = .seconds(60), retention: Duration = .seconds(7 * 86_400), batchSize: Int = 500) {
            self.interval = interval
            self.retention = retention
            self.batchSize = batchSize
        }
    }

    public struct Report: Sendable, Equatable {
        public var expired: Int
        public var purged: Int

        public init(expired: Int, purged: Int) {
            self.expired = expired
            self.purged = purged
        }
    }

    let database: Database
    let storage: FileStorage
    let configuration: Configuration
    let logger: Logger

    public init(database: Database, storage: FileStorage, configuration: Configuration,
                logger: Logger = Logger(label: "loacl.services.sweeper")) {
        self.database = database
        self.storage = storage
        self.configuration = configuration
        self.logger = logger
    }

    /// Sweeps every `interval` until graceful shutdown, then returns normally.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let report = try await sweep()
                    if report.expired > 0 || report.purged > 0 {
                        logger.info("swept sessions", metadata: ["expired": "\(report.expired)", "purged": "\(report.purged)"])
                    }
                } catch {
                    logger.warning("session sweep failed", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: configuration.interval)
            }
        }
    }

    public var description: String { "SessionSweeper" }

    /// One pass: expire, then purge in batches until nothing is left.
    @discardableResult
    public func sweep() async throws -> Report {
        let expired = try await database.transaction(as: .anonymous) { connection in
            Int(try connection.exec("SELECT loacl.expire_guest_sessions()").scalar ?? "0") ?? 0
        }
        let retentionSeconds = String(max(0, configuration.retention.components.seconds))
        let batch = String(max(1, configuration.batchSize))
        var purged = 0
        while true {
            let sessions = try await database.transaction(as: .anonymous) { connection in
                try connection.execParams(
                    "SELECT session_id, assistant_id FROM loacl.purge_expired_guest_sessions($1::int8 * interval '1 second', $2::int)",
                    [retentionSeconds, batch]).namedRows
            }
            for row in sessions {
                await storage.removeSession(assistantID: row.string("assistant_id"), sessionID: row.string("session_id"))
            }
            purged += sessions.count
            if sessions.count < configuration.batchSize { break }
        }
        return Report(expired: expired, purged: purged)
    }
}
