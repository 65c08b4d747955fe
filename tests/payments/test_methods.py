"""Saved cards: add (token, payment method, SetupIntent), make default, remove."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from portal.errors import Forbidden, InvalidTransition, NotFound, ValidationError
from portal.extensions import db
from portal.payments import cards, customers
from portal.payments.models import PaymentMethod
from portal.providers.base import CardDeclined
from tests.factories import UserFactory
from tests.support.localstripe import DECLINED, VISA

pytestmark = pytest.mark.stripe


def _defaults(user) -> list[int]:
    return list(
        db.session.scalars(
            sa.select(PaymentMethod.id).where(
                PaymentMethod.user_id == user.id, PaymentMethod.is_default.is_(True)
            )
        )
    )


def _customer(localstripe, user) -> dict:
    return localstripe.get(f"/v1/customers/{user.stripe_customer_id}")


def test_the_first_card_is_the_default_here_and_at_stripe(student, localstripe):
    card = cards.add_payment_method(student, localstripe.token())
    db.session.commit()
    assert card.provider_method_id.startswith("card_")
    assert (card.card_brand, card.card_last4, card.exp_month, card.exp_year) == (
        "visa",
        "4242",
        12,
        2034,
    )
    assert _defaults(student) == [card.id]
    assert _customer(localstripe, student)["default_source"] == card.provider_method_id


def test_a_payment_method_id_is_saved_too(student, localstripe):
    card = cards.add_payment_method(student, localstripe.payment_method(VISA))
    assert card.provider_method_id.startswith("pm_")
    customer = _customer(localstripe, student)
    assert customer["invoice_settings"]["default_payment_method"] == card.provider_method_id


def test_adding_the_same_card_twice_keeps_one(student, localstripe):
    method = localstripe.payment_method(VISA)
    first = cards.add_payment_method(student, method)
    assert cards.add_payment_method(student, method).id == first.id


def test_another_students_card_id_is_not_found(student, localstripe):
    method = localstripe.payment_method(VISA)
    cards.add_payment_method(student, method)
    db.session.commit()
    with pytest.raises(NotFound):
        cards.add_payment_method(UserFactory(role="student"), method)


def test_a_declined_card_is_not_saved(student, localstripe):
    with pytest.raises(CardDeclined, match="Your card was declined."):
        cards.add_payment_method(student, localstripe.token(DECLINED))
    db.session.rollback()
    assert db.session.scalars(sa.select(PaymentMethod)).all() == []


def test_make_default_moves_the_default(student, localstripe):
    first = cards.add_payment_method(student, localstripe.token())
    second = cards.add_payment_method(student, localstripe.payment_method(VISA))
    assert _defaults(student) == [first.id]
    cards.set_default_payment_method(student, second.id)
    db.session.commit()
    assert _defaults(student) == [second.id]
    assert (
        _customer(localstripe, student)["invoice_settings"]["default_payment_method"]
        == second.provider_method_id
    )


def test_add_and_make_default_at_once(student, localstripe):
    cards.add_payment_method(student, localstripe.token())
    second = cards.add_payment_method(student, localstripe.token(), make_default=True)
    assert _defaults(student) == [second.id]


def test_removing_the_default_promotes_the_newest(student, localstripe):
    first = cards.add_payment_method(student, localstripe.token())
    second = cards.add_payment_method(student, localstripe.token())
    third = cards.add_payment_method(student, localstripe.token())
    cards.remove_payment_method(student, first.id)
    db.session.commit()
    assert _defaults(student) == [third.id]
    remaining = [m.id for m in cards.payment_methods_of(student)]
    assert remaining == [third.id, second.id]
    sources = localstripe.get(f"/v1/customers/{student.stripe_customer_id}/sources")["data"]
    assert first.provider_method_id not in {s["id"] for s in sources}


def test_removing_a_card_already_gone_at_stripe_still_forgets_it(student, localstripe):
    card = cards.add_payment_method(student, localstripe.token())
    db.session.commit()
    localstripe.flush()  # Stripe lost it (or it was removed in the dashboard)
    cards.remove_payment_method(student, card.id)
    assert cards.payment_methods_of(student) == []


def test_somebody_elses_card_cannot_be_changed(student, localstripe):
    other = UserFactory(role="student")
    card = cards.add_payment_method(other, localstripe.token())
    db.session.commit()
    with pytest.raises(NotFound):
        cards.set_default_payment_method(student, card.id)
    with pytest.raises(NotFound):
        cards.remove_payment_method(student, card.id)


def test_only_students_save_cards(tutor, localstripe):
    with pytest.raises(Forbidden):
        cards.add_payment_method(tutor, localstripe.token())


def test_a_confirmed_setup_intent_saves_its_card(student, localstripe):
    setup = cards.start_card_setup(student)
    db.session.commit()
    confirmed = localstripe.http.post(
        f"{localstripe.url}/v1/setup_intents/{setup.id}/confirm",
        json={
            "key": "pk_test_localstripe",
            "client_secret": setup.client_secret,
            "payment_method_data": {
                "type": "card",
                "card": {"number": VISA, "exp_month": 1, "exp_year": 2035, "cvc": "123"},
            },
        },
        timeout=5,
    ).json()
    assert confirmed["status"] == "succeeded"

    card = cards.finish_card_setup(student, setup.id)
    assert card.provider_method_id == confirmed["payment_method"]
    assert (card.exp_month, card.exp_year) == (1, 2035)
    assert _customer(localstripe, student)["invoice_settings"]["default_payment_method"] == (
        card.provider_method_id
    )


def test_an_unconfirmed_setup_intent_saves_nothing(student, localstripe):
    setup = cards.start_card_setup(student)
    with pytest.raises(InvalidTransition):
        cards.finish_card_setup(student, setup.id)


def test_somebody_elses_setup_intent_is_not_found(student, localstripe):
    setup = cards.start_card_setup(UserFactory(role="student"))
    customers.ensure_customer(student)
    with pytest.raises(NotFound):
        cards.finish_card_setup(student, setup.id)


@pytest.mark.parametrize("bad", [None, "", "pi_123", 5, "seti_ x"])
def test_a_bad_setup_intent_id_is_bad_input(student, bad):
    with pytest.raises(ValidationError):
        cards.finish_card_setup(student, bad)
