"""The portal's error hierarchy and the one place that maps errors to responses.

User-facing errors (bad input, a forbidden or missing object, a state that does not
allow the action) are `PortalError`s with an HTTP status and a stable code; gateway
failures (Stripe down, rate limited) are `GatewayError`s that ask the user to try again.
Pages turn them into form errors or flashes; the API into one JSON shape,
`{"error": {"code", "message", "fields"?}}`, with the error's HTTP status.
"""

from __future__ import annotations

from flask import (
    Flask,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import HTTPException

from portal.extensions import db
from portal.urls import local_path_or


class PortalError(Exception):
    status = 400
    code = "bad_request"

    def __init__(
        self, message: str, *, fields: dict[str, list[str]] | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields
        if code:
            self.code = code


class ValidationError(PortalError):
    status = 400
    code = "invalid"


class NotAuthenticated(PortalError):
    status = 401
    code = "not_authenticated"


class Forbidden(PortalError):
    status = 403
    code = "forbidden"


class NotFound(PortalError):
    status = 404
    code = "not_found"


class Conflict(PortalError):
    """The action is not allowed in the object's current state."""

    status = 409
    code = "conflict"


class InvalidTransition(Conflict):
    code = "invalid_transition"


class InsufficientFunds(Conflict):
    code = "insufficient_funds"


class GatewayError(PortalError):
    """The payment provider could not be reached or refused for a reason not the user's."""

    status = 502
    code = "gateway_error"
    retryable = True


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def error_json(status: int, code: str, message: str, fields=None):
    body = {"error": {"code": code, "message": message}}
    if fields:
        body["error"]["fields"] = fields
    return jsonify(body), status


_HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    500: "server_error",
}


def handle_portal_error(exc: PortalError):
    # A refused request writes nothing, not even what it flushed before the refusal.
    db.session.rollback()
    if is_api_request():
        return error_json(exc.status, exc.code, exc.message, exc.fields)
    if exc.status == 401:
        return redirect(url_for("accounts.signin", next=request.full_path.rstrip("?")))
    if exc.status in (400, 409, 502) and request.method == "POST" and request.referrer:
        # A button on a page was refused: say why on the page the user came from.
        flash(exc.message, "error")
        return redirect(_safe_referrer())
    return render_template("errors/error.html", status=exc.status, message=exc.message), exc.status


def _handle_http_error(exc: HTTPException):
    status = exc.code or 500
    if is_api_request():
        message = exc.description if status != 500 else "Something went wrong on our side."
        body, status = error_json(status, _HTTP_CODES.get(status, "error"), message)
    elif status == 401:
        return redirect(url_for("accounts.signin", next=request.full_path.rstrip("?")))
    else:
        body = render_template("errors/error.html", status=status, message=exc.description)
    return body, status, _own_headers(exc)


def _own_headers(exc: HTTPException) -> dict[str, str]:
    """What the error itself says beyond its body: a 405's `Allow` (the methods the URL
    takes, which HTTP requires), a 429's or 503's `Retry-After`."""
    return {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}


def _handle_unexpected(exc: Exception):
    db.session.rollback()
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    if is_api_request():
        return error_json(500, "server_error", "Something went wrong on our side.")
    return render_template(
        "errors/error.html", status=500, message="Something went wrong on our side."
    ), 500


def _safe_referrer() -> str:
    return local_path_or(request.referrer, url_for("accounts.home"))


def register_errorhandlers(app: Flask) -> None:
    app.register_error_handler(PortalError, handle_portal_error)
    app.register_error_handler(HTTPException, _handle_http_error)
    if not app.config.get("PROPAGATE_EXCEPTIONS"):
        app.register_error_handler(Exception, _handle_unexpected)
