"""Stripe's `POST /v1/transfers` over real HTTP, answered from recorded responses.

localstripe has no Connect transfers. This server answers the transfer route like Stripe:
a recorded transfer object (tests/payouts/recorded/transfer.json) carrying the request's
amount, currency, destination, transfer group and metadata, or a recorded error with its
status. Like Stripe, a repeated `Idempotency-Key` gets the first answer again without a new
transfer, and `GET /v1/transfers?transfer_group=…` lists the transfers made with a group.
The portal's real provider class and the real `stripe` library talk to it, pointed there
by `STRIPE_API_BASE`.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl

from tests.support.servers import ServedInThread, reply_json

RECORDED = Path(__file__).resolve().parents[1] / "payouts" / "recorded"


def recorded(name: str) -> dict:
    return json.loads((RECORDED / f"{name}.json").read_text())


class TransferServer(ServedInThread):
    def __init__(self) -> None:
        self.failure: tuple[int, dict] | None = None
        self.delay = 0.0
        self.created: list[dict] = []  # one per transfer Stripe would have made
        self.requests: list[dict] = []  # every create request, with its headers
        self.lookups: list[dict] = []  # every list request's parameters
        self._answers: dict[str, tuple[int, dict]] = {}
        self._lock = threading.Lock()
        super().__init__(ThreadingHTTPServer(("127.0.0.1", 0), self._handler()))

    def fail_with(self, fixture: str, status: int = 400) -> None:
        self.failure = (status, recorded(fixture))

    def answer(self, form: dict, key: str | None) -> tuple[int, dict]:
        time.sleep(self.delay)
        with self._lock:
            if key and key in self._answers:
                return self._answers[key]
            result = self.failure or (200, self._transfer(form))
            if result[0] == 200:
                self.created.append(result[1])
            if key:
                self._answers[key] = result
            return result

    def _transfer(self, form: dict) -> dict:
        body = copy.deepcopy(recorded("transfer"))
        body["id"] = f"tr_{len(self.created) + 1:04d}{body['id'][7:]}"
        body["amount"] = int(form["amount"])
        body["currency"] = form["currency"]
        body["destination"] = form["destination"]
        body["transfer_group"] = form.get("transfer_group")
        body["metadata"] = {
            k[len("metadata[") : -1]: v for k, v in form.items() if k.startswith("metadata[")
        }
        return body

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                path, _, query = self.path.partition("?")
                params = dict(parse_qsl(query))
                server.lookups.append(params)
                if path != "/v1/transfers":
                    return self._send(404, {"error": {"type": "invalid_request_error"}})
                if server.failure and server.failure[0] >= 500:
                    return self._send(*server.failure)
                group = params.get("transfer_group")
                with server._lock:
                    found = [t for t in server.created if t.get("transfer_group") == group]
                listing = {"object": "list", "url": "/v1/transfers", "has_more": False}
                self._send(200, {**listing, "data": found[::-1][: int(params.get("limit", 10))]})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                key = self.headers.get("Idempotency-Key")
                server.requests.append({"path": self.path, "form": form, "key": key})
                if self.path != "/v1/transfers":
                    return self._send(
                        404,
                        {
                            "error": {
                                "type": "invalid_request_error",
                                "message": "Unrecognized request URL",
                            }
                        },
                    )
                self._send(*server.answer(form, key))

            def _send(self, status: int, body: dict):
                reply_json(self, status, body, request_id="req_replayed")

        return Handler
