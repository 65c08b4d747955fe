"""The three scheduled subscription tasks and the four e-mails."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.celery import BEAT_SCHEDULE
from portal.db import utcnow
from portal.extensions import db
from portal.invoices.models import Invoice
from portal.subscriptions import events, services
from portal.subscriptions.models import Plan, Subscription, SubscriptionStatus
from tests.subscriptions.stripe_support import invoices, periods
from tests.support.ledger import assert_ledger_ok
from tests.support.localstripe import SECRET_KEY
from tests.support.stripe_replay import recorded

pytestmark = pytest.mark.stripe
SUB = "sub_1QbX7vKx3oV2nQeRsubscr01"
TASKS = ("sync_subscription_status", "expire_subscriptions", "generate_monthly_invoices")


def _run(app, name: str) -> str:
    result = app.test_cli_runner().invoke(args=["tasks", "run", name])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    return result.output


def _reload(sub: Subscription) -> Subscription:
    db.session.expire_all()
    return db.session.get(Subscription, sub.id)


def _subject(message) -> str:
    return str(message["Subject"])


def _text(message) -> str:
    return message.get_body(("plain",)).get_content()


def _recorded_plan() -> Plan:
    plan = Plan(
        slug="four-a-month",
        name="Four A Month",
        price=16000,
        currency="usd",
        interval="month",
        lessons_per_month=4,
        features=[],
        provider_product_id="prod_four",
        provider_price_id="price_1QZr8mKx3oV2nQeR7monthly4",
    )
    db.session.add(plan)
    db.session.commit()
    return plan


@pytest.fixture
def recorded_subscription(stripe_replay, card_holder):
    """A student subscribed through Stripe's recorded answer (an active subscription)."""
    stripe_replay.answer("POST", "/v1/subscriptions", "subscription_active")
    student = card_holder()
    created = services.create_subscription(student, _recorded_plan())
    db.session.commit()
    return created.subscription


def test_the_tasks_are_scheduled():
    assert set(TASKS) <= set(BEAT_SCHEDULE)


def test_sync_asks_stripe_about_stale_subscriptions(app, localstripe, stripe_plan, card_holder):
    student = card_holder()
    sub = services.create_subscription(student, stripe_plan()).subscription
    db.session.commit()
    localstripe.http.post(
        f"{localstripe.url}/v1/subscriptions/{sub.provider_subscription_id}",
        data={"cancel_at_period_end": "true"},
        auth=(SECRET_KEY, ""),
        timeout=5,
    ).raise_for_status()  # changed at Stripe; its webhook never came
    fresh = _run(app, "sync_subscription_status")
    assert "subscriptions checked: none" in fresh  # confirmed a moment ago
    sub.synced_at = utcnow() - timedelta(days=2)
    db.session.commit()
    assert "1 active" in _run(app, "sync_subscription_status")
    assert _reload(sub).cancel_at_period_end


def test_expire_ends_a_subscription_that_ran_out(app, stripe_replay, recorded_subscription, inbox):
    sub = recorded_subscription
    sub.cancel_at_period_end = True
    db.session.commit()
    stripe_replay.answer("GET", f"/v1/subscriptions/{SUB}", "subscription_ran_out")
    assert "1 expired" in _run(app, "expire_subscriptions")
    sub = _reload(sub)
    assert sub.status == SubscriptionStatus.EXPIRED and sub.ended_at is not None
    assert all(period.closed_at is not None for period in periods())
    ended = [m for m in inbox if "has ended" in _subject(m)]
    assert len(ended) == 1 and "/subscription" in _text(ended[0])
    assert "none" in _run(app, "expire_subscriptions")
    assert_ledger_ok()


def test_expire_ends_a_subscription_past_due_after_the_grace(
    app, stripe_replay, recorded_subscription
):
    sub = recorded_subscription
    sub.status = SubscriptionStatus.PAST_DUE
    db.session.commit()
    stripe_replay.answer("GET", f"/v1/subscriptions/{SUB}", "subscription_past_due")
    ended = recorded("subscription_past_due") | {"status": "canceled", "ended_at": 1767000000}
    stripe_replay.answer_json("DELETE", f"/v1/subscriptions/{SUB}", ended)
    assert "1 expired" in _run(app, "expire_subscriptions")
    assert len(stripe_replay.seen("DELETE", f"/v1/subscriptions/{SUB}")) == 1
    assert _reload(sub).status == SubscriptionStatus.EXPIRED


def test_monthly_invoices_fill_in_a_missing_one_once(app, localstripe, stripe_plan, card_holder):
    services.create_subscription(card_holder(), stripe_plan())
    db.session.commit()
    [invoice] = invoices()
    provider_invoice_id = invoice.provider_invoice_id
    db.session.delete(invoice)
    db.session.commit()
    assert "1 invoiced" in _run(app, "generate_monthly_invoices")
    [again] = invoices()
    assert again.provider_invoice_id == provider_invoice_id and again.total == 20000
    assert "1 up to date" in _run(app, "generate_monthly_invoices")
    assert db.session.query(Invoice).count() == 1 and len(periods()) == 1


def test_started_and_ended_mails(localstripe, stripe_plan, card_holder, inbox):
    student = card_holder()
    services.create_subscription(student, stripe_plan())
    db.session.commit()
    started = [m for m in inbox if "has started" in _subject(m)]
    assert len(started) == 1 and str(started[0]["To"]) == student.email
    assert "4 lessons a month" in _text(started[0])
    assert "/subscription" in started[0].get_body(("html",)).get_content()
    services.cancel_subscription(student, immediately=True)
    db.session.commit()
    assert len([m for m in inbox if "has ended" in _subject(m)]) == 1


def test_payment_failed_mail_links_to_paying_again(recorded_subscription, inbox):
    failed = recorded("invoice_past_due_paid") | {"status": "open", "amount_paid": 0}
    events.invoice_payment_failed(failed)
    db.session.commit()
    events.invoice_payment_failed(failed)  # Stripe's next retry of the same invoice
    db.session.commit()
    mails = [m for m in inbox if "did not go through" in _subject(m)]
    assert len(mails) == 1
    assert "Pay again" in _text(mails[0]) and "/subscription" in _text(mails[0])
    assert _reload(recorded_subscription).status == SubscriptionStatus.PAST_DUE


def test_trial_reminder_three_days_before(stripe_replay, card_holder, inbox):
    stripe_replay.answer("POST", "/v1/subscriptions", "subscription_trialing")
    student = card_holder()
    sub = services.create_subscription(student, _recorded_plan()).subscription
    db.session.commit()
    events.trial_will_end(recorded("subscription_trialing"))
    db.session.commit()
    [reminder] = [m for m in inbox if "trial ends in 3 days" in _subject(m)]
    assert sub.trial_end.strftime("%d %b %Y") in _text(reminder)
