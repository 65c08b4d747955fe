"""Shared bench helpers: serve an app module with gunicorn and drive it with threads."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def serve(
    module: str, port: int, env: dict, workers: int = 2, options: list[str] | None = None
) -> subprocess.Popen:
    """gunicorn serving `module` (2 workers x 4 threads unless `options` say otherwise);
    waits, patiently since the machine may be busy, until it answers."""
    if options is None:
        options = ["--workers", str(workers), "--threads", "4"]
    command = [sys.executable, "-m", "gunicorn", module, "--bind", f"127.0.0.1:{port}"]
    process = subprocess.Popen(
        [*command, *options, "--log-level", "warning"], cwd=ROOT, env=dict(os.environ, **env)
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/signin", timeout=5)
            return process
        except requests.RequestException:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("gunicorn did not start")


def stop(process: subprocess.Popen, timeout: float = 20) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=timeout)


def load(url: str, *, session_factory, concurrency: int, seconds: float) -> dict:
    """GET `url` from `concurrency` threads for `seconds`; requests/s and latency percentiles."""
    return drive(
        lambda http, _request: http.get(url, allow_redirects=False),
        session_factory=session_factory,
        concurrency=concurrency,
        seconds=seconds,
    )


def drive(
    send,
    *,
    prepare=lambda thread, number: None,
    session_factory=requests.Session,
    concurrency: int,
    seconds: float,
) -> dict:
    """Call `send(http, prepare(thread_index, request_number))` from `concurrency` threads
    for `seconds`. Only `send` is timed; a response other than 200 counts as an error."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def worker(index: int) -> None:
        nonlocal errors
        http = session_factory()
        local, bad, number = [], 0, 0
        while time.monotonic() < stop_at:
            request = prepare(index, number)
            started = time.perf_counter()
            response = send(http, request)
            local.append(time.perf_counter() - started)
            bad += response.status_code != 200
            number += 1
        with lock:
            latencies.extend(local)
            errors += bad

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    latencies.sort()
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[int(len(latencies) * 0.95) - 1] * 1000,
        "errors": errors,
    }


# --- options every bench takes, its profile and its figures for `bench.run` -------------

OUT = ROOT / "bench" / "out"


def add_run_options(parser) -> None:
    """`--short` (a quick run for `make bench`), `--profile` (pyinstrument's view of the
    measured phase, written under bench/out/) and `--json FILE` (the figures, for
    `bench.run`'s table)."""
    parser.add_argument("--short", action="store_true", help="a quick run (make bench)")
    parser.add_argument(
        "--profile", action="store_true", help="profile the measured phase into bench/out/"
    )
    parser.add_argument("--json", default=None, help="write the figures to this file")


class profiled:
    """Profile the block with pyinstrument when `enabled`; the report (HTML and text) goes
    to bench/out/<name>.html and .txt. `pause()` / `resume()` leave parts out."""

    def __init__(self, name: str, enabled: bool):
        self.name, self.enabled, self.profiler = name, enabled, None

    def __enter__(self):
        if self.enabled:
            from pyinstrument import Profiler

            self.profiler = Profiler(interval=0.0005)
            self.profiler.start()
        return self

    def __exit__(self, *exc):
        if self.profiler is not None:
            self.profiler.stop()
            write_profile(self.profiler, self.name)
        return False


def write_profile(profiler, name: str) -> Path:
    OUT.mkdir(exist_ok=True)
    (OUT / f"{name}.html").write_text(profiler.output_html())
    (OUT / f"{name}.txt").write_text(profiler.output_text(unicode=True, show_all=False))
    print(f"profile: {OUT / name}.html (and .txt)", flush=True)
    return OUT / f"{name}.html"


def emit(args, figures: dict) -> None:
    """Write the bench's figures as JSON where `--json` says (for `bench.run`)."""
    if getattr(args, "json", None):
        import json

        figures = dict(figures, load_average=os.getloadavg()[0])
        Path(args.json).write_text(json.dumps(figures, indent=2))


class StatementCounter:
    """SQL statements, transactions and round trips on an engine while counting.

    A round trip is a statement sent and answered, a BEGIN / COMMIT / ROLLBACK, or a
    pool's ping of a connection before use.
    """

    def __init__(self, engine):
        import sqlalchemy as sa

        self.engine, self.sa = engine, sa
        self.statements = self.begins = self.commits = self.rollbacks = self.pings = 0
        self.log: list[str] = []

    def _statement(self, conn, cursor, statement, *args):
        self.statements += 1
        self.log.append(statement)

    def _begin(self, conn):
        self.begins += 1

    def _commit(self, conn):
        self.commits += 1

    def _rollback(self, conn):
        self.rollbacks += 1

    def _hooks(self):
        return (
            ("before_cursor_execute", self._statement),
            ("begin", self._begin),
            ("commit", self._commit),
            ("rollback", self._rollback),
        )

    def __enter__(self):
        for name, hook in self._hooks():
            self.sa.event.listen(self.engine, name, hook)
        dialect = self.engine.dialect
        ping = dialect.do_ping

        def counted_ping(dbapi_connection):
            self.pings += 1
            return ping(dbapi_connection)

        dialect.do_ping = counted_ping
        return self

    def __exit__(self, *exc):
        for name, hook in self._hooks():
            self.sa.event.remove(self.engine, name, hook)
        del self.engine.dialect.do_ping
        return False

    @property
    def round_trips(self) -> int:
        return self.statements + self.begins + self.commits + self.rollbacks + self.pings


def recreate_database(server: str, name: str) -> str:
    """Drop and create database `name` on the PostgreSQL `server`; its SQLAlchemy URL."""
    import sqlalchemy as sa

    url = server.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = sa.create_engine(f"{url}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return f"{url}/{name}"
