"""One LOACL connection on asyncio: framing, multiplexed calls, flow control, PING, GOAWAY.

Everything here runs on one event loop; `Connection` is not thread-safe (the blocking API hops
onto the loop's thread). The protocol is docs/PROTOCOL.md; section numbers below refer to it.
"""
from __future__ import annotations

import asyncio
import collections
import math
import os
import ssl
import time
from typing import Any, Deque, Dict, List, Optional, Tuple

from . import _wire as w
from ._endpoint import Endpoint
from .gen.loacl.wire.v1 import wire_pb2
from .metadata import Metadata, MetadataLike
from .status import RpcError, StatusCode

_DecodeError: Any
try:  # protobuf's DecodeError lives here in every supported runtime
    from google.protobuf.message import DecodeError as _DecodeError
except ImportError:  # pragma: no cover
    _DecodeError = Exception


class _Unusable(Exception):
    """The connection cannot take a new call (draining or closed); nothing was sent."""


class CallState:
    """Client side of one call (one stream). Created by :meth:`Connection.open_call`."""

    def __init__(self, conn: "Connection", stream_id: int, path: str, response_type: Any) -> None:
        self.conn = conn
        self.stream_id = stream_id
        self.path = path
        self.response_type = response_type
        self.send_window = w.INITIAL_WINDOW  # what we may still send on this stream
        self.recv_window = w.INITIAL_WINDOW  # what the server may still send (our view)
        self.inbox: Deque[bytes] = collections.deque()
        self.initial_metadata: Optional[Metadata] = None
        self.code: Optional[StatusCode] = None  # set once the call has ended
        self.message = ""
        self.trailing_metadata = Metadata()
        self.half_closed = False
        self.deadline_handle: Optional[asyncio.TimerHandle] = None
        self._readable = asyncio.Event()  # inbox non-empty or call ended
        self.progress = asyncio.Event()  # response headers, a message or the end arrived
        self.done = asyncio.Event()
        self._write_lock = asyncio.Lock()
        self._slot_held = True

    # -- state ------------------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self.code is not None

    def error(self) -> RpcError:
        assert self.code is not None
        return RpcError(self.code, self.message, self.trailing_metadata, self.initial_metadata)

    def _finish(self, code: int, message: str, metadata: Optional[Metadata] = None) -> None:
        if self.code is not None:
            return
        self.code = StatusCode.of(code)
        self.message = message if self.code == code else f"(status code {code}) {message}"
        if metadata is not None:
            self.trailing_metadata = metadata
        if self.deadline_handle is not None:
            self.deadline_handle.cancel()
            self.deadline_handle = None
        self.conn._forget(self)
        self._readable.set()
        self.progress.set()
        self.done.set()
        self.conn._wake_writers()

    def _end_locally(self, code: StatusCode, message: str) -> None:
        """Cancel (§3.4): tell the server, drop undelivered messages, end with `code`."""
        if self.code is not None:
            return
        self.conn._send_control(w.frame(w.CANCEL, 0, self.stream_id))
        self.discard_inbox()
        self._finish(code, message)

    def cancel(self, message: str = "cancelled by the client") -> None:
        self._end_locally(StatusCode.CANCELLED, message)

    def _deadline_passed(self) -> None:
        self.deadline_handle = None
        self._end_locally(StatusCode.DEADLINE_EXCEEDED, "deadline exceeded (client)")

    def discard_inbox(self) -> None:
        """Returns connection credit for messages the application will never read."""
        self.inbox.clear()  # connection credit was already returned on receipt

    # -- receiving --------------------------------------------------------------------------------
    def _deliver(self, payload: bytes) -> None:
        self.inbox.append(payload)
        self._readable.set()
        self.progress.set()

    async def read(self) -> Optional[Any]:
        """The next response message, None after a successful end; raises RpcError otherwise."""
        while True:
            if self.inbox:
                payload = self.inbox.popleft()
                if not self.inbox and self.code is None:
                    self._readable.clear()
                self._credit(len(payload))
                try:
                    return self.response_type.FromString(payload)
                except _DecodeError as exc:
                    self._end_locally(StatusCode.INTERNAL, f"cannot decode {self.response_type.DESCRIPTOR.full_name}: {exc}")
                    raise self.error() from None
            if self.code is not None:
                if self.code == StatusCode.OK:
                    return None
                raise self.error()
            await self._readable.wait()

    def _credit(self, n: int) -> None:
        """The application consumed `n` bytes: return stream credit (§4; connection credit went
        back when the message arrived)."""
        if n == 0:
            return
        if self.code is None:  # no credit for a finished stream
            self.recv_window += n
            self.conn._send_control(w.window_update(self.stream_id, n))

    # -- sending ----------------------------------------------------------------------------------
    async def send(self, message: Any, end: bool = False) -> None:
        payload = message.SerializeToString()
        async with self._write_lock:
            await self.conn._send_message(self, payload, end)

    async def half_close(self) -> None:
        async with self._write_lock:
            if self.half_closed or self.code is not None:
                return
            self.half_closed = True
            self.conn._send_control(w.frame(w.HEADERS, w.END_STREAM, self.stream_id))


class Connection:
    """A client connection: opened with :meth:`connect`, then carries many calls at once."""

    def __init__(self, endpoint: Endpoint, max_concurrent_calls: int = 256, max_frame_size: int = w.DEFAULT_MAX_FRAME) -> None:
        self.endpoint = endpoint
        self.max_frame_size = max_frame_size
        self._loop = asyncio.get_running_loop()
        self._transport: Optional[asyncio.Transport] = None
        self._buf = bytearray()
        self._preface_ok = False
        self._next_stream_id = 1
        self._calls: Dict[int, CallState] = {}
        self._send_window = w.INITIAL_WINDOW
        self._recv_window = w.INITIAL_WINDOW
        self._recv_unacked = 0
        self._slots = asyncio.Semaphore(max_concurrent_calls)
        self._writable = asyncio.Event()
        self._writable.set()
        self._window_waiters: List[asyncio.Future] = []
        self._pings: Dict[bytes, asyncio.Future] = {}
        self.goaway: Optional[Any] = None  # wire_pb2.GoAway once received
        self.closed = False
        self._close_reason = "connection closed"
        self._closed_event = asyncio.Event()
        self._preface_event = asyncio.Event()

    # -- lifecycle --------------------------------------------------------------------------------
    @classmethod
    async def connect(cls, endpoint: Endpoint, connect_timeout: Optional[float] = 10.0, **kwargs: Any) -> "Connection":
        conn = cls(endpoint, **kwargs)
        loop = conn._loop
        factory = lambda: _Protocol(conn)  # noqa: E731
        try:
            if endpoint.unix_path is not None:
                coro = loop.create_unix_connection(factory, endpoint.unix_path, ssl=endpoint.ssl_context,
                                                   server_hostname=endpoint.server_name if endpoint.ssl_context else None)
            else:
                coro = loop.create_connection(factory, endpoint.host, endpoint.port, ssl=endpoint.ssl_context,
                                              server_hostname=endpoint.server_name if endpoint.ssl_context else None)
            await asyncio.wait_for(coro, connect_timeout)
        except (OSError, ssl.SSLError, asyncio.TimeoutError) as exc:
            raise RpcError(StatusCode.UNAVAILABLE, f"cannot connect to {endpoint}: {exc}") from exc
        if endpoint.ssl_context is not None and conn._transport is not None:
            alpn = conn._transport.get_extra_info("ssl_object").selected_alpn_protocol()
            if alpn not in (None, "loacl/1"):
                conn.close()
                raise RpcError(StatusCode.UNAVAILABLE, f"server chose ALPN protocol {alpn!r}, not loacl/1")
        return conn

    async def wait_preface(self, timeout: Optional[float] = None) -> None:
        """Waits for the server's preface (calls do not need to: §1.4)."""
        waiter = asyncio.ensure_future(self._preface_event.wait())
        closed = asyncio.ensure_future(self._closed_event.wait())
        try:
            await asyncio.wait({waiter, closed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            closed.cancel()
        if not self._preface_ok:
            raise RpcError(StatusCode.UNAVAILABLE, self._close_reason if self.closed else "no preface from server")

    @property
    def usable(self) -> bool:
        """True while new calls may start here (not closed, no GOAWAY, ids left)."""
        return not self.closed and self.goaway is None and self._next_stream_id <= w.MAX_STREAM_ID

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    def close(self, reason: str = "closed by the client") -> None:
        """Cancels every call, says GOAWAY (code 0) and closes the connection."""
        if self.closed:
            return
        for call in list(self._calls.values()):
            call.cancel(reason)
        self._send_control(w.frame(w.GOAWAY, 0, 0, wire_pb2.GoAway(last_stream_id=0, code=0, reason=reason).SerializeToString()))
        self._shutdown(reason)

    async def wait_closed(self) -> None:
        await self._closed_event.wait()

    async def ping(self, timeout: Optional[float] = 10.0) -> float:
        """Sends a PING and returns the round-trip time in seconds."""
        if self.closed:
            raise RpcError(StatusCode.UNAVAILABLE, self._close_reason)
        data = os.urandom(8)
        future = self._loop.create_future()
        self._pings[data] = future
        start = time.monotonic()
        self._send_control(w.frame(w.PING, 0, 0, data))
        try:
            await asyncio.wait_for(future, timeout)
        finally:
            self._pings.pop(data, None)
        return time.monotonic() - start

    # -- calls ------------------------------------------------------------------------------------
    async def open_call(
        self,
        path: str,
        response_type: Any,
        deadline: Optional[float] = None,
        metadata: Optional[MetadataLike] = None,
        end_stream: bool = False,
    ) -> CallState:
        """Opens a call (HEADERS). `deadline` is a loop.time() value. Raises _Unusable when this
        connection cannot take it (the channel then uses another), RpcError otherwise."""
        md = metadata if isinstance(metadata, Metadata) else Metadata(metadata)
        if not self.usable:
            raise _Unusable()
        await self._slots.acquire()
        if not self.usable:
            self._slots.release()
            raise _Unusable()
        timeout_ms = 0
        if deadline is not None:
            remaining = deadline - self._loop.time()
            if remaining <= 0:
                self._slots.release()
                raise RpcError(StatusCode.DEADLINE_EXCEEDED, "deadline exceeded before the call started (client)")
            timeout_ms = max(1, math.ceil(remaining * 1000))
        stream_id = self._next_stream_id
        self._next_stream_id += 1
        call = CallState(self, stream_id, path, response_type)
        headers = wire_pb2.CallHeaders(method=path, timeout_ms=timeout_ms, metadata=md.to_entries(wire_pb2.MetadataEntry))
        self._calls[stream_id] = call
        if end_stream:
            call.half_closed = True
        self._send_control(w.frame(w.HEADERS, w.END_STREAM if end_stream else 0, stream_id, headers.SerializeToString()))
        if deadline is not None:
            call.deadline_handle = self._loop.call_at(deadline, call._deadline_passed)
        return call

    async def _send_message(self, call: CallState, payload: bytes, end: bool) -> None:
        n = len(payload)
        if n > self.max_frame_size:
            raise RpcError(StatusCode.RESOURCE_EXHAUSTED, f"request message of {n} bytes exceeds the maximum frame size {self.max_frame_size}")
        while True:
            if call.code is not None:
                raise call.error() if call.code != StatusCode.OK else RpcError(StatusCode.FAILED_PRECONDITION, "the call has already ended")
            if call.half_closed:
                raise RpcError(StatusCode.FAILED_PRECONDITION, "the call is half-closed: no more messages may be sent")
            if self.closed:
                raise RpcError(StatusCode.UNAVAILABLE, self._close_reason)
            if self._writable.is_set() and w.allows(call.send_window, n) and w.allows(self._send_window, n):
                break
            await self._wait_writable()
        call.send_window -= n
        self._send_window -= n
        if end:
            call.half_closed = True
        assert self._transport is not None
        self._transport.write(w.HEADER.pack(n, w.MESSAGE, w.END_STREAM if end else 0, call.stream_id) + payload)

    async def _wait_writable(self) -> None:
        if not self._writable.is_set():
            await self._writable.wait()
            return
        future = self._loop.create_future()
        self._window_waiters.append(future)
        await future

    def _wake_writers(self) -> None:
        waiters, self._window_waiters = self._window_waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(None)

    def _forget(self, call: CallState) -> None:
        if self._calls.get(call.stream_id) is call:
            del self._calls[call.stream_id]
        if call._slot_held:
            call._slot_held = False
            self._slots.release()
        if self.goaway is not None and not self._calls and not self.closed:
            self._shutdown(self._close_reason)

    def _received(self, n: int) -> None:
        """Connection credit is returned on receipt (§4), batched by a quarter window: the stream
        windows bound what is buffered, and one unread stream must not block the others."""
        self._recv_unacked += n
        if self._recv_unacked >= w.INITIAL_WINDOW // 4:
            self._recv_window += self._recv_unacked
            self._send_control(w.window_update(0, self._recv_unacked))
            self._recv_unacked = 0

    def _send_control(self, data: bytes) -> None:
        # Control frames are exempt from flow control and go out even while writes are paused.
        if self._transport is not None and not self.closed:
            self._transport.write(data)

    # -- receiving --------------------------------------------------------------------------------
    def _on_data(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        pos = 0
        if not self._preface_ok:
            if len(buf) < len(w.PREFACE):
                if not w.PREFACE.startswith(bytes(buf)):
                    self._fail_preface(bytes(buf))
                return
            if bytes(buf[:8]) != w.PREFACE:
                self._fail_preface(bytes(buf[:8]))
                return
            self._preface_ok = True
            self._preface_event.set()
            pos = 8
        end = len(buf)
        while end - pos >= w.HEADER_SIZE and not self.closed:
            length, type_, flags, stream_id = w.HEADER.unpack_from(buf, pos)
            if length > self.max_frame_size:
                self._protocol_error(StatusCode.RESOURCE_EXHAUSTED, f"frame of {length} bytes exceeds the maximum {self.max_frame_size}")
                return
            if end - pos - w.HEADER_SIZE < length:
                break
            start = pos + w.HEADER_SIZE
            payload = bytes(buf[start:start + length])
            pos = start + length
            self._on_frame(type_, flags, stream_id, payload)
        if pos:
            del buf[:pos]

    def _fail_preface(self, got: bytes) -> None:
        # §1: a client that reads anything but the preface closes the connection. The server
        # may have said why in a GOAWAY right away; surface its reason when it did.
        reason = f"server did not answer with the LOACL/1 preface (got {got!r})"
        if len(self._buf) >= w.HEADER_SIZE:
            length, type_, _, _ = w.HEADER.unpack_from(self._buf, 0)
            if type_ == w.GOAWAY and len(self._buf) >= w.HEADER_SIZE + length:
                try:
                    ga = wire_pb2.GoAway.FromString(bytes(self._buf[w.HEADER_SIZE:w.HEADER_SIZE + length]))
                    reason = f"server sent GOAWAY instead of a preface: {StatusCode.of(ga.code).name}: {ga.reason}"
                except _DecodeError:
                    pass
        self._shutdown(reason)

    def _on_frame(self, type_: int, flags: int, stream_id: int, payload: bytes) -> None:
        if type_ == w.MESSAGE:
            self._on_message(stream_id, payload)
        elif type_ == w.HEADERS:
            call = self._calls.get(stream_id)
            if stream_id == 0:
                self._protocol_error(StatusCode.INVALID_ARGUMENT, "HEADERS on stream 0")
            elif call is not None and call.initial_metadata is None:
                try:
                    call.initial_metadata = Metadata.from_entries(wire_pb2.CallHeaders.FromString(payload).metadata)
                    call.progress.set()
                except _DecodeError:
                    self._protocol_error(StatusCode.INVALID_ARGUMENT, "undecodable response HEADERS")
        elif type_ == w.TRAILERS:
            if stream_id == 0:
                self._protocol_error(StatusCode.INVALID_ARGUMENT, "TRAILERS on stream 0")
                return
            call = self._calls.get(stream_id)
            if call is None:
                return  # cancelled or timed out locally: discard (§3.4)
            try:
                status = wire_pb2.CallStatus.FromString(payload)
            except _DecodeError:
                call._finish(StatusCode.INTERNAL, "undecodable TRAILERS from server")
                return
            call._finish(status.code, status.message, Metadata.from_entries(status.metadata))
        elif type_ == w.WINDOW_UPDATE:
            if len(payload) != 4:
                self._protocol_error(StatusCode.INVALID_ARGUMENT, "malformed WINDOW_UPDATE")
                return
            increment = w.U32.unpack(payload)[0]
            if increment == 0 or increment > w.MAX_WINDOW:
                self._protocol_error(StatusCode.INVALID_ARGUMENT, f"WINDOW_UPDATE increment {increment}")
                return
            if stream_id == 0:
                self._send_window += increment
                if self._send_window > w.MAX_WINDOW:
                    self._protocol_error(StatusCode.INVALID_ARGUMENT, "connection window overflow")
                    return
            else:
                call = self._calls.get(stream_id)
                if call is None:
                    return
                call.send_window += increment
                if call.send_window > w.MAX_WINDOW:
                    self._protocol_error(StatusCode.INVALID_ARGUMENT, "stream window overflow")
                    return
            self._wake_writers()
        elif type_ == w.PING:
            if stream_id != 0 or len(payload) != 8:
                self._protocol_error(StatusCode.INVALID_ARGUMENT, "malformed PING")
            elif flags & w.ACK:
                future = self._pings.pop(payload, None)
                if future is not None and not future.done():
                    future.set_result(None)
            else:
                self._send_control(w.frame(w.PING, w.ACK, 0, payload))
        elif type_ == w.GOAWAY:
            if stream_id != 0:
                self._protocol_error(StatusCode.INVALID_ARGUMENT, "GOAWAY on a stream")
                return
            try:
                self._on_goaway(wire_pb2.GoAway.FromString(payload))
            except _DecodeError:
                self._protocol_error(StatusCode.INVALID_ARGUMENT, "undecodable GOAWAY")
        elif type_ == w.CANCEL:
            pass  # clients only send it; nothing to do if a server does
        else:
            self._protocol_error(StatusCode.INVALID_ARGUMENT, f"unknown frame type {type_}")

    def _on_message(self, stream_id: int, payload: bytes) -> None:
        n = len(payload)
        if stream_id == 0:
            self._protocol_error(StatusCode.INVALID_ARGUMENT, "MESSAGE on stream 0")
            return
        if not w.allows(self._recv_window, n):
            self._protocol_error(StatusCode.RESOURCE_EXHAUSTED, "flow-control window exceeded")
            return
        self._recv_window -= n
        self._received(n)
        call = self._calls.get(stream_id)
        if call is None:
            if stream_id >= self._next_stream_id:
                self._protocol_error(StatusCode.INVALID_ARGUMENT, f"MESSAGE for stream {stream_id}, never opened")
            return  # in flight when we cancelled: dropped; its connection credit already went back
        if not w.allows(call.recv_window, n):
            self._protocol_error(StatusCode.RESOURCE_EXHAUSTED, "flow-control window exceeded")
            return
        call.recv_window -= n
        call._deliver(payload)

    def _on_goaway(self, goaway: Any) -> None:
        self.goaway = goaway
        code = StatusCode.of(goaway.code)
        self._close_reason = f"server sent GOAWAY ({code.name}): {goaway.reason}" if goaway.reason else f"server sent GOAWAY ({code.name})"
        # Calls above last_stream_id were never started: safe to retry elsewhere (§7).
        for call in [c for sid, c in self._calls.items() if sid > goaway.last_stream_id]:
            call.discard_inbox()
            call._finish(StatusCode.UNAVAILABLE, f"not processed: {self._close_reason}; retry on a new connection")
        if code != StatusCode.OK or not self._calls:
            self._shutdown(self._close_reason)

    def _protocol_error(self, code: StatusCode, reason: str) -> None:
        """The server broke the protocol: GOAWAY to it, then close (§6)."""
        last = self._next_stream_id - 1
        self._send_control(w.frame(w.GOAWAY, 0, 0, wire_pb2.GoAway(last_stream_id=last, code=int(code), reason=reason).SerializeToString()))
        self._shutdown(f"protocol error by the server: {reason}", StatusCode.INTERNAL)

    def _shutdown(self, reason: str, code: StatusCode = StatusCode.UNAVAILABLE) -> None:
        if self.closed:
            return
        self._close_reason = reason
        self.closed = True
        if self._transport is not None:
            self._transport.close()
        for call in list(self._calls.values()):
            call.discard_inbox()
            call._finish(code, reason)
        self._wake_writers()
        self._writable.set()
        for future in self._pings.values():
            if not future.done():
                future.set_exception(RpcError(StatusCode.UNAVAILABLE, reason))
        self._pings.clear()
        self._closed_event.set()
        self._preface_event.set()

    # -- transport callbacks ----------------------------------------------------------------------
    def _on_connection_lost(self, exc: Optional[BaseException]) -> None:
        reason = self._close_reason if (self.goaway is not None or self.closed) else "connection closed by the server"
        if exc is not None and self.goaway is None:
            reason = f"connection lost: {exc}"
        self._shutdown(reason)


class _Protocol(asyncio.Protocol):
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.conn._transport = transport
        transport.write(w.PREFACE)

    def data_received(self, data: bytes) -> None:
        if not self.conn.closed:
            self.conn._on_data(data)

    def eof_received(self) -> Optional[bool]:
        return None

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.conn._on_connection_lost(exc)

    def pause_writing(self) -> None:
        self.conn._writable.clear()

    def resume_writing(self) -> None:
        self.conn._writable.set()
