"""`flask ledger check` covers subscription money: it names each drift."""

from __future__ import annotations

import sqlalchemy as sa

from portal.books.checks import check_invariants
from portal.extensions import db
from portal.subscriptions.models import SubscriptionPeriod
from portal.wallets.earnings import process_subscription_earning
from tests.subscriptions.money_support import make_plan, subscribe
from tests.support.ledger import assert_ledger_ok


def _names() -> set[str]:
    return {drift.invariant for drift in check_invariants()}


def test_a_share_paid_out_of_no_period_is_a_drift(student, tutor):
    process_subscription_earning(tutor_id=tutor.id, gross=2500, fee=375, idempotency_key="x:1")
    db.session.commit()
    assert {
        "unearned subscription revenue negative",
        "unearned subscription revenue moved outside a period",
    } <= _names()


def test_a_period_whose_row_and_entries_differ_is_a_drift(student):
    subscribe(student, make_plan(price=20000))
    assert_ledger_ok()
    db.session.execute(sa.update(SubscriptionPeriod).values(amount_paid=30000))
    db.session.commit()
    assert {
        "subscription period differs from its entries",
        "unearned subscription revenue differs from its periods",
    } <= _names()


def test_money_carried_out_of_a_period_that_no_period_carried_in_is_a_drift(student):
    subscribe(student, make_plan(price=20000))
    db.session.execute(sa.update(SubscriptionPeriod).values(carried_out=5000))
    db.session.commit()
    assert {
        "subscription periods carried money that did not arrive",
        "unearned subscription revenue differs from its periods",
    } <= _names()


def test_lesson_counts_that_match_no_booking_are_a_drift(student):
    subscribe(student, make_plan(lessons=3))
    db.session.execute(sa.update(SubscriptionPeriod).values(lessons_used=2))
    db.session.commit()
    assert "subscription period differs from its lessons" in _names()


def test_the_command_says_ok_and_exits_1_on_drift(app, student):
    subscribe(student, make_plan())
    runner = app.test_cli_runner()
    assert runner.invoke(args=["ledger", "check"]).exit_code == 0
    db.session.execute(sa.update(SubscriptionPeriod).values(amount_paid=1))
    db.session.commit()
    result = runner.invoke(args=["ledger", "check"])
    assert result.exit_code == 1
    assert "subscription period differs from its entries" in result.output
