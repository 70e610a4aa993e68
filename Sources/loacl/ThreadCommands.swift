import ArgumentParser
import LOACLClient

/// `loacl threads list`: the session's threads.
struct Threads: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List a session's threads (session token: threads belong to sessions).",
        subcommands: [List.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List threads, most recently updated first (all pages).")
        @OptionGroup var server: ServerOptions
        @OptionGroup var caller: CallerOptions
        @Option(help: "Status filter: active, archived or deleted (default: active and archived).") var status: String?

        func run() async throws {
            let filter: Loacl_V1_ThreadStatus
            switch status {
            case nil: filter = .unspecified
            case "active": filter = .active
            case "archived": filter = .archived
            case "deleted": filter = .deleted
            case let other?: throw ValidationError("--status must be active, archived or deleted, not \(other)")
            }
            let options = server.callOptions(try caller.metadata())
            let all = try await server.withConnection { connection in
                try await Pages.all { token in
                    var request = Loacl_V1_ListThreadsRequest()
                    request.status = filter
                    request.pageSize = 200
                    request.pageToken = token
                    let page = try await Loacl_V1_ThreadServiceClient(connection).listThreads(request, options: options)
                    return (page.threads, page.nextPageToken)
                }
            }
            all.forEach(Output.thread)
            if all.isEmpty { Output.note("no threads") }
        }
    }
}

/// `loacl messages list --thread …`.
struct Messages: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List a thread's messages.", subcommands: [List.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a thread's messages, oldest first (all pages).")
        @OptionGroup var server: ServerOptions
        @OptionGroup var caller: CallerOptions
        @Option(help: ArgumentHelp("Thread id.", valueName: "id")) var thread: String

        func run() async throws {
            let options = server.callOptions(try caller.metadata())
            let all = try await server.withConnection { connection in
                try await Pages.all { token in
                    var request = Loacl_V1_ListMessagesRequest()
                    request.threadID = thread
                    request.pageSize = 200
                    request.pageToken = token
                    let page = try await Loacl_V1_MessageServiceClient(connection).listMessages(request, options: options)
                    return (page.messages, page.nextPageToken)
                }
            }
            all.forEach(Output.message)
            if all.isEmpty { Output.note("no messages") }
        }
    }
}
