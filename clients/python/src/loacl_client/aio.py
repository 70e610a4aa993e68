"""The asyncio API: :class:`AsyncChannel`, :class:`AsyncCall` and the per-kind method callables.

    async with AsyncChannel("tcp:127.0.0.1:7700") as channel:
        bench = BenchmarkServiceAsyncStub(channel)
        reply = await bench.UnaryCall(BenchmarkRequest(payload=b"hi"), timeout=5)
"""
from __future__ import annotations

import asyncio
import ssl
from typing import (Any, AsyncIterable, AsyncIterator, Awaitable, Callable, Generic, Iterable,
                    Optional, Tuple, TypeVar, Union)

from . import _wire as w
from ._connection import CallState, Connection, _Unusable
from ._endpoint import Endpoint, TLSConfig
from ._method import Method, MethodKind
from .metadata import Metadata, MetadataLike
from .status import RpcError, StatusCode

Req = TypeVar("Req")
Resp = TypeVar("Resp")
RequestSource = Union[Iterable[Req], AsyncIterable[Req]]


class AsyncChannel:
    """Calls to one LOACL server over one connection at a time (opened on first use).

    All calls share the connection, multiplexed. After a GOAWAY or a lost connection, the next
    call opens a new connection; calls in progress finish on the old one.
    `max_concurrent_calls` (default 256, the server's default limit) queues calls beyond it.
    """

    def __init__(
        self,
        target: str,
        *,
        tls: Union[TLSConfig, ssl.SSLContext, None] = None,
        max_concurrent_calls: int = 256,
        connect_timeout: float = 10.0,
        max_frame_size: int = w.DEFAULT_MAX_FRAME,
    ) -> None:
        self.endpoint = Endpoint.parse(target, tls)
        self._max_concurrent_calls = max_concurrent_calls
        self._connect_timeout = connect_timeout
        self._max_frame_size = max_frame_size
        self._conn: Optional[Connection] = None
        self._lock: Optional[asyncio.Lock] = None
        self._closed = False

    async def connection(self) -> Connection:
        """The current usable connection, connecting when there is none."""
        if self._closed:
            raise RpcError(StatusCode.UNAVAILABLE, "channel closed")
        conn = self._conn
        if conn is not None and conn.usable:
            return conn
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._conn is not None and self._conn.usable:
                return self._conn
            self._conn = await Connection.connect(
                self.endpoint, self._connect_timeout,
                max_concurrent_calls=self._max_concurrent_calls, max_frame_size=self._max_frame_size)
            return self._conn

    async def start_call(
        self,
        method: Method[Req, Resp],
        *,
        timeout: Optional[float] = None,
        metadata: Optional[MetadataLike] = None,
        end_stream: bool = False,
    ) -> CallState:
        """Opens a call (sends HEADERS) and returns its low-level state."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout if timeout is not None else None
        if deadline is not None and timeout is not None and timeout <= 0:
            raise RpcError(StatusCode.DEADLINE_EXCEEDED, "deadline exceeded before the call started (client)")
        for _ in range(3):
            conn = await self.connection()
            try:
                return await conn.open_call(method.path, method.response_type, deadline, metadata, end_stream)
            except _Unusable:
                if not conn._preface_ok and conn.closed:
                    # The server never spoke LOACL/1: retrying elsewhere would hide why (§1).
                    raise RpcError(StatusCode.UNAVAILABLE, conn._close_reason or "no preface from server") from None
                continue
        raise RpcError(StatusCode.UNAVAILABLE, "no usable connection (server keeps refusing new calls)")

    def call(self, method: Method[Req, Resp], *, timeout: Optional[float] = None,
             metadata: Optional[MetadataLike] = None) -> "AsyncCall[Req, Resp]":
        """A generic streaming handle for any method: write(), done_writing(), read(), async for."""
        return AsyncCall(self.start_call(method, timeout=timeout, metadata=metadata))

    def method(self, method: Method[Req, Resp]) -> Any:
        """The callable for `method`, chosen by its kind (what the generated stubs use)."""
        return _CALLABLES[method.kind](self, method)

    async def ping(self, timeout: Optional[float] = 10.0) -> float:
        """Round-trip time of one PING, in seconds."""
        return await (await self.connection()).ping(timeout)

    async def close(self) -> None:
        """Cancels calls in progress and closes the connection."""
        self._closed = True
        if self._conn is not None:
            self._conn.close()
            await self._conn.wait_closed()

    async def __aenter__(self) -> "AsyncChannel":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class AsyncCall(Generic[Req, Resp]):
    """One call in progress. Async-iterable over the responses.

    Streaming writers use :meth:`write` and :meth:`done_writing`; readers :meth:`read` or
    `async for`. A failed call raises :class:`RpcError` from the read that meets the end.
    Use `async with` to cancel a call that is abandoned early.
    """

    def __init__(self, start: Awaitable[CallState]) -> None:
        self._start: asyncio.Future[CallState] = asyncio.ensure_future(start)
        self._pump: Optional[asyncio.Task[None]] = None

    async def state(self) -> CallState:
        return await self._start

    async def write(self, message: Req) -> None:
        """Sends one request message (waits for flow-control credit)."""
        await (await self._start).send(message)

    async def done_writing(self) -> None:
        """Half-closes: no more requests."""
        await (await self._start).half_close()

    async def read(self) -> Optional[Resp]:
        """The next response, or None once the call ended with OK."""
        try:
            state = await self._start
            return await state.read()
        except asyncio.CancelledError:
            self.cancel()
            raise

    def __aiter__(self) -> AsyncIterator[Resp]:
        return self

    async def __anext__(self) -> Resp:
        message = await self.read()
        if message is None:
            raise StopAsyncIteration
        return message

    async def result(self) -> Resp:
        """For unary and client-streaming calls: the single response, after the call ended."""
        try:
            message = await self.read()
            if message is None:
                raise RpcError(StatusCode.INTERNAL, "the server ended the call with OK but sent no response message")
            extra = await self.read()
            if extra is not None:
                self.cancel()
                raise RpcError(StatusCode.INTERNAL, "the server sent more than one response message")
            return message
        except asyncio.CancelledError:
            self.cancel()
            raise

    def cancel(self, message: str = "cancelled by the client") -> None:
        """Abandons the call: sends CANCEL; later reads raise RpcError(CANCELLED)."""
        if self._pump is not None:
            self._pump.cancel()
        if self._start.done():
            if not self._start.cancelled() and self._start.exception() is None:
                self._start.result().cancel(message)
        else:
            self._start.add_done_callback(lambda f: f.cancelled() or f.exception() or f.result().cancel(message))

    def done(self) -> bool:
        return self._start.done() and (self._start.cancelled() or self._start.exception() is not None or self._start.result().finished)

    async def initial_metadata(self) -> Metadata:
        """Response headers' metadata (empty when the server sent none)."""
        state = await self._start
        await state.progress.wait()
        return state.initial_metadata or Metadata()

    async def wait_done(self) -> CallState:
        state = await self._start
        await state.done.wait()
        return state

    async def code(self) -> StatusCode:
        return (await self.wait_done()).code  # type: ignore[return-value]

    async def details(self) -> str:
        return (await self.wait_done()).message

    async def trailing_metadata(self) -> Metadata:
        return (await self.wait_done()).trailing_metadata

    def _send_all(self, requests: RequestSource[Req]) -> None:
        self._pump = asyncio.ensure_future(self._send_each(requests))

    async def _send_each(self, requests: RequestSource[Req]) -> None:
        """Writes every request, END_STREAM on the last (or a half-close when there are none)."""
        try:
            state = await self._start
            if isinstance(requests, AsyncIterable):
                it = requests.__aiter__()
                try:
                    current = await it.__anext__()
                except StopAsyncIteration:
                    await state.half_close()
                    return
                async for following in it:
                    await state.send(current)
                    current = following
            else:
                sync_it = iter(requests)
                try:
                    current = next(sync_it)
                except StopIteration:
                    await state.half_close()
                    return
                for following in sync_it:
                    await state.send(current)
                    current = following
            await state.send(current, end=True)
        except RpcError as exc:
            _end_on_send_error(self, exc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the application's iterator failed: abandon the call
            self.cancel(f"request iterator raised {exc!r}")

    async def __aenter__(self) -> "AsyncCall[Req, Resp]":
        return self

    async def __aexit__(self, *exc: object) -> None:
        if not self._start.done():
            self.cancel()
            return
        if self._start.cancelled() or self._start.exception() is not None:
            return
        state = self._start.result()
        if state.finished:
            state.discard_inbox()
        else:
            state.cancel()


# -- method callables -----------------------------------------------------------------------------
class _AsyncMethod(Generic[Req, Resp]):
    def __init__(self, channel: AsyncChannel, method: Method[Req, Resp]) -> None:
        self._channel = channel
        self.method = method

    def _open(self, timeout: Optional[float], metadata: Optional[MetadataLike], end_stream: bool = False) -> AsyncCall[Req, Resp]:
        return AsyncCall(self._channel.start_call(self.method, timeout=timeout, metadata=metadata, end_stream=end_stream))


class AsyncUnaryUnary(_AsyncMethod[Req, Resp]):
    """`await stub.Method(request, timeout=..., metadata=...)` → response."""

    async def __call__(self, request: Req, *, timeout: Optional[float] = None, metadata: Optional[MetadataLike] = None) -> Resp:
        return (await self.with_call(request, timeout=timeout, metadata=metadata))[0]

    async def with_call(self, request: Req, *, timeout: Optional[float] = None,
                        metadata: Optional[MetadataLike] = None) -> Tuple[Resp, AsyncCall[Req, Resp]]:
        """The response and the finished call (for its metadata)."""
        call = self._open(timeout, metadata)
        try:
            await _send_one(call, request)
            return await call.result(), call
        except asyncio.CancelledError:
            call.cancel()
            raise


class AsyncUnaryStream(_AsyncMethod[Req, Resp]):
    """`async for response in stub.Method(request, ...)`."""

    def __call__(self, request: Req, *, timeout: Optional[float] = None, metadata: Optional[MetadataLike] = None) -> AsyncCall[Req, Resp]:
        call = self._open(timeout, metadata)
        call._pump = asyncio.ensure_future(_send_one(call, request))
        return call


class AsyncStreamUnary(_AsyncMethod[Req, Resp]):
    """`await stub.Method(requests, ...)` → response; or `call = stub.Method.open()` to write by hand."""

    async def __call__(self, requests: RequestSource[Req], *, timeout: Optional[float] = None,
                       metadata: Optional[MetadataLike] = None) -> Resp:
        return (await self.with_call(requests, timeout=timeout, metadata=metadata))[0]

    async def with_call(self, requests: RequestSource[Req], *, timeout: Optional[float] = None,
                        metadata: Optional[MetadataLike] = None) -> Tuple[Resp, AsyncCall[Req, Resp]]:
        call = self._open(timeout, metadata)
        call._send_all(requests)
        try:
            return await call.result(), call
        except asyncio.CancelledError:
            call.cancel()
            raise

    def open(self, *, timeout: Optional[float] = None, metadata: Optional[MetadataLike] = None) -> AsyncCall[Req, Resp]:
        """A call to write() into; finish with done_writing(), then await result()."""
        return self._open(timeout, metadata)


class AsyncStreamStream(_AsyncMethod[Req, Resp]):
    """`stub.Method(requests)` or `stub.Method()` then write()/read()."""

    def __call__(self, requests: Optional[RequestSource[Req]] = None, *, timeout: Optional[float] = None,
                 metadata: Optional[MetadataLike] = None) -> AsyncCall[Req, Resp]:
        call = self._open(timeout, metadata)
        if requests is not None:
            call._send_all(requests)
        return call


async def _send_one(call: AsyncCall[Any, Any], request: Any) -> None:
    try:
        await (await call.state()).send(request, end=True)
    except RpcError as exc:
        _end_on_send_error(call, exc)


def _end_on_send_error(call: AsyncCall[Any, Any], exc: RpcError) -> None:
    """A send failed. If the call already ended, the reader sees that status; otherwise the
    request could not go out (e.g. too large), so the call ends here with the send's error."""
    if call._start.done() and not call._start.cancelled() and call._start.exception() is None:
        state = call._start.result()
        if not state.finished:
            state._end_locally(exc.code, exc.message)


_CALLABLES: "dict[MethodKind, Callable[[AsyncChannel, Method[Any, Any]], Any]]" = {
    MethodKind.UNARY: AsyncUnaryUnary,
    MethodKind.SERVER_STREAMING: AsyncUnaryStream,
    MethodKind.CLIENT_STREAMING: AsyncStreamUnary,
    MethodKind.BIDI_STREAMING: AsyncStreamStream,
}
