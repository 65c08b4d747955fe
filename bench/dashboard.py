"""The earnings dashboard with a long statement: page time, and CSV export memory.

A tutor gets 100,000 statement lines over two years (earnings, releases, payouts; see
`bench.seed_wallet`). Then, in process through Flask's test client:

- `/earnings` is requested `--requests` times; the server time of each request (from
  before_request to teardown, so no client cost) gives p50 / p95 / max. Goal: p95 ≤ 20 ms.
  The statement's htmx fragment (an older page, a type filter) is timed the same way.
- the CSV export of the whole statement is streamed chunk by chunk while tracemalloc
  watches the peak of Python memory; the same export for a tutor with 10,000 lines is
  the yardstick. Flat memory: the two peaks are about the same, far below the file size.
  Goal: 100,000 lines in ≤ 2 s (`--short` exports fewer and scales the time to 100,000).

    .venv/bin/python -m bench.dashboard [--lines 100000] [--requests 200] [--database-url URL]
        [--short] [--profile] [--json FILE]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import tracemalloc

import sqlalchemy as sa
from flask import g

from bench.common import add_run_options, emit, profiled
from bench.seed_wallet import seed_statement
from portal import create_app
from portal.extensions import db
from portal.runtime import settle_heap

PASSWORD = "bench-password-1"
EARNINGS_GOAL_MS = 20


def build_app(url: str):
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "MAIL_SUPPRESS_SEND": True}
    )
    timings: list[float] = []

    @app.before_request
    def _start():
        g.bench_started = time.perf_counter()

    @app.teardown_request
    def _stop(exc):
        if "bench_started" in g:
            timings.append(time.perf_counter() - g.bench_started)

    return app, timings


def seed(app, lines: list[int]) -> list[str]:
    from portal.accounts.services import create_user

    emails = []
    with app.app_context():
        db.drop_all()
        db.create_all()
        for count in lines:
            email = f"bench-tutor-{count}@m4sh.app"
            tutor = create_user(email, PASSWORD, "tutor", hourly_rate=4500)
            db.session.commit()
            started = time.perf_counter()
            seed_statement(tutor.id, count)
            print(f"seeded {count:,} lines in {time.perf_counter() - started:.1f} s", flush=True)
            emails.append(email)
        if db.engine.dialect.name == "postgresql":
            # What autovacuum does soon after a bulk load in production.
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("ANALYZE"))
    return emails


def sign_in(app, email: str):
    client = app.test_client()
    page = client.get("/signin").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    response = client.post(
        "/signin", data={"email": email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302, response.status_code
    return client


def time_requests(client, timings, url: str, count: int, headers=None) -> dict:
    for _ in range(10):
        client.get(url, headers=headers)  # warm: templates, statement caches
    timings.clear()
    for _ in range(count):
        response = client.get(url, headers=headers)
        assert response.status_code == 200, (url, response.status_code)
    ms = sorted(t * 1000 for t in timings[-count:])
    return {
        "p50": statistics.median(ms),
        "p95": ms[int(len(ms) * 0.95) - 1],
        "max": ms[-1],
    }


def export_peak(client) -> tuple[int, int, float]:
    """(peak Python bytes while streaming, bytes exported, seconds) for the whole CSV.

    The time is taken without tracemalloc, which slows every allocation; the peak in a
    second export with it."""
    seconds, size = export_time(client)
    tracemalloc.start()
    tracemalloc.reset_peak()
    export_time(client)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, size, seconds


def export_time(client) -> tuple[float, int]:
    started = time.perf_counter()
    response = client.get("/earnings/statement.csv", buffered=False)
    size = 0
    for chunk in response.response:
        size += len(chunk)
    response.close()
    return time.perf_counter() - started, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database-url", default=None)
    add_run_options(parser)
    args = parser.parse_args()
    if args.short:
        args.lines, args.requests = 20_000, 60
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/dashboard-bench.sqlite3"
    if url.startswith("postgresql://"):
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)

    app, timings = build_app(url)
    big, small = seed(app, [args.lines, 10_000])
    client = sign_in(app, big)
    settle_heap()  # as a gunicorn worker does once the app is loaded
    print(
        f"\ndatabase: {url.split('://')[0]}; {args.lines:,} statement lines; "
        f"{args.requests} requests each"
    )
    older = client.get("/earnings").get_data(as_text=True).split("before=")[1].split('"')[0]
    fragment = {"HX-Request": "true", "HX-Target": "statement"}
    rows = [
        ("/earnings (whole page)", time_requests(client, timings, "/earnings", args.requests)),
        (
            "statement, older page (htmx)",
            time_requests(client, timings, f"/earnings?before={older}", args.requests, fragment),
        ),
        (
            "statement, type=payout (htmx)",
            time_requests(client, timings, "/earnings?type=payout", args.requests, fragment),
        ),
    ]
    print(f"\n{'server time, ms':<32}{'p50':>8}{'p95':>8}{'max':>8}")
    for name, stats in rows:
        print(f"{name:<32}{stats['p50']:>8.1f}{stats['p95']:>8.1f}{stats['max']:>8.1f}")
    verdict = "met" if rows[0][1]["p95"] <= EARNINGS_GOAL_MS else "NOT met"
    print(f"goal: /earnings p95 <= {EARNINGS_GOAL_MS} ms -> {verdict}")

    small_client = sign_in(app, small)
    peak_small, size_small, s_small = export_peak(small_client)
    peak_big, size_big, s_big = export_peak(client)
    if args.profile:
        with profiled("dashboard_export", True):
            export_time(client)
        with profiled("dashboard_earnings", True):
            for _ in range(20):
                client.get("/earnings")
    print(f"\n{'CSV export':<32}{'lines':>9}{'size':>11}{'peak mem':>11}{'time':>8}")
    print(
        f"{'':<32}{10_000:>9,}{size_small / 1e6:>9.1f}MB{peak_small / 1024:>9.0f}KiB"
        f"{s_small:>7.1f}s"
    )
    print(
        f"{'':<32}{args.lines:>9,}{size_big / 1e6:>9.1f}MB{peak_big / 1024:>9.0f}KiB{s_big:>7.1f}s"
    )
    growth = peak_big / max(peak_small, 1)
    print(
        f"peak memory grows x{growth:.2f} for x{args.lines / 10_000:.0f} the lines "
        f"({'flat' if growth < 1.5 else 'NOT flat'})"
    )
    per_100k = s_big * 100_000 / args.lines
    print(f"goal: 100,000 lines exported in <= 2 s -> {per_100k:.2f} s per 100,000 lines")
    emit(
        args,
        {
            "earnings_p95_ms": rows[0][1]["p95"],
            "export_s_per_100k": per_100k,
            "export_memory_growth": growth,
            "lines": args.lines,
        },
    )


if __name__ == "__main__":
    main()
