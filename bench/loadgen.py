"""Load from wrk (C, from Debian's `wrk` package) for the benches where the load generator
must not eat the server's CPU: on a two-core machine a Python client costs about as much
per request as the route it measures.

Requests are prepared and signed here, before the clock starts, into one file per wrk
thread; `bench/signed_posts.lua` sends them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import stripe

from bench.common import ROOT

SCRIPT = ROOT / "bench" / "signed_posts.lua"


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("This bench needs wrk: apt-get install -y wrk")
    return path


def write_signed(
    directory: Path, body: Callable[[int, int], str], secret: str, *, threads: int, each: int
) -> None:
    """`each` signed requests per wrk thread: body(number, thread) and its signature header."""
    for thread in range(threads):
        with open(directory / f"thread-{thread}.txt", "w") as out:
            for number in range(each):
                text = body(number, thread)
                assert "\n" not in text
                signature = stripe.WebhookSignature.generate_signature_header(text, secret)
                out.write(f"{signature}\n{text}\n")


def post_signed(
    url: str,
    directory: Path,
    *,
    seconds: float,
    connections: int,
    threads: int,
    start: int = 0,
    count: int = 0,
) -> dict:
    """Run wrk for `seconds` from request `start` of each file (only `count` of them, over and
    over, if given); events/s, p50/p95 in ms, errors (any non-2xx counts), requests prepared
    by each thread (`per_thread`) and how many went past the end of a file (`wrapped`)."""
    command = [require_wrk(), "-t", str(threads), "-c", str(connections)]
    command += ["-d", f"{round(seconds)}s"]
    command += ["-s", str(SCRIPT), url, "--", str(directory), str(start), str(count)]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    figures = json.loads(output.strip().splitlines()[-1])
    figures["rps"] = figures["requests"] / figures["seconds"]
    return figures
