"""Billing periods: a paid invoice opens one, its money waits as unearned revenue, and a
period that ends without its lessons leaves the rest to platform revenue."""

from __future__ import annotations

from portal.extensions import db
from portal.ledger.models import LedgerEntry
from portal.subscriptions.models import SubscriptionPeriod
from portal.subscriptions.periods import close_period, current_period
from tests.subscriptions.money_support import balances, count, make_plan, renew, subscribe
from tests.support.ledger import assert_ledger_ok


def test_a_paid_invoice_opens_a_period_and_its_money_waits_unearned(student):
    subscription = subscribe(student, make_plan(price=20000, lessons=3), invoice="in_1")
    period = current_period(subscription)
    assert (period.amount_paid, period.lessons_allowed, period.lessons_used) == (20000, 3, 0)
    assert subscription.current_period_start == period.starts_at
    assert balances()["provider_cash"] == 20000
    assert balances()["subscriptions_unearned"] == 20000
    assert_ledger_ok()


def test_the_same_invoice_twice_opens_one_period_and_posts_once(student):
    subscription = subscribe(student, make_plan(), invoice="in_1")
    first = current_period(subscription)
    again = renew(subscription, paid=20000, invoice="in_1")
    db.session.commit()
    assert again.id == first.id
    assert count(SubscriptionPeriod) == 1
    assert count(LedgerEntry) == 1
    assert balances()["subscriptions_unearned"] == 20000


def test_none_used_the_whole_price_becomes_revenue_when_the_period_ends(student):
    subscription = subscribe(student, make_plan(price=20000, lessons=3), invoice="in_1")
    renew(subscription, paid=20000, invoice="in_2")
    db.session.commit()
    periods = db.session.query(SubscriptionPeriod).order_by(SubscriptionPeriod.id).all()
    assert periods[0].closed_at is not None and periods[0].to_revenue == 20000
    assert periods[1].closed_at is None
    assert current_period(subscription).id == periods[1].id
    assert balances()["subscription_revenue"] == 20000
    assert balances()["subscriptions_unearned"] == 20000  # the new period's
    assert balances()["provider_cash"] == 40000
    close_period(periods[1])
    close_period(periods[1])  # once only
    db.session.commit()
    assert balances()["subscription_revenue"] == 40000
    assert balances()["subscriptions_unearned"] == 0
    assert_ledger_ok()


def test_a_trial_period_posts_nothing(student):
    subscription = subscribe(student, make_plan(), paid=0)
    assert current_period(subscription).amount_paid == 0
    assert count(LedgerEntry) == 0
    close_period(current_period(subscription))
    db.session.commit()
    assert count(LedgerEntry) == 0
