"""The daily auto-payout task: one request per due wallet per day, and never twice."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from portal.db import utcnow
from portal.extensions import db
from portal.payouts.models import PayoutRequest
from portal.payouts.requesting import request_auto_payout
from portal.payouts.settings import update_payout_settings
from portal.payouts.tasks import process_auto_payouts
from tests import factories
from tests.payouts.conftest import credit, figures, with_bank, with_stripe


def _tutor(balance: int, *, auto=True, threshold=5000, bank=True, stripe=False):
    tutor = factories.UserFactory(role="tutor")
    if bank:
        with_bank(tutor)
    if stripe:
        with_stripe(tutor)
    credit(tutor, balance)
    update_payout_settings(tutor.id, payout_threshold=threshold, auto_payout_enabled=auto)
    db.session.commit()
    return tutor


def _payouts() -> list[PayoutRequest]:
    return list(db.session.scalars(sa.select(PayoutRequest).order_by(PayoutRequest.id)))


def test_due_wallets_get_one_request_for_everything_available():
    due = _tutor(12000)
    at_threshold = _tutor(5000)
    below = _tutor(4999)
    switched_off = _tutor(20000, auto=False)
    nowhere_to_send = _tutor(20000, bank=False)
    assert process_auto_payouts.apply().get() == {"requested": 2, "skipped": 1}
    payouts = _payouts()
    assert [(p.tutor_id, p.amount, p.status, p.auto) for p in payouts] == [
        (due.id, 12000, "pending", True),
        (at_threshold.id, 5000, "pending", True),
    ]
    assert all(p.requested_by_id is None and p.payout_method == "bank_transfer" for p in payouts)
    assert figures(due.id) == {"available": 0, "in_flight": 12000, "withdrawn": 0}
    for untouched, balance in ((below, 4999), (switched_off, 20000), (nowhere_to_send, 20000)):
        assert figures(untouched.id)["available"] == balance


def test_running_again_the_same_day_changes_nothing():
    tutor = _tutor(12000)
    process_auto_payouts.apply()
    credit(tutor, 9000)  # above the threshold again, the same day
    assert process_auto_payouts.apply().get() == {"requested": 0, "skipped": 1}
    assert len(_payouts()) == 1
    assert figures(tutor.id)["available"] == 9000
    assert request_auto_payout(tutor.id, utcnow().date()) is None


def test_stripe_is_preferred_when_connected():
    tutor = _tutor(12000, stripe=True)
    process_auto_payouts.apply()
    (payout,) = _payouts()
    assert payout.payout_method == "stripe" and payout.tutor_id == tutor.id
    assert payout.stripe_account_id == "acct_1QUwQ2PxbDsyrmbL"


def test_a_new_day_is_a_new_request():
    tutor = _tutor(12000)
    assert request_auto_payout(tutor.id, date(2030, 1, 1)) is not None
    credit(tutor, 6000)
    assert request_auto_payout(tutor.id, date(2030, 1, 1)) is None
    assert request_auto_payout(tutor.id, date(2030, 1, 2)).amount == 6000
