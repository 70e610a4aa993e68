"""Fixtures: a real `loacld` per test session (TCP + Unix, TLS, mutual TLS), on free ports.

Environment:
  LOACLD               path of the server binary (default <repo>/.build/debug/loacld)
  LOACL_DATABASE_URL   libpq URL of the runtime role; passed to the data server when set
  LOACLD_ARGS          extra flags for the data server (e.g. secrets the data services need)
"""
from __future__ import annotations

import os
import shlex
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator, List, Optional

import pytest

REPO = Path(__file__).resolve().parents[3]


def loacld_path() -> str:
    path = os.environ.get("LOACLD") or str(REPO / ".build" / "debug" / "loacld")
    if not os.access(path, os.X_OK):
        pytest.exit(f"loacld not found at {path}: build it (swift build --product loacld) and set LOACLD", returncode=2)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Loacld:
    """One running server; `tcp`, `unix` and `tls` are client targets for its listeners."""

    def __init__(self, args: List[str], tcp: Optional[str], unix: Optional[str], tls: Optional[str], log: Path,
                 env: Optional[dict] = None) -> None:
        self.tcp, self.unix, self.tls, self.log = tcp, unix, tls, log
        self._log_file = open(log, "wb")
        self.proc = subprocess.Popen([loacld_path(), *args], stdout=self._log_file, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})})
        port = int((tcp or tls or "::0").rsplit(":", 1)[1])
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"loacld exited with {self.proc.returncode}:\n{log.read_text(errors='replace')}")
            try:
                if port:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                else:
                    s = socket.socket(socket.AF_UNIX)
                    s.connect(unix)
                    s.close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"loacld did not start listening:\n{log.read_text(errors='replace')}")
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_file.close()


def start(tmp: Path, name: str, *, tcp: bool = True, unix: bool = False, tls_dir: Optional[Path] = None,
          client_auth: Optional[str] = None, extra: Optional[List[str]] = None, env: Optional[dict] = None) -> Loacld:
    args: List[str] = []
    tcp_target = unix_target = tls_target = None
    if tcp:
        tcp_target = f"tcp:127.0.0.1:{free_port()}"
        args += ["--listen", tcp_target]
    if unix:
        path = str(tmp / f"{name}.sock")
        unix_target = f"unix:{path}"
        args += ["--listen", unix_target]
    if tls_dir is not None:
        tls_target = f"tls:127.0.0.1:{free_port()}"
        args += ["--listen", tls_target, "--tls-cert", str(tls_dir / "server.pem"), "--tls-key", str(tls_dir / "server.key")]
        if client_auth:
            args += ["--tls-client-ca", str(tls_dir / "ca.pem"), "--tls-client-auth", client_auth]
    args += extra or []
    return Loacld(args, tcp_target, unix_target, tls_target, tmp / f"{name}.log", env)


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    # Short path: Unix socket paths are limited to 107 bytes.
    with tempfile.TemporaryDirectory(prefix="loacl-py-") as d:
        yield Path(d)


@pytest.fixture(scope="session")
def server(workdir: Path) -> Iterator[Loacld]:
    """TCP and Unix listeners; the database when LOACL_DATABASE_URL is set."""
    extra: List[str] = []
    if os.environ.get("LOACL_DATABASE_URL"):
        extra += ["--database-url", os.environ["LOACL_DATABASE_URL"]]
    extra += shlex.split(os.environ.get("LOACLD_ARGS", ""))
    s = start(workdir, "main", unix=True, extra=extra)
    yield s
    s.stop()


@pytest.fixture(scope="session")
def slow_server(workdir: Path) -> Iterator[Loacld]:
    """A second data server whose offline replies take 30 ms a word: runs long enough to
    resume, follow from this and the main server, and cancel."""
    if not os.environ.get("LOACL_DATABASE_URL"):
        pytest.skip("runs need the data services (LOACL_DATABASE_URL)")
    extra = ["--database-url", os.environ["LOACL_DATABASE_URL"], *shlex.split(os.environ.get("LOACLD_ARGS", ""))]
    s = start(workdir, "slow", extra=extra, env={"LOACL_OFFLINE_WORD_DELAY_MS": "30"})
    yield s
    s.stop()


@pytest.fixture(scope="session")
def wide_server(workdir: Path) -> Iterator[Loacld]:
    """Allows 1,024 concurrent calls per connection."""
    s = start(workdir, "wide", extra=["--max-concurrent-calls", "1024"])
    yield s
    s.stop()


@pytest.fixture(scope="session")
def certs(workdir: Path) -> Path:
    d = workdir / "certs"
    subprocess.run(["bash", str(REPO / "scripts" / "gen-test-certs.sh"), str(d)], check=True, stdout=subprocess.DEVNULL)
    return d


@pytest.fixture(scope="session")
def tls_server(workdir: Path, certs: Path) -> Iterator[Loacld]:
    s = start(workdir, "tls", tcp=False, tls_dir=certs)
    yield s
    s.stop()


@pytest.fixture(scope="session")
def mtls_server(workdir: Path, certs: Path) -> Iterator[Loacld]:
    s = start(workdir, "mtls", tcp=False, tls_dir=certs, client_auth="required")
    yield s
    s.stop()
