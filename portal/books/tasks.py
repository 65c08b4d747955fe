"""The nightly `verify_ledger`: the full check of the books, its result kept with the run
(the system page and `/metrics` show it) and the admins e-mailed on any drift."""

from __future__ import annotations

import sqlalchemy as sa
from celery import shared_task

from portal import emails
from portal.accounts.models import Role, User
from portal.books.checks import check_invariants
from portal.extensions import db
from portal.ledger.checks import Drift
from portal.rendering import portal_url


@shared_task(name="verify_ledger")
def verify_ledger() -> dict:
    """Run every invariant; e-mail the admins the drifts, if any. Returns the count.

    A drift is the check's finding, not the task's failure; an alert that cannot be sent
    is, and the run's error says how many drifts went unreported.
    """
    drifts = check_invariants()
    if drifts:
        try:
            alert_admins(drifts)
        except Exception as exc:
            raise RuntimeError(f"{len(drifts)} drift(s) found; the alert was not sent") from exc
    return {"drifts": len(drifts)}


def alert_admins(drifts: list[Drift]) -> None:
    admins = db.session.scalars(
        sa.select(User.email).where(User.role == Role.ADMIN, User.active.is_(True))
    ).all()
    if not admins:
        return
    emails.send(
        "ledger_drift",
        subject=f"Ledger check: {len(drifts)} drift(s) found",
        to=admins,
        drifts=drifts,
        ledger_url=portal_url("ledger_admin.index"),
    )
