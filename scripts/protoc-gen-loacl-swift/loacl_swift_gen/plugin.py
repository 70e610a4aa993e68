"""protoc plugin entry point: request in, generated files out.

Emitters are listed in PER_FILE / WHOLE_REQUEST; adding one means writing a module with
`emit(file) -> str | None` and adding it here. The plugin parameter picks the output set:
none: LOACLMessages; `server` / `client`: the service stubs for LOACLServerCore / LOACLClient;
`samples`: test values.
"""
import sys

from google.protobuf.compiler import plugin_pb2

from . import (emit_bridge, emit_client_stubs, emit_registry, emit_samples, emit_server_stubs, emit_services,
               emit_types)
from .model import GeneratorError, Model

# (file name suffix, emitter): each runs once per .proto file; None means "nothing to write".
PER_FILE = [
    (".pb.swift", emit_types.emit),
    (".pbc.swift", emit_bridge.emit),
    (".services.swift", emit_services.emit),
]
# (file name, emitter): each runs once over all files.
WHOLE_REQUEST = [
    ("ProtoRegistry+Generated.swift", emit_registry.emit),
]
# Per-file emitters for other modules, selected by the plugin parameter.
STUBS = {
    "server": [(".server.swift", emit_server_stubs.emit)],
    "client": [(".client.swift", emit_client_stubs.emit)],
}


def generate(request):
    response = plugin_pb2.CodeGeneratorResponse()
    response.supported_features = plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL
    try:
        model = Model(request)
        if request.parameter == "samples":  # test support, written into the test target
            out = response.file.add()
            out.name = "Samples+Generated.swift"
            out.content = emit_samples.emit(model.generated)
            return response
        if request.parameter in STUBS:
            _per_file(response, model, STUBS[request.parameter])
            return response
        if request.parameter:
            raise GeneratorError("unknown parameter %r (expected server, client or samples)" % request.parameter)
        _per_file(response, model, PER_FILE)
        for name, emitter in WHOLE_REQUEST:
            out = response.file.add()
            out.name = name
            out.content = emitter(model.generated)
    except GeneratorError as e:
        response.error = str(e)
    return response


def _per_file(response, model, emitters):
    for f in model.generated:
        for suffix, emitter in emitters:
            text = emitter(f)
            if text is not None:
                out = response.file.add()
                out.name = f.ident + suffix
                out.content = text


def main():
    request = plugin_pb2.CodeGeneratorRequest()
    request.ParseFromString(sys.stdin.buffer.read())
    sys.stdout.buffer.write(generate(request).SerializeToString())
