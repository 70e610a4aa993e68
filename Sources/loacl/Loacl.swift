import ArgumentParser

/// `loacl`: the LOACL command-line client.
@main
struct Loacl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loacl",
        abstract: "Chat with a LOACL assistant and manage a tenant's assistants.",
        discussion: """
            Every command talks to one server (--server, default tcp:127.0.0.1:7700, or LOACL_SERVER). \
            Tenant commands need the tenant's API key (--api-key or LOACL_API_KEY); session commands \
            a session token (--session-token or LOACL_SESSION_TOKEN, printed by `loacl session start`). \
            Failed calls print the status name and code, e.g. "NOT_FOUND (5): assistant not found", \
            and exit with status 1.
            """,
        subcommands: [Chat.self, Assistants.self, Questions.self, Threads.self, Messages.self, Runs.self, Session.self, Usage.self, Health.self])
}
