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

    /// A short topic phrase in the user's own words: the first clause of the message from its
    /// first content word on, at most 6 words, without "do/does/did" and without a dangling
    /// article or preposition ("How often should I water tomatoes on a balcony?" → "water
    /// tomatoes on a balcony"; "What soil do tomatoes need?" → "soil tomatoes need"), or
    /// "your question" when it has no content word.
    static func topic(of message: String) -> String {
        let clause = message.split(whereSeparator: { ".?!;:,\n".contains($0) }).first.map(String.init) ?? ""
        let words = clause.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "'" || $0 == "-") }).map(String.init)
        guard let first = words.firstIndex(where: { isContentWord($0) }) else { return "your question" }
        var phrase = words[first...].filter { !["do", "does", "did"].contains($0.lowercased()) }.prefix(6).map { $0 }
        let dangling: Set<String> = ["a", "an", "the", "of", "to", "in", "on", "for", "with", "and", "or", "my", "your", "at", "by"]
        while let last = phrase.last, dangling.contains(last.lowercased()) { phrase.removeLast() }
        return phrase.joined(separator: " ")
    }

    static func isContentWord(_ word: String) -> Bool {
        let w = word.lowercased().trimmingPrefixAndSuffix("'-")
        return w.count >= 3 && !stopWords.contains(w)
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
