import ArgumentParser
import Foundation
import LOACLClient

/// `loacl session start|show|end`.
struct Session: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start, show or end a session.", subcommands: [Start.self, Show.self, End.self])

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start a guest (--fingerprint) or authenticated (--jwt) session; prints the token on stdout.")
        @OptionGroup var server: ServerOptions
        @Option(help: ArgumentHelp("Assistant id.", valueName: "id")) var assistant: String
        @Option(help: "Guest device fingerprint (default: derived from this host and user).") var fingerprint: String?
        @Option(help: "The identity provider's JWT (HS256, RS256, ES256 or EdDSA) for an authenticated session.") var jwt: String?

        func run() async throws {
            let options = server.callOptions()
            let response = try await server.withConnection { connection in
                let client = Loacl_V1_SessionServiceClient(connection)
                if let jwt {
                    var request = Loacl_V1_StartAuthenticatedSessionRequest()
                    request.assistantID = assistant
                    request.jwt = jwt
                    return try await client.startAuthenticatedSession(request, options: options)
                }
                var request = Loacl_V1_StartGuestSessionRequest()
                request.assistantID = assistant
                request.fingerprint = fingerprint ?? Chat.defaultFingerprint()
                return try await client.startGuestSession(request, options: options)
            }
            Output.note("session \(response.session.id), expires \(Output.date(response.session.expiresAtMs))")
            Output.line(response.sessionToken)
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the session of --session-token.")
        @OptionGroup var server: ServerOptions
        @Option(name: .customLong("session-token"), help: "Session token (default: $LOACL_SESSION_TOKEN).") var sessionToken: String?

        func run() async throws {
            let options = server.callOptions(try CallerOptions.session(sessionToken))
            let session = try await server.withConnection { try await Loacl_V1_SessionServiceClient($0).getSession(Loacl_V1_GetSessionRequest(), options: options) }.session
            Output.line("\(session.id)  assistant \(session.assistantID)  \(session.userID.isEmpty ? "guest \(session.fingerprint)" : "user \(session.userID)")")
            Output.line("    created \(Output.date(session.createdAtMs)), expires \(Output.date(session.expiresAtMs)), last active \(Output.date(session.lastActiveAtMs))")
        }
    }

    struct End: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "End the session of --session-token (the token stops working).")
        @OptionGroup var server: ServerOptions
        @Option(name: .customLong("session-token"), help: "Session token (default: $LOACL_SESSION_TOKEN).") var sessionToken: String?

        func run() async throws {
            let options = server.callOptions(try CallerOptions.session(sessionToken))
            _ = try await server.withConnection { try await Loacl_V1_SessionServiceClient($0).endSession(Loacl_V1_EndSessionRequest(), options: options) }
            Output.note("session ended")
        }
    }
}

extension CallerOptions {
    static func session(_ token: String?) throws -> Metadata {
        guard let token = token ?? ProcessInfo.processInfo.environment["LOACL_SESSION_TOKEN"], !token.isEmpty else {
            throw ValidationError("needs --session-token or LOACL_SESSION_TOKEN")
        }
        return ["x-loacl-session-token": .text(token)]
    }
}
