import Foundation
import NIOPosix

/// Where uploaded bytes live: `<root>/<assistant id>/<session id>/<file id>`, so deleting an
/// assistant or purging a session removes one folder. Uploads are written to
/// `<root>/.partial/` first and moved into place only when complete. Blocking file system calls
/// run on NIO's thread pool, never on the caller's executor.
public struct FileStorage: Sendable {
    public let root: URL
    public let maxFileSize: UInt64

    public init(root: String, maxFileSize: UInt64 = 20 * 1024 * 1024) {
        self.root = URL(fileURLWithPath: root, isDirectory: true).standardizedFileURL
        self.maxFileSize = maxFileSize
    }

    /// Path of a stored file, relative to `root` (what `files.storage_path` holds).
    func relativePath(assistantID: String, sessionID: String, fileID: String) -> String {
        "\(assistantID)/\(sessionID)/\(fileID)"
    }

    func url(relativePath: String) -> URL {
        root.appendingPathComponent(relativePath, isDirectory: false)
    }

    /// A new, empty partial file for an upload.
    func createPartial() async throws -> PartialFile {
        let directory = root.appendingPathComponent(".partial", isDirectory: true)
        let url = directory.appendingPathComponent(UUID().uuidString.lowercased(), isDirectory: false)
        let handle = try await Self.io {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
                throw CocoaError(.fileWriteUnknown)
            }
            return try FileHandle(forWritingTo: url)
        }
        return PartialFile(url: url, handle: handle)
    }

    /// Moves a complete upload to its final place.
    func commit(_ partial: PartialFile, to relativePath: String) async throws {
        let target = url(relativePath: relativePath)
        try await Self.io {
            try partial.handle.close()
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.moveItem(at: partial.url, to: target)
        }
    }

    /// Deletes a partial upload (aborted or rejected).
    func discard(_ partial: PartialFile) async {
        try? await Self.io {
            try? partial.handle.close()
            try? FileManager.default.removeItem(at: partial.url)
        }
    }

    func remove(relativePaths: [String]) async {
        guard !relativePaths.isEmpty else { return }
        let urls = relativePaths.map(url(relativePath:))
        try? await Self.io { for url in urls { try? FileManager.default.removeItem(at: url) } }
    }

    func removeAssistant(_ assistantID: String) async {
        let url = root.appendingPathComponent(assistantID, isDirectory: true)
        try? await Self.io { try? FileManager.default.removeItem(at: url) }
    }

    func removeSession(assistantID: String, sessionID: String) async {
        let url = root.appendingPathComponent(assistantID, isDirectory: true).appendingPathComponent(sessionID, isDirectory: true)
        try? await Self.io { try? FileManager.default.removeItem(at: url) }
    }

    /// Reads `[offset, offset + count)` of a stored file.
    func read(relativePath: String, offset: UInt64, count: Int) async throws -> [UInt8] {
        let url = url(relativePath: relativePath)
        return try await Self.io {
            let handle = try FileHandle(forReadingFrom: url)
            defer { try? handle.close() }
            try handle.seek(toOffset: offset)
            return [UInt8](try handle.read(upToCount: count) ?? Data())
        }
    }

    func readAll(relativePath: String) async throws -> [UInt8] {
        let url = url(relativePath: relativePath)
        return try await Self.io { [UInt8](try Data(contentsOf: url)) }
    }

    static func io<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(body)
    }
}

/// An upload in progress. Used by one call at a time.
final class PartialFile: @unchecked Sendable {
    // @unchecked: the handle is only touched by the single upload call that created it, one
    // await at a time, on the thread pool.
    let url: URL
    let handle: FileHandle
    private(set) var size: UInt64 = 0

    init(url: URL, handle: FileHandle) {
        self.url = url
        self.handle = handle
    }

    func append(_ bytes: [UInt8]) async throws {
        let handle = self.handle
        try await FileStorage.io { try handle.write(contentsOf: bytes) }
        size += UInt64(bytes.count)
    }

    /// Everything written so far (for hashing once complete).
    func contents() async throws -> [UInt8] {
        let url = self.url
        let handle = self.handle
        return try await FileStorage.io {
            try handle.synchronize()
            return [UInt8](try Data(contentsOf: url))
        }
    }
}
