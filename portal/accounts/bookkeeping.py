"""Commits that record how an account is used, not what its user did.

Noting that a session or token was seen, or that someone signed in or out, commits on its
own. The audit log's safety net records every admin request that committed something;
these commits are not admin actions, so they must not make a refused action look done.
"""

from __future__ import annotations

from flask import has_request_context, request

from portal.audit.services import COMMITTED
from portal.extensions import db


def commit_bookkeeping() -> None:
    """Commit pending bookkeeping without it counting as the request's action.

    Only for what runs before the request's own work (a before-request hook, sign-in and
    sign-out, which change nothing else)."""
    db.session.commit()
    if has_request_context():
        request.environ.pop(COMMITTED, None)
