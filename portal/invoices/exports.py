"""What the accountant takes away: the filtered invoice list as CSV, a month's PDFs as zip.

The CSV has one line per document, issued invoices and the credit notes against them,
oldest first, amounts in major units with the tax apart from the net (`net = subtotal −
discount`, `total = net + tax`); a credit note's amounts are negative, so a column's sum
is what was billed after credits. Drafts have no number and are not documents yet: they
are never exported. The rows come from one query (`accounting_rows`) read through a
server-side cursor and written a chunk at a time, so a month of any size streams out in
the same memory.

The zip holds the PDF of every document issued in one calendar month (UTC): the stored
one, or rendered now and stored for every later download (each PDF is rendered at most
once), and is written to the response as it goes.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

import sqlalchemy as sa

from portal.accounts.models import User
from portal.db import unit_of_work, utcnow
from portal.errors import ValidationError
from portal.extensions import db
from portal.invoices.documents import invoice_pdf
from portal.invoices.filters import OVERDUE, InvoiceFilters, invoice_conditions
from portal.invoices.models import Invoice, InvoiceStatus
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
CSV_CHUNK_ROWS = 500
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


def accounting_rows(filters: InvoiceFilters, now: datetime | None = None) -> sa.Select:
    """Every document under the filters, one row each (plain columns, no ORM objects),
    in the order they were issued."""
    documents = sa.union_all(_invoice_rows(filters, now or utcnow())).subquery()
    return sa.select(documents).order_by(
        documents.c.issued_at, documents.c.document.desc(), documents.c.number
    )


def accounting_csv(filters: InvoiceFilters) -> Iterator[str]:
    """The filtered documents as CSV text, a chunk at a time, in constant memory."""
    now = utcnow()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    query = accounting_rows(filters, now).execution_options(yield_per=CURSOR_ROWS)
    for count, row in enumerate(db.session.execute(query), start=1):
        writer.writerow(_csv_line(row, now))
        if count % CSV_CHUNK_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _csv_line(row, now: datetime) -> tuple:
    currency = row.currency

    def major(value: int) -> str:
        return format_major_plain(value, currency)

    status = row.status
    if status == InvoiceStatus.OPEN and row.due_at is not None and row.due_at < now:
        status = OVERDUE
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
        major(row.subtotal),
        major(row.discount),
        major(row.subtotal - row.discount),
        f"{row.tax_rate:.2f}",
        major(row.tax),
        major(row.total),
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
    ids = month_invoice_ids(month)
    for start in range(0, len(ids), ZIP_BATCH):
        batch = ids[start : start + ZIP_BATCH]
        rows = db.session.execute(
            sa.select(Invoice.id, Invoice.number, Invoice.issued_at, Invoice.pdf)
            .where(Invoice.id.in_(batch))
            .order_by(Invoice.number)
        ).all()
        for row in rows:
            yield f"{row.number}.pdf", row.issued_at, row.pdf or _render_and_store(row.id)


def _render_and_store(invoice_id: int) -> bytes:
    with unit_of_work():
        return invoice_pdf(db.session.get(Invoice, invoice_id))


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
