from __future__ import annotations

import pytest

from tests.factories import BookingFactory
from tests.support.stripe_replay import stripe_replay  # noqa: F401 - shared fixture


@pytest.fixture
def lesson(student, tutor):
    """A 60-minute lesson two days ahead with a 45.00/hour tutor: 4500, fee 675, net 3825."""
    return BookingFactory(student=student, tutor=tutor)
