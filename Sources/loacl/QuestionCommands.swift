import ArgumentParser
import LOACLClient

/// `loacl questions …`: an assistant's guided questions.
struct Questions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage an assistant's guided questions.",
        subcommands: [Create.self, List.self, Update.self, Delete.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a guided question.")
        @OptionGroup var server: ServerOptions
        @OptionGroup var tenant: TenantOptions
        @Option(help: ArgumentHelp("Assistant id.", valueName: "id")) var assistant: String
        @Option(help: "Question text.") var question: String
        @Option(help: "Category label.") var category: String?
        @Option(help: "Priority, higher first.") var priority: Int32 = 0
        @Flag(help: "Create it inactive.") var inactive = false

        func run() async throws {
            var request = Loacl_V1_CreateGuidedQuestionRequest()
            request.assistantID = assistant
            request.question = question
            request.category = category ?? ""
            request.priority = priority
            var active = Loacl_V1_BoolValue()
            active.value = !inactive
            request.isActive = active
            let options = server.callOptions(try tenant.metadata())
            let response = try await server.withConnection { try await Loacl_V1_GuidedQuestionServiceClient($0).createGuidedQuestion(request, options: options) }
            Output.question(response.question)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List guided questions by priority (all pages).")
        @OptionGroup var server: ServerOptions
        @OptionGroup var caller: CallerOptions
        @Option(help: ArgumentHelp("Assistant id (sessions may omit it).", valueName: "id")) var assistant: String?
        @Flag(name: .customLong("include-inactive"), help: "Tenants: include inactive questions.") var includeInactive = false

        func run() async throws {
            let options = server.callOptions(try caller.metadata())
            let all = try await server.withConnection { connection in
                try await Pages.all { token in
                    var request = Loacl_V1_ListGuidedQuestionsRequest()
                    request.assistantID = assistant ?? ""
                    request.includeInactive = includeInactive
                    request.pageSize = 200
                    request.pageToken = token
                    let page = try await Loacl_V1_GuidedQuestionServiceClient(connection).listGuidedQuestions(request, options: options)
                    return (page.questions, page.nextPageToken)
                }
            }
            all.forEach(Output.question)
            if all.isEmpty { Output.note("no guided questions") }
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a guided question.")
        @OptionGroup var server: ServerOptions
        @OptionGroup var tenant: TenantOptions
        @Argument(help: "Question id.") var id: String
        @Option(help: "New text.") var question: String?
        @Option(help: "New category.") var category: String?
        @Option(help: "New priority.") var priority: Int32?
        @Option(help: "Active: true or false.") var active: Bool?

        func run() async throws {
            var value = Loacl_V1_GuidedQuestion()
            var mask: [String] = []
            if let question { value.question = question; mask.append("question") }
            if let category { value.category = category; mask.append("category") }
            if let priority { value.priority = priority; mask.append("priority") }
            if let active { value.isActive = active; mask.append("is_active") }
            guard !mask.isEmpty else { throw ValidationError("nothing to change: give --question, --category, --priority or --active") }
            var request = Loacl_V1_UpdateGuidedQuestionRequest()
            request.id = id
            request.question = value
            request.updateMask = mask
            let options = server.callOptions(try tenant.metadata())
            let response = try await server.withConnection { try await Loacl_V1_GuidedQuestionServiceClient($0).updateGuidedQuestion(request, options: options) }
            Output.question(response.question)
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a guided question.")
        @OptionGroup var server: ServerOptions
        @OptionGroup var tenant: TenantOptions
        @Argument(help: "Question id.") var id: String

        func run() async throws {
            var request = Loacl_V1_DeleteGuidedQuestionRequest()
            request.id = id
            let options = server.callOptions(try tenant.metadata())
            _ = try await server.withConnection { try await Loacl_V1_GuidedQuestionServiceClient($0).deleteGuidedQuestion(request, options: options) }
            Output.note("deleted \(id)")
        }
    }
}
