"""Naming rules.

Swift names follow swift-protobuf's conventions (package prefix `Loacl_V1_`, lowerCamelCase fields
with the url/http/https/id acronyms upper-cased, enum-name prefixes stripped from values).
C names reproduce protoc-c 1.4's rules exactly, because the Swift bridge refers to its symbols.
"""

_ACRONYMS = {"url", "http", "https", "id"}

# Swift keywords and names that would clash with members every generated type has.
SWIFT_KEYWORDS = {
    "associatedtype", "class", "deinit", "enum", "extension", "fileprivate", "func", "import",
    "init", "inout", "internal", "let", "open", "operator", "private", "precedencegroup",
    "protocol", "public", "rethrows", "static", "struct", "subscript", "typealias", "var",
    "break", "case", "catch", "continue", "default", "defer", "do", "else", "fallthrough", "for",
    "guard", "if", "in", "repeat", "return", "throw", "switch", "where", "while", "as", "false",
    "is", "nil", "super", "throws", "true", "try", "any", "some", "await", "async", "consume",
    "copy", "discard", "each", "borrowing", "consuming",
}
# Names that cannot be used as members even with backticks, or would shadow protocol members.
_RESERVED_MEMBERS = {"self", "Self", "Type", "Protocol", "init", "hashValue", "description",
                     "debugDescription", "protoMessageName", "protoEnumName", "protoName",
                     "rawValue", "allCases", "withPacked", "serializedBytes"}


def _char_class(ch):
    if "0" <= ch <= "9":
        return "digit"
    if "a" <= ch <= "z":
        return "lower"
    if "A" <= ch <= "Z":
        return "upper"
    if ch == "_":
        return "underscore"
    return "other"


def camel_case(name, initial_upper):
    """Splits on underscores, case changes and digit runs; capitalises words; acronyms upper."""
    result = []
    current = []
    last = None

    def flush():
        if not current:
            return
        word = "".join(current)
        if not result and not initial_upper:
            pass
        elif word in _ACRONYMS:
            word = word.upper()
        else:
            word = word[0].upper() + word[1:]
        result.append(word)
        current.clear()

    for ch in name:
        cls = _char_class(ch)
        if cls == "digit":
            if last != "digit":
                flush()
            if not result and not current:
                result.append("_")
            current.append(ch)
        elif cls == "upper":
            if last != "upper":
                flush()
            current.append(ch.lower())
        elif cls == "lower":
            if last not in ("lower", "upper"):
                flush()
            current.append(ch)
        elif cls == "underscore":
            flush()
            if last == "underscore":
                result.append("_")
        else:
            flush()
            result.append("_")
        last = cls
    flush()
    if last == "underscore":
        result.append("_")
    return "".join(result)


def lower_camel(name):
    return camel_case(name, False)


def upper_camel(name):
    return camel_case(name, True)


def member_name(name):
    """A Swift member name for a proto field/oneof: lowerCamelCase, escaped when needed."""
    swift = lower_camel(name)
    if swift in _RESERVED_MEMBERS:
        return swift + "_p"
    return swift


def escape(identifier):
    """Backticks for Swift keywords used as member names (declaration and access)."""
    return "`%s`" % identifier if identifier in SWIFT_KEYWORDS else identifier


def type_prefix(package):
    if not package:
        return ""
    return "_".join(upper_camel(p) for p in package.split(".")) + "_"


def strip_enum_prefix(enum_name, value_name):
    """swift-protobuf's rule: drop the enum's name (case and underscores ignored) from the value."""
    prefix = enum_name.lower().replace("_", "")
    lowered = value_name.lower()
    i = 0
    j = 0
    while i < len(prefix):
        if j >= len(lowered):
            return None
        if lowered[j] == "_":
            j += 1
            continue
        if lowered[j] != prefix[i]:
            return None
        i += 1
        j += 1
    while j < len(lowered) and lowered[j] == "_":
        j += 1
    if j >= len(lowered) or lowered[j].isdigit():
        return None
    return value_name[j:]


def enum_case_name(enum_name, value_name):
    stripped = strip_enum_prefix(enum_name, value_name) or value_name
    swift = lower_camel(stripped.lower() if stripped.isupper() else stripped)
    if swift in _RESERVED_MEMBERS:
        swift += "_"
    return swift


# ---- protoc-c 1.4 naming (c_helpers.cc) ------------------------------------------------------

_C_KEYWORDS = {
    "and", "and_eq", "asm", "auto", "bitand", "bitor", "bool", "break", "case", "catch", "char",
    "class", "compl", "const", "const_cast", "continue", "default", "delete", "do", "double",
    "dynamic_cast", "else", "enum", "explicit", "extern", "false", "float", "for", "friend",
    "goto", "if", "inline", "int", "long", "mutable", "namespace", "new", "not", "not_eq",
    "operator", "or", "or_eq", "private", "protected", "public", "register", "reinterpret_cast",
    "return", "short", "signed", "sizeof", "static", "static_cast", "struct", "switch",
    "template", "this", "throw", "true", "try", "typedef", "typeid", "typename", "union",
    "unsigned", "using", "virtual", "void", "volatile", "wchar_t", "while", "xor", "xor_eq",
}


def _c_camel_to_lower(name):
    out = []
    was_upper = True
    for ch in name:
        is_upper = ch.isascii() and ch.isupper()
        if is_upper:
            if not was_upper:
                out.append("_")
            out.append(ch.lower())
        else:
            out.append(ch)
        was_upper = is_upper
    return "".join(out)


def _c_to_camel(name):
    out = []
    next_upper = True
    for ch in name:
        if ch == "_":
            next_upper = True
        elif next_upper:
            out.append(ch.upper())
            next_upper = False
        else:
            out.append(ch)
    return "".join(out)


def c_type_name(full_name):
    """`loacl.v1.Thread` -> `Loacl__V1__Thread` (FullNameToC)."""
    return "__".join(_c_to_camel(p) for p in full_name.split(".") if p)


def c_lower_name(full_name):
    """`loacl.v1.Thread` -> `loacl__v1__thread` (FullNameToLower)."""
    return "__".join(_c_camel_to_lower(p) for p in full_name.split(".") if p)


def c_field_name(name):
    lowered = name.lower()
    return lowered + "_" if lowered in _C_KEYWORDS else lowered


def c_oneof_case_member(oneof_name):
    return _c_camel_to_lower(oneof_name) + "_case"
