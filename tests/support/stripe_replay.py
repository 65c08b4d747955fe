"""Recorded Stripe responses served over HTTP, for what localstripe does not implement.

localstripe has no Checkout Sessions and no Connect transfers. `StripeReplay` is a small
HTTP server that answers chosen routes with recorded Stripe JSON (tests/recorded/stripe)
and forwards everything else to localstripe, so a test drives the real provider class
and the real `stripe` library end to end; only the wire answers are canned. Each request
is kept (method, path, headers, form) for the test to inspect.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from portal.providers import EXTENSION_KEY
from portal.providers.stripe import StripeProvider
from tests.support.servers import ServedInThread, reply_json

RECORDED = Path(__file__).resolve().parents[1] / "recorded" / "stripe"


def recorded(name: str) -> dict:
    return json.loads((RECORDED / f"{name}.json").read_text())


@dataclass
class Seen:
    method: str
    path: str
    headers: dict
    form: dict = field(default_factory=dict)


class StripeReplay(ServedInThread):
    def __init__(self, upstream: str | None = None) -> None:
        self.upstream = upstream
        self.routes: dict[tuple[str, str], tuple[int, dict]] = {}
        self.requests: list[Seen] = []
        super().__init__(ThreadingHTTPServer(("127.0.0.1", 0), self._handler()))

    def answer(self, method: str, path: str, fixture: str, status: int = 200) -> StripeReplay:
        self.routes[(method, path)] = (status, recorded(fixture))
        return self

    def answer_json(self, method: str, path: str, payload: dict, status: int = 200) -> StripeReplay:
        """A recorded response with ids filled in for this test's objects."""
        self.routes[(method, path)] = (status, payload)
        return self

    def seen(self, method: str, path: str) -> list[Seen]:
        return [r for r in self.requests if (r.method, r.path) == (method, path)]

    def _handler(self):
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = urlsplit(self.path).path
                replay.requests.append(
                    Seen(self.command, path, dict(self.headers), dict(parse_qsl(body.decode())))
                )
                if (self.command, path) in replay.routes:
                    status, payload = replay.routes[(self.command, path)]
                    return self._reply(status, json.dumps(payload).encode())
                if replay.upstream is None:
                    return self._reply(404, json.dumps(recorded("resource_missing")).encode())
                upstream = requests.request(
                    self.command,
                    replay.upstream + self.path,
                    data=body,
                    headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
                    timeout=10,
                )
                return self._reply(upstream.status_code, upstream.content)

            def _reply(self, status: int, payload: bytes):
                reply_json(self, status, payload, request_id="req_replay")

            do_GET = do_POST = do_DELETE = _serve

        return Handler


@pytest.fixture
def stripe_replay(app, localstripe):
    """The app's provider talks to a `StripeReplay` that forwards to localstripe."""
    replay = StripeReplay(upstream=localstripe.url).start()
    previous = app.extensions.get(EXTENSION_KEY)
    app.extensions[EXTENSION_KEY] = StripeProvider.from_config(
        {**app.config, "STRIPE_API_BASE": replay.url}
    )
    yield replay
    app.extensions.pop(EXTENSION_KEY)
    if previous is not None:
        app.extensions[EXTENSION_KEY] = previous
    replay.stop()
