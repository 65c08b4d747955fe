"""The Stripe webhook's receive path (verify, store, queue to Redis) next to a bare route.

One gunicorn, set up as in production by gunicorn.conf.py ((2 x cores) + 1 sync workers;
--workers and --threads override it), serves the portal with a bare POST route added;
wrk keeps 8 connections (8 senders) posting signed `payment_intent.succeeded` events,
each with a new id, for the given time to each of: the bare route (same bodies, no work),
the webhook route, and the webhook route again with events it already has (duplicates).
The three phases take turns for --rounds rounds and the median round is reported. Events
are signed before the clock starts, as Stripe signs before it sends. No Celery worker
runs, so the figures are the receive path alone; the queue is Redis db 12, emptied after.

    apt-get install -y wrk
    .venv/bin/python -m bench.webhook_receive [--seconds 5] [--rounds 3] [--database-url URL]
        [--redis-url redis://127.0.0.1:6379/12] [--workers N] [--threads N]
        [--short] [--profile] [--json FILE]

Goals: at least 18% of the bare route's throughput, p95 acknowledgement <= 20 ms in every
round, and duplicates no slower than new events. `--profile` has each gunicorn worker
profile itself (bench/webhook_app.py) and write bench/out/webhook_worker<pid>.html.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from statistics import median

import redis
import sqlalchemy as sa

from bench import common, loadgen
from bench.common import ROOT, add_run_options, emit, stop
from portal import create_app
from portal.extensions import db

SECRET = "whsec_bench"
SENDERS = 8
WRK_THREADS = 2
# New events prepared per second of each phase: above any rate the webhook reaches here.
MAX_NEW_RATE = 1500


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


def serve(port: int, env: dict, workers: int | None, threads: int | None) -> subprocess.Popen:
    """The bench app under gunicorn.conf.py's settings, or the workers and threads given."""
    options = ["--config", str(ROOT / "gunicorn.conf.py")]
    if workers:
        options += ["--workers", str(workers)]
    if threads:
        options += ["--threads", str(threads), "--worker-class", "gthread"]
    return common.serve("bench.webhook_app:app", port, env, options=options)


def prepare(url: str) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    with app.app_context():
        db.drop_all()
        db.create_all()
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5, help="per phase and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--port", type=int, default=5124)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    add_run_options(parser)
    args = parser.parse_args()
    if args.short:
        args.seconds, args.rounds = 4, 2
    loadgen.require_wrk()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
    prepare(url)
    queue = redis.Redis.from_url(args.redis_url)
    queue.flushdb()
    bodies = Path(tempfile.mkdtemp())
    # Enough new events that no wrk thread runs out at any rate the webhook reaches here
    # (the bare route goes round the same files again: it stores nothing).
    each = int(args.rounds * args.seconds * MAX_NEW_RATE / WRK_THREADS)
    loadgen.write_signed(
        bodies, lambda n, t: json.dumps(event(n, t)), SECRET, threads=WRK_THREADS, each=each
    )
    env = {
        "DATABASE_URL": url,
        "SECRET_KEY": "bench",
        "STRIPE_WEBHOOK_SECRET": SECRET,
        "CELERY_BROKER_URL": args.redis_url,
        "CELERY_RESULT_BACKEND": args.redis_url,
    }
    if args.profile:
        env["BENCH_PROFILE"] = "webhook_worker"
    server = serve(args.port, env, args.workers, args.threads)
    base = f"http://127.0.0.1:{args.port}"

    def send(path: str, start: int = 0, count: int = 0) -> dict:
        return loadgen.post_signed(
            base + path,
            bodies,
            seconds=args.seconds,
            connections=SENDERS,
            threads=WRK_THREADS,
            start=start,
            count=count,
        )

    # The three phases take turns, round after round, so that a slower spell of this
    # (shared, virtual) machine lands on all of them alike; the median round is reported.
    rounds = []
    delivered = 0
    try:
        for _ in range(args.rounds):
            bare = send("/_bench/bare")
            webhook = send("/api/v1/webhooks/stripe/", start=delivered)
            if webhook["wrapped"]:
                raise SystemExit("The webhook ran out of new events: raise MAX_NEW_RATE.")
            # Events of the first round only, so every one is already stored.
            known = rounds[0][1]["per_thread"] if rounds else webhook["per_thread"]
            again = send("/api/v1/webhooks/stripe/", count=min(known) - SENDERS)
            delivered += max(webhook["per_thread"])
            rounds.append((bare, webhook, again))
        queued = queue.llen("celery")
        stored = count_events(url)
    finally:
        # Profiling workers write their reports as they exit, which takes a while.
        stop(server, timeout=180 if args.profile else 20)
        queue.flushdb()
        shutil.rmtree(bodies)
    emit(args, report(args, url, rounds, queued, stored))


def count_events(url: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        count = connection.scalar(sa.text("SELECT count(*) FROM webhook_events"))
    engine.dispose()
    return count


def server_setup(args) -> str:
    workers = args.workers or gunicorn_conf().workers
    if args.threads:
        return f"{workers} workers x {args.threads} threads"
    return f"{workers} sync workers" + ("" if args.workers else " (gunicorn.conf.py)")


def gunicorn_conf():
    spec = importlib.util.spec_from_file_location("gunicorn_conf", ROOT / "gunicorn.conf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def report(args, url, rounds, queued, stored) -> dict:
    print(
        f"database: {url.split('://')[0]}; broker: Redis; "
        f"gunicorn {server_setup(args)}; wrk, {SENDERS} connections; "
        f"{args.rounds} rounds of {args.seconds:.0f} s per phase; no worker (receive path only)"
    )
    for number, (bare, webhook, again) in enumerate(rounds, 1):
        print(f"round {number}")
        for name, figures in (("bare route", bare), ("new events", webhook), ("duplicates", again)):
            print(
                f"  {name:>10}: {figures['rps']:7.1f} events/s  p50 {figures['p50_ms']:5.1f} ms  "
                f"p95 {figures['p95_ms']:5.1f} ms  errors {figures['errors']}"
            )
    bare = median(r[0]["rps"] for r in rounds)
    new = median(r[1]["rps"] for r in rounds)
    dup = median(r[2]["rps"] for r in rounds)
    p95_new = median(r[1]["p95_ms"] for r in rounds)
    p95_dup = median(r[2]["p95_ms"] for r in rounds)
    ratio = median(r[1]["rps"] / r[0]["rps"] for r in rounds)
    print(f"median: bare {bare:.0f}/s, new {new:.0f}/s, duplicates {dup:.0f}/s")
    print(f"stored: {stored} events; queued: {queued} tasks in Redis")
    worst = max(r[1]["p95_ms"] for r in rounds)
    print(f" ratio: {ratio:.1%} of the bare route's throughput (goal >= 18%)")
    print(f"   p95: {p95_new:.1f} ms for new events, {worst:.1f} ms in the worst round")
    print("        (goal <= 20 ms in every round)")
    print(f"  dups: {dup / new:.2f}x the new events' throughput, p95 {p95_dup:.1f} ms")
    return {
        "ratio": ratio,
        "p95_ms": p95_new,
        "worst_p95_ms": worst,
        "duplicates_ratio": dup / new,
        "errors": sum(r[1]["errors"] + r[2]["errors"] for r in rounds),
        "bare_rps": bare,
        "bare_worst_p95_ms": max(r[0]["p95_ms"] for r in rounds),
    }


if __name__ == "__main__":
    main()
