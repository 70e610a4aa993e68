"""Flow control in both directions and many concurrent calls on one connection."""
from __future__ import annotations

import asyncio
import os

import pytest

from loacl_client import AsyncChannel, Channel, v1
from loacl_client.services import BenchmarkServiceAsyncStub, BenchmarkServiceStub

MIB = 1 << 20


def test_messages_larger_than_the_window(server):
    with Channel(server.tcp) as ch:
        stub = BenchmarkServiceStub(ch)
        big = os.urandom(3 * MIB)
        assert stub.UnaryCall(v1.BenchmarkRequest(payload=big), timeout=60).payload == big
        # A small response first leaves the window short of full; a large response must still
        # pass (a sender may go while its window is positive, §4).
        assert stub.UnaryCall(v1.BenchmarkRequest(payload=b"s")).payload == b"s"
        assert len(stub.UnaryCall(v1.BenchmarkRequest(response_size=3 * MIB), timeout=60).payload) == 3 * MIB


def test_large_request_after_small_one(server):
    with Channel(server.tcp) as ch:
        stub = BenchmarkServiceStub(ch)
        assert stub.UnaryCall(v1.BenchmarkRequest(payload=b"s")).payload == b"s"
        big = os.urandom(2 * MIB)
        assert stub.UnaryCall(v1.BenchmarkRequest(payload=big), timeout=5).payload == big


def test_bidi_streams_many_windows_each_way(server):
    # 48 x 256 KiB = 12 MiB through 1 MiB windows: only works if credit flows both ways.
    chunks = [os.urandom(256 * 1024) for _ in range(48)]
    with Channel(server.tcp) as ch:
        got = [r.payload for r in BenchmarkServiceStub(ch).StreamingCall(v1.BenchmarkRequest(payload=c) for c in chunks)]
        assert got == chunks


def test_slow_reader_does_not_block_other_calls(server):
    async def main():
        async with AsyncChannel(server.tcp) as ch:
            stub = BenchmarkServiceAsyncStub(ch)
            slow = stub.StreamingCall()
            # Fill the slow stream's receive window: the server must stop sending on it...
            for _ in range(6):
                await slow.write(v1.BenchmarkRequest(response_size=256 * 1024))
            await asyncio.sleep(0.2)
            state = await slow.state()
            assert sum(len(p) for p in state.inbox) <= MIB + 256 * 1024
            # ...while other calls on the same connection still go through.
            for i in range(20):
                assert (await stub.UnaryCall(v1.BenchmarkRequest(payload=bytes([i])), timeout=10)).payload == bytes([i])
            # Reading returns credit, and the rest arrives.
            await slow.done_writing()
            sizes = [len(r.payload) async for r in slow]
            assert sizes == [256 * 1024] * 6
    asyncio.run(main())


def test_thousand_concurrent_calls_one_connection_async(server):
    async def main():
        async with AsyncChannel(server.tcp) as ch:
            stub = BenchmarkServiceAsyncStub(ch)
            payloads = [i.to_bytes(4, "big") * 8 for i in range(1000)]
            results = await asyncio.gather(*(stub.UnaryCall(v1.BenchmarkRequest(payload=p), timeout=120) for p in payloads))
            assert [r.payload for r in results] == payloads
            conn = await ch.connection()
            assert conn._next_stream_id - 1 == 1000  # one connection carried them all
    asyncio.run(main())


def test_thousand_concurrent_calls_all_in_flight(wide_server):
    # Server and client both allow 1,024 calls: all 1,000 are open at once on one connection.
    async def main():
        async with AsyncChannel(wide_server.tcp, max_concurrent_calls=1000) as ch:
            stub = BenchmarkServiceAsyncStub(ch)
            calls = [stub.StreamingCall(timeout=120) for _ in range(1000)]
            for i, call in enumerate(calls):
                await call.write(v1.BenchmarkRequest(payload=i.to_bytes(2, "big")))
            conn = await ch.connection()
            assert conn.active_calls == 1000
            for i, call in enumerate(calls):
                assert (await call.read()).payload == i.to_bytes(2, "big")
                await call.done_writing()
                assert await call.read() is None
            assert conn.active_calls == 0
    asyncio.run(main())


def test_thousand_concurrent_calls_blocking_futures(server):
    with Channel(server.tcp) as ch:
        stub = BenchmarkServiceStub(ch)
        futures = [stub.UnaryCall.future(v1.BenchmarkRequest(payload=str(i).encode()), timeout=120) for i in range(1000)]
        assert [f.result(180).payload for f in futures] == [str(i).encode() for i in range(1000)]
