"""The admin's view of the ledger: what is owed, earned and refunded, any account's
balance, recent entries and the invariant check."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, request

from portal.accounts.decorators import admin_required
from portal.accounts.models import User
from portal.books.checks import check_invariants
from portal.db import parse_id
from portal.extensions import db
from portal.input import choice_filter
from portal.ledger.accounts import account_balance, display_balance, platform_balances, total
from portal.ledger.models import LedgerAccount, LedgerEntry
from portal.rendering import render_page
from portal.wallets.models import REFUND_TYPES, TransactionType, TutorWallet, WalletTransaction

bp = Blueprint("ledger_admin", __name__, url_prefix="/admin/ledger")

RECENT_ENTRIES = 20


@bp.get("/")
@admin_required
def index():
    owed = db.session.execute(
        sa.select(
            total(TutorWallet.pending).label("pending"),
            total(TutorWallet.available).label("available"),
            total(TutorWallet.in_flight).label("in_flight"),
            total(sa.case((TutorWallet.available < 0, -TutorWallet.available), else_=0)).label(
                "debt"
            ),
            sa.func.count(TutorWallet.id).label("wallets"),
        )
    ).one()
    # A reversed refund (the provider could not pay it out) carries negative figures and
    # takes its refund out of the count.
    t = WalletTransaction
    refunds = db.session.execute(
        sa.select(
            total(t.gross),
            total(t.fee),
            total(sa.case((t.type == TransactionType.REFUND, 1), else_=-1)),
        ).where(t.type.in_(REFUND_TYPES))
    ).one()
    check = choice_filter(request.args, "check", ("now",))
    balances = platform_balances()
    lookup, looked_up, lookup_error = _lookup(request.args.get("account", "").strip())
    recent = db.session.scalars(
        sa.select(LedgerEntry).order_by(LedgerEntry.id.desc()).limit(RECENT_ENTRIES)
    ).all()
    tutor_ids = {entry.tutor_id for entry in recent if entry.tutor_id}
    tutors = dict(
        db.session.execute(sa.select(User.id, User.name).where(User.id.in_(tutor_ids))).all()
        if tutor_ids
        else ()
    )
    return render_page(
        "admin/ledger.html",
        {
            "owed": owed,
            "refunds": refunds,
            "balances": balances,
            "by_code": {account.code: balance for account, balance in balances},
            "lookup": lookup,
            "looked_up": looked_up,
            "lookup_error": lookup_error,
            "recent": recent,
            "tutors": tutors,
            "drifts": check_invariants() if check == "now" else None,
        },
        fragments={"ledger-check": "check"},
    )


def _lookup(query: str):
    """Accounts matching an account code, a tutor's email or a tutor's id."""
    if not query:
        return query, [], None
    accounts = db.session.scalars(sa.select(LedgerAccount).where(LedgerAccount.code == query)).all()
    if not accounts:
        tutor_id = parse_id(query)
        tutor = (
            db.session.get(User, tutor_id)
            if tutor_id is not None
            else db.session.scalar(sa.select(User).where(User.email == query.lower()))
        )
        if tutor is not None:
            accounts = db.session.scalars(
                sa.select(LedgerAccount)
                .where(LedgerAccount.tutor_id == tutor.id)
                .order_by(LedgerAccount.id)
            ).all()
    if not accounts:
        return query, [], f"No account or tutor matches “{query}”."
    return (
        query,
        [(a, display_balance(a, account_balance(a.id))) for a in accounts],
        None,
    )
