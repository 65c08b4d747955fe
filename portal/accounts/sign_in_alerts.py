"""Telling a user about a sign-in from a browser their account has not been used on.

A browser that signed in to an account keeps a signed cookie naming that account (a
year, HttpOnly); a sign-in without it is from a new browser, and the user is e-mailed
(if `sign_in_alerts` is on in their preferences) once the sign-in has committed.
"""

from __future__ import annotations

from flask import Response, current_app, request
from itsdangerous import BadSignature, URLSafeSerializer

from portal.accounts.models import User
from portal.accounts.sessions import describe_agent
from portal.accounts.tasks import send_sign_in_alert
from portal.after_commit import enqueue_after_commit
from portal.dates import iso_utc
from portal.db import utcnow

COOKIE = "m4sh_known"
COOKIE_DAYS = 365
# The accounts a browser remembers; more than a family shares one computer with.
MAX_ACCOUNTS = 8


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="known-browser")


def known_accounts() -> list[int]:
    try:
        ids = _serializer().loads(request.cookies.get(COOKIE, ""))
    except BadSignature:
        return []
    return [i for i in ids if isinstance(i, int)] if isinstance(ids, list) else []


def note_sign_in(user: User) -> list[int] | None:
    """Queue an alert if this browser is new to `user`; the ids the cookie should name
    now, or None when it already names the user."""
    known = known_accounts()
    if user.id in known:
        return None
    agent = describe_agent(request.user_agent.string or "")
    enqueue_after_commit(send_sign_in_alert, user.id, agent, request.remote_addr, iso_utc(utcnow()))
    return ([user.id] + known)[:MAX_ACCOUNTS]


def note_new_account(user: User) -> list[int]:
    """The browser that made an account is not new to it: no alert."""
    return ([user.id] + known_accounts())[:MAX_ACCOUNTS]


def remember_browser(response: Response, ids: list[int] | None) -> Response:
    if ids is not None:
        response.set_cookie(
            COOKIE,
            _serializer().dumps(ids),
            max_age=COOKIE_DAYS * 24 * 3600,
            httponly=True,
            samesite="Lax",
            secure=current_app.config["SESSION_COOKIE_SECURE"],
        )
    return response
