"""The four call kinds and metadata against a live loacld (BenchmarkService, HealthService)."""
from __future__ import annotations

import asyncio

import pytest

from loacl_client import AsyncChannel, Channel, Method, MethodKind, RpcError, StatusCode, v1
from loacl_client.services import (BenchmarkService, BenchmarkServiceAsyncStub, BenchmarkServiceStub,
                                   HealthServiceAsyncStub, HealthServiceStub)

# BenchmarkService/StreamingCall echoes each request: seen as server- or client-streaming, it
# exercises those client code paths with one request (the real ones, MessageService/SendMessage
# and FileService/UploadFile, are covered by test_conversation.py once the server has them).
ECHO_SERVER_STREAMING = Method("/loacl.v1.BenchmarkService/StreamingCall", MethodKind.SERVER_STREAMING,
                               v1.BenchmarkRequest, v1.BenchmarkResponse)
ECHO_CLIENT_STREAMING = Method("/loacl.v1.BenchmarkService/StreamingCall", MethodKind.CLIENT_STREAMING,
                               v1.BenchmarkRequest, v1.BenchmarkResponse)


def test_unary_blocking(server):
    with Channel(server.tcp) as ch:
        stub = BenchmarkServiceStub(ch)
        assert stub.UnaryCall(v1.BenchmarkRequest(payload=b"hi"), timeout=10).payload == b"hi"
        assert stub.UnaryCall(v1.BenchmarkRequest()).payload == b""  # empty request and response
        assert len(stub.UnaryCall(v1.BenchmarkRequest(response_size=1000)).payload) == 1000
        health = HealthServiceStub(ch).Check(v1.HealthCheckRequest())
        assert health.status == v1.SERVING_STATUS_SERVING
        assert health.version


def test_unary_with_call_and_future(server):
    with Channel(server.tcp) as ch:
        stub = BenchmarkServiceStub(ch)
        response, call = stub.UnaryCall.with_call(v1.BenchmarkRequest(payload=b"x"))
        assert response.payload == b"x"
        assert call.code() == StatusCode.OK
        assert call.details() == ""
        futures = [stub.UnaryCall.future(v1.BenchmarkRequest(payload=bytes([i]))) for i in range(20)]
        assert [f.result(30).payload for f in futures] == [bytes([i]) for i in range(20)]


def test_unary_async(server):
    async def main():
        async with AsyncChannel(server.tcp) as ch:
            stub = BenchmarkServiceAsyncStub(ch)
            assert (await stub.UnaryCall(v1.BenchmarkRequest(payload=b"async"), timeout=10)).payload == b"async"
            health = await HealthServiceAsyncStub(ch).Check(v1.HealthCheckRequest())
            assert health.status == v1.SERVING_STATUS_SERVING
            rtt = await ch.ping()
            assert rtt >= 0
    asyncio.run(main())


def test_bidi_iterable_and_interactive(server):
    with Channel(server.tcp) as ch:
        stub = BenchmarkServiceStub(ch)
        requests = [v1.BenchmarkRequest(payload=f"m{i}".encode()) for i in range(50)]
        assert [r.payload for r in stub.StreamingCall(iter(requests))] == [r.payload for r in requests]
        # Ping-pong: each write gets its echo before the next write.
        with stub.StreamingCall(timeout=30) as call:
            for i in range(10):
                call.write(v1.BenchmarkRequest(payload=bytes([i])))
                assert call.read().payload == bytes([i])
            call.done_writing()
            assert call.read() is None
            assert call.code() == StatusCode.OK
        # Zero requests: END_STREAM on HEADERS (half-close), no responses.
        assert list(stub.StreamingCall(iter([]))) == []


def test_bidi_async(server):
    async def gen():
        for i in range(20):
            yield v1.BenchmarkRequest(payload=bytes([i]))
            await asyncio.sleep(0)

    async def main():
        async with AsyncChannel(server.tcp) as ch:
            stub = BenchmarkServiceAsyncStub(ch)
            got = [r.payload async for r in stub.StreamingCall(gen())]
            assert got == [bytes([i]) for i in range(20)]
            call = stub.StreamingCall()
            await call.write(v1.BenchmarkRequest(payload=b"a"))
            assert (await call.read()).payload == b"a"
            await call.done_writing()
            assert await call.read() is None
            assert await call.code() == StatusCode.OK
    asyncio.run(main())


def test_server_streaming_shape(server):
    with Channel(server.tcp) as ch:
        call = ch.method(ECHO_SERVER_STREAMING)(v1.BenchmarkRequest(payload=b"one"), timeout=10)
        assert [r.payload for r in call] == [b"one"]
        assert call.code() == StatusCode.OK


def test_client_streaming_shape(server):
    with Channel(server.tcp) as ch:
        upload = ch.method(ECHO_CLIENT_STREAMING)
        assert upload(iter([v1.BenchmarkRequest(payload=b"only")]), timeout=10).payload == b"only"
        call = upload.open(timeout=10)
        call.write(v1.BenchmarkRequest(payload=b"by hand"))
        call.done_writing()
        assert call.result().payload == b"by hand"

    async def main():
        async with AsyncChannel(server.tcp) as ch:
            upload = ch.method(ECHO_CLIENT_STREAMING)
            assert (await upload([v1.BenchmarkRequest(payload=b"a")])).payload == b"a"
    asyncio.run(main())


def test_metadata_sent_and_validated(server):
    with Channel(server.tcp) as ch:
        stub = BenchmarkServiceStub(ch)
        md = [("x-trace-id", "abc"), ("x-trace-id", "def"), ("blob-bin", b"\x00\xff"), ("a.b_c-d", "ok")]
        assert stub.UnaryCall(v1.BenchmarkRequest(payload=b"m"), metadata=md).payload == b"m"
        assert stub.UnaryCall(v1.BenchmarkRequest(payload=b"m"), metadata={"k": "v"}).payload == b"m"
        with pytest.raises(ValueError):
            stub.UnaryCall(v1.BenchmarkRequest(), metadata=[("Upper", "x")])
        with pytest.raises(ValueError):
            stub.UnaryCall(v1.BenchmarkRequest(), metadata=[("", "x")])
        with pytest.raises(TypeError):
            stub.UnaryCall(v1.BenchmarkRequest(), metadata=[("data-bin", "text")])
        with pytest.raises(TypeError):
            stub.UnaryCall(v1.BenchmarkRequest(), metadata=[("text", b"bytes")])
        # The server caps encoded CallHeaders at 16 KiB: a call error, the connection goes on.
        with pytest.raises(RpcError) as info:
            stub.UnaryCall(v1.BenchmarkRequest(), metadata=[("big", "x" * 20000)])
        assert info.value.code == StatusCode.RESOURCE_EXHAUSTED
        assert stub.UnaryCall(v1.BenchmarkRequest(payload=b"after")).payload == b"after"


def test_stub_methods_follow_descriptors():
    assert BenchmarkService.UnaryCall.kind is MethodKind.UNARY
    assert BenchmarkService.StreamingCall.kind is MethodKind.BIDI_STREAMING
    assert BenchmarkService.UnaryCall.path == "/loacl.v1.BenchmarkService/UnaryCall"
