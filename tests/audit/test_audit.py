"""The audit log: appended with who, what, when and where; never changed; searchable."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from portal.audit.models import AuditLog
from portal.audit.services import AppendOnlyViolation, record
from portal.extensions import db
from tests import factories


def _entry(**kwargs) -> AuditLog:
    values = {"object_type": "payout", "object_id": "p-1", "after": {"status": "approved"}}
    entry = record("payout.approved", **{**values, **kwargs})
    db.session.commit()
    return entry


def test_record_keeps_actor_object_change_ip_and_time(app, admin):
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "203.0.113.9"}):
        entry = record("payout.failed", object_type="payout", object_id=42, actor_id=admin.id,
                       before={"status": "pending"}, after={"status": "failed"})  # fmt: skip
        db.session.commit()
    db.session.expire_all()
    stored = db.session.get(AuditLog, entry.id)
    assert (stored.actor_id, stored.action, stored.object_type, stored.object_id) == (
        admin.id, "payout.failed", "payout", "42",
    )  # fmt: skip
    assert stored.before == {"status": "pending"} and stored.after == {"status": "failed"}
    assert stored.ip == "203.0.113.9" and stored.created_at.tzinfo is not None


def test_outside_a_request_there_is_no_ip_and_no_actor():
    entry = _entry()
    assert entry.ip is None and entry.actor_id is None


def test_the_orm_refuses_to_change_or_delete_a_row():
    entry = _entry()
    entry.action = "payout.cancelled"
    with pytest.raises(AppendOnlyViolation):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.get(AuditLog, entry.id))
    with pytest.raises(AppendOnlyViolation):
        db.session.flush()
    db.session.rollback()


@pytest.mark.parametrize(
    "statement",
    [
        sa.update(AuditLog).values(action="payout.cancelled"),
        sa.delete(AuditLog),
    ],
)
def test_the_database_refuses_update_and_delete(statement):
    """A trigger on PostgreSQL and on SQLite: raw SQL cannot rewrite history either."""
    _entry()
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        db.session.execute(statement)
    db.session.rollback()
    assert db.session.scalar(sa.select(AuditLog.action)) == "payout.approved"


def test_admins_search_it(browser, admin):
    other = factories.UserFactory(role="admin", email="other.admin@m4sh.app")
    _entry(object_id="p-1", actor_id=admin.id)
    record("payout.failed", object_type="payout", object_id="p-2", actor_id=other.id)
    record("payout_destination.updated", object_type="tutor", object_id="7")
    db.session.commit()
    page = browser(admin)

    def rows(query: str) -> str:
        """The result table alone, as the search form's htmx request gets it."""
        response = page.get(
            f"/admin/audit{query}", headers={"HX-Request": "true", "HX-Target": "entries"}
        )
        assert response.status_code == 200, query
        return response.get_data(as_text=True)

    everything = rows("")
    assert "payout.approved" in everything and "payout_destination.updated" in everything
    only_payouts = rows("?action=payout")
    assert "payout.failed" in only_payouts and "payout_destination.updated" not in only_payouts
    by_actor = rows("?actor=other.admin")
    assert "payout.failed" in by_actor and "payout.approved" not in by_actor
    assert "payout_destination.updated" in rows("?actor=system")
    assert "payout.failed" not in rows("?object_type=payout&object_id=p-1")
    assert "Nothing recorded matches" in rows("?from=2001-01-01&to=2001-01-02")
    full = page.get("/admin/audit").get_data(as_text=True)
    assert "<html" in full and "payout.approved" in full
    assert everything.lstrip().startswith('<div id="entries">') and "<html" not in everything


def test_bad_search_input_is_a_form_error(browser, admin):
    response = browser(admin).get("/admin/audit?from=yesterday&actor=" + "x" * 200)
    assert response.status_code == 422
    assert "Use a date like 2026-01-31." in response.get_data(as_text=True)


@pytest.mark.parametrize("role", ["student", "tutor"])
def test_only_admins_see_it(browser, role):
    assert browser(factories.UserFactory(role=role)).get("/admin/audit").status_code == 403


def test_every_committed_admin_action_is_recorded_even_without_a_service_row(browser, admin):
    from portal.bookings.models import BookingStatus

    booking = factories.BookingFactory(status=BookingStatus.SCHEDULED)
    done = factories.BookingFactory(status=BookingStatus.COMPLETED)
    boss = browser(admin)
    assert boss.post(f"/lessons/{booking.id}/complete").status_code == 302
    refused = boss.post(f"/lessons/{done.id}/cancel", headers={"Referer": "/admin/lessons"})
    assert refused.status_code == 302  # refused: a flash, nothing committed
    tutor = browser(booking.tutor)
    tutor.post(f"/lessons/{booking.id}/cancel", headers={"Referer": "/lessons"})
    db.session.expire_all()
    (entry,) = db.session.scalars(sa.select(AuditLog)).all()
    assert entry.action == "admin.bookings.complete" and entry.actor_id == admin.id
    assert (entry.object_type, entry.object_id) == ("bookings", str(booking.id))
    assert entry.after == {"method": "POST", "path": f"/lessons/{booking.id}/complete",
                           "booking_id": str(booking.id), "status": 302}  # fmt: skip
    assert entry.ip == "127.0.0.1"


def test_an_action_a_service_recorded_is_not_recorded_twice(browser, admin):
    from portal.payouts import requesting
    from tests.payouts.conftest import credit, with_bank

    tutor = factories.UserFactory(role="tutor")
    with_bank(tutor)
    credit(tutor, 5000)
    payout = requesting.request_payout(tutor, amount=2000, payout_method="bank_transfer")
    db.session.commit()
    browser(admin).post(f"/admin/payouts/{payout.uuid}/approve")
    db.session.expire_all()
    actions = list(db.session.scalars(sa.select(AuditLog.action).order_by(AuditLog.id)))
    assert actions[-1] == "payout.approved" and not any(a.startswith("admin.") for a in actions)


@pytest.mark.parametrize("role", ["student", "admin"])
def test_the_safety_net_reads_the_role_without_loading_the_user_again(
    app, bearer, count_queries, role
):
    """The hook runs after the request's commit, which expired the user row; the role was
    noted when the user was loaded, so no request pays a second user query for it."""
    from portal.security import request_user_is_admin

    headers = bearer(factories.UserFactory(role=role))
    with app.test_request_context("/api/v1/bookings/", method="POST", headers=headers):
        app.preprocess_request()  # the bearer token's user is loaded here
        db.session.commit()
        with count_queries() as statements:
            assert request_user_is_admin() is (role == "admin")
        assert statements == []


def test_an_admin_token_action_is_recorded_by_the_safety_net(client, bearer, admin, tutor):
    from datetime import timedelta

    from portal.db import utcnow

    student = factories.UserFactory(role="student")
    starts = (utcnow() + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    body = {"tutor_id": tutor.id, "starts_at": starts.isoformat(), "duration_minutes": 60}
    booked = client.post("/api/v1/bookings/", json=body, headers=bearer(student))
    assert booked.status_code == 201
    cancelled = client.post(f"/api/v1/bookings/{booked.json['id']}/cancel/", headers=bearer(admin))
    assert cancelled.status_code == 200, cancelled.json
    rows = list(db.session.scalars(sa.select(AuditLog)))
    assert [(r.actor_id, r.action) for r in rows] == [(admin.id, rows[0].action)]
    assert rows[0].action.startswith("admin.")
