"""Refunds: the student's policy, the admin's partial refunds, the split and the lesson."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.bookings.models import BookingStatus
from portal.db import utcnow
from portal.errors import Forbidden, InvalidTransition, NotFound, ValidationError
from portal.extensions import db
from portal.payments import intents, refunds
from portal.payments.models import Payment, PaymentStatus, RefundStatus
from portal.payments.signals import payment_refunded
from portal.providers import get_provider
from portal.providers.base import ProviderRefund
from tests.factories import BookingFactory, UserFactory
from tests.support.localstripe import DECLINED

pytestmark = pytest.mark.stripe


@pytest.fixture
def paid(student, lesson, pay):
    return pay(student, lesson)


@pytest.fixture
def refunds_sent():
    seen = []

    def receiver(payment, refund, **_):
        seen.append((refund.amount, refund.fee_part, refund.net_part))

    payment_refunded.connect(receiver)
    yield seen
    payment_refunded.disconnect(receiver)


def test_a_student_refunds_in_full_before_the_cutoff(student, paid, localstripe, refunds_sent):
    refund = refunds.process_refund(student, paid.uuid, reason="plans changed")
    db.session.commit()

    payment = db.session.get(Payment, paid.id)
    assert (payment.status, payment.amount_refunded, payment.fee_refunded) == (
        PaymentStatus.REFUNDED,
        4500,
        675,
    )
    assert payment.booking.status == BookingStatus.CANCELLED and payment.booking.cancelled_at
    assert (refund.amount, refund.fee_part, refund.net_part) == (4500, 675, 3825)
    assert refund.status == RefundStatus.SUCCEEDED and refund.provider_refund_id.startswith("re_")
    assert refund.reason == "plans changed" and refund.requested_by_id == student.id
    assert refunds_sent == [(4500, 675, 3825)]
    charge = localstripe.get(f"/v1/charges/{payment.provider_charge_id}")
    assert charge["amount_refunded"] == 4500


def test_a_student_cannot_refund_inside_the_cutoff(student, tutor, pay):
    soon = BookingFactory(student=student, tutor=tutor, starts_at=utcnow() + timedelta(hours=23))
    payment = pay(student, soon)
    with pytest.raises(InvalidTransition, match="24 hours before"):
        refunds.process_refund(student, payment.uuid)
    assert db.session.get(Payment, payment.id).amount_refunded == 0


def test_a_student_refunds_only_in_full(student, paid):
    with pytest.raises(InvalidTransition, match="full amount"):
        refunds.process_refund(student, paid.uuid, amount=1000)


def test_a_student_cannot_refund_a_completed_lesson(student, paid):
    paid.booking.status = BookingStatus.COMPLETED
    db.session.commit()
    with pytest.raises(InvalidTransition, match="completed lesson"):
        refunds.process_refund(student, paid.uuid)


def test_an_admin_refunds_in_parts_and_the_last_takes_the_remainder(admin, paid, refunds_sent):
    first = refunds.process_refund(admin, paid.uuid, amount=1001, reason="late tutor")
    db.session.commit()
    assert db.session.get(Payment, paid.id).status == PaymentStatus.PARTIALLY_REFUNDED
    assert paid.booking.status == BookingStatus.SCHEDULED
    rest = refunds.process_refund(admin, paid.uuid)  # no amount: what remains
    db.session.commit()

    payment = db.session.get(Payment, paid.id)
    assert (first.amount, rest.amount) == (1001, 3499)
    assert first.fee_part + rest.fee_part == 675 and first.net_part + rest.net_part == 3825
    assert (payment.status, payment.amount_refunded) == (PaymentStatus.REFUNDED, 4500)
    assert payment.booking.status == BookingStatus.CANCELLED
    assert refunds_sent == [(1001, 150, 851), (3499, 525, 2974)]


def test_an_admin_refund_of_a_completed_lesson_keeps_it_completed(admin, paid):
    paid.booking.status = BookingStatus.COMPLETED
    db.session.commit()
    refunds.process_refund(admin, paid.uuid)
    assert db.session.get(Payment, paid.id).booking.status == BookingStatus.COMPLETED


def test_more_than_remains_is_refused(admin, paid):
    refunds.process_refund(admin, paid.uuid, amount=4000)
    db.session.commit()
    with pytest.raises(ValidationError, match=r"At most \$5.00"):
        refunds.process_refund(admin, paid.uuid, amount=501)
    assert db.session.get(Payment, paid.id).amount_refunded == 4000


@pytest.mark.parametrize("bad", [0, -5, "10", 1.5, True, 10**12])
def test_a_bad_amount_is_bad_input(admin, paid, bad):
    with pytest.raises(ValidationError):
        refunds.process_refund(admin, paid.uuid, amount=bad)


def test_a_payment_that_did_not_go_through_is_not_refunded(student, admin, lesson, pay):
    failed = pay(student, lesson, DECLINED)
    with pytest.raises(InvalidTransition, match="went through"):
        refunds.process_refund(admin, failed.uuid)


def test_a_pending_payment_is_not_refunded(student, admin, lesson, localstripe):
    step = intents.create_payment_intent(student, lesson.id)
    db.session.commit()
    with pytest.raises(InvalidTransition):
        refunds.process_refund(admin, step.payment.uuid)


def test_a_refunded_payment_is_not_refunded_again(student, paid):
    refunds.process_refund(student, paid.uuid)
    db.session.commit()
    with pytest.raises(InvalidTransition, match="already been refunded"):
        refunds.process_refund(student, paid.uuid)


def test_tutors_cannot_refund(tutor, paid):
    with pytest.raises(Forbidden):
        refunds.process_refund(tutor, paid.uuid)


def test_somebody_elses_payment_is_not_found(paid):
    with pytest.raises(NotFound):
        refunds.process_refund(UserFactory(role="student"), paid.uuid)


def test_a_too_long_reason_is_bad_input(student, paid):
    with pytest.raises(ValidationError):
        refunds.process_refund(student, paid.uuid, reason="x" * 501)


def test_the_same_provider_refund_is_applied_once(admin, paid, refunds_sent):
    refund = refunds.process_refund(admin, paid.uuid, amount=1000)
    db.session.commit()
    again = ProviderRefund(
        id=refund.provider_refund_id, amount=1000, currency="usd", status="succeeded"
    )
    assert refunds.apply_provider_refund(paid, again) == refund
    assert db.session.get(Payment, paid.id).amount_refunded == 1000
    assert len(refunds_sent) == 1


def test_a_refund_made_at_the_provider_is_recorded_when_reported(paid, refunds_sent):
    made = get_provider().create_refund(
        payment_intent=paid.provider_payment_id, amount=500, idempotency_key="dashboard-1"
    )
    refund = refunds.apply_provider_refund(paid, made)
    db.session.commit()
    assert (refund.amount, refund.requested_by_id, refund.provider_refund_id) == (
        500,
        None,
        made.id,
    )
    assert db.session.get(Payment, paid.id).amount_refunded == 500
    assert refunds_sent == [(500, 75, 425)]


def test_a_failed_provider_refund_moves_no_money(paid, refunds_sent):
    failed = ProviderRefund(id="re_failed1", amount=500, currency="usd", status="failed")
    refund = refunds.apply_provider_refund(paid, failed)
    assert refund.status == RefundStatus.FAILED
    assert db.session.get(Payment, paid.id).amount_refunded == 0
    assert refunds_sent == []


def test_an_admins_double_click_refunds_once(login, admin, paid, refunds_sent):
    import re

    office = login(admin)
    page = office.get(f"/admin/payments/{paid.uuid}").get_data(as_text=True)
    key = re.search(r'name="request_key" type="hidden" value="([0-9a-f]{32})"', page).group(1)
    form = {"amount": "10.00", "reason": "Late start", "request_key": key, "confirm": "1"}
    assert office.post(f"/admin/payments/{paid.uuid}/refund", form).status_code == 302
    assert office.post(f"/admin/payments/{paid.uuid}/refund", form).status_code == 302
    db.session.expire_all()
    payment = db.session.get(Payment, paid.id)
    assert (payment.amount_refunded, len(payment.refunds), len(refunds_sent)) == (1000, 1, 1)


def test_the_api_takes_an_idempotency_key_for_refunds(client, admin, bearer, paid, refunds_sent):
    headers = {**bearer(admin), "Idempotency-Key": "refund-click-0001"}
    url = f"/api/v1/payments/{paid.uuid}/refund/"
    first = client.post(url, json={"amount": 1000}, headers=headers)
    again = client.post(url, json={"amount": 1000}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json["refund"]["id"] == again.json["refund"]["id"]
    other = client.post(url, json={"amount": 500}, headers=headers)
    assert other.status_code == 409 and other.json["error"]["code"] == "idempotency_key_reused"
    bad = client.post(url, json={"amount": 500}, headers={**headers, "Idempotency-Key": "no"})
    assert bad.status_code == 400
    assert (db.session.get(Payment, paid.id).amount_refunded, len(refunds_sent)) == (1000, 1)


def test_a_stale_pending_never_takes_a_refund_back_from_succeeded(admin, paid):
    made = refunds.process_refund(admin, paid.uuid, amount=1000)
    db.session.commit()
    assert made.status == RefundStatus.SUCCEEDED
    stale = ProviderRefund(
        id=made.provider_refund_id, amount=1000, currency="usd", status="pending"
    )
    refunds.apply_provider_refund(paid, stale)
    db.session.commit()
    db.session.refresh(made)
    assert made.status == RefundStatus.SUCCEEDED
