"""Sentry's SDK starts only with SENTRY_DSN, and then reports an error of a view."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import sentry_sdk

from portal import create_app
from portal.system import error_reports
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_nothing_starts_without_a_dsn(app, monkeypatch):
    calls = []
    monkeypatch.setattr(error_reports.sentry_sdk, "init", lambda **kw: calls.append(kw))
    create_app({"SENTRY_DSN": None, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    app.extensions["celery"].set_default()
    app.extensions["celery"].set_current()
    assert calls == []
    assert not sentry_sdk.is_initialized()


def test_a_dsn_starts_flask_and_celery_integrations(app, monkeypatch):
    calls = []
    monkeypatch.setattr(error_reports.sentry_sdk, "init", lambda **kw: calls.append(kw))
    create_app({"SENTRY_DSN": "http://key@127.0.0.1:9/1", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    app.extensions["celery"].set_default()
    app.extensions["celery"].set_current()
    [options] = calls
    assert options["dsn"] == "http://key@127.0.0.1:9/1"
    assert options["send_default_pii"] is False
    assert {type(i).__name__ for i in options["integrations"]} == {
        "FlaskIntegration",
        "CeleryIntegration",
    }


class _Collector(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        encoding = self.headers.get("Content-Encoding")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "br":  # the SDK compresses with brotli when it is installed
            import brotli

            body = brotli.decompress(body)
        self.received.append(body)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


SCRIPT = """
import sentry_sdk
from portal import create_app

app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": False})

@app.get("/boom")
def boom():
    raise RuntimeError("reported to sentry")

app.test_client().get("/boom")
sentry_sdk.flush(5)
"""


def test_an_error_of_a_view_reaches_sentry(tmp_path):
    """In a process of its own: the SDK, once started, stays for the process."""
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), _Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Collector.received = []
    env = dict(os.environ, SENTRY_DSN=f"http://publickey@127.0.0.1:{port}/1", PORTAL_ENV="test")
    env.pop("DATABASE_URL", None)
    try:
        subprocess.run(
            [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, check=True, timeout=60,
            capture_output=True,
        )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert any(b"reported to sentry" in body for body in _Collector.received)
