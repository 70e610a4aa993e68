#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target to FuzzTesting/Corpus/<target>/ (small, valid or
nearly valid inputs that libFuzzer starts from). Run again after changing it; commit the output."""
import base64, gzip, hashlib, hmac, json, os, struct, sys

HERE = os.path.dirname(os.path.abspath(__file__))
corpus = {}

def seed(target, name, data):
    corpus.setdefault(target, {})[name] = data if isinstance(data, bytes) else data.encode()

# protobuf wire format, just what the seeds need
def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])

def field_bytes(number, data):
    data = data if isinstance(data, bytes) else data.encode()
    return varint(number << 3 | 2) + varint(len(data)) + data

def field_varint(number, value):
    return varint(number << 3) + varint(value)

def entry(key, value=None, binary=None):
    body = field_bytes(1, key)
    if value is not None: body += field_bytes(2, value)
    if binary is not None: body += field_bytes(3, binary)
    return body

call_headers = (field_bytes(1, "/loacl.v1.ThreadService/CreateThread") + field_varint(2, 5000)
                + field_bytes(3, entry("authorization", "Bearer sk-test")) + field_bytes(3, entry("trace-bin", binary=b"\x00\x01\xff")))
call_status = field_varint(1, 3) + field_bytes(2, "title must have at most 200 characters") + field_bytes(3, entry("retry-after", "1"))
create_thread = field_bytes(1, "A title") + field_bytes(2, '{"topic":"fuzz"}')

# LOACL wire frames: u32 length, u8 type, u8 flags, u32 stream id, payload
def frame(type_, flags, stream, payload=b""):
    return struct.pack(">IBBI", len(payload), type_, flags, stream) + payload

PREFACE = b"LOACL/1\n"
unary = PREFACE + frame(1, 0, 1, call_headers) + frame(2, 1, 1, create_thread)
seed("FuzzFrameDecoder", "unary-call", b"\x00" + unary)
seed("FuzzFrameDecoder", "unary-call-split", b"\x07" + unary)
seed("FuzzFrameDecoder", "control-frames", b"\x03" + PREFACE + frame(6, 0, 0, b"12345678") + frame(5, 0, 0, struct.pack(">I", 65536))
     + frame(4, 0, 1) + frame(7, 0, 0, field_varint(1, 1) + field_bytes(3, "bye")) + frame(3, 0, 1, call_status))
seed("FuzzFrameDecoder", "bad-preface", b"\x00LOACL/2\n")
seed("FuzzFrameDecoder", "too-large", b"\x00" + PREFACE + struct.pack(">IBBI", 1 << 20, 2, 0, 1))

seed("FuzzCallHeaders", "call-headers", call_headers)
seed("FuzzCallHeaders", "call-status", call_status)
seed("FuzzCallHeaders", "bad-key", field_bytes(1, "/x/y") + field_bytes(3, entry("Bad Key", "v")))

# Request messages: a selector byte (the method, modulo the number of request types) and a message.
for selector in range(0, 64):
    seed("FuzzRequestMessages", f"empty-{selector:02d}", bytes([selector]))
seed("FuzzRequestMessages", "strings", b"\x05" + create_thread)
seed("FuzzRequestMessages", "page", b"\x07" + field_varint(1, 1) + field_varint(2, 20) + field_bytes(3, "dHwxNzAwMDAwMDAwMDAwMDAwfDEyMw"))

# Service calls: a method selector, a caller selector (0 none, 1 tenant, 2 guest, 3 user) and a request.
for selector in range(0, 64):
    seed("FuzzServiceValidation", f"m{selector:02d}-tenant", bytes([selector, 1]) + field_bytes(1, "0b9d7a4e-3f52-4c1a-9e57-2b8c6f1d4a30"))
    seed("FuzzServiceValidation", f"m{selector:02d}-guest", bytes([selector, 2]) + create_thread)

def b64url(data):
    return base64.urlsafe_b64encode(data if isinstance(data, bytes) else data.encode()).rstrip(b"=").decode()

UUID = "0b9d7a4e-3f52-4c1a-9e57-2b8c6f1d4a30"
seed("FuzzPageToken", "time", b64url(f"t|1700000000000000|{UUID}"))
seed("FuzzPageToken", "priority", b64url(f"p|-3|{UUID}"))
seed("FuzzPageToken", "offset", b64url("o|40|"))
seed("FuzzPageToken", "not-base64", "%%%")

seed("FuzzMetadataJSON", "object", '{"a":1,"b":[true,null,"x"],"c":{"d":1.5e3}}')
seed("FuzzMetadataJSON", "nul", '{"a":"\\u0000"}')
seed("FuzzMetadataJSON", "array", "[1,2]")
seed("FuzzMetadataJSON", "unicode", '{"k":"\\ud83d\\ude00 é"}')

seed("FuzzFieldValidation", "uuid", UUID.upper())
seed("FuzzFieldValidation", "text", "A title\twith a tab")
seed("FuzzFieldValidation", "mask", "name,instructions,unknown")
seed("FuzzFieldValidation", "fingerprint", "fp-1234567890abcdef")

SECRET = b"fuzzing-secret-fuzzing-secret-32"
def jwt(header, claims, key=SECRET):
    signing = b64url(json.dumps(header)) + "." + b64url(json.dumps(claims))
    return signing + "." + b64url(hmac.new(key, signing.encode(), hashlib.sha256).digest())
seed("FuzzJWT", "hs256", jwt({"alg": "HS256", "typ": "JWT"}, {"sub": "user-1", "exp": 1900000000, "aud": ["a", "b"], "role": "authenticated"}))
seed("FuzzJWT", "hs256-wrong-key", jwt({"alg": "HS256"}, {"sub": "u", "exp": 1.9e9}, key=b"other"))
seed("FuzzJWT", "es256-kid", b64url('{"alg":"ES256","kid":"k1","typ":"JWT"}') + "." + b64url('{"sub":"u","nbf":1}') + "." + b64url(b"\x01" * 64))
seed("FuzzJWT", "none", b64url('{"alg":"none"}') + "." + b64url('{"sub":"u"}') + ".")

# A real Ed25519 public key and an EC P-256 and RSA 2048 one (RFC 8037 / RFC 7517 examples).
seed("FuzzJWKS", "okp", json.dumps({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}))
seed("FuzzJWKS", "ec", json.dumps({"keys": [{"kty": "EC", "crv": "P-256", "kid": "ec", "use": "sig",
     "x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4", "y": "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}]}))
seed("FuzzJWKS", "rsa", json.dumps({"keys": [{"kty": "RSA", "kid": "rsa", "alg": "RS256", "e": "AQAB",
     "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}]}))
seed("FuzzJWKS", "skipped", json.dumps({"keys": [{"kty": "RSA", "use": "enc"}, {"kty": "EC", "crv": "P-384"}, 3]}))

sse = (b": keep-alive\r\n\r\nevent: message\ndata: first line\ndata: second\n\n"
       b"id: 7\nretry: 100\ndata:no space\r\rdata: \xe2\x82\xac euro\n\n")
seed("FuzzServerSentEvents", "events", b"\x00" + sse)
seed("FuzzServerSentEvents", "events-split", b"\x05" + sse)
seed("FuzzServerSentEvents", "crlf-split", b"\x02data: a\r\n\r\ndata: b\r\n\r\n")

def events(*payloads, name=None):
    out = b""
    for p in payloads:
        if name: out += b"event: " + name(p).encode() + b"\n"
        out += b"data: " + (p if isinstance(p, str) else json.dumps(p)).encode() + b"\n\n"
    return out

responses = events(
    {"type": "response.created", "response": {"id": "resp_1"}},
    {"type": "response.output_text.delta", "delta": "Hello"},
    {"type": "response.output_item.added", "output_index": 1, "item": {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "lookup", "arguments": ""}},
    {"type": "response.function_call_arguments.delta", "item_id": "fc_1", "delta": "{\"q\":"},
    {"type": "response.function_call_arguments.done", "item_id": "fc_1", "arguments": "{\"q\":1}"},
    {"type": "response.output_item.done", "item": {"type": "function_call", "id": "fc_1", "name": "lookup", "arguments": "{\"q\":1}"}},
    {"type": "response.completed", "response": {"usage": {"input_tokens": 5, "output_tokens": 7, "total_tokens": 12}}},
    name=lambda p: p["type"])
seed("FuzzResponsesStream", "text-and-call", b"\x00" + responses)
seed("FuzzResponsesStream", "split", b"\x09" + responses)
seed("FuzzResponsesStream", "incomplete", b"\x00" + events({"type": "response.incomplete", "response": {"incomplete_details": {"reason": "max_output_tokens"}}}))
seed("FuzzResponsesStream", "failed", b"\x00" + events({"type": "response.failed", "response": {"error": {"message": "boom", "code": "server_error"}}},
     {"type": "error", "message": "rate", "code": "rate_limit_exceeded"}))

chat = events(
    {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]},
    {"choices": [{"index": 0, "delta": {"content": "lo", "tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\""}}]}}]},
    {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]}, "finish_reason": "tool_calls"}]},
    {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}},
    "[DONE]")
seed("FuzzChatCompletionsStream", "text-and-call", b"\x00" + chat)
seed("FuzzChatCompletionsStream", "split", b"\x0b" + chat)
seed("FuzzChatCompletionsStream", "error", b"\x00" + events({"error": {"message": "overloaded", "type": "server_error", "code": "503"}}))
seed("FuzzChatCompletionsStream", "no-done", b"\x00" + events({"choices": [{"delta": {"content": "x"}, "finish_reason": "length"}]}))

# Crashes the targets found, kept as seeds so every smoke run replays them.
seed("FuzzChatCompletionsStream", "crash-usage-overflow", b"\x00" + events(
    {"choices": [], "usage": {"prompt_tokens": 9223372036854775807, "completion_tokens": 1}}, "[DONE]"))
seed("FuzzResponsesStream", "crash-usage-overflow", b"\x00" + events(
    {"type": "response.completed", "response": {"usage": {"input_tokens": 9223372036854775807, "output_tokens": 1}}}))

def grpc_message(data, compressed=False):
    return struct.pack(">BI", 1 if compressed else 0, len(data)) + data
body = grpc_message(create_thread) + grpc_message(gzip.compress(create_thread, mtime=0), compressed=True) + grpc_message(b"")
seed("FuzzGRPCMessageReader", "messages", b"\x00" + body)
seed("FuzzGRPCMessageReader", "messages-split", b"\x04" + body)
seed("FuzzGRPCMessageReader", "bad-flag", b"\x00\x02\x00\x00\x00\x01x")
seed("FuzzGRPCMessageReader", "too-large", b"\x00\x00\x00\x10\x00\x00")

head = ":method: POST\n:path: /loacl.v1.ThreadService/CreateThread\n:scheme: http\ncontent-type: application/grpc+proto\nte: trailers\n"
seed("FuzzGRPCRequestHead", "call", head + "grpc-timeout: 250m\ngrpc-encoding: gzip\ngrpc-accept-encoding: identity,gzip\nauthorization: Bearer x\ntrace-bin: AAEC/w\n")
seed("FuzzGRPCRequestHead", "hours", head + "grpc-timeout: 99999999H\n")
seed("FuzzGRPCRequestHead", "bad", ":method: GET\ncontent-type: text/plain\nx-Bad Key: %FF é\n")

# ClientHellos as Python's OpenSSL sends them (TLS 1.3 and 1.2 only, with LOACL's ALPN); their
# random and key share differ on every run of this script.
import ssl
for name, version in (("tls13", ssl.TLSVersion.TLSv1_3), ("tls12", ssl.TLSVersion.TLSv1_2)):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = context.maximum_version = version
    context.set_alpn_protocols(["loacl/1"])
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    connection = context.wrap_bio(incoming, outgoing, server_side=False, server_hostname="localhost")
    try:
        connection.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = outgoing.read()
    seed("FuzzTLSHandshake", f"client-hello-{name}", b"\x00" + hello)
    seed("FuzzTLSHandshake", f"client-hello-{name}-split", b"\x05" + hello)
seed("FuzzTLSHandshake", "not-tls", b"\x00LOACL/1\n")

root = os.path.join(HERE, "Corpus")
for target, files in corpus.items():
    folder = os.path.join(root, target)
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        os.remove(os.path.join(folder, name))
    for name, data in files.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)
print(f"wrote {sum(len(f) for f in corpus.values())} seeds for {len(corpus)} targets", file=sys.stderr)
