"""The tutor's earnings dashboard: cards, a 12-month chart, the statement, CSV, settings."""

from __future__ import annotations

import io

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask_login import current_user

from portal.accounts.decorators import tutor_required
from portal.db import parse_id, utcnow
from portal.errors import ValidationError
from portal.extensions import db
from portal.forms import apply_field_errors
from portal.payouts.settings import update_payout_settings
from portal.rendering import htmx_target, render_page
from portal.wallets import statement
from portal.wallets.analytics import get_earnings_analytics, last_months
from portal.wallets.charts import bar_chart
from portal.wallets.forms import PayoutSettingsForm
from portal.wallets.models import TRANSACTION_TYPES
from portal.wallets.monthly_statements import statement_pdf_of, statements_of
from portal.wallets.movement import get_wallet
from portal.wallets.pending import pending_earnings
from portal.wallets.statement import StatementFilters, parse_statement_filters, statement_page
from portal.wallets.summary import get_wallet_summary

bp = Blueprint("wallets", __name__)

STATEMENT_PAGE_SIZE = 25
CHART_MONTHS = 12


def _cursor(name: str) -> int | None:
    raw = request.args.get(name, "")
    return parse_id(raw)


def _filters() -> tuple[StatementFilters, dict | None]:
    """The statement filters from the query string, or no filters and the errors."""
    args = request.args
    try:
        return parse_statement_filters(args.get("type"), args.get("from"), args.get("to")), None
    except ValidationError as exc:
        return StatementFilters(), exc.fields


@bp.get("/earnings")
@tutor_required
def earnings():
    return _dashboard()


def _dashboard(form: PayoutSettingsForm | None = None, status: int = 200):
    summary = get_wallet_summary(current_user.id)
    filters, filter_errors = _filters()
    page = statement_page(
        None if filter_errors else summary.wallet_id,
        filters,
        before=_cursor("before"),
        after=_cursor("after"),
        per_page=STATEMENT_PAGE_SIZE,
    )
    context = {
        "summary": summary,
        "page": page,
        "filters": filters,
        "raw_filters": {k: request.args.get(k, "") for k in ("type", "from", "to")},
        "filter_errors": filter_errors or {},
        "types": TRANSACTION_TYPES,
        "min_payout": current_app.config["MIN_PAYOUT_AMOUNT"],
    }
    if htmx_target() != "statement":
        context.update(_chart_context(summary))
        pending = summary.pending
        context["pending_earnings"] = (
            pending_earnings(current_user.id, pending if pending > 0 else None) if pending else []
        )
        context["monthly_statements"] = statements_of(current_user.id)
        context["form"] = form or PayoutSettingsForm(
            formdata=None,
            minimum=current_app.config["MIN_PAYOUT_AMOUNT"],
            payout_threshold=summary.payout_threshold,
            auto_payout_enabled=summary.auto_payout_enabled,
        )
    response, page_status = render_page(
        "wallets/earnings.html", context, fragments={"statement": "statement"}, http_status=status
    )
    return response, 422 if filter_errors else page_status


def _chart_context(summary) -> dict:
    if summary.is_empty:
        return {"chart": None, "months": []}
    start, end = last_months(CHART_MONTHS, utcnow().date())
    months = get_earnings_analytics(
        current_user.id, "month", start, end, wallet_id=summary.wallet_id
    )
    points = [(m.start.strftime("%b"), m.net) for m in months]
    return {"chart": bar_chart(points, summary.currency), "months": months}


@bp.post("/earnings/settings")
@tutor_required
def payout_settings():
    """Save the threshold and auto-payout switch; htmx gets the form fragment back."""
    form = PayoutSettingsForm(minimum=current_app.config["MIN_PAYOUT_AMOUNT"])
    saved = False
    if form.validate_on_submit():
        try:
            update_payout_settings(
                current_user.id,
                payout_threshold=form.payout_threshold.data,
                auto_payout_enabled=bool(form.auto_payout_enabled.data),
            )
        except ValidationError as exc:
            db.session.rollback()
            apply_field_errors(form, exc.fields, exc.message)
        else:
            db.session.commit()
            saved = True
    status = 422 if form.errors or form.form_errors else 200
    if htmx_target() == "payout-settings":
        return render_page(
            "wallets/_settings.html",
            {"form": form, "saved": saved, "min_payout": current_app.config["MIN_PAYOUT_AMOUNT"]},
            http_status=status,
        )
    if saved:
        flash("Payout settings saved.", "success")
        return redirect(url_for("wallets.earnings"))
    return _dashboard(form=form, status=status)


@bp.get("/earnings/statement.csv")
@tutor_required
def statement_csv():
    filters, errors = _filters()
    if errors:
        raise ValidationError(next(iter(errors.values()))[0], fields=errors)
    wallet = get_wallet(current_user.id)
    stamp = utcnow().strftime("%Y%m%d")
    response = Response(
        stream_with_context(statement.statement_csv(wallet.id if wallet else None, filters)),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="m4sh-statement-{stamp}.csv"',
            "Cache-Control": "no-store",
        },
    )
    return response


@bp.get("/earnings/statements/<int:statement_id>.pdf")
@tutor_required
def monthly_statement_pdf(statement_id: int):
    """A monthly statement as stored; another tutor's is a 404."""
    pdf, filename = statement_pdf_of(current_user.id, statement_id)
    return send_file(
        io.BytesIO(pdf), mimetype="application/pdf", as_attachment=True, download_name=filename
    )
