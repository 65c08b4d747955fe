from tests.payouts.conftest import browser, field_keys  # noqa: F401 - shared helpers
