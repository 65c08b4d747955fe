"""The admin payout queue with 10,000 pending payouts, next to the same queue with 10.

Server time is measured in process (Flask's test client, no network), one request at a
time, signed in as an admin through the real sign-in form; each figure is printed next
to its baseline. Goals: queue p95 ≤ 30 ms with 10,000 pending and the same number of SQL
statements per request as with 10; bulk approve of 500 payouts ≤ 250 ms.

    .venv/bin/python -m bench.payout_queue [--requests 200] [--database-url URL]
        [--short] [--profile] [--json FILE]

The database is emptied: use a scratch one (default: a temporary SQLite file).
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
import uuid
from datetime import timedelta

import sqlalchemy as sa
from cryptography.fernet import Fernet

from bench.common import add_run_options, emit, profiled
from portal import create_app
from portal.accounts.services import create_user
from portal.db import utcnow
from portal.extensions import db
from portal.payouts.models import PayoutRequest
from portal.runtime import settle_heap
from portal.wallets.movement import get_or_create_wallet

PASSWORD = "bench-password-1"
TUTORS = 200
CHUNK = 2000


def make_app(url: str):
    return create_app({
        "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "RATELIMIT_ENABLED": False,
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(), "CELERY_BROKER_URL": None,
        "MAIL_SUPPRESS_SEND": True,
    })  # fmt: skip


def reset(app) -> list[tuple[int, int]]:
    """Empty tables, an admin, and tutors with wallets: [(tutor id, wallet id)]."""
    with app.app_context():
        db.drop_all()
        db.create_all()
        create_user("bench-admin@m4sh.app", PASSWORD, "admin")
        tutors = [create_user(f"bench-tutor{i}@m4sh.app", PASSWORD, "tutor",
                              name=f"Tutor {i}", hourly_rate=4500)
                  for i in range(TUTORS)]  # fmt: skip
        wallets = [(t.id, get_or_create_wallet(t.id).id) for t in tutors]
        db.session.commit()
        return wallets


def add_pending(app, wallets, count: int) -> None:
    """`count` pending bank-transfer payouts spread over the tutors, oldest first."""
    start = utcnow() - timedelta(days=30)
    rows = [
        {
            "uuid": uuid.uuid4(),
            "tutor_id": wallets[i % len(wallets)][0],
            "wallet_id": wallets[i % len(wallets)][1],
            "amount": 1000 + i % 9000,
            "currency": "usd",
            "status": "pending",
            "payout_method": "bank_transfer",
            "destination": "IBAN •••• 3000",
            "auto": False,
            "created_at": start + timedelta(seconds=i),
            "updated_at": start,
        }  # fmt: skip
        for i in range(count)
    ]
    with app.app_context():
        for offset in range(0, len(rows), CHUNK):
            db.session.execute(sa.insert(PayoutRequest), rows[offset : offset + CHUNK])
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            # What autovacuum does soon after a bulk load in production (outside a
            # transaction: rolled back, the statistics would stay as they were).
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("ANALYZE"))


def signed_in(app):
    client = app.test_client()
    page = client.get("/signin").get_data(as_text=True)
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
    response = client.post("/signin", data={"csrf_token": token, "email": "bench-admin@m4sh.app",
                                            "password": PASSWORD})  # fmt: skip
    assert response.status_code == 302, response.get_data(as_text=True)
    # Signing in starts a new session, with a CSRF token of its own.
    page = client.get("/admin/payouts").get_data(as_text=True)
    return client, re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)


def time_queue(app, client, requests: int, headers=None) -> dict:
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    for _ in range(10):  # warm caches and the connection pool
        assert client.get("/admin/payouts", headers=headers).status_code == 200
    sa.event.listen(engine, "before_cursor_execute", count)
    timings = []
    try:
        for _ in range(requests):
            began = time.perf_counter()
            response = client.get("/admin/payouts", headers=headers)
            timings.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    timings.sort()
    return {
        "p50": statistics.median(timings),
        "p95": timings[int(len(timings) * 0.95) - 1],
        "queries": len(statements) / requests,
    }


def time_bulk(app, client, token: str, count: int) -> float:
    with app.app_context():
        ids = [str(u) for u in db.session.scalars(
            sa.select(PayoutRequest.uuid).where(PayoutRequest.status == "pending")
            .order_by(PayoutRequest.id).limit(count)
        )]  # fmt: skip
    began = time.perf_counter()
    response = client.post("/admin/payouts/approve", data={"csrf_token": token, "ids": ids},
                           headers={"HX-Request": "true", "HX-Target": "queue"})  # fmt: skip
    elapsed = time.perf_counter() - began
    assert f"Approved {count} payouts." in response.get_data(as_text=True)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database-url", default=None)
    add_run_options(parser)
    args = parser.parse_args()
    if args.short:
        args.requests = 60
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
    app = make_app(url)
    wallets = reset(app)
    client, token = signed_in(app)

    settle_heap()  # as a gunicorn worker does once the app is loaded
    add_pending(app, wallets, 10)
    small = time_queue(app, client, args.requests)
    small_bulk = time_bulk(app, client, token, 10)
    add_pending(app, wallets, 10_000)
    with profiled("payout_queue", args.profile):
        large = time_queue(app, client, args.requests)
    fragment = time_queue(app, client, args.requests, {"HX-Request": "true", "HX-Target": "queue"})
    with profiled("payout_queue_bulk", args.profile):
        large_bulk = time_bulk(app, client, token, 500)

    print(f"database: {url.split('://')[0]}; {TUTORS} tutors; {args.requests} requests each, "
          "one at a time, in process")  # fmt: skip
    print(f"{'admin queue':<34}{'p50 ms':>9}{'p95 ms':>9}{'SQL/request':>13}")
    for name, figures in (("10 pending (baseline)", small), ("10,000 pending", large),
                          ("10,000 pending, htmx fragment", fragment)):  # fmt: skip
        print(f"{name:<34}{figures['p50']:9.1f}{figures['p95']:9.1f}{figures['queries']:13.1f}")
    print(f"{'bulk approve of 10 (baseline)':<34}{small_bulk * 1000:9.0f} ms")
    print(f"{'bulk approve of 500':<34}{large_bulk * 1000:9.0f} ms")
    ok = large["p95"] <= 30 and large["queries"] == small["queries"] and large_bulk <= 0.25
    print("goals (p95 ≤ 30 ms, same SQL count, bulk ≤ 250 ms):", "met" if ok else "NOT met")
    emit(
        args,
        {
            "p95_ms": large["p95"],
            "baseline_p95_ms": small["p95"],
            "queries_10": small["queries"],
            "queries_10000": large["queries"],
            "bulk_500_ms": large_bulk * 1000,
        },
    )


if __name__ == "__main__":
    main()
