"""Every e-mail the portal sends, as plain text and HTML from one layout.

A message is a pair of templates, `templates/emails/<name>.txt` and `<name>.html`, that
extend `emails/layout.txt` and `emails/layout.html`: the same greeting, sign-off and
footer everywhere, and styles written inline because mail clients drop style sheets.
Messages are sent by tasks with retries (the feature's `tasks.py` or notifications
module); this module only builds them. Each template has a preview with made-up data on
the admin system page (`portal/system/email_previews.py`), which a test keeps complete.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable, Iterable

import sqlalchemy as sa
from flask import render_template
from flask_mail import Message

from portal.db import unit_of_work, utcnow
from portal.extensions import db, mail

log = logging.getLogger(__name__)

# A task's retries when the mail server is away: a minute, doubling.
BACKOFF_SECONDS = 60


def compose(name: str, *, subject: str, to: Iterable[str], **context) -> Message:
    """The message `name` for the recipients `to`, both parts rendered with `context`."""
    context["subject"] = subject
    return Message(
        subject=subject,
        recipients=list(to),
        body=render_template(f"emails/{name}.txt", **context),
        html=render_template(f"emails/{name}.html", **context),
    )


def send(name: str, *, subject: str, to: Iterable[str], **context) -> None:
    mail.send(compose(name, subject=subject, to=to, **context))


def send_once(statement: sa.Select, message: Callable[[object], Message], sent: str) -> bool:
    """Send `message(row)` for the row `statement` finds still unsent, and stamp its
    `sent` column; True if this call sent it.

    The row stays locked while the mail goes out (another worker skips it) and is marked
    in the same transaction, which the caller commits. If the process dies before that
    commit the row still reads unsent and goes out again (a retry, or the feature's sweep):
    a user may rarely get it twice, never not at all.
    """
    row = db.session.scalar(statement.with_for_update(skip_locked=True))
    if row is None:
        return False
    mail.send(message(row))
    setattr(row, sent, utcnow())
    db.session.flush()
    return True


def send_from_task(task, send: Callable[[int], bool], object_id: int, what: str) -> bool:
    """Run `send(object_id)` in its own unit of work, from the task `task` (bound).

    Eager (no worker, the embedded default) it runs right after the caller's commit and
    must not fail it: it logs, and the feature's sweep picks the mail up later. With a
    worker, mail-server trouble is retried with backoff.
    """
    if task.request.is_eager:
        try:
            with unit_of_work():
                return send(object_id)
        except Exception:
            log.exception("%s %s not sent", what, object_id)
            return False
    try:
        with unit_of_work():
            return send(object_id)
    except (OSError, smtplib.SMTPException) as exc:
        raise task.retry(exc=exc, countdown=BACKOFF_SECONDS * 2**task.request.retries) from exc


def send_with_retries(task, send: Callable[[], bool], what: str) -> bool:
    """Run `send()` (a mail that marks no row) from the task `task` (bound).

    Eager (no worker, the embedded default) it runs right after the caller's commit and
    must not fail what was done: it logs. With a worker, mail-server trouble is retried
    with backoff."""
    try:
        return send()
    except Exception as exc:
        if task.request.is_eager:
            log.exception("%s not sent", what)
            return False
        if isinstance(exc, OSError | smtplib.SMTPException):
            raise task.retry(exc=exc, countdown=BACKOFF_SECONDS * 2**task.request.retries) from exc
        raise
