"""The whole gateway (lifespan, relay, WebSocket) served by uvicorn on a free 127.0.0.1 port, in
a thread with its own event loop: for tests whose client is a real program (a browser, Node)
rather than httpx over ASGI. One home for starting it: tests/browser/ and tests/clients/ use it.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from starlette.applications import Starlette

from server import create_app
from settings import Settings


@dataclass
class LiveServer:
    url: str
    app: Starlette


@contextmanager
def serve_gateway(settings: Settings, start_within: float = 15) -> Iterator[LiveServer]:
    """A gateway built from `settings`, answering on http://127.0.0.1:<free port> until the
    block ends."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    # Built here, served by the server thread's own event loop (lifespan included).
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        log_level="warning",
        ws="websockets-sansio",  # as server.py serves
        ws_per_message_deflate=False,
        lifespan="on",
        ws_max_size=settings.max_body_bytes,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, name="live-gateway", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + start_within
    try:
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the gateway did not start (see the log above)")
            time.sleep(0.05)
        yield LiveServer(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()
