/// Composes the offline provider's reply and follow-ups. A pure function of the request, so the
/// same request always gets the same reply, byte for byte.
struct OfflineComposer {
    let request: ChatRequest

    private var message: String { request.userMessage.trimmingPrefixAndSuffix(" \t\n") }
    private var topic: String { OfflineText.topic(of: message) }

    /// What kind of question the message is, from its first word.
    private enum Intent { case howTo, explain, decide, statement }

    private var intent: Intent {
        let first = message.lowercased().split(whereSeparator: { !$0.isLetter }).first.map(String.init) ?? ""
        switch first {
        case "how": return .howTo
        case "what", "why", "who", "which", "where", "when": return .explain
        case "should", "can", "could", "is", "are", "do", "does", "will", "would": return .decide
        default: return .statement
        }
    }

    /// Guided questions that relate to the message, most related first (ties keep the
    /// assistant's order); the message itself is left out.
    func relatedGuidedQuestions(limit: Int) -> [String] {
        let words = Set(OfflineText.keywords(message))
        let asked = askedQuestions
        var scored: [(index: Int, question: String, score: Int)] = []
        for (index, question) in request.guidedQuestions.enumerated() where !asked.contains(OfflineText.normalized(question)) {
            let score = Set(OfflineText.keywords(question)).intersection(words).count
            if score > 0 { scored.append((index, question, score)) }
        }
        scored.sort { $0.score != $1.score ? $0.score > $1.score : $0.index < $1.index }
        return scored.prefix(limit).map(\.question)
    }

    /// Normalised user questions of this conversation, the current one included.
    private var askedQuestions: Set<String> {
        Set((request.history.filter { $0.role == .user }.map(\.content) + [message]).map(OfflineText.normalized))
    }

    private var isGuidedQuestion: Bool {
        let m = OfflineText.normalized(message)
        return request.guidedQuestions.contains { OfflineText.normalized($0) == m }
    }

    func reply() -> String {
        var paragraphs: [String] = []
        paragraphs.append("(Offline mode: this answer is composed locally from the assistant's setup; no language model was called.)")

        let quoted = message.count > 200 ? String(message.prefix(200)) + "…" : message
        var opening: String
        switch intent {
        case .statement: opening = message.isEmpty ? "You sent an empty message." : "You wrote: “\(quoted)”"
        default: opening = "You asked: “\(quoted)”"
        }
        if isGuidedQuestion { opening += " It is one of the questions this assistant is set up to answer." }
        paragraphs.append(opening)

        let roles = OfflineText.sentences(request.instructions).prefix(2)
        if !roles.isEmpty {
            paragraphs.append("How this assistant is set up: " + roles.joined(separator: " "))
        }

        let steps: [String]
        switch intent {
        case .howTo:
            steps = ["Decide what a good result for \(topic) looks like, so you know when you are done.",
                     "List what you already have and what is missing (tools, data, permissions, time).",
                     "Take the smallest next step, check the result, then repeat."]
        case .explain:
            steps = ["Start from the definition: what \(topic) means in your context.",
                     "Look at a concrete example and at what changes when one detail changes.",
                     "Note the limits: where \(topic) stops applying, and what people often confuse it with."]
        case .decide:
            steps = ["Write down the options and what each one costs you (money, time, risk).",
                     "Check which option still works if your main assumption about \(topic) turns out wrong.",
                     "Pick the option that is easiest to reverse when the evidence is close."]
        case .statement:
            steps = ["Say what you would like to happen next with \(topic).",
                     "Add the details that matter: constraints, examples, what you have tried.",
                     "Ask one specific question at a time, and the answers get sharper."]
        }
        paragraphs.append("A useful way to work through it:\n" + steps.enumerated().map { "\($0.offset + 1). \($0.element)" }.joined(separator: "\n"))

        let related = relatedGuidedQuestions(limit: 3)
        if !related.isEmpty {
            paragraphs.append("Related questions this assistant is prepared for:\n" + related.map { "- \($0)" }.joined(separator: "\n"))
        }
        paragraphs.append("For a full answer, connect an upstream model: set the assistant's provider to \"openai-responses\" or \"openai-chat\" and configure an API key.")
        return paragraphs.joined(separator: "\n\n")
    }

    /// Follow-ups: related guided questions not yet asked, then questions about the topic.
    func followUps(count: Int) -> [String] {
        guard count > 0 else { return [] }
        var result = relatedGuidedQuestions(limit: count)
        // Unrelated guided questions come next: they are what the assistant is built for.
        let asked = askedQuestions.union(result.map(OfflineText.normalized))
        for question in request.guidedQuestions where result.count < count && !asked.contains(OfflineText.normalized(question)) {
            result.append(question)
        }
        let templates = ["Can you give a concrete example of \(topic)?",
                         "What are common mistakes with \(topic)?",
                         "What should I do first about \(topic)?",
                         "How do I know if \(topic) is working?",
                         "What are the alternatives to \(topic)?"]
        for template in templates where result.count < count && !result.contains(template) {
            result.append(template)
        }
        return result
    }
}
