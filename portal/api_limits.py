"""The API's rate limit: `API_RATE_LIMIT` calls per caller across every `/api/v1/` endpoint.

The caller is the bearer token (its SHA-256, read from the header: the limit is counted
before the token is looked up), else the signed-in user of a browser session, else the
client's address. The counts live in Flask-Limiter's storage (`RATELIMIT_STORAGE_URI`:
shared, such as Redis, in production). Every API answer says where the caller stands in
the IETF's `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds until
the window ends) headers; a refused call is a 429 `rate_limited` with `Retry-After`.

Views marked `@limiter.exempt` are left alone: the Stripe webhook has no token, and Stripe
sends bursts from a few addresses; its signature is what protects it.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable

from flask import Flask, current_app, request
from flask_limiter import ApplicationLimit, RequestLimit
from flask_limiter.util import get_remote_address
from flask_login import current_user

API_PREFIX = "/api/v1/"


def api_caller() -> str:
    """Whose budget a call spends: its bearer token, its user, or its address."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return "token:" + hashlib.sha256(token.strip().encode()).hexdigest()
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return f"address:{get_remote_address()}"


def _limit() -> str:
    return current_app.config["API_RATE_LIMIT"]


def _message() -> str:
    return (
        f"Too many requests: the API takes {_limit()} from each token or user. "
        "Try again after the seconds in Retry-After."
    )


API_LIMIT = ApplicationLimit(
    limit_provider=_limit,
    key_function=api_caller,
    scope="api",
    exempt_when=lambda: not request.path.startswith(API_PREFIX),
    error_message=_message,
)


def register_api_limit_headers(app: Flask, current_limit: Callable[[], RequestLimit | None]):
    """Add the RateLimit headers (and Retry-After on a 429) to every API answer."""

    def add_headers(response):
        limit = current_limit() if request.path.startswith(API_PREFIX) else None
        if limit is None:
            return response
        reset_at, remaining = limit.window
        reset = max(0, math.ceil(reset_at - time.time()))
        response.headers["RateLimit-Limit"] = str(limit.limit.amount)
        response.headers["RateLimit-Remaining"] = str(remaining)
        response.headers["RateLimit-Reset"] = str(reset)
        if response.status_code == 429:
            response.headers["Retry-After"] = str(reset)
        return response

    app.after_request(add_headers)
