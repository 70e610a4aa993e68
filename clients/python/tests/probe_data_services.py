"""Exit 0 when `loacld` (argv[1]) serves the data services (not UNIMPLEMENTED), 1 otherwise.
clients/test.sh uses it to decide whether a throwaway database is worth starting."""
import socket
import subprocess
import sys
import time

from loacl_client import Channel, RpcError, StatusCode, v1
from loacl_client.services import SessionServiceStub

s = socket.socket()
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
s.close()
proc = subprocess.Popen([sys.argv[1], "--listen", f"tcp:127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    with Channel(f"tcp:127.0.0.1:{port}") as ch:
        try:
            SessionServiceStub(ch).GetSession(v1.GetSessionRequest(), timeout=10)
            sys.exit(0)
        except RpcError as exc:
            sys.exit(1 if exc.code == StatusCode.UNIMPLEMENTED else 0)
finally:
    proc.terminate()
    proc.wait()
