import ArgumentParser
import LOACLClient

/// `loacl runs get|list|follow|cancel`: a thread's runs (session token).
struct Runs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show, follow and stop runs (replies being written or written) of the session's threads.",
        subcommands: [Get.self, List.self, Follow.self, Cancel.self])

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one run.")
        @OptionGroup var server: ServerOptions
        @OptionGroup var caller: CallerOptions
        @Argument(help: ArgumentHelp("Run id.", valueName: "id")) var id: String

        func run() async throws {
            let options = server.callOptions(try caller.metadata())
            var request = Loacl_V1_GetRunRequest()
            request.runID = id
            let response = try await server.withConnection { try await Loacl_V1_MessageServiceClient($0).getRun(request, options: options) }
            Output.run(response.run)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a thread's runs, newest first (all pages).")
        @OptionGroup var server: ServerOptions
        @OptionGroup var caller: CallerOptions
        @Option(help: ArgumentHelp("Thread id.", valueName: "id")) var thread: String

        func run() async throws {
            let options = server.callOptions(try caller.metadata())
            let all = try await server.withConnection { connection in
                try await Pages.all { token in
                    var request = Loacl_V1_ListRunsRequest()
                    request.threadID = thread
                    request.pageSize = 200
                    request.pageToken = token
                    let page = try await Loacl_V1_MessageServiceClient(connection).listRuns(request, options: options)
                    return (page.runs, page.nextPageToken)
                }
            }
            all.forEach(Output.run)
            if all.isEmpty { Output.note("no runs") }
        }
    }

    struct Follow: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a run's reply from an event on (default: from the start), live until it ends.")
        @OptionGroup var server: ServerOptions
        @OptionGroup var caller: CallerOptions
        @Option(help: ArgumentHelp("Print only the events after this sequence number.", valueName: "n")) var after: UInt64 = 0
        @Argument(help: ArgumentHelp("Run id.", valueName: "id")) var id: String

        func run() async throws {
            let options = server.callOptions(try caller.metadata())
            var request = Loacl_V1_StreamRunRequest()
            request.runID = id
            request.afterSequence = after
            var printer = ChatSession.ReplyPrinter(prefix: "")
            try await server.withConnection { connection in
                try await Loacl_V1_MessageServiceClient(connection).streamRun(request, options: options) { events in
                    for try await event in events { printer.show(event) }
                }
            }
            Output.line()
            if let status = printer.finalStatus { Output.note("run \(id): \(Output.runStatus(status))") }
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop a run (from any server): the text so far is stored and the run ends cancelled.")
        @OptionGroup var server: ServerOptions
        @OptionGroup var caller: CallerOptions
        @Argument(help: ArgumentHelp("Run id.", valueName: "id")) var id: String

        func run() async throws {
            let options = server.callOptions(try caller.metadata())
            var request = Loacl_V1_CancelRunRequest()
            request.runID = id
            let response = try await server.withConnection { try await Loacl_V1_MessageServiceClient($0).cancelRun(request, options: options) }
            Output.run(response.run)
        }
    }
}
