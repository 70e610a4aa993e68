import ArgumentParser
import Foundation
import LOACLClient

/// `loacl assistants …` (tenant API key).
struct Assistants: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list, show, update and delete the tenant's assistants.",
        subcommands: [Create.self, List.self, Get.self, Update.self, Delete.self, KnowledgeFiles.self])

    /// Settings shared by create and update; nil fields are left alone.
    struct Settings: ParsableArguments {
        @Option(help: "Display name.") var name: String?
        @Option(help: "System instructions.") var instructions: String?
        @Option(name: .customLong("instructions-file"), help: ArgumentHelp("Read the instructions from a file.", valueName: "file"))
        var instructionsFile: String?
        @Option(help: "Upstream model (empty: server default).") var model: String?
        @Option(help: "Provider: offline, openai-responses or openai-chat (empty: server default).") var provider: String?
        @Option(help: "Sampling temperature, 0–2.") var temperature: Double?
        @Option(name: .customLong("max-output-tokens"), help: "Maximum tokens per reply.") var maxOutputTokens: UInt32?
        @Option(name: .customLong("max-history-tokens"), help: "Token budget of the history sent upstream.") var maxHistoryTokens: UInt32?
        @Option(name: .customLong("follow-up-count"), help: "Follow-up suggestions per reply, 0–5.") var followUpCount: UInt32?
        @Option(name: .customLong("guest-ttl"), help: "Guest session lifetime in seconds.") var guestTTL: UInt32?
        @Option(name: .customLong("tool"), help: "Enabled tool (repeatable; replaces the list).") var tools: [String] = []
        @Option(name: .customLong("function"), help: ArgumentHelp(
            "A function the model may call: NAME:schema.json (a JSON Schema object file; NAME alone: no arguments). Repeatable; replaces the list.",
            valueName: "NAME:file"))
        var functions: [String] = []
        @Option(help: "Free-form JSON object.") var metadata: String?
        @Option(name: .customLong("external-id"), help: "External reference, e.g. a legacy asst_… id.") var externalID: String?

        func instructionsText() throws -> String? {
            if let instructionsFile {
                do { return try String(contentsOfFile: instructionsFile, encoding: .utf8) } catch {
                    throw ValidationError("cannot read --instructions-file \(instructionsFile): \(error.localizedDescription)")
                }
            }
            return instructions
        }

        var touchesConfiguration: Bool {
            model != nil || provider != nil || temperature != nil || maxOutputTokens != nil || maxHistoryTokens != nil
                || followUpCount != nil || guestTTL != nil || !functions.isEmpty
        }

        /// `--function NAME:schema.json` as declarations (the server checks names and schemas).
        func functionTools() throws -> [Loacl_V1_FunctionTool] {
            try functions.map { spec in
                var tool = Loacl_V1_FunctionTool()
                let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
                tool.name = parts[0]
                if parts.count == 2 {
                    do { tool.parametersJson = try String(contentsOfFile: parts[1], encoding: .utf8) } catch {
                        throw ValidationError("cannot read the schema of --function \(spec): \(error.localizedDescription)")
                    }
                }
                return tool
            }
        }

        func apply(to c: inout Loacl_V1_AssistantConfiguration) throws {
            if !functions.isEmpty { c.functions = try functionTools() }
            if let model { c.model = model }
            if let provider { c.provider = provider }
            if let temperature { c.temperature = { var v = Loacl_V1_DoubleValue(); v.value = temperature; return v }() }
            if let maxOutputTokens { c.maxOutputTokens = maxOutputTokens }
            if let maxHistoryTokens { c.maxHistoryTokens = maxHistoryTokens }
            if let followUpCount { c.followUpCount = { var v = Loacl_V1_UInt32Value(); v.value = followUpCount; return v }() }
            if let guestTTL { c.guestSessionTtlSeconds = guestTTL }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an assistant; prints it.")
        @OptionGroup var server: ServerOptions
        @OptionGroup var tenant: TenantOptions
        @OptionGroup var settings: Settings

        func validate() throws {
            guard let name = settings.name, !name.isEmpty else { throw ValidationError("--name is required") }
        }

        func run() async throws {
            var request = Loacl_V1_CreateAssistantRequest()
            request.name = settings.name ?? ""
            request.instructions = try settings.instructionsText() ?? ""
            var configuration = Loacl_V1_AssistantConfiguration()
            try settings.apply(to: &configuration)
            request.configuration = configuration
            request.toolsEnabled = settings.tools
            request.metadataJson = settings.metadata ?? ""
            request.externalID = settings.externalID ?? ""
            let options = server.callOptions(try tenant.metadata())
            let response = try await server.withConnection { try await Loacl_V1_AssistantServiceClient($0).createAssistant(request, options: options) }
            Output.assistant(response.assistant)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List assistants, newest first (all pages).")
        @OptionGroup var server: ServerOptions
        @OptionGroup var tenant: TenantOptions
        @Flag(name: .customLong("ids"), help: "Print ids only.") var idsOnly = false

        func run() async throws {
            let options = server.callOptions(try tenant.metadata())
            let all = try await server.withConnection { connection in
                try await Pages.all { token in
                    var request = Loacl_V1_ListAssistantsRequest()
                    request.pageSize = 200
                    request.pageToken = token
                    let page = try await Loacl_V1_AssistantServiceClient(connection).listAssistants(request, options: options)
                    return (page.assistants, page.nextPageToken)
                }
            }
            for assistant in all {
                if idsOnly { Output.line(assistant.id) } else { Output.assistant(assistant) }
            }
            if all.isEmpty && !idsOnly { Output.note("no assistants") }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one assistant.")
        @OptionGroup var server: ServerOptions
        @OptionGroup var caller: CallerOptions
        @Argument(help: "Assistant id.") var id: String

        func run() async throws {
            var request = Loacl_V1_GetAssistantRequest()
            request.id = id
            let options = server.callOptions(try caller.metadata())
            let response = try await server.withConnection { try await Loacl_V1_AssistantServiceClient($0).getAssistant(request, options: options) }
            Output.assistant(response.assistant)
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change an assistant's settings.",
            discussion: "Only the options given change; configuration options are merged into the current configuration.")
        @OptionGroup var server: ServerOptions
        @OptionGroup var tenant: TenantOptions
        @Argument(help: "Assistant id.") var id: String
        @OptionGroup var settings: Settings

        func run() async throws {
            let options = server.callOptions(try tenant.metadata())
            let instructions = try settings.instructionsText()
            let response = try await server.withConnection { connection in
                let client = Loacl_V1_AssistantServiceClient(connection)
                var get = Loacl_V1_GetAssistantRequest()
                get.id = id
                var assistant = try await client.getAssistant(get, options: options).assistant
                var mask: [String] = []
                if let name = settings.name { assistant.name = name; mask.append("name") }
                if let instructions { assistant.instructions = instructions; mask.append("instructions") }
                if settings.touchesConfiguration {
                    var configuration = assistant.configuration
                    try settings.apply(to: &configuration)
                    assistant.configuration = configuration
                    mask.append("configuration")
                }
                if !settings.tools.isEmpty { assistant.toolsEnabled = settings.tools; mask.append("tools_enabled") }
                if let metadata = settings.metadata { assistant.metadataJson = metadata; mask.append("metadata_json") }
                if let externalID = settings.externalID { assistant.externalID = externalID; mask.append("external_id") }
                guard !mask.isEmpty else { throw ValidationError("nothing to change: give at least one setting") }
                var request = Loacl_V1_UpdateAssistantRequest()
                request.id = id
                request.assistant = assistant
                request.updateMask = mask
                return try await client.updateAssistant(request, options: options)
            }
            Output.assistant(response.assistant)
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete an assistant and everything under it.")
        @OptionGroup var server: ServerOptions
        @OptionGroup var tenant: TenantOptions
        @Argument(help: "Assistant id.") var id: String

        func run() async throws {
            var request = Loacl_V1_DeleteAssistantRequest()
            request.id = id
            let options = server.callOptions(try tenant.metadata())
            _ = try await server.withConnection { try await Loacl_V1_AssistantServiceClient($0).deleteAssistant(request, options: options) }
            Output.note("deleted \(id)")
        }
    }
}

/// Follows `next_page_token` until the last page.
enum Pages {
    static func all<Item>(_ fetch: (String) async throws -> ([Item], String)) async throws -> [Item] {
        var items: [Item] = []
        var token = ""
        repeat {
            let (page, next) = try await fetch(token)
            items += page
            token = next
        } while !token.isEmpty
        return items
    }
}
