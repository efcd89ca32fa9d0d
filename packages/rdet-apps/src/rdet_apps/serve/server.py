"""Run an app with uvicorn on a socket bound here, so that port 0 (any free port) works and
the address printed is the one listened on."""

from __future__ import annotations

import socket
import sys
from typing import Any

from rdet_apps.serve.extra import require_serve_extra

__all__ = ["bind", "run_server"]


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (IPv4 or IPv6 as the host says; port 0:
    any free port).

    Raises:
        ValueError: ``port`` outside [0, 65535].
        OSError: The address cannot be bound (in use, not this machine's ...).
    """
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be in [0, 65535], got {port}")
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def run_server(app: Any, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info") -> None:
    """Serve ``app`` until interrupted (Ctrl-C / SIGTERM: in-flight requests finish, the
    batcher stops). Prints ``rdet serve: listening on http://HOST:PORT`` once bound."""
    require_serve_extra()
    import uvicorn

    sock = bind(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    print(f"rdet serve: listening on http://{shown}:{bound_port}", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, timeout_graceful_shutdown=10))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    if not server.started:
        sys.exit("rdet serve: the server did not start (see the log above)")
