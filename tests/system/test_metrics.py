"""`/metrics`: off until a token or addresses are set, Prometheus text, and the figures
operators watch."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from portal.bookings.tasks import complete_ended_lessons
from portal.books.tasks import verify_ledger
from portal.config import Config
from portal.db import utcnow
from portal.extensions import db
from portal.payouts.models import PayoutRequest
from portal.system.models import TaskRun
from portal.wallets.adjustments import credit_wallet
from portal.wallets.models import TutorWallet
from portal.webhooks.models import WebhookEvent
from portal.webhooks.tasks import run_event

TOKEN = "scrape-token-for-tests"


@pytest.fixture
def scrape(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", TOKEN)

    def _scrape() -> dict:
        response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200
        assert response.mimetype == "text/plain"
        return _samples(response.get_data(as_text=True))

    return _scrape


def _samples(text: str) -> dict:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: dict, name: str, **labels) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def test_off_without_a_token_or_addresses(client):
    assert client.get("/metrics").status_code == 404


def test_a_wrong_or_missing_token_is_refused(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", TOKEN)
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 403
    # Not an API token: the API's authentication does not answer 401 for it.
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_allowed_addresses(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_ALLOWED_IPS", "10.0.0.0/8, 192.0.2.7")
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.7"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.8"}).status_code == 403


def test_a_malformed_allowed_address_stops_the_start():
    with pytest.raises(ValueError):
        Config({"METRICS_ALLOWED_IPS": "10.0.0.300"}).validate()


def test_request_latency_by_endpoint_and_status(client, scrape):
    before = _value(
        scrape(), "portal_http_request_duration_seconds_count",
        endpoint="health.healthz", method="GET", status="200",
    ) or 0  # fmt: skip
    client.get("/healthz")
    client.get("/no/such/page")
    samples = scrape()
    assert _value(
        samples, "portal_http_request_duration_seconds_count",
        endpoint="health.healthz", method="GET", status="200",
    ) == before + 1  # fmt: skip
    assert _value(
        samples, "portal_http_request_duration_seconds_count",
        endpoint="unmatched", method="GET", status="404",
    ) >= 1  # fmt: skip


def test_task_runs_failures_and_durations_by_task(scrape, monkeypatch):
    def counts():
        samples = scrape()
        task = "complete_ended_lessons"
        return (
            _value(samples, "portal_task_runs_total", task=task, outcome="success") or 0,
            _value(samples, "portal_task_duration_seconds_count", task=task) or 0,
            _value(samples, "portal_task_failures_total", task="verify_ledger") or 0,
        )

    runs, timed, failures = counts()
    complete_ended_lessons.apply()
    monkeypatch.setattr("portal.books.tasks.check_invariants", _broken)
    # As a worker runs it: the failure is the task's result, not raised into the caller
    # (an eager task that raises skips Celery's signals).
    assert isinstance(verify_ledger.apply(throw=False).result, RuntimeError)
    assert counts() == (runs + 1, timed + 1, failures + 1)


def test_payouts_open_scheduled_runs_and_the_ledger_check(app, tutor, scrape):
    samples = scrape()
    assert _value(samples, "portal_payouts_open", status="pending") == 0
    assert _value(samples, "portal_ledger_check_drifts") == -1
    assert _value(samples, "portal_ledger_check_timestamp_seconds") == 0

    credit_wallet(tutor_id=tutor.id, amount=9000, reason="r", idempotency_key="c")
    wallet = db.session.scalar(sa.select(TutorWallet).where(TutorWallet.tutor_id == tutor.id))
    for amount, state in (
        (2500, "pending"),
        (1500, "pending"),
        (3000, "approved"),
        (999, "completed"),
    ):
        db.session.add(
            PayoutRequest(
                wallet_id=wallet.id, tutor_id=tutor.id, amount=amount, currency="usd",
                status=state, payout_method="bank_transfer", destination="IBAN •••• 3000",
            )
        )  # fmt: skip
    db.session.commit()
    verify_ledger.apply()

    samples = scrape()
    assert _value(samples, "portal_payouts_open", status="pending") == 2
    assert _value(samples, "portal_payouts_open_amount", status="pending") == 4000
    assert _value(samples, "portal_payouts_open", status="approved") == 1
    assert _value(samples, "portal_payouts_open_amount", status="processing") == 0
    assert _value(samples, "portal_ledger_check_drifts") == 0
    run = db.session.scalar(sa.select(TaskRun).where(TaskRun.task_name == "verify_ledger"))
    assert _value(samples, "portal_ledger_check_timestamp_seconds") == pytest.approx(
        run.started_at.timestamp()
    )
    assert _value(
        samples, "portal_scheduled_task_last_run_timestamp_seconds",
        task="verify_ledger", outcome="succeeded",
    ) == pytest.approx(run.started_at.timestamp())  # fmt: skip


def _broken():
    raise RuntimeError("the check broke")


def test_webhook_events_by_type_and_outcome(scrape):
    def ignored():
        return _value(
            scrape(), "portal_webhook_events_total", type="plan.nothing", outcome="ignored"
        )

    before = ignored() or 0
    event = WebhookEvent(
        stripe_id="evt_metrics", type="plan.nothing", stripe_created=utcnow(), payload={}
    )
    db.session.add(event)
    db.session.commit()
    assert run_event(event.id).status == "ignored"
    assert ignored() == before + 1


def test_subscriptions_by_status(app, scrape):
    from portal.subscriptions.models import Plan, Subscription
    from tests import factories

    samples = scrape()
    assert _value(samples, "portal_subscriptions", status="active") == 0
    plan = Plan(slug="m4", name="Four", price=16000, currency="usd", lessons_per_month=4)
    db.session.add(plan)
    for state in ("active", "active", "past_due", "canceled"):
        student = factories.UserFactory(role="student")
        db.session.add(Subscription(student=student, plan=plan, status=state))
    db.session.commit()
    samples = scrape()
    assert _value(samples, "portal_subscriptions", status="active") == 2
    assert _value(samples, "portal_subscriptions", status="past_due") == 1
    assert _value(samples, "portal_subscriptions", status="canceled") == 1
    assert _value(samples, "portal_subscriptions", status="trialing") == 0
