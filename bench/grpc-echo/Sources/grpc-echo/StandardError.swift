#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Writes a line to standard error (diagnostics stay off stdout's one summary line).
/// Uses write(2) directly: the C `stderr` global is not concurrency-safe in Swift 6.
func printError(_ message: String) {
    var line = message + "\n"
    line.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
}
