"""Starting a lesson payment: the amount comes from the lesson, one attempt per lesson."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.bookings.models import BookingStatus
from portal.db import utcnow
from portal.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationError
from portal.extensions import db
from portal.payments import cards, intents
from portal.payments.models import Payment, PaymentStatus
from portal.providers.base import ProviderUnavailable
from tests.factories import BookingFactory, UserFactory
from tests.support.servers import free_port

pytestmark = pytest.mark.stripe


def _payments() -> list[Payment]:
    return list(db.session.scalars(sa.select(Payment)))


def test_an_intent_is_made_for_the_lessons_price(student, lesson, localstripe):
    step = intents.create_payment_intent(student, lesson.id)
    db.session.commit()

    payment = step.payment
    assert step.created and step.client_secret.startswith(payment.provider_payment_id)
    assert (payment.amount, payment.platform_fee, payment.net_amount) == (4500, 675, 3825)
    assert (payment.currency, payment.status) == ("usd", PaymentStatus.PENDING)
    assert (payment.payer_id, payment.recipient_id, payment.booking_id) == (
        student.id,
        lesson.tutor_id,
        lesson.id,
    )
    intent = localstripe.get(f"/v1/payment_intents/{payment.provider_payment_id}")
    assert (intent["amount"], intent["currency"]) == (4500, "usd")
    assert intent["customer"] == student.stripe_customer_id
    assert intent["metadata"] == {
        "payment_uuid": str(payment.uuid),
        "payment_type": "lesson",
        "booking_id": str(lesson.id),
    }


def test_asking_again_answers_the_same_payment(student, lesson, localstripe):
    first = intents.create_payment_intent(student, lesson.id)
    db.session.commit()
    again = intents.create_payment_intent(student, lesson.id)
    db.session.commit()
    assert again.payment.uuid == first.payment.uuid and not again.created
    assert again.client_secret == first.client_secret
    assert len(_payments()) == 1


def test_the_customer_is_created_once(student, tutor, localstripe):
    one, two = (
        BookingFactory(student=student, tutor=tutor),
        BookingFactory(student=student, tutor=tutor, starts_at=utcnow() + timedelta(days=3)),
    )
    intents.create_payment_intent(student, one.id)
    customer = student.stripe_customer_id
    intents.create_payment_intent(student, two.id)
    assert customer.startswith("cus_") and student.stripe_customer_id == customer


def test_somebody_elses_lesson_is_not_found(lesson, localstripe):
    other = UserFactory(role="student")
    with pytest.raises(NotFound):
        intents.create_payment_intent(other, lesson.id)
    assert _payments() == []


def test_only_students_pay(tutor, lesson, localstripe):
    with pytest.raises(Forbidden):
        intents.create_payment_intent(tutor, lesson.id)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"status": BookingStatus.SCHEDULED}, InvalidTransition),
        ({"status": BookingStatus.COMPLETED}, InvalidTransition),
        ({"status": BookingStatus.CANCELLED}, InvalidTransition),
        ({"subscription_id": "covered"}, Conflict),
        ({"currency": "eur"}, ValidationError),
    ],
)
def test_a_lesson_that_is_not_payable_is_refused(student, lesson, localstripe, change, error):
    for key, value in change.items():
        if value == "covered":  # a lesson a subscription's quota pays for
            value = _subscription_of(student).id
        setattr(lesson, key, value)
    db.session.commit()
    with pytest.raises(error):
        intents.create_payment_intent(student, lesson.id)
    assert _payments() == []


def _subscription_of(student):
    from portal.subscriptions.models import Plan, Subscription

    plan = Plan(slug="m4", name="Four", price=16000, currency="usd", lessons_per_month=4)
    subscription = Subscription(student=student, plan=plan, status="active")
    db.session.add(subscription)
    db.session.flush()
    return subscription


def test_a_lesson_that_started_cannot_be_paid(student, tutor, localstripe):
    started = BookingFactory(
        student=student, tutor=tutor, starts_at=utcnow() - timedelta(minutes=5)
    )
    with pytest.raises(InvalidTransition, match="already started"):
        intents.create_payment_intent(student, started.id)


@pytest.mark.parametrize("bad", [None, "x", -1, 0, True, 1.5, "1; drop table"])
def test_a_bad_booking_id_is_bad_input(student, localstripe, bad):
    with pytest.raises((ValidationError, NotFound)):
        intents.create_payment_intent(student, bad)


def test_a_saved_card_can_be_chosen_when_starting(student, lesson, localstripe):
    card = cards.add_payment_method(student, localstripe.token())
    step = intents.create_payment_intent(student, lesson.id, payment_method_id=card.id)
    intent = localstripe.get(f"/v1/payment_intents/{step.payment.provider_payment_id}")
    assert intent["payment_method"] == card.provider_method_id
    assert step.payment.card_last4 == "4242"


def test_somebody_elses_saved_card_is_not_found(student, lesson, localstripe):
    other = UserFactory(role="student")
    card = cards.add_payment_method(other, localstripe.token())
    db.session.commit()
    with pytest.raises(NotFound):
        intents.create_payment_intent(student, lesson.id, payment_method_id=card.id)


def test_stripe_down_writes_nothing_and_says_try_again(app, student, lesson):
    from portal.providers import EXTENSION_KEY
    from portal.providers.stripe import StripeProvider

    app.extensions[EXTENSION_KEY] = StripeProvider.from_config(
        {**app.config, "STRIPE_API_BASE": f"http://127.0.0.1:{free_port()}"}
    )
    try:
        with pytest.raises(ProviderUnavailable, match="try again"):
            intents.create_payment_intent(student, lesson.id)
        db.session.rollback()
    finally:
        app.extensions.pop(EXTENSION_KEY)
    assert _payments() == []
    assert db.session.get(type(student), student.id).stripe_customer_id is None


def test_a_retry_after_a_rollback_replays_the_same_key(student, lesson, localstripe):
    first = intents.create_payment_intent(student, lesson.id)
    key, payment_uuid = first.payment.idempotency_key, first.payment.uuid
    db.session.rollback()
    again = intents.create_payment_intent(student, lesson.id)
    assert (again.payment.idempotency_key, again.payment.uuid) == (key, payment_uuid)


def test_a_customer_lost_at_the_provider_is_replaced(student, lesson, localstripe):
    cards.add_payment_method(student, localstripe.token())
    db.session.commit()
    lost = student.stripe_customer_id
    localstripe.flush()  # the provider forgot everything (a reset test server, say)

    step = intents.create_payment_intent(student, lesson.id)
    db.session.commit()
    assert student.stripe_customer_id not in (None, lost)
    assert cards.payment_methods_of(student) == []  # those cards went with the customer
    intent = localstripe.get(f"/v1/payment_intents/{step.payment.provider_payment_id}")
    assert intent["customer"] == student.stripe_customer_id
    assert step.payment.idempotency_key.endswith(f"-for-{student.stripe_customer_id}")


@pytest.mark.parametrize("bad", [0, "x", False, -3])
def test_a_bad_saved_card_id_is_bad_input(student, lesson, localstripe, bad):
    with pytest.raises(ValidationError):
        intents.create_payment_intent(student, lesson.id, payment_method_id=bad)
    assert _payments() == []


def test_an_attempt_asked_again_the_same_way_keeps_its_key_another_way_gets_its_own(lesson):
    from portal.payments.intents import attempt_key

    card, same = attempt_key(lesson, 0, way="card-7"), attempt_key(lesson, 0, way="card-7")
    assert card == same  # a retry after a lost answer finds Stripe's first intent
    others = {attempt_key(lesson, 0, way=way)[0] for way in ("card-8", "card", "checkout")}
    assert card[0] not in others and len(others) == 3  # never refused as a changed request
