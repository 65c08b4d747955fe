"""A free local port, and a small HTTP server run by a daemon thread."""

from __future__ import annotations

import json
import socket
import threading
from contextlib import closing
from http.server import BaseHTTPRequestHandler


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServedInThread:
    """`server` (any `socketserver` server on 127.0.0.1) served by a thread; `url` is
    where it answers. `start()` returns the server itself, `stop()` closes it."""

    def __init__(self, server) -> None:
        self._server = server
        self.port = server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def reply_json(handler: BaseHTTPRequestHandler, status: int, body: dict | bytes, *,
               request_id: str) -> None:  # fmt: skip
    """Answer like Stripe: JSON with its length and a `Request-Id` header."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.send_header("Request-Id", request_id)
    handler.end_headers()
    handler.wfile.write(data)
