"""Emitter: a handler protocol per service and a `serverMethods` table built from it (LOACLServerCore).

Written by `--loacl-swift_opt=server` into Sources/LOACLServerCore/Generated.
"""
from .stub_common import descriptor, doc, emit_file, kind, types


def emit(file):
    return emit_file(file, _service)


def _service(p, service):
    _protocol(p, service)
    p()
    _methods(p, service)


def handler_name(service):
    return service.swift_name + "Handler"


def _requirement(method):
    req, res = types(method)
    k = kind(method)
    name = method.swift_name
    if k == "unary":
        return "func %s(_ request: %s, context: ServerContext) async throws -> %s" % (name, req, res)
    if k == "serverStreaming":
        return ("func %s(_ request: %s, responses: ResponseWriter<%s>, context: ServerContext) async throws"
                % (name, req, res))
    if k == "clientStreaming":
        return ("func %s(_ requests: RequestStream<%s>, context: ServerContext) async throws -> %s"
                % (name, req, res))
    return ("func %s(_ requests: RequestStream<%s>, responses: ResponseWriter<%s>, context: ServerContext) "
            "async throws" % (name, req, res))


def _protocol(p, service):
    doc(p, service.comment, [
        "Server side of `%s`: implement every method, then register `serverMethods`." % service.full_name,
        "Throw `RPCError` to end a call with a status other than OK.",
    ])
    p("public protocol %s: Sendable {" % handler_name(service))
    p.indent()
    for i, m in enumerate(service.methods):
        if i:
            p()
        doc(p, m.comment)
        p(_requirement(m))
    p.outdent()
    p("}")


def _entry(p, service, method):
    req, res = types(method)
    k = kind(method)
    name = method.swift_name
    p(".%s(%s) {" % (k, descriptor(service, method)))
    p.indent()
    if k == "unary":
        p("(request: %s, context: ServerContext) async throws -> %s in" % (req, res))
        p("try await self.%s(request, context: context)" % name)
    elif k == "serverStreaming":
        p("(request: %s, responses: ResponseWriter<%s>, context: ServerContext) async throws in" % (req, res))
        p("try await self.%s(request, responses: responses, context: context)" % name)
    elif k == "clientStreaming":
        p("(requests: RequestStream<%s>, context: ServerContext) async throws -> %s in" % (req, res))
        p("try await self.%s(requests, context: context)" % name)
    else:
        p("(requests: RequestStream<%s>, responses: ResponseWriter<%s>, context: ServerContext) async throws in"
          % (req, res))
        p("try await self.%s(requests, responses: responses, context: context)" % name)
    p.outdent()
    p("},")


def _methods(p, service):
    p("extension %s {" % handler_name(service))
    p.indent()
    p("/// Every method of the service, for `MethodTable.register(contentsOf:)`.")
    p("public var serverMethods: [ServerMethod] {")
    p.indent()
    if not service.methods:
        p("[]")
    else:
        p("[")
        p.indent()
        for m in service.methods:
            _entry(p, service, m)
        p.outdent()
        p("]")
    p.outdent()
    p("}")
    p.outdent()
    p("}")
