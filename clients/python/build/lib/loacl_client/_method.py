"""Method descriptors: what a stub needs to know about one RPC."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Generic, Type, TypeVar

Req = TypeVar("Req")
Resp = TypeVar("Resp")


class MethodKind(enum.Enum):
    """The four call kinds, fixed by `stream` in the .proto (docs/PROTOCOL.md §3.1)."""

    UNARY = "unary"
    SERVER_STREAMING = "server_streaming"
    CLIENT_STREAMING = "client_streaming"
    BIDI_STREAMING = "bidi_streaming"

    @property
    def client_streams(self) -> bool:
        return self in (MethodKind.CLIENT_STREAMING, MethodKind.BIDI_STREAMING)

    @property
    def server_streams(self) -> bool:
        return self in (MethodKind.SERVER_STREAMING, MethodKind.BIDI_STREAMING)

    @classmethod
    def of(cls, client_streaming: bool, server_streaming: bool) -> "MethodKind":
        if client_streaming:
            return cls.BIDI_STREAMING if server_streaming else cls.CLIENT_STREAMING
        return cls.SERVER_STREAMING if server_streaming else cls.UNARY


@dataclass(frozen=True)
class Method(Generic[Req, Resp]):
    """One RPC: its path `/<package>.<Service>/<Method>`, kind and message classes."""

    path: str
    kind: MethodKind
    request_type: Type[Any]
    response_type: Type[Any]

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]
