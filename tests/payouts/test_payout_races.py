"""Races on PostgreSQL with real threads, real connections and row locks."""

from __future__ import annotations

from functools import partial

import pytest
import sqlalchemy as sa

from portal.accounts.models import User
from portal.audit.models import AuditLog
from portal.errors import InsufficientFunds, InvalidTransition
from portal.extensions import db
from portal.payouts import processing, requesting
from portal.payouts.models import PayoutRequest
from tests import factories
from tests.payouts.conftest import credit, figures
from tests.support.ledger import assert_ledger_ok
from tests.support.races import at_once

pytestmark = pytest.mark.postgres


def _race(app, jobs, expected_errors) -> list[str]:
    """Run each job (a function of nothing) in its own thread and connection, all at once;
    "ok" for each that committed, else the name of its expected error, sorted."""

    def committed(job) -> str:
        job()
        db.session.commit()
        return "ok"

    outcomes = at_once([partial(committed, job) for job in jobs], app=app, catch=expected_errors)
    db.session.expire_all()
    return sorted(o if o == "ok" else type(o).__name__ for o in outcomes)


def test_twenty_requests_for_sixty_percent_exactly_one_wins(app, postgres, bank_tutor):
    credit(bank_tutor, 10000)
    tutor_id = bank_tutor.id

    def ask():
        tutor = db.session.get(User, tutor_id)
        requesting.request_payout(tutor, amount=6000, payout_method="bank_transfer")

    outcomes = _race(app, [ask] * 20, InsufficientFunds)
    assert outcomes == ["InsufficientFunds"] * 19 + ["ok"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PayoutRequest)) == 1
    assert figures(tutor_id) == {"available": 4000, "in_flight": 6000, "withdrawn": 0}
    assert_ledger_ok()


def test_two_admins_processing_at_once_make_one_transfer(app, postgres, stripe_tutor, transfers):
    credit(stripe_tutor, 10000)
    admins = [factories.UserFactory(role="admin").id for _ in range(2)]
    payout = requesting.request_payout(stripe_tutor, amount=7000, payout_method="stripe")
    processing.approve_payout(None, payout.uuid)
    db.session.commit()
    payout_id, row_id = payout.uuid, payout.id  # threads must not touch the test's session
    transfers.delay = 0.5  # Stripe is slow: the second admin arrives while the first waits

    def process_as(admin_id):
        return lambda: processing.process_payout(db.session.get(User, admin_id), payout_id)

    outcomes = _race(app, [process_as(a) for a in admins], InvalidTransition)
    assert outcomes == ["InvalidTransition", "ok"]
    assert len(transfers.requests) == 1 and len(transfers.created) == 1
    assert db.session.get(PayoutRequest, row_id).status == "completed"
    processing_rows = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(AuditLog)
        .where(AuditLog.action == "payout.processing")
    )
    assert processing_rows == 1
    assert figures(stripe_tutor.id) == {"available": 3000, "in_flight": 0, "withdrawn": 7000}
    assert_ledger_ok()


def test_cancel_and_approve_at_once_one_of_them_wins(app, postgres, bank_tutor):
    credit(bank_tutor, 15000)
    admin_id, tutor_id = factories.UserFactory(role="admin").id, bank_tutor.id
    in_flight = 0
    for _ in range(3):  # whichever locks first wins; the other is refused, never both
        payout = requesting.request_payout(bank_tutor, amount=5000, payout_method="bank_transfer")
        db.session.commit()
        payout_id, row_id = payout.uuid, payout.id
        jobs = [
            lambda p=payout_id: requesting.cancel_payout(db.session.get(User, tutor_id), p),
            lambda p=payout_id: processing.approve_payout(db.session.get(User, admin_id), p),
        ]
        assert _race(app, jobs, InvalidTransition) == ["InvalidTransition", "ok"]
        status = db.session.get(PayoutRequest, row_id).status
        assert status in ("cancelled", "approved")
        in_flight += 5000 if status == "approved" else 0
        assert figures(tutor_id)["in_flight"] == in_flight
        assert figures(tutor_id)["available"] == 15000 - in_flight
    assert_ledger_ok()


def test_ten_clicks_with_one_request_key_make_one_payout(app, postgres, bank_tutor):
    credit(bank_tutor, 10000)
    tutor_id = bank_tutor.id

    def click():
        tutor = db.session.get(User, tutor_id)
        requesting.request_payout(
            tutor, amount=2000, payout_method="bank_transfer", request_key="one-click-0001"
        )

    outcomes = _race(app, [click] * 10, InsufficientFunds)
    assert outcomes == ["ok"] * 10
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PayoutRequest)) == 1
    assert figures(tutor_id) == {"available": 8000, "in_flight": 2000, "withdrawn": 0}
    assert_ledger_ok()
