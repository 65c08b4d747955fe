"""The admin second factor: TOTP enrolled with a QR code, recovery codes, asked at sign-in,
required in production."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
import sqlalchemy as sa

from portal.accounts import two_factor
from portal.accounts.models import RecoveryCode, TwoFactorSecret
from portal.audit.models import AuditLog
from portal.extensions import db
from tests import factories
from tests.conftest import CSRF_RE, Session


def _enrol(browser) -> tuple[str, list[str]]:
    """Enrol through the pages; returns the secret and the recovery codes shown."""
    assert browser.post("/account/two-factor/start").status_code == 302
    page = browser.get("/account/two-factor").get_data(as_text=True)
    assert "<svg" in page
    secret = re.search(r'<code class="token">([A-Z2-7]+)</code>', page).group(1)
    shown = browser.post("/account/two-factor/confirm", {"code": pyotp.TOTP(secret).now()})
    assert shown.status_code == 200
    assert shown.headers["Cache-Control"] == "no-store"
    codes = re.findall(r"<code>([a-z2-9]{5}-[a-z2-9]{5})</code>", shown.get_data(as_text=True))
    return secret, codes


def _password_step(app, user) -> Session:
    browser = Session(app.test_client())
    response = browser.post("/signin", {"email": user.email, "password": factories.PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/signin/verify"
    return browser


def _next_code(secret: str) -> str:
    # A code for the next step: the current one may have been used by the enrolment.
    return pyotp.TOTP(secret).at(int(time.time()) + 30)


def test_enrolment_shows_a_qr_code_and_stores_the_secret_encrypted(login, admin):
    browser = login(admin)
    secret, codes = _enrol(browser)
    assert len(codes) == 10 and len(set(codes)) == 10
    raw = db.session.execute(sa.text("SELECT secret FROM two_factor_secrets")).scalar_one()
    assert secret not in raw
    stored = db.session.scalars(sa.select(RecoveryCode.code_hash)).all()
    assert not set(codes) & set(stored)
    audit = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "two_factor.enrolled"))
    assert audit.actor_id == admin.id
    # The codes are never shown again.
    assert codes[0] not in browser.get("/account/two-factor").get_data(as_text=True)


def test_a_wrong_code_does_not_enrol(login, admin):
    browser = login(admin)
    browser.post("/account/two-factor/start")
    response = browser.post("/account/two-factor/confirm", {"code": "000000"})
    assert response.status_code == 422
    assert "not right" in response.get_data(as_text=True)
    assert not two_factor.is_enrolled(admin.id)


def test_sign_in_asks_for_the_code_after_the_password(app, login, admin):
    secret, _ = _enrol(login(admin))
    browser = _password_step(app, admin)
    assert browser.get("/admin/").status_code == 302  # not signed in yet
    wrong = browser.post("/signin/verify", {"code": "123456"})
    assert wrong.status_code == 422
    ok = browser.post("/signin/verify", {"code": _next_code(secret)})
    assert ok.status_code == 302
    browser.user, browser._csrf = admin, None
    assert browser.get("/admin/").status_code == 200


def test_a_code_works_once(app, login, admin):
    secret, _ = _enrol(login(admin))
    code = _next_code(secret)
    assert _password_step(app, admin).post("/signin/verify", {"code": code}).status_code == 302
    again = _password_step(app, admin).post("/signin/verify", {"code": code})
    assert again.status_code == 422


def test_a_recovery_code_works_once_and_is_audited(app, login, admin):
    _, codes = _enrol(login(admin))
    first = _password_step(app, admin).post("/signin/verify", {"code": codes[0].upper()})
    assert first.status_code == 302
    assert _password_step(app, admin).post("/signin/verify", {"code": codes[0]}).status_code == 422
    used = db.session.scalar(
        sa.select(AuditLog).where(AuditLog.action == "two_factor.recovery_code_used")
    )
    assert used.after == {"recovery_codes_left": 9}


def test_the_code_step_is_rate_limited(app, login, admin, monkeypatch):
    from portal.extensions import limiter

    _enrol(login(admin))
    browser = _password_step(app, admin)
    monkeypatch.setitem(app.config, "SIGN_IN_RATE_LIMIT", "3 per minute")
    limiter.reset()
    codes = [browser.post("/signin/verify", {"code": "000000"}).status_code for _ in range(4)]
    limiter.reset()
    assert codes == [422, 422, 422, 429]


def test_production_sends_an_admin_without_a_second_factor_to_enrolment(
    app, login, admin, monkeypatch
):
    from cryptography.fernet import Fernet

    browser = login(admin)
    monkeypatch.setitem(app.config, "ENV_NAME", "production")
    monkeypatch.setitem(app.config, "FIELD_ENCRYPTION_KEYS", Fernet.generate_key().decode())
    for page in ("/admin/", "/admin/payouts", "/account"):
        response = browser.get(page)
        assert response.status_code == 302, page
        assert response.headers["Location"] == "/account/two-factor"
    api = browser.client.get("/api/v1/me/")
    assert api.status_code == 403 and api.json["error"]["code"] == "two_factor_required"
    page = browser.get("/account/two-factor").get_data(as_text=True)
    assert "need two-factor" in page
    browser._csrf = CSRF_RE.search(page).group(1)
    _enrol(browser)
    assert browser.get("/admin/").status_code == 200


def test_development_offers_it_but_does_not_force_it(login, admin):
    browser = login(admin)
    assert browser.get("/admin/").status_code == 200
    assert "Set up two-factor sign-in" in browser.get("/account").get_data(as_text=True)


def test_production_does_not_stop_other_roles(app, login, student, monkeypatch):
    browser = login(student)
    monkeypatch.setitem(app.config, "ENV_NAME", "production")
    assert browser.get("/lessons").status_code == 200
    assert browser.get("/account/two-factor").status_code == 403


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "١٢٣٤٥٦"])
def test_odd_codes_are_refused(login, admin, code):
    browser = login(admin)
    browser.post("/account/two-factor/start")
    response = browser.post("/account/two-factor/confirm", {"code": code})
    assert response.status_code == 422
    assert db.session.scalar(sa.select(TwoFactorSecret.confirmed_at)) is None
