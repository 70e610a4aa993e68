/// Stops the run, as a crash libFuzzer records, when a property of the parser does not hold
/// (two ways of parsing disagree, a round trip changes a value).
@inline(never)
public func fuzzCheck(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                      file: StaticString = #fileID, line: UInt = #line) {
    guard !condition() else { return }
    fatalError("fuzz property violated: \(message())", file: file, line: line)
}

/// The input as text, the way a wire string field decodes it (invalid UTF-8 becomes U+FFFD).
public func fuzzText(_ input: UnsafeRawBufferPointer) -> String {
    String(decoding: input, as: UTF8.self)
}
