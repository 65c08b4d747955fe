"""The admin's view of tutors' wallets: every wallet's figures, one tutor's wallet with its
statement, and credits or debits by hand (with a reason, audited, on the statement)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, url_for
from flask_login import current_user

from portal.accounts.decorators import admin_required
from portal.accounts.models import Role, User
from portal.errors import NotFound, PortalError
from portal.extensions import db
from portal.forms import apply_field_errors
from portal.ledger.models import LedgerEntry
from portal.money import format_money
from portal.rendering import render_page
from portal.wallets.adjustments import adjust_wallet
from portal.wallets.forms import AdjustmentForm
from portal.wallets.models import TutorWallet, WalletTransaction
from portal.wallets.signals import wallet_adjusted
from portal.wallets.statement import StatementFilters, statement_page
from portal.wallets.summary import get_wallet_summary

bp = Blueprint("wallets_admin", __name__, url_prefix="/admin/wallets")

RECENT_LINES = 25


def make_adjustment(
    actor: User, tutor_id: int, amount: int, reason: str, request_key: str | None
) -> WalletTransaction:
    """Credit (amount > 0) or debit (amount < 0) the tutor's available balance and tell the
    audit log; the same request key twice is one adjustment and one audit row."""
    key = f"adjustment:{tutor_id}:{request_key or uuid.uuid4().hex}"
    repeated = db.session.scalar(
        sa.select(LedgerEntry.id).where(LedgerEntry.idempotency_key == key)
    )
    line = adjust_wallet(
        tutor_id=tutor_id, amount=amount, reason=reason, idempotency_key=key, actor_id=actor.id
    )
    if repeated is None:
        wallet_adjusted.send(line, tutor_id=tutor_id, actor_id=actor.id)
    return line


def _tutor(tutor_id: int) -> User:
    tutor = db.session.get(User, tutor_id)
    if tutor is None or tutor.role != Role.TUTOR:
        raise NotFound("No such tutor.")
    return tutor


@bp.get("")
@admin_required
def index():
    rows = db.session.execute(
        sa.select(User, TutorWallet)
        .outerjoin(TutorWallet, TutorWallet.tutor_id == User.id)
        .where(User.role == Role.TUTOR)
        .order_by(User.name, User.id)
    ).all()
    return render_page("wallets/admin_index.html", {"rows": rows})


@bp.get("/<int:tutor_id>")
@admin_required
def detail(tutor_id):
    return _wallet_page(_tutor(tutor_id), AdjustmentForm(formdata=None))


def _wallet_page(tutor: User, form: AdjustmentForm, status: int = 200):
    summary = get_wallet_summary(tutor.id)
    page = statement_page(summary.wallet_id, StatementFilters(), per_page=RECENT_LINES)
    return render_page(
        "wallets/admin_wallet.html",
        {
            "tutor": tutor,
            "summary": summary,
            "lines": page.lines,
            "form": form,
        },
        http_status=status,
    )


@bp.post("/<int:tutor_id>/adjustments")
@admin_required
def adjust(tutor_id):
    tutor = _tutor(tutor_id)
    form = AdjustmentForm()
    if not form.validate():
        return _wallet_page(tutor, form, 422)
    try:
        line = make_adjustment(
            current_user, tutor.id, form.signed_amount, form.reason.data, form.request_key.data
        )
    except PortalError as exc:
        db.session.rollback()
        apply_field_errors(form, exc.fields, exc.message)
        return _wallet_page(tutor, form, 422)
    db.session.commit()
    done = "Credited" if line.amount > 0 else "Debited"
    flash(f"{done} {format_money(abs(line.amount))} to {tutor.name}'s wallet.", "success")
    return redirect(url_for(".detail", tutor_id=tutor.id))
