from __future__ import annotations

import pytest

from portal.extensions import db
from portal.payments import services
from tests.factories import BookingFactory
from tests.localstripe_server import VISA
from tests.stripe_replay import stripe_replay  # noqa: F401 - shared fixture


@pytest.fixture
def lesson(student, tutor):
    """A 60-minute lesson two days ahead with a 45.00/hour tutor: 4500, fee 675, net 3825."""
    return BookingFactory(student=student, tutor=tutor)


@pytest.fixture
def pay(localstripe):
    """`pay(student, lesson, number=VISA)` pays with a new card, as the payment page does."""

    def _pay(student, lesson, number=VISA):
        step = services.create_payment_intent(student, lesson.id)
        step = services.confirm_payment(
            student, step.payment.uuid, provider_method_id=localstripe.token(number)
        )
        db.session.commit()
        return step.payment

    return _pay
