import ArgumentParser
import Foundation
import LOACLClient

/// Where the server is and how to reach it; shared by every command.
struct ServerOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Server address: unix:/path, tcp:host:port or tls:host:port. Default: $LOACL_SERVER or tcp:127.0.0.1:7700.", valueName: "address"))
    var server: String?

    @Option(name: .customLong("tls-ca"), help: ArgumentHelp("PEM CA file that signs the server's certificate (tls: only; default: system roots).", valueName: "file"))
    var tlsCA: String?

    @Option(name: .customLong("tls-cert"), help: ArgumentHelp("PEM client certificate for mutual TLS.", valueName: "file"))
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: ArgumentHelp("PEM private key of --tls-cert.", valueName: "file"))
    var tlsKey: String?

    @Option(name: .customLong("tls-server-name"), help: ArgumentHelp("Name to verify in the server's certificate (default: the host).", valueName: "name"))
    var tlsServerName: String?

    @Flag(name: .customLong("tls-insecure"), help: "Do not verify the server's certificate (testing only).")
    var tlsInsecure = false

    @Option(name: .long, help: ArgumentHelp("Deadline of each call, in seconds.", valueName: "seconds"))
    var timeout: Double?

    func validate() throws {
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        if let timeout, timeout <= 0 { throw ValidationError("--timeout must be positive") }
    }

    var address: String {
        server ?? ProcessInfo.processInfo.environment["LOACL_SERVER"].flatMap { $0.isEmpty ? nil : $0 } ?? "tcp:127.0.0.1:7700"
    }

    func connect() throws -> LOACLClientConnection {
        let endpoint: Endpoint
        do { endpoint = try Endpoint(parsing: address) } catch { throw ValidationError(error.description) }
        var tls: TLSConfiguration?
        if case .tls = endpoint {
            tls = .client(caFile: tlsCA, serverName: tlsServerName, certificateChainFile: tlsCert, privateKeyFile: tlsKey,
                          serverVerification: tlsInsecure ? .none : .required)
        }
        var configuration = ClientConfiguration(endpoint: endpoint, tls: tls)
        configuration.maxConnectAttempts = 2
        return try LOACLClientConnection(configuration: configuration)
    }

    func callOptions(_ metadata: Metadata = [:]) -> CallOptions {
        CallOptions(timeout: timeout.map { .milliseconds(Int64($0 * 1000)) }, metadata: metadata)
    }
}

/// Tenant credentials.
struct TenantOptions: ParsableArguments {
    @Option(name: .customLong("api-key"), help: ArgumentHelp("The tenant's API key (default: $LOACL_API_KEY).", valueName: "key"))
    var apiKey: String?

    func metadata() throws -> Metadata {
        guard let key = apiKey ?? ProcessInfo.processInfo.environment["LOACL_API_KEY"], !key.isEmpty else {
            throw ValidationError("this command needs the tenant's API key: --api-key or LOACL_API_KEY")
        }
        return ["x-loacl-api-key": .text(key)]
    }
}

/// Either credential: commands that tenants and sessions may both call.
struct CallerOptions: ParsableArguments {
    @Option(name: .customLong("api-key"), help: ArgumentHelp("Tenant API key (default: $LOACL_API_KEY).", valueName: "key"))
    var apiKey: String?

    @Option(name: .customLong("session-token"), help: ArgumentHelp("Session token (default: $LOACL_SESSION_TOKEN).", valueName: "token"))
    var sessionToken: String?

    func metadata() throws -> Metadata {
        let env = ProcessInfo.processInfo.environment
        if let token = sessionToken, !token.isEmpty { return ["x-loacl-session-token": .text(token)] }
        if let key = apiKey, !key.isEmpty { return ["x-loacl-api-key": .text(key)] }
        if let token = env["LOACL_SESSION_TOKEN"], !token.isEmpty { return ["x-loacl-session-token": .text(token)] }
        if let key = env["LOACL_API_KEY"], !key.isEmpty { return ["x-loacl-api-key": .text(key)] }
        throw ValidationError("this command needs credentials: --session-token / LOACL_SESSION_TOKEN or --api-key / LOACL_API_KEY")
    }
}
