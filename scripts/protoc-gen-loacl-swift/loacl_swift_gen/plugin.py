"""protoc plugin entry point: request in, generated files out.

Emitters are listed in PER_FILE / WHOLE_REQUEST; adding one (e.g. client stubs) means writing a
module with `emit(file) -> str | None` and adding it here.
"""
import sys

from google.protobuf.compiler import plugin_pb2

from . import emit_bridge, emit_registry, emit_samples, emit_services, emit_types
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
        for f in model.generated:
            for suffix, emitter in PER_FILE:
                text = emitter(f)
                if text is not None:
                    out = response.file.add()
                    out.name = f.ident + suffix
                    out.content = text
        for name, emitter in WHOLE_REQUEST:
            out = response.file.add()
            out.name = name
            out.content = emitter(model.generated)
    except GeneratorError as e:
        response.error = str(e)
    return response


def main():
    request = plugin_pb2.CodeGeneratorRequest()
    request.ParseFromString(sys.stdin.buffer.read())
    sys.stdout.buffer.write(generate(request).SerializeToString())
