"""Account security wired into every request: server-side sessions, the reverse proxy,
the admin second factor and `Cache-Control: no-store` on what must not be cached."""

from __future__ import annotations

from flask import Flask, current_app, g, redirect, request, session, url_for
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix

from portal.accounts import two_factor
from portal.accounts.sessions import init_sessions, touch_session
from portal.errors import Forbidden

# Where an admin who must enrol a second factor may still go.
ENROLMENT_ENDPOINTS = frozenset(
    {"two_factor.setup", "two_factor.start", "two_factor.confirm", "accounts.signout", "static"}
)
# Pages that show secrets (a new token, recovery codes) or who is signed in where.
NO_STORE_ENDPOINTS = frozenset(
    {
        "accounts.account",
        "accounts.create_token",
        "password_reset.reset",
        "two_factor.setup",
        "two_factor.confirm",
        "two_factor.verify",
    }  # fmt: skip
)
SECOND_FACTOR_KEY = "_second_factor"


def register_account_guards(app: Flask) -> None:
    """Call after `register_security`, whose bearer check these hooks rely on."""
    init_sessions(app)
    hops = app.config["TRUSTED_PROXIES"]
    if hops:
        # The limiter, the audit log and the session list see the client's address, not
        # the proxy's; only as many forwarded hops as there are proxies are believed.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
    app.before_request(touch_session)
    app.before_request(require_second_factor)
    app.after_request(_no_store)


def note_second_factor() -> None:
    """Remember in the (server-side) session that this sign-in passed a second factor."""
    session[SECOND_FACTOR_KEY] = True


def require_second_factor():
    """Send an admin who must use a second factor but has none to enrolment first."""
    if g.get("bearer_user") is not None or request.endpoint in ENROLMENT_ENDPOINTS:
        return None
    if current_app.config["ENV_NAME"] != "production" or session.get(SECOND_FACTOR_KEY):
        return None
    if not current_user.is_authenticated or not two_factor.required_for(current_user):
        return None
    if request.path.startswith("/api/"):
        raise Forbidden("Set up two-factor sign-in first.", code="two_factor_required")
    return redirect(url_for("two_factor.setup"))


def _no_store(response):
    if request.path.startswith("/api/") or request.endpoint in NO_STORE_ENDPOINTS:
        response.headers["Cache-Control"] = "no-store"
    return response
