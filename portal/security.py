"""Request security: bearer tokens, CSRF and response headers (safe redirects: `portal.urls`).

CSRF applies to every state-changing request that rides on the browser session. Three kinds
of request are exempt because no browser session is involved: calls that carry an
`Authorization: Bearer` token, API calls from nobody signed in (answered 401), and views
marked with `@csrf_exempt` (the Stripe webhook, which is verified by its signature
instead).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, current_app, g, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from portal.accounts.models import Role
from portal.accounts.tokens import user_for_token
from portal.errors import NotAuthenticated, ValidationError, handle_portal_error
from portal.extensions import csrf

_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def csrf_exempt(view):
    view._csrf_exempt = True
    return view


def own_authorization(view):
    """Mark a view that reads the Authorization header itself (the metrics scrape token):
    its bearer is no user's API token, so the API's authentication leaves it alone."""
    view._own_authorization = True
    return view


def _authenticate_bearer() -> None:
    header = request.headers.get("Authorization", "")
    if not header or not request.path.startswith("/api/"):
        # A bearer token opens the API only: a page or a form needs a signed-in session.
        return
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    if view is not None and getattr(view, "_own_authorization", False):
        return
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        if request.path.startswith("/api/"):
            raise NotAuthenticated("Use 'Authorization: Bearer <token>'.")
        return
    user = user_for_token(token.strip())
    if user is None:
        raise NotAuthenticated("The API token is invalid or revoked.")
    g.bearer_user = user
    note_request_user(user)
    # Flask-Login reads the request's user from g._login_user; setting it here makes the
    # token user current for this request only, without touching the session cookie.
    g._login_user = user


def note_request_user(user) -> None:
    """Remember who is acting while the user row is fresh: the request's commit expires
    it, and after-request hooks would otherwise load it again just to read the role."""
    g.request_user_role = user.role


def request_user_is_admin() -> bool:
    role = g.get("request_user_role")
    if role is None:  # not loaded yet, or signed in by this very request
        user = current_user._get_current_object()
        role = user.role if user.is_authenticated else None
    return role == Role.ADMIN


def _enforce_csrf() -> None:
    if request.method not in _UNSAFE or g.get("bearer_user") is not None:
        return
    if request.path.startswith("/api/") and not current_user.is_authenticated:
        # No session to ride on: nothing to forge. The API's own check answers 401, as its
        # document says, instead of a CSRF refusal that would tell the caller to reload.
        return
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    if view is not None and getattr(view, "_csrf_exempt", False):
        return
    csrf.protect()


def _security_headers(response):
    config = current_app.config
    stripe_js = _origin(config["STRIPE_JS_URL"])
    stripe_api = _origin(config["STRIPE_API_BASE"])
    frames = {stripe_js, "https://js.stripe.com", "https://hooks.stripe.com"}
    # A page that frames one of our own (the e-mail previews) says so for its response.
    if g.get("frames_own_pages"):
        frames.add("'self'")
    frames = " ".join(sorted(frames))
    # The API reference (Redoc) runs its search in a worker made from a blob of its own
    # script; elsewhere workers keep script-src's rule.
    workers = "worker-src 'self' blob:; " if g.get("workers_from_blobs") else ""
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; "
        f"script-src 'self' {stripe_js}; "
        f"connect-src 'self' {stripe_api} {stripe_js}; "
        f"frame-src {frames}; {workers}"
        "img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "base-uri 'self'; form-action 'self' https://checkout.stripe.com; frame-ancestors 'none'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    if config.get("SESSION_COOKIE_SECURE"):
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if request.headers.get("HX-Request"):
        response.vary.add("HX-Request")
    return response


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def register_security(app: Flask) -> None:
    app.before_request(_authenticate_bearer)
    app.before_request(_enforce_csrf)
    app.after_request(_security_headers)

    @app.errorhandler(CSRFError)
    def _csrf_failed(exc: CSRFError):
        return handle_portal_error(
            ValidationError(f"{exc.description} Reload the page and try again.", code="csrf_failed")
        )
