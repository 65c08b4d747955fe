"""Tutors' monthly statements: one PDF per tutor and calendar month (UTC), issued once.

On the first of each month `issue_tutor_statements` writes the statement of the month
before for every tutor whose wallet had money or movements in it. Its figures come
from the books:

- the opening and closing balances (pending, available, in flight) are minus the sums
  of the postings on the tutor's three ledger accounts, of the entries made before the
  month began and before it ended;
- the month's movements are its statement lines summed by type: earnings (the tutor's
  share after the platform fee), the fees kept on those lessons, refunds (net of
  refunds the provider could not pay out), adjustments (credits and debits by M4SH) and
  payouts sent; releases and payouts requested or returned move money between the
  balances and change no total;
- each line is printed as on the earnings page, oldest first.

Opening plus the lines' changes must equal closing for every balance, and opening plus
the movements must equal the closing total: the same invariants `flask ledger check`
verifies. A wallet whose lines disagree with its postings gets no statement (the task
reports it) rather than a wrong one. The PDF is rendered outside any lock and stored
with the figures under a unique (wallet, month): a second run, or two at once, keep the
first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from flask import current_app, render_template

from portal.accounts.models import User
from portal.db import utcnow
from portal.errors import NotFound
from portal.extensions import db
from portal.ledger.accounts import insert_or_skip, total
from portal.ledger.models import LedgerEntry, LedgerPosting
from portal.wallets.models import (
    EARNING_TYPES,
    REFUND_TYPES,
    TransactionType,
    TutorStatement,
    TutorWallet,
    WalletTransaction,
)

ADJUSTMENT_TYPES = (TransactionType.CREDIT, TransactionType.DEBIT)
BUCKETS = ("pending", "available", "in_flight")


class StatementDrift(RuntimeError):
    """The month's statement lines do not lead from the opening to the closing balances."""


def month_start(month: date) -> datetime:
    return datetime(month.year, month.month, 1, tzinfo=UTC)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def previous_month(today: date) -> date:
    return date(today.year - (today.month == 1), (today.month - 2) % 12 + 1, 1)


@dataclass(frozen=True)
class Balances:
    pending: int = 0
    available: int = 0
    in_flight: int = 0

    @property
    def total(self) -> int:
        return self.pending + self.available + self.in_flight


@dataclass(frozen=True)
class MonthFigures:
    opening: Balances
    closing: Balances
    earnings: int
    fees: int
    refunds: int
    adjustments: int
    payouts: int
    line_count: int

    @property
    def is_empty(self) -> bool:
        return not self.line_count and not self.opening.total and self.opening == self.closing


def ledger_balances(wallet: TutorWallet, before: datetime) -> Balances:
    """The wallet's balances from the ledger: its accounts' postings of entries made
    before `before`."""
    accounts = {wallet.pending_account_id: "pending", wallet.available_account_id: "available"}
    accounts[wallet.in_flight_account_id] = "in_flight"
    rows = db.session.execute(
        sa.select(LedgerPosting.account_id, total(LedgerPosting.amount, negate=True))
        .join(LedgerEntry, LedgerEntry.id == LedgerPosting.entry_id)
        .where(LedgerPosting.account_id.in_(accounts), LedgerEntry.created_at < before)
        .group_by(LedgerPosting.account_id)
    )
    return Balances(**{accounts[account_id]: amount for account_id, amount in rows})


def _sum_where(condition, column) -> sa.ColumnElement:
    return total(sa.case((condition, column), else_=0))


def month_figures(wallet: TutorWallet, month: date) -> MonthFigures:
    """The month's balances and movements; StatementDrift if lines and ledger disagree."""
    start, end = month_start(month), month_start(next_month(month))
    opening, closing = ledger_balances(wallet, start), ledger_balances(wallet, end)
    t = WalletTransaction
    sums = db.session.execute(
        sa.select(
            sa.func.count(t.id).label("lines"),
            _sum_where(t.type.in_(EARNING_TYPES), t.amount).label("earnings"),
            _sum_where(t.type.in_(EARNING_TYPES), sa.func.coalesce(t.fee, 0)).label("fees"),
            _sum_where(t.type.in_(REFUND_TYPES), t.amount).label("refunds"),
            _sum_where(t.type.in_(ADJUSTMENT_TYPES), t.amount).label("adjustments"),
            _sum_where(t.type == TransactionType.PAYOUT_COMPLETED, t.amount).label("payouts"),
            *(total(getattr(t, f"{b}_change")).label(b) for b in BUCKETS),
        ).where(t.wallet_id == wallet.id, t.created_at >= start, t.created_at < end)
    ).one()
    figures = MonthFigures(
        opening,
        closing,
        sums.earnings,
        sums.fees,
        sums.refunds,
        sums.adjustments,
        sums.payouts,
        sums.lines,
    )
    _check(wallet, month, figures, sums)
    return figures


def _check(wallet: TutorWallet, month: date, figures: MonthFigures, sums) -> None:
    for bucket in BUCKETS:
        opening, closing = getattr(figures.opening, bucket), getattr(figures.closing, bucket)
        if opening + getattr(sums, bucket) != closing:
            raise StatementDrift(
                f"tutor {wallet.tutor_id} {month:%Y-%m}: {bucket} opens at {opening}, its lines "
                f"move {getattr(sums, bucket)}, the ledger closes it at {closing}"
            )
    moved = figures.earnings + figures.refunds + figures.adjustments + figures.payouts
    if figures.opening.total + moved != figures.closing.total:
        raise StatementDrift(f"tutor {wallet.tutor_id} {month:%Y-%m}: movements do not add up")


def month_lines(wallet_id: int, month: date) -> list[WalletTransaction]:
    t = WalletTransaction
    return list(
        db.session.scalars(
            sa.select(t)
            .where(
                t.wallet_id == wallet_id,
                t.created_at >= month_start(month),
                t.created_at < month_start(next_month(month)),
            )
            .order_by(t.id)
        )
    )


def render_statement_pdf(wallet: TutorWallet, month: date, figures: MonthFigures) -> bytes:
    # WeasyPrint takes a while to import; only the processes that render pay for it.
    from weasyprint import HTML

    html = render_template(
        "wallets/statement_pdf.html",
        tutor=db.session.get(User, wallet.tutor_id),
        currency=wallet.currency,
        month=month,
        last_day=next_month(month) - timedelta(days=1),
        figures=figures,
        lines=month_lines(wallet.id, month),
        label=_label,
    )
    return HTML(string=html, base_url=current_app.static_folder).write_pdf()


def _label(line_type: str) -> str:
    return {
        "earnings": "Earnings (your share)",
        "refunds": "Refunds",
        "adjustments": "Adjustments by M4SH",
        "payouts": "Payouts sent",
    }[line_type]


def issue_statement(wallet_id: int, month: date) -> TutorStatement | None:
    """The wallet's statement of `month`, rendered and stored unless it exists; None when
    there is one already or nothing to state (no money and no movement). The caller
    commits."""
    if _issued(wallet_id, month) is not None:
        return None
    wallet = db.session.get(TutorWallet, wallet_id)
    figures = month_figures(wallet, month)
    if figures.is_empty:
        return None
    pdf = render_statement_pdf(wallet, month, figures)
    values = {
        "wallet_id": wallet.id,
        "tutor_id": wallet.tutor_id,
        "month": month,
        "currency": wallet.currency,
        "earnings": figures.earnings,
        "fees": figures.fees,
        "refunds": figures.refunds,
        "adjustments": figures.adjustments,
        "payouts": figures.payouts,
        "line_count": figures.line_count,
        "pdf": pdf,
        "created_at": utcnow(),
    }
    for bucket in BUCKETS:
        values[f"opening_{bucket}"] = getattr(figures.opening, bucket)
        values[f"closing_{bucket}"] = getattr(figures.closing, bucket)
    stored_id = db.session.scalar(
        insert_or_skip(TutorStatement)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["wallet_id", "month"])
        .returning(TutorStatement.id)
    )
    return None if stored_id is None else db.session.get(TutorStatement, stored_id)


def _issued(wallet_id: int, month: date) -> TutorStatement | None:
    return db.session.scalar(
        sa.select(TutorStatement).where(
            TutorStatement.wallet_id == wallet_id, TutorStatement.month == month
        )
    )


def wallets_due(month: date) -> list[int]:
    """Wallets opened before `month` ended that have no statement of it yet."""
    issued = sa.select(TutorStatement.wallet_id).where(TutorStatement.month == month)
    return list(
        db.session.scalars(
            sa.select(TutorWallet.id)
            .where(
                TutorWallet.created_at < month_start(next_month(month)),
                TutorWallet.id.not_in(issued),
            )
            .order_by(TutorWallet.id)
        )
    )


# --- the tutor's own ------------------------------------------------------------------


def statements_of(tutor_id: int) -> list[TutorStatement]:
    """A tutor's statements, latest month first."""
    return list(
        db.session.scalars(
            sa.select(TutorStatement)
            .where(TutorStatement.tutor_id == tutor_id)
            .order_by(TutorStatement.month.desc())
        )
    )


def statement_pdf_of(tutor_id: int, statement_id: int) -> tuple[bytes, str]:
    """The stored PDF of the tutor's own statement and its file name; 404 for anyone else's."""
    row = db.session.execute(
        sa.select(TutorStatement.pdf, TutorStatement.month).where(
            TutorStatement.id == statement_id, TutorStatement.tutor_id == tutor_id
        )
    ).one_or_none()
    if row is None:
        raise NotFound("No such statement.")
    return row.pdf, f"m4sh-statement-{row.month:%Y-%m}.pdf"
