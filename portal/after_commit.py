"""Work that waits for the commit: tasks queued now are sent only once the transaction
commits, so a worker always finds the rows they name, and a rollback drops them.

A leaf module (it imports only the extensions) so every feature can queue work without
importing the Celery app, which imports the features' tasks.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
import sqlalchemy.orm as so
from kombu.exceptions import OperationalError

from portal.extensions import db

log = logging.getLogger(__name__)

_QUEUED = "portal_after_commit"


def enqueue_after_commit(task, *args, **kwargs) -> None:
    """Send `task` once the current transaction commits, so the worker sees our rows.

    A rollback drops what was queued: no task runs for a change that never happened.
    """
    db.session.info.setdefault(_QUEUED, []).append((task, args, kwargs))


def _send_queued(session) -> None:
    for task, args, kwargs in session.info.pop(_QUEUED, []):
        try:
            task.delay(*args, **kwargs)
        except OperationalError:
            # The change is committed; an unreachable broker must not turn it into an
            # error. Receipts and webhook events have sweeps that find the work undone;
            # a payout e-mail is lost (the tutor's page shows the change).
            log.warning("%s not queued: the broker is unreachable", task.name)


def _drop_queued(session, previous_transaction) -> None:
    session.info.pop(_QUEUED, None)


def install_after_commit_listeners() -> None:
    """Send queued tasks after every commit and drop them on rollback (once per process)."""
    for name, listener in (("after_commit", _send_queued), ("after_soft_rollback", _drop_queued)):
        if not sa.event.contains(so.Session, name, listener):
            sa.event.listen(so.Session, name, listener)
