import ArgumentParser
import LOACLClient

/// `loacl usage`: token, message and file totals.
struct Usage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show usage totals of an assistant, a session or a thread.")
    @OptionGroup var server: ServerOptions
    @OptionGroup var caller: CallerOptions
    @Option(help: ArgumentHelp("Assistant id.", valueName: "id")) var assistant: String?
    @Option(help: ArgumentHelp("Session id.", valueName: "id")) var session: String?
    @Option(help: ArgumentHelp("Thread id.", valueName: "id")) var thread: String?
    @Flag(name: .customLong("per-day"), help: "Also show totals per UTC day.") var perDay = false
    @Option(name: .customLong("type"), help: "Only this metric type (repeatable): tokens, messages, files.") var types: [String] = []

    func validate() throws {
        guard [assistant, session, thread].compactMap({ $0 }).count == 1 else {
            throw ValidationError("give exactly one of --assistant, --session, --thread")
        }
    }

    func run() async throws {
        var request = Loacl_V1_GetUsageRequest()
        request.assistantID = assistant ?? ""
        request.sessionID = session ?? ""
        request.threadID = thread ?? ""
        request.perDay = perDay
        request.metricTypes = types
        let options = server.callOptions(try caller.metadata())
        let response = try await server.withConnection { try await Loacl_V1_UsageServiceClient($0).getUsage(request, options: options) }
        if response.totals.isEmpty { Output.note("no usage recorded") }
        for total in response.totals {
            Output.line("\(total.metricType): \(total.total) (\(total.count) events)")
        }
        for day in response.days {
            Output.line(day.day + "  " + day.totals.map { "\($0.metricType)=\($0.total)" }.joined(separator: " "))
        }
    }
}

/// `loacl health`: is the server up?
struct Health: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check that the server answers (HealthService.Check).")
    @OptionGroup var server: ServerOptions

    func run() async throws {
        let options = server.callOptions()
        let response = try await server.withConnection { try await Loacl_V1_HealthServiceClient($0).check(Loacl_V1_HealthCheckRequest(), options: options) }
        Output.line("\(server.address): \(response.status.protoName ?? "\(response.status.rawValue)"), version \(response.version), database \(response.databaseReachable ? "reachable" : "unreachable")")
    }
}
