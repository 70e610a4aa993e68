"""TLS (server verification, SNI, ALPN), mutual TLS and Unix sockets against loacld."""
from __future__ import annotations

import asyncio
import ssl

import pytest

from loacl_client import AsyncChannel, Channel, RpcError, StatusCode, TLSConfig, v1
from loacl_client.services import BenchmarkServiceAsyncStub, BenchmarkServiceStub, HealthServiceStub


def echo(ch: Channel, payload: bytes = b"tls") -> bytes:
    return BenchmarkServiceStub(ch).UnaryCall(v1.BenchmarkRequest(payload=payload), timeout=20).payload


def test_unix_socket(server):
    with Channel(server.unix) as ch:
        assert echo(ch, b"unix") == b"unix"
        assert list(r.payload for r in BenchmarkServiceStub(ch).StreamingCall(iter([v1.BenchmarkRequest(payload=b"u")]))) == [b"u"]

    async def main():
        async with AsyncChannel(server.unix) as ch:
            assert (await BenchmarkServiceAsyncStub(ch).UnaryCall(v1.BenchmarkRequest(payload=b"a"))).payload == b"a"
    asyncio.run(main())


def test_tls_with_ca_and_alpn(tls_server, certs):
    with Channel(tls_server.tls, tls=TLSConfig(ca_file=str(certs / "ca.pem"))) as ch:
        assert echo(ch) == b"tls"
        assert HealthServiceStub(ch).Check(v1.HealthCheckRequest()).status == v1.SERVING_STATUS_SERVING
        ssl_object = ch.aio._conn._transport.get_extra_info("ssl_object")
        assert ssl_object.selected_alpn_protocol() == "loacl/1"
        assert ssl_object.version() in ("TLSv1.2", "TLSv1.3")


def test_tls_server_name_override(tls_server, certs):
    # The certificate names localhost, 127.0.0.1 and ::1: verifying "localhost" over 127.0.0.1 works,
    # a name it does not carry fails.
    with Channel(tls_server.tls, tls=TLSConfig(ca_file=str(certs / "ca.pem"), server_name="localhost")) as ch:
        assert echo(ch) == b"tls"
    with Channel(tls_server.tls, tls=TLSConfig(ca_file=str(certs / "ca.pem"), server_name="not-the-server.example")) as ch:
        with pytest.raises(RpcError) as info:
            echo(ch)
        assert info.value.code == StatusCode.UNAVAILABLE


def test_tls_untrusted_server_is_refused(tls_server, certs):
    with Channel(tls_server.tls, tls=TLSConfig(ca_file=str(certs / "other-ca.pem"))) as ch:
        with pytest.raises(RpcError) as info:
            echo(ch)
        assert info.value.code == StatusCode.UNAVAILABLE
        assert "certificate" in info.value.message.lower()


def test_tls_custom_ssl_context(tls_server, certs):
    ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    with Channel(tls_server.tls, tls=ctx) as ch:
        assert echo(ch) == b"tls"


def test_mutual_tls(mtls_server, certs):
    good = TLSConfig(ca_file=str(certs / "ca.pem"), cert_file=str(certs / "client.pem"), key_file=str(certs / "client.key"))
    with Channel(mtls_server.tls, tls=good) as ch:
        assert echo(ch, b"mtls") == b"mtls"
        assert len(BenchmarkServiceStub(ch).UnaryCall(v1.BenchmarkRequest(response_size=2 << 20), timeout=30).payload) == 2 << 20


@pytest.mark.parametrize("client", ["none", "foreign"])
def test_mutual_tls_rejects_missing_or_foreign_client_cert(mtls_server, certs, client):
    if client == "none":
        cfg = TLSConfig(ca_file=str(certs / "ca.pem"))
    else:
        cfg = TLSConfig(ca_file=str(certs / "ca.pem"), cert_file=str(certs / "other-client.pem"),
                        key_file=str(certs / "other-client.key"))
    with Channel(mtls_server.tls, tls=cfg) as ch:
        with pytest.raises(RpcError) as info:
            echo(ch)
        assert info.value.code == StatusCode.UNAVAILABLE


def test_target_parsing():
    from loacl_client import Endpoint
    assert Endpoint.parse("tcp:127.0.0.1:7700").port == 7700
    assert Endpoint.parse("127.0.0.1:7700").host == "127.0.0.1"
    assert Endpoint.parse("tcp:[::1]:7700").host == "::1"
    assert Endpoint.parse("unix:/run/loacl.sock").unix_path == "/run/loacl.sock"
    assert Endpoint.parse("tls:localhost:7443").ssl_context is not None
    for bad in ("tcp:nohost", "tcp:h:99999", "unix:", "tcp:h:x"):
        with pytest.raises(ValueError):
            Endpoint.parse(bad)
