from tests.support.stripe_replay import stripe_replay  # noqa: F401 - shared fixture
