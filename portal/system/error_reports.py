"""Errors reach someone: Sentry's SDK, with its Flask and Celery integrations, when
`SENTRY_DSN` is set, and nothing at all when it is not.

No personal data is sent (`send_default_pii` off: no cookies, no user's address, no
request body); `SENTRY_TRACES_SAMPLE_RATE` [0] turns on performance traces.
"""

from __future__ import annotations

import sentry_sdk
from flask import Flask
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.flask import FlaskIntegration


def init_error_reports(app: Flask) -> bool:
    """Start Sentry's SDK if the app has a DSN; True when it did."""
    dsn = app.config.get("SENTRY_DSN")
    if not dsn:
        return False
    sentry_sdk.init(
        dsn=dsn,
        environment=app.config["ENV_NAME"],
        integrations=[FlaskIntegration(), CeleryIntegration()],
        send_default_pii=False,
        traces_sample_rate=app.config["SENTRY_TRACES_SAMPLE_RATE"],
    )
    return True
