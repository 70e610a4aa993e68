import Foundation
import LOACLClient

/// Terminal output: unbuffered writes so streamed text appears as it arrives.
enum Output {
    static func write(_ text: String) {
        do {
            try FileHandle.standardOutput.write(contentsOf: Data(text.utf8))
        } catch {
            // The reader went away (`loacl … | head -1`): stop quietly, as Unix tools do.
            exit(0)
        }
    }

    static func line(_ text: String = "") {
        write(text + "\n")
    }

    /// Status lines that scripts reading stdout should not have to skip.
    static func note(_ text: String) {
        try? FileHandle.standardError.write(contentsOf: Data((text + "\n").utf8))
    }

    static func date(_ ms: Int64) -> String {
        guard ms > 0 else { return "-" }
        let formatter = ISO8601DateFormatter()
        return formatter.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }

    static func numbered(_ items: [String], indent: String = "  ") {
        for (index, item) in items.enumerated() { line("\(indent)\(index + 1). \(item)") }
    }

    static func assistant(_ a: Loacl_V1_Assistant) {
        line("\(a.id)  \(a.name)")
        let c = a.configuration
        var settings = ["provider=\(c.provider.isEmpty ? "(default)" : c.provider)", "model=\(c.model.isEmpty ? "(default)" : c.model)"]
        if c.hasTemperature { settings.append("temperature=\(c.temperature.value)") }
        if c.maxOutputTokens > 0 { settings.append("max_output_tokens=\(c.maxOutputTokens)") }
        if c.hasFollowUpCount { settings.append("follow_ups=\(c.followUpCount.value)") }
        line("    " + settings.joined(separator: " "))
        if !a.instructions.isEmpty { line("    instructions: \(a.instructions.prefix(200))\(a.instructions.count > 200 ? "…" : "")") }
        if !a.toolsEnabled.isEmpty { line("    tools: \(a.toolsEnabled.joined(separator: ", "))") }
        if !c.functions.isEmpty { line("    functions: \(c.functions.map(\.name).joined(separator: ", "))") }
        line("    created \(date(a.createdAtMs)), updated \(date(a.updatedAtMs))")
    }

    static func question(_ q: Loacl_V1_GuidedQuestion) {
        let category = q.category.isEmpty ? "" : " [\(q.category)]"
        line("\(q.id)  p=\(q.priority)\(q.isActive ? "" : " (inactive)")\(category)  \(q.question)")
    }

    static func thread(_ t: Loacl_V1_Thread) {
        let status = ["unspecified", "active", "archived", "deleted"][Int(min(max(t.status.rawValue, 0), 3))]
        line("\(t.id)  \(status)  updated \(date(t.updatedAtMs))  \(t.title.isEmpty ? "(untitled)" : t.title)")
    }

    static func message(_ m: Loacl_V1_Message) {
        let role = [1: "user", 2: "assistant", 3: "system", 4: "tool"][m.role.rawValue] ?? "?"
        var about = ""
        if !m.toolCalls.isEmpty { about = " calls " + m.toolCalls.map { "\($0.name)(\($0.argumentsJson))" }.joined(separator: ", ") }
        if !m.toolCallID.isEmpty { about = " answers \(m.toolCallID)" }
        line("[\(date(m.createdAtMs))] \(role) (\(m.tokensUsed) tokens) \(m.id)\(about)")
        line(m.content.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }.joined(separator: "\n"))
    }

    static func runStatus(_ status: Loacl_V1_RunStatus) -> String {
        (status.protoName ?? "RUN_STATUS_UNSPECIFIED").dropFirst("RUN_STATUS_".count).lowercased()
    }

    /// "<id>  completed  thread <id>  reply <id>  openai-responses/gpt-4.1-mini  12+180 tokens  <date>".
    static func run(_ r: Loacl_V1_Run) {
        var parts = [r.id, runStatus(r.status)]
        if !r.incompleteReason.isEmpty { parts.append("(\(r.incompleteReason))") }
        if !r.lastError.message.isEmpty { parts.append("(\(r.lastError.code): \(r.lastError.message))") }
        parts.append("thread \(r.threadID)")
        if !r.replyMessageID.isEmpty { parts.append("reply \(r.replyMessageID)") }
        parts.append([r.provider, r.model].filter { !$0.isEmpty }.joined(separator: "/"))
        parts.append("\(r.inputTokens)+\(r.outputTokens) tokens")
        parts.append("events \(r.lastSequence)")
        parts.append(date(r.createdAtMs))
        line(parts.joined(separator: "  "))
    }

    /// "<id>  guide.md  text/markdown  1234 bytes  3 chunks  <date>".
    static func knowledgeFile(_ f: Loacl_V1_KnowledgeFile) {
        line("\(f.id)  \(f.filename)  \(f.fileType)  \(f.fileSize) bytes  \(f.chunkCount) chunks  \(date(f.createdAtMs))")
    }
}
