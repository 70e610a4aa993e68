"""Deadlines, cancellation, GOAWAY, PING and protocol errors (live loacld and a scripted fake)."""
from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time

import pytest

from fakeserver import (ACK, CANCEL, END_STREAM, GOAWAY, HEADER, HEADERS, MESSAGE, PING, PREFACE, TRAILERS,
                        FakeServer)
from loacl_client import AsyncChannel, Channel, Method, MethodKind, RpcError, StatusCode, v1
from loacl_client.gen.loacl.wire.v1 import wire_pb2
from loacl_client.services import BenchmarkService, BenchmarkServiceAsyncStub, BenchmarkServiceStub


def ok_trailers(sid: int) -> bytes:
    return HEADER.pack(0, TRAILERS, 0, sid)


# -- deadlines ------------------------------------------------------------------------------------
def test_deadline_exceeded_live(server):
    with Channel(server.tcp) as ch:
        stub = BenchmarkServiceStub(ch)
        call = stub.StreamingCall(timeout=0.3)  # never writes: the server waits until the deadline
        start = time.monotonic()
        with pytest.raises(RpcError) as info:
            call.read()
        assert info.value.code == StatusCode.DEADLINE_EXCEEDED
        assert time.monotonic() - start < 10
        assert stub.UnaryCall(v1.BenchmarkRequest(payload=b"ok"), timeout=10).payload == b"ok"


def test_zero_timeout_fails_without_sending(server):
    with Channel(server.tcp) as ch:
        with pytest.raises(RpcError) as info:
            BenchmarkServiceStub(ch).UnaryCall(v1.BenchmarkRequest(), timeout=0)
        assert info.value.code == StatusCode.DEADLINE_EXCEEDED


def test_deadline_sent_and_enforced_locally():
    seen = {}

    def script(peer):
        t, flags, sid, payload = peer.read_frame()
        assert t == HEADERS
        headers = wire_pb2.CallHeaders.FromString(payload)
        seen["method"], seen["timeout_ms"] = headers.method, headers.timeout_ms
        assert peer.read_frame()[0] == MESSAGE
        # Say nothing: the client must give up on its own and CANCEL.
        t, _, cancel_sid, payload = peer.read_frame_of(CANCEL, timeout=10)
        seen["cancel"] = (t, cancel_sid, payload)

    fake = FakeServer(script)
    with Channel(fake.target) as ch:
        with pytest.raises(RpcError) as info:
            BenchmarkServiceStub(ch).UnaryCall(v1.BenchmarkRequest(payload=b"x"), timeout=0.5)
        assert info.value.code == StatusCode.DEADLINE_EXCEEDED
        fake.join()
    assert seen["method"] == "/loacl.v1.BenchmarkService/UnaryCall"
    assert 400 <= seen["timeout_ms"] <= 500
    assert seen["cancel"] == (CANCEL, 1, b"")


# -- cancellation ---------------------------------------------------------------------------------
def test_cancel_live_connection_continues(server):
    with Channel(server.tcp) as ch:
        stub = BenchmarkServiceStub(ch)
        call = stub.StreamingCall(timeout=30)
        call.write(v1.BenchmarkRequest(payload=b"1"))
        assert call.read().payload == b"1"
        call.cancel()
        with pytest.raises(RpcError) as info:
            call.read()
        assert info.value.code == StatusCode.CANCELLED
        assert stub.UnaryCall(v1.BenchmarkRequest(payload=b"after"), timeout=10).payload == b"after"


def test_asyncio_task_cancellation_sends_cancel():
    got = {}

    def script(peer):
        assert peer.read_frame()[0] == HEADERS
        assert peer.read_frame()[0] == MESSAGE
        got["frame"] = peer.read_frame_of(CANCEL, timeout=10)

    fake = FakeServer(script)

    async def main():
        async with AsyncChannel(fake.target) as ch:
            task = asyncio.ensure_future(BenchmarkServiceAsyncStub(ch).UnaryCall(v1.BenchmarkRequest(payload=b"x")))
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.get_running_loop().run_in_executor(None, fake.join)
    asyncio.run(main())
    assert got["frame"][:3] == (CANCEL, 0, 1)


# -- metadata and status from the server ------------------------------------------------------------
def test_response_metadata_and_error_status():
    def script(peer):
        t, flags, sid, payload = peer.read_frame()
        md = {(e.key, e.value, e.binary_value) for e in wire_pb2.CallHeaders.FromString(payload).metadata}
        assert ("x-text", "hello", b"") in md and ("x-raw-bin", "", b"\x01\x02") in md, md
        peer.read_frame()
        headers = wire_pb2.CallHeaders(metadata=[wire_pb2.MetadataEntry(key="x-served-by", value="fake")])
        peer.send_frame(HEADERS, 0, sid, headers.SerializeToString())
        status = wire_pb2.CallStatus(code=5, message="no such thing", metadata=[
            wire_pb2.MetadataEntry(key="x-why-bin", binary_value=b"\xff")])
        peer.send_frame(TRAILERS, 0, sid, status.SerializeToString())
        # Second call succeeds, with trailing metadata.
        t, flags, sid, payload = peer.read_frame()
        peer.read_frame()
        peer.send_frame(MESSAGE, 0, sid, v1.BenchmarkResponse(payload=b"yes").SerializeToString())
        peer.send_frame(TRAILERS, 0, sid, wire_pb2.CallStatus(metadata=[wire_pb2.MetadataEntry(key="x-cost", value="3")]).SerializeToString())
        peer.closed_by_client()

    fake = FakeServer(script)
    with Channel(fake.target) as ch:
        stub = BenchmarkServiceStub(ch)
        with pytest.raises(RpcError) as info:
            stub.UnaryCall(v1.BenchmarkRequest(), metadata=[("x-text", "hello"), ("x-raw-bin", b"\x01\x02")])
        err = info.value
        assert err.code == StatusCode.NOT_FOUND and err.code == 5 and err.code.name == "NOT_FOUND"
        assert err.message == "no such thing"
        assert err.metadata.get("x-why-bin") == b"\xff"
        assert err.initial_metadata.get("x-served-by") == "fake"
        response, call = stub.UnaryCall.with_call(v1.BenchmarkRequest())
        assert response.payload == b"yes"
        assert call.trailing_metadata().get_all("x-cost") == ["3"]
    fake.join()


# -- PING and GOAWAY ---------------------------------------------------------------------------------
def test_ping_is_answered_and_goaway_drains():
    def script(peer):
        peer.send_frame(PING, 0, 0, b"12345678")
        assert peer.read_frame_of(PING) == (PING, ACK, 0, b"12345678")
        pinged.set()
        t, _, sid1, _ = peer.read_frame_of(HEADERS)
        assert sid1 == 1 and peer.read_frame()[0] == MESSAGE
        t, _, sid2, _ = peer.read_frame_of(HEADERS)
        assert sid2 == 2 and peer.read_frame()[0] == MESSAGE
        # Graceful GOAWAY: call 1 runs to completion, call 2 was never started.
        peer.send_frame(GOAWAY, 0, 0, wire_pb2.GoAway(last_stream_id=1, code=0, reason="shutting down").SerializeToString())
        time.sleep(0.1)
        peer.send_frame(MESSAGE, 0, 1, v1.BenchmarkResponse(payload=b"one").SerializeToString())
        peer.send(ok_trailers(1))
        assert peer.closed_by_client()  # no calls left: the client closes

    # The first call starts only after the PING was answered, so the ACK cannot come after its
    # HEADERS (the script reads frames in a fixed order).
    pinged = threading.Event()
    fake = FakeServer(script)
    with Channel(fake.target) as ch:
        stub = BenchmarkServiceStub(ch)
        ch.connect()
        assert pinged.wait(10)
        first = stub.UnaryCall.future(v1.BenchmarkRequest(payload=b"1"))
        time.sleep(0.1)
        second = stub.UnaryCall.future(v1.BenchmarkRequest(payload=b"2"))
        assert first.result(10).payload == b"one"
        with pytest.raises(RpcError) as info:
            second.result(10)
        assert info.value.code == StatusCode.UNAVAILABLE
        assert "shutting down" in info.value.message
        fake.join()


def test_new_calls_after_goaway_use_a_new_connection(server):
    async def main():
        async with AsyncChannel(server.tcp) as ch:
            stub = BenchmarkServiceAsyncStub(ch)
            await stub.UnaryCall(v1.BenchmarkRequest())
            first = await ch.connection()
            first._on_goaway(wire_pb2.GoAway(last_stream_id=1, code=0, reason="test"))  # as if the server said it
            assert not first.usable
            assert (await stub.UnaryCall(v1.BenchmarkRequest(payload=b"new"))).payload == b"new"
            assert (await ch.connection()) is not first
    asyncio.run(main())


def test_error_goaway_fails_calls_in_progress():
    def script(peer):
        peer.read_frame_of(HEADERS)
        peer.send_frame(GOAWAY, 0, 0, wire_pb2.GoAway(last_stream_id=1, code=13, reason="bug").SerializeToString())

    fake = FakeServer(script)
    with Channel(fake.target) as ch:
        call = BenchmarkServiceStub(ch).StreamingCall(timeout=10)
        with pytest.raises(RpcError) as info:
            call.read()
        assert info.value.code == StatusCode.UNAVAILABLE
        assert "INTERNAL" in info.value.message and "bug" in info.value.message
    fake.join()


def test_wrong_server_preface_closes():
    def script(peer):
        peer.send(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        assert peer.closed_by_client()

    fake = FakeServer(script, send_preface=False)
    with Channel(fake.target) as ch:
        with pytest.raises(RpcError) as info:
            BenchmarkServiceStub(ch).UnaryCall(v1.BenchmarkRequest(), timeout=10)
        assert info.value.code == StatusCode.UNAVAILABLE
        assert "preface" in info.value.message
    fake.join()


def test_connection_refused_is_unavailable():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with Channel(f"tcp:127.0.0.1:{port}") as ch:
        with pytest.raises(RpcError) as info:
            BenchmarkServiceStub(ch).UnaryCall(v1.BenchmarkRequest())
        assert info.value.code == StatusCode.UNAVAILABLE


# -- protocol errors against the real server --------------------------------------------------------
def raw_connect(target: str) -> socket.socket:
    host, port = target.split(":")[1:]
    sock = socket.create_connection((host, int(port)), timeout=5)
    return sock


def read_all(sock: socket.socket) -> bytes:
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk
    except (socket.timeout, ConnectionResetError):
        return data


def test_wrong_preface_gets_goaway_and_close(server):
    sock = raw_connect(server.tcp)
    sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
    data = read_all(sock)
    sock.close()
    assert not data.startswith(PREFACE)  # the server does not send its preface then
    length, t, flags, sid = HEADER.unpack_from(data)
    assert (t, sid) == (GOAWAY, 0)
    goaway = wire_pb2.GoAway.FromString(data[HEADER.size:HEADER.size + length])
    assert goaway.code == StatusCode.INVALID_ARGUMENT
    assert "preface" in goaway.reason


def test_unknown_frame_type_is_a_connection_error(server):
    sock = raw_connect(server.tcp)
    sock.sendall(PREFACE + HEADER.pack(0, 0x42, 0, 0))
    data = read_all(sock)
    sock.close()
    assert data.startswith(PREFACE)
    length, t, _, _ = HEADER.unpack_from(data, 8)
    assert t == GOAWAY
    assert wire_pb2.GoAway.FromString(data[18:18 + length]).code == StatusCode.INVALID_ARGUMENT


def test_unknown_method_is_unimplemented(server):
    ghost = Method("/loacl.v1.GhostService/Haunt", MethodKind.UNARY, v1.BenchmarkRequest, v1.BenchmarkResponse)
    with Channel(server.tcp) as ch:
        with pytest.raises(RpcError) as info:
            ch.method(ghost)(v1.BenchmarkRequest())
        assert info.value.code == StatusCode.UNIMPLEMENTED
        assert BenchmarkServiceStub(ch).UnaryCall(v1.BenchmarkRequest(payload=b"still")).payload == b"still"


class _Garbage:
    """A 'message' whose encoding is not valid protobuf (a truncated length-delimited field)."""

    def SerializeToString(self) -> bytes:  # noqa: N802 - protobuf's name
        return b"\x0a\xff\xff\xff\x0f\x01"


def test_garbage_payload_is_invalid_argument_and_connection_continues(server):
    garbage = Method(BenchmarkService.UnaryCall.path, MethodKind.UNARY, _Garbage, v1.BenchmarkResponse)
    with Channel(server.tcp) as ch:
        with pytest.raises(RpcError) as info:
            ch.method(garbage)(_Garbage(), timeout=10)
        assert info.value.code == StatusCode.INVALID_ARGUMENT
        first = ch.aio._conn
        assert BenchmarkServiceStub(ch).UnaryCall(v1.BenchmarkRequest(payload=b"fine")).payload == b"fine"
        assert ch.aio._conn is first  # same connection


def test_unary_without_end_stream_is_invalid_argument(server):
    # Seen as bidi, the unary method gets a MESSAGE without END_STREAM: a call error.
    as_bidi = Method(BenchmarkService.UnaryCall.path, MethodKind.BIDI_STREAMING, v1.BenchmarkRequest, v1.BenchmarkResponse)
    with Channel(server.tcp) as ch:
        call = ch.method(as_bidi)(timeout=10)
        call.write(v1.BenchmarkRequest(payload=b"x"))
        with pytest.raises(RpcError) as info:
            call.read()
        assert info.value.code == StatusCode.INVALID_ARGUMENT
