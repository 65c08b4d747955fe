"""The portal's own overhead per lesson payment (create intent + confirm, server side).

Both sides talk to the same localstripe in the same run, one payment at a time, taking
turns so that any drift in localstripe's speed hits both alike:

- direct: the Stripe calls the portal makes for a payment with a saved card, made with
  the `stripe` library (create the intent; set its payment method; confirm);
- API: `POST /api/v1/payments/intent/` then `POST /api/v1/payments/{id}/confirm/` with
  that saved card, through the whole app in process (routing, bearer token, JSON, locks,
  the success path, the ledger posting, the commits);
- services: `create_payment_intent` then `confirm_payment`, each committed, without the
  HTTP layer (what a task or a webhook handler pays).

Overhead = portal − direct, per payment, in wall-clock time and in this process's CPU
time (the second is what the portal itself spends; the first adds the database's and
the machine's waits). Goal: ≤ 12 ms. Then a few more payments each way are paid with a
statement counter on the engine: SQL statements and round trips (statements, BEGIN,
COMMIT) per payment. The receipt is queued on Redis (`--redis-url`, emptied after), as in
production, so building and mailing it is the worker's cost, not the payment's.

    .venv/bin/python -m bench.payment_overhead [--payments 200] [--redis-url URL]
        [--short] [--profile] [--json FILE]
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/<db> .venv/bin/python -m ...
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import redis
import stripe

from bench.common import StatementCounter, add_run_options, emit, profiled
from portal import create_app
from portal.accounts.models import User
from portal.accounts.services import create_user
from portal.accounts.tokens import issue_token
from portal.bookings.models import Booking, BookingStatus
from portal.db import utcnow
from portal.extensions import db
from portal.payments import cards, confirmation, intents
from portal.runtime import settle_heap
from tests.support.localstripe import SECRET_KEY, LocalStripe
from tests.support.servers import free_port

GOAL_MS = 12.0
WARMUP = 10
COUNTED = 5


def build_app(stripe_base: str, database_url: str | None, redis_url: str | None):
    url = database_url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.sqlite3'}"
    if url.startswith("postgresql://"):
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench",
            "STRIPE_API_BASE": stripe_base,
            "STRIPE_JS_URL": f"{stripe_base}/js.stripe.com/v3/",
            "STRIPE_SECRET_KEY": SECRET_KEY,
            "STRIPE_MAX_NETWORK_RETRIES": 0,
            "RATELIMIT_ENABLED": False,
            # The receipt is queued for a worker (none runs): its building is not the
            # payment's cost. Without Redis, tasks run in process and build it here.
            "CELERY_BROKER_URL": redis_url,
            "CELERY_RESULT_BACKEND": redis_url,
            "MAIL_SUPPRESS_SEND": True,
        }
    )


def seed(app, localstripe: LocalStripe, lessons: int) -> dict:
    """A tutor, a student with a saved card, and `lessons` unpaid lessons an hour apart."""
    with app.app_context():
        db.drop_all()
        db.create_all()
        tutor = create_user("tutor@bench.m4sh.app", "bench-password-1", "tutor", hourly_rate=4500)
        student = create_user("student@bench.m4sh.app", "bench-password-1", "student")
        card = cards.add_payment_method(student, localstripe.token())
        start = (utcnow() + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
        booking_ids = []
        for i in range(lessons):
            starts = start + timedelta(hours=i)
            booking = Booking(
                tutor_id=tutor.id,
                student_id=student.id,
                starts_at=starts,
                ends_at=starts + timedelta(minutes=60),
                duration_minutes=60,
                price=4500,
                currency="usd",
                status=BookingStatus.PENDING_PAYMENT,
            )
            db.session.add(booking)
            db.session.flush()
            booking_ids.append(booking.id)
        token = issue_token(student)
        db.session.commit()
        return {
            "student_id": student.id,
            "token": token,
            "card_id": card.id,
            "card": card.provider_method_id,
            "customer": student.stripe_customer_id,
            "bookings": booking_ids,
        }


def pay_through_api(client, headers: dict, booking_id: int, card_id: int) -> tuple[float, float]:
    started, cpu = time.perf_counter(), time.process_time()
    intent = client.post(
        "/api/v1/payments/intent/", json={"booking_id": booking_id}, headers=headers
    )
    confirm = client.post(
        f"/api/v1/payments/{intent.json['id']}/confirm/",
        json={"payment_method_id": card_id},
        headers=headers,
    )
    elapsed = time.perf_counter() - started, time.process_time() - cpu
    if intent.status_code != 201 or confirm.json.get("status") != "succeeded":
        raise RuntimeError(f"portal payment failed: {intent.json} {confirm.json}")
    return elapsed


def pay_through_services(app, student_id: int, booking_id: int, card_id: int):
    started, cpu = time.perf_counter(), time.process_time()
    with app.app_context():
        student = db.session.get(User, student_id)
        step = intents.create_payment_intent(student, booking_id)
        db.session.commit()
        step = confirmation.confirm_payment(student, step.payment.uuid, payment_method_id=card_id)
        status = step.payment.status
        db.session.commit()
    elapsed = time.perf_counter() - started, time.process_time() - cpu
    if status != "succeeded":
        raise RuntimeError(f"service payment failed: {status}")
    return elapsed


def pay_directly(client: stripe.StripeClient, customer: str, card: str, n: int):
    started, cpu = time.perf_counter(), time.process_time()
    intent = client.v1.payment_intents.create(
        {
            "amount": 4500,
            "currency": "usd",
            "customer": customer,
            "payment_method_types": ["card"],
            "metadata": {"booking_id": str(n)},
        },
        {"idempotency_key": f"bench-direct-{n}"},
    )
    client.v1.payment_intents.update(intent.id, {"payment_method": card})
    confirmed = client.v1.payment_intents.confirm(intent.id)
    elapsed = time.perf_counter() - started, time.process_time() - cpu
    if confirmed.status != "succeeded":
        raise RuntimeError(f"direct payment failed: {confirmed.status}")
    return elapsed


def run(payments: int, database_url: str | None, redis_url: str | None, profile: bool) -> dict:
    localstripe = LocalStripe(f"http://127.0.0.1:{free_port()}")
    if not localstripe.start():
        sys.exit(f"localstripe did not start; see {localstripe.log_path}")
    if redis_url:
        redis.Redis.from_url(redis_url).flushdb()
    try:
        app = build_app(localstripe.url, database_url, redis_url)
        data = seed(app, localstripe, 2 * (payments + WARMUP + COUNTED))
        direct = stripe.StripeClient(
            SECRET_KEY,
            base_addresses={"api": localstripe.url},
            max_network_retries=0,
            http_client=stripe.RequestsClient(timeout=10),
        )
        client = app.test_client()
        settle_heap()  # as a gunicorn worker does once the app is loaded
        headers = {"Authorization": f"Bearer {data['token']}"}
        lessons = iter(data["bookings"])
        samples: dict[str, list] = {"direct": [], "api": [], "services": []}
        profiler = profiled("payment_overhead", profile)
        for n in range(payments + WARMUP):
            if n == WARMUP:
                profiler.__enter__()
            taken = {
                "direct": pay_directly(direct, data["customer"], data["card"], n),
                "api": pay_through_api(client, headers, next(lessons), data["card_id"]),
                "services": pay_through_services(
                    app, data["student_id"], next(lessons), data["card_id"]
                ),
            }
            if n >= WARMUP:
                for key, value in taken.items():
                    samples[key].append(value)
        profiler.__exit__(None, None, None)
        with app.app_context():
            engine = db.engine
        counted = {}
        with StatementCounter(engine) as counter:
            for _ in range(COUNTED):
                pay_through_api(client, headers, next(lessons), data["card_id"])
        counted["api"] = counter
        with StatementCounter(engine) as counter:
            for _ in range(COUNTED):
                pay_through_services(app, data["student_id"], next(lessons), data["card_id"])
        counted["services"] = counter
        return {
            "samples": samples,
            "counted": counted,
            "db": app.config["SQLALCHEMY_DATABASE_URI"].split(":")[0],
        }
    finally:
        localstripe.stop()
        if redis_url:
            redis.Redis.from_url(redis_url).flushdb()


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f} ms"


def _row(label: str, values: list[float]) -> str:
    p95 = sorted(values)[int(len(values) * 0.95) - 1]
    return f"{label:44}{ms(statistics.mean(values))}{ms(statistics.median(values))}{ms(p95)}"


def report(result: dict) -> dict:
    samples = result["samples"]
    wall = {key: [w for w, _ in values] for key, values in samples.items()}
    cpu = {key: [c for _, c in values] for key, values in samples.items()}
    count = len(wall["direct"])
    print(f"Lesson payments: {count} each way (after {WARMUP} warm-up), database: {result['db']}")
    print(f"{'':44}{'mean':>11}{'median':>11}{'p95':>11}")
    print(_row("direct Stripe calls (baseline)", wall["direct"]))
    verdicts = []
    for key, label in (("api", "through the API"), ("services", "through the services")):
        over_wall = [p - d for p, d in zip(wall[key], wall["direct"], strict=True)]
        over_cpu = [p - d for p, d in zip(cpu[key], cpu["direct"], strict=True)]
        print(_row(label, wall[key]))
        print(_row("  overhead, wall clock", over_wall))
        print(_row("  overhead, this process's CPU", over_cpu))
        mean = statistics.mean(over_wall) * 1000
        verdicts.append(f"{label}: {mean:.2f} ms, {'meets' if mean <= GOAL_MS else 'MISSES'} it")
    print(
        f"Goal: overhead ≤ {GOAL_MS:.0f} ms per payment (wall clock, mean) — {'; '.join(verdicts)}."
    )
    figures = {
        "direct_ms": statistics.mean(wall["direct"]) * 1000,
        "overhead_ms": statistics.mean(
            p - d for p, d in zip(wall["api"], wall["direct"], strict=True)
        )
        * 1000,
        "services_overhead_ms": statistics.mean(
            p - d for p, d in zip(wall["services"], wall["direct"], strict=True)
        )
        * 1000,
        "overhead_cpu_ms": statistics.mean(
            p - d for p, d in zip(cpu["api"], cpu["direct"], strict=True)
        )
        * 1000,
    }
    print(f"{'per payment (create intent + confirm)':44}{'statements':>11}{'round trips':>13}")
    for key, counter in result["counted"].items():
        statements, trips = counter.statements / COUNTED, counter.round_trips / COUNTED
        print(f"{'  through the ' + key:44}{statements:11.1f}{trips:13.1f}")
        figures[f"{key}_statements"] = statements
        figures[f"{key}_round_trips"] = trips
    print(f"Load average while running: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs.")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=200)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--show-statements", action="store_true")
    add_run_options(parser)
    args = parser.parse_args()
    payments = 40 if args.short else args.payments
    result = run(payments, args.database_url, args.redis_url or None, args.profile)
    if args.show_statements:
        for key, counter in result["counted"].items():
            print(f"-- one payment through the {key}:")
            for statement in counter.log[: len(counter.log) // COUNTED]:
                print(" ".join(statement.split())[:160])
    emit(args, report(result))


if __name__ == "__main__":
    main()
