"""No card number, CVC or secret key in the database, the logs or the pages."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.payments import cards
from tests.support.localstripe import SECRET_KEY, THREE_D_SECURE, VISA

pytestmark = pytest.mark.stripe

# The CVC never reaches the portal at all: Stripe.js sends the card to Stripe, and the
# portal gets a token or payment method id. Card numbers and the key are what could leak.
SECRETS = (VISA, THREE_D_SECURE, SECRET_KEY)


def _every_stored_value() -> str:
    parts = []
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(sa.select(table)):
            parts.extend(str(value) for value in row)
    return "\n".join(parts)


def test_paying_saving_and_refunding_leave_no_card_data_or_keys_behind(
    caplog, login, student, lesson, localstripe
):
    caplog.set_level(logging.DEBUG)
    browser = login(student)
    pages = [browser.get("/billing").get_data(as_text=True)]
    location = browser.post(f"/billing/lessons/{lesson.id}/pay").headers["Location"]
    pages.append(browser.get(location).get_data(as_text=True))
    paid = browser.post(
        location + "/confirm", {"card": "new", "provider_method_id": localstripe.token(VISA)}
    )
    pages.append(paid.get_data(as_text=True))
    cards.add_payment_method(student, localstripe.token(THREE_D_SECURE))
    db.session.commit()
    pages.append(browser.get("/billing/methods").get_data(as_text=True))
    pages.append(browser.get("/billing/payments").get_data(as_text=True))
    payment_id = location.rsplit("/", 1)[1]
    browser.post(f"/billing/payments/{payment_id}/refund", {})
    pages.append(browser.get(f"/billing/payments/{payment_id}").get_data(as_text=True))

    assert 'data-payment-state="succeeded"' in pages[2]
    stored, logged, shown = _every_stored_value(), caplog.text, "\n".join(pages)
    for secret in SECRETS:
        assert secret not in stored, secret
        assert secret not in logged, secret
        assert secret not in shown, secret
    assert 'name="cvc"' not in shown and 'name="number"' not in shown
    assert "4242" in stored  # the last four digits are kept, and only they
