"""The same `Idempotency-Key` sent several times at once, on PostgreSQL with real threads:
one object is made and every sender gets its answer."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.payments.models import Payment, Refund
from portal.wallets import admin_api
from tests.factories import BookingFactory
from tests.idempotency.conftest import ADJUST, INVOICES, available, invoices, keys, lines
from tests.support.ledger import assert_ledger_ok
from tests.support.races import at_once

pytestmark = pytest.mark.postgres


def _send_at_once(app, url, bodies, headers) -> list[tuple[int, bytes, bool]]:
    """POST each body at the same moment, each from its own thread, client and connection;
    (status, body, replayed) of each answer, in the order given."""

    def send(body):
        answer = app.test_client().post(url, json=body, headers=headers)
        return answer.status_code, answer.get_data(), "Idempotent-Replayed" in answer.headers

    return at_once([lambda body=body: send(body) for body in bodies], app=app)


@pytest.fixture
def slow_adjustments(monkeypatch):
    """The first request is still working when the others arrive with its key."""
    make = admin_api.make_adjustment

    def slowly(*args, **kwargs):
        time.sleep(0.3)
        return make(*args, **kwargs)

    monkeypatch.setattr(admin_api, "make_adjustment", slowly)


def test_four_at_once_with_one_key_make_one_adjustment(
    app, postgres, bearer, admin, funded_tutor, slow_adjustments
):
    headers = {**bearer(admin), "Idempotency-Key": "race-bonus-0001"}
    body = {"amount": 700, "reason": "Bonus"}
    answers = _send_at_once(app, ADJUST.format(funded_tutor.id), [body] * 4, headers)
    assert [status for status, _, _ in answers] == [201] * 4
    assert len({content for _, content, _ in answers}) == 1
    assert sorted(replayed for _, _, replayed in answers) == [False, True, True, True]
    assert available(funded_tutor.id) == 5000 + 700
    assert lines() == 2
    assert [(k.key, k.status_code) for k in keys()] == [("race-bonus-0001", 201)]
    assert_ledger_ok()


def test_the_key_sent_at_once_with_another_body_is_refused(
    app, postgres, bearer, admin, funded_tutor, slow_adjustments
):
    headers = {**bearer(admin), "Idempotency-Key": "race-bonus-0002"}
    same, other = {"amount": 700, "reason": "Bonus"}, {"amount": 900, "reason": "Bonus"}
    answers = _send_at_once(app, ADJUST.format(funded_tutor.id), [same, same, other], headers)
    statuses = sorted(status for status, _, _ in answers)
    # Whichever body claims the key first is made; the other body is refused.
    assert statuses == [201, 201, 409] or statuses == [201, 409, 409]
    assert available(funded_tutor.id) in (5700, 5900)
    assert lines() == 2


def test_four_at_once_with_one_key_make_one_invoice(app, postgres, bearer, admin, student):
    headers = {**bearer(admin), "Idempotency-Key": "race-invoice-0001"}
    body = {"student_id": student.id, "items": [{"description": "Workbook", "quantity": 1,
                                                 "unit_price": 2500}]}  # fmt: skip
    answers = _send_at_once(app, INVOICES, [body] * 4, headers)
    assert [status for status, _, _ in answers] == [201] * 4
    assert len({content for _, content, _ in answers}) == 1
    assert invoices() == 1


def test_four_partial_refunds_at_once_with_one_key_refund_once(
    app, postgres, bearer, admin, student, tutor, pay
):
    paid = pay(student, BookingFactory(student=student, tutor=tutor))
    headers = {**bearer(admin), "Idempotency-Key": "race-refund-0001"}
    url = f"/api/v1/payments/{paid.uuid}/refund/"
    answers = _send_at_once(app, url, [{"amount": 1000, "reason": "Late start"}] * 4, headers)
    assert [status for status, _, _ in answers] == [201] * 4
    assert len({content for _, content, _ in answers}) == 1
    db.session.expire_all()
    assert db.session.get(Payment, paid.id).amount_refunded == 1000
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Refund)) == 1
    assert_ledger_ok()
