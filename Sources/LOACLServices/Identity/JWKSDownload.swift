import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// One JWKS document as served, with how long the server says it may be cached.
public struct JWKSDocument: Sendable {
    public var body: [UInt8]
    /// `Cache-Control: max-age`, if the response had one.
    public var maxAge: Duration?

    public init(body: [UInt8], maxAge: Duration? = nil) {
        self.body = body
        self.maxAge = maxAge
    }
}

/// Downloads a JWKS with AsyncHTTPClient: a GET that must answer 200 within `timeout`, with a
/// body of at most `maxBytes`.
public struct JWKSDownload: Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public var client: HTTPClient
    public var timeout: TimeAmount
    public var maxBytes: Int

    public init(client: HTTPClient = .shared, timeout: TimeAmount = .seconds(10), maxBytes: Int = 1 << 20) {
        self.client = client
        self.timeout = timeout
        self.maxBytes = maxBytes
    }

    public func callAsFunction(_ url: String) async throws -> JWKSDocument {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        let response = try await client.execute(request, timeout: timeout)
        guard response.status == .ok else { throw Failure(description: "HTTP \(response.status.code)") }
        let body = try await response.body.collect(upTo: maxBytes)
        return JWKSDocument(body: Array(buffer: body), maxAge: Self.maxAge(response.headers["Cache-Control"]))
    }

    /// `max-age` of Cache-Control values (`no-store`/`no-cache` count as 0).
    static func maxAge(_ values: [String]) -> Duration? {
        for directive in values.flatMap({ $0.split(separator: ",") }) {
            let parts = directive.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            switch parts.first {
            case "max-age"?: if parts.count == 2, let seconds = Int(parts[1]), seconds >= 0 { return .seconds(seconds) }
            case "no-store"?, "no-cache"?: return .zero
            default: continue
            }
        }
        return nil
    }
}
