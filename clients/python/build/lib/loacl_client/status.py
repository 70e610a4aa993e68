"""Status codes and the one exception type every failed call raises."""
from __future__ import annotations

import enum
from typing import Optional

from .metadata import Metadata


class StatusCode(enum.IntEnum):
    """gRPC status codes, as carried in a TRAILERS frame (docs/PROTOCOL.md §3.3)."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16

    @classmethod
    def of(cls, value: int) -> "StatusCode":
        """The member for `value`; codes outside 0–16 read as UNKNOWN."""
        try:
            return cls(value)
        except ValueError:
            return cls.UNKNOWN


class RpcError(Exception):
    """A call ended with a status other than OK.

    `code` is a :class:`StatusCode` (an int: compare with numbers or members, `.name` gives the
    name), `message` the server's (or the client's) explanation, `metadata` the trailing
    metadata and `initial_metadata` the response headers' metadata, when the server sent any.
    """

    def __init__(
        self,
        code: int,
        message: str = "",
        metadata: Optional[Metadata] = None,
        initial_metadata: Optional[Metadata] = None,
    ) -> None:
        self.code: StatusCode = StatusCode.of(code)
        if self.code != code:
            message = f"(status code {code}) {message}"
        self.message: str = message
        self.metadata: Metadata = metadata if metadata is not None else Metadata()
        self.initial_metadata: Metadata = initial_metadata if initial_metadata is not None else Metadata()
        super().__init__(f"{self.code.name}: {message}" if message else self.code.name)

    def __repr__(self) -> str:
        return f"RpcError(code={self.code.name}, message={self.message!r})"
