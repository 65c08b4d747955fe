import pytest

from portal import create_app
from portal.config import Config


def test_production_refuses_to_start_without_secret_key(monkeypatch):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app()


def test_embedded_defaults(monkeypatch):
    for name in (
        "DATABASE_URL",
        "PLATFORM_FEE_PERCENT",
        "PLATFORM_CURRENCY",
        "CELERY_BROKER_URL",
        "EARNINGS_HOLD_DAYS",
        "REFUND_CUTOFF_HOURS",
        "MIN_PAYOUT_AMOUNT",
    ):
        monkeypatch.delenv(name, raising=False)
    config = Config()
    assert (
        config.SQLALCHEMY_DATABASE_URI.startswith("sqlite:///")
        and "instance" in config.SQLALCHEMY_DATABASE_URI
    )
    assert str(config.PLATFORM_FEE_PERCENT) == "15.00" and config.PLATFORM_CURRENCY == "usd"
    assert (config.EARNINGS_HOLD_DAYS, config.REFUND_CUTOFF_HOURS, config.MIN_PAYOUT_AMOUNT) == (
        7,
        24,
        1000,
    )
    assert config.CELERY_BROKER_URL is None


def test_environment_wins_and_postgres_urls_use_psycopg(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u@h/db")
    monkeypatch.setenv("PLATFORM_CURRENCY", "EUR")
    config = Config()
    assert config.SQLALCHEMY_DATABASE_URI == "postgresql+psycopg://u@h/db"
    assert config.PLATFORM_CURRENCY == "eur"


def test_eager_celery_without_broker(app):
    assert app.extensions["celery"].conf.task_always_eager is True


@pytest.mark.parametrize("rate", ["8.875", "-1", "100", "250"])
def test_a_tax_rate_invoices_cannot_hold_stops_the_start(monkeypatch, rate):
    monkeypatch.setenv("TAX_RATE_PERCENT", rate)
    with pytest.raises(RuntimeError, match="TAX_RATE_PERCENT"):
        Config().validate()


def test_a_tax_rate_with_two_decimals_is_taken(monkeypatch):
    monkeypatch.setenv("TAX_RATE_PERCENT", "8.88")
    config = Config()
    config.validate()
    assert str(config.TAX_RATE_PERCENT) == "8.88"
