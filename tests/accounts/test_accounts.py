import re

import pytest

from portal.accounts.models import ApiToken, User
from portal.accounts.services import create_user
from portal.errors import ValidationError
from portal.extensions import db
from tests import factories


def _count_users() -> int:
    return db.session.query(User).count()


def test_student_signs_up_and_lands_on_their_lessons(anon):
    response = anon.post(
        "/signup",
        {
            "name": "Ana",
            "email": "Ana@Example.com",
            "password": "long-enough-pw",
            "role": "student",
        },
    )
    assert response.status_code == 302
    user = db.session.query(User).one()
    assert (user.email, user.role, user.hourly_rate) == ("ana@example.com", "student", None)
    assert user.password_hash != "long-enough-pw"
    assert anon.get("/lessons").status_code == 200


def test_tutor_signs_up_with_an_hourly_rate(anon):
    anon.post(
        "/signup",
        {
            "name": "Tia",
            "email": "tia@example.com",
            "password": "long-enough-pw",
            "role": "tutor",
            "hourly_rate": "52.50",
        },
    )
    assert db.session.query(User).one().hourly_rate == 5250


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"email": "USER0@m4sh.app"}, "already exists"),
        ({"email": "not-an-email"}, "Invalid email"),
        ({"password": "short"}, "at least 10"),
        ({"role": "admin"}, "Not a valid choice"),
        ({"hourly_rate": "-5"}, "Enter an amount like"),
    ],
)
def test_bad_sign_up_shows_the_error_and_writes_nothing(anon, data, message):
    factories.UserFactory(email="user0@m4sh.app")
    form = {
        "name": "X",
        "email": "new@example.com",
        "password": "long-enough-pw",
        "role": "student",
    }
    form.update(data)
    response = anon.post("/signup", form)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert _count_users() == 1


def test_sign_up_without_csrf_token_is_refused(anon):
    response = anon.client.post(
        "/signup",
        data={
            "name": "X",
            "email": "x@example.com",
            "password": "long-enough-pw",
            "role": "student",
        },
    )
    assert response.status_code == 400
    assert _count_users() == 0


def test_service_refuses_unknown_role_and_taken_email_in_any_case():
    create_user("a@example.com", "long-enough-pw", "student")
    with pytest.raises(ValidationError):
        create_user("A@EXAMPLE.COM", "long-enough-pw", "student")
    with pytest.raises(ValidationError):
        create_user("b@example.com", "long-enough-pw", "superuser")


def test_sign_in_wrong_password(anon, student):
    response = anon.post("/signin", {"email": student.email, "password": "wrong-password"})
    assert response.status_code == 422
    assert "do not match" in response.get_data(as_text=True)


def test_sign_in_redirects_only_to_local_next(anon, student):
    ok = anon.post("/signin?next=/tutors", {"email": student.email, "password": factories.PASSWORD})
    assert ok.headers["Location"] == "/tutors"


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "http:evil", "/\\evil"]
)
def test_sign_in_ignores_foreign_next(app, student, target):
    from tests.conftest import Session

    browser = Session(app.test_client())
    response = browser.post(
        f"/signin?next={target}", {"email": student.email, "password": factories.PASSWORD}
    )
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("/") and not location.startswith("//")
    assert "evil.example" not in location


def test_sign_out_is_post_only(login, student):
    browser = login(student)
    assert browser.get("/signout").status_code == 405
    assert browser.post("/signout").status_code == 302
    assert browser.get("/lessons").status_code == 302


def test_sign_in_is_rate_limited(app, anon, monkeypatch):
    from portal.extensions import limiter

    monkeypatch.setitem(app.config, "SIGN_IN_RATE_LIMIT", "3 per minute")
    limiter.reset()
    form = {"email": "x@example.com", "password": "nope-nope-1"}
    codes = [anon.post("/signin", form).status_code for _ in range(4)]
    limiter.reset()
    assert codes == [422, 422, 422, 429]
    assert anon.get("/signin").status_code == 200  # only attempts are limited


def test_api_token_is_shown_once_and_stored_hashed(login, student):
    browser = login(student)
    page = browser.post("/account/tokens", {"name": "laptop"}).get_data(as_text=True)
    token = re.search(r"(m4sh_[\w-]+)", page).group(1)
    stored = db.session.query(ApiToken).one()
    assert stored.token_hash != token and token not in stored.token_hash
    response = browser.client.get("/api/v1/me/", headers={"Authorization": f"Bearer {token}"})
    assert response.json["email"] == student.email
    assert token not in browser.get("/account").get_data(as_text=True)


@pytest.mark.parametrize("header", ["Bearer nope", "Bearer m4sh_forged", "Basic abc", "Bearer "])
def test_bad_token_is_401_json(client, header):
    response = client.get("/api/v1/me/", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json["error"]["code"] == "not_authenticated"


def test_api_without_auth_is_401(client):
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert set(response.json["error"]) >= {"code", "message"}


def test_me_and_tutors(client, bearer, student, tutor):
    headers = bearer(student)
    assert client.get("/api/v1/me/", headers=headers).json == {
        "id": student.id,
        "email": student.email,
        "name": student.name,
        "role": "student",
    }
    tutors = client.get("/api/v1/tutors/", headers=headers).json
    assert tutors["count"] == 1
    assert tutors["results"][0] == {
        "id": tutor.id,
        "name": tutor.name,
        "hourly_rate": 4500,
        "currency": "usd",
    }


def test_security_headers(app, client):
    response = client.get("/signin")
    csp = response.headers["Content-Security-Policy"]
    stripe_js = app.config["STRIPE_JS_URL"].split("/js.stripe.com")[0]
    assert f"script-src 'self' {stripe_js}" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
