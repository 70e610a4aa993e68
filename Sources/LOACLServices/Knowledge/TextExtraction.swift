import Foundation
import LOACLCore

/// The text of an uploaded knowledge document: UTF-8 as is for text, Markdown, CSV and JSON;
/// PDF through poppler's `pdftotext` (a well-kept extractor, installed by scripts/setup.sh),
/// run as a process with the document on a temporary file.
enum TextExtraction {
    static let textTypes: Set<String> = ["text/plain", "text/markdown", "text/csv", "application/json"]
    static let pdfType = "application/pdf"
    static var acceptedTypes: [String] { textTypes.sorted() + [pdfType] }

    /// Whether `type` (a lowercased media type without parameters) is one it reads.
    static func reads(_ type: String) -> Bool { textTypes.contains(type) || type == pdfType }

    /// Where pdftotext is looked for (PATH is not trusted for a server process).
    static let pdftotextPaths = ["/usr/bin/pdftotext", "/usr/local/bin/pdftotext"]

    static func text(of bytes: [UInt8], type: String) async throws -> String {
        if textTypes.contains(type) {
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw RPCError.invalidArgument("the document is not valid UTF-8 text")
            }
            return text
        }
        guard type == pdfType else {
            throw RPCError.invalidArgument("header.file_type must be one of \(acceptedTypes.joined(separator: ", "))")
        }
        return try await pdfText(bytes)
    }

    private static func pdfText(_ bytes: [UInt8]) async throws -> String {
        guard let tool = pdftotextPaths.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw RPCError(.failedPrecondition, "PDF documents need poppler's pdftotext on the server (apt-get install poppler-utils)")
        }
        // Everything that blocks (the temporary file, starting the process, reading its output,
        // waiting for it) runs on a thread of its own, never on the caller's executor (with
        // caller-isolated services that is the connection's event loop).
        let data = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Data, any Error>) in
            Thread.detachNewThread {
                continuation.resume(with: Result { try runPdftotext(tool, bytes) })
            }
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Blocking: writes `bytes` to a temporary file and returns what `pdftotext` prints for it.
    private static func runPdftotext(_ tool: String, _ bytes: [UInt8]) throws -> Data {
        let input = FileManager.default.temporaryDirectory.appendingPathComponent("loacl-knowledge-\(UUID().uuidString).pdf")
        try Data(bytes).write(to: input)
        defer { try? FileManager.default.removeItem(at: input) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = ["-enc", "UTF-8", "-q", input.path, "-"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw RPCError.invalidArgument("the PDF could not be read (pdftotext exited with status \(process.terminationStatus))")
        }
        return data
    }
}

/// Splits a document's text into chunks of about `target` characters on paragraph, then
/// sentence, then word boundaries: what one search hit returns and the model reads.
enum TextChunker {
    static let target = 1_000

    static func chunks(_ text: String, target: Int = target) -> [String] {
        let paragraphs = text.replacingOccurrences(of: "\r\n", with: "\n")
            .components(separatedBy: "\n\n")
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            .filter { !$0.isEmpty }
        var chunks: [String] = []
        var current = ""
        func flush() {
            if !current.isEmpty { chunks.append(current) }
            current = ""
        }
        for paragraph in paragraphs {
            for piece in split(paragraph, target: target) {
                if !current.isEmpty, current.count + piece.count + 2 > target { flush() }
                current += (current.isEmpty ? "" : "\n\n") + piece
            }
        }
        flush()
        return chunks
    }

    /// A paragraph longer than `target` cut at sentence ends, else at spaces, else hard.
    private static func split(_ paragraph: String, target: Int) -> [String] {
        guard paragraph.count > target else { return [paragraph] }
        var pieces: [String] = []
        var rest = Substring(paragraph)
        while rest.count > target {
            let window = rest.prefix(target)
            let cut = window.lastIndex(where: { ".!?".contains($0) }).map { rest.index(after: $0) }
                ?? window.lastIndex(of: " ")
                ?? window.endIndex
            let piece = rest[..<cut].trimmingCharacters(in: .whitespaces)
            if !piece.isEmpty { pieces.append(piece) }
            rest = rest[cut...].drop(while: { $0 == " " })
            if cut == rest.startIndex && piece.isEmpty { break }
        }
        let tail = rest.trimmingCharacters(in: .whitespaces)
        if !tail.isEmpty { pieces.append(tail) }
        return pieces
    }
}
