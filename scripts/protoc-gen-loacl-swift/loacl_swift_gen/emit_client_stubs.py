"""Emitter: a typed client struct per service over LOACLClientConnection (LOACLClient).

Written by `--loacl-swift_opt=client` into Sources/LOACLClient/Generated.
"""
from .stub_common import descriptor, doc, emit_file, kind, types


def emit(file):
    return emit_file(file, _client)


def client_name(service):
    return service.swift_name + "Client"


def _client(p, service):
    doc(p, service.comment, [
        "Typed calls of `%s` over one connection. Calls fail with `RPCError`." % service.full_name,
    ])
    p("public struct %s: Sendable {" % client_name(service))
    p.indent()
    p("public let connection: LOACLClientConnection")
    p()
    p("public init(_ connection: LOACLClientConnection) {")
    p("    self.connection = connection")
    p("}")
    for m in service.methods:
        p()
        _method(p, service, m)
    p.outdent()
    p("}")


def _method(p, service, method):
    req, res = types(method)
    k = kind(method)
    name = method.swift_name
    d = descriptor(service, method)
    opts = "options: CallOptions = CallOptions()"
    if k == "unary":
        doc(p, method.comment)
        p("public func %s(_ request: %s, %s) async throws -> %s {" % (name, req, opts, res))
        p("    try await connection.unary(%s, request, options: options, responseType: %s.self)" % (d, res))
    elif k == "serverStreaming":
        doc(p, method.comment, ["The responses are readable inside `body`; returning early cancels the call."])
        p("public func %s<Result: Sendable>(" % name)
        p("    _ request: %s, %s," % (req, opts))
        p("    _ body: (ResponseStream<%s>) async throws -> Result" % res)
        p(") async throws -> Result {")
        p("    try await connection.serverStreaming(%s, request, options: options, responseType: %s.self, body)"
          % (d, res))
    elif k == "clientStreaming":
        doc(p, method.comment, ["`body` writes the requests; the request side is closed when it returns."])
        p("public func %s(" % name)
        p("    %s," % opts)
        p("    _ body: (RequestWriter<%s>) async throws -> Void" % req)
        p(") async throws -> %s {" % res)
        p("    try await connection.clientStreaming(")
        p("        %s, options: options, requestType: %s.self, responseType: %s.self, body" % (d, req, res))
        p("    )")
    else:
        doc(p, method.comment, [
            "`body` writes requests and reads responses at once; when it returns, the request side is",
            "closed, and the call is cancelled if responses remain unread.",
        ])
        p("public func %s<Result: Sendable>(" % name)
        p("    %s," % opts)
        p("    _ body: (RequestWriter<%s>, ResponseStream<%s>) async throws -> Result" % (req, res))
        p(") async throws -> Result {")
        p("    try await connection.bidirectional(")
        p("        %s, options: options, requestType: %s.self, responseType: %s.self, body" % (d, req, res))
        p("    )")
    p("}")
