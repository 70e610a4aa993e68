"""Where to connect: `tcp:host:port`, `tls:host:port` or `unix:/path`, plus TLS settings."""
from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Optional, Union

ALPN = "loacl/1"


@dataclass(frozen=True)
class TLSConfig:
    """TLS settings for `tls:` targets.

    `ca_file`: PEM CAs that verify the server (None: the system's trust store).
    `cert_file`/`key_file`: client certificate for mutual TLS.
    `server_name`: name to verify and send as SNI (default: the target's host).
    `context`: a ready `ssl.SSLContext` instead of the fields above (ALPN is still set).
    """

    ca_file: Optional[str] = None
    cert_file: Optional[str] = None
    key_file: Optional[str] = None
    server_name: Optional[str] = None
    context: Optional[ssl.SSLContext] = None

    def ssl_context(self) -> ssl.SSLContext:
        if self.context is not None:
            ctx = self.context
        else:
            ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca_file)
            if self.cert_file:
                ctx.load_cert_chain(self.cert_file, self.key_file)
        if ctx.minimum_version < ssl.TLSVersion.TLSv1_2:  # the server requires 1.2 or 1.3
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_alpn_protocols([ALPN])
        return ctx


@dataclass(frozen=True)
class Endpoint:
    """A parsed target. Exactly one of (host, port) and unix_path is set."""

    host: Optional[str] = None
    port: Optional[int] = None
    unix_path: Optional[str] = None
    ssl_context: Optional[ssl.SSLContext] = None
    server_name: Optional[str] = None

    def __str__(self) -> str:
        if self.unix_path is not None:
            return f"unix:{self.unix_path}"
        scheme = "tls" if self.ssl_context is not None else "tcp"
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        return f"{scheme}:{host}:{self.port}"

    @classmethod
    def parse(cls, target: str, tls: Union[TLSConfig, ssl.SSLContext, None] = None) -> "Endpoint":
        """`tcp:host:port`, `tls:host:port`, `unix:/path` or `host:port` (TLS when `tls` is given)."""
        if isinstance(tls, ssl.SSLContext):
            tls = TLSConfig(context=tls)
        scheme, sep, rest = target.partition(":")
        if scheme == "unix" and sep:
            if not rest:
                raise ValueError(f"invalid target {target!r}: unix: needs a path")
            ctx = tls.ssl_context() if tls is not None else None
            return cls(unix_path=rest, ssl_context=ctx, server_name=(tls.server_name or "localhost") if tls else None)
        if scheme in ("tcp", "tls") and sep:
            hostport = rest
        else:
            scheme, hostport = ("tls" if tls is not None else "tcp"), target
        host, port = _split_host_port(hostport, target)
        if scheme == "tls":
            tls = tls or TLSConfig()
            return cls(host=host, port=port, ssl_context=tls.ssl_context(), server_name=tls.server_name or host)
        if tls is not None:
            raise ValueError(f"target {target!r} is tcp: but TLS settings were given (use tls:)")
        return cls(host=host, port=port)


def _split_host_port(text: str, target: str) -> "tuple[str, int]":
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
    else:
        host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"invalid target {target!r}: expected tcp:host:port, tls:host:port or unix:/path")
    return host, int(port)
