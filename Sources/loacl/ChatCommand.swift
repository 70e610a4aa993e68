import ArgumentParser
import Foundation
import LOACLClient

/// `loacl chat`: an interactive chat, or one turn with --message.
struct Chat: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Chat with an assistant (interactive, or one turn with --message).",
        discussion: """
            Starts a guest session for a device fingerprint (default: derived from this host and user) \
            or an authenticated one with --jwt, or reuses --session-token. Shows the assistant's \
            guided questions, streams each reply as it arrives and offers follow-ups as numbered \
            picks: type the number to ask it. Commands: /new (new thread), /quit.
            With --message, sends one message, prints the streamed reply and the follow-ups on \
            stdout (session and thread ids go to stderr) and exits: usable in scripts.
            """)

    @OptionGroup var server: ServerOptions

    @Option(name: .long, help: ArgumentHelp("Assistant id (needed unless --session-token is given).", valueName: "id"))
    var assistant: String?

    @Option(name: .long, help: ArgumentHelp("Guest device fingerprint, 8–256 printable ASCII characters.", valueName: "text"))
    var fingerprint: String?

    @Option(name: .long, help: ArgumentHelp("The identity provider's JWT (HS256, RS256, ES256 or EdDSA) for an authenticated session.", valueName: "token"))
    var jwt: String?

    @Option(name: .customLong("session-token"), help: ArgumentHelp("Reuse an existing session (default: $LOACL_SESSION_TOKEN).", valueName: "token"))
    var sessionToken: String?

    @Option(name: .long, help: ArgumentHelp("Continue this thread instead of creating one.", valueName: "id"))
    var thread: String?

    @Option(name: [.short, .long], help: ArgumentHelp("Send this one message and exit.", valueName: "text"))
    var message: String?

    @Option(name: .customLong("tool-command"), help: ArgumentHelp(
        "Answer the model's calls of function NAME with this shell command's stdout (arguments JSON on stdin and in $LOACL_TOOL_ARGUMENTS). Repeatable.",
        valueName: "NAME=CMD"))
    var toolCommands: [String] = []

    func validate() throws {
        let token = sessionToken ?? ProcessInfo.processInfo.environment["LOACL_SESSION_TOKEN"]
        if (token ?? "").isEmpty && (assistant ?? "").isEmpty {
            throw ValidationError("give --assistant (to start a session) or --session-token")
        }
        if jwt != nil && fingerprint != nil { throw ValidationError("--jwt and --fingerprint exclude each other") }
        if let message, message.isEmpty { throw ValidationError("--message must not be empty") }
        _ = try ToolCommands(toolCommands)
    }

    func run() async throws {
        try await server.withConnection { connection in
            var chat = try await ChatSession.open(connection: connection, options: server, assistantID: assistant,
                                                  fingerprint: fingerprint ?? Self.defaultFingerprint(), jwt: jwt,
                                                  sessionToken: sessionToken ?? ProcessInfo.processInfo.environment["LOACL_SESSION_TOKEN"],
                                                  threadID: thread)
            chat.tools = try ToolCommands(toolCommands)
            if let message {
                try await chat.send(message)
                return
            }
            try await chat.interactive()
        }
    }

    /// "loacl-cli-<user>@<host>": stable for one user on one machine, so repeated runs count as
    /// the same guest.
    static func defaultFingerprint() -> String {
        let env = ProcessInfo.processInfo.environment
        let raw = "loacl-cli-\(env["USER"] ?? env["LOGNAME"] ?? "user")@\(ProcessInfo.processInfo.hostName)"
        let printable = String(raw.unicodeScalars.filter { $0.value >= 0x21 && $0.value < 0x7f }.map(Character.init))
        return String(printable.prefix(256))
    }
}
