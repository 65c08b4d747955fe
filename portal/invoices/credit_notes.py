"""Credit notes: every refund of an invoiced payment is written against its invoice.

A refund that goes through issues one note for its amount; a refund the provider later
reports as failed is cancelled by a second note, for minus that amount, that names the
first (`reverses_id`). Notes are never edited, so the invoice's history reads as it
happened. Each takes the next `CN-YYYY-NNNNNN` (see `numbering`), last, like invoice
numbers. Both functions are idempotent: a refund seen again returns its note.

They are called from the payment's effects, inside the refund's unit of work, and flush
without committing; the e-mail to the student is queued by the caller after the commit.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from portal.accounts.models import Role, User
from portal.db import parse_id, utcnow
from portal.errors import NotFound
from portal.extensions import db
from portal.invoices.models import CreditNote, Invoice
from portal.invoices.numbering import next_credit_note_number

DEFAULT_REASON = "Refund"
REVERSAL_REASON = "The refund could not be paid out and is cancelled: {number} no longer applies."


def issue_for_refund(
    invoice: Invoice,
    *,
    refund_id: int,
    amount: int,
    reason: str = "",
    now: datetime | None = None,
) -> CreditNote:
    """The credit note of a refund that went through, written once per refund."""
    existing = _note_of_refund(refund_id)
    if existing is not None:
        return existing
    now = now or utcnow()
    note = CreditNote(
        invoice_id=invoice.id,
        user_id=invoice.user_id,
        refund_id=refund_id,
        amount=amount,
        currency=invoice.currency,
        reason=(reason or DEFAULT_REASON)[:500],
        issued_at=now,
        number=next_credit_note_number(now.year),
    )
    db.session.add(note)
    db.session.flush()
    return note


def reverse_for_refund(refund_id: int, *, now: datetime | None = None) -> CreditNote | None:
    """The note cancelling a failed refund's credit note, written once; None if the refund
    had no note (its payment was not invoiced)."""
    note = _note_of_refund(refund_id)
    if note is None:
        return None
    existing = db.session.scalar(sa.select(CreditNote).where(CreditNote.reverses_id == note.id))
    if existing is not None:
        return existing
    now = now or utcnow()
    reversal = CreditNote(
        invoice_id=note.invoice_id,
        user_id=note.user_id,
        refund_id=refund_id,
        reverses_id=note.id,
        amount=-note.amount,
        currency=note.currency,
        reason=REVERSAL_REASON.format(number=note.number),
        issued_at=now,
        number=next_credit_note_number(now.year),
    )
    db.session.add(reversal)
    db.session.flush()
    return reversal


def _note_of_refund(refund_id: int) -> CreditNote | None:
    return db.session.scalar(
        sa.select(CreditNote).where(
            CreditNote.refund_id == refund_id, CreditNote.reverses_id.is_(None)
        )
    )


def get_credit_note_for(user: User, invoice: Invoice, note_id: object) -> CreditNote:
    """A credit note of `invoice` by id, if `user` may see it (its student, or an admin);
    else 404."""
    key = parse_id(note_id)
    if key is None:
        raise NotFound("No such credit note.")
    query = sa.select(CreditNote).where(CreditNote.id == key, CreditNote.invoice_id == invoice.id)
    if user.role != Role.ADMIN:
        query = query.where(CreditNote.user_id == user.id)
    note = db.session.scalar(query)
    if note is None:
        raise NotFound("No such credit note.")
    return note
