"""Common passwords are refused; sign-in is limited per account and per address, signup
per address; a trusted proxy's forwarded address is the one limited."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from portal.accounts.models import User
from portal.accounts.passwords import common_passwords, password_problem
from portal.extensions import db, limiter
from tests import factories
from tests.conftest import Session


def test_the_bundled_list_holds_the_most_common_passwords():
    listed = common_passwords()
    assert len(listed) > 19_000
    assert {"password", "123456", "qwerty", "iloveyou", "password123"} <= listed


@pytest.mark.parametrize("password", ["password123", "Password123", "qwertyuiop", "1234567890"])
def test_sign_up_refuses_a_common_password(anon, password):
    response = anon.post(
        "/signup",
        {"name": "A", "email": "a@example.com", "password": password, "role": "student"},
    )
    assert response.status_code == 422
    assert "most common" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_the_command_line_refuses_one_too(app):
    result = CliRunner().invoke(
        app.cli, ["users", "create", "b@example.com", "--role", "admin", "--password", "1234567890"]
    )
    assert result.exit_code != 0 and "most common" in result.output


def test_a_password_equal_to_the_email_is_refused():
    assert password_problem("someone.long@example.com", email="someone.long@example.com")
    assert password_problem("someone.long", email="someone.long@example.com")
    assert password_problem(factories.PASSWORD) is None


def test_changing_the_password_checks_it_and_signs_out_other_sessions(app, login, student):
    here, elsewhere = login(student), login(student)
    common = here.post(
        "/account/password",
        {"current_password": factories.PASSWORD, "new_password": "iloveyou123"},
    )
    assert common.status_code == 422 and "most common" in common.get_data(as_text=True)
    wrong = here.post(
        "/account/password", {"current_password": "not-it-at-all", "new_password": "x7!long-pass-9"}
    )
    assert wrong.status_code == 422 and "not your current password" in wrong.get_data(as_text=True)

    changed = here.post(
        "/account/password",
        {"current_password": factories.PASSWORD, "new_password": "plum-lantern-orbit-4"},
    )
    assert changed.status_code == 302
    assert elsewhere.get("/lessons").status_code == 302
    assert here.get("/lessons").status_code == 200
    again = Session(app.test_client())
    response = again.post("/signin", {"email": student.email, "password": "plum-lantern-orbit-4"})
    assert response.status_code == 302


@pytest.fixture
def limited(app, monkeypatch):
    monkeypatch.setitem(app.config, "SIGN_IN_RATE_LIMIT", "3 per minute")
    monkeypatch.setitem(app.config, "SIGN_UP_RATE_LIMIT", "2 per hour")
    limiter.reset()
    yield
    limiter.reset()


def _from(app, address: str) -> Session:
    browser = Session(app.test_client())
    browser.client.environ_base["REMOTE_ADDR"] = address
    return browser


def test_sign_in_is_limited_per_account_across_addresses(app, limited, student):
    form = {"email": student.email, "password": "wrong-password-1"}
    codes = [_from(app, f"198.51.100.{n}").post("/signin", form).status_code for n in range(4)]
    assert codes == [422, 422, 422, 429]
    # Another account from a fresh address is not held back by it.
    other = {"email": "other@example.com", "password": "wrong-password-1"}
    assert _from(app, "198.51.100.99").post("/signin", other).status_code == 422
    # The same account typed in another case is the same account.
    upper = {"email": student.email.upper(), "password": factories.PASSWORD}
    assert _from(app, "198.51.100.77").post("/signin", upper).status_code == 429


def test_sign_up_is_limited_per_address(app, limited):
    browser = _from(app, "198.51.100.7")
    codes = [
        browser.post(
            "/signup",
            {"name": "A", "email": f"n{n}@example.com", "password": "short", "role": "student"},
        ).status_code
        for n in range(3)
    ]
    assert codes == [422, 422, 429]


def test_a_trusted_proxy_hop_gives_the_clients_address(other_app, limited):
    proxied = other_app(TRUSTED_PROXIES=1)
    form = {"email": "x@example.com", "password": "wrong-password-1"}

    def attempt(client_address: str) -> int:
        client = Session(proxied.test_client())
        client.client.environ_base["REMOTE_ADDR"] = "10.0.0.2"  # the proxy
        headers = {"X-Forwarded-For": client_address}
        with proxied.app_context():
            page = client.client.get("/signin", headers=headers).get_data(as_text=True)
            from tests.conftest import CSRF_RE

            token = CSRF_RE.search(page).group(1)
            form_for = {**form, "email": f"{client_address}@example.com", "csrf_token": token}
            return client.client.post("/signin", data=form_for, headers=headers).status_code

    with proxied.app_context():
        limiter.reset()
    codes = [attempt("203.0.113.5") for _ in range(4)]
    assert codes == [422, 422, 422, 429]
    assert attempt("203.0.113.6") == 422  # another client behind the same proxy
    with proxied.app_context():
        limiter.reset()
