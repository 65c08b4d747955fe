"""Every e-mail the portal sends, as plain text and HTML from one layout.

A message is a pair of templates, `templates/emails/<name>.txt` and `<name>.html`, that
extend `emails/layout.txt` and `emails/layout.html`: the same greeting, sign-off and
footer everywhere, and styles written inline because mail clients drop style sheets.
Messages are sent by tasks with retries (the feature's `tasks.py` or notifications
module); this module only builds them. Each template has a preview with made-up data on
the admin system page (`portal/system/email_previews.py`), which a test keeps complete.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import render_template
from flask_mail import Message

from portal.extensions import mail


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
