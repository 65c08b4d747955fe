"""The admin's plans page (create, archive) and subscriptions page (filters, counts, detail)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.audit.models import AuditLog
from portal.db import utcnow
from portal.extensions import db
from portal.subscriptions.models import Plan
from tests import factories
from tests.subscriptions.plans_support import make_plan, make_subscription

PLAN_FORM = {
    "name": "Four a month",
    "slug": "monthly-4",
    "price": "160.00",
    "interval": "month",
    "lessons_per_month": "4",
    "trial_days": "7",
    "features": "Any tutor\n\n  Cancel any time  \n",
}


@pytest.fixture
def as_admin(login, admin):
    return login(admin)


@pytest.mark.parametrize("role", ["student", "tutor"])
def test_only_admins_see_the_admin_pages(login, role):
    plan = make_plan()
    browser = login(factories.UserFactory(role=role))
    for path in ("/admin/plans", "/admin/subscriptions", "/admin/subscriptions/1"):
        assert browser.get(path).status_code == 403, path
    assert browser.post("/admin/plans", PLAN_FORM).status_code == 403
    assert browser.post(f"/admin/plans/{plan.id}/archive").status_code == 403
    assert plan.is_active and db.session.query(Plan).count() == 1


@pytest.mark.stripe
def test_an_admin_creates_a_plan(as_admin, localstripe):
    response = as_admin.post("/admin/plans", PLAN_FORM)
    assert response.status_code == 302, response.get_data(as_text=True)
    [plan] = db.session.query(Plan).all()
    assert (plan.slug, plan.price, plan.lessons_per_month, plan.trial_days) == (
        "monthly-4", 16000, 4, 7)  # fmt: skip
    assert plan.features == ["Any tutor", "Cancel any time"]
    assert localstripe.get(f"/v1/plans/{plan.provider_price_id}")["amount"] == 16000
    page = as_admin.get("/admin/plans").get_data(as_text=True)
    assert "Plan Four a month is on offer." in page and "$40.00" in page  # per lesson
    audit = db.session.query(AuditLog).filter_by(action="plan.created").one()
    assert audit.object_id == str(plan.id)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"price": "abc"}, "Enter an amount like 45 or 45.50."),
        ({"price": "0"}, "The amount must be more than zero."),
        ({"price": ""}, "Enter the price."),
        ({"lessons_per_month": "2.5"}, "Not a valid integer value."),
        ({"lessons_per_month": "0"}, "Number must be between 1 and 100."),
        ({"trial_days": "-1"}, "Number must be between 0 and 90."),
        ({"interval": "week"}, "Not a valid choice."),
        ({"slug": "Not A Slug"}, "Lower-case letters, digits and dashes"),
        ({"name": ""}, "Name the plan."),
        ({"features": "\n".join(f"line {i}" for i in range(11))}, "At most 10 features."),
    ],
)
def test_bad_plan_input_is_shown_on_the_form_and_makes_nothing(as_admin, change, message):
    response = as_admin.post("/admin/plans", {**PLAN_FORM, **change})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert db.session.query(Plan).count() == 0


def test_a_plan_form_without_its_csrf_token_is_refused(as_admin):
    response = as_admin.post("/admin/plans", {**PLAN_FORM, "csrf_token": "forged"})
    assert response.status_code == 400
    assert db.session.query(Plan).count() == 0


def test_a_taken_slug_is_a_form_error(as_admin):
    make_plan("monthly-4", active=False)
    response = as_admin.post("/admin/plans", PLAN_FORM)
    assert response.status_code == 422
    assert "In use." in response.get_data(as_text=True)
    assert db.session.query(Plan).count() == 1


def test_archiving_keeps_the_plan_and_its_subscribers(as_admin, student):
    plan = make_plan("monthly-4")
    make_subscription(student, plan)
    page = as_admin.get("/admin/plans").get_data(as_text=True)
    assert "Archive" in page
    response = as_admin.post(f"/admin/plans/{plan.id}/archive")
    assert response.status_code == 302
    db.session.refresh(plan)
    assert not plan.is_active and plan.archived_at is not None
    page = as_admin.get("/admin/plans").get_data(as_text=True)
    assert "archived" in page and f'href="/admin/subscriptions?plan={plan.id}">1<' in page
    again = as_admin.post(f"/admin/plans/{plan.id}/archive", headers={"Referer": "/admin/plans"})
    assert again.status_code == 302
    assert "already archived" in as_admin.get("/admin/plans").get_data(as_text=True)
    assert as_admin.post("/admin/plans/999/archive").status_code == 404


def _subscriptions(plan4, plan8, yearly):
    now = utcnow()
    students = factories.UserFactory.create_batch(6, role="student")
    make_subscription(students[0], plan4, "active")
    make_subscription(students[1], plan8, "past_due")
    make_subscription(students[2], yearly, "active", cancel_at_period_end=True, canceled_at=now)
    make_subscription(students[3], plan4, "trialing")
    make_subscription(students[4], plan8, "canceled", canceled_at=now, ended_at=now)
    last_month = now.replace(day=1) - timedelta(days=2)
    make_subscription(students[5], plan4, "expired", canceled_at=last_month, ended_at=last_month)
    return students


def test_the_subscriptions_page_counts_and_filters(as_admin):
    plan4 = make_plan("monthly-4", price=16000)
    plan8 = make_plan("monthly-8", price=30000, lessons=8)
    yearly = make_plan("yearly-4", price=120000, interval="year")
    students = _subscriptions(plan4, plan8, yearly)
    page = as_admin.get("/admin/subscriptions").get_data(as_text=True)
    # 160.00 + 300.00 + 1200.00 / 12; the trial and the ended ones are not revenue.
    assert '<p class="stat-value" data-mrr>$560.00</p>' in page
    assert '<p class="stat-value" data-cancellations>2</p>' in page
    for status, count in {"active": 2, "past_due": 1, "trialing": 1, "canceled": 1,
                          "expired": 1, "incomplete": 0}.items():  # fmt: skip
        assert f'data-status-count="{status}">{count}<' in page
    assert "6 subscriptions." in page
    only_active = as_admin.get("/admin/subscriptions?status=active").get_data(as_text=True)
    assert "2 subscriptions." in only_active and students[3].email not in only_active
    by_plan = as_admin.get(f"/admin/subscriptions?plan={plan8.id}").get_data(as_text=True)
    assert "2 subscriptions." in by_plan and students[1].email in by_plan
    both = as_admin.get(f"/admin/subscriptions?plan={plan4.id}&status=trialing")
    assert "1 subscription." in both.get_data(as_text=True)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("status=bogus", "Unknown status: choose one of incomplete, trialing"),
        ("plan=abc", "plan must be a whole number."),
        ("plan=1.5", "plan must be a whole number."),
        ("plan=-1", "plan is out of range."),
        ("plan=0", "plan is out of range."),
    ],
)
def test_bad_filters_are_refused(as_admin, query, message):
    response = as_admin.get(f"/admin/subscriptions?{query}")
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_a_subscription_detail_shows_periods_invoices_and_lessons(as_admin, student, tutor):
    from portal.bookings.models import BookingStatus
    from portal.subscriptions.models import SubscriptionPeriod

    plan = make_plan("monthly-4")
    sub = make_subscription(student, plan, provider_subscription_id="sub_123", lessons_used=1)
    period = SubscriptionPeriod(
        subscription_id=sub.id, starts_at=sub.current_period_start,
        ends_at=sub.current_period_end, amount_paid=20000, currency="usd",
        lessons_allowed=4, lessons_used=1,
    )  # fmt: skip
    db.session.add(period)
    db.session.commit()
    factories.BookingFactory(
        student=student, tutor=tutor, status=BookingStatus.SCHEDULED, subscription_id=sub.id,
        subscription_period_id=period.id,
    )  # fmt: skip
    page = as_admin.get(f"/admin/subscriptions/{sub.id}").get_data(as_text=True)
    assert student.email in page and "sub_123" in page
    assert "$200.00" in page and "1 / 4" in page and tutor.name in page
    assert as_admin.get("/admin/subscriptions/999").status_code == 404


@pytest.mark.stripe
def test_an_admin_cancels_a_subscription_now(as_admin, localstripe, stripe_plan, card_holder):
    from portal.subscriptions import services
    from tests.subscriptions.stripe_support import subscriptions

    student = card_holder()
    services.create_subscription(student, stripe_plan())
    db.session.commit()
    [sub] = subscriptions()
    page = as_admin.get(f"/admin/subscriptions/{sub.id}").get_data(as_text=True)
    assert "Cancel now" in page
    response = as_admin.post(f"/admin/subscriptions/{sub.id}/cancel")
    assert response.status_code == 302
    [sub] = subscriptions()
    assert sub.status == "canceled" and sub.ended_at is not None
    at_stripe = localstripe.get(f"/v1/subscriptions/{sub.provider_subscription_id}")
    assert at_stripe["status"] == "canceled"
    audit = db.session.query(AuditLog).filter_by(action="subscription.cancelled").one()
    assert audit.after == {"status": "canceled"} and audit.before == {"status": "active"}
    page = as_admin.get(f"/admin/subscriptions/{sub.id}").get_data(as_text=True)
    assert "cancelled now" in page and "Cancel now" not in page
    again = as_admin.post(f"/admin/subscriptions/{sub.id}/cancel")
    assert again.status_code == 409
    assert as_admin.post("/admin/subscriptions/999/cancel").status_code == 404


def test_only_admins_cancel_now(login, student):
    sub = make_subscription(student, make_plan())
    for role in ("student", "tutor"):
        browser = login(factories.UserFactory(role=role))
        assert browser.post(f"/admin/subscriptions/{sub.id}/cancel").status_code == 403
    db.session.refresh(sub)
    assert sub.status == "active"


@pytest.mark.parametrize(
    ("method", "url", "status"),
    [
        ("get", "/admin/subscriptions?page=99999999999999999999", 200),
        ("get", "/admin/subscriptions?plan=%C2%B2", 400),
        ("get", "/admin/subscriptions?plan=99999999999999999999", 400),
        ("get", "/admin/subscriptions/99999999999999999999", 404),
        ("post", "/admin/subscriptions/99999999999999999999/cancel", 404),
        ("post", "/admin/plans/99999999999999999999/archive", 404),
    ],
)
def test_huge_ids_and_odd_filters_are_clear_answers(as_admin, method, url, status):
    response = as_admin.get(url) if method == "get" else as_admin.post(url)
    assert response.status_code == status
