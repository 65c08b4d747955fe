"""Fixtures of the subscription tests (defined in their support modules)."""

from tests.subscriptions.recorded_support import eight, four  # noqa: F401
from tests.subscriptions.stripe_support import card_holder, stripe_plan  # noqa: F401
from tests.support.stripe_replay import stripe_replay  # noqa: F401
