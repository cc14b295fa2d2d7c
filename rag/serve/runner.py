"""Running the API with uvicorn: in the foreground (``rag serve``) or on a thread (tests, the bench)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rag.errors import ConfigError
from rag.serve.auth import check_bind

if TYPE_CHECKING:
    from rag.api import Assistant

log = logging.getLogger(__name__)


def listen(host: str, port: int) -> socket.socket:
    """A bound, listening socket (a busy port is a ``ConfigError`` naming ``--port``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another with --port"
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def url_of(host: str, port: int) -> str:
    """The base URL of a server on ``host``:``port`` (an IPv6 address in brackets)."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _server(app: Any, quiet: bool) -> Any:
    import uvicorn

    config = uvicorn.Config(
        app,
        log_level="warning" if quiet else "info",
        access_log=not quiet,
        timeout_graceful_shutdown=5,
        lifespan="on",
    )
    return uvicorn.Server(config)


def serve(assistant: Assistant, host: str = "127.0.0.1", port: int = 8080, announce: Any = None) -> None:
    """Check the bind, warm the models, serve until Ctrl+C (``announce(url)`` once listening)."""
    from rag.serve.app import create_app

    check_bind(host, assistant.settings.api_key)
    sock = listen(host, port)
    try:
        log.info("loading models ...")
        assistant.warm()
        server = _server(create_app(assistant), quiet=False)
        if announce is not None:
            announce(url_of(host, sock.getsockname()[1]))
        server.run(sockets=[sock])
    finally:
        sock.close()


@contextmanager
def running(app: Any, host: str = "127.0.0.1", port: int = 0, quiet: bool = True) -> Iterator[str]:
    """Serve ``app`` on a thread for the ``with`` block; yields its base URL (a free port when 0)."""
    sock = listen(host, port)
    try:
        server = _server(app, quiet)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="rag-serve"
        )
        thread.start()
        try:
            deadline = time.monotonic() + 30
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    raise ConfigError("the API server did not start")
                time.sleep(0.02)
            yield url_of(host, sock.getsockname()[1])
        finally:
            server.should_exit = True
            thread.join(15)
    finally:
        sock.close()
