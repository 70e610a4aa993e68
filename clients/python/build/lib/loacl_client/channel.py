"""The blocking API: :class:`Channel`, :class:`Call` and the per-kind method callables.

    with Channel("tcp:127.0.0.1:7700") as channel:
        bench = BenchmarkServiceStub(channel)
        reply = bench.UnaryCall(BenchmarkRequest(payload=b"hi"), timeout=5)

A Channel runs the asyncio client (:mod:`loacl_client.aio`) on a private event-loop thread, so
PINGs are answered and flow-control credit returned while the application blocks elsewhere.
Channels and calls may be used from several threads; one call should be read by one thread.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import ssl
import threading
from typing import Any, Awaitable, Callable, Generic, Iterable, Iterator, Optional, Tuple, TypeVar, Union

from . import _wire as w
from ._endpoint import TLSConfig
from ._method import Method, MethodKind
from .aio import AsyncCall, AsyncChannel, AsyncStreamStream, AsyncStreamUnary, AsyncUnaryStream, AsyncUnaryUnary
from .metadata import Metadata, MetadataLike
from .status import RpcError, StatusCode

Req = TypeVar("Req")
Resp = TypeVar("Resp")
T = TypeVar("T")


class _LoopThread:
    """An event loop running forever on a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name="loacl-client-loop", daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def submit(self, coro: Awaitable[T]) -> "concurrent.futures.Future[T]":
        return asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]

    def run(self, coro: Awaitable[T]) -> T:
        future = self.submit(coro)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # e.g. KeyboardInterrupt: cancels the task, which sends CANCEL
            raise

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(fn, *args)

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        if threading.current_thread() is not self._thread:
            self._thread.join()
            self.loop.close()


class Channel:
    """Blocking calls to one LOACL server; see :class:`loacl_client.aio.AsyncChannel`."""

    def __init__(
        self,
        target: str,
        *,
        tls: Union[TLSConfig, ssl.SSLContext, None] = None,
        max_concurrent_calls: int = 256,
        connect_timeout: float = 10.0,
        max_frame_size: int = w.DEFAULT_MAX_FRAME,
    ) -> None:
        self.aio = AsyncChannel(target, tls=tls, max_concurrent_calls=max_concurrent_calls,
                                connect_timeout=connect_timeout, max_frame_size=max_frame_size)
        self._loop = _LoopThread()

    @property
    def endpoint(self) -> Any:
        return self.aio.endpoint

    def method(self, method: Method[Req, Resp]) -> Any:
        """The blocking callable for `method`, chosen by its kind (what the stubs use)."""
        return _CALLABLES[method.kind](self, method)

    def call(self, method: Method[Req, Resp], *, timeout: Optional[float] = None,
             metadata: Optional[MetadataLike] = None) -> "Call[Req, Resp]":
        """A generic handle for any method: write(), done_writing(), read(), iteration."""
        return self._make_call(lambda: self.aio.call(method, timeout=timeout, metadata=metadata))

    def connect(self) -> None:
        """Connects now (calls connect on demand anyway) and waits for the server's preface."""
        async def go() -> None:
            await (await self.aio.connection()).wait_preface(self.aio._connect_timeout)
        self._loop.run(go())

    def ping(self, timeout: Optional[float] = 10.0) -> float:
        """Round-trip time of one PING, in seconds."""
        return self._loop.run(self.aio.ping(timeout))

    def close(self) -> None:
        """Cancels calls in progress, closes the connection and stops the loop thread."""
        if self._loop.loop.is_closed():
            return
        try:
            self._loop.run(self.aio.close())
        finally:
            self._loop.stop()

    def __enter__(self) -> "Channel":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _make_call(self, factory: Callable[[], "AsyncCall[Req, Resp]"]) -> "Call[Req, Resp]":
        async def make() -> AsyncCall[Req, Resp]:
            return factory()
        return Call(self._loop, self._loop.run(make()))


class Call(Generic[Req, Resp]):
    """A call in progress (blocking). Iterate over it for the responses.

    A failed call raises :class:`RpcError` from the read that meets the end. Use `with` to
    cancel a call that is abandoned early.
    """

    def __init__(self, loop: _LoopThread, acall: AsyncCall[Req, Resp]) -> None:
        self._loop = loop
        self.aio = acall
        self._writer: Optional[threading.Thread] = None

    def write(self, message: Req) -> None:
        self._loop.run(self.aio.write(message))

    def done_writing(self) -> None:
        self._loop.run(self.aio.done_writing())

    def read(self) -> Optional[Resp]:
        """The next response, or None once the call ended with OK."""
        return self._loop.run(self.aio.read())

    def __iter__(self) -> Iterator[Resp]:
        return self

    def __next__(self) -> Resp:
        message = self.read()
        if message is None:
            raise StopIteration
        return message

    def result(self) -> Resp:
        """For unary and client-streaming calls: the single response."""
        return self._loop.run(self.aio.result())

    def cancel(self, message: str = "cancelled by the client") -> None:
        self._loop.call_soon(self.aio.cancel, message)

    def done(self) -> bool:
        return self.aio.done()

    def initial_metadata(self) -> Metadata:
        return self._loop.run(self.aio.initial_metadata())

    def trailing_metadata(self) -> Metadata:
        return self._loop.run(self.aio.trailing_metadata())

    def code(self) -> StatusCode:
        return self._loop.run(self.aio.code())

    def details(self) -> str:
        return self._loop.run(self.aio.details())

    def __enter__(self) -> "Call[Req, Resp]":
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.run(self.aio.__aexit__())

    def _send_all(self, requests: Iterable[Req]) -> None:
        """Writes `requests` from a thread of its own (the iterator may block)."""
        def pump() -> None:
            async def send(message: Req, end: bool) -> None:
                await (await self.aio.state()).send(message, end)
            try:
                it = iter(requests)
                try:
                    current = next(it)
                except StopIteration:
                    self.done_writing()
                    return
                for following in it:
                    self._loop.run(send(current, False))
                    current = following
                self._loop.run(send(current, True))
            except RpcError as exc:
                from .aio import _end_on_send_error
                self._loop.call_soon(_end_on_send_error, self.aio, exc)
            except Exception as exc:  # the application's iterator failed: abandon the call
                self.cancel(f"request iterator raised {exc!r}")
        self._writer = threading.Thread(target=pump, name="loacl-client-writer", daemon=True)
        self._writer.start()


# -- method callables -----------------------------------------------------------------------------
class _BlockingMethod(Generic[Req, Resp]):
    def __init__(self, channel: Channel, method: Method[Req, Resp]) -> None:
        self._channel = channel
        self.method = method


class UnaryUnary(_BlockingMethod[Req, Resp]):
    """`stub.Method(request, timeout=..., metadata=...)` → response."""

    def __call__(self, request: Req, *, timeout: Optional[float] = None, metadata: Optional[MetadataLike] = None) -> Resp:
        return self._channel._loop.run(AsyncUnaryUnary(self._channel.aio, self.method)(request, timeout=timeout, metadata=metadata))

    def with_call(self, request: Req, *, timeout: Optional[float] = None,
                  metadata: Optional[MetadataLike] = None) -> Tuple[Resp, Call[Req, Resp]]:
        """The response and the finished call (for its metadata)."""
        response, acall = self._channel._loop.run(
            AsyncUnaryUnary(self._channel.aio, self.method).with_call(request, timeout=timeout, metadata=metadata))
        return response, Call(self._channel._loop, acall)

    def future(self, request: Req, *, timeout: Optional[float] = None,
               metadata: Optional[MetadataLike] = None) -> "concurrent.futures.Future[Resp]":
        """Starts the call and returns at once; cancelling the future cancels the call."""
        return self._channel._loop.submit(AsyncUnaryUnary(self._channel.aio, self.method)(request, timeout=timeout, metadata=metadata))


class UnaryStream(_BlockingMethod[Req, Resp]):
    """`for response in stub.Method(request, ...)`."""

    def __call__(self, request: Req, *, timeout: Optional[float] = None, metadata: Optional[MetadataLike] = None) -> Call[Req, Resp]:
        return self._channel._make_call(lambda: AsyncUnaryStream(self._channel.aio, self.method)(request, timeout=timeout, metadata=metadata))


class StreamUnary(_BlockingMethod[Req, Resp]):
    """`stub.Method(requests, ...)` → response; or `stub.Method.open()` to write by hand."""

    def __call__(self, requests: Iterable[Req], *, timeout: Optional[float] = None,
                 metadata: Optional[MetadataLike] = None) -> Resp:
        return self.with_call(requests, timeout=timeout, metadata=metadata)[0]

    def with_call(self, requests: Iterable[Req], *, timeout: Optional[float] = None,
                  metadata: Optional[MetadataLike] = None) -> Tuple[Resp, Call[Req, Resp]]:
        call = self.open(timeout=timeout, metadata=metadata)
        call._send_all(requests)
        try:
            return call.result(), call
        except BaseException:
            if not call.done():
                call.cancel()
            raise

    def open(self, *, timeout: Optional[float] = None, metadata: Optional[MetadataLike] = None) -> Call[Req, Resp]:
        """A call to write() into; finish with done_writing(), then result()."""
        return self._channel._make_call(lambda: AsyncStreamUnary(self._channel.aio, self.method).open(timeout=timeout, metadata=metadata))


class StreamStream(_BlockingMethod[Req, Resp]):
    """`stub.Method(requests)` (iterate the result) or `stub.Method()` then write()/read()."""

    def __call__(self, requests: Optional[Iterable[Req]] = None, *, timeout: Optional[float] = None,
                 metadata: Optional[MetadataLike] = None) -> Call[Req, Resp]:
        call = self._channel._make_call(lambda: AsyncStreamStream(self._channel.aio, self.method)(timeout=timeout, metadata=metadata))
        if requests is not None:
            call._send_all(requests)
        return call


_CALLABLES: "dict[MethodKind, Callable[[Channel, Method[Any, Any]], Any]]" = {
    MethodKind.UNARY: UnaryUnary,
    MethodKind.SERVER_STREAMING: UnaryStream,
    MethodKind.CLIENT_STREAMING: StreamUnary,
    MethodKind.BIDI_STREAMING: StreamStream,
}
