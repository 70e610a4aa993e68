/// Small text helpers for the offline provider: content words and phrase shaping.
enum OfflineText {
    private static let stopWords: Set<String> = [
        "the", "and", "for", "are", "but", "not", "you", "your", "yours", "with", "this", "that", "these", "those",
        "from", "have", "has", "had", "was", "were", "will", "would", "can", "could", "should", "shall", "may",
        "might", "must", "what", "which", "who", "whom", "whose", "when", "where", "why", "how", "does", "did",
        "doing", "done", "about", "into", "onto", "over", "under", "than", "then", "there", "their", "they",
        "them", "our", "ours", "out", "all", "any", "some", "its", "it's", "i'm", "i've", "let", "lets", "please",
        "tell", "give", "need", "want", "like", "just", "also", "very", "much", "many", "more", "most", "such",
        "one", "get", "got", "use", "using", "make", "know", "help", "is", "am", "be", "to", "of", "in", "on",
        "me", "my", "we", "us", "it", "an", "a", "or", "if", "so", "do", "as", "at", "by", "no", "yes", "i",
        "hello", "thanks", "thank", "explain", "describe", "often", "long", "way", "ways", "best", "good", "better",
        "really", "think", "something", "anything", "thing", "things",
    ]

    /// Lower-cased content words in order of appearance, without duplicates.
    static func keywords(_ text: String) -> [String] {
        var seen = Set<String>()
        var result: [String] = []
        for raw in text.lowercased().split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "'" || $0 == "-") }) {
            let word = raw.trimmingPrefixAndSuffix("'-")
            guard word.count >= 3, !stopWords.contains(word), seen.insert(word).inserted else { continue }
            result.append(word)
        }
        return result
    }

    /// A short topic phrase: the stretch of the message from its first to its third content
    /// word ("How often should I water tomatoes on a balcony?" → "water tomatoes on a balcony"),
    /// or "your question" when it has none.
    static func topic(of message: String) -> String {
        var words: [(range: Range<String.Index>, isContent: Bool)] = []
        var start: String.Index?
        func close(_ end: String.Index) {
            guard let s = start else { return }
            let word = message[s..<end].lowercased().trimmingPrefixAndSuffix("'-")
            words.append((s..<end, word.count >= 3 && !stopWords.contains(word)))
            start = nil
        }
        for index in message.indices {
            let ch = message[index]
            if ch.isLetter || ch.isNumber || ch == "'" || ch == "-" {
                if start == nil { start = index }
            } else {
                close(index)
            }
        }
        close(message.endIndex)
        let content = words.indices.filter { words[$0].isContent }.prefix(3)
        guard let first = content.first, let last = content.last else { return "your question" }
        if last - first <= 6 {
            return String(message[words[first].range.lowerBound..<words[last].range.upperBound])
        }
        return content.map { message[words[$0].range].lowercased() }.joined(separator: " ")
    }

    /// Sentences of `text` (split on . ! ? and newlines), trimmed, non-empty.
    static func sentences(_ text: String) -> [String] {
        var result: [String] = []
        var current = ""
        for ch in text {
            if ch == "\n" || ch == "." || ch == "!" || ch == "?" {
                if ch != "\n" { current.append(ch) }
                let s = current.trimmingPrefixAndSuffix(" \t")
                if s.count > 1 { result.append(s) }
                current = ""
            } else {
                current.append(ch)
            }
        }
        let tail = current.trimmingPrefixAndSuffix(" \t")
        if !tail.isEmpty { result.append(tail) }
        return result
    }

    /// Normalised form for comparing questions ("What is X?" == "what is x").
    static func normalized(_ text: String) -> String {
        String(text.lowercased().filter { $0.isLetter || $0.isNumber || $0 == " " })
            .split(separator: " ").joined(separator: " ")
    }

    /// Splits text into word-sized deltas, each word with the whitespace that follows it, so
    /// the concatenation of the pieces is exactly the text.
    static func wordPieces(_ text: String) -> [String] {
        var pieces: [String] = []
        var current = ""
        var inSpace = false
        for ch in text {
            if ch.isWhitespace {
                inSpace = true
            } else if inSpace {
                pieces.append(current)
                current = ""
                inSpace = false
            }
            current.append(ch)
        }
        if !current.isEmpty { pieces.append(current) }
        return pieces
    }
}

extension StringProtocol {
    func trimmingPrefixAndSuffix(_ characters: String) -> String {
        let set = Set(characters)
        var s = Substring(self)
        while let first = s.first, set.contains(first) { s.removeFirst() }
        while let last = s.last, set.contains(last) { s.removeLast() }
        return String(s)
    }
}
