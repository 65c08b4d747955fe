"""Confirming on the server: success, declines, 3-D Secure and the one success path."""

from __future__ import annotations

from dataclasses import replace

import pytest
import sqlalchemy as sa

from portal.bookings.models import BookingStatus
from portal.errors import Conflict, InvalidTransition, NotFound, ValidationError
from portal.extensions import db
from portal.payments import cards, confirmation, intents, outcome
from portal.payments.models import Payment, PaymentMethod, PaymentStatus
from portal.payments.signals import payment_failed, payment_succeeded
from portal.providers import get_provider
from tests.factories import UserFactory
from tests.support.localstripe import DECLINED, DECLINED_AT_CHARGE, THREE_D_SECURE, VISA

pytestmark = pytest.mark.stripe


@pytest.fixture
def sent():
    """The payment signals sent during the test, in order."""
    seen = []

    def on_success(payment, **_):
        seen.append(("succeeded", payment.uuid))

    def on_failure(payment, **_):
        seen.append(("failed", payment.uuid))

    payment_succeeded.connect(on_success)
    payment_failed.connect(on_failure)
    yield seen
    payment_succeeded.disconnect(on_success)
    payment_failed.disconnect(on_failure)


def test_a_new_card_pays_and_schedules_the_lesson(student, lesson, pay, sent):
    payment = pay(student, lesson, VISA)

    assert payment.status == PaymentStatus.SUCCEEDED and payment.succeeded_at
    assert payment.provider_charge_id.startswith("ch_")
    assert (payment.card_brand, payment.card_last4) == ("visa", "4242")
    assert db.session.get(type(lesson), lesson.id).status == BookingStatus.SCHEDULED
    assert sent == [("succeeded", payment.uuid)]
    # The card is saved for next time, as the page says.
    [card] = db.session.scalars(sa.select(PaymentMethod)).all()
    assert (card.user_id, card.card_last4, card.is_default) == (student.id, "4242", True)


def test_a_saved_card_pays(student, lesson, localstripe):
    card = cards.add_payment_method(student, localstripe.token())
    step = intents.create_payment_intent(student, lesson.id)
    step = confirmation.confirm_payment(student, step.payment.uuid, payment_method_id=card.id)
    assert step.payment.status == PaymentStatus.SUCCEEDED


def test_a_card_declined_on_attach_fails_with_stripes_message(student, lesson, pay, sent):
    payment = pay(student, lesson, DECLINED)

    assert payment.status == PaymentStatus.FAILED
    assert (payment.failure_code, payment.failure_message) == (
        "card_declined",
        "Your card was declined.",
    )
    assert db.session.get(type(lesson), lesson.id).status == BookingStatus.PENDING_PAYMENT
    assert db.session.scalars(sa.select(PaymentMethod)).all() == []
    assert sent == [("failed", payment.uuid)]


def test_a_card_declined_at_charge_fails_and_the_next_attempt_is_new(student, lesson, pay):
    failed = pay(student, lesson, DECLINED_AT_CHARGE)
    assert failed.status == PaymentStatus.FAILED
    assert failed.failure_message == "Your card was declined."

    retry = pay(student, lesson, VISA)
    assert retry.uuid != failed.uuid and retry.status == PaymentStatus.SUCCEEDED
    assert retry.idempotency_key.endswith("attempt-2-card")


def test_a_failed_attempt_cannot_be_confirmed_again(student, lesson, pay):
    failed = pay(student, lesson, DECLINED)
    with pytest.raises(InvalidTransition):
        confirmation.confirm_payment(student, failed.uuid)


def test_three_d_secure_asks_for_action_then_completes(student, lesson, localstripe, sent):
    step = intents.create_payment_intent(student, lesson.id)
    step = confirmation.confirm_payment(
        student, step.payment.uuid, provider_method_id=localstripe.token(THREE_D_SECURE)
    )
    db.session.commit()
    assert step.payment.status == PaymentStatus.PENDING
    assert step.payment.display_status == "requires_action"
    assert step.client_secret and step.client_secret.startswith(step.payment.provider_payment_id)
    assert sent == []

    localstripe.authenticate(step.client_secret)  # the bank's window, in Stripe.js
    done = confirmation.confirm_payment(student, step.payment.uuid)
    db.session.commit()
    assert done.payment.status == PaymentStatus.SUCCEEDED and done.client_secret is None
    assert sent == [("succeeded", step.payment.uuid)]


def test_three_d_secure_refused_by_the_bank_fails(student, lesson, localstripe):
    step = intents.create_payment_intent(student, lesson.id)
    step = confirmation.confirm_payment(
        student, step.payment.uuid, provider_method_id=localstripe.token(THREE_D_SECURE)
    )
    localstripe.authenticate(step.client_secret, success=False)
    done = confirmation.confirm_payment(student, step.payment.uuid)
    assert done.payment.status == PaymentStatus.FAILED
    assert "failed authentication" in done.payment.failure_message


def test_confirming_a_paid_payment_again_changes_nothing(student, lesson, pay, sent):
    payment = pay(student, lesson, VISA)
    again = confirmation.confirm_payment(student, payment.uuid)
    assert again.payment.status == PaymentStatus.SUCCEEDED
    assert sent == [("succeeded", payment.uuid)]


def test_the_webhook_after_the_confirm_call_changes_nothing(student, lesson, pay, sent):
    payment = pay(student, lesson, VISA)
    intent = get_provider().retrieve_payment_intent(payment.provider_payment_id)
    assert outcome.mark_payment_succeeded(payment, intent) is False
    outcome.apply_intent(payment, intent)
    assert sent == [("succeeded", payment.uuid)]


def test_the_webhook_before_the_confirm_call_wins_and_the_call_changes_nothing(
    student, lesson, localstripe, sent
):
    card = cards.add_payment_method(student, localstripe.token())
    step = intents.create_payment_intent(student, lesson.id)
    # Stripe confirms (say, from another tab) and its webhook arrives first.
    intent = get_provider().confirm_payment_intent(
        step.payment.provider_payment_id, payment_method=card.provider_method_id
    )
    outcome.apply_intent(step.payment, intent)
    db.session.commit()

    late = confirmation.confirm_payment(student, step.payment.uuid, payment_method_id=card.id)
    assert late.payment.status == PaymentStatus.SUCCEEDED
    assert sent == [("succeeded", step.payment.uuid)]


def test_a_late_failure_does_not_undo_a_success(student, lesson, pay):
    payment = pay(student, lesson, VISA)
    assert outcome.mark_payment_failed(payment, code="x", message="late") is False
    assert db.session.get(Payment, payment.id).status == PaymentStatus.SUCCEEDED


def test_somebody_elses_payment_is_not_found(student, lesson, localstripe):
    step = intents.create_payment_intent(student, lesson.id)
    db.session.commit()
    with pytest.raises(NotFound):
        confirmation.confirm_payment(UserFactory(role="student"), step.payment.uuid)


def test_somebody_elses_saved_card_cannot_pay(student, lesson, localstripe):
    other = UserFactory(role="student")
    card = cards.add_payment_method(other, localstripe.token())
    step = intents.create_payment_intent(student, lesson.id)
    with pytest.raises(NotFound):
        confirmation.confirm_payment(student, step.payment.uuid, payment_method_id=card.id)


@pytest.mark.parametrize("bad", ["4242424242424242", "pm_", "", 12, "sk_test_x", "pm_a b"])
def test_a_bad_card_id_is_bad_input(student, lesson, localstripe, bad):
    step = intents.create_payment_intent(student, lesson.id)
    with pytest.raises(ValidationError):
        confirmation.confirm_payment(student, step.payment.uuid, provider_method_id=bad)


def test_an_unknown_card_id_is_bad_input(student, lesson, localstripe):
    step = intents.create_payment_intent(student, lesson.id)
    with pytest.raises(ValidationError, match="does not know that card"):
        confirmation.confirm_payment(student, step.payment.uuid, provider_method_id="tok_nothere")


def test_both_kinds_of_card_at_once_is_bad_input(student, lesson, localstripe):
    step = intents.create_payment_intent(student, lesson.id)
    with pytest.raises(ValidationError):
        confirmation.confirm_payment(
            student, step.payment.uuid, provider_method_id="tok_x", payment_method_id=1
        )


def test_a_payment_for_a_cancelled_lesson_is_not_confirmed(student, lesson, localstripe):
    step = intents.create_payment_intent(student, lesson.id)
    lesson.status = BookingStatus.CANCELLED
    db.session.commit()
    with pytest.raises(InvalidTransition, match="cancelled"):
        confirmation.confirm_payment(
            student, step.payment.uuid, provider_method_id=localstripe.token()
        )


def test_a_mismatched_amount_from_the_provider_records_nothing(student, lesson, localstripe):
    card = cards.add_payment_method(student, localstripe.token())
    step = intents.create_payment_intent(student, lesson.id)
    intent = get_provider().confirm_payment_intent(
        step.payment.provider_payment_id, payment_method=card.provider_method_id
    )
    with pytest.raises(Conflict):
        outcome.mark_payment_succeeded(step.payment, replace(intent, amount=1))
