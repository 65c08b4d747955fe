"""Resetting a forgotten password by e-mail.

The link carries a token signed with `SECRET_KEY` (itsdangerous) that names the user and
a fingerprint of the user's current password hash, and it is dated:

- it expires `PASSWORD_RESET_MINUTES` after it was made;
- it works once: setting the new password changes the hash, so the fingerprint no longer
  matches (the same goes for every other link sent before, and for a link sent before the
  password was changed some other way);
- asking for a link answers the same whether or not the address has an account, and the
  mail goes out from a task, so the answer takes as long either way.

A reset signs the user out of every session, as a change of password does.
"""

from __future__ import annotations

import hashlib
import hmac

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from werkzeug.security import generate_password_hash

from portal.accounts.models import User
from portal.accounts.passwords import password_problem
from portal.errors import ValidationError
from portal.extensions import db

SALT = "password-reset"
LINK_REFUSED = "This link does not work any more. Ask for a new one below."
LINK_EXPIRED = "This link has expired. Ask for a new one below."


class ResetLinkError(Exception):
    """A reset link that is forged, used, for a disabled account, or expired."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def _fingerprint(user: User) -> str:
    # Keyed, so the token reveals nothing about the hash it is bound to.
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, user.password_hash.encode(), hashlib.sha256).hexdigest()[:32]


def make_token(user: User) -> str:
    return _serializer().dumps({"u": user.id, "p": _fingerprint(user)})


def max_age_seconds() -> int:
    return current_app.config["PASSWORD_RESET_MINUTES"] * 60


def user_for_token(token: str, *, lock: bool = False) -> User:
    """The user a valid, unused, unexpired link is for; raises `ResetLinkError`.

    With `lock`, the user's row stays locked until the transaction ends, so two requests
    with the same link cannot both set a password."""
    try:
        data = _serializer().loads(token or "", max_age=max_age_seconds())
    except SignatureExpired:
        raise ResetLinkError(LINK_EXPIRED) from None
    except BadSignature:
        raise ResetLinkError(LINK_REFUSED) from None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int):
        raise ResetLinkError(LINK_REFUSED)
    query = sa.select(User).where(User.id == data["u"])
    user = db.session.scalar(query.with_for_update() if lock else query)
    if user is None or not user.active:
        raise ResetLinkError(LINK_REFUSED)
    if not hmac.compare_digest(_fingerprint(user), str(data.get("p", ""))):
        raise ResetLinkError(LINK_REFUSED)
    return user


def reset_password(token: str, new_password: str) -> User:
    """Set a new password through a reset link; the link is spent. Flushes.

    Raises `ResetLinkError` for a bad link, `ValidationError` for a weak password (the
    link then still works)."""
    user = user_for_token(token, lock=True)
    problem = password_problem(new_password, email=user.email)
    if problem:
        raise ValidationError(problem, fields={"password": [problem]})
    user.password_hash = generate_password_hash(new_password)
    db.session.flush()
    return user
