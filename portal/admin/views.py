"""The admin's own pages: the overview and the list of every lesson; each feature's admin
pages live in its `admin.py`."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, request

from portal.accounts.decorators import admin_required
from portal.accounts.models import User
from portal.admin import overview
from portal.bookings.models import Booking, BookingStatus
from portal.extensions import db
from portal.input import choice_filter
from portal.pagination import Page
from portal.payments.lookups import paid_payments_by_lesson
from portal.rendering import render_page
from portal.wallets.charts import bar_chart

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _lessons_by_status() -> dict[str, int]:
    return dict(
        db.session.execute(
            sa.select(Booking.status, sa.func.count()).group_by(Booking.status)
        ).all()
    )


@bp.get("/")
@admin_required
def index():
    users_by_role = dict(
        db.session.execute(sa.select(User.role, sa.func.count()).group_by(User.role)).all()
    )
    bookings_by_status = _lessons_by_status()
    period = choice_filter(request.args, "period", overview.PERIODS, default="30d")
    query = (request.args.get("q") or "").strip()[:120]
    figures = overview.overview(period)
    chart = bar_chart(figures.points, current_app.config["PLATFORM_CURRENCY"])
    return render_page(
        "admin/index.html",
        {
            "users_by_role": users_by_role,
            "bookings_by_status": bookings_by_status,
            "o": figures,
            "chart": chart,
            "periods": overview.PERIOD_LABELS,
            "q": query,
            "found": overview.search(query) if query else None,
        },
    )


@bp.get("/lessons")
@admin_required
def lessons():
    query = sa.select(Booking).order_by(Booking.starts_at.desc(), Booking.id.desc())
    status = choice_filter(request.args, "status", BookingStatus)
    if status:
        query = query.where(Booking.status == status)
    page = Page.of(query, request.args.get("page"), per_page=50)
    paid = paid_payments_by_lesson(b.id for b in page.items)
    counts = _lessons_by_status()
    return render_page(
        "admin/lessons.html",
        {
            "page": page,
            "status": status,
            "paid": paid,
            "counts": counts,
            "tabs": [s.value for s in BookingStatus],
        },
        fragments={"lessons": "lessons"},
    )
