import ArgumentParser
import Foundation
import LOACLPostgres
import LOACLServices
import Logging

/// Builds the data services from the serve settings (master key, JWT secret, storage, sweep).
func makeDataServices(_ settings: Settings, pool: PostgresPool, logger: Logger) throws -> DataServicesRuntime {
    let masterKey: String
    if let path = settings.value("master-key-file") {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ValidationError("cannot read master key file \(path)")
        }
        masterKey = text
    } else if let text = settings.value("master-key") {
        masterKey = text
    } else {
        throw ValidationError("the data services need a master key: LOACL_MASTER_KEY or --master-key-file (32 bytes, hex or base64; e.g. openssl rand -hex 32)")
    }
    var sweep = SessionSweeper.Configuration()
    if let n = try settings.int("sweep-interval") { sweep.interval = .seconds(n) }
    if let n = try settings.int("guest-retention") { sweep.retention = .seconds(n) }
    var runs = RunEngine.Configuration()
    if let n = try settings.int("run-lease") { runs.lease = .seconds(n) }
    if let n = try settings.int("max-run-followers") { runs.maxFollowers = n }
    if let n = try settings.int("run-publish-interval", minimum: 0) { runs.publishInterval = .milliseconds(n) }
    if let n = try settings.int("grace-period") { runs.drainGrace = .seconds(n) }
    let options = DataServicesOptions(
        masterKey: masterKey,
        userTokens: UserTokenOptions(secret: settings.value("jwt-secret"), jwksFile: settings.value("jwt-jwks-file"),
                                     jwksURL: settings.value("jwt-jwks-url"), issuer: settings.value("jwt-issuer"),
                                     audience: settings.value("jwt-audience")),
        storageDirectory: settings.value("storage-dir") ?? ".data/files",
        maxFileSize: UInt64(try settings.int("max-file-size") ?? 20 * 1024 * 1024), sweep: sweep,
        sessionCacheLifetime: try seconds(settings, "session-cache"), replySpeculation: try seconds(settings, "reply-speculation"),
        runs: runs)
    do {
        return try DataServicesRuntime(options: options, pool: pool, logger: logger)
    } catch {
        throw ValidationError("\(error)")
    }
}

/// `session-cache` and `reply-speculation`: seconds, 0 allowed (off).
private func seconds(_ settings: Settings, _ name: String) throws -> Duration? {
    guard let text = settings.value(name) else { return nil }
    guard let seconds = Int(text), seconds >= 0 else {
        throw ValidationError("\(name) must be a number of seconds (0 turns it off), not \(text)")
    }
    return .seconds(seconds)
}
