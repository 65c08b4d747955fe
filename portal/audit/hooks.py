"""The audit log's safety net: every admin action is appended, even where no service did.

Services record what they change with its before and after (`record`). Any other
state-changing request by an admin that committed something gets one row here, naming
the endpoint, its arguments and the outcome, so no admin action goes unrecorded. A
refused action rolls back, commits nothing and is not recorded.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Flask, current_app, has_request_context, request
from flask_login import current_user

from portal.audit.services import COMMITTED, RECORDED, record, refuse_changes
from portal.db import unit_of_work
from portal.security import request_user_is_admin

_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def register_audit(app: Flask) -> None:
    """Install the safety net and the append-only guard; the factory calls this once per app
    (the session listeners are process-wide and installed once)."""
    app.after_request(record_admin_request)
    for name, listener in (("after_commit", _note_commit), ("before_flush", refuse_changes)):
        if not sa.event.contains(so.Session, name, listener):
            sa.event.listen(so.Session, name, listener)


def _note_commit(session) -> None:
    if has_request_context():
        request.environ[COMMITTED] = True


def record_admin_request(response):
    """After-request hook: one row for an admin's committed action no service recorded."""
    environ = request.environ
    if (
        request.method not in _UNSAFE
        or not environ.get(COMMITTED)
        or environ.get(RECORDED)
        or not request_user_is_admin()
    ):
        return response
    args = {k: str(v) for k, v in (request.view_args or {}).items()}
    try:
        with unit_of_work():
            record(
                f"admin.{request.endpoint}",
                object_type=(request.blueprint or "portal")[:32],
                object_id=(next(iter(args.values()), request.path))[:64],
                actor_id=current_user.id,
                after={"method": request.method, "path": request.path, **args,
                       "status": response.status_code},
            )  # fmt: skip
    except Exception:  # the action itself is done; a lost audit row must not undo it
        current_app.logger.exception("audit row for %s %s not written", request.method,
                                     request.path)  # fmt: skip
    return response
