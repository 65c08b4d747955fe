from tests.payouts.conftest import browser  # noqa: F401 - several people per test
