"""Server-side sessions: sign-out ends them, sign-in rotates them, the account page
lists them and ends them from elsewhere."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from portal.accounts.models import AccountSession, ServerSession
from portal.extensions import db
from tests import factories
from tests.conftest import CSRF_RE, Session

COOKIE = "session"


def _cookie(client) -> str:
    return client.get_cookie(COOKIE).value


def _replay(app, cookie: str, url: str = "/lessons", **headers):
    """A new browser that holds only a copied session cookie."""
    other = app.test_client()
    other.set_cookie(COOKIE, cookie)
    return other.get(url, headers=headers)


def test_the_cookie_holds_only_a_random_id(login, student):
    browser = login(student)
    cookie = _cookie(browser.client)
    assert re.fullmatch(r"[\w-]{40,}", cookie)
    assert "." not in cookie  # not a signed copy of the session's data
    stored = db.session.scalars(sa.select(ServerSession.session_id)).all()
    assert f"session:{cookie}" in stored


def test_a_copied_cookie_stops_working_at_sign_out(app, login, student):
    browser = login(student)
    cookie = _cookie(browser.client)
    assert _replay(app, cookie).status_code == 200  # the copy works while signed in

    assert browser.post("/signout").status_code == 302

    replayed = _replay(app, cookie)
    assert replayed.status_code == 302 and "/signin" in replayed.headers["Location"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AccountSession)) == 0
    assert f"session:{cookie}" not in db.session.scalars(sa.select(ServerSession.session_id)).all()


def test_sign_in_rotates_the_session_id_and_the_csrf_token(app, student):
    browser = Session(app.test_client())
    page = browser.get("/signin").get_data(as_text=True)
    before_token = CSRF_RE.search(page).group(1)
    before_cookie = _cookie(browser.client)

    response = browser.client.post(
        "/signin",
        data={"email": student.email, "password": factories.PASSWORD, "csrf_token": before_token},
    )
    assert response.status_code == 302
    after_cookie = _cookie(browser.client)
    assert after_cookie != before_cookie
    # The id seen before sign-in does not carry the signed-in session.
    assert _replay(app, before_cookie).status_code == 302
    # The token seen before sign-in is refused now; the new page's token works.
    refused = browser.client.post("/account/tokens", data={"csrf_token": before_token})
    assert refused.status_code == 400
    fresh = CSRF_RE.search(browser.get("/account").get_data(as_text=True)).group(1)
    assert fresh != before_token
    assert browser.client.post("/account/tokens", data={"csrf_token": fresh}).status_code == 200


def test_strong_session_protection_still_drops_a_cookie_used_elsewhere(app, login, student):
    browser = login(student)
    cookie = _cookie(browser.client)
    stolen = _replay(app, cookie, **{"User-Agent": "another-browser/1.0"})
    assert stolen.status_code == 302 and "/signin" in stolen.headers["Location"]


def test_the_account_page_lists_sessions_and_ends_another(app, login, student):
    laptop = login(student)
    phone = Session(app.test_client())
    phone.client.environ_base["HTTP_USER_AGENT"] = (
        "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36"
    )
    phone.client.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    assert (
        phone.post("/signin", {"email": student.email, "password": factories.PASSWORD}).status_code
        == 302
    )

    page = laptop.get("/account")
    assert page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    assert "Chrome on Android" in html and "203.0.113.9" in html and "this browser" in html
    phone_row = db.session.scalar(
        sa.select(AccountSession).where(AccountSession.ip == "203.0.113.9")
    )
    assert laptop.post(f"/account/sessions/{phone_row.id}/end").status_code == 302

    assert phone.get("/lessons").status_code == 302  # the phone is signed out
    assert laptop.get("/lessons").status_code == 200  # this browser is not
    assert db.session.get(AccountSession, phone_row.id) is None


def test_sign_out_everywhere_and_all_others(app, login, student):
    first, second, third = login(student), login(student), login(student)
    assert first.post("/account/sessions/end-others").status_code == 302
    assert second.get("/lessons").status_code == 302 and third.get("/lessons").status_code == 302
    assert first.get("/lessons").status_code == 200

    fourth = login(student)
    assert fourth.post("/account/sessions/end-all").status_code == 302
    assert first.get("/lessons").status_code == 302 and fourth.get("/lessons").status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AccountSession)) == 0


def test_nobody_ends_another_users_session(login, student):
    mine, theirs = login(student), login(factories.UserFactory(role="tutor"))
    their_row = db.session.scalars(
        sa.select(AccountSession).order_by(AccountSession.id.desc())
    ).first()
    assert mine.post(f"/account/sessions/{their_row.id}/end").status_code == 404
    assert theirs.get("/lessons").status_code == 200


def test_a_session_ended_elsewhere_is_noticed_even_if_the_store_kept_it(app, login, student):
    # The record going away is enough: the next look at the session (once a minute) ends it.
    browser = login(student)
    db.session.execute(sa.delete(AccountSession))
    db.session.commit()
    with browser.client.session_transaction() as stored:
        stored["_seen"] = 0
    assert browser.get("/lessons").status_code == 302


def test_last_seen_is_written_at_most_once_a_minute(app, login, student, count_queries):
    browser = login(student)
    browser.get("/account")
    with count_queries() as statements:
        browser.get("/account")
    assert not [s for s in statements if s.lstrip().upper().startswith("UPDATE ACCOUNT_SESSIONS")]
    with browser.client.session_transaction() as stored:
        stored["_seen"] = 0
    with count_queries() as statements:
        browser.get("/account")
    assert [s for s in statements if s.lstrip().upper().startswith("UPDATE ACCOUNT_SESSIONS")]


@pytest.mark.redis
def test_sessions_live_in_redis_when_configured(other_app, student):
    import redis

    from tests.support.workers import redis_url

    url = redis_url()
    redis_app = other_app(SESSION_REDIS_URL=url)
    browser = Session(redis_app.test_client())
    # Read before the other app's context: the suite's session would bind to its engine.
    email = student.email
    with redis_app.app_context():
        response = browser.post("/signin", {"email": email, "password": factories.PASSWORD})
        assert response.status_code == 302
        cookie = _cookie(browser.client)
        store = redis.Redis.from_url(url)
        assert store.exists(f"session:{cookie}")
        browser.user, browser._csrf = student, None  # sign-in made a new token
        assert browser.post("/signout").status_code == 302
        assert not store.exists(f"session:{cookie}")
        other = redis_app.test_client()
        other.set_cookie(COOKIE, cookie)
        assert other.get("/lessons").status_code == 302


def test_expired_sessions_are_deleted_daily(app, login, student):
    from datetime import timedelta

    from portal.accounts.tasks import delete_expired_sessions
    from portal.db import utcnow

    old, fresh = login(student), login(student)
    rows = db.session.scalars(sa.select(AccountSession).order_by(AccountSession.id)).all()
    rows[0].last_seen_at = utcnow() - app.permanent_session_lifetime - timedelta(minutes=1)
    db.session.execute(
        sa.update(ServerSession).values(expiry=sa.func.datetime("now", "-1 day"))
        if db.engine.dialect.name == "sqlite"
        else sa.update(ServerSession).values(expiry=sa.text("now() - interval '1 day'"))
    )
    db.session.commit()
    assert delete_expired_sessions.apply().get() == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ServerSession)) == 0
    assert [r.id for r in db.session.scalars(sa.select(AccountSession))] == [rows[1].id]
    assert "delete_expired_sessions" in app.extensions["celery"].conf.beat_schedule
    assert old.get("/lessons").status_code == 302 and fresh.get("/lessons").status_code == 302


def test_session_bookkeeping_is_not_an_admin_action_in_the_audit_log(login, admin):
    from portal.audit.models import AuditLog
    from portal.bookings.models import BookingStatus

    done = factories.BookingFactory(status=BookingStatus.COMPLETED)
    browser = login(admin)
    with browser.client.session_transaction() as stored:
        stored["_seen"] = 0  # this request notes the session as seen, and commits that
    refused = browser.post(f"/lessons/{done.id}/cancel", headers={"Referer": "/admin/lessons"})
    assert refused.status_code == 302
    browser.post("/signout")
    assert db.session.scalars(sa.select(AuditLog)).all() == []
