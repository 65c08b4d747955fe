"""Configuration from the environment, with the embedded defaults of the spec."""

from __future__ import annotations

import ipaddress
import os
import secrets
from decimal import Decimal
from pathlib import Path

from limits import parse_many

from portal.crypto import parse_keys
from portal.instance import instance_secret

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"
# Outside production, without SECRET_KEY, the session key is made once and kept here.
DEV_SECRET_KEY_FILE = "secret.key"  # noqa: S105 - a file name


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _int(name: str, default: int) -> int:
    return int(_env(name, str(default)))


class Config:
    """Read once per app. Every value has an embedded default but SECRET_KEY in production."""

    def __init__(self, environ_overrides: dict | None = None) -> None:
        self.ENV_NAME = _env("PORTAL_ENV", "development")
        self.SECRET_KEY = _env("SECRET_KEY")
        self.SQLALCHEMY_DATABASE_URI = _normalise_db_url(
            _env("DATABASE_URL", f"sqlite:///{INSTANCE / 'portal.sqlite3'}")
        )
        # Bound values (password hashes, encrypted bank details) never reach an error
        # message or the SQL log.
        self.SQLALCHEMY_ENGINE_OPTIONS = {}
        # A pooled connection idle longer than this is pinged before use (see
        # `portal.db.install_idle_ping`); one in steady use is not.
        self.DATABASE_PING_AFTER_IDLE_SECONDS = _int("DATABASE_PING_AFTER_IDLE_SECONDS", 10)
        self.CELERY_BROKER_URL = _env("CELERY_BROKER_URL")
        self.CELERY_RESULT_BACKEND = _env("CELERY_RESULT_BACKEND")
        # The system page's history of scheduled task runs is pruned nightly past this.
        self.TASK_RUN_KEEP_DAYS = _int("TASK_RUN_KEEP_DAYS", 30)
        # /metrics answers a scraper with this bearer token, or from these addresses or
        # networks (comma-separated); with neither it is off (404).
        self.METRICS_TOKEN = _env("METRICS_TOKEN")
        # Errors of the web and the workers go to Sentry when a DSN is set.
        self.SENTRY_DSN = _env("SENTRY_DSN")
        self.SENTRY_TRACES_SAMPLE_RATE = float(_env("SENTRY_TRACES_SAMPLE_RATE", "0"))
        # One JSON line per request and per task on stderr.
        self.LOG_REQUESTS = _env("LOG_REQUESTS", "1") == "1"
        self.METRICS_ALLOWED_IPS = _env("METRICS_ALLOWED_IPS")

        self.STRIPE_SECRET_KEY = _env("STRIPE_SECRET_KEY", "sk_test_localstripe")
        self.STRIPE_PUBLISHABLE_KEY = _env("STRIPE_PUBLISHABLE_KEY", "pk_test_localstripe")
        self.STRIPE_WEBHOOK_SECRET = _env("STRIPE_WEBHOOK_SECRET", "whsec_localstripe")
        self.STRIPE_API_BASE = _env("STRIPE_API_BASE", "http://127.0.0.1:8420")
        self.STRIPE_JS_URL = _env("STRIPE_JS_URL", "http://127.0.0.1:8420/js.stripe.com/v3/")
        self.STRIPE_TIMEOUT_SECONDS = _int("STRIPE_TIMEOUT_SECONDS", 10)
        self.STRIPE_MAX_NETWORK_RETRIES = _int("STRIPE_MAX_NETWORK_RETRIES", 2)
        # Stripe's events are a few kilobytes; a larger webhook body is refused with 413.
        self.STRIPE_WEBHOOK_MAX_BYTES = _int("STRIPE_WEBHOOK_MAX_BYTES", 256 * 1024)
        # sync_payment_status asks Stripe about payments still pending after this long.
        self.PAYMENT_SYNC_AFTER_MINUTES = _int("PAYMENT_SYNC_AFTER_MINUTES", 30)
        # A subscription past due this many days after its renewal date is ended (expired).
        self.SUBSCRIPTION_GRACE_DAYS = _int("SUBSCRIPTION_GRACE_DAYS", 14)
        # cleanup_expired_payment_intents cancels, at Stripe and here, payment attempts
        # still pending this long after they were made.
        self.PAYMENT_INTENT_EXPIRY_HOURS = _int("PAYMENT_INTENT_EXPIRY_HOURS", 24)

        self.PLATFORM_FEE_PERCENT = Decimal(_env("PLATFORM_FEE_PERCENT", "15.00"))
        self.PLATFORM_CURRENCY = _env("PLATFORM_CURRENCY", "usd").lower()
        self.EARNINGS_HOLD_DAYS = _int("EARNINGS_HOLD_DAYS", 7)
        self.REFUND_CUTOFF_HOURS = _int("REFUND_CUTOFF_HOURS", 24)
        # An unpaid lesson holds the tutor's time this long, and a student may hold this
        # many at once: nobody can block a tutor's calendar without paying.
        self.BOOKING_HOLD_MINUTES = _int("BOOKING_HOLD_MINUTES", 60)
        self.MAX_UNPAID_BOOKINGS = _int("MAX_UNPAID_BOOKINGS", 5)
        self.MIN_PAYOUT_AMOUNT = _int("MIN_PAYOUT_AMOUNT", 1000)
        self.TAX_RATE_PERCENT = Decimal(_env("TAX_RATE_PERCENT", "0"))
        self.INVOICE_DUE_DAYS = _int("INVOICE_DUE_DAYS", 14)
        self.FIELD_ENCRYPTION_KEYS = _env("FIELD_ENCRYPTION_KEYS")

        # Where people reach the portal, for links in e-mails sent outside a request.
        self.PORTAL_URL = _env("PORTAL_URL", "http://127.0.0.1:5000")
        self.MAIL_SERVER = _env("MAIL_SERVER", "127.0.0.1")
        self.MAIL_PORT = _int("MAIL_PORT", 1025)
        self.MAIL_USE_TLS = _env("MAIL_USE_TLS", "0") == "1"
        self.MAIL_USERNAME = _env("MAIL_USERNAME")
        self.MAIL_PASSWORD = _env("MAIL_PASSWORD")
        self.MAIL_DEFAULT_SENDER = _env("MAIL_DEFAULT_SENDER", "M4SH Portal <billing@m4sh.app>")
        self.MAIL_SUPPRESS_SEND = _env("MAIL_SUPPRESS_SEND", "0") == "1"

        self.RATELIMIT_STORAGE_URI = _env("RATELIMIT_STORAGE_URI", "memory://")
        self.RATELIMIT_ENABLED = _env("RATELIMIT_ENABLED", "1") == "1"
        # Sign-in (and its second step) is limited per address and per account typed in.
        self.SIGN_IN_RATE_LIMIT = _env("SIGN_IN_RATE_LIMIT", "10 per minute")
        self.SIGN_UP_RATE_LIMIT = _env("SIGN_UP_RATE_LIMIT", "10 per hour")
        # How many reverse proxies stand in front of the portal: their X-Forwarded-For and
        # X-Forwarded-Proto are trusted that many hops deep (0: the peer is the client).
        self.TRUSTED_PROXIES = _int("TRUSTED_PROXIES", 0)
        # A password reset link works once, for this long.
        self.PASSWORD_RESET_MINUTES = _int("PASSWORD_RESET_MINUTES", 60)
        # API tokens work this many days after they are made.
        self.API_TOKEN_DAYS = _int("API_TOKEN_DAYS", 90)
        # Calls to /api/v1/ per caller (bearer token, else signed-in user, else address),
        # across every endpoint; several limits are separated by ";".
        self.API_RATE_LIMIT = _env("API_RATE_LIMIT", "300 per minute")
        # An Idempotency-Key and its answer are kept this long, then pruned daily.
        self.IDEMPOTENCY_KEY_HOURS = _int("IDEMPOTENCY_KEY_HOURS", 24)
        # Server-side sessions (Flask-Session): in Redis when this is set, else in the
        # database.
        self.SESSION_REDIS_URL = _env("SESSION_REDIS_URL")
        self.SESSION_LIFETIME_DAYS = _int("SESSION_LIFETIME_DAYS", 14)
        # The largest amount any form or endpoint accepts: 1,000,000.00 in minor units.
        self.MAX_AMOUNT = _int("MAX_AMOUNT", 100_000_000)
        self.MAX_CONTENT_LENGTH = 1024 * 1024

        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = self.ENV_NAME == "production"
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        self.WTF_CSRF_TIME_LIMIT = None
        # CSRF is enforced by the portal's own before-request hook (see portal/security.py),
        # which knows about bearer tokens and the webhook route.
        self.WTF_CSRF_CHECK_DEFAULT = False

        for key, value in (environ_overrides or {}).items():
            setattr(self, key, value)

    def validate(self) -> None:
        if self.SECRET_KEY is None:
            if self.ENV_NAME == "production":
                raise RuntimeError("SECRET_KEY must be set in production")
            self.SECRET_KEY = instance_secret(
                INSTANCE / DEV_SECRET_KEY_FILE, lambda: secrets.token_urlsafe(48)
            )
        if self.FIELD_ENCRYPTION_KEYS is None and self.ENV_NAME == "production":
            raise RuntimeError("FIELD_ENCRYPTION_KEYS must be set in production")
        if self.ENV_NAME == "production" and self.RATELIMIT_STORAGE_URI.startswith("memory://"):
            # Counted in each worker's memory, a limit multiplies by the number of workers.
            raise RuntimeError(
                "RATELIMIT_STORAGE_URI must name shared storage (e.g. redis://…) in production"
            )
        if self.TRUSTED_PROXIES < 0:
            raise RuntimeError("TRUSTED_PROXIES must be 0 or more")
        if self.PASSWORD_RESET_MINUTES < 1:
            raise RuntimeError("PASSWORD_RESET_MINUTES must be at least 1")
        if self.API_TOKEN_DAYS < 1 or self.SESSION_LIFETIME_DAYS < 1:
            raise RuntimeError("API_TOKEN_DAYS and SESSION_LIFETIME_DAYS must be at least 1")
        if self.IDEMPOTENCY_KEY_HOURS < 1:
            raise RuntimeError("IDEMPOTENCY_KEY_HOURS must be at least 1")
        _check_rate_limit("API_RATE_LIMIT", self.API_RATE_LIMIT)
        if self.FIELD_ENCRYPTION_KEYS is not None:
            parse_keys(self.FIELD_ENCRYPTION_KEYS)  # a malformed key stops the start
        if self.METRICS_ALLOWED_IPS:
            for part in self.METRICS_ALLOWED_IPS.split(","):
                if part.strip():
                    ipaddress.ip_network(part.strip())  # a malformed address stops the start
        if self.PLATFORM_FEE_PERCENT < 0 or self.PLATFORM_FEE_PERCENT > 100:
            raise RuntimeError("PLATFORM_FEE_PERCENT must be between 0 and 100")
        # Invoices store the rate with two decimals; a finer one would be shown rounded
        # next to tax worked out at the full rate.
        rate = Decimal(self.TAX_RATE_PERCENT)
        if not 0 <= rate < 100 or rate != rate.quantize(Decimal("0.01")):
            raise RuntimeError("TAX_RATE_PERCENT must be from 0 to 99.99, with at most 2 decimals")

    def as_dict(self) -> dict:
        return {k: v for k, v in vars(self).items() if k.isupper()}


def _check_rate_limit(name: str, value: str) -> None:
    try:
        if not parse_many(value):
            raise ValueError(value)
    except ValueError:
        raise RuntimeError(
            f"{name} must be like '300 per minute' (several: separated by ';')"
        ) from None


def _normalise_db_url(url: str) -> str:
    # psycopg 3 is the driver; accept the common postgres:// spellings.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
