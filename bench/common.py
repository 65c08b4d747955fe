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


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=20)


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
