"""What the accountant takes away: the filtered invoice list as CSV, a month's PDFs as zip.

The CSV has one line per document, issued invoices and the credit notes against them,
oldest first, amounts in major units with the tax apart from the net (`net = subtotal −
discount`, `total = net + tax`). A credit note's amounts are negative (a reversal's,
taking a credit back, positive), so a column's sum is what was billed after credits;
its tax is the part of it at its invoice's rate, split as a lesson's charge is
(`split_tax_included`). A credit note is listed under the filters of its invoice
(status, kind, student) and its own issue date. Drafts have no number and are not
documents yet: they are never exported. The rows come from one query
(`accounting_rows`), read through a server-side cursor and written a chunk at a time,
so a month of any size streams out in the same memory.

The zip holds the PDF of every document issued in one calendar month (UTC), invoices
and credit notes named by their numbers: the stored one, or rendered now and stored for
every later download (each PDF is rendered at most once), written to the response as it
goes.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

import sqlalchemy as sa

from portal.accounts.models import User
from portal.csv_export import python_csv
from portal.db import unit_of_work, utcnow
from portal.errors import ValidationError
from portal.extensions import db
from portal.invoices.documents import credit_note_pdf, invoice_pdf
from portal.invoices.filters import OVERDUE, InvoiceFilters, invoice_conditions
from portal.invoices.models import CreditNote, Invoice, InvoiceStatus
from portal.invoices.services import split_tax_included
from portal.money import format_major_plain
from portal.validation import FIRST_DAY, LAST_DAY

CSV_HEADER = (
    "document",
    "number",
    "credits_invoice",
    "kind",
    "status",
    "issued_on",
    "due_on",
    "paid_on",
    "student_id",
    "student_name",
    "student_email",
    "currency",
    "subtotal",
    "discount",
    "net",
    "tax_rate",
    "tax",
    "total",
)
CURSOR_ROWS = 2000
ZIP_BATCH = 20


def _invoice_rows(filters: InvoiceFilters, now: datetime) -> sa.Select:
    i, u = Invoice, User
    return (
        sa.select(
            sa.literal("invoice").label("document"),
            i.number,
            sa.null().cast(sa.String(20)).label("credits_invoice"),
            i.kind,
            i.status,
            i.issued_at,
            i.due_at,
            i.paid_at,
            i.user_id.label("student_id"),
            u.name.label("student_name"),
            u.email.label("student_email"),
            i.currency,
            i.subtotal,
            i.discount,
            i.tax_rate,
            i.tax,
            i.total,
        )
        .join(u, u.id == i.user_id)
        .where(i.status != InvoiceStatus.DRAFT, *invoice_conditions(filters, now))
    )


def _credit_note_rows(filters: InvoiceFilters, now: datetime) -> sa.Select:
    """Credit notes in the invoice rows' columns: the amount in `total`, the figures
    apart worked out per line (`_csv_line`)."""
    n, i, u = CreditNote, Invoice, User
    return (
        sa.select(
            sa.case((n.reverses_id.is_(None), "credit_note"), else_="credit_note_reversal").label(
                "document"
            ),
            n.number,
            i.number.label("credits_invoice"),
            i.kind,
            sa.literal("issued").label("status"),
            n.issued_at,
            sa.null().cast(i.due_at.type).label("due_at"),
            sa.null().cast(i.paid_at.type).label("paid_at"),
            n.user_id.label("student_id"),
            u.name.label("student_name"),
            u.email.label("student_email"),
            n.currency,
            sa.literal(0, sa.BigInteger).label("subtotal"),
            sa.literal(0, sa.BigInteger).label("discount"),
            i.tax_rate,
            sa.literal(0, sa.BigInteger).label("tax"),
            n.amount.label("total"),
        )
        .join(i, i.id == n.invoice_id)
        .join(u, u.id == n.user_id)
        .where(*invoice_conditions(filters, now, issued_at=n.issued_at))
    )


def accounting_rows(filters: InvoiceFilters, now: datetime | None = None) -> sa.Select:
    """Every document under the filters, one row each (plain columns, no ORM objects),
    in the order they were issued: invoices, then the credit notes against them."""
    now = now or utcnow()
    documents = sa.union_all(
        _invoice_rows(filters, now), _credit_note_rows(filters, now)
    ).subquery()
    return sa.select(documents).order_by(
        documents.c.issued_at, documents.c.document.desc(), documents.c.number
    )


def accounting_csv(filters: InvoiceFilters) -> Iterator[str]:
    """The filtered documents as CSV text, a chunk at a time, in constant memory: plain
    rows from a server-side cursor on the session's connection (no ORM layer)."""
    now = utcnow()
    query = accounting_rows(filters, now).execution_options(yield_per=CURSOR_ROWS)
    rows = db.session.connection().execute(query)
    yield from python_csv(rows, CSV_HEADER, lambda row: _csv_line(row, now))


def _csv_line(row, now: datetime) -> tuple:
    currency = row.currency

    def major(value: int) -> str:
        return format_major_plain(value, currency)

    status = row.status
    if status == InvoiceStatus.OPEN and row.due_at is not None and row.due_at < now:
        status = OVERDUE
    subtotal, discount, tax, total = row.subtotal, row.discount, row.tax, row.total
    if row.document != "invoice":  # credited: given back, so negative
        price, tax = split_tax_included(abs(row.total), row.tax_rate)
        sign = -1 if row.total > 0 else 1
        subtotal, tax, total = sign * price, sign * tax, -row.total
    return (
        row.document,
        row.number,
        row.credits_invoice or "",
        row.kind,
        status,
        _day(row.issued_at),
        _day(row.due_at),
        _day(row.paid_at),
        row.student_id,
        row.student_name,
        row.student_email,
        currency.upper(),
        major(subtotal),
        major(discount),
        major(subtotal - discount),
        f"{row.tax_rate:.2f}",
        major(tax),
        major(total),
    )


def _day(value: datetime | None) -> str:
    return value.astimezone(UTC).date().isoformat() if value is not None else ""


# --- one month's PDFs -------------------------------------------------------------------


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return datetime(self.year + self.month // 12, self.month % 12 + 1, 1, tzinfo=UTC)

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def parse_month(value: object) -> Month:
    """A calendar month from "2026-11"; a ValidationError for anything else."""
    text = value.strip() if isinstance(value, str) else ""
    try:
        day = date.fromisoformat(f"{text}-01") if len(text) == 7 else None
    except ValueError:
        day = None
    if day is None or not FIRST_DAY <= day <= LAST_DAY:
        raise ValidationError(
            "Choose a month like 2026-11.", fields={"month": ["A month like 2026-11."]}
        )
    return Month(day.year, day.month)


def month_invoice_ids(month: Month) -> list[int]:
    """The invoices issued in `month` (open, paid or void: the whole numbered series)."""
    return list(
        db.session.scalars(
            sa.select(Invoice.id)
            .where(
                Invoice.status != InvoiceStatus.DRAFT,
                Invoice.issued_at >= month.start,
                Invoice.issued_at < month.end,
            )
            .order_by(Invoice.number)
        )
    )


def month_credit_note_ids(month: Month) -> list[int]:
    """The credit notes (and reversals) issued in `month`."""
    return list(
        db.session.scalars(
            sa.select(CreditNote.id)
            .where(CreditNote.issued_at >= month.start, CreditNote.issued_at < month.end)
            .order_by(CreditNote.number)
        )
    )


def month_zip(month: Month) -> Iterator[bytes]:
    """The month's PDFs as a zip, written out a document at a time.

    PDFs are read a few at a time; one not stored yet is rendered, stored and committed
    on its own, so a later download (or a second zip) returns the same bytes.
    """
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, stamp, pdf in _month_documents(month):
            info = zipfile.ZipInfo(name, date_time=stamp.timetuple()[:6])
            info.external_attr = 0o644 << 16
            archive.writestr(info, pdf)
            yield sink.take()
    yield sink.take()


def _month_documents(month: Month) -> Iterator[tuple[str, datetime, bytes]]:
    yield from _documents(Invoice, month_invoice_ids(month), invoice_pdf)
    yield from _documents(CreditNote, month_credit_note_ids(month), credit_note_pdf)


def _documents(model, ids: list[int], render) -> Iterator[tuple[str, datetime, bytes]]:
    """(file name, date, PDF) of each document, a few stored PDFs read at a time."""
    for start in range(0, len(ids), ZIP_BATCH):
        rows = db.session.execute(
            sa.select(model.id, model.number, model.issued_at, model.pdf)
            .where(model.id.in_(ids[start : start + ZIP_BATCH]))
            .order_by(model.number)
        ).all()
        for row in rows:
            pdf = row.pdf
            if pdf is None:
                with unit_of_work():  # stored for every later download
                    pdf = render(db.session.get(model, row.id))
            yield f"{row.number}.pdf", row.issued_at, pdf


class _Sink(io.RawIOBase):
    """A write-only, unseekable file the zip writes into; `take` empties it."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data
