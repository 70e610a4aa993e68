"""LOACL client for Python: the LOACL wire protocol v1 over TCP, TLS and Unix sockets.

Blocking::

    from loacl_client import Channel, v1
    from loacl_client.services import BenchmarkServiceStub

    with Channel("tcp:127.0.0.1:7700") as channel:
        print(BenchmarkServiceStub(channel).UnaryCall(v1.BenchmarkRequest(payload=b"hi"), timeout=5))

asyncio: :class:`loacl_client.aio.AsyncChannel` with the `...AsyncStub` classes.
"""
from ._endpoint import Endpoint, TLSConfig
from ._method import Method, MethodKind
from .aio import AsyncCall, AsyncChannel
from .channel import Call, Channel
from .metadata import Metadata
from .status import RpcError, StatusCode

__version__ = "0.1.0"

__all__ = [
    "AsyncCall", "AsyncChannel", "Call", "Channel", "Endpoint", "Metadata", "Method", "MethodKind",
    "RpcError", "StatusCode", "TLSConfig", "__version__",
]
