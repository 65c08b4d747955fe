"""Forgot password: the link arrives by real SMTP (aiosmtpd), works once and expires."""

import re
import time

import pytest

from portal.accounts import password_reset
from portal.extensions import db, limiter
from tests import factories
from tests.conftest import Session
from tests.support.races import at_once

LINK_RE = re.compile(r"http://\S+/password/reset/(\S+)")
NEW_PASSWORD = "quiet-harbour-lamp-7"


def _ask(anon, email: str):
    return anon.post("/password/forgot", {"email": email})


def _link_in(message) -> str:
    body = message.get_body(preferencelist=("plain",)).get_content()
    return "/password/reset/" + LINK_RE.search(body).group(1)


def _can_sign_in(app, user, password) -> bool:
    response = Session(app.test_client()).post(
        "/signin", {"email": user.email, "password": password}
    )
    return response.status_code == 302


def test_the_mailed_link_sets_a_new_password_once(app, anon, inbox, login, student):
    elsewhere = login(student)
    asked = _ask(anon, student.email.upper())
    assert asked.status_code == 200 and "Check your e-mail" in asked.get_data(as_text=True)
    # The sign-in above from a new browser was mailed too.
    [message] = [m for m in inbox if "password" in m["Subject"]]
    assert message["To"] == student.email and "Reset your M4SH password" in message["Subject"]
    link = _link_in(message)

    page = anon.get(link)
    assert page.status_code == 200 and "Choose a new password" in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    done = anon.post(link, {"password": NEW_PASSWORD})
    assert done.status_code == 302 and done.headers["Location"].endswith("/signin")

    assert _can_sign_in(app, student, NEW_PASSWORD)
    assert not _can_sign_in(app, student, factories.PASSWORD)
    changed = [m for m in inbox if m["Subject"] == "Your M4SH password was changed"]
    assert [m["To"] for m in changed] == [student.email]
    # Whoever was signed in with the old password is signed out.
    assert elsewhere.get("/lessons").status_code == 302

    again = anon.get(link)
    assert again.status_code == 410 and "does not work any more" in again.get_data(as_text=True)
    reused = anon.post(link, {"password": "another-quiet-lamp-8"})
    assert reused.status_code == 410
    assert _can_sign_in(app, student, NEW_PASSWORD)


def test_an_unknown_address_gets_the_same_answer_and_no_mail(anon, inbox, student):
    known = _ask(anon, student.email).get_data(as_text=True)
    unknown = _ask(anon, "nobody@example.com").get_data(as_text=True)
    assert len(inbox) == 1
    assert _without_tokens(known, student.email) == _without_tokens(unknown, "nobody@example.com")


def _without_tokens(page: str, email: str) -> str:
    """The page with the address typed and the (timestamped) CSRF tokens taken out."""
    page = re.sub(r'"X-CSRFToken": "[^"]+"', "", page.replace(email, "EMAIL"))
    return re.sub(r'value="[^"]+"', "", page)


def test_an_expired_link_is_refused(app, anon, inbox, student, monkeypatch):
    made_at = time.time() - app.config["PASSWORD_RESET_MINUTES"] * 60 - 5
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: made_at)
    _ask(anon, student.email)
    monkeypatch.undo()
    link = _link_in(inbox[0])
    page = anon.get(link)
    assert page.status_code == 410 and "expired" in page.get_data(as_text=True)
    assert anon.post(link, {"password": NEW_PASSWORD}).status_code == 410
    assert _can_sign_in(app, student, factories.PASSWORD)


def test_a_weak_password_keeps_the_link_usable(app, anon, student):
    link = f"/password/reset/{password_reset.make_token(student)}"
    weak = anon.post(link, {"password": "iloveyou123"})
    assert weak.status_code == 422 and "most common" in weak.get_data(as_text=True)
    assert anon.post(link, {"password": NEW_PASSWORD}).status_code == 302


@pytest.mark.parametrize("mangle", [lambda t: t[:-2] + "xx", lambda t: "not-a-token", str.upper])
def test_a_forged_link_is_refused(anon, student, mangle):
    token = mangle(password_reset.make_token(student))
    assert anon.post(f"/password/reset/{token}", {"password": NEW_PASSWORD}).status_code == 410


def test_a_link_stops_working_once_the_password_changes_otherwise(app, anon, login, student):
    link = f"/password/reset/{password_reset.make_token(student)}"
    login(student).post(
        "/account/password", {"current_password": factories.PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert anon.get(link).status_code == 410


def test_a_disabled_account_cannot_reset(anon, inbox, student):
    link = f"/password/reset/{password_reset.make_token(student)}"
    student.active = False
    db.session.commit()
    assert anon.get(link).status_code == 410
    _ask(anon, student.email)
    assert inbox == []


def test_asking_is_limited_like_signing_in(app, monkeypatch, student):
    monkeypatch.setitem(app.config, "SIGN_IN_RATE_LIMIT", "3 per minute")
    limiter.reset()
    try:
        codes = []
        for n in range(4):
            browser = Session(app.test_client())
            browser.client.environ_base["REMOTE_ADDR"] = f"198.51.100.{n}"
            codes.append(browser.post("/password/forgot", {"email": student.email}).status_code)
        # Per e-mail typed, across addresses.
        assert codes == [200, 200, 200, 429]
    finally:
        limiter.reset()


def test_a_bad_address_is_a_form_error(anon):
    response = _ask(anon, "not-an-email")
    assert response.status_code == 422 and "Invalid email" in response.get_data(as_text=True)


def test_a_change_of_password_is_mailed(login, inbox, student):
    login(student).post(
        "/account/password", {"current_password": factories.PASSWORD, "new_password": NEW_PASSWORD}
    )
    notice = [m for m in inbox if m["Subject"] == "Your M4SH password was changed"]
    assert len(notice) == 1 and "/password/forgot" in notice[0].get_body().get_content()


def test_one_link_used_twice_at_once_sets_one_password(app, postgres, student):
    """Both requests find the link valid; the row lock makes the second see the new hash."""
    token = password_reset.make_token(student)
    passwords = ["first-quiet-harbour-1", "second-quiet-harbour-2"]

    def use(password):
        def call():
            user = password_reset.reset_password(token, password)
            db.session.commit()
            return user.id

        return call

    results = at_once([use(p) for p in passwords], app=app, catch=password_reset.ResetLinkError)
    assert sorted(type(r).__name__ for r in results) == ["ResetLinkError", "int"]
    winner = passwords[[isinstance(r, int) for r in results].index(True)]
    assert _can_sign_in(app, student, winner)
