"""A small model over FileDescriptorProtos: every name the emitters need, computed once."""
from google.protobuf import descriptor_pb2

from . import naming

F = descriptor_pb2.FieldDescriptorProto

# proto type -> (Swift type, Swift default, C element type as imported into Swift)
SCALARS = {
    F.TYPE_DOUBLE: ("Double", "0", "Double"),
    F.TYPE_FLOAT: ("Float", "0", "Float"),
    F.TYPE_INT32: ("Int32", "0", "Int32"),
    F.TYPE_SINT32: ("Int32", "0", "Int32"),
    F.TYPE_SFIXED32: ("Int32", "0", "Int32"),
    F.TYPE_INT64: ("Int64", "0", "Int64"),
    F.TYPE_SINT64: ("Int64", "0", "Int64"),
    F.TYPE_SFIXED64: ("Int64", "0", "Int64"),
    F.TYPE_UINT32: ("UInt32", "0", "UInt32"),
    F.TYPE_FIXED32: ("UInt32", "0", "UInt32"),
    F.TYPE_UINT64: ("UInt64", "0", "UInt64"),
    F.TYPE_FIXED64: ("UInt64", "0", "UInt64"),
    F.TYPE_BOOL: ("Bool", "false", "protobuf_c_boolean"),
    F.TYPE_STRING: ("String", '""', None),
    F.TYPE_BYTES: ("[UInt8]", "[]", None),
}


class GeneratorError(Exception):
    pass


def _comments(file_proto):
    out = {}
    for loc in file_proto.source_code_info.location:
        text = loc.leading_comments
        if text:
            out[tuple(loc.path)] = text
    return out


def doc_lines(text, indent):
    """Turns a proto leading comment into `///` lines."""
    if not text:
        return []
    lines = text.rstrip("\n").split("\n")
    return [indent + ("///" + line).rstrip() for line in lines]


class Enum:
    def __init__(self, proto, full_name, swift_name, decl_name, comments, path):
        self.proto = proto
        self.full_name = full_name
        self.swift_name = swift_name
        self.decl_name = decl_name
        self.c_type = naming.c_type_name(full_name)
        self.comment = comments.get(tuple(path), "")
        self.values = []
        seen = set()
        for i, v in enumerate(proto.value):
            case = naming.enum_case_name(proto.name, v.name)
            if case in seen:
                raise GeneratorError("%s: two values map to Swift name %s" % (full_name, case))
            seen.add(case)
            self.values.append((case, v.number, v.name, comments.get(tuple(path + [2, i]), "")))


class Oneof:
    def __init__(self, msg, index, proto, comment):
        self.msg = msg
        self.index = index
        self.proto = proto
        self.swift_name = naming.member_name(proto.name)
        self.enum_name = "OneOf_" + naming.upper_camel(proto.name)
        self.c_case_member = naming.c_oneof_case_member(proto.name)
        self.comment = comment
        self.fields = []


class Field:
    def __init__(self, msg, proto, comment):
        self.msg = msg
        self.proto = proto
        self.name = proto.name
        self.number = proto.number
        self.type = proto.type
        self.full_name = msg.full_name + "." + proto.name
        self.swift_name = naming.member_name(proto.name)
        self.upper_name = naming.upper_camel(proto.name)
        self.c_name = naming.c_field_name(proto.name)
        self.comment = comment
        self.repeated = proto.label == F.LABEL_REPEATED
        self.optional = proto.proto3_optional
        self.oneof = None  # a real oneof this field belongs to
        self.synthetic_case_member = None  # C case member for a proto3 `optional` scalar
        self.type_name = proto.type_name.lstrip(".")
        self.message = None  # resolved Message for TYPE_MESSAGE
        self.enum = None  # resolved Enum for TYPE_ENUM
        self.boxed = False  # stored indirectly (recursive message)

    @property
    def is_message(self):
        return self.type == F.TYPE_MESSAGE

    @property
    def is_enum(self):
        return self.type == F.TYPE_ENUM

    @property
    def is_map(self):
        return self.repeated and self.message is not None and self.message.is_map_entry

    def base_swift_type(self):
        if self.is_message:
            return self.message.swift_name
        if self.is_enum:
            return self.enum.swift_name
        return SCALARS[self.type][0]

    def base_default(self):
        if self.is_message or self.is_enum:
            return ".init()"
        return SCALARS[self.type][1]

    def swift_type(self):
        if self.is_map:
            key, value = self.message.fields
            return "[%s: %s]" % (key.base_swift_type(), value.base_swift_type())
        if self.repeated:
            return "[%s]" % self.base_swift_type()
        return self.base_swift_type()


class Message:
    def __init__(self, file, proto, full_name, swift_name, decl_name, parent, comments, path):
        self.file = file
        self.proto = proto
        self.full_name = full_name
        self.swift_name = swift_name
        self.decl_name = decl_name
        self.parent = parent
        self.c_type = naming.c_type_name(full_name)
        self.c_lower = naming.c_lower_name(full_name)
        self.comment = comments.get(tuple(path), "")
        self.is_map_entry = proto.options.map_entry
        self.fields = []
        self.oneofs = []
        self.nested_messages = []
        self.nested_enums = []
        synthetic = set()
        for i, o in enumerate(proto.oneof_decl):
            members = [f for f in proto.field if f.HasField("oneof_index") and f.oneof_index == i]
            if members and all(f.proto3_optional for f in members):
                synthetic.add(i)
                self.oneofs.append(None)
            else:
                self.oneofs.append(Oneof(self, i, o, comments.get(tuple(path + [8, i]), "")))
        for i, fp in enumerate(proto.field):
            if fp.label == F.LABEL_REQUIRED or fp.type == F.TYPE_GROUP:
                raise GeneratorError("%s.%s: proto2 constructs are not supported" % (full_name, fp.name))
            field = Field(self, fp, comments.get(tuple(path + [2, i]), ""))
            if fp.HasField("oneof_index"):
                if fp.oneof_index in synthetic:
                    field.synthetic_case_member = naming.c_oneof_case_member(
                        proto.oneof_decl[fp.oneof_index].name)
                else:
                    field.oneof = self.oneofs[fp.oneof_index]
                    field.oneof.fields.append(field)
            self.fields.append(field)
        self.oneofs = [o for o in self.oneofs if o is not None]

    @property
    def plain_fields(self):
        """Fields stored directly (not oneof members)."""
        return [f for f in self.fields if f.oneof is None]


class File:
    def __init__(self, proto, generate):
        self.proto = proto
        self.name = proto.name
        self.package = proto.package
        self.generate = generate
        if generate and proto.syntax != "proto3":
            raise GeneratorError("%s: only proto3 files are supported" % proto.name)
        self.ident = proto.name[:-len(".proto")] if proto.name.endswith(".proto") else proto.name
        self.ident = "".join(c if c.isalnum() else "_" for c in self.ident)
        self.comments = _comments(proto)
        prefix = naming.type_prefix(proto.package)
        self.messages = []  # every message, nested ones included, parents before children
        self.enums = []
        self.services = []
        for i, e in enumerate(proto.enum_type):
            self.enums.append(Enum(e, self._full(e.name), prefix + e.name, prefix + e.name,
                                   self.comments, [5, i]))
        for i, m in enumerate(proto.message_type):
            self._add_message(m, self._full(m.name), prefix + m.name, prefix + m.name, None, [4, i])
        for i, s in enumerate(proto.service):
            self.services.append(Service(self, s, prefix, [6, i]))

    def _full(self, name):
        return self.package + "." + name if self.package else name

    def _add_message(self, proto, full_name, swift_name, decl_name, parent, path):
        msg = Message(self, proto, full_name, swift_name, decl_name, parent, self.comments, path)
        self.messages.append(msg)
        if parent is not None:
            parent.nested_messages.append(msg)
        for i, e in enumerate(proto.enum_type):
            enum = Enum(e, full_name + "." + e.name, swift_name + "." + e.name, e.name,
                        self.comments, path + [4, i])
            self.enums.append(enum)
            msg.nested_enums.append(enum)
        for i, m in enumerate(proto.nested_type):
            self._add_message(m, full_name + "." + m.name, swift_name + "." + m.name, m.name, msg,
                              path + [3, i])


class Method:
    def __init__(self, service, proto, comment):
        self.proto = proto
        self.name = proto.name
        self.swift_name = naming.escape(naming.lower_camel(proto.name))
        self.input = proto.input_type.lstrip(".")
        self.output = proto.output_type.lstrip(".")
        self.client_streaming = proto.client_streaming
        self.server_streaming = proto.server_streaming
        self.comment = comment
        self.input_message = None
        self.output_message = None


class Service:
    def __init__(self, file, proto, prefix, path):
        self.file = file
        self.proto = proto
        self.full_name = file._full(proto.name)
        self.swift_name = prefix + proto.name
        self.c_descriptor = naming.c_lower_name(self.full_name) + "__descriptor"
        self.comment = file.comments.get(tuple(path), "")
        self.methods = [Method(self, m, file.comments.get(tuple(path + [2, i]), ""))
                        for i, m in enumerate(proto.method)]


class Model:
    """Every file in the request; `generated` are those protoc asked for, in request order."""

    def __init__(self, request):
        wanted = set(request.file_to_generate)
        self.files = [File(p, p.name in wanted) for p in request.proto_file]
        self.generated = sorted((f for f in self.files if f.generate), key=lambda f: f.name)
        self.messages = {m.full_name: m for f in self.files for m in f.messages}
        self.enums = {e.full_name: e for f in self.files for e in f.enums}
        for msg in self.messages.values():
            for field in msg.fields:
                if field.is_message:
                    field.message = self.messages[field.type_name]
                elif field.is_enum:
                    field.enum = self.enums[field.type_name]
        for f in self.files:
            for s in f.services:
                for m in s.methods:
                    m.input_message = self.messages[m.input]
                    m.output_message = self.messages[m.output]
        self._mark_recursion()

    def _mark_recursion(self):
        """Singular message fields that lead back to their own message are stored boxed."""
        def inline_children(msg):
            return [f.message for f in msg.fields if f.is_message and not f.repeated]

        reach = {}
        for name, msg in self.messages.items():
            seen = set()
            stack = list(inline_children(msg))
            while stack:
                m = stack.pop()
                if m.full_name in seen:
                    continue
                seen.add(m.full_name)
                stack.extend(inline_children(m))
            reach[name] = seen
        for msg in self.messages.values():
            for f in msg.fields:
                if f.is_message and not f.repeated:
                    f.boxed = msg.full_name in reach[f.message.full_name]
