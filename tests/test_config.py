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


def test_production_refuses_to_start_without_shared_limiter_storage(monkeypatch):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "s3cret-for-the-test")
    monkeypatch.setenv("FIELD_ENCRYPTION_KEYS", "uKHF0kLM9pWlyIddgszDTjjFqhwnMdlDhe4BbxEoJ1k=")
    monkeypatch.delenv("RATELIMIT_STORAGE_URI", raising=False)
    with pytest.raises(RuntimeError, match="RATELIMIT_STORAGE_URI"):
        Config().validate()
    monkeypatch.setenv("RATELIMIT_STORAGE_URI", "memory://")
    with pytest.raises(RuntimeError, match="RATELIMIT_STORAGE_URI"):
        Config().validate()
    monkeypatch.setenv("RATELIMIT_STORAGE_URI", "redis://127.0.0.1:6379/0")
    Config().validate()


def test_development_makes_a_random_secret_key_once(monkeypatch, tmp_path):
    import portal.config

    monkeypatch.setattr(portal.config, "INSTANCE", tmp_path)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("PORTAL_ENV", raising=False)
    first = Config()
    first.validate()
    key_file = tmp_path / portal.config.DEV_SECRET_KEY_FILE
    assert key_file.exists() and oct(key_file.stat().st_mode)[-3:] == "600"
    assert len(first.SECRET_KEY) >= 40 and first.SECRET_KEY != "dev-only-not-secret"
    second = Config()
    second.validate()
    assert second.SECRET_KEY == first.SECRET_KEY  # kept across restarts
    key_file.unlink()
    third = Config()
    third.validate()
    assert third.SECRET_KEY != first.SECRET_KEY  # another instance, another key
