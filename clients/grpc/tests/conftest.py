"""Fixtures: a real `loacld` with a `grpc:` listener (and a `grpcs:` one with test certificates),
and the stock grpcio stubs that test.sh generated from proto/ with grpcio-tools.

Environment (test.sh sets them):
  LOACLD               the server binary
  LOACL_DATABASE_URL   runtime role's libpq URL (the data services); tests that need it skip without
  LOACL_GRPC_STUBS     folder of the generated *_pb2.py / *_pb2_grpc.py modules
"""
from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from pathlib import Path
from typing import Iterator, List

import pytest

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, os.environ.get("LOACL_GRPC_STUBS", str(REPO / ".data" / "grpc-stubs")))


def _python_client_fixtures():
    """clients/python/tests/conftest.py, for its `Loacld` (start a loacld, wait for its port, stop)."""
    spec = importlib.util.spec_from_file_location("loacl_python_fixtures", REPO / "clients" / "python" / "tests" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_fixtures = _python_client_fixtures()
Loacld, free_port = _fixtures.Loacld, _fixtures.free_port


class Server(Loacld):
    """One running loacld; `target` is its first (gRPC) listener as grpcio writes it (host:port)."""

    def __init__(self, workdir: Path, name: str, listeners: List[str], extra: List[str], env: dict) -> None:
        args = ["serve", "--log-level", "info"]
        for listener in listeners:
            args += ["--listen", listener]
        super().__init__(args + extra, listeners[0], None, None, workdir / f"{name}.log", env)
        self.args_listeners = listeners
        self.target = listeners[0].split(":", 1)[1]


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="loacl-grpc-") as d:
        yield Path(d)


def database_flags() -> List[str]:
    url = os.environ.get("LOACL_DATABASE_URL")
    return ["--database-url", url] if url else []


@pytest.fixture(scope="session")
def server(workdir: Path) -> Iterator[Server]:
    """grpc:, tcp: and grpc+unix: listeners; offline replies 30 ms a word, so a short deadline
    passes mid-reply; a 2 s handshake timeout."""
    s = Server(workdir, "grpc", [f"grpc:127.0.0.1:{free_port()}", f"tcp:127.0.0.1:{free_port()}",
                                 f"grpc+unix:{workdir / 'grpc.sock'}"], database_flags() + ["--handshake-timeout", "2"],
               {"LOACL_OFFLINE_WORD_DELAY_MS": "30"})
    s.unix_target = f"unix:{workdir / 'grpc.sock'}"
    s.loacl_target = s.args_listeners[1]
    yield s
    s.stop()


@pytest.fixture
def draining_server(workdir: Path) -> Iterator[Server]:
    """A server of its own, for a test that shuts it down."""
    s = Server(workdir, "draining", [f"grpc:127.0.0.1:{free_port()}"], database_flags(), {"LOACL_OFFLINE_WORD_DELAY_MS": "30"})
    yield s
    s.stop()


# Test certificates (scripts/gen-test-certs.sh), the Python client's fixture.
certs = _fixtures.certs


@pytest.fixture(scope="session")
def tls_server(workdir: Path, certs: Path) -> Iterator[Server]:
    s = Server(workdir, "grpcs", [f"grpcs:127.0.0.1:{free_port()}"],
               ["--tls-cert", str(certs / "server.pem"), "--tls-key", str(certs / "server.key")], {})
    yield s
    s.stop()


def needs_database() -> None:
    if not os.environ.get("LOACL_DATABASE_URL"):
        pytest.skip("the data services need LOACL_DATABASE_URL (clients/test.sh sets it)")
