"""A wallet's statement: filters from user input, one page by keyset, the CSV export."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import current_app

from portal.csv_export import (
    CSV_TIME_PATTERN,
    CURSOR_ROWS,
    copy_csv,
    csv_time,
    major_units,
    python_csv,
    text_or_empty,
    utc_text,
)
from portal.db import MAX_ID, is_postgres
from portal.errors import ValidationError
from portal.extensions import db
from portal.money import format_major_plain
from portal.validation import parse_day
from portal.wallets.analytics import day_start
from portal.wallets.models import TRANSACTION_TYPES, TransactionType, WalletTransaction


@dataclass(frozen=True)
class StatementFilters:
    type: str | None = None
    date_from: date | None = None
    date_to: date | None = None

    def as_args(self) -> dict[str, str]:
        args = {}
        if self.type:
            args["type"] = self.type
        if self.date_from:
            args["from"] = self.date_from.isoformat()
        if self.date_to:
            args["to"] = self.date_to.isoformat()
        return args


def parse_statement_filters(type_: object, date_from: object, date_to: object) -> StatementFilters:
    """Filters from user input (query strings); refuses unknown types and bad date ranges."""
    errors: dict[str, list[str]] = {}
    kind = (type_ or "").strip() if isinstance(type_, str) else type_
    if kind and kind not in TRANSACTION_TYPES:
        errors["type"] = [f"Unknown transaction type {kind!r}."]
    start = parse_day(date_from, "from", errors)
    end = parse_day(date_to, "to", errors)
    _check_range(start, end, errors)
    if errors:
        raise ValidationError(next(iter(errors.values()))[0], fields=errors)
    return StatementFilters(kind or None, start, end)


def statement_filters(kind: str | None, start: date | None, end: date | None) -> StatementFilters:
    """Filters from values already of their types (the API's query): refuses a range that
    ends before it starts."""
    errors: dict[str, list[str]] = {}
    _check_range(start, end, errors)
    if errors:
        raise ValidationError(errors["from"][0], fields=errors)
    return StatementFilters(kind, start, end)


def _check_range(start: date | None, end: date | None, errors: dict) -> None:
    if start and end and start > end:
        errors["from"] = ["The start date is after the end date."]


def statement_query(wallet_id: int, filters: StatementFilters) -> sa.Select:
    """Statement lines of one wallet, newest first."""
    t = WalletTransaction
    query = sa.select(t).where(t.wallet_id == wallet_id).order_by(t.id.desc())
    if filters.type:
        query = query.where(t.type == filters.type)
    if filters.date_from:
        query = query.where(t.created_at >= day_start(filters.date_from))
    if filters.date_to:
        query = query.where(t.created_at < day_start(filters.date_to + timedelta(days=1)))
    return query


@dataclass
class StatementPage:
    lines: list[WalletTransaction]
    newer: int | None  # cursor for the newer page (``after=``), if there is one
    older: int | None  # cursor for the older page (``before=``), if there is one


def statement_page(
    wallet_id: int | None,
    filters: StatementFilters,
    *,
    before: int | None = None,
    after: int | None = None,
    per_page: int = 25,
) -> StatementPage:
    """One page of the statement by keyset (id cursors): the same cost on any page.

    One query: it fetches one line more than the page to know whether there is another.
    The keyset is written on (wallet, id), the index's own columns, so the database walks
    that index from the cursor whatever it believes about how one wallet's lines are
    spread among the others' (a tutor with most of the lines made it walk every line by
    id instead, skipping the other wallets' newer ones).
    """
    if wallet_id is None:
        return StatementPage([], None, None)
    # Each line's lesson (with its people) rides along, so a line names it: no extra query.
    query = statement_query(wallet_id, filters).options(so.joinedload(WalletTransaction.booking))
    t = WalletTransaction
    keyset = sa.tuple_(t.wallet_id, t.id)
    if after is not None:  # the newer page: walk up from the cursor, then flip
        rows = list(
            db.session.scalars(
                query.where(keyset > sa.tuple_(wallet_id, after))
                .order_by(None)
                .order_by(t.id.asc())
                .limit(per_page + 1)
            )
        )
        more = len(rows) > per_page
        lines = list(reversed(rows[:per_page]))
        return StatementPage(lines, lines[0].id if more else None, lines[-1].id if lines else None)
    query = query.where(keyset < sa.tuple_(wallet_id, MAX_ID if before is None else before))
    rows = list(db.session.scalars(query.limit(per_page + 1)))
    more = len(rows) > per_page
    lines = rows[:per_page]
    return StatementPage(
        lines,
        lines[0].id if before is not None and lines else None,
        lines[-1].id if more else None,
    )


# Times are UTC ISO 8601 (`2026-10-25T00:30:00Z`), whatever the tutor's time zone.
CSV_HEADER = (
    "date",
    "type",
    "description",
    "amount",
    "available_change",
    "pending_change",
    "in_flight_change",
    "available_after",
    "pending_after",
    "currency",
    "booking_id",
    "payment_id",
    "payout_id",
    "entry_id",
    # Earnings: the lesson's price, the platform's fee and the tutor's net; refunds: the
    # refund, the fee part given back and the tutor's share. Empty for other lines.
    "gross",
    "fee",
    "net",
)


def _split(gross: int | None, fee: int | None, major) -> tuple[str, str, str]:
    if gross is None or fee is None:
        return "", "", ""
    return major(gross), major(fee), major(gross - fee)


def statement_csv(wallet_id: int | None, filters: StatementFilters) -> Iterator[str]:
    """The whole (filtered) statement as CSV text, a chunk at a time, in constant memory.

    On PostgreSQL the database writes the CSV (`portal.csv_export.copy_csv`); elsewhere
    rows come from a server-side cursor (`yield_per`) as plain tuples, never ORM objects.
    """
    currency = current_app.config["PLATFORM_CURRENCY"]
    if wallet_id is None:
        yield from python_csv([], CSV_HEADER)
        return
    if is_postgres(db.session):
        yield from copy_csv(_csv_text_query(wallet_id, filters, currency), CSV_HEADER)
        return
    t = WalletTransaction
    query = (
        statement_query(wallet_id, filters)
        .with_only_columns(
            t.created_at,
            t.type,
            t.description,
            _csv_amount(),
            t.available_change,
            t.pending_change,
            t.in_flight_change,
            t.available_after,
            t.pending_after,
            t.booking_id,
            t.payment_id,
            t.payout_id,
            t.entry_id,
            t.gross,
            t.fee,
        )
        .execution_options(yield_per=CURSOR_ROWS)
    )
    major = lambda value: format_major_plain(value, currency)  # noqa: E731
    upper = currency.upper()

    def line(row) -> tuple:
        return (
            csv_time(row.created_at),
            row.type,
            row.description,
            major(row.amount),
            major(row.available_change),
            major(row.pending_change),
            major(row.in_flight_change),
            major(row.available_after),
            major(row.pending_after),
            upper,
            row.booking_id or "",
            row.payment_id or "",
            row.payout_id or "",
            row.entry_id,
            *_split(row.gross, row.fee, major),
        )

    yield from python_csv(db.session.connection().execute(query), CSV_HEADER, line)


def _csv_amount():
    # A payout is one debit: its arrival only leaves in flight (its own column).
    t = WalletTransaction
    return sa.case((t.type == TransactionType.PAYOUT_COMPLETED, 0), else_=t.amount).label("amount")


def _csv_text_query(wallet_id: int, filters: StatementFilters, currency: str) -> sa.Select:
    """PostgreSQL: the CSV's columns as text, formatted in SQL as `statement_csv`'s rows
    are elsewhere."""
    t = WalletTransaction

    def major(column):
        return major_units(column, currency)

    split = sa.or_(t.gross.is_(None), t.fee.is_(None))
    return statement_query(wallet_id, filters).with_only_columns(
        utc_text(t.created_at, CSV_TIME_PATTERN),
        t.type,
        text_or_empty(t.description),
        major(_csv_amount()),
        major(t.available_change),
        major(t.pending_change),
        major(t.in_flight_change),
        major(t.available_after),
        major(t.pending_after),
        sa.literal(currency.upper()),
        text_or_empty(t.booking_id),
        text_or_empty(t.payment_id),
        text_or_empty(t.payout_id),
        text_or_empty(t.entry_id),
        sa.case((split, ""), else_=major(t.gross)),
        sa.case((split, ""), else_=major(t.fee)),
        sa.case((split, ""), else_=major(t.gross - t.fee)),
    )
