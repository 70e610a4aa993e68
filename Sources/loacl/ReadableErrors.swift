import ArgumentParser
import LOACLClient

/// A failed call as the user sees it: "NOT_FOUND (5): thread not found".
struct CallFailed: Error, CustomStringConvertible {
    let error: RPCError
    var description: String {
        let message = error.message.isEmpty ? "" : ": \(error.message)"
        return "\(error.code.name) (\(error.code.rawValue))\(message)"
    }
}

extension ServerOptions {
    /// Connects, runs `body`, closes; an `RPCError` becomes a readable `CallFailed`.
    func withConnection<T>(_ body: (LOACLClientConnection) async throws -> T) async throws -> T {
        let connection = try connect()
        do {
            let result = try await body(connection)
            await connection.close()
            return result
        } catch let error as RPCError {
            await connection.close()
            throw CallFailed(error: error)
        } catch {
            await connection.close()
            throw error
        }
    }
}
