"""A scripted, single-connection stand-in for loacld, to see exactly what the client sends and
to send it things a correct server never would (GOAWAY mid-call, PINGs, silence)."""
from __future__ import annotations

import socket
import struct
import threading
from typing import Callable, Optional, Tuple

HEADER = struct.Struct(">IBBI")
PREFACE = b"LOACL/1\n"
HEADERS, MESSAGE, TRAILERS, CANCEL, WINDOW_UPDATE, PING, GOAWAY = range(1, 8)
END_STREAM, ACK = 1, 2

Frame = Tuple[int, int, int, bytes]  # type, flags, stream id, payload


class Peer:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def read_exact(self, n: int, timeout: float = 5.0) -> bytes:
        self.sock.settimeout(timeout)
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise EOFError("client closed the connection")
            data += chunk
        return data

    def read_frame(self, timeout: float = 5.0) -> Frame:
        length, type_, flags, sid = HEADER.unpack(self.read_exact(HEADER.size, timeout))
        return type_, flags, sid, self.read_exact(length, timeout) if length else b""

    def read_frame_of(self, wanted: int, timeout: float = 5.0) -> Frame:
        """Skips WINDOW_UPDATE frames (credit is the client's business) until `wanted`."""
        while True:
            frame = self.read_frame(timeout)
            if frame[0] == wanted or frame[0] != WINDOW_UPDATE:
                return frame

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_frame(self, type_: int, flags: int, sid: int, payload: bytes = b"") -> None:
        self.send(HEADER.pack(len(payload), type_, flags, sid) + payload)

    def closed_by_client(self, timeout: float = 5.0) -> bool:
        self.sock.settimeout(timeout)
        try:
            while self.sock.recv(65536):
                pass
            return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False


class FakeServer:
    """Accepts one connection and runs `script(peer)` on it in a thread."""

    def __init__(self, script: Callable[[Peer], None], send_preface: bool = True) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(1)
        self.target = f"tcp:127.0.0.1:{self._listener.getsockname()[1]}"
        self._script = script
        self._send_preface = send_preface
        self.error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._listener.settimeout(10)
            sock, _ = self._listener.accept()
            with sock:
                peer = Peer(sock)
                assert peer.read_exact(8) == PREFACE, "client preface"
                if self._send_preface:
                    peer.send(PREFACE)
                self._script(peer)
        except BaseException as exc:  # reported by join()
            self.error = exc
        finally:
            self._listener.close()

    def join(self, timeout: float = 15.0) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "fake server script did not finish"
        if self.error is not None:
            raise self.error
