import ArgumentParser
import Foundation
import LOACLClient

/// `loacl assistants files upload|list|delete`: an assistant's knowledge files (tenant API key).
struct KnowledgeFiles: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "files",
        abstract: "Documents an assistant's file_search tool searches (text, Markdown, CSV, JSON, PDF).",
        subcommands: [Upload.self, List.self, Delete.self])

    struct Upload: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Upload a document to an assistant; prints it.")
        @OptionGroup var server: ServerOptions
        @OptionGroup var tenant: TenantOptions
        @Option(help: ArgumentHelp("Assistant id.", valueName: "id")) var assistant: String
        @Option(help: "Media type (default: from the file name's extension).") var type: String?
        @Argument(help: "The document.") var path: String

        static let types = ["txt": "text/plain", "md": "text/markdown", "markdown": "text/markdown", "csv": "text/csv",
                            "json": "application/json", "pdf": "application/pdf"]

        func run() async throws {
            let url = URL(fileURLWithPath: path)
            let bytes: [UInt8]
            do { bytes = Array(try Data(contentsOf: url)) } catch {
                throw ValidationError("cannot read \(path): \(error.localizedDescription)")
            }
            guard let fileType = type ?? Self.types[url.pathExtension.lowercased()] else {
                throw ValidationError("give --type (text/plain, text/markdown, text/csv, application/json or application/pdf)")
            }
            let options = server.callOptions(try tenant.metadata())
            let file = try await server.withConnection { connection in
                try await Loacl_V1_AssistantServiceClient(connection).uploadKnowledgeFile(options: options) { writer in
                    var header = Loacl_V1_UploadKnowledgeFileHeader()
                    header.assistantID = assistant
                    header.filename = url.lastPathComponent
                    header.fileType = fileType
                    header.declaredSize = UInt64(bytes.count)
                    var first = Loacl_V1_UploadKnowledgeFileRequest()
                    first.header = header
                    try await writer.write(first)
                    for start in stride(from: 0, to: bytes.count, by: 256 * 1024) {
                        var part = Loacl_V1_UploadKnowledgeFileRequest()
                        part.chunk = Array(bytes[start..<min(start + 256 * 1024, bytes.count)])
                        try await writer.write(part)
                    }
                }.file
            }
            Output.knowledgeFile(file)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List an assistant's documents, newest first (all pages).")
        @OptionGroup var server: ServerOptions
        @OptionGroup var tenant: TenantOptions
        @Option(help: ArgumentHelp("Assistant id.", valueName: "id")) var assistant: String

        func run() async throws {
            let options = server.callOptions(try tenant.metadata())
            let all = try await server.withConnection { connection in
                try await Pages.all { token in
                    var request = Loacl_V1_ListKnowledgeFilesRequest()
                    request.assistantID = assistant
                    request.pageSize = 200
                    request.pageToken = token
                    let page = try await Loacl_V1_AssistantServiceClient(connection).listKnowledgeFiles(request, options: options)
                    return (page.files, page.nextPageToken)
                }
            }
            all.forEach(Output.knowledgeFile)
            if all.isEmpty { Output.note("no files") }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a document and its index.")
        @OptionGroup var server: ServerOptions
        @OptionGroup var tenant: TenantOptions
        @Argument(help: "Knowledge file id.") var id: String

        func run() async throws {
            var request = Loacl_V1_DeleteKnowledgeFileRequest()
            request.id = id
            let options = server.callOptions(try tenant.metadata())
            _ = try await server.withConnection { try await Loacl_V1_AssistantServiceClient($0).deleteKnowledgeFile(request, options: options) }
            Output.note("deleted \(id)")
        }
    }
}
