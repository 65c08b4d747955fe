"""Renewal day on PostgreSQL: every subscription renews at once, next to bare ledger posting.

Set-up (not timed): --subscriptions students (10,000) each hold an active subscription
whose first period is open and paid (opened through `periods.open_period`, so its money is
in the ledger), and one stored `invoice.paid` event each for the next period, as the
webhook route stores them: a complete Stripe invoice object (status, amounts, lines with
their period and price), so no renewal asks Stripe anything.

Timed: --workers processes (8) run the webhook task's unit of work,
`portal.webhooks.tasks.run_event`, over the stored events, each worker every eighth
event: the run of one `invoice.paid` locks it and takes up to
`portal.webhooks.tasks.BATCH_SIZE - 1` others waiting untried, and renews them set by set
(`portal.subscriptions.renewal_day`): the subscriptions locked in one statement, their
open periods in one more, the new periods in one insert, every ledger entry (the new
price from provider cash into unearned revenue, the old period's unused money to
subscription revenue) in one statement, the students' paid invoices in one insert and
numbered right before the one commit, receipts queued (to an in-memory broker: sending
them is the worker's next job, not the renewal's), the events marked processed. A
worker whose event is in another's batch leaves it to that one (one or two statements)
and goes on. Every SQL statement the workers send is counted: all of them over the
renewals.

Baseline, in the same run: the bare ledger posting rate of `bench.ledger_writes` (the same
workers posting lesson earnings through `process_lesson_earning`, for --seconds).

Prints renewals per second next to that rate (goal: at least half of it), the SQL
statements per renewal (all the workers sent, over the renewals) with how many each
`run_event` call sent, and the ledger check.

    .venv/bin/python -m bench.subscription_renewals [--subscriptions 10000] [--workers 8]
        [--seconds 15] [--server postgresql://postgres@127.0.0.1:5432] [--prefix m4sh_bench]
        [--short] [--profile] [--json FILE]

`--short` (for `make bench`): 2,000 subscriptions and 5 s of bare posting.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from bench import ledger_writes
from bench.common import add_run_options, emit, profiled

# Databases <prefix>_renewals and, for the baseline, <prefix>_renewals_baseline (its
# own, so a run of bench.ledger_writes elsewhere is left alone), dropped and made again.
PREFIX = "m4sh_bench"
PRICE = 20000
LESSONS = 4
PERIOD = timedelta(days=30)
FIRST_START = datetime(2030, 1, 1, tzinfo=UTC)


def _app(url: str):
    from portal import create_app

    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench",
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 2, "pool_pre_ping": False},
            "CELERY_BROKER_URL": "memory://",
            "CELERY_RESULT_BACKEND": "cache+memory://",
        }
    )


def prepare(url: str, count: int) -> None:
    """Students with an active subscription and a paid first period; an `invoice.paid`
    event each for their renewal."""
    from portal.accounts.models import User
    from portal.extensions import db
    from portal.subscriptions.models import Plan, Subscription
    from portal.subscriptions.periods import open_period
    from portal.webhooks.models import WebhookEvent

    app = _app(url)
    with app.app_context():
        db.create_all()
        plan = Plan(slug="bench", name="Bench", price=PRICE, currency="usd",
                    lessons_per_month=LESSONS, provider_price_id="price_bench")  # fmt: skip
        db.session.add(plan)
        db.session.flush()
        db.session.execute(
            sa.insert(User),
            [
                {
                    "email": f"bench-student{i}@m4sh.app",
                    "name": f"Student {i}",
                    "role": "student",
                    "password_hash": "!",
                }  # fmt: skip
                for i in range(count)
            ],
        )
        students = db.session.scalars(sa.select(User.id).order_by(User.id)).all()
        db.session.execute(
            sa.insert(Subscription),
            [
                {
                    "student_id": sid,
                    "plan_id": plan.id,
                    "status": "active",
                    "provider_subscription_id": f"sub_bench{n}",
                    "provider_customer_id": "cus_b",
                }  # fmt: skip
                for n, sid in enumerate(students)
            ],
        )
        db.session.commit()
        subscriptions = db.session.scalars(sa.select(Subscription).order_by(Subscription.id))
        for n, subscription in enumerate(subscriptions.all()):
            open_period(
                subscription,
                starts_at=FIRST_START,
                ends_at=FIRST_START + PERIOD,
                amount_paid=PRICE,
                currency="usd",
                provider_invoice_id=f"in_first{n}",
            )
            if n % 500 == 499:
                db.session.commit()
        db.session.commit()
        db.session.execute(
            sa.insert(WebhookEvent),
            [_stored_event(n) for n in range(count)],
        )
        db.session.commit()
        db.engine.dispose()


def _stored_event(n: int) -> dict:
    start = FIRST_START + PERIOD
    stamp = int(start.timestamp())
    invoice = {
        "id": f"in_bench{n}",
        "object": "invoice",
        "status": "paid",
        "subscription": f"sub_bench{n}",
        "customer": "cus_b",
        "amount_paid": PRICE,
        "currency": "usd",
        "status_transitions": {"paid_at": stamp},
        "lines": {
            "object": "list",
            "has_more": False,
            "data": [
                {
                    "price": {"id": "price_bench"},
                    "proration": False,
                    "period": {"start": stamp, "end": int((start + PERIOD).timestamp())},
                }
            ],
        },
    }
    return {
        "stripe_id": f"evt_bench{n}",
        "type": "invoice.paid",
        "object_id": invoice["id"],
        "stripe_created": start,
        "livemode": False,
        "payload": {
            "id": f"evt_bench{n}",
            "type": "invoice.paid",
            "created": stamp,
            "data": {"object": invoice},
        },  # fmt: skip
        "status": "received",
        "attempts": 0,
    }


def renew_worker(url: str, event_ids: list[int], ready, out, profile: bool = False) -> None:
    from portal.extensions import db
    from portal.webhooks.tasks import run_event

    app = _app(url)
    statements = Counter()
    outcomes = Counter()
    with app.app_context():
        db.session.execute(sa.text("SELECT 1"))  # connect before the clock starts
        db.session.rollback()
        counted = [0]

        def count(*_args) -> None:
            counted[0] += 1

        sa.event.listen(db.engine, "before_cursor_execute", count)
        ready.wait()
        started = time.perf_counter()
        try:
            with profiled("subscription_renewals_worker", profile):
                for event_id in event_ids:
                    before = counted[0]
                    outcomes[run_event(event_id).status] += 1
                    statements[counted[0] - before] += 1
        except Exception as exc:  # noqa: BLE001 - reported by the main process
            out.put(exc)
            raise
        elapsed = time.perf_counter() - started
        db.engine.dispose()
    out.put((elapsed, statements, outcomes))


def run_renewals(
    url: str, workers: int, profile: bool = False
) -> tuple[float, Counter, Counter, int]:
    from portal.extensions import db
    from portal.webhooks.models import WebhookEvent

    app = _app(url)
    with app.app_context():
        ids = db.session.scalars(sa.select(WebhookEvent.id).order_by(WebhookEvent.id)).all()
        db.engine.dispose()
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    ready = ctx.Barrier(workers + 1)
    processes = [
        ctx.Process(
            target=renew_worker, args=(url, ids[n::workers], ready, queue, profile and n == 0)
        )
        for n in range(workers)
    ]
    for process in processes:
        process.start()
    ready.wait()
    began = time.perf_counter()
    results = [queue.get() for _ in processes]
    wall = time.perf_counter() - began
    failed = [result for result in results if isinstance(result, Exception)]
    if failed:
        for process in processes:
            process.kill()
        raise RuntimeError(f"a renewal worker failed: {failed[0]!r}")
    for process in processes:
        process.join()
    statements, outcomes = Counter(), Counter()
    for _, s, o in results:
        statements.update(s)
        outcomes.update(o)
    return wall, statements, outcomes, len(ids)


def check(url: str) -> tuple[list, dict]:
    from portal.books.checks import check_invariants
    from portal.extensions import db
    from portal.ledger.accounts import platform_balances

    app = _app(url)
    with app.app_context():
        drifts = check_invariants()
        balances = {account.code: value for account, value in platform_balances()}
        db.engine.dispose()
    return drifts, balances


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--server",
        default=os.environ.get("BENCH_PG_SERVER", "postgresql://postgres@127.0.0.1:5432"),
    )
    parser.add_argument("--subscriptions", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--tutors", type=int, default=64)
    parser.add_argument("--prefix", default=PREFIX)
    add_run_options(parser)
    args = parser.parse_args()
    if args.short:
        args.subscriptions, args.seconds = 2_000, 5
    renewals_db, baseline_db = f"{args.prefix}_renewals", f"{args.prefix}_renewals_baseline"

    ledger_url = f"{ledger_writes._sa_url(args.server)}/{baseline_db}"
    ledger_writes.recreate_database(args.server, baseline_db)
    tutor_ids = ledger_writes.prepare_ledger(ledger_url, args.tutors)
    print(f"bare ledger posting: {args.workers} workers, {args.seconds} s …", flush=True)
    posted = ledger_writes.run_ledger(ledger_url, tutor_ids, args.seconds, args.workers)
    posting_rate = posted / args.seconds

    url = f"{ledger_writes._sa_url(args.server)}/{renewals_db}"
    ledger_writes.recreate_database(args.server, renewals_db)
    print(f"set-up: {args.subscriptions} subscriptions with a paid period …", flush=True)
    prepare(url, args.subscriptions)
    print(f"renewal day: {args.subscriptions} invoice.paid, {args.workers} workers …", flush=True)
    wall, statements, outcomes, events = run_renewals(url, args.workers, args.profile)
    drifts, balances = check(url)

    rate = events / wall
    sent = sum(n * calls for n, calls in statements.items())
    print()
    print(f"{'':<44}{'per second':>12}")
    print(f"{'bare ledger posting (lesson earnings)':<44}{posting_rate:>12.0f}")
    print(f"{'subscription renewals (webhook task path)':<44}{rate:>12.0f}")
    print(f"renewals / bare posting: {rate / posting_rate:.0%} (goal: at least 50%)")
    spread = ", ".join(f"{n} statements: {c}" for n, c in sorted(statements.items()))
    print(f"SQL statements per renewal: {sent / events:.1f} (per run_event call: {spread})")
    print(f"events: {dict(outcomes)} in {wall:.1f} s")
    revenue = balances.get("subscription_revenue", 0)
    unearned = balances.get("subscriptions_unearned", 0)
    print(f"subscription revenue {revenue}, unearned {unearned}; "
          f"ledger check: {drifts if drifts else 'OK'}")  # fmt: skip
    if drifts:
        raise SystemExit("the ledger check failed after renewal day")
    figures = {"ratio": rate / posting_rate, "renewals_per_s": rate, "posting_per_s": posting_rate}
    emit(args, dict(figures, statements_per_renewal=sent / events))


if __name__ == "__main__":
    main()
