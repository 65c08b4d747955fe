"""The Stripe webhook's receive path (verify, store, queue to Redis) next to a bare route.

One gunicorn (2 workers x 4 threads) serves the portal with a bare POST route added;
8 client threads post signed `payment_intent.succeeded` events, each with a new id, for
the given time to each of: the bare route (same body, no work), the webhook route, and
the webhook route again with events it already has (duplicates). No Celery worker runs,
so the figures are the receive path alone; the queue is Redis db 12, emptied after.

    .venv/bin/python -m bench.webhook_receive [--seconds 10] [--database-url URL]
        [--redis-url redis://127.0.0.1:6379/12]

Goals: at least 15% of the bare route's throughput, p95 acknowledgement <= 25 ms, and
duplicates no slower than new events.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import redis
import requests
import stripe

from bench import common
from bench.common import ROOT, stop
from portal import create_app
from portal.extensions import db

SECRET = "whsec_bench"
SENDERS = 8


def event(number: int, sender: int) -> dict:
    """A payment_intent.succeeded the size Stripe sends (about 3 kB)."""
    intent_id = f"pi_bench{sender:02d}{number:07d}"
    charge = {
        "id": f"ch_bench{sender:02d}{number:07d}",
        "object": "charge",
        "amount": 4500,
        "amount_captured": 4500,
        "amount_refunded": 0,
        "captured": True,
        "currency": "usd",
        "customer": "cus_bench",
        "payment_intent": intent_id,
        "payment_method": "pm_bench",
        "payment_method_details": {
            "card": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034},
            "type": "card",
        },
        "refunds": {"object": "list", "data": [], "has_more": False, "total_count": 0},
        "status": "succeeded",
    }
    return {
        "id": f"evt_bench{sender:02d}{number:07d}{int(time.time())}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": "payment_intent.succeeded",
        "data": {
            "object": {
                "id": intent_id,
                "object": "payment_intent",
                "amount": 4500,
                "amount_received": 4500,
                "currency": "usd",
                "customer": "cus_bench",
                "latest_charge": charge,
                "charges": {"object": "list", "data": [charge], "has_more": False},
                "metadata": {"payment_uuid": "6f1c3c1e-2a42-4e0b-9d1e-3b4f2f1d9a77"},
                "payment_method": "pm_bench",
                "payment_method_types": ["card"],
                "status": "succeeded",
                "last_payment_error": None,
            }
        },
    }


def serve(port: int, env: dict) -> subprocess.Popen:
    """gunicorn with the bench app; waits (patiently, the machine may be busy) until it answers."""
    command = [sys.executable, "-m", "gunicorn", "bench.webhook_app:app"]
    command += ["--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4"]
    process = subprocess.Popen(
        [*command, "--log-level", "warning"], cwd=ROOT, env=dict(os.environ, **env)
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/signin", timeout=5)
            return process
        except requests.RequestException:
            time.sleep(0.3)
    stop(process)
    raise RuntimeError("gunicorn did not start")


def prepare(url: str) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    with app.app_context():
        db.drop_all()
        db.create_all()
        db.engine.dispose()


def send_signed(url: str, bodies: Callable[[int, int], str], seconds: float) -> dict:
    """Post signed bodies from SENDERS threads for `seconds`; events/s and latencies.

    The body is signed before the clock starts, as Stripe signs before it sends."""

    def sign(index: int, number: int) -> tuple[str, dict]:
        body = bodies(number, index)
        signature = stripe.WebhookSignature.generate_signature_header(body, SECRET)
        return body, {"Stripe-Signature": signature, "Content-Type": "application/json"}

    def post(http, signed: tuple[str, dict]):
        body, headers = signed
        return http.post(url, data=body, headers=headers)

    return common.drive(post, prepare=sign, concurrency=SENDERS, seconds=seconds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--port", type=int, default=5124)
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
    prepare(url)
    queue = redis.Redis.from_url(args.redis_url)
    queue.flushdb()
    env = {
        "DATABASE_URL": url,
        "SECRET_KEY": "bench",
        "STRIPE_WEBHOOK_SECRET": SECRET,
        "CELERY_BROKER_URL": args.redis_url,
        "CELERY_RESULT_BACKEND": args.redis_url,
    }
    server = serve(args.port, env)
    base = f"http://127.0.0.1:{args.port}"
    sent: dict[tuple[int, int], str] = {}

    def fresh(number: int, sender: int) -> str:
        body = json.dumps(event(number, sender))
        sent[(number, sender)] = body
        return body

    def duplicate(number: int, sender: int) -> str:
        return sent.get((number, sender)) or sent[(0, sender)]

    try:
        bare = send_signed(
            f"{base}/_bench/bare", lambda n, s: json.dumps(event(n, s)), args.seconds
        )
        webhook = send_signed(f"{base}/api/v1/webhooks/stripe/", fresh, args.seconds)
        again = send_signed(f"{base}/api/v1/webhooks/stripe/", duplicate, args.seconds)
        queued = queue.llen("celery")
    finally:
        stop(server)
        queue.flushdb()
    report(url, args.seconds, bare, webhook, again, queued)


def report(url, seconds, bare, webhook, again, queued) -> None:
    print(
        f"database: {url.split('://')[0]}; broker: Redis; gunicorn 2 workers x 4 threads; "
        f"{SENDERS} senders; {seconds:.0f} s each; no worker (receive path only)"
    )
    for name, figures in (("bare route", bare), ("new events", webhook), ("duplicates", again)):
        print(
            f"{name:>12}: {figures['rps']:8.1f} events/s  p50 {figures['p50_ms']:6.1f} ms  "
            f"p95 {figures['p95_ms']:6.1f} ms  errors {figures['errors']}  ({figures['requests']})"
        )
    print(f"    queued: {queued} tasks in Redis for {webhook['requests']} new events")
    print(
        f"     ratio: {webhook['rps'] / bare['rps']:.1%} of the bare route's throughput (goal 15%)"
    )
    print(f" p95 goal: {'met' if webhook['p95_ms'] <= 25 else 'missed'} (<= 25 ms)")
    print(
        f"duplicates: {again['rps'] / webhook['rps']:.2f}x the new events' throughput, "
        f"p95 {again['p95_ms']:.1f} vs {webhook['p95_ms']:.1f} ms"
    )


if __name__ == "__main__":
    main()
